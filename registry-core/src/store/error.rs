//! `StoreError`: every way a store operation can fail, one variant per status a binding reports.

use std::io;
use std::path::{Path, PathBuf};

use crate::store::digest::{Digest, DigestError};

/// An error from the blob store. Each variant maps to one status code ([`StoreError::code`]);
/// every message names the file, digest or tag involved and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A blob, tag, upload or lease that does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked up, e.g. `blob sha256:…` or `tag v1`.
        what: String,
    },
    /// The blob is already stored (another writer committed it first). Not an error for `put`.
    #[error("blob {digest} already exists")]
    AlreadyExists {
        /// The blob.
        digest: Digest,
    },
    /// The content did not hash to (or was not as long as) what the caller promised.
    #[error(
        "digest mismatch: expected {expected}{}, got {actual} ({actual_size} bytes); nothing was stored",
        expected_size.map(|s| format!(" ({s} bytes)")).unwrap_or_default()
    )]
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
    /// A string that is not a valid, supported digest.
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest {
        /// The input (control characters escaped, shortened).
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A tag (`org.opencontainers.image.ref.name`) that does not match the ref grammar.
    #[error("invalid tag {tag:?}: {reason}")]
    InvalidTag {
        /// The input.
        tag: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A repository name that does not match the repository grammar.
    #[error("invalid repository {name:?}: {reason}")]
    InvalidRepository {
        /// The input.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Storing this would exceed the store's quota.
    #[error("quota exceeded: {used} bytes used + {requested} requested > quota {quota} bytes")]
    QuotaExceeded {
        /// The configured maximum.
        quota: u64,
        /// Bytes in use (committed plus in flight).
        used: u64,
        /// Bytes the operation needed.
        requested: u64,
    },
    /// The file system is full (ENOSPC). Nothing partial was published.
    #[error("no space left on device while writing {path}")]
    NoSpace {
        /// The file being written.
        path: PathBuf,
    },
    /// A stored blob whose content does not match its digest.
    #[error("blob {digest} at {path} is corrupt: {reason}")]
    Corrupt {
        /// The blob's digest (its name).
        digest: Digest,
        /// Its file.
        path: PathBuf,
        /// What is wrong (e.g. the digest the content hashes to).
        reason: String,
    },
    /// A store root or OCI image layout that is not valid.
    #[error("invalid OCI image layout at {path}: {reason}")]
    InvalidLayout {
        /// The offending file or folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A manifest or index that cannot be parsed.
    #[error("invalid manifest {digest}: {reason}")]
    InvalidManifest {
        /// The manifest's digest.
        digest: Digest,
        /// What is wrong.
        reason: String,
    },
    /// An import that was refused; the store is unchanged.
    #[error("import refused at {path}: {reason}; the store is unchanged")]
    Import {
        /// The entry (inside the tar or folder) that caused the refusal.
        path: String,
        /// Why.
        reason: String,
    },
    /// An upload that cannot be resumed or committed in its current state.
    #[error("upload {id}: {reason}")]
    InvalidUpload {
        /// The upload id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// Another writer (in this or another process) holds the resource.
    #[error("{what} is locked by another writer")]
    Locked {
        /// The locked resource.
        what: String,
    },
    /// The progress callback asked to stop; the store is consistent and unchanged by this call.
    #[error("operation cancelled; the store is unchanged")]
    Cancelled,
    /// Any other I/O error, with the path it happened on.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    /// Wraps an I/O error with its path, turning ENOSPC into [`StoreError::NoSpace`].
    pub(crate) fn io(path: &Path, source: io::Error) -> StoreError {
        if source.kind() == io::ErrorKind::StorageFull || source.raw_os_error() == Some(28) {
            return StoreError::NoSpace {
                path: path.to_path_buf(),
            };
        }
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn not_found_blob(digest: &Digest) -> StoreError {
        StoreError::NotFound {
            what: format!("blob {digest}"),
        }
    }
}

impl From<crate::fsutil::PathError> for StoreError {
    fn from(e: crate::fsutil::PathError) -> StoreError {
        StoreError::io(&e.path, e.source)
    }
}

impl From<DigestError> for StoreError {
    fn from(e: DigestError) -> StoreError {
        StoreError::InvalidDigest {
            input: e.input,
            reason: e.reason,
        }
    }
}

/// Result alias of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Attaches a path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|e| StoreError::io(path, e))
    }
}
