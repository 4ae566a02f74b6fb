//! `deckhouse_registry._native`: the pyo3 layer over `registry-core`.
//!
//! A thin translation layer, no domain logic. Values cross as plain Python data (dicts, lists,
//! strings, numbers) in the core's serde wire shapes; the pure-Python package on top turns them
//! into typed result classes. Errors become the exception classes of
//! `deckhouse_registry._errors`. The GIL is released around store I/O and file system work;
//! progress callbacks re-attach to call Python.

mod convert;
mod errors;
mod node;
mod orchestrator;
mod store;

use pyo3::prelude::*;

/// The native module.
#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(node::load_settings, m)?)?;
    m.add_function(wrap_pyfunction!(node::load_facts, m)?)?;
    m.add_function(wrap_pyfunction!(node::plan, m)?)?;
    m.add_function(wrap_pyfunction!(node::render, m)?)?;
    m.add_function(wrap_pyfunction!(node::apply, m)?)?;
    m.add_function(wrap_pyfunction!(node::preflight, m)?)?;
    m.add_function(wrap_pyfunction!(node::stale_host_dirs, m)?)?;
    m.add_function(wrap_pyfunction!(node::merge_config, m)?)?;
    m.add_function(wrap_pyfunction!(orchestrator::reconcile, m)?)?;
    m.add_class::<store::Store>()?;
    m.add_class::<store::BlobWriter>()?;
    Ok(())
}
