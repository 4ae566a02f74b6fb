//! The staging folder every archive import writes into: a private, locked folder under the
//! store's temp area that holds hashed blobs until the whole archive checked out, then publishes
//! them in one fsync round. Dropping it (on any refusal or error) removes the folder and releases
//! the quota its blobs reserved, so a failed import leaves the store as it was.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::PathBuf;

use crate::fsutil::sync_dir;
use crate::store::Store;
use crate::store::digest::{Algorithm, Digest};
use crate::store::error::{IoContext, Result, StoreError};
use crate::store::layout;
use crate::store::lock::create_locked;

/// An archive entry refused: the entry's path inside the archive, and why.
pub(crate) fn refuse(path: impl Into<String>, reason: impl Into<String>) -> StoreError {
    StoreError::Import {
        path: path.into(),
        reason: reason.into(),
    }
}

/// What publishing did.
#[derive(Debug, Default)]
pub(crate) struct Published {
    pub(crate) added: u64,
    pub(crate) present: u64,
    pub(crate) bytes: u64,
}

/// A locked staging folder and the blobs staged in it.
pub(crate) struct StagingDir<'s> {
    store: &'s Store,
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: File,
    /// Staged blobs and their sizes.
    pub(crate) staged: BTreeMap<Digest, u64>,
    reserved: u64,
}

impl Drop for StagingDir<'_> {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_file(&self.lock_path);
        if self.reserved > 0 && self.store.inner.opts.quota.is_some() {
            crate::store::saturating_sub(&self.store.inner.pending, self.reserved);
        }
    }
}

impl<'s> StagingDir<'s> {
    /// A new staging folder named after `kind` ("import", "bundle").
    pub(crate) fn new(store: &'s Store, kind: &str) -> Result<StagingDir<'s>> {
        let tmp = store.layout().tmp();
        // The lock file exists (locked) before the folder does, so recovery can tell a live
        // staging folder (lock held) from a dead one (lock free or gone) at every moment.
        let (lock, lock_path) =
            create_locked(|| tmp.join(format!("{}.lock", layout::unique_name(kind))))?;
        let dir = lock_path.with_extension("");
        fs::create_dir(&dir).at(&dir)?;
        Ok(StagingDir {
            store,
            dir,
            lock_path,
            _lock: lock,
            staged: BTreeMap::new(),
            reserved: 0,
        })
    }

    /// The store this folder publishes into.
    pub(crate) fn store(&self) -> &'s Store {
        self.store
    }

    /// Where blob `d` is staged.
    pub(crate) fn path_of(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.to_string().replace(':', "-"))
    }

    /// Records the outcome of staging `d` (archive entry `path`, `size` bytes) from
    /// `BlobWriter::stage`: the quota it reserved, or a refusal naming the entry when the
    /// content hashes to another digest.
    pub(crate) fn record(
        &mut self,
        path: &str,
        d: &Digest,
        size: u64,
        staged: Result<u64>,
    ) -> Result<()> {
        match staged {
            Ok(reserved) => self.reserved += reserved,
            Err(StoreError::DigestMismatch {
                actual,
                actual_size,
                ..
            }) => {
                return Err(refuse(
                    path,
                    format!("content hashes to {actual} ({actual_size} bytes), not {d}"),
                ));
            }
            Err(e) => return Err(e),
        }
        self.staged.insert(d.clone(), size);
        Ok(())
    }

    /// Drops a staged blob nothing needs.
    pub(crate) fn discard(&mut self, d: &Digest) {
        if self.staged.remove(d).is_some() {
            let _ = fs::remove_file(self.path_of(d));
        }
    }

    /// Publishes every staged blob into the store: one parallel fsync round, the links, then
    /// the directories. The caller holds the shared GC lock.
    pub(crate) fn publish(&mut self) -> Result<Published> {
        let store = self.store;
        if store.durable() {
            let paths: Vec<PathBuf> = self.staged.keys().map(|d| self.path_of(d)).collect();
            crate::fsutil::sync_parallel(&paths, |p| {
                File::open(p).and_then(|f| f.sync_all()).at(p)
            })?;
        }
        let mut out = Published::default();
        let mut dirs = [false; 2];
        for (d, size) in &self.staged {
            let src = self.path_of(d);
            if crate::store::content::link_no_replace(&src, &store.blob_path(d), *size, store)? {
                out.added += 1;
                out.bytes += size;
                dirs[d.algorithm() as usize] = true;
            } else {
                out.present += 1;
            }
        }
        if store.durable() {
            for alg in Algorithm::ALL {
                if dirs[alg as usize] {
                    sync_dir(&store.layout().alg_dir(alg))?;
                }
            }
        }
        if store.inner.opts.quota.is_some() {
            store
                .inner
                .usage
                .fetch_add(out.bytes, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(out)
    }
}
