//! Core errors -> the exception classes defined in `deckhouse_registry._errors`.
//!
//! The classes live in Python (so they carry typed attributes and work with pickling and
//! stubtest); this module only picks the class and hands over the fields.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use registry_core::containerd::RenderError;
use registry_core::facts::FactsError;
use registry_core::input::DocumentError;
use registry_core::settings::LoadError;
use registry_core::store::StoreError;
use registry_core::transition::Refusal;

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

/// `DocumentError` (unusable input).
pub(crate) fn document(py: Python<'_>, e: &DocumentError) -> PyErr {
    raise(py, "DocumentError", e.to_string(), &[])
}

/// Settings loading: `DocumentError` or `ValidationError` with every problem.
pub(crate) fn load(py: Python<'_>, e: &LoadError) -> PyErr {
    match e {
        LoadError::Document(d) => document(py, d),
        LoadError::Invalid(problems) => match ser(py, &problems.0) {
            Ok(list) => raise(py, "ValidationError", e.to_string(), &[("problems", list)]),
            Err(err) => err,
        },
    }
}

/// Cluster facts: `DocumentError` or `FactsError` naming the field.
pub(crate) fn facts(py: Python<'_>, e: &FactsError) -> PyErr {
    match e {
        FactsError::Document(d) => document(py, d),
        FactsError::Field { path, .. } => {
            raise(py, "FactsError", e.to_string(), &[("path", s(py, path))])
        }
    }
}

/// A refused switch: `TransitionRefused` with its reasons and route.
pub(crate) fn refused(py: Python<'_>, r: &Refusal) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let route: Vec<&str> = r.route.iter().map(|m| m.as_str()).collect();
        let side =
            |m: Option<registry_core::settings::Mode>| m.map_or("invalid settings", |m| m.as_str());
        let mut message = format!("switch from {} to {} refused:", side(r.from), side(r.to));
        for reason in &r.reasons {
            message.push_str(&format!("\n  {:?}: {}", reason.code, reason.message));
        }
        let none = py.None().into_bound(py);
        Ok(raise(
            py,
            "TransitionRefused",
            message,
            &[
                ("reasons", ser(py, &r.reasons)?),
                ("route", ser(py, &route)?),
                (
                    "from_mode",
                    r.from.map_or(none.clone(), |m| s(py, m.as_str())),
                ),
                ("to_mode", r.to.map_or(none, |m| s(py, m.as_str()))),
            ],
        ))
    };
    build().unwrap_or_else(|e| e)
}

/// Rendering: `RenderError` with its kind.
pub(crate) fn render(py: Python<'_>, e: &RenderError) -> PyErr {
    let kind = match e {
        RenderError::MissingInput(_) => "MissingInput",
        RenderError::InvalidOptions(_) => "InvalidOptions",
        RenderError::Refused(_) => "Refused",
    };
    raise(py, "RenderError", e.to_string(), &[("kind", s(py, kind))])
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

/// A store error: the class per [`StoreError::code`], with the fields it carries.
pub(crate) fn store(py: Python<'_>, e: &StoreError) -> PyErr {
    let code = e.code();
    let class = match code {
        "NotFound" => "BlobNotFound",
        "AlreadyExists" => "BlobExists",
        "DigestMismatch" => "DigestMismatch",
        "InvalidDigest" => "InvalidDigest",
        "InvalidTag" => "InvalidTag",
        "QuotaExceeded" => "QuotaExceeded",
        "NoSpace" => "NoSpace",
        "Corrupt" => "CorruptBlob",
        "InvalidLayout" => "InvalidLayout",
        "InvalidManifest" => "InvalidManifest",
        "Import" => "ImportRefused",
        "InvalidUpload" => "InvalidUpload",
        "Locked" => "Locked",
        "Cancelled" => "Cancelled",
        _ => "StoreError",
    };
    let mut fields = vec![("code", s(py, code))];
    if let StoreError::DigestMismatch {
        expected,
        actual,
        expected_size,
        actual_size,
    } = e
    {
        let none = py.None().into_bound(py);
        fields.push(("expected", s(py, expected.to_string())));
        fields.push(("actual", s(py, actual.to_string())));
        fields.push(("expected_size", expected_size.map_or(none, |n| int(py, n))));
        fields.push(("actual_size", int(py, *actual_size)));
    }
    raise(py, class, e.to_string(), &fields)
}
