//! API errors: the distribution-spec error codes, their HTTP statuses, and the JSON error body
//! (`{"errors":[{"code","message","detail"}]}`) every failed request gets.

use hyper::StatusCode;
use hyper::header::HeaderValue;
use registry_core::store::StoreError;
use serde_json::{Value, json};

/// The spec's error codes (plus `TOOMANYREQUESTS` and `RANGE_INVALID`, which distribution uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    RangeInvalid,
    /// Not a spec code: the store failed (disk, quota); the message says how.
    Internal,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unsupported => "UNSUPPORTED",
            Code::TooManyRequests => "TOOMANYREQUESTS",
            Code::RangeInvalid => "RANGE_INVALID",
            Code::Internal => "UNKNOWN",
        }
    }
}

/// A failed request: status, spec code, a one-line message, optional detail, extra headers.
/// Boxed, so the `Result`s that carry it stay small.
#[derive(Debug)]
pub(crate) struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    status: StatusCode,
    code: Code,
    message: String,
    detail: Option<Value>,
    headers: Vec<(&'static str, HeaderValue)>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: Code, message: impl Into<String>) -> ApiError {
        ApiError(Box::new(Inner {
            status,
            code,
            message: message.into(),
            detail: None,
            headers: Vec::new(),
        }))
    }

    /// Adds a `detail` object.
    pub(crate) fn detail(mut self, detail: Value) -> ApiError {
        self.0.detail = Some(detail);
        self
    }

    /// Adds a response header (values are built by registryd, never from secrets).
    pub(crate) fn header(mut self, name: &'static str, value: &str) -> ApiError {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.0.headers.push((name, v));
        }
        self
    }

    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The spec code.
    pub(crate) fn code(&self) -> Code {
        self.0.code
    }

    /// Extra response headers.
    pub(crate) fn headers(&self) -> &[(&'static str, HeaderValue)] {
        &self.0.headers
    }

    /// The message.
    pub(crate) fn message(&self) -> &str {
        &self.0.message
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> Vec<u8> {
        let mut e = json!({ "code": self.0.code.as_str(), "message": self.0.message });
        if let Some(d) = &self.0.detail {
            e["detail"] = d.clone();
        }
        json!({ "errors": [e] }).to_string().into_bytes()
    }

    pub(crate) fn name_invalid(name: &str, why: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::NameInvalid,
            format!("invalid repository name {}: {why}", shown(name)),
        )
    }

    pub(crate) fn name_unknown(name: &str, namespace: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            Code::NameUnknown,
            format!(
                "repository {} is not served here (names are {namespace} or {namespace}/<repository>)",
                shown(name)
            ),
        )
    }

    pub(crate) fn digest_invalid(input: &str, why: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::DigestInvalid,
            format!("invalid digest {}: {why}", shown(input)),
        )
    }

    pub(crate) fn blob_unknown(digest: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            Code::BlobUnknown,
            format!("blob {digest} is not stored"),
        )
        .detail(json!({ "digest": digest.to_string() }))
    }

    pub(crate) fn upload_unknown(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            Code::BlobUploadUnknown,
            format!(
                "upload {} does not exist (finished, cancelled or expired)",
                shown(id)
            ),
        )
    }

    pub(crate) fn manifest_unknown(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            Code::ManifestUnknown,
            format!("manifest {} is not in this repository", shown(what)),
        )
    }

    pub(crate) fn manifest_invalid(why: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, Code::ManifestInvalid, why)
    }

    pub(crate) fn denied(why: &str) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, Code::Denied, why)
    }

    pub(crate) fn unsupported(why: &str) -> ApiError {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, Code::Unsupported, why)
    }

    pub(crate) fn bad_request(code: Code, why: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, why)
    }

    /// A store failure while serving a request; the store's message names the blob or file.
    pub(crate) fn store(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound { what } => ApiError::new(
                StatusCode::NOT_FOUND,
                Code::BlobUnknown,
                format!("{what} not found"),
            ),
            StoreError::DigestMismatch { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, Code::DigestInvalid, e.to_string())
            }
            StoreError::InvalidDigest { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, Code::DigestInvalid, e.to_string())
            }
            StoreError::InvalidTag { .. } | StoreError::InvalidManifest { .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::ManifestInvalid,
                e.to_string(),
            ),
            StoreError::QuotaExceeded { .. } | StoreError::NoSpace { .. } => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                Code::Internal,
                e.to_string(),
            ),
            StoreError::Locked { .. } => ApiError::new(
                StatusCode::CONFLICT,
                Code::BlobUploadInvalid,
                format!("{e}; retry when the other request finishes"),
            ),
            StoreError::InvalidUpload { .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::BlobUploadInvalid,
                e.to_string(),
            ),
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::Internal,
                other.to_string(),
            ),
        }
    }
}

/// Client input in messages: quoted, control characters escaped, at most 120 characters.
pub(crate) fn shown(input: &str) -> String {
    let mut s: String = input.chars().take(120).collect();
    if input.chars().count() > 120 {
        s.push('…');
    }
    format!("{s:?}")
}
