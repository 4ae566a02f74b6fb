//! Leases: named, expiring GC roots that callers hold while they assemble content (a push whose
//! manifest has not arrived, an import, a replica sync). Stored as files so every process's GC
//! sees them; a lease from a process that died expires on its own.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::store::digest::Digest;
use crate::store::error::{IoContext, Result, StoreError};
use crate::store::layout::{self, Layout, now_ms};
use crate::store::lock::LockName;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LeaseFile {
    pub(crate) expires_ms: u64,
    pub(crate) digests: Vec<Digest>,
}

/// The id of a lease (lowercase hex, its file name under `leases/`), to release a persisted
/// lease from another process with [`Store::release_lease`].
///
/// ```
/// use std::time::Duration;
/// use registry_core::store::{LeaseId, Store};
/// use registry_core::wire::ErrorCode;
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path())?;
/// let id = store.lease(&[], Duration::from_secs(600))?.persist();
/// let again = LeaseId::parse(id.as_str())?;
/// store.release_lease(&again)?;
/// assert_eq!(store.release_lease(&again).unwrap_err().code(), ErrorCode::NotFound);
/// assert_eq!(LeaseId::parse("../x").unwrap_err().code(), ErrorCode::NotFound);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct LeaseId(String);

crate::store::id::text_id!(LeaseId);

impl LeaseId {
    /// Parses an id; anything but hex characters is refused as a lease that does not exist.
    pub fn parse(s: &str) -> Result<LeaseId> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::NotFound {
                what: format!("lease {:?}", crate::store::message::printable(s)),
            });
        }
        Ok(LeaseId(s.to_owned()))
    }

    fn file_name(&self) -> String {
        format!("{}.json", self.0)
    }
}

/// A lease protecting some digests from GC until it is dropped or expires.
///
/// ```
/// use std::time::Duration;
/// let dir = tempfile::tempdir()?;
/// let store = registry_core::store::Store::open(dir.path())?;
/// let d = store.put_bytes(b"layer", None)?.digest;
/// let lease = store.lease(&[d.clone()], Duration::from_secs(600))?;
/// let opts = registry_core::store::GcOptions { grace: Some(Duration::ZERO), ..Default::default() };
/// assert!(store.gc(&opts)?.deleted.is_empty());
/// drop(lease);
/// assert_eq!(store.gc(&opts)?.deleted, vec![d]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Lease {
    store: Store,
    id: LeaseId,
    path: PathBuf,
    file: LeaseFile,
    keep: bool,
}

impl Lease {
    /// Adds a digest to the lease.
    pub fn add(&mut self, digest: &Digest) -> Result<()> {
        if !self.file.digests.contains(digest) {
            self.file.digests.push(digest.clone());
            self.write()?;
        }
        Ok(())
    }

    /// The lease's id (its file name), to release it from another process with
    /// [`Store::release_lease`].
    pub fn id(&self) -> &LeaseId {
        &self.id
    }

    /// Keeps the lease after this value is dropped (until it expires or is released by id).
    pub fn persist(mut self) -> LeaseId {
        self.keep = true;
        self.id.clone()
    }

    fn write(&self) -> Result<()> {
        let _gc = self.store.lock(LockName::Gc, false)?;
        let bytes = serde_json::to_vec(&self.file).map_err(|e| StoreError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        layout::write_atomic(
            &self.path,
            &bytes,
            &self.store.layout().tmp(),
            self.store.durable(),
        )
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Store {
    /// Takes a lease on `digests` for at most `ttl`.
    pub fn lease(&self, digests: &[Digest], ttl: Duration) -> Result<Lease> {
        let id = LeaseId(layout::random_id());
        let lease = Lease {
            store: self.clone(),
            path: self.layout().leases().join(id.file_name()),
            id,
            file: LeaseFile {
                expires_ms: now_ms().saturating_add(ttl.as_millis() as u64),
                digests: digests.to_vec(),
            },
            keep: false,
        };
        lease.write()?;
        Ok(lease)
    }

    /// Releases a persisted lease by id.
    pub fn release_lease(&self, id: &LeaseId) -> Result<()> {
        let p = self.layout().leases().join(id.file_name());
        fs::remove_file(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound {
                what: format!("lease {id}"),
            },
            _ => StoreError::io(&p, e),
        })
    }

    /// Digests held by live leases.
    pub(crate) fn leased(&self) -> Result<Vec<Digest>> {
        let dir = self.layout().leases();
        let now = now_ms();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).at(&dir)? {
            let entry = entry.at(&dir)?;
            let Ok(bytes) = fs::read(entry.path()) else {
                continue;
            };
            // An unreadable lease protects nothing; it is removed when it expires by age.
            let Ok(lf) = serde_json::from_slice::<LeaseFile>(&bytes) else {
                continue;
            };
            if lf.expires_ms > now {
                out.extend(lf.digests);
            }
        }
        Ok(out)
    }
}

/// Removes expired (or unreadable and day-old) lease files. Returns how many.
pub(crate) fn expire_leases(layout: &Layout) -> Result<usize> {
    let dir = layout.leases();
    let now = now_ms();
    let mut n = 0;
    for entry in fs::read_dir(&dir).at(&dir)? {
        let entry = entry.at(&dir)?;
        let expired = match fs::read(entry.path())
            .ok()
            .and_then(|b| serde_json::from_slice::<LeaseFile>(&b).ok())
        {
            Some(lf) => lf.expires_ms <= now,
            None => entry
                .metadata()
                .and_then(|m| m.modified())
                .map(layout::time_ms)
                .is_ok_and(|m| m + Duration::from_secs(86400).as_millis() as u64 <= now),
        };
        if expired && fs::remove_file(entry.path()).is_ok() {
            n += 1;
        }
    }
    Ok(n)
}
