//! The response body of a blob read from the store. It is read on the connection's own thread,
//! a chunk each time hyper asks for one, as long as reads are quick (served by the page cache,
//! where a blob just pushed, fetched or pulled is). A read that took longer than [`SLOW_READ`]
//! came from the disk: the rest of that stream moves to a blocking thread (the `body` bridge), so a
//! cold blob stalls its connection's thread once, for one chunk, and never again.
//!
//! Why not always the blocking thread: handing every 128 KiB from that thread to the connection's
//! costs two context switches, about 16,000 per GiB; on the 2-core bench machine a whole-blob
//! pull then used 0.66-0.90 s of CPU per GiB, read here 0.60-0.77 s, with 300 context
//! switches. nginx reads files in its event loop for the same reason.

use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Frame, SizeHint};
use tokio::sync::mpsc;

use crate::body::{self, Body, READ_CHUNK};

/// A read slower than this did not come from the page cache.
const SLOW_READ: Duration = Duration::from_millis(2);

type Done = Box<dyn FnOnce() + Send>;

enum State {
    /// Read here, on the connection's thread.
    Here {
        reader: Box<dyn Read + Send>,
        done: Option<Done>,
    },
    /// Moved to a blocking thread, which sends the chunks.
    Moved(mpsc::Receiver<io::Result<Bytes>>),
    /// Ended, by the last chunk or an error.
    Ended,
}

/// See the module documentation.
struct StoredBody {
    /// A lock only to make the body `Sync` (hyper polls it from one task).
    state: Mutex<State>,
    /// Bytes still to send.
    left: u64,
    /// Reads slower than this move the stream to a blocking thread.
    slow: Duration,
}

/// Streams `len` bytes of `reader`, then calls `done` if the read past them found the end (for
/// a verifying blob reader: once its content was verified). A read error aborts the response.
pub(crate) fn stored<R: Read + Send + 'static>(
    reader: R,
    len: u64,
    done: impl FnOnce() + Send + 'static,
) -> Body {
    with_threshold(reader, len, done, SLOW_READ)
}

fn with_threshold<R: Read + Send + 'static>(
    reader: R,
    len: u64,
    done: impl FnOnce() + Send + 'static,
    slow: Duration,
) -> Body {
    StoredBody {
        state: Mutex::new(State::Here {
            reader: Box::new(reader),
            done: Some(Box::new(done)),
        }),
        left: len,
        slow,
    }
    .boxed()
}

type Polled = Poll<Option<Result<Frame<Bytes>, io::Error>>>;

/// One chunk read here from `state` (`Here`), `left` bytes still to send; the stream moves to a
/// blocking thread after a read slower than `slow`.
fn read_here(state: &mut State, left: &mut u64, slow: Duration) -> Polled {
    let State::Here { reader, done } = state else {
        return Poll::Ready(None);
    };
    if *left == 0 {
        let r = match done.take() {
            Some(d) => body::drain(reader, d),
            None => Ok(()),
        };
        *state = State::Ended;
        return Poll::Ready(r.err().map(Err));
    }
    let mut buf = vec![0u8; READ_CHUNK.min(*left as usize)];
    let started = Instant::now();
    let n = match reader.read(&mut buf) {
        Ok(0) => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "blob shorter than its size",
        )),
        other => other,
    };
    let n = match n {
        Ok(n) => n,
        Err(e) => {
            *state = State::Ended;
            return Poll::Ready(Some(Err(e)));
        }
    };
    buf.truncate(n);
    *left -= n as u64;
    if started.elapsed() > slow
        && let State::Here { reader, done } = std::mem::replace(state, State::Ended)
    {
        let done = done.unwrap_or_else(|| Box::new(|| {}));
        *state = State::Moved(body::spawn_reader(reader, *left, done));
    }
    Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
}

impl hyper::body::Body for StoredBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Polled {
        let this = &mut *self;
        let mut state = match this.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match &mut *state {
            State::Ended => Poll::Ready(None),
            State::Moved(rx) => match rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(b))) => {
                    this.left = this.left.saturating_sub(b.len() as u64);
                    Poll::Ready(Some(Ok(Frame::data(b))))
                }
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
            here @ State::Here { .. } => read_here(here, &mut this.left, this.slow),
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread::ThreadId;

    /// Serves `data` in reads of at most 50,000 bytes, recording the thread of each read;
    /// the read at index `slow_at` sleeps 700 ms. The bodies under test move after 500 ms, so
    /// only a machine stalled for half a second could move a quick read.
    struct Probe {
        data: Vec<u8>,
        pos: usize,
        reads: Arc<Mutex<Vec<ThreadId>>>,
        slow_at: Option<usize>,
    }

    impl Read for Probe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let mut reads = self.reads.lock().unwrap();
            if self.slow_at == Some(reads.len()) {
                std::thread::sleep(Duration::from_millis(700));
            }
            reads.push(std::thread::current().id());
            let n = buf.len().min(50_000).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn run(
        data: &[u8],
        len: u64,
        slow_at: Option<usize>,
    ) -> (io::Result<Vec<u8>>, Vec<ThreadId>, bool, ThreadId) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let reads = Arc::new(Mutex::new(Vec::new()));
        let called = Arc::new(AtomicBool::new(false));
        let probe = Probe {
            data: data.to_vec(),
            pos: 0,
            reads: reads.clone(),
            slow_at,
        };
        let flag = called.clone();
        let got = rt.block_on(async move {
            let b = with_threshold(
                probe,
                len,
                move || flag.store(true, Ordering::SeqCst),
                Duration::from_millis(500),
            );
            b.collect().await.map(|c| c.to_bytes().to_vec())
        });
        let reads = reads.lock().unwrap().clone();
        (
            got,
            reads,
            called.load(Ordering::SeqCst),
            std::thread::current().id(),
        )
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn quick_reads_stay_on_the_connections_thread() {
        let d = data(1_000_000);
        let (got, reads, done, here) = run(&d, d.len() as u64, None);
        assert_eq!(got.unwrap(), d);
        assert!(done, "the read past the end found it");
        assert!(
            reads.len() > 2 && reads.iter().all(|t| *t == here),
            "{reads:?}"
        );
    }

    #[test]
    fn after_a_slow_read_the_rest_moves_to_a_blocking_thread_in_order() {
        let d = data(1_000_000);
        let (got, reads, done, here) = run(&d, d.len() as u64, Some(2));
        assert_eq!(got.unwrap(), d, "every byte, in order");
        assert!(done);
        assert!(reads[..3].iter().all(|t| *t == here), "{reads:?}");
        assert!(
            reads[3..].iter().all(|t| *t != here),
            "moved after the slow third read: {reads:?}"
        );
    }

    #[test]
    fn a_short_blob_is_an_error_and_more_than_its_size_is_not_done() {
        let d = data(300_000);
        let (got, _, done, _) = run(&d, 400_000, None);
        assert_eq!(got.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert!(!done);
        let (got, _, done, _) = run(&d, 200_000, Some(1));
        assert_eq!(got.unwrap(), d[..200_000]);
        assert!(!done, "bytes past the size: not a whole read");
    }
}
