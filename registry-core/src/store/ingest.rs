//! Streaming ingest: [`BlobWriter`] hashes while it writes, then commits against an expected
//! digest and size; [`Store::put`] and friends wrap it; [`Batch`] is the group commit for many
//! small blobs.
//!
//! Large blobs (past the first 4 MiB) are written by a background thread while the caller's
//! thread hashes, so hashing and disk I/O overlap instead of adding up. That thread writes with
//! `O_DIRECT` where the file system allows it (no page-cache copy, no writeback competing for the
//! CPU) and otherwise through the page cache with periodic background fsyncs, so the final fsync
//! has little left to do. `Store::put` reads straight into that thread's aligned buffers.
//!
//! Publication links the fsynced temp file to `blobs/<alg>/<hex>` (a hard link never replaces an
//! existing name, which makes "first commit wins" atomic across processes) and then fsyncs the
//! directory; the temp name is removed afterwards.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::Store;
use super::digest::{Algorithm, Digest, Hasher};
use super::error::{IoContext, Result, StoreError};
use super::layout::{self, sync_dir};
use super::lock::{LockName, create_locked, try_lock_file};
use super::upload::{UploadId, UploadState};

/// Writes this much in the caller's thread before handing writes to a background thread; small
/// blobs never pay for a thread.
const PIPELINE_AFTER: u64 = 4 << 20;
const CHUNK: usize = 1 << 20;
const PIPELINE_DEPTH: usize = 8;
/// Ask the kernel to write back dirty pages every this many bytes, so the final fsync of a large
/// blob has little left to do.
const SYNC_EVERY: u64 = 32 << 20;

/// The result of a `put`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutOutcome {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// False if the blob was already stored (by an earlier or concurrent writer).
    pub created: bool,
}

/// `O_DIRECT` where its value is known without libc. Large blobs are written around the page
/// cache: the bytes go to the device in the writer thread's time instead of costing a copy into
/// the cache plus later writeback, which on a small machine compete with hashing for the CPU.
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "x86")))]
const O_DIRECT: Option<i32> = Some(0o40000);
#[cfg(all(target_os = "linux", any(target_arch = "aarch64", target_arch = "arm")))]
const O_DIRECT: Option<i32> = Some(0o200000);
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm"
    )
)))]
const O_DIRECT: Option<i32> = None;
/// Alignment direct I/O needs for buffer addresses, lengths and file offsets.
const ALIGN: usize = 4096;

/// A chunk for the writer thread: `buf[start..start + len]`.
type Chunk = (Vec<u8>, usize, usize);

struct Pipeline {
    tx: Option<SyncSender<Chunk>>,
    spare: Receiver<Vec<u8>>,
    handle: Option<JoinHandle<io::Result<()>>>,
}

impl Pipeline {
    fn start(file: &File, path: &Path, durable: bool) -> io::Result<Pipeline> {
        use std::os::unix::fs::{FileExt, OpenOptionsExt};
        let buffered = file.try_clone()?;
        let mut offset = (&*file).stream_position()?;
        let direct = match O_DIRECT {
            Some(flag) if offset % ALIGN as u64 == 0 => OpenOptions::new()
                .write(true)
                .custom_flags(flag)
                .open(path)
                .ok(),
            _ => None,
        };
        let syncer = if durable {
            Some(file.try_clone()?)
        } else {
            None
        };
        let (tx, rx) = sync_channel::<Chunk>(PIPELINE_DEPTH);
        let (spare_tx, spare) = sync_channel::<Vec<u8>>(PIPELINE_DEPTH + 2);
        let handle = std::thread::Builder::new()
            .name("blob-writer".into())
            .spawn(move || -> io::Result<()> {
                let mut direct = direct;
                // A second thread only fsyncs what went through the page cache, so writeback
                // runs while this one keeps writing.
                let (sync_tx, sync_rx) = sync_channel::<()>(1);
                let sync_handle = syncer.map(|f| {
                    std::thread::spawn(move || -> io::Result<()> {
                        while sync_rx.recv().is_ok() {
                            f.sync_data()?;
                        }
                        Ok(())
                    })
                });
                let mut since_sync = 0u64;
                let mut result = Ok(());
                for (buf, start, len) in rx {
                    let data = &buf[start..start + len];
                    let aligned = data.as_ptr().align_offset(ALIGN) == 0
                        && len % ALIGN == 0
                        && offset % ALIGN as u64 == 0;
                    let mut done = false;
                    if let (true, Some(d)) = (aligned, direct.as_ref()) {
                        match d.write_all_at(data, offset) {
                            Ok(()) => done = true,
                            // Not supported here after all (EINVAL): use the page cache.
                            Err(e) if e.raw_os_error() == Some(22) => direct = None,
                            Err(e) => {
                                result = Err(e);
                                break;
                            }
                        }
                    }
                    if !done {
                        if let Err(e) = buffered.write_all_at(data, offset) {
                            result = Err(e);
                            break;
                        }
                        since_sync += len as u64;
                    }
                    offset += len as u64;
                    if since_sync >= SYNC_EVERY && sync_handle.is_some() {
                        since_sync = 0;
                        let _ = sync_tx.try_send(());
                    }
                    // Returned with its length intact, so reuse never pays for zero-filling.
                    let _ = spare_tx.try_send(buf);
                }
                drop(sync_tx);
                if let Some(h) = sync_handle {
                    match h.join() {
                        Ok(r) => r?,
                        Err(_) => return Err(io::Error::other("fsync thread panicked")),
                    }
                }
                result
            })?;
        Ok(Pipeline {
            tx: Some(tx),
            spare,
            handle: Some(handle),
        })
    }

