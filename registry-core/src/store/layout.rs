//! The on-disk layout: where blobs, the OCI files and the store's private folder live, plus the
//! few file-system primitives every writer shares (directory fsync, atomic small-file replace,
//! unique temporary names).
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

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::digest::{Algorithm, Digest, Hasher};
use super::error::{IoContext, Result};

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

/// fsync a directory, so a rename or link inside it survives a power cut.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).at(dir)
}

/// Replaces `path` with `bytes` atomically: temp file in `tmp_dir`, fsync, rename, fsync parent.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], tmp_dir: &Path, durable: bool) -> Result<()> {
    let (mut f, tmp) = super::lock::create_locked(|| tmp_dir.join(unique_name("replace")))?;
    let res = (|| {
        f.write_all(bytes).at(&tmp)?;
        if durable {
            f.sync_all().at(&tmp)?;
        }
        fs::rename(&tmp, path).at(path)?;
        if durable && let Some(parent) = path.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique across threads and processes (pid, time, counter).
pub(crate) fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{t:x}-{n}", std::process::id())
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
