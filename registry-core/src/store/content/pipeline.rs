//! The background writer thread of a large blob. Past the first 4 MiB, the caller's thread
//! hashes while this thread writes, so hashing and disk I/O overlap instead of adding up. A bulk
//! copy (an import) is written with `O_DIRECT` where the file system allows it (no page-cache
//! copy, no writeback competing for the CPU); a stream (an upload, a cache fill) goes through the
//! page cache, because what was just pushed or fetched is usually read again at once, and its
//! buffers are written where they are (`Piece::Lent`) instead of being copied into the
//! thread's aligned ones. Writes through the page cache get periodic background fsyncs, so the
//! final fsync has little left.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Writes this much in the caller's thread before handing writes to a background thread; small
/// blobs never pay for a thread.
pub(super) const PIPELINE_AFTER: u64 = 4 << 20;
pub(super) const CHUNK: usize = 1 << 20;
const PIPELINE_DEPTH: usize = 8;
/// Ask the kernel to write back dirty pages every this many bytes, so the final fsync of a large
/// blob has little left to do.
const SYNC_EVERY: u64 = 32 << 20;

/// Alignment direct I/O needs for buffer addresses, lengths and file offsets.
pub(super) const ALIGN: usize = crate::fsutil::DIRECT_ALIGN;

/// What the writer thread writes next, in order.
pub(super) enum Piece {
    /// `buf[start..start + len]` of a pipeline buffer, aligned for direct I/O; the buffer comes
    /// back for reuse.
    Own(Vec<u8>, usize, usize),
    /// Buffers a stream handed over whole ([`super::BlobWriter::write_parts`]): written
    /// through the page cache where they are, without a copy.
    Lent(Box<dyn Parts>),
}

/// A list of byte buffers the writer thread may hold until it has written them.
pub(super) trait Parts: Send {
    fn each(&self, f: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()>;
}

impl<B: AsRef<[u8]> + Send> Parts for Vec<B> {
    fn each(&self, f: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        self.iter().try_for_each(|b| f(b.as_ref()))
    }
}

/// The writer thread's end of the temp file: where the next bytes go, and how.
struct Sink {
    /// A descriptor opened with `O_DIRECT`, while the file system takes it.
    direct: Option<File>,
    buffered: File,
    offset: u64,
    /// Bytes written through the page cache since the last background fsync was asked for.
    since_sync: u64,
    landed: Arc<AtomicU64>,
}

impl Sink {
    /// Writes `data` at the current offset: around the page cache when `may_direct` and it is
    /// aligned, through it otherwise.
    fn write(&mut self, data: &[u8], may_direct: bool) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let aligned = data.as_ptr().align_offset(ALIGN) == 0
            && data.len().is_multiple_of(ALIGN)
            && self.offset.is_multiple_of(ALIGN as u64);
        let mut done = false;
        if let (true, true, Some(d)) = (may_direct, aligned, self.direct.as_ref()) {
            match d.write_all_at(data, self.offset) {
                Ok(()) => done = true,
                // Not supported here after all (EINVAL): use the page cache.
                Err(e) if e.raw_os_error() == Some(22) => self.direct = None,
                Err(e) => return Err(e),
            }
        }
        if !done {
            self.buffered.write_all_at(data, self.offset)?;
            self.since_sync += data.len() as u64;
        }
        self.offset += data.len() as u64;
        self.landed.store(self.offset, Ordering::Release);
        Ok(())
    }
}

pub(super) struct Pipeline {
    tx: Option<SyncSender<Piece>>,
    spare: Receiver<Vec<u8>>,
    handle: Option<JoinHandle<io::Result<()>>>,
}

impl Pipeline {
    pub(super) fn start(
        file: &File,
        path: &Path,
        durable: bool,
        bulk: bool,
        landed: Arc<AtomicU64>,
    ) -> io::Result<Pipeline> {
        use std::os::unix::fs::OpenOptionsExt;
        let buffered = file.try_clone()?;
        let offset = (&*file).stream_position()?;
        // Large blobs of a bulk copy are written around the page cache: the bytes go to the
        // device in this thread's time instead of costing a copy into the cache plus later
        // writeback, which on a small machine compete with hashing for the CPU.
        let direct = match crate::fsutil::O_DIRECT {
            Some(flag) if bulk && offset % ALIGN as u64 == 0 => OpenOptions::new()
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
        let (tx, rx) = sync_channel::<Piece>(PIPELINE_DEPTH);
        let (spare_tx, spare) = sync_channel::<Vec<u8>>(PIPELINE_DEPTH + 2);
        let mut sink = Sink {
            direct,
            buffered,
            offset,
            since_sync: 0,
            landed,
        };
        let handle = std::thread::Builder::new()
            .name("blob-writer".into())
            .spawn(move || -> io::Result<()> {
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
                let mut result = Ok(());
                for piece in rx {
                    let written = match &piece {
                        Piece::Own(buf, start, len) => {
                            sink.write(&buf[*start..*start + *len], true)
                        }
                        Piece::Lent(parts) => parts.each(&mut |data| sink.write(data, false)),
                    };
                    if let Err(e) = written {
                        result = Err(e);
                        break;
                    }
                    if sink.since_sync >= SYNC_EVERY && sync_handle.is_some() {
                        sink.since_sync = 0;
                        let _ = sync_tx.try_send(());
                    }
                    if let Piece::Own(buf, ..) = piece {
                        // Returned with its length intact, so reuse never pays for zero-filling.
                        let _ = spare_tx.try_send(buf);
                    }
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

    pub(super) fn buffer(&self) -> Vec<u8> {
        self.spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK + ALIGN))
    }

    /// Hands `buf[start..start + len]` to the writer thread.
    pub(super) fn send_chunk(&mut self, buf: Vec<u8>, start: usize, len: usize) -> io::Result<()> {
        self.send(Piece::Own(buf, start, len))
    }

    /// Hands `piece` to the writer thread; on failure joins it to get its error.
    pub(super) fn send(&mut self, piece: Piece) -> io::Result<()> {
        let sent = match &self.tx {
            Some(tx) => tx.send(piece).is_ok(),
            None => false,
        };
        if sent { Ok(()) } else { self.finish() }
    }

    pub(super) fn finish(&mut self) -> io::Result<()> {
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
