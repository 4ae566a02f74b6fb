//! The staging folder of a bundle import: blobs are hashed while they are copied into a private,
//! locked folder under the store's temp area, and published only when the whole bundle checked
//! out. Dropping the staging (on any refusal) removes the folder and releases its quota.

use std::io::Read;
use std::path::PathBuf;

use super::scan::{Item, Span, data_error};
use crate::store::Store;
use crate::store::archive::staging::{Published, StagingDir, refuse};
use crate::store::digest::Digest;
use crate::store::error::{Result, StoreError};
use crate::store::progress::Reporter;

/// Blobs larger than this are hashed and written on a worker thread while the next entries are
/// read. Where the entry can be read by position (a plain tar or a file), the worker reads it
/// itself, so two layers are read and hashed on two cores at once; from a stream, the entries
/// arrive in order and the worker only takes the hashing off the reading thread.
const PARALLEL_ABOVE: u64 = crate::store::index::manifest::MAX_MANIFEST;

/// Worker threads in flight at most: two more than the machine's cores, 4 to 6. Hashing needs a
/// core per blob, but each worker waits for every direct write it makes, and the device is
/// faster with more writes queued: on the 2-core bench machine, 4 workers instead of 2 took a
/// 5-layer import from 0.88-0.93 to 1.05-1.10 of the one-core hash floor (`benches/bundle`).
fn max_in_flight() -> usize {
    std::thread::available_parallelism().map_or(4, |n| (n.get() + 2).clamp(4, 6))
}

/// A reader that keeps its first error, so a worker can tell a failing bundle file from a
/// failing store.
struct Recorded<R> {
    inner: R,
    error: Option<std::io::Error>,
}

impl<R: Read> Read for Recorded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if self.error.is_none() && e.kind() != std::io::ErrorKind::Interrupted {
                self.error = Some(std::io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

/// A blob being hashed and written on a worker thread.
struct InFlight {
    path: String,
    digest: Digest,
    size: u64,
    handle: std::thread::JoinHandle<Result<u64>>,
}

/// A bundle's staging folder, and the blobs still being hashed on workers.
pub(crate) struct Staging<'s> {
    in_flight: std::collections::VecDeque<InFlight>,
    /// Dropped after the workers are joined (fields drop after `drop`): they write into it.
    pub(crate) dir: StagingDir<'s>,
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        for f in self.in_flight.drain(..) {
            let _ = f.handle.join();
        }
    }
}

impl<'s> Staging<'s> {
    pub(crate) fn new(store: &'s Store) -> Result<Staging<'s>> {
        Ok(Staging {
            in_flight: Default::default(),
            dir: StagingDir::new(store, "bundle")?,
        })
    }

    pub(crate) fn path_of(&self, d: &Digest) -> PathBuf {
        self.dir.path_of(d)
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
        let mut w = self.dir.store().writer(d.algorithm())?;
        w.mark_bulk();
        w.check_quota(item.size)?;
        if item.size > PARALLEL_ABOVE {
            return match &item.at {
                Some(at) => self.stage_by_position(item, d, at.clone(), w, rep),
                None => self.stage_on_worker(item, d, r, w, rep),
            };
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
        self.dir.record(&item.path, d, item.size, result)
    }

    /// Whether `d` is staged or being staged.
    pub(crate) fn has(&self, d: &Digest) -> bool {
        self.dir.staged.contains_key(d) || self.in_flight.iter().any(|f| &f.digest == d)
    }

    /// Hands the entry to a worker that reads it from `at`, hashes and writes it; the reading
    /// thread moves on to the next entry at once.
    fn stage_by_position(
        &mut self,
        item: &Item,
        d: &Digest,
        at: Span,
        mut w: crate::store::BlobWriter,
        rep: &mut Reporter<'_>,
    ) -> Result<()> {
        let entry = item.clone();
        self.spawn_worker(item, d, move |digest, dest| {
            let mut data = Recorded {
                inner: at.open()?.take(entry.size),
                error: None,
            };
            let copied = w.write_from(&mut data);
            match (data.error.take(), copied) {
                (Some(e), _) => return Err(data_error(&entry, e)),
                (None, Err(e)) => return Err(e),
                (None, Ok(n)) if n < entry.size => {
                    let short = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
                    return Err(data_error(&entry, short));
                }
                (None, Ok(_)) => {}
            }
            w.stage(&digest, &dest)
        })?;
        rep.bytes(item.size)
    }

    /// Runs `job(digest, dest)` for `item` on a worker thread once fewer than
    /// [`max_in_flight`] run; its result is recorded when it is settled.
    fn spawn_worker(
        &mut self,
        item: &Item,
        d: &Digest,
        job: impl FnOnce(Digest, PathBuf) -> Result<u64> + Send + 'static,
    ) -> Result<()> {
        while self.in_flight.len() >= max_in_flight() {
            self.settle_oldest()?;
        }
        let (digest, dest) = (d.clone(), self.path_of(d));
        self.in_flight.push_back(InFlight {
            path: item.path.clone(),
            digest: d.clone(),
            size: item.size,
            handle: std::thread::spawn(move || job(digest, dest)),
        });
        Ok(())
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
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        self.spawn_worker(item, d, move |digest, dest| {
            for buf in rx {
                w.write_bytes(&buf)?;
            }
            w.stage(&digest, &dest)
        })?;
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
        self.dir.record(&f.path, &f.digest, f.size, result)
    }

    /// Waits for every worker; the first failure refuses the import.
    pub(crate) fn settle_all(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.settle_oldest()?;
        }
        Ok(())
    }

    /// Drops staged blobs nothing needs (a stream's unreachable entries).
    pub(crate) fn discard(&mut self, d: &Digest) {
        self.dir.discard(d);
    }

    /// Publishes every staged blob into the store (see [`StagingDir::publish`]).
    pub(crate) fn publish(&mut self) -> Result<Published> {
        self.dir.publish()
    }
}
