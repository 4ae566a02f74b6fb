//! The staging folder of a bundle import: blobs are hashed while they are copied into a private,
//! locked folder under the store's temp area, and published only when the whole bundle checked
//! out. Dropping the staging (on any refusal) removes the folder and releases its quota.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::PathBuf;

use super::refuse;
use super::scan::{Item, data_error};
use crate::fsutil::sync_dir;
use crate::store::Store;
use crate::store::digest::{Algorithm, Digest};
use crate::store::error::{IoContext, Result, StoreError};
use crate::store::layout;
use crate::store::lock::create_locked;
use crate::store::progress::Reporter;

/// Blobs larger than this are hashed and written on a worker thread while the next entries are
/// read, so two layers hash on two cores at once.
const PARALLEL_ABOVE: u64 = crate::store::index::manifest::MAX_MANIFEST;

/// Worker threads in flight at most (the machine's cores, at most 4).
fn max_in_flight() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4))
}

/// A blob being hashed and written on a worker thread.
struct InFlight {
    path: String,
    digest: Digest,
    size: u64,
    handle: std::thread::JoinHandle<Result<u64>>,
}

/// A locked staging folder and what is in it.
pub(crate) struct Staging<'s> {
    in_flight: std::collections::VecDeque<InFlight>,
    store: &'s Store,
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: File,
    /// Staged blobs and their sizes.
    pub(crate) staged: BTreeMap<Digest, u64>,
    reserved: u64,
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        // Workers first: they write into the folder about to be removed.
        for f in self.in_flight.drain(..) {
            let _ = f.handle.join();
        }
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_file(&self.lock_path);
        if self.reserved > 0 && self.store.inner.opts.quota.is_some() {
            crate::store::saturating_sub(&self.store.inner.pending, self.reserved);
        }
    }
}

/// What publishing did.
#[derive(Debug, Default)]
pub(crate) struct Published {
    pub(crate) added: u64,
    pub(crate) present: u64,
    pub(crate) bytes: u64,
}

impl<'s> Staging<'s> {
    pub(crate) fn new(store: &'s Store) -> Result<Staging<'s>> {
        let tmp = store.layout().tmp();
        // The lock file exists (locked) before the folder, so recovery can tell a live staging
        // folder from a dead one at every moment.
        let (lock, lock_path) =
            create_locked(|| tmp.join(format!("{}.lock", layout::unique_name("bundle"))))?;
        let dir = lock_path.with_extension("");
        fs::create_dir(&dir).at(&dir)?;
        Ok(Staging {
            store,
            dir,
            lock_path,
            _lock: lock,
            staged: BTreeMap::new(),
            reserved: 0,
            in_flight: Default::default(),
        })
    }

    pub(crate) fn path_of(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.to_string().replace(':', "-"))
    }

    /// Copies one blob entry into staging, hashing it on the way. With `declared`, the entry
    /// must have exactly that size (checked from its header, before a byte is written).
    pub(crate) fn stage(
        &mut self,
        item: &Item,
        d: &Digest,
        r: &mut dyn Read,
        declared: Option<u64>,
        rep: &mut Reporter<'_>,
    ) -> Result<()> {
        if let Some(want) = declared
            && want != item.size
        {
            return Err(refuse(
                &item.path,
                format!("{} bytes, but its descriptor says {want}", item.size),
            ));
        }
        let mut w = self.store.writer(d.algorithm())?;
        w.check_quota(item.size)?;
        if item.size > PARALLEL_ABOVE {
            return self.stage_on_worker(item, d, r, w, rep);
        }
        let mut buf = vec![0u8; 1 << 20];
        let mut left = item.size;
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = r.read(&mut buf[..want]).map_err(|e| data_error(item, e))?;
            if n == 0 {
                return Err(data_error(
                    item,
                    std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                ));
            }
            w.write_bytes(&buf[..n])?;
            left -= n as u64;
            rep.bytes(n as u64)?;
        }
        let result = w.stage(d, &self.path_of(d));
        self.settled(&item.path, d, item.size, result)
    }

    /// Whether `d` is staged or being staged.
    pub(crate) fn has(&self, d: &Digest) -> bool {
        self.staged.contains_key(d) || self.in_flight.iter().any(|f| &f.digest == d)
    }

    /// Reads the entry here and hands its bytes to a worker that hashes and writes them.
    fn stage_on_worker(
        &mut self,
        item: &Item,
        d: &Digest,
        r: &mut dyn Read,
        mut w: crate::store::BlobWriter,
        rep: &mut Reporter<'_>,
    ) -> Result<()> {
        while self.in_flight.len() >= max_in_flight() {
            self.settle_oldest()?;
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let dest = self.path_of(d);
        let digest = d.clone();
        let handle = std::thread::spawn(move || -> Result<u64> {
            for buf in rx {
                w.write_bytes(&buf)?;
            }
            w.stage(&digest, &dest)
        });
        let mut left = item.size;
        let mut failed = None;
        while left > 0 {
            let mut buf = vec![0u8; (1usize << 20).min(left as usize)];
            let n = match r.read(&mut buf) {
                Ok(0) => Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
                other => other,
            };
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    failed = Some(data_error(item, e));
                    break;
                }
            };
            buf.truncate(n);
            left -= n as u64;
            if tx.send(buf).is_err() {
                break; // the worker failed; its error is reported below
            }
            if let Err(e) = rep.bytes(n as u64) {
                failed = Some(e);
                break;
            }
        }
        drop(tx);
        self.in_flight.push_back(InFlight {
            path: item.path.clone(),
            digest: d.clone(),
            size: item.size,
            handle,
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn settle_oldest(&mut self) -> Result<()> {
        let Some(f) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let result = f.handle.join().unwrap_or(Err(StoreError::Cancelled));
        self.settled(&f.path, &f.digest, f.size, result)
    }

    /// Waits for every worker; the first failure refuses the import.
    pub(crate) fn settle_all(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.settle_oldest()?;
        }
        Ok(())
    }

    fn settled(&mut self, path: &str, d: &Digest, size: u64, result: Result<u64>) -> Result<()> {
        match result {
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

    /// Drops staged blobs nothing needs (a stream's unreachable entries).
    pub(crate) fn discard(&mut self, d: &Digest) {
        if self.staged.remove(d).is_some() {
            let _ = fs::remove_file(self.path_of(d));
        }
    }

    /// Publishes every staged blob into the store (one fsync round, then the directories).
    /// The caller holds the shared GC lock.
    pub(crate) fn publish(&mut self) -> Result<Published> {
        let store = self.store;
        if store.durable() {
            let paths: Vec<PathBuf> = self.staged.keys().map(|d| self.path_of(d)).collect();
            crate::store::archive::import::parallel_sync(&paths)?;
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
