//! Bodies: the response body type, response builders, and the two bridges between hyper's async
//! bodies and blocking I/O (bytes streamed out from a reader on a blocking thread, a request
//! body streamed into a `BlobWriter` on a blocking thread).

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use registry_core::store::{BlobWriter, StoreError};
use tokio::sync::mpsc;

use crate::errors::{ApiError, Code};

/// Every response body.
pub(crate) type Body = BoxBody<Bytes, io::Error>;
/// Every response.
pub(crate) type Resp = Response<Body>;

/// Bytes a blob is read in per step.
pub(crate) const READ_CHUNK: usize = 128 << 10;
/// Chunks queued per response ahead of the connection: with the chunk being read and the one
/// being sent, a pull holds about 512 KiB, so 64 concurrent pulls stay within 64 MiB.
const READ_AHEAD: usize = 2;

pub(crate) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A response with no body and `Content-Length: 0`.
pub(crate) fn status(status: StatusCode) -> Resp {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, content_type: &'static str, bytes: Vec<u8>) -> Resp {
    let mut r = Response::new(full(bytes));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The response for an error: the spec's JSON body (none for HEAD).
pub(crate) fn error(e: &ApiError, head: bool) -> Resp {
    let body = e.body();
    let len = body.len();
    let mut r = Response::new(if head { empty() } else { full(body) });
    *r.status_mut() = e.status();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    for (name, value) in e.headers() {
        h.insert(*name, value.clone());
    }
    r
}

/// Sets a header from a string built by registryd (skipped if not a valid header value).
pub(crate) fn set(r: &mut Resp, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// A body fed by a channel (what the blocking blob reader sends).
struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    /// Bytes still to come, if known.
    remaining: Option<u64>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => {
                self.remaining = self.remaining.map(|r| r.saturating_sub(b.len() as u64));
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.remaining.map(SizeHint::with_exact).unwrap_or_default()
    }
}

/// A body fed by a channel of `size` bytes (if known); an `Err` aborts the response.
pub(crate) fn channel(rx: mpsc::Receiver<io::Result<Bytes>>, size: Option<u64>) -> Body {
    ChannelBody {
        rx,
        remaining: size,
    }
    .boxed()
}

/// Streams `len` bytes from a reader that may block for long (a proxy follower waits for bytes
/// to land) on a blocking thread. A read error aborts the response, so a client never gets a
/// complete-looking wrong body. Stored blobs are streamed by [`crate::stored`].
pub(crate) fn stream_reader<R: Read + Send + 'static>(reader: R, len: u64) -> Body {
    channel(spawn_reader(reader, len, || {}), Some(len))
}

/// Reads `len` bytes from `reader` on a blocking thread, [`READ_CHUNK`] at a time, into the
/// channel returned; then `done` once the read past them found the end (for a verifying blob
/// reader: once its content was verified). A read error (a corrupt blob fails verification at
/// its end) goes into the channel as the last item.
pub(crate) fn spawn_reader<R: Read + Send + 'static>(
    mut reader: R,
    len: u64,
    done: impl FnOnce() + Send + 'static,
) -> mpsc::Receiver<io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut left = len;
        while left > 0 {
            let mut buf = vec![0u8; READ_CHUNK.min(left as usize)];
            match reader.read(&mut buf) {
                Ok(0) => {
                    let _ = tx.blocking_send(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "blob shorter than its size",
                    )));
                    return;
                }
                Ok(n) => {
                    buf.truncate(n);
                    left -= n as u64;
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
        if let Err(e) = drain(&mut reader, done) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

/// Reads past the end, so that a whole-blob read runs its final verification; `done` once it
/// passed.
pub(crate) fn drain(reader: &mut dyn Read, done: impl FnOnce()) -> io::Result<()> {
    let mut tail = [0u8; 1];
    // Bytes past the size said: the read is not whole, so `done` is not called.
    if reader.read(&mut tail)? == 0 {
        done();
    }
    Ok(())
}

/// Why streaming a request body into a writer stopped early.
#[derive(Debug)]
pub(crate) enum BodyFailure {
    /// The client went away, sent a broken body or was too slow.
    Client(String),
    /// The body was longer than allowed.
    TooLong(u64),
    /// The store refused the bytes (quota, disk).
    Store(StoreError),
}

impl BodyFailure {
    pub(crate) fn into_api(self) -> ApiError {
        match self {
            BodyFailure::Client(why) => ApiError::bad_request(Code::BlobUploadInvalid, why),
            BodyFailure::TooLong(max) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::SizeInvalid,
                format!("request body longer than {max} bytes"),
            ),
            BodyFailure::Store(e) => ApiError::store(e),
        }
    }
}

