//! Core errors -> the exception classes defined in `deckhouse_registry._errors`.
//!
//! The classes live in Python (so they carry typed attributes and work with pickling and
//! stubtest); this module only picks the class and hands over the fields.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use registry_core::containerd::RenderError;
use registry_core::facts::FactsError;
use registry_core::settings::LoadError;
use registry_core::store::StoreError;
use registry_core::transition::Refusal;
use registry_core::wire::{Detail, ErrorCode, Failure};

use crate::convert::ser;

/// Builds `deckhouse_registry._errors.<class>(message, **fields)` as a `PyErr`.
pub(crate) fn raise(
    py: Python<'_>,
    class: &str,
    message: String,
    fields: &[(&str, Bound<'_, PyAny>)],
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let cls = py.import("deckhouse_registry._errors")?.getattr(class)?;
        let kwargs = PyDict::new(py);
        for (k, v) in fields {
            kwargs.set_item(k, v)?;
        }
        let exc = cls.call((message,), Some(&kwargs))?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|e| e)
}

fn s<'py>(py: Python<'py>, v: impl AsRef<str>) -> Bound<'py, PyAny> {
    pyo3::types::PyString::new(py, v.as_ref()).into_any()
}

fn int(py: Python<'_>, n: u64) -> Bound<'_, PyAny> {
    let Ok(i) = n.into_pyobject(py);
    i.into_any()
}

/// Settings loading: `DocumentError` or `ValidationError` with every problem.
pub(crate) fn load(py: Python<'_>, e: &LoadError) -> PyErr {
    failure(py, Failure::from(e), Family::Node)
}

/// Cluster facts: `DocumentError` or `FactsError` naming the field.
pub(crate) fn facts(py: Python<'_>, e: &FactsError) -> PyErr {
    failure(py, Failure::from(e), Family::Node)
}

/// A refused switch: `TransitionRefused` with its reasons and route.
pub(crate) fn refused(py: Python<'_>, r: &Refusal) -> PyErr {
    failure(py, Failure::from(r), Family::Node)
}

/// Rendering: `RenderError` with its kind.
pub(crate) fn render(py: Python<'_>, e: &RenderError) -> PyErr {
    failure(py, Failure::from(e), Family::Node)
}

/// Apply and preflight: `ApplyError` (also an `OSError`), with the OS error number when an
/// I/O failure caused it.
pub(crate) fn os_error(py: Python<'_>, e: &(dyn std::error::Error + 'static)) -> PyErr {
    let errno = e
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .and_then(std::io::Error::raw_os_error)
        .map_or(py.None().into_bound(py), |n| {
            n.into_pyobject(py)
                .map_or(py.None().into_bound(py), |b| b.into_any())
        });
    raise(py, "ApplyError", e.to_string(), &[("errno", errno)])
}

/// A store error: the class per its code, with the fields it carries.
pub(crate) fn store(py: Python<'_>, e: &StoreError) -> PyErr {
    failure(py, Failure::from(e), Family::Store)
}

/// Which part of the library failed: picks the class of the codes both parts report (`Io`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// Settings, facts, switch planning, node configuration.
    Node,
    /// The blob store.
    Store,
}

/// The `deckhouse_registry._errors` class for a code. Exhaustive: a code added to the core
/// does not compile here until it has a class.
fn class_of(code: ErrorCode, family: Family) -> &'static str {
    match code {
        ErrorCode::Ok | ErrorCode::Panic | ErrorCode::InvalidState => "RegistryError",
        ErrorCode::InvalidArgument => "InvalidArgument",
        ErrorCode::InvalidDocument => "DocumentError",
        ErrorCode::InvalidSettings => "ValidationError",
        ErrorCode::InvalidFacts => "FactsError",
        ErrorCode::RenderMissingInput
        | ErrorCode::RenderInvalidOptions
        | ErrorCode::RenderRefused => "RenderError",
        ErrorCode::TransitionRefused => "TransitionRefused",
        ErrorCode::ApplyRefused => "ApplyError",
        ErrorCode::Io => match family {
            Family::Node => "ApplyError",
            Family::Store => "StoreError",
        },
        ErrorCode::NotFound => "BlobNotFound",
        ErrorCode::AlreadyExists => "BlobExists",
        ErrorCode::DigestMismatch => "DigestMismatch",
        ErrorCode::InvalidDigest => "InvalidDigest",
        ErrorCode::InvalidTag => "InvalidTag",
        ErrorCode::InvalidRepository => "InvalidRepository",
        ErrorCode::QuotaExceeded => "QuotaExceeded",
        ErrorCode::NoSpace => "NoSpace",
        ErrorCode::Corrupt => "CorruptBlob",
        ErrorCode::InvalidLayout => "InvalidLayout",
        ErrorCode::InvalidManifest => "InvalidManifest",
        ErrorCode::ImportRefused => "ImportRefused",
        ErrorCode::InvalidUpload => "InvalidUpload",
        ErrorCode::Locked => "Locked",
        ErrorCode::Cancelled => "Cancelled",
        ErrorCode::PkiFailed => "PkiError",
    }
}

/// The render kind a `RenderError` carries (`MissingInput`, ...), from its code.
fn render_kind(code: ErrorCode) -> Option<&'static str> {
    code.name().strip_prefix("Render")
}

/// Raises the exception for a failure, with its code and structured details as attributes,
/// and the failure itself in its wire shape as `failure`.
pub(crate) fn failure(py: Python<'_>, f: Failure, family: Family) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let class = class_of(f.code, family);
        let mut fields: Vec<(&str, Bound<'_, PyAny>)> = Vec::new();
        if family == Family::Store || f.code == ErrorCode::InvalidArgument {
            fields.push(("code", s(py, f.code.name())));
        }
        if let Some(kind) = render_kind(f.code) {
            fields.push(("kind", s(py, kind)));
        }
        let none = || py.None().into_bound(py);
        match &f.detail {
            None => {}
            Some(Detail::Problems { problems }) => fields.push(("problems", ser(py, problems)?)),
            Some(Detail::Field { path }) => fields.push(("path", s(py, path))),
            Some(Detail::Refusal {
                from,
                to,
                reasons,
                route,
            }) => {
                let route: Vec<&str> = route.iter().map(|m| m.as_str()).collect();
                fields.push(("reasons", ser(py, reasons)?));
                fields.push(("route", ser(py, &route)?));
                fields.push(("from_mode", from.map_or_else(none, |m| s(py, m.as_str()))));
                fields.push(("to_mode", to.map_or_else(none, |m| s(py, m.as_str()))));
            }
            Some(Detail::DigestMismatch {
                expected,
                actual,
                expected_size,
                actual_size,
            }) => {
                fields.push(("expected", s(py, expected.to_string())));
                fields.push(("actual", s(py, actual.to_string())));
                fields.push((
                    "expected_size",
                    expected_size.map_or_else(none, |n| int(py, n)),
                ));
                fields.push(("actual_size", int(py, *actual_size)));
            }
        }
        let wire = ser(py, &f)?;
        let err = raise(py, class, f.message, &fields);
        err.value(py).setattr("failure", wire)?;
        Ok(err)
    };
    build().unwrap_or_else(|e| e)
}
