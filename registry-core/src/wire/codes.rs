//! Every core error type's `code()`: the one place that says which [`ErrorCode`] an error is.
//!
//! Each match is exhaustive and has no wildcard arm, so a new variant of any error fails to
//! compile here until it is given a code.

use super::ErrorCode;
use crate::containerd::{MergeError, RenderError};
use crate::facts::FactsError;
use crate::input::DocumentError;
use crate::settings::LoadError;
use crate::store::StoreError;

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

impl StoreError {
    /// The error's stable code: one per variant.
    pub fn code(&self) -> ErrorCode {
        store_code(self)
    }
}

impl crate::store::DigestError {
    /// The error's stable code: always `InvalidDigest`.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidDigest
    }
}

fn store_code(e: &StoreError) -> ErrorCode {
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

impl crate::containerd::ApplyError {
    /// The error's stable code: `ApplyRefused` for a refused set (nothing was written), `Io`
    /// otherwise.
    pub fn code(&self) -> ErrorCode {
        if self.is_refusal() {
            ErrorCode::ApplyRefused
        } else {
            ErrorCode::Io
        }
    }
}

impl crate::containerd::PreflightError {
    /// The error's stable code: `InvalidArgument` for an empty path, `Io` for a folder that
    /// cannot be read.
    pub fn code(&self) -> ErrorCode {
        use crate::containerd::PreflightError as E;
        match self {
            E::EmptyPath => ErrorCode::InvalidArgument,
            E::Unreadable { .. } => ErrorCode::Io,
        }
    }
}

impl crate::containerd::ContainerdVersionError {
    /// The error's stable code: a release line that cannot be rendered for is a bad render
    /// option.
    pub fn code(&self) -> ErrorCode {
        use crate::containerd::ContainerdVersionError as E;
        match self {
            E::Malformed { .. } | E::Unsupported { .. } => ErrorCode::RenderInvalidOptions,
        }
    }
}

impl crate::settings::UpstreamError {
    /// The error's stable code: an upstream that breaks the rules is invalid settings.
    pub fn code(&self) -> ErrorCode {
        use crate::settings::UpstreamError as E;
        match self {
            E::Host(_)
            | E::Port
            | E::Path(_)
            | E::ControlCharacter(_)
            | E::ImagesRepo(_)
            | E::CaWithHttp
            | E::Username(_)
            | E::Password(_)
            | E::License(_) => ErrorCode::InvalidSettings,
        }
    }
}

impl crate::settings::CaError {
    /// The error's stable code: a CA bundle that is not PEM certificates is invalid settings.
    pub fn code(&self) -> ErrorCode {
        use crate::settings::CaError as E;
        match self {
            E::NoCertificate
            | E::NotACertificate { .. }
            | E::Base64 { .. }
            | E::NotX509 { .. }
            | E::TrailingBytes { .. }
            | E::NestedBegin { .. }
            | E::MismatchedEnd { .. }
            | E::EndWithoutBegin { .. }
            | E::TextOutsideBlock { .. }
            | E::Unclosed => ErrorCode::InvalidSettings,
        }
    }
}

impl crate::settings::TtlError {
    /// The error's stable code: a TTL that cannot be used is invalid settings.
    pub fn code(&self) -> ErrorCode {
        use crate::settings::TtlError as E;
        match self {
            E::Syntax(_) | E::TooShort(_) => ErrorCode::InvalidSettings,
        }
    }
}

impl crate::settings::AddressError {
    /// The error's stable code: a host, port or path that breaks the grammar is invalid
    /// settings.
    pub fn code(&self) -> ErrorCode {
        use crate::settings::AddressError as E;
        match self {
            E::Host(_) | E::Port(_) | E::Path(_) => ErrorCode::InvalidSettings,
        }
    }
}

impl crate::settings::CredentialError {
    /// The error's stable code: credentials that break the rules are invalid settings.
    pub fn code(&self) -> ErrorCode {
        use crate::settings::CredentialError as E;
        match self {
            E::Empty
            | E::ControlInName(_)
            | E::ControlInSecret(_)
            | E::ColonInName
            | E::NameTooLong(_) => ErrorCode::InvalidSettings,
        }
    }
}

impl crate::orchestrator::ReconcileError {
    /// The error's stable code: the node configuration's render code, or `PkiFailed`.
    pub fn code(&self) -> ErrorCode {
        match self {
            crate::orchestrator::ReconcileError::NodeConfig(e) => e.code(),
            crate::orchestrator::ReconcileError::Pki(e) => e.code(),
        }
    }
}

impl crate::orchestrator::PkiError {
    /// The error's stable code: always `PkiFailed`.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::PkiFailed
    }
}

impl crate::orchestrator::TimestampError {
    /// The error's stable code: always `InvalidArgument` (a time in a request that does not fit
    /// the schema's RFC 3339 UTC form).
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidArgument
    }
}

impl crate::input::ShapeError {
    /// The error's stable code: `InvalidDocument`, or `InvalidArgument` for a field that does
    /// not fit the shape.
    pub fn code(&self) -> ErrorCode {
        match self {
            crate::input::ShapeError::Document(d) => d.code(),
            crate::input::ShapeError::Field { .. } => ErrorCode::InvalidArgument,
        }
    }
}