/// What `stream_into` hands back: the writer (always, so the caller decides between commit, save
/// and abort), the bytes received, and how the body ended.
pub(crate) struct Streamed {
    pub(crate) writer: BlobWriter,
    pub(crate) received: u64,
    pub(crate) result: Result<(), BodyFailure>,
}

/// Frames gathered before they go to the blocking writer together: one hand-over between
/// threads per MiB instead of one per frame (hyper's are about 64 KiB), which on two cores saves
/// more time than the copy the writer then also skips.
const BATCH: usize = 1 << 20;
/// Batches queued ahead of the blocking writer.
const BATCHES_AHEAD: usize = 2;

/// The blocking task behind a [`Batcher`]: it hands the writer back, with the error that
/// stopped it, if any.
pub(crate) type WriterTask = tokio::task::JoinHandle<(BlobWriter, Result<(), StoreError>)>;

/// Frames on their way to a blocking [`BlobWriter`], handed over in batches of [`BATCH`] bytes.
pub(crate) struct Batcher {
    tx: mpsc::Sender<Vec<Bytes>>,
    batch: Vec<Bytes>,
    bytes: usize,
}

impl Batcher {
    /// A batcher and the blocking task that writes what it sends into `writer`.
    pub(crate) fn start(writer: BlobWriter) -> (Batcher, WriterTask) {
        let (tx, mut rx) = mpsc::channel::<Vec<Bytes>>(BATCHES_AHEAD);
        let task = tokio::task::spawn_blocking(move || {
            let mut w = writer;
            while let Some(batch) = rx.blocking_recv() {
                if let Err(e) = w.write_parts(batch) {
                    return (w, Err(e));
                }
            }
            (w, Ok(()))
        });
        let batcher = Batcher {
            tx,
            batch: Vec::new(),
            bytes: 0,
        };
        (batcher, task)
    }

    /// Adds a frame; false once the writer stopped.
    pub(crate) async fn push(&mut self, data: Bytes) -> bool {
        self.bytes += data.len();
        self.batch.push(data);
        self.bytes < BATCH || self.flush().await
    }

    /// Sends what is gathered; false once the writer stopped.
    pub(crate) async fn flush(&mut self) -> bool {
        self.bytes = 0;
        let batch = std::mem::take(&mut self.batch);
        batch.is_empty() || self.tx.send(batch).await.is_ok()
    }
}

/// Copies a request body into `writer` on a blocking thread while frames arrive, at most `max`
/// bytes, each frame within `idle` of the previous one.
pub(crate) async fn stream_into(
    writer: BlobWriter,
    mut body: Incoming,
    max: Option<u64>,
    idle: Duration,
) -> Streamed {
    let (mut tx, task) = Batcher::start(writer);
    let mut received = 0u64;
    let mut result = Ok(());
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                result = Err(BodyFailure::Client(format!(
                    "no body data for {}s",
                    idle.as_secs()
                )));
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                result = Err(BodyFailure::Client(format!("request body broken: {e}")));
                break;
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        received += data.len() as u64;
        if let Some(m) = max
            && received > m
        {
            result = Err(BodyFailure::TooLong(m));
            break;
        }
        if !tx.push(data).await {
            break;
        }
    }
    // Whatever arrived is written, as it was before a failure (a chunked upload keeps it).
    tx.flush().await;
    drop(tx);
    let (writer, written) = match task.await {
        Ok(pair) => pair,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    if let Err(e) = written {
        result = Err(BodyFailure::Store(e));
    }
    Streamed {
        writer,
        received,
        result,
    }
}

/// Reads a whole (small) request body, refusing more than `max` bytes.
pub(crate) async fn read_limited(
    mut body: Incoming,
    max: u64,
    idle: Duration,
) -> Result<Vec<u8>, BodyFailure> {
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                return Err(BodyFailure::Client(format!(
                    "no body data for {}s",
                    idle.as_secs()
                )));
            }
            Ok(None) => return Ok(out),
            Ok(Some(Err(e))) => {
                return Err(BodyFailure::Client(format!("request body broken: {e}")));
            }
            Ok(Some(Ok(f))) => {
                if let Ok(d) = f.into_data() {
                    if out.len() as u64 + d.len() as u64 > max {
                        return Err(BodyFailure::TooLong(max));
                    }
                    out.extend_from_slice(&d);
                }
            }
        }
    }
}
