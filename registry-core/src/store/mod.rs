//! Content-addressed blob store: the storage Local mode's registry and Proxy mode's cache keep
//! image content in, and that image bundles are imported into.
//!
//! The store root is a valid OCI image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`),
//! readable by skopeo, crane, oras and go-containerregistry as it is. Everything in flight
//! (temporary files, resumable uploads, locks, leases, quarantine) lives in `.registry-store/`
//! under the root, which OCI readers ignore.
//!
//! Guarantees:
//! * **Verified ingest.** Bytes are hashed while they are written, once; a blob is published only
//!   if it matches the expected digest and size. A mismatch leaves nothing behind.
//! * **Crash safety.** Publication is temp file → fsync → link into place → fsync directory, so a
//!   path `blobs/<alg>/<hex>` only ever holds complete, verified content. `index.json` is replaced
//!   by rename. Killed writers leave only temp files, which [`Store::open`] removes.
//! * **Concurrency.** Threads and processes may write at once; the first commit of a digest wins
//!   and the others get an outcome that says `created: false` ([`PutOutcome`], from
//!   [`Store::put`] and [`BlobWriter::commit`] alike). Locks are `flock`s taken in one fixed
//!   order (see `lock.rs`).
//! * **Safe GC.** Mark from `index.json`, leases and young blobs (grace period); the sweep runs under
//!   an exclusive lock that publishers share, so a blob a writer was just told "already exists"
//!   is never deleted under it.
//!
//! Rooms (sub-modules, each with a module comment saying what it owns):
//! * `content`: the blobs: verified ingest (writer thread, writer state machine, quota,
//!   publication and recovery, group commit), reads, resumable uploads;
//! * `index`: what `index.json` says: tags, references, repositories, untagged entries, pins,
//!   and the manifest parsing the other rooms follow;
//! * `gc`: garbage collection and leases; `scrub`: re-hashing and quarantine;
//! * `archive`: OCI layouts and `d8 mirror` bundles in and out; `sync`: completeness and
//!   replica copies;
//! * shared by all: `layout` (paths), `lock`, `digest`, `error`, `progress`, `message`.
//!
//! ```
//! use registry_core::store::{Store, Digest, Algorithm};
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! let put = store.put_bytes(b"hello", None)?;
//! assert_eq!(put.digest, Digest::of(Algorithm::Sha256, b"hello"));
//! assert_eq!(store.read(&put.digest)?, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod archive;
mod content;
mod digest;
mod error;
mod gc;
mod id;
mod index;
mod layout;
mod lock;
mod message;
mod progress;
mod scrub;
mod seconds;
mod sync;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use archive::bundle::{
    BundleExportOptions, BundleExportReport, BundleOptions, BundleReport, LayoutReport, SHORT_TAG,
    SkippedEntry, TagMove,
};
pub use archive::export::{ExportOptions, ExportReport};
pub use archive::import::{ImportOptions, ImportReport};
pub use content::batch::Batch;
pub use content::put::PutOutcome;
pub use content::read::{BlobReader, BlobStat, FileId};
pub use content::resume::UploadId;
pub use content::upload::UploadInfo;
pub use content::writer::{BlobWriter, Landing};
pub use digest::{Algorithm, Digest, DigestError, HashState, Hasher};
pub(crate) use digest::{sha256_hex, sha256_hex_of_json};
pub use error::{Result, StoreError};
pub use gc::collect::{GcOptions, GcReport};
pub use gc::lease::{Lease, LeaseId};
pub use index::manifest::{MediaKind, media_types};
pub use index::refs::{PIN_ANNOTATION, TagEntry, validate_tag};
pub use index::repository::{REPOSITORY_ANNOTATION, Repository, validate_repository_tag};
pub use index::untagged::UntaggedEntry;
pub use layout::PRIVATE_DIR;
pub use progress::{Operation, Progress, ProgressFn, WithProgress};
pub use scrub::{CorruptBlob, ForeignFile, ScrubOptions, ScrubReport};
pub use sync::{CompletenessReport, ImageCompleteness, SyncReport};

use error::IoContext;
use layout::Layout;

/// When data reaches the disk. On the wire: `"durable"` or `"relaxed"`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Every commit fsyncs the blob and its directory before returning (the default).
    #[default]
    Durable,
    /// No fsync. A process crash is still safe (the page cache survives it), a power cut may lose
    /// or tear recently published blobs; run [`Store::scrub`] after one. Meant for caches.
    Relaxed,
}

