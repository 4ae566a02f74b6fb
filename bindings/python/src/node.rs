//! Settings, switch planning, node configuration: rendering, apply, preflight, cleanup.

use std::path::PathBuf;

use pyo3::prelude::*;
use registry_core::containerd::{self, RenderOptions, Rendered};
use registry_core::facts::ClusterFacts;
use registry_core::settings::{self, LoadOptions, RegistrySettings};
use registry_core::transition::{self, Decision};
use registry_core::wire::{self, PreflightView, SettingsView};

use crate::convert::{de, ser};
use crate::errors::{self, Family};

/// Reads settings from YAML/JSON bytes; returns the core's `SettingsView`: the settings in
/// their wire shape (secrets included) with where image references point and the upstream's
/// `imagesRepo` and address.
#[pyfunction]
#[pyo3(signature = (data, bootstrap = false))]
pub(crate) fn load_settings(
    py: Python<'_>,
    data: Vec<u8>,
    bootstrap: bool,
) -> PyResult<Bound<'_, PyAny>> {
    let options = LoadOptions {
        bootstrap,
        ..LoadOptions::default()
    };
    let loaded = py.detach(|| settings::load(&data, &options));
    let s = loaded.map_err(|e| errors::load(py, &e))?;
    ser(py, &SettingsView::of(&s))
}

/// Reads cluster facts from YAML/JSON bytes; returns them in their wire shape.
#[pyfunction]
pub(crate) fn load_facts<'py>(py: Python<'py>, data: Vec<u8>) -> PyResult<Bound<'py, PyAny>> {
    let facts = ClusterFacts::load(&data).map_err(|e| errors::facts(py, &e))?;
    ser(py, &facts)
}

fn facts_of(facts: Option<&Bound<'_, PyAny>>) -> PyResult<ClusterFacts> {
    match facts {
        Some(f) if !f.is_none() => de(f, "cluster facts"),
        _ => Ok(ClusterFacts::default()),
    }
}

/// Plans a switch; returns the allowed plan in its wire shape or raises `TransitionRefused`.
#[pyfunction]
#[pyo3(signature = (current, desired, facts = None))]
pub(crate) fn plan<'py>(
    py: Python<'py>,
    current: &Bound<'py, PyAny>,
    desired: &Bound<'py, PyAny>,
    facts: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let current: RegistrySettings = de(current, "settings")?;
    let desired: RegistrySettings = de(desired, "settings")?;
    let facts = facts_of(facts)?;
    match transition::plan(&current, &desired, &facts) {
        d @ Decision::Allowed(_) => ser(py, &d),
        Decision::Refused(r) => Err(errors::refused(py, &r)),
    }
}

/// Renders a node's files with `wire::render` (which refuses a refused switch from
/// `previous` unless `options["switchCheck"]` is `skip`); returns `(rendered, model_version)`.
#[pyfunction]
#[pyo3(signature = (desired, previous = None, facts = None, options = None))]
pub(crate) fn render<'py>(
    py: Python<'py>,
    desired: &Bound<'py, PyAny>,
    previous: Option<&Bound<'py, PyAny>>,
    facts: Option<&Bound<'py, PyAny>>,
    options: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyAny>, String)> {
    let desired: RegistrySettings = de(desired, "settings")?;
    let previous: Option<RegistrySettings> = match previous {
        Some(p) if !p.is_none() => Some(de(p, "previous settings")?),
        _ => None,
    };
    let facts = facts_of(facts)?;
    let options: RenderOptions = match options {
        Some(o) if !o.is_none() => de(o, "render options")?,
        _ => RenderOptions::default(),
    };
    let failed = |f| errors::failure(py, f, Family::Node);
    let rendered = wire::render(&desired, previous.as_ref(), &facts, &options).map_err(failed)?;
    // The model's own hash (the Go side computes the same); this is the model the render
    // above built, so it does not fail here.
    let config = containerd::node_config(&desired, previous.as_ref(), &facts)
        .map_err(|e| errors::render(py, &e))?;
    Ok((ser(py, &rendered)?, config.version()))
}

/// Writes rendered files under `root` (GIL released); returns the apply report.
#[pyfunction]
pub(crate) fn apply<'py>(
    py: Python<'py>,
    rendered: &Bound<'py, PyAny>,
    root: PathBuf,
) -> PyResult<Bound<'py, PyAny>> {
    let rendered: Rendered = de(rendered, "rendered files")?;
    let report = py.detach(|| containerd::apply(&rendered, &root));
    let report = report.map_err(|e| errors::os_error(py, &e))?;
    ser(py, &report)
}

/// Scans a copy of a node's `/etc/containerd` (GIL released).
#[pyfunction]
pub(crate) fn preflight(py: Python<'_>, etc_containerd: PathBuf) -> PyResult<Bound<'_, PyAny>> {
    let report = py.detach(|| containerd::preflight(&etc_containerd));
    let report = report.map_err(|e| errors::os_error(py, &e))?;
    ser(py, &PreflightView::from(report))
}

/// The host folders to remove: listed before, not written now.
#[pyfunction]
pub(crate) fn stale_host_dirs(
    py: Python<'_>,
    previous: Vec<String>,
    current: Vec<String>,
) -> PyResult<Bound<'_, PyAny>> {
    ser(py, &containerd::stale_host_dirs(&previous, &current))
}

/// The config.toml part merged into a main config.toml (containerd 1.x); raises `DocumentError`.
#[pyfunction]
pub(crate) fn merge_config(py: Python<'_>, main: &str, part: &str) -> PyResult<String> {
    containerd::merge_config(main, part)
        .map_err(|e| errors::raise(py, "DocumentError", e.to_string(), &[]))
}
