//! Reads: existence, stat, verified whole reads, ranged reads, listing.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::store::digest::{Algorithm, Digest, Hasher};
use crate::store::error::{IoContext, Result, StoreError};
use crate::store::layout::time_ms;

/// What [`Store::stat`] reports about a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlobStat {
    /// The blob's digest.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Last use (publication, re-push or read), milliseconds since the Unix epoch.
    pub last_used_ms: u64,
    /// Creation time if the file system records it (else the inode change time), in ms.
    pub created_ms: u64,
}

/// Which file on disk holds a blob: its device, inode and size. A blob file is never changed in
/// place (it is published once, read-only in practice), so a caller that verified a blob can
/// remember this and skip hashing the same file again; a file replaced on disk has a new id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    /// The file system's device number.
    pub dev: u64,
    /// The inode number.
    pub ino: u64,
    /// The size in bytes.
    pub size: u64,
}

impl FileId {
    fn of(m: &fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
        }
    }
}

/// An open blob: `Read + Seek`, plus positional reads. Reading it from start to end verifies the
/// content; a corrupt blob then fails at the end with an `InvalidData` error naming the digest.
#[derive(Debug)]
pub struct BlobReader {
    file: File,
    path: PathBuf,
    digest: Digest,
    size: u64,
    id: FileId,
    pos: u64,
    /// Present while the reads so far were sequential from offset 0.
    verify: Option<Hasher>,
}

impl BlobReader {
    /// The blob's digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The blob's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file this reader reads (see [`FileId`]).
    pub fn file_id(&self) -> FileId {
        self.id
    }

    /// Stops verifying: for a caller that already verified this very file (the same
    /// [`FileId`]), so a hot blob is not hashed on every read.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # use std::io::Read as _;
    /// let store = registry_core::store::Store::open(dir.path()).unwrap();
    /// let digest = store.put_bytes(b"hello", None).unwrap().digest;
    /// let mut reader = store.open_blob(&digest).unwrap();
    /// assert!(reader.is_verifying());
    /// reader.skip_verification();
    /// let mut out = Vec::new();
    /// reader.read_to_end(&mut out).unwrap();
    /// assert_eq!(out, b"hello");
    /// ```
    pub fn skip_verification(&mut self) {
        self.verify = None;
    }

    /// True while a read to the end will still verify the content (the reads so far were
    /// sequential from the start, and verification was not skipped).
    pub fn is_verifying(&self) -> bool {
        self.verify.is_some()
    }

    /// Reads at `offset` without moving the cursor (no verification: a range cannot be checked).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }

    /// Fills `buf` from `offset`, stopping early only at the blob's end; returns the count.
    /// This is the one ranged-read loop every binding uses (no verification, as `read_at`).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = registry_core::store::Store::open(dir.path()).unwrap();
    /// let digest = store.put_bytes(b"hello, world", None).unwrap().digest;
    /// let reader = store.open_blob(&digest).unwrap();
    /// let mut buf = [0u8; 8];
    /// assert_eq!(reader.read_full_at(&mut buf, 7).unwrap(), 5);
    /// assert_eq!(&buf[..5], b"world");
    /// ```
    pub fn read_full_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// A reader over `len` bytes from `offset` (clamped to the blob's end).
    pub fn range(mut self, offset: u64, len: u64) -> io::Result<io::Take<BlobReader>> {
        self.seek(SeekFrom::Start(offset))?;
        let len = len.min(self.size.saturating_sub(offset));
        Ok(self.take(len))
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.file.read(buf)?;
        self.pos += n as u64;
        if let Some(h) = self.verify.as_mut() {
            h.update(&buf[..n]);
            if n == 0 || self.pos >= self.size {
                let mut tail = [0u8; 1];
                // A file that grew is as corrupt as one whose bytes changed.
                let extra = if n == 0 {
                    0
                } else {
                    self.file.read(&mut tail)?
                };
                let h = self.verify.take().map(|h| h.finish());
                if extra > 0 || h.as_ref() != Some(&self.digest) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        StoreError::Corrupt {
                            digest: self.digest.clone(),
                            path: self.path.clone(),
                            reason: match h {
                                Some(a) if extra == 0 => format!("content hashes to {a}"),
                                _ => "content changed while reading".into(),
                            },
                        },
                    ));
                }
            }
        }
        Ok(n)
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let p = self.file.seek(pos)?;
        if p != self.pos {
            self.verify = None;
        }
        self.pos = p;
        Ok(p)
    }
}

