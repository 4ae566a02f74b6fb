//! Proxy mode: one upstream fetch per blob, and the clients that follow it. A request for a blob
//! whose fetch is already running does not wait for it to end: it streams what has landed in
//! the store writer's temp file so far and then the rest as it lands, and, like the client of
//! the fetch itself, gets its last bytes only once the store verified the whole blob, so no
//! follower ever receives a complete-looking wrong blob.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::time::Duration;

use registry_core::store::{Digest, Landing, Store};
use tokio::sync::watch;

use crate::body::{self, Body};

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
    let follower = Follower {
        view,
        size,
        landing,
        source: Source::Unopened(store, digest),
        pos: 0,
    };
    body::stream_reader(follower, size)
}

/// Where a follower reads from.
enum Source {
    /// Not opened yet (opened on the first read, on the blocking thread).
    Unopened(Store, Digest),
    Open(File),
}

/// A blob being fetched, as a blocking reader: a read waits until bytes past `pos` have landed
/// and returns them; the last byte only once the fetch verified the blob; an error once it
/// failed.
struct Follower {
    view: watch::Receiver<FlightView>,
    size: u64,
    landing: Landing,
    source: Source,
    pos: u64,
}

impl Follower {
    fn outcome(&self) -> Option<bool> {
        self.view.borrow().outcome
    }

    fn failed() -> io::Error {
        io::Error::other("the upstream fetch failed")
    }

    /// The temp file, or the stored blob when the fetch already published it (the temp name is
    /// gone then); waits for the fetch's end in between.
    fn open(&self, store: &Store, digest: &Digest) -> io::Result<File> {
        match File::open(self.landing.path()) {
            Ok(f) => return Ok(f),
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        loop {
            match self.outcome() {
                Some(true) => return File::open(store.blob_path(digest)),
                Some(false) => return Err(Follower::failed()),
                None => std::thread::sleep(POLL),
            }
        }
    }
}

impl Read for Follower {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Source::Unopened(store, digest) = &self.source {
            self.source = Source::Open(self.open(store, digest)?);
        }
        let Source::Open(file) = &self.source else {
            return Err(Follower::failed());
        };
        loop {
            if self.pos >= self.size || buf.is_empty() {
                return Ok(0);
            }
            let done = self.outcome();
            if done == Some(false) {
                return Err(Follower::failed());
            }
            // Until the blob is verified, the last byte stays back.
            let limit = match done {
                Some(_) => self.size,
                None => self.landing.landed().min(self.size - 1),
            };
            if self.pos < limit {
                let want = ((limit - self.pos) as usize).min(buf.len());
                let n = file.read_at(&mut buf[..want], self.pos)?;
                self.pos += n as u64;
                return Ok(n);
            }
            std::thread::sleep(POLL);
        }
    }
}
