//! Proxy mode: one upstream fetch per blob, and the clients that follow it. A request for a blob
//! whose fetch is already running does not wait for it to end: it streams what has landed in
//! the store writer's temp file so far and then the rest as it lands, and, like the client of
//! the fetch itself, gets its last bytes only once the store verified the whole blob, so no
//! follower ever receives a complete-looking wrong blob.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use bytes::Bytes;
use registry_core::store::{Digest, Landing, Store};
use tokio::sync::{mpsc, watch};

use crate::body::{self, Body};

/// Bytes sent per step.
const CHUNK: usize = 128 << 10;
/// How long a follower that caught up waits before looking again.
const POLL: Duration = Duration::from_millis(5);

/// What a fetch in flight shows its followers.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlightView {
    /// The size the upstream announced and where the bytes land, once the store writer exists.
    pub(crate) landing: Option<(u64, Landing)>,
    /// `Some(true)` once the blob is verified and stored, `Some(false)` if the fetch failed.
    pub(crate) outcome: Option<bool>,
}

/// The body of a follower: `size` bytes of `digest`, read from `landing` as they land (or from
/// the store, if the fetch ended before the temp file could be opened).
pub(crate) fn stream(
    view: watch::Receiver<FlightView>,
    size: u64,
    landing: Landing,
    store: Store,
    digest: Digest,
) -> Body {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(2);
    tokio::task::spawn_blocking(move || {
        let outcome = || view.borrow().outcome;
        let file = match open(&landing, &store, &digest, &outcome) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        let mut pos = 0u64;
        while pos < size {
            let done = outcome();
            if done == Some(false) {
                let _ = tx.blocking_send(Err(io::Error::other("the upstream fetch failed")));
                return;
            }
            // Until the blob is verified, the last byte stays back.
            let limit = match done {
                Some(_) => size,
                None => landing.landed().min(size - 1),
            };
            if pos >= limit {
                std::thread::sleep(POLL);
                continue;
            }
            let mut buf = vec![0u8; (limit - pos).min(CHUNK as u64) as usize];
            match file.read_at(&mut buf, pos) {
                Ok(0) => {
                    let short = io::Error::new(io::ErrorKind::UnexpectedEof, "blob ended early");
                    let _ = tx.blocking_send(Err(short));
                    return;
                }
                Ok(n) => {
                    buf.truncate(n);
                    pos += n as u64;
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return; // the client went away
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    body::channel(rx, Some(size))
}

/// The temp file, or the stored blob when the fetch already published it (the temp name is
/// gone then); waits for the fetch's end in between.
fn open(
    landing: &Landing,
    store: &Store,
    digest: &Digest,
    outcome: &dyn Fn() -> Option<bool>,
) -> io::Result<File> {
    match File::open(landing.path()) {
        Ok(f) => return Ok(f),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    loop {
        match outcome() {
            Some(true) => return File::open(store.blob_path(digest)),
            Some(false) => return Err(io::Error::other("the upstream fetch failed")),
            None => std::thread::sleep(POLL),
        }
    }
}