    fn buffer(&self) -> Vec<u8> {
        self.spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK + ALIGN))
    }

    /// Hands a full buffer to the writer thread; on failure joins it to get its error.
    fn send(&mut self, buf: Vec<u8>) -> io::Result<()> {
        let len = buf.len();
        self.send_chunk(buf, 0, len)
    }

    /// Hands `buf[start..start + len]` to the writer thread.
    fn send_chunk(&mut self, buf: Vec<u8>, start: usize, len: usize) -> io::Result<()> {
        let sent = match &self.tx {
            Some(tx) => tx.send((buf, start, len)).is_ok(),
            None => false,
        };
        if sent { Ok(()) } else { self.finish() }
    }

    fn finish(&mut self) -> io::Result<()> {
        self.tx = None;
        match self.handle.take() {
            Some(h) => match h.join() {
                Ok(r) => r,
                Err(_) => Err(io::Error::other("blob writer thread panicked")),
            },
            None => Ok(()),
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// A blob being written. Bytes are hashed as they arrive; nothing is visible in the store until
/// [`BlobWriter::commit`] succeeds. Dropping an uncommitted writer removes its temp file, except
/// for resumable uploads, which stay resumable (see [`Store::begin_upload`]).
pub struct BlobWriter {
    store: Store,
    file: Option<File>,
    path: PathBuf,
    upload: Option<UploadState>,
    hasher: Hasher,
    written: u64,
    pending_reserved: u64,
    buf: Vec<u8>,
    pipeline: Option<Pipeline>,
    poisoned: bool,
    done: bool,
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("path", &self.path)
            .field("written", &self.written)
            .field("upload", &self.upload.as_ref().map(|u| u.id.clone()))
            .finish()
    }
}

impl BlobWriter {
    pub(crate) fn create(store: &Store, algorithm: Algorithm) -> Result<BlobWriter> {
        let tmp = store.layout().tmp();
        // The lock tells recovery in other processes that this temp file is alive.
        let (file, path) = create_locked(|| tmp.join(layout::unique_name("blob")))?;
        Ok(BlobWriter::from_parts(
            store,
            file,
            path,
            Hasher::new(algorithm),
            0,
            None,
        ))
    }

    pub(crate) fn from_parts(
        store: &Store,
        file: File,
        path: PathBuf,
        hasher: Hasher,
        written: u64,
        upload: Option<UploadState>,
    ) -> BlobWriter {
        BlobWriter {
            store: store.clone(),
            file: Some(file),
            path,
            upload,
            hasher,
            written,
            pending_reserved: 0,
            buf: Vec::new(),
            pipeline: None,
            poisoned: false,
            done: false,
        }
    }

    /// Bytes written so far (for an upload: since it began, across resumes).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The upload id, if this writer is a resumable upload.
    pub fn upload_id(&self) -> Option<&UploadId> {
        self.upload.as_ref().map(|u| &u.id)
    }

    /// The digest of what was written so far (does not end the writer).
    pub fn current_digest(&self) -> Digest {
        self.hasher.clone().finish()
    }

    fn reserve(&mut self, n: u64) -> Result<()> {
        let inner = &self.store.inner;
        if let Some(limit) = inner.opts.fail_writes_after {
            let before = inner.written.fetch_add(n, Ordering::SeqCst);
            if before + n > limit {
                return Err(StoreError::NoSpace {
                    path: self.path.clone(),
                });
            }
        }
        if let Some(quota) = inner.opts.quota {
            let pending = inner.pending.fetch_add(n, Ordering::SeqCst) + n;
            let used = inner.usage.load(Ordering::SeqCst);
            if used + pending > quota {
                super::saturating_sub(&inner.pending, n);
                return Err(StoreError::QuotaExceeded {
                    quota,
                    used: used + pending - n,
                    requested: n,
                });
            }
            self.pending_reserved += n;
        }
        Ok(())
    }

    /// Checks up front that `size` more bytes fit in the quota, so a large upload is refused
    /// before it starts rather than when the disk is nearly full.
    pub fn check_quota(&self, size: u64) -> Result<()> {
        let inner = &self.store.inner;
        if let Some(quota) = inner.opts.quota {
            let used = inner.usage.load(Ordering::SeqCst) + inner.pending.load(Ordering::SeqCst);
            if used + size > quota {
                return Err(StoreError::QuotaExceeded {
                    quota,
                    used,
                    requested: size,
                });
            }
        }
        Ok(())
    }

    /// Appends bytes: hashes them and writes them to the temp file.
    pub fn write_bytes(&mut self, data: &[u8]) -> Result<()> {
        if self.poisoned || self.done {
            return Err(StoreError::InvalidUpload {
                id: self.describe(),
                reason: "writer failed earlier or is finished".into(),
            });
        }
        if data.is_empty() {
            return Ok(());
        }
        let r = self.write_inner(data);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    fn describe(&self) -> String {
        match &self.upload {
            Some(u) => u.id.to_string(),
            None => self.path.display().to_string(),
        }
    }

    fn write_inner(&mut self, data: &[u8]) -> Result<()> {
        self.reserve(data.len() as u64)?;
        self.hasher.update(data);
        self.written += data.len() as u64;
        if self.pipeline.is_none() && self.written >= PIPELINE_AFTER {
            self.flush_direct()?;
            let file = self.file.as_ref().ok_or_else(|| self.gone())?;
            self.pipeline =
                Some(Pipeline::start(file, &self.path, self.store.durable()).at(&self.path)?);
        }
        match &mut self.pipeline {
            None => {
                // Small writes are gathered so the file sees few, large write calls.
                if self.buf.len() + data.len() > CHUNK {
                    self.flush_direct()?;
                }
                if data.len() >= CHUNK {
                    let f = self.file.as_mut().ok_or_else(|| missing(&self.path))?;
                    f.write_all(data).at(&self.path)?;
                } else {
                    self.buf.extend_from_slice(data);
                }
            }
            Some(p) => {
                let mut rest = data;
                while !rest.is_empty() {
                    if self.buf.capacity() == 0 {
                        self.buf = p.buffer();
                        self.buf.clear();
                    }
                    let room = CHUNK.saturating_sub(self.buf.len()).max(1);
                    let take = room.min(rest.len());
                    self.buf.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if self.buf.len() >= CHUNK {
                        let full = std::mem::take(&mut self.buf);
                        p.send(full).at(&self.path)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn gone(&self) -> StoreError {
        missing(&self.path)
    }

    fn flush_direct(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            let f = self.file.as_mut().ok_or_else(|| missing(&self.path))?;
            f.write_all(&self.buf).at(&self.path)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes out everything buffered and stops the background writer.
    pub(crate) fn flush_all(&mut self) -> Result<()> {
        if let Some(mut p) = self.pipeline.take() {
            if !self.buf.is_empty() {
                let full = std::mem::take(&mut self.buf);
                p.send(full).at(&self.path)?;
            }
            p.finish().at(&self.path)?;
            // The writer thread wrote by position; the file's own cursor must follow.
            let f = self.file.as_mut().ok_or_else(|| missing(&self.path))?;
            f.seek(io::SeekFrom::Start(self.written)).at(&self.path)?;
        }
        self.flush_direct()
    }

    /// Copies everything from `reader` into the blob; returns the number of bytes copied.
    pub fn write_from(&mut self, reader: &mut dyn Read) -> Result<u64> {
        let mut buf = vec![0u8; CHUNK];
        let mut n_total = 0u64;
        loop {
            if let Some(p) = self.pipeline.as_mut() {
                if !self.buf.is_empty() {
                    let partial = std::mem::take(&mut self.buf);
                    if let Err(e) = p.send(partial) {
                        self.poisoned = true;
                        return Err(StoreError::io(&self.path, e));
                    }
                }
                return self.write_from_pipelined(reader, n_total);
            }
            let n = read_some(reader, &mut buf)?;
            if n == 0 {
                return Ok(n_total);
            }
            self.write_bytes(&buf[..n])?;
            n_total += n as u64;
        }
    }

    /// Reads straight into the writer thread's buffers: the bytes are copied once (from the
    /// reader), hashed here and written there.
    fn write_from_pipelined(&mut self, reader: &mut dyn Read, mut n_total: u64) -> Result<u64> {
        loop {
            let Some(p) = self.pipeline.as_mut() else {
                return Ok(n_total);
            };
            let mut chunk = p.buffer();
            if chunk.len() < CHUNK + ALIGN {
                chunk.resize(CHUNK + ALIGN, 0);
            }
            // Aligned for direct I/O; the allocation has room for the shift.
            let start = match chunk.as_ptr().align_offset(ALIGN) {
                a if a <= ALIGN => a,
                _ => 0,
            };
            let mut filled = 0;
            while filled < CHUNK {
                let n = read_some(reader, &mut chunk[start + filled..start + CHUNK])?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                return Ok(n_total);
            }
            let r = self.reserve(filled as u64);
            if r.is_err() {
                self.poisoned = true;
                return r.map(|_| n_total);
            }
            self.hasher.update(&chunk[start..start + filled]);
            self.written += filled as u64;
            n_total += filled as u64;
            let sent = match self.pipeline.as_mut() {
                Some(p) => p.send_chunk(chunk, start, filled),
                None => Ok(()),
            };
            if let Err(e) = sent {
                self.poisoned = true;
                return Err(StoreError::io(&self.path, e));
            }
            if filled < CHUNK {
                return Ok(n_total);
            }
        }
    }

    /// Finishes the blob: checks it against `expected` digest and `expected_size` (when given),
    /// makes it durable and publishes it. A mismatch returns [`StoreError::DigestMismatch`] and
    /// removes the data. If the blob is already stored, returns [`StoreError::AlreadyExists`]
    /// (the content was verified all the same, and the existing copy's last use is refreshed).
    pub fn commit(
        mut self,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<Digest> {
        let sealed = self.seal(expected, expected_size)?;
        let durable = self.store.durable();
        if durable {
            self.sync()?;
        }
        self.publish(&sealed, durable)?;
        Ok(sealed)
    }

    pub(crate) fn sync(&self) -> Result<()> {
        let f = self.file.as_ref().ok_or_else(|| self.gone())?;
        f.sync_data().at(&self.path)
    }

    /// Flushes and verifies; returns the digest. The writer stays usable for `publish`.
    pub(crate) fn seal(
        &mut self,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<Digest> {
        if self.poisoned || self.done {
            return Err(StoreError::InvalidUpload {
                id: self.describe(),
                reason: "writer failed earlier or is finished".into(),
            });
        }
        if let Err(e) = self.flush_all() {
            self.poisoned = true;
            return Err(e);
        }
        let actual = match expected {
            Some(e) if e.algorithm() != self.hasher.algorithm() => {
                return Err(StoreError::InvalidUpload {
                    id: self.describe(),
                    reason: format!(
                        "expected digest {e} uses {} but the writer hashed {}",
                        e.algorithm(),
                        self.hasher.algorithm()
                    ),
                });
            }
            _ => self.hasher.clone().finish(),
        };
        let size_ok = expected_size.is_none_or(|s| s == self.written);
        let digest_ok = expected.is_none_or(|e| *e == actual);
        if !size_ok || !digest_ok {
            self.poisoned = true;
            self.discard();
            return Err(StoreError::DigestMismatch {
                expected: expected.cloned().unwrap_or_else(|| actual.clone()),
                actual,
                expected_size,
                actual_size: self.written,
            });
        }
        Ok(actual)
    }

    /// Links the sealed temp file into `blobs/` (first writer wins), then cleans up.
    pub(crate) fn publish(&mut self, digest: &Digest, sync_dirs: bool) -> Result<()> {
        let store = self.store.clone();
        let target = store.layout().blob(digest);
        let size = self.written;
        let file = self.file.as_ref().ok_or_else(|| self.gone())?;
        // Readers and recovery only ever see immutable, read-only blobs.
        file.set_permissions(fs::Permissions::from_mode(0o444))
            .at(&self.path)?;
        // A resumed upload's data may be old; the grace period counts from publication.
        file.set_modified(SystemTime::now()).at(&self.path)?;
        let outcome = {
            let _gc = store.lock(LockName::Gc, false)?;
            link_no_replace(&self.path, &target, size, &store)?
        };
        self.done = true;
        self.release_reservation(if outcome { size } else { 0 });
        self.discard();
        if !outcome {
            return Err(StoreError::AlreadyExists {
                digest: digest.clone(),
            });
        }
        if sync_dirs {
            sync_dir(&store.layout().alg_dir(digest.algorithm()))?;
        }
        Ok(())
    }

    fn release_reservation(&mut self, committed: u64) {
        let inner = &self.store.inner;
        if inner.opts.quota.is_some() {
            super::saturating_sub(&inner.pending, self.pending_reserved);
            inner.usage.fetch_add(committed, Ordering::SeqCst);
        }
        self.pending_reserved = 0;
    }

    /// Gives up the data file and its lock, in that order of certainty: the writer thread (which
    /// holds a duplicate of the descriptor) is joined first, then the lock is released
    /// explicitly. Closing alone is not enough: an `flock` belongs to the open file description,
    /// and a child process forked by any thread of this process holds a copy of every descriptor
    /// until it execs, so the upload would stay locked for a moment after this writer is gone
    /// and a client that resumes at once would get `Locked`.
    fn release_file(&mut self) {
        if let Some(mut p) = self.pipeline.take() {
            let _ = p.finish();
        }
        if let Some(f) = self.file.take() {
            let _ = f.unlock();
        }
    }

    /// Removes this writer's files (temp data, upload state).
    fn discard(&mut self) {
        if let Some(mut p) = self.pipeline.take() {
            let _ = p.finish();
        }
        // Data before state, the reverse of creation, so a crash in between leaves only an
        // orphan state file (removed by expiry), never data without its state. The lock is
        // released last, so nobody can resume an upload that is being removed.
        let _ = fs::remove_file(&self.path);
        if let Some(u) = &self.upload {
            let _ = fs::remove_file(self.store.layout().uploads().join(u.id.state_file()));
        }
        self.release_file();
        if self.pending_reserved > 0 {
            self.release_reservation(0);
        }
    }

    /// Verifies against `expected` and moves the data to `dest` (an import's staging folder)
    /// instead of publishing it. Returns the bytes still reserved against the quota, which the
    /// caller now owns.
    pub(crate) fn stage(mut self, expected: &Digest, dest: &Path) -> Result<u64> {
        self.seal(Some(expected), None)?;
        if let Some(f) = &self.file {
            f.set_permissions(fs::Permissions::from_mode(0o444))
                .at(&self.path)?;
        }
        fs::rename(&self.path, dest).at(dest)?;
        self.done = true;
        self.release_file();
        Ok(std::mem::take(&mut self.pending_reserved))
    }

    /// Persists the hash state next to the data so the upload can be resumed (also by another
    /// process) without re-reading it. Only for writers from [`Store::begin_upload`].
    pub fn save(&mut self) -> Result<()> {
        let Some(upload) = self.upload.clone() else {
            return Err(StoreError::InvalidUpload {
                id: self.describe(),
                reason: "not a resumable upload".into(),
            });
        };
        self.flush_all()?;
        let durable = self.store.durable();
        if durable {
            self.sync()?;
        }
        let state = upload.with_state(self.hasher.state());
        state.save(&self.store, durable)
    }

    /// Gives up the writer (an upload stays resumable with its state saved; a plain writer's data
    /// is removed).
    pub fn close(mut self) -> Result<()> {
        if self.upload.is_some() && !self.poisoned {
            self.save()?;
            self.done = true;
            self.release_file();
            self.release_reservation(0);
        }
        Ok(())
    }

    /// Discards the writer and its data (for uploads too).
    pub fn abort(mut self) {
        self.done = true;
        self.discard();
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.upload.is_some() {
            // An upload stays resumable even after a failed write: what reached the file is a
            // prefix of the data, and resuming hashes whatever the saved state does not cover.
            if !self.poisoned {
                let _ = self.save();
            }
            self.release_file();
            self.release_reservation(0);
        } else {
            self.discard();
        }
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_bytes(buf).map_err(io::Error::other)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn read_some(reader: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    loop {
        match reader.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(StoreError::Io {
                    path: PathBuf::from("<input>"),
                    source: e,
                });
            }
        }
    }
}

fn missing(path: &Path) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source: io::Error::other("writer already finished"),
    }
}

/// Publishes `tmp` at `target` unless something is there. `Ok(true)` if this call created it.
///
/// A hard link never replaces an existing name, which is what makes "first commit wins" atomic
/// across processes without a per-digest lock. An existing file with the wrong size cannot be the
/// blob (a torn write from a crash under relaxed durability, or tampering): it is quarantined and
/// replaced, so a re-push heals it.
pub(crate) fn link_no_replace(tmp: &Path, target: &Path, size: u64, store: &Store) -> Result<bool> {
    for _ in 0..3 {
        match fs::hard_link(tmp, target) {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match fs::metadata(target) {
                Ok(m) if m.len() == size => {
                    touch(target);
                    return Ok(false);
                }
                Ok(_) => {
                    super::scrub::quarantine(
                        store,
                        target,
                        "size differs from a verified re-push",
                    )?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(target, e)),
            },
            Err(e) if matches!(e.raw_os_error(), Some(1) | Some(95) | Some(18) | Some(38)) => {
                // EPERM/EOPNOTSUPP/EXDEV/ENOSYS: no hard links here. Fall back to check-then-rename,
                // under the index lock so two local publishers of one digest cannot both "win".
                let _g = store.lock(LockName::Index, true)?;
                if target.exists() {
                    touch(target);
                    return Ok(false);
                }
                // Rename is atomic too; the lock makes check-then-rename safe.
                fs::rename(tmp, target).at(target)?;
                return Ok(true);
            }
            Err(e) => return Err(StoreError::io(target, e)),
        }
    }
    Err(StoreError::Locked {
        what: target.display().to_string(),
    })
}

/// Refreshes a blob's last-use time; failures are harmless (it only shortens its life in a cache).
pub(crate) fn touch(path: &Path) {
    if let Ok(f) = File::open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Removes a temp file unless a live writer holds its lock. `Ok(true)` if removed.
pub(crate) fn remove_if_unlocked(path: &Path) -> Result<bool> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    if meta.is_dir() {
        // An import staging folder `x` is alive while `x.lock` beside it is locked; the lock
        // file is created first and removed last.
        let lockfile = path.with_extension("lock");
        let free = match OpenOptions::new().read(true).write(true).open(&lockfile) {
            Ok(f) => try_lock_file(&f, &lockfile)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => true,
            Err(e) => return Err(StoreError::io(&lockfile, e)),
        };
        if free {
            // Another process's recovery may be removing it at the same time.
            return match fs::remove_dir_all(path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(StoreError::io(path, e)),
            };
        }
        return Ok(false);
    }
    let f = match OpenOptions::new().read(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    if try_lock_file(&f, path)? {
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(path, e)),
        }
    } else {
        Ok(false)
    }
}

/// A group commit: blobs are written and verified one by one, then made durable together with
/// one parallel fsync round and one fsync per directory, and only then published. When
/// [`Batch::commit`] returns, every blob is durable.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let store = registry_core::store::Store::open(dir.path())?;
/// let mut batch = store.batch();
/// for i in 0..10u8 {
///     batch.put_bytes(&[i; 4096], None)?;
/// }
/// let outcomes = batch.commit()?;
/// assert_eq!(outcomes.len(), 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Batch {
    store: Store,
    sealed: Vec<(BlobWriter, Digest)>,
    present: Vec<PutOutcome>,
}

impl Batch {
    /// Adds a blob; it is verified now (a mismatch fails this call) and published at `commit`.
    pub fn put_bytes(&mut self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let alg = expected.map_or(Algorithm::Sha256, |d| d.algorithm());
        if let Some(d) = expected
            && self.store.has(d)?
        {
            touch(&self.store.blob_path(d));
            let got = Digest::of(alg, bytes);
            if got != *d {
                return Err(StoreError::DigestMismatch {
                    expected: d.clone(),
                    actual: got,
                    expected_size: None,
                    actual_size: bytes.len() as u64,
                });
            }
            self.present.push(PutOutcome {
                digest: d.clone(),
                size: bytes.len() as u64,
                created: false,
            });
            return Ok(d.clone());
        }
        let mut w = BlobWriter::create(&self.store, alg)?;
        w.write_bytes(bytes)?;
        let d = w.seal(expected, None)?;
        self.sealed.push((w, d.clone()));
        Ok(d)
    }

    /// Number of blobs added.
    pub fn len(&self) -> usize {
        self.sealed.len() + self.present.len()
    }

    /// True if nothing was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes everything durable and publishes it.
    pub fn commit(self) -> Result<Vec<PutOutcome>> {
        let Batch {
            store,
            mut sealed,
            mut present,
        } = self;
        if store.durable() && !sealed.is_empty() {
            // Concurrent fsyncs are merged into few journal commits by the file system.
            let files: Vec<(&File, &Path)> = sealed
                .iter()
                .filter_map(|(w, _)| w.file.as_ref().map(|f| (f, w.path.as_path())))
                .collect();
            let threads = 16.min(files.len());
            let per = files.len().div_ceil(threads);
            std::thread::scope(|s| {
                let handles: Vec<_> = files
                    .chunks(per)
                    .map(|chunk| {
                        s.spawn(move || chunk.iter().try_for_each(|(f, p)| f.sync_data().at(p)))
                    })
                    .collect();
                handles
                    .into_iter()
                    .try_for_each(|h| h.join().unwrap_or(Err(StoreError::Cancelled)))
            })?;
        }
        let mut dirs = [false; 2];
        for (w, d) in sealed.iter_mut() {
            match w.publish(d, false) {
                Ok(()) => {
                    dirs[d.algorithm() as usize] = true;
                    present.push(PutOutcome {
                        digest: d.clone(),
                        size: w.written,
                        created: true,
                    });
                }
                Err(StoreError::AlreadyExists { .. }) => present.push(PutOutcome {
                    digest: d.clone(),
                    size: w.written,
                    created: false,
                }),
                Err(e) => return Err(e),
            }
        }
        if store.durable() {
            for alg in Algorithm::ALL {
                if dirs[alg as usize] {
                    sync_dir(&store.layout().alg_dir(alg))?;
                }
            }
        }
        Ok(present)
    }
}

impl Store {
    /// A writer for a new blob hashed with `algorithm`.
    pub fn writer(&self, algorithm: Algorithm) -> Result<BlobWriter> {
        BlobWriter::create(self, algorithm)
    }

    /// Stores everything `reader` yields. With `expected`, the content must hash to it (else
    /// [`StoreError::DigestMismatch`], nothing stored). A blob that is already present is not an
    /// error: the outcome says `created: false`.
    ///
    /// ```
    /// use registry_core::store::{Store, Digest};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let empty: Digest =
    ///     "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse()?;
    /// let out = store.put(&mut std::io::empty(), Some(&empty))?;
    /// assert!(out.created && out.size == 0);
    /// assert!(!store.put(&mut std::io::empty(), Some(&empty))?.created);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put(&self, reader: &mut dyn Read, expected: Option<&Digest>) -> Result<PutOutcome> {
        self.put_sized(reader, expected, None)
    }

    /// [`Store::put`] with an expected size as well (checked, and used for the quota up front).
    pub fn put_sized(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<PutOutcome> {
        let alg = expected.map_or(Algorithm::Sha256, |d| d.algorithm());
        let mut w = self.writer(alg)?;
        if let Some(s) = expected_size {
            w.check_quota(s)?;
        }
        w.write_from(reader)?;
        let size = w.written();
        match w.commit(expected, expected_size) {
            Ok(digest) => Ok(PutOutcome {
                digest,
                size,
                created: true,
            }),
            Err(StoreError::AlreadyExists { digest }) => Ok(PutOutcome {
                digest,
                size,
                created: false,
            }),
            Err(e) => Err(e),
        }
    }

    /// Stores a byte slice (see [`Store::put`]).
    pub fn put_bytes(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<PutOutcome> {
        let mut r = bytes;
        self.put_sized(&mut r, expected, None)
    }

    /// Starts a group commit (see [`Batch`]).
    pub fn batch(&self) -> Batch {
        Batch {
            store: self.clone(),
            sealed: Vec::new(),
            present: Vec::new(),
        }
    }
}