/// How a store behaves. `StoreOptions::default()` is what production uses.
///
/// On the wire (JSON, camelCase, every field optional): `durability`, `quota`,
/// `gcGraceSeconds`, `uploadTtlSeconds` (whole seconds), `trackUse`.
///
/// ```
/// use registry_core::store::{Durability, StoreOptions};
/// let o: StoreOptions = serde_json::from_str(r#"{"durability":"relaxed","gcGraceSeconds":60}"#)?;
/// assert_eq!(o.durability, Durability::Relaxed);
/// assert_eq!(o.gc_grace, std::time::Duration::from_secs(60));
/// assert_eq!(o.upload_ttl, StoreOptions::default().upload_ttl);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct StoreOptions {
    /// When data reaches the disk. Many small blobs can also be committed together durably with
    /// [`Store::batch`] (group commit: one parallel fsync round and one directory fsync).
    pub durability: Durability,
    /// Maximum bytes of published plus in-flight blobs; writes beyond it fail with
    /// [`StoreError::QuotaExceeded`] before anything is written.
    pub quota: Option<u64>,
    /// Blobs younger than this are never collected (protects pushes whose manifest has not
    /// arrived yet). Default 1 hour.
    #[serde(rename = "gcGraceSeconds", with = "seconds")]
    #[schemars(with = "u64")]
    pub gc_grace: Duration,
    /// Uploads untouched for this long are removed by [`Store::expire_uploads`] and on open.
    /// Default 7 days.
    #[serde(rename = "uploadTtlSeconds", with = "seconds")]
    #[schemars(with = "u64")]
    pub upload_ttl: Duration,
    /// Record "last use" of a blob (its mtime) when it is checked ([`Store::has`],
    /// [`Store::stat`]) or opened, at most once a minute per blob. Cache expiry
    /// ([`Store::expire_cache`]) and the GC grace period count from it, so a push that checks
    /// for an old layer before sending its manifest keeps that layer alive. Default true.
    pub track_use: bool,
    /// Fault injection for tests (feature `fault-injection`): after this many bytes written by
    /// this `Store`, writes fail with ENOSPC.
    #[cfg(feature = "fault-injection")]
    #[serde(skip)]
    pub fail_writes_after: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::Durable,
            quota: None,
            gc_grace: Duration::from_secs(3600),
            upload_ttl: Duration::from_secs(7 * 24 * 3600),
            track_use: true,
            #[cfg(feature = "fault-injection")]
            fail_writes_after: None,
        }
    }
}

/// What [`Store::usage`] counts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Bytes of published blobs as last counted (only tracked when a quota is set, else 0).
    pub published_bytes: u64,
    /// Bytes written by writers that have not committed yet (counted when a quota is set).
    pub in_flight_bytes: u64,
}

/// A blob store rooted at a folder. Cheap to clone, `Send + Sync`; several `Store`s (in this or
/// other processes) may share one root.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    layout: Layout,
    opts: StoreOptions,
    /// Bytes of published blobs (only tracked when a quota is set).
    usage: AtomicU64,
    /// Bytes written by writers that have not committed yet.
    pending: AtomicU64,
    /// Bytes written in total (for the fault-injection hook).
    #[cfg(feature = "fault-injection")]
    written: AtomicU64,
}

