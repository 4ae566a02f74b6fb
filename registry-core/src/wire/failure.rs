//! `Failure`: the one shape of an error on the wire (its code, its message, its details), and the
//! conversions from every core error type.
//!
//! Bindings never pick a code themselves: they take `Failure::from(error)` and pass its parts
//! on (the C error object, the Go `*Error`, the Python exception's attributes).

use serde::{Deserialize, Serialize};

use super::ErrorCode;
use crate::settings::{LoadError, Mode, Problem};
use crate::store::{Digest, StoreError};
use crate::transition::{Reason, Refusal};

/// An error as every binding reports it. Messages never hold secret values.
///
/// ```
/// use registry_core::settings::{self, LoadOptions};
/// use registry_core::wire::{ErrorCode, Failure};
///
/// let err = settings::load(b"kind: [", &LoadOptions::default()).unwrap_err();
/// let failure = Failure::from(err);
/// assert_eq!(failure.code, ErrorCode::InvalidDocument);
/// assert!(failure.message.starts_with("not valid YAML or JSON"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Failure {
    /// What kind of failure.
    pub code: ErrorCode,
    /// What went wrong, for people, naming the field, file, digest or tag involved.
    pub message: String,
    /// Structured details, for the codes that have them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Detail>,
}

/// The structured part of a [`Failure`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Detail {
    /// `InvalidSettings`: every problem found, in input order.
    Problems {
        /// The problems.
        problems: Vec<Problem>,
    },
    /// `InvalidFacts`: the field that is wrong.
    Field {
        /// Its JSON path (`nodes[1].name`).
        path: String,
    },
    /// `TransitionRefused`: why, and the shortest legal route.
    Refusal {
        /// The current mode, when the current settings are valid.
        from: Option<Mode>,
        /// The desired mode, when the desired settings are valid.
        to: Option<Mode>,
        /// Every reason, in a fixed order.
        reasons: Vec<Reason>,
        /// The route (empty when there is none).
        route: Vec<Mode>,
    },
    /// `DigestMismatch`: what was promised and what arrived.
    DigestMismatch {
        /// The digest the caller expected.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
        /// The size the caller expected, if it gave one.
        expected_size: Option<u64>,
        /// The number of bytes that arrived.
        actual_size: u64,
    },
}

impl Failure {
    /// A failure with no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// `InvalidArgument`: a request that does not fit its schema, or a bad argument.
    pub fn invalid_argument(message: impl Into<String>) -> Failure {
        Failure::new(ErrorCode::InvalidArgument, message)
    }

    /// The problems, for an `InvalidSettings` failure; empty otherwise.
    pub fn problems(&self) -> &[Problem] {
        match &self.detail {
            Some(Detail::Problems { problems }) => problems,
            _ => &[],
        }
    }

    /// Prefixes the message with what was being read (`"cluster facts: …"`).
    pub fn context(mut self, what: &str) -> Failure {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl From<&LoadError> for Failure {
    fn from(e: &LoadError) -> Failure {
        let code = e.code();
        let detail = match e {
            LoadError::Document(_) => None,
            LoadError::Invalid(problems) => Some(Detail::Problems {
                problems: problems.0.clone(),
            }),
        };
        Failure {
            code,
            message: e.to_string(),
            detail,
        }
    }
}

impl From<&Refusal> for Failure {
    fn from(r: &Refusal) -> Failure {
        let side = |m: Option<Mode>| m.map_or("invalid settings", Mode::as_str);
        let mut message = format!("switch from {} to {} refused:", side(r.from), side(r.to));
        for reason in &r.reasons {
            message.push_str(&format!("\n  {:?}: {}", reason.code, reason.message));
        }
        Failure {
            code: ErrorCode::TransitionRefused,
            message,
            detail: Some(Detail::Refusal {
                from: r.from,
                to: r.to,
                reasons: r.reasons.clone(),
                route: r.route.clone(),
            }),
        }
    }
}

impl From<&StoreError> for Failure {
    fn from(e: &StoreError) -> Failure {
        let detail = match e {
            StoreError::DigestMismatch {
                expected,
                actual,
                expected_size,
                actual_size,
            } => Some(Detail::DigestMismatch {
                expected: expected.clone(),
                actual: actual.clone(),
                expected_size: *expected_size,
                actual_size: *actual_size,
            }),
            _ => None,
        };
        Failure {
            code: e.code(),
            message: e.to_string(),
            detail,
        }
    }
}

/// Every error converts by value too (`?` and `map_err(Failure::from)` take it by value).
macro_rules! by_value {
    ($($ty:ty),* $(,)?) => {$(
        impl From<$ty> for Failure {
            fn from(e: $ty) -> Failure {
                Failure::from(&e)
            }
        }
    )*};
}

/// Errors whose failure is their code and message alone, by reference and by value.
macro_rules! plain_failure {
    ($($ty:ty),* $(,)?) => {$(
        impl From<&$ty> for Failure {
            fn from(e: &$ty) -> Failure {
                Failure::new(e.code(), e.to_string())
            }
        }
        by_value!($ty);
    )*};
}

plain_failure!(
    crate::input::DocumentError,
    crate::containerd::RenderError,
    crate::containerd::MergeError,
    crate::containerd::ApplyError,
    crate::containerd::PreflightError,
    crate::containerd::ContainerdVersionError,
    crate::settings::UpstreamError,
    crate::settings::CaError,
    crate::settings::TtlError,
    crate::settings::AddressError,
    crate::settings::CredentialError,
    crate::store::DigestError,
    crate::orchestrator::ReconcileError,
    crate::orchestrator::PkiError,
    crate::orchestrator::TimestampError,
    crate::input::ShapeError,
);

by_value!(LoadError, Refusal, StoreError, crate::facts::FactsError);

impl From<&crate::facts::FactsError> for Failure {
    fn from(e: &crate::facts::FactsError) -> Failure {
        let detail = match e {
            crate::facts::FactsError::Field { path, .. } => {
                Some(Detail::Field { path: path.clone() })
            }
            crate::facts::FactsError::Document(_) => None,
        };
        Failure {
            code: e.code(),
            message: e.to_string(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_failure_round_trips_through_json_with_its_detail() {
        let f = Failure {
            code: ErrorCode::InvalidFacts,
            message: "nodes[1].name: used twice".into(),
            detail: Some(Detail::Field {
                path: "nodes[1].name".into(),
            }),
        };
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "InvalidFacts", "message": "nodes[1].name: used twice",
                "detail": {"kind": "field", "path": "nodes[1].name"}})
        );
        assert_eq!(serde_json::from_value::<Failure>(json).unwrap(), f);
    }
}
