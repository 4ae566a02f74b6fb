//! The on-disk layout: where blobs, the OCI files and the store's private folder live, plus the
//! store's own use of the shared file-system primitives (`crate::fsutil`): atomic replace with
//! the temp file locked in `tmp/`, unique names, hard-to-guess ids.
//!
//! ```text
//! <root>/oci-layout                 {"imageLayoutVersion":"1.0.0"}
//! <root>/index.json                 tags = org.opencontainers.image.ref.name annotations
//! <root>/blobs/<alg>/<hex>          published blobs, flat as the OCI layout demands
//! <root>/.registry-store/           ignored by OCI readers:
//!     tmp/        temp files of writers in flight (each flock'ed by its writer)
//!     uploads/    <id>.data + <id>.json of resumable uploads
//!     locks/      gc.lock, index.lock
//!     leases/     <id>.json
//!     quarantine/ corrupt or foreign files moved aside by scrub
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::fsutil;
pub(crate) use crate::fsutil::unique_name;
use crate::store::digest::{Algorithm, Digest, Hasher};
use crate::store::error::Result;

/// Name of the store's private folder under the root.
pub const PRIVATE_DIR: &str = ".registry-store";
pub(crate) const OCI_LAYOUT_CONTENT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";

#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) root: PathBuf,
}

impl Layout {
    pub(crate) fn blobs(&self) -> PathBuf {
        self.root.join("blobs")
    }
    pub(crate) fn alg_dir(&self, alg: Algorithm) -> PathBuf {
        self.root.join("blobs").join(alg.name())
    }
    pub(crate) fn blob(&self, d: &Digest) -> PathBuf {
        self.alg_dir(d.algorithm()).join(d.hex())
    }
    pub(crate) fn index(&self) -> PathBuf {
        self.root.join("index.json")
    }
    pub(crate) fn oci_layout(&self) -> PathBuf {
        self.root.join("oci-layout")
    }
    pub(crate) fn private(&self) -> PathBuf {
        self.root.join(PRIVATE_DIR)
    }
    pub(crate) fn tmp(&self) -> PathBuf {
        self.private().join("tmp")
    }
    pub(crate) fn uploads(&self) -> PathBuf {
        self.private().join("uploads")
    }
    pub(crate) fn locks(&self) -> PathBuf {
        self.private().join("locks")
    }
    pub(crate) fn leases(&self) -> PathBuf {
        self.private().join("leases")
    }
    pub(crate) fn quarantine(&self) -> PathBuf {
        self.private().join("quarantine")
    }
}

/// Replaces `path` with `bytes` atomically (see [`fsutil::replace_with`]), with the temp file
/// in the store's `tmp_dir` and locked there, so recovery in another process leaves it alone.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], tmp_dir: &Path, durable: bool) -> Result<()> {
    let (f, tmp) = crate::store::lock::create_locked(|| tmp_dir.join(unique_name("replace")))?;
    Ok(fsutil::replace_with(f, &tmp, path, bytes, durable)?)
}

/// An identifier that is hard to guess (used for upload ids and leases that may travel in URLs).
pub(crate) fn random_id() -> String {
    let mut h = Hasher::new(Algorithm::Sha256);
    h.update(unique_name("id").as_bytes());
    let stack_marker = 0u8;
    h.update(format!("{:p}", &stack_marker).as_bytes());
    if let Ok(bytes) = fs::read("/proc/sys/kernel/random/uuid") {
        h.update(&bytes);
    }
    h.finish().hex()[..32].to_string()
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn time_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
