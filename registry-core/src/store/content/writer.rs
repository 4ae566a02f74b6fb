//! The blob writer's state machine: [`BlobWriter`] hashes bytes as they arrive (small writes
//! gathered in a buffer, large blobs through the `pipeline` thread), then seals against an
//! expected digest and size, and publishes (`publish`) or stages (for an import). A failed write
//! poisons the writer; a finished one refuses further writes. Dropping an uncommitted writer
//! removes its data, unless it is a resumable upload, which saves its hash state instead.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::pipeline::{ALIGN, CHUNK, PIPELINE_AFTER, Piece, Pipeline};
use super::put::PutOutcome;
use crate::store::Store;
use crate::store::content::resume::{UploadId, UploadState};
use crate::store::digest::{Algorithm, Digest, Hasher};
use crate::store::error::{IoContext, Result, StoreError};
use crate::store::layout;
use crate::store::lock::create_locked;

/// A blob being written. Bytes are hashed as they arrive; nothing is visible in the store until
/// [`BlobWriter::commit`] succeeds. Dropping an uncommitted writer removes its temp file, except
/// for resumable uploads, which stay resumable (see [`Store::begin_upload`]).
pub struct BlobWriter {
    pub(super) store: Store,
    pub(super) file: Option<File>,
    pub(super) path: PathBuf,
    pub(super) upload: Option<UploadState>,
    pub(super) hasher: Hasher,
    pub(super) written: u64,
    pub(super) pending_reserved: u64,
    pub(super) buf: Vec<u8>,
    /// The chunk being filled for the writer thread, aligned for direct I/O.
    pub(super) chunk: Option<Chunk>,
    pub(super) pipeline: Option<Pipeline>,
    /// Set by [`BlobWriter::write_from`]: a bulk copy, written around the page cache.
    pub(super) bulk: bool,
    /// Bytes of the temp file already written to it (see [`Landing`]).
    pub(super) landed: Arc<AtomicU64>,
    pub(super) poisoned: bool,
    pub(super) done: bool,
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
            chunk: None,
            pipeline: None,
            bulk: false,
            landed: Arc::new(AtomicU64::new(written)),
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

    /// The scope of the upload this writer continues ([`Store::begin_upload_in`]), if any.
    pub fn upload_scope(&self) -> Option<&str> {
        self.upload.as_ref().and_then(|u| u.scope.as_deref())
    }

    /// Marks this writer as a bulk copy (an import): written around the page cache, as
    /// [`BlobWriter::write_from`] is.
    pub(crate) fn mark_bulk(&mut self) {
        self.bulk = true;
    }

    /// Where this writer's bytes land, for readers that follow a blob while it is written.
    pub fn landing(&self) -> Landing {
        Landing {
            path: self.path.clone(),
            landed: self.landed.clone(),
        }
    }

    /// The digest of what was written so far (does not end the writer).
    pub fn current_digest(&self) -> Digest {
        self.hasher.clone().finish()
    }

    /// Appends bytes: hashes them and writes them to the temp file.
    pub fn write_bytes(&mut self, data: &[u8]) -> Result<()> {
        self.usable()?;
        if data.is_empty() {
            return Ok(());
        }
        let r = self.write_inner(data);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    /// Appends a list of buffers, taking them over. They are hashed here; once the background
    /// writer runs (past a blob's first 4 MiB, unless it is a bulk copy) it writes them through
    /// the page cache where they are, instead of this thread copying them into its buffers
    /// first. For a stream that gathers what it receives, such as a request body.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use registry_core::store::{Algorithm, Digest, Store};
    /// let store = Store::open(dir.path()).unwrap();
    /// let mut w = store.writer(Algorithm::Sha256).unwrap();
    /// let mut whole = Vec::new();
    /// for i in 0..12u8 {
    ///     // 12 MiB in batches of two parts: from the fifth MiB on, handed over without a copy.
    ///     let batch = vec![vec![i; 1 << 19], vec![!i; 1 << 19]];
    ///     whole.extend(batch.concat());
    ///     w.write_parts(batch).unwrap();
    /// }
    /// let expected = Digest::of(Algorithm::Sha256, &whole);
    /// let put = w.commit(Some(&expected), Some(12 << 20)).unwrap();
    /// assert_eq!(std::fs::read(store.blob_path(&put.digest)).unwrap(), whole);
    /// ```
    pub fn write_parts<B: AsRef<[u8]> + Send + 'static>(&mut self, parts: Vec<B>) -> Result<()> {
        self.usable()?;
        if self.pipeline.is_none() || self.bulk {
            return parts.iter().try_for_each(|p| self.write_bytes(p.as_ref()));
        }
        let r = self.write_lent(parts);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    fn write_lent<B: AsRef<[u8]> + Send + 'static>(&mut self, parts: Vec<B>) -> Result<()> {
        self.take_in(parts.iter().map(AsRef::as_ref))?;
        // What is gathered in the aligned chunk goes first, so the file keeps the stream's order.
        self.send_partial().at(&self.path)?;
        let p = self.pipeline.as_mut().ok_or_else(|| missing(&self.path))?;
        p.send(Piece::Lent(Box::new(parts))).at(&self.path)
    }