impl Store {
    /// Opens the store at `root`, creating an empty OCI image layout if the folder is empty or
    /// missing, and cleaning up what crashed writers left behind.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let store = registry_core::store::Store::open(dir.path())?;
    /// assert!(dir.path().join("oci-layout").is_file());
    /// assert!(store.tags()?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(root: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(root, StoreOptions::default())
    }

    /// Opens the store with explicit options.
    pub fn open_with(root: impl AsRef<Path>, opts: StoreOptions) -> Result<Store> {
        if root.as_ref().as_os_str().is_empty() {
            // Would be the current directory: never guess where a store lives.
            return Err(StoreError::Io {
                path: PathBuf::from("\"\""),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the store root is an empty path; name its folder (\".\" for the current one)",
                ),
            });
        }
        let layout = Layout {
            root: root.as_ref().to_path_buf(),
        };
        let store = Store {
            inner: Arc::new(Inner {
                layout,
                opts,
                usage: AtomicU64::new(0),
                pending: AtomicU64::new(0),
                #[cfg(feature = "fault-injection")]
                written: AtomicU64::new(0),
            }),
        };
        store.init()?;
        store.recover()?;
        if store.inner.opts.quota.is_some() {
            store.refresh_usage()?;
        }
        Ok(store)
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.inner.layout.root
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.inner.opts
    }

    /// The path a blob is (or would be) stored at.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.inner.layout.blob(digest)
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    pub(crate) fn durable(&self) -> bool {
        self.inner.opts.durability == Durability::Durable
    }

    fn init(&self) -> Result<()> {
        let l = self.layout();
        fs::create_dir_all(&l.root).at(&l.root)?;
        for dir in [l.tmp(), l.uploads(), l.locks(), l.leases(), l.quarantine()] {
            fs::create_dir_all(&dir).at(&dir)?;
        }
        for alg in Algorithm::ALL {
            let d = l.alg_dir(alg);
            fs::create_dir_all(&d).at(&d)?;
        }
        let oci = l.oci_layout();
        match fs::read(&oci) {
            Ok(bytes) => check_oci_layout(&oci, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                layout::write_atomic(
                    &oci,
                    layout::OCI_LAYOUT_CONTENT.as_bytes(),
                    &l.tmp(),
                    self.durable(),
                )?;
            }
            Err(e) => return Err(StoreError::io(&oci, e)),
        }
        let index = l.index();
        if !index.exists() {
            let _g = lock::lock(&l.locks(), lock::LockName::Index, true)?;
            if !index.exists() {
                let empty = index::refs::IndexDoc::empty().to_bytes()?;
                layout::write_atomic(&index, &empty, &l.tmp(), self.durable())?;
            }
        } else {
            index::refs::IndexDoc::load(&index)?;
        }
        Ok(())
    }

    /// Removes what crashed or abandoned writers left: unlocked temp files, uploads idle longer
    /// than `upload_ttl`, expired leases. Safe while other writers run (their files are locked).
    /// Returns the number of files removed.
    pub fn recover(&self) -> Result<usize> {
        let mut removed = 0;
        let tmp = self.layout().tmp();
        for entry in fs::read_dir(&tmp).at(&tmp)? {
            let entry = entry.at(&tmp)?;
            let path = entry.path();
            if content::remove_if_unlocked(&path)? {
                removed += 1;
            }
        }
        removed += self.expire_uploads(self.inner.opts.upload_ttl)?;
        removed += gc::lease::expire_leases(self.layout())?;
        Ok(removed)
    }

    /// Recomputes the bytes in use by walking `blobs/` (used for the quota). Needed after other
    /// processes wrote to the same root if this one enforces a quota.
    pub fn refresh_usage(&self) -> Result<u64> {
        let mut total = 0u64;
        self.walk(&mut |stat| {
            total += stat.size;
            std::ops::ControlFlow::Continue(())
        })?;
        self.inner.usage.store(total, Ordering::SeqCst);
        Ok(total)
    }

    /// Bytes of published blobs as last counted (0 unless a quota is set), and bytes in flight.
    pub fn usage(&self) -> Usage {
        Usage {
            published_bytes: self.inner.usage.load(Ordering::SeqCst),
            in_flight_bytes: self.inner.pending.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn lock(&self, name: lock::LockName, exclusive: bool) -> Result<lock::LockGuard> {
        lock::lock(&self.layout().locks(), name, exclusive)
    }
}

/// Subtracts without wrapping: counters are advisory, and a miscount must never make the quota
/// think the store is nearly full.
pub(crate) fn saturating_sub(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
        Some(v.saturating_sub(n))
    });
}

pub(crate) fn check_oci_layout(path: &Path, bytes: &[u8]) -> Result<()> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| StoreError::InvalidLayout {
            path: path.to_path_buf(),
            reason: format!("not JSON: {e}"),
        })?;
    match v.get("imageLayoutVersion").and_then(|v| v.as_str()) {
        Some(ver) if ver.starts_with("1.") => Ok(()),
        Some(ver) => Err(StoreError::InvalidLayout {
            path: path.to_path_buf(),
            reason: format!("unsupported imageLayoutVersion {ver:?}"),
        }),
        None => Err(StoreError::InvalidLayout {
            path: path.to_path_buf(),
            reason: "missing imageLayoutVersion".into(),
        }),
    }
}