impl Store {
    /// True if the blob is stored.
    ///
    /// Like [`Store::stat`] and [`Store::open_blob`], this counts as a use of the blob (see
    /// [`StoreOptions::track_use`](crate::store::StoreOptions::track_use)): a pusher that checks for a
    /// layer before sending its manifest thereby protects the layer for the GC grace period.
    pub fn has(&self, digest: &Digest) -> Result<bool> {
        let p = self.blob_path(digest);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_file() => {
                self.note_use(&p, &m, None);
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(&p, e)),
        }
    }

    /// The file that holds a blob (see [`FileId`]); not a use of the blob.
    pub fn file_id(&self, digest: &Digest) -> Result<FileId> {
        let (_, m) = self.blob_metadata(digest)?;
        Ok(FileId::of(&m))
    }

    /// Size and times of a blob (counts as a use, see [`Store::has`]).
    pub fn stat(&self, digest: &Digest) -> Result<BlobStat> {
        let (p, m) = self.blob_metadata(digest)?;
        self.note_use(&p, &m, None);
        Ok(stat_of(digest.clone(), &m))
    }

    /// A stored blob's path and metadata; `NotFound` unless it is a regular file.
    fn blob_metadata(&self, digest: &Digest) -> Result<(PathBuf, fs::Metadata)> {
        let p = self.blob_path(digest);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_file() => Ok((p, m)),
            Ok(_) => Err(StoreError::not_found_blob(digest)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::not_found_blob(digest))
            }
            Err(e) => Err(StoreError::io(&p, e)),
        }
    }

    /// Records a use (the blob's mtime) if tracking is on and the last record is over a minute
    /// old, so hot blobs do not cost a metadata write per read. Failures only shorten a cached
    /// blob's life, so they are ignored.
    fn note_use(&self, path: &std::path::Path, meta: &fs::Metadata, open: Option<&File>) {
        if !self.inner.opts.track_use {
            return;
        }
        let stale = meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age.as_secs() >= 60);
        if stale {
            let _ = match open {
                Some(f) => f.set_modified(SystemTime::now()),
                None => File::open(path).and_then(|f| f.set_modified(SystemTime::now())),
            };
        }
    }

    /// Marks a blob as used now (what cache expiry and the GC grace period count from).
    pub fn touch(&self, digest: &Digest) -> Result<()> {
        let p = self.blob_path(digest);
        let f = File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::not_found_blob(digest),
            _ => StoreError::io(&p, e),
        })?;
        f.set_modified(SystemTime::now()).at(&p)
    }

    /// Opens a blob for reading (see [`BlobReader`]).
    pub fn open_blob(&self, digest: &Digest) -> Result<BlobReader> {
        let p = self.blob_path(digest);
        let file = File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::not_found_blob(digest),
            _ => StoreError::io(&p, e),
        })?;
        let m = file.metadata().at(&p)?;
        if !m.is_file() {
            return Err(StoreError::not_found_blob(digest));
        }
        self.note_use(&p, &m, Some(&file));
        Ok(BlobReader {
            file,
            path: p,
            size: m.len(),
            id: FileId::of(&m),
            pos: 0,
            verify: Some(Hasher::new(digest.algorithm())),
            digest: digest.clone(),
        })
    }

    /// Copies a blob to `out`, verifying it; a corrupt blob returns [`StoreError::Corrupt`]
    /// (some bytes may have been written to `out` by then). Returns the size.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let store = registry_core::store::Store::open(dir.path())?;
    /// let d = store.put_bytes(b"abc", None)?.digest;
    /// let mut out = Vec::new();
    /// assert_eq!(store.get(&d, &mut out)?, 3);
    /// assert_eq!(out, b"abc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, digest: &Digest, out: &mut dyn Write) -> Result<u64> {
        let mut r = self.open_blob(digest)?;
        let path = r.path.clone();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(unwrap_corrupt(e, &path)),
            };
            out.write_all(&buf[..n]).map_err(|e| StoreError::Io {
                path: PathBuf::from("<output>"),
                source: e,
            })?;
            total += n as u64;
        }
    }

    /// Reads a whole blob into memory, verified.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.get(digest, &mut v)?;
        Ok(v)
    }

    /// Reads a blob of at most `max` bytes (for manifests); larger ones are refused unread.
    pub(crate) fn read_limited(&self, digest: &Digest, max: u64) -> Result<Vec<u8>> {
        let st = self.stat(digest)?;
        if st.size > max {
            return Err(StoreError::InvalidManifest {
                digest: digest.clone(),
                reason: format!(
                    "{} bytes is more than the {max} bytes a manifest may have",
                    st.size
                ),
            });
        }
        self.read(digest)
    }

    /// Every stored blob, sorted by digest.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        self.walk(&mut |s| {
            out.push(s.digest);
            ControlFlow::Continue(())
        })?;
        out.sort();
        Ok(out)
    }

    /// Calls `f` with every stored blob (in directory order). Files under `blobs/` whose names are
    /// not digests are skipped here (scrub reports them).
    pub fn walk(&self, f: &mut dyn FnMut(BlobStat) -> ControlFlow<()>) -> Result<()> {
        for alg in Algorithm::ALL {
            let dir = self.layout().alg_dir(alg);
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io(&dir, e)),
            };
            for entry in rd {
                let entry = entry.at(&dir)?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let Ok(d) = Digest::parse(&format!("{}:{name}", alg.name())) else {
                    continue;
                };
                let m = match entry.metadata() {
                    Ok(m) if m.is_file() => m,
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(StoreError::io(&entry.path(), e)),
                };
                if f(stat_of(d, &m)).is_break() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn stat_of(digest: Digest, m: &fs::Metadata) -> BlobStat {
    use std::os::unix::fs::MetadataExt;
    let created = m
        .created()
        .map(time_ms)
        .unwrap_or_else(|_| (m.ctime().max(0) as u64) * 1000);
    BlobStat {
        digest,
        size: m.len(),
        last_used_ms: m.modified().map(time_ms).unwrap_or(0),
        created_ms: created,
    }
}

/// Turns the `InvalidData` error a verifying reader raises back into [`StoreError::Corrupt`].
pub(crate) fn unwrap_corrupt(e: io::Error, path: &std::path::Path) -> StoreError {
    if !e.get_ref().is_some_and(|i| i.is::<StoreError>()) {
        return StoreError::io(path, e);
    }
    match e.into_inner().map(|i| i.downcast::<StoreError>()) {
        Some(Ok(se)) => *se,
        _ => StoreError::Io {
            path: path.to_path_buf(),
            source: io::Error::other("read failed"),
        },
    }
}
