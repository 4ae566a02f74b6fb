//! The orchestrator: one reconcile step (`registry_core::wire::reconcile`) over wire data.

use pyo3::prelude::*;
use registry_core::orchestrator::{Inputs, State};
use registry_core::wire::{self, ReconcileOptions};

use crate::convert::{de, ser};
use crate::errors::{self, Family};

/// One reconcile step from the state (`None`: none yet), the observations and the
/// `ReconcileOptions` (`now`, test-only `seed`); returns the `Step` in its wire shape, secrets
/// as plain strings (the package wraps them). The GIL is released while it runs (key
/// generation and bcrypt take milliseconds).
#[pyfunction]
#[pyo3(signature = (state, inputs, options = None))]
pub(crate) fn reconcile<'py>(
    py: Python<'py>,
    state: Option<&Bound<'py, PyAny>>,
    inputs: &Bound<'py, PyAny>,
    options: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let state: State = match state {
        Some(s) if !s.is_none() => de(s, "orchestrator state")?,
        _ => State::default(),
    };
    let inputs: Inputs = de(inputs, "orchestrator inputs")?;
    let options: ReconcileOptions = match options {
        Some(o) if !o.is_none() => de(o, "reconcile options")?,
        _ => ReconcileOptions::default(),
    };
    let step = py.detach(|| wire::reconcile(&state, &inputs, &options));
    let step = step.map_err(|f| errors::failure(py, f, Family::Node))?;
    ser(py, &step)
}