    /// Counts bytes into the blob before they are written: reserves them against the quota,
    /// hashes them, adds them to `written`.
    fn take_in<'a>(&mut self, parts: impl Iterator<Item = &'a [u8]> + Clone) -> Result<()> {
        self.reserve(parts.clone().map(|p| p.len() as u64).sum())?;
        for p in parts {
            self.hasher.update(p);
            self.written += p.len() as u64;
        }
        Ok(())
    }

    /// Refuses a writer that failed earlier or is finished.
    fn usable(&self) -> Result<()> {
        if self.poisoned || self.done {
            return Err(StoreError::InvalidUpload {
                id: self.describe(),
                reason: "writer failed earlier or is finished".into(),
            });
        }
        Ok(())
    }

    pub(super) fn describe(&self) -> String {
        match &self.upload {
            Some(u) => u.id.to_string(),
            None => self.path.display().to_string(),
        }
    }

    fn write_inner(&mut self, data: &[u8]) -> Result<()> {
        self.take_in(std::iter::once(data))?;
        let mut carried = Vec::new();
        if self.pipeline.is_none() && self.written >= PIPELINE_AFTER {
            carried = self.flush_to_boundary()?;
            let file = self.file.as_ref().ok_or_else(|| self.gone())?;
            let landed = self.landed.clone();
            let durable = self.store.durable();
            self.pipeline =
                Some(Pipeline::start(file, &self.path, durable, self.bulk, landed).at(&self.path)?);
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
                    self.landed.fetch_add(data.len() as u64, Ordering::Release);
                } else {
                    self.buf.extend_from_slice(data);
                }
            }
            Some(p) => {
                for part in [&carried[..], data] {
                    let mut rest = part;
                    while !rest.is_empty() {
                        let c = self.chunk.get_or_insert_with(|| Chunk::new(p.buffer()));
                        rest = c.fill(rest);
                        if c.filled == CHUNK
                            && let Some(full) = self.chunk.take()
                        {
                            p.send_chunk(full.buf, full.start, full.filled)
                                .at(&self.path)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Before the writer thread takes over: writes the gathered bytes up to a multiple of
    /// [`ALIGN`] in the file and returns the few left over, so that every chunk after them
    /// starts at an aligned offset and can go around the page cache.
    fn flush_to_boundary(&mut self) -> Result<Vec<u8>> {
        let f = self.file.as_mut().ok_or_else(|| missing(&self.path))?;
        let pos = f.stream_position().at(&self.path)?;
        let past = ((pos + self.buf.len() as u64) % ALIGN as u64) as usize;
        let keep = if past <= self.buf.len() { past } else { 0 };
        let carried = self.buf.split_off(self.buf.len() - keep);
        self.flush_direct()?;
        Ok(carried)
    }

    /// Hands the chunk being filled, if any, to the writer thread.
    fn send_partial(&mut self) -> io::Result<()> {
        match (self.chunk.take(), self.pipeline.as_mut()) {
            (Some(c), Some(p)) if c.filled > 0 => p.send_chunk(c.buf, c.start, c.filled),
            _ => Ok(()),
        }
    }

    pub(super) fn gone(&self) -> StoreError {
        missing(&self.path)
    }

    fn flush_direct(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            let f = self.file.as_mut().ok_or_else(|| missing(&self.path))?;
            f.write_all(&self.buf).at(&self.path)?;
            self.landed
                .fetch_add(self.buf.len() as u64, Ordering::Release);
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes out everything buffered and stops the background writer.
    pub(crate) fn flush_all(&mut self) -> Result<()> {
        self.send_partial().at(&self.path)?;
        if let Some(mut p) = self.pipeline.take() {
            p.finish().at(&self.path)?;
            // The writer thread wrote by position; the file's own cursor must follow.
            let f = self.file.as_mut().ok_or_else(|| missing(&self.path))?;
            f.seek(io::SeekFrom::Start(self.written)).at(&self.path)?;
        }
        self.flush_direct()
    }

    /// Copies everything from `reader` into the blob; returns the number of bytes copied.
    /// A bulk copy: past the first 4 MiB it is written around the page cache where the file
    /// system allows (bytes given to [`BlobWriter::write_bytes`] stay in the cache, since what is
    /// pushed or fetched is usually read again soon).
    pub fn write_from(&mut self, reader: &mut dyn Read) -> Result<u64> {
        self.bulk = true;
        let mut buf = vec![0u8; CHUNK];
        let mut n_total = 0u64;
        loop {
            if self.pipeline.is_some() {
                if let Err(e) = self.send_partial() {
                    self.poisoned = true;
                    return Err(StoreError::io(&self.path, e));
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
            let Chunk {
                buf: mut chunk,
                start,
                ..
            } = Chunk::new(p.buffer());
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
            let r = self.take_in(std::iter::once(&chunk[start..start + filled]));
            if r.is_err() {
                self.poisoned = true;
                return r.map(|_| n_total);
            }
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
    /// removes the data. If the blob is already stored (by an earlier or concurrent writer), the
    /// outcome says `created: false`: the content was verified all the same, and the existing
    /// copy's last use is refreshed.
    pub fn commit(
        mut self,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<PutOutcome> {
        let sealed = self.seal(expected, expected_size)?;
        let durable = self.store.durable();
        if durable {
            self.sync()?;
        }
        let size = self.written;
        let created = self.publish(&sealed, durable)?;
        Ok(PutOutcome {
            digest: sealed,
            size,
            created,
        })
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
        self.usable()?;
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

    /// Gives up the data file and its lock, in that order of certainty: the writer thread (which
    /// holds a duplicate of the descriptor) is joined first, then the lock is released
    /// explicitly. Closing alone is not enough: an `flock` belongs to the open file description,
    /// and a child process forked by any thread of this process holds a copy of every descriptor
    /// until it execs, so the upload would stay locked for a moment after this writer is gone
    /// and a client that resumes at once would get `Locked`.
    pub(super) fn release_file(&mut self) {
        if let Some(mut p) = self.pipeline.take() {
            let _ = p.finish();
        }
        if let Some(f) = self.file.take() {
            let _ = f.unlock();
        }
    }

    /// Removes this writer's files (temp data, upload state).
    pub(super) fn discard(&mut self) {
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

/// A buffer for the writer thread with its data window `buf[start..start + CHUNK]` aligned for
/// direct I/O (the allocation has room for the shift).
pub(super) struct Chunk {
    buf: Vec<u8>,
    start: usize,
    filled: usize,
}

impl Chunk {
    /// Takes a buffer from the pipeline (a returned one keeps its length, so only a new one pays
    /// for zero-filling).
    fn new(mut buf: Vec<u8>) -> Chunk {
        if buf.len() < CHUNK + ALIGN {
            buf.resize(CHUNK + ALIGN, 0);
        }
        let start = match buf.as_ptr().align_offset(ALIGN) {
            a if a <= ALIGN => a,
            _ => 0,
        };
        Chunk {
            buf,
            start,
            filled: 0,
        }
    }

    /// Copies as much of `data` as fits; returns the rest.
    fn fill<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        let take = (CHUNK - self.filled).min(data.len());
        let at = self.start + self.filled;
        self.buf[at..at + take].copy_from_slice(&data[..take]);
        self.filled += take;
        &data[take..]
    }
}

/// A blob being written, as readers that follow it see it: its temp file and how many bytes of
/// it are on disk so far. Nothing read from it is verified: the blob is verified when its writer
/// commits, so a follower holds its last bytes back until then. The file stays readable
/// through a descriptor opened before the commit (publishing links it, and an abandoned writer
/// only unlinks it).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # use std::io::Read as _;
/// let store = registry_core::store::Store::open(dir.path()).unwrap();
/// let mut w = store.writer(registry_core::store::Algorithm::Sha256).unwrap();
/// let landing = w.landing();
/// w.write_bytes(&vec![7u8; 2 << 20]).unwrap(); // over 1 MiB: written through at once
/// assert_eq!(landing.landed(), 2 << 20);
/// let mut f = std::fs::File::open(landing.path()).unwrap();
/// let mut head = [0u8; 4];
/// f.read_exact(&mut head).unwrap();
/// assert_eq!(head, [7; 4]);
/// ```
#[derive(Debug, Clone)]
pub struct Landing {
    path: PathBuf,
    landed: Arc<AtomicU64>,
}

impl Landing {
    /// The temp file the bytes are written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many bytes from its start are written to the file (a read below this returns them).
    pub fn landed(&self) -> u64 {
        self.landed.load(Ordering::Acquire)
    }
}
