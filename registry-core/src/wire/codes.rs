//! Every core error type's `code()`: the one place that says which [`ErrorCode`] an error is.
//!
//! Each match is exhaustive and has no wildcard arm, so a new variant of any error fails to
//! compile here until it is given a code.

use super::ErrorCode;
use crate::containerd::{MergeError, RenderError};
use crate::settings::{DocumentError, LoadError};
use crate::store::StoreError;
use crate::transition::FactsError;

impl DocumentError {
    /// The error's stable code: always `InvalidDocument`.
    pub fn code(&self) -> ErrorCode {
        match self {
            DocumentError::TooLarge { .. }
            | DocumentError::NotText { .. }
            | DocumentError::Syntax { .. }
            | DocumentError::Limit(_)
            | DocumentError::Empty
            | DocumentError::WrongKind(_) => ErrorCode::InvalidDocument,
        }
    }
}

impl LoadError {
    /// The error's stable code: `InvalidDocument` or `InvalidSettings`.
    pub fn code(&self) -> ErrorCode {
        match self {
            LoadError::Document(d) => d.code(),
            LoadError::Invalid(_) => ErrorCode::InvalidSettings,
        }
    }
}

impl FactsError {
    /// The error's stable code: `InvalidDocument` or `InvalidFacts`.
    pub fn code(&self) -> ErrorCode {
        match self {
            FactsError::Document(d) => d.code(),
            FactsError::Field { .. } => ErrorCode::InvalidFacts,
        }
    }
}

impl RenderError {
    /// The error's stable code: one per kind.
    pub fn code(&self) -> ErrorCode {
        match self {
            RenderError::MissingInput(_) => ErrorCode::RenderMissingInput,
            RenderError::InvalidOptions(_) => ErrorCode::RenderInvalidOptions,
            RenderError::Refused(_) => ErrorCode::RenderRefused,
        }
    }
}

impl MergeError {
    /// The error's stable code: always `InvalidDocument` (a file that is not TOML, or two
    /// files for different containerd generations).
    pub fn code(&self) -> ErrorCode {
        match self {
            MergeError::Main(_) | MergeError::Part(_) | MergeError::VersionMismatch { .. } => {
                ErrorCode::InvalidDocument
            }
        }
    }
}

/// The code of a store error. (`StoreError::code` still returns the name as a string while the
/// store is being reorganized; this is its typed form.)
pub(crate) fn store_code(e: &StoreError) -> ErrorCode {
    match e {
        StoreError::NotFound { .. } => ErrorCode::NotFound,
        StoreError::AlreadyExists { .. } => ErrorCode::AlreadyExists,
        StoreError::DigestMismatch { .. } => ErrorCode::DigestMismatch,
        StoreError::InvalidDigest { .. } => ErrorCode::InvalidDigest,
        StoreError::InvalidTag { .. } => ErrorCode::InvalidTag,
        StoreError::InvalidRepository { .. } => ErrorCode::InvalidRepository,
        StoreError::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
        StoreError::NoSpace { .. } => ErrorCode::NoSpace,
        StoreError::Corrupt { .. } => ErrorCode::Corrupt,
        StoreError::InvalidLayout { .. } => ErrorCode::InvalidLayout,
        StoreError::InvalidManifest { .. } => ErrorCode::InvalidManifest,
        StoreError::Import { .. } => ErrorCode::ImportRefused,
        StoreError::InvalidUpload { .. } => ErrorCode::InvalidUpload,
        StoreError::Locked { .. } => ErrorCode::Locked,
        StoreError::Cancelled => ErrorCode::Cancelled,
        StoreError::Io { .. } => ErrorCode::Io,
    }
}
