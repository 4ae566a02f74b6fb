//! Proxy mode: the store as a pull-through cache of the upstream.
//!
//! * By-digest content is served from the store without asking the upstream; a miss is fetched.
//! * A by-tag manifest asks the upstream (answer within `upstream::ANSWER_TIMEOUT`) and stores
//!   what it says; when the upstream is unreachable or failing, the cached tag is served.
//! * A blob miss streams to the client while it is written to the store (tee). The last piece
//!   is held back until the store has verified the whole blob against its digest, so neither the
//!   client nor the store ever gets a complete-looking wrong blob; an interrupted transfer is
//!   discarded. Concurrent misses for one blob make one upstream fetch, which the others follow
//!   as it lands (see [`crate::follow`]); a ranged request waits for it and is then served from
//!   the store.
//! * Pushes and deletes are refused (`UNSUPPORTED`); expiry is the store's cache expiry
//!   (`--ttl` since last use, tags and leases pin).

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, StatusCode};
use registry_core::store::Digest;
use tokio::sync::{mpsc, watch};

use crate::app::{App, blocking};
use crate::body::{self, Resp};
use crate::errors::{ApiError, Code};
use crate::follow::{self, FlightView};
use crate::repos::{self, Repository};
use crate::upstream::{Upstream, UpstreamError};

/// The manifest types asked from the upstream.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Proxy-mode state: the upstream, the fetches in flight, the cache expiry.
#[derive(Debug)]
pub(crate) struct Proxy {
    pub(crate) upstream: Upstream,
    pub(crate) ttl: Option<Duration>,
    inflight: Mutex<HashMap<Digest, watch::Receiver<FlightView>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn bad_gateway(why: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, Code::Internal, why)
}

impl Proxy {
    pub(crate) fn new(upstream: Upstream, ttl: Option<Duration>) -> Proxy {
        Proxy {
            upstream,
            ttl,
            inflight: Mutex::default(),
        }
    }
}

/// Reads a manifest from an upstream response, verified against `expected` (a by-digest fetch)
/// or the upstream's `Docker-Content-Digest` (by tag), and stores it.
async fn store_manifest(
    app: &Arc<App>,
    resp: hyper::Response<hyper::body::Incoming>,
    expected: Option<&Digest>,
) -> Result<Digest, ApiError> {
    let claimed = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|d| Digest::parse(d).ok());
    let max = app.limits.max_manifest;
    let body = tokio::time::timeout(
        crate::upstream::ANSWER_TIMEOUT * 4,
        http_body_util::Limited::new(resp.into_body(), max as usize).collect(),
    )
    .await
    .map_err(|_| bad_gateway("upstream manifest transfer too slow"))?
    .map_err(|e| bad_gateway(format!("upstream manifest transfer failed: {e}")))?
    .to_bytes();
    let want = expected.cloned().or(claimed);
    let digest = match &want {
        Some(d) => {
            let actual = Digest::of(d.algorithm(), &body);
            if &actual != d {
                return Err(bad_gateway(format!(
                    "upstream sent a manifest hashing to {actual}, not {d}"
                )));
            }
            actual
        }
        None => Digest::of(registry_core::store::Algorithm::Sha256, &body),
    };
    let store = app.store.clone();
    let d = digest.clone();
    blocking(move || {
        store
            .put_bytes(&body, Some(&d))
            .map(|_| ())
            .map_err(ApiError::store)
    })
    .await?;
    Ok(digest)
}

/// Refreshes `tag` of `repo` from the upstream. `Ok` also when the upstream is unreachable or
/// failing (the cached tag is then served); `MANIFEST_UNKNOWN` when the upstream says it does
/// not exist.
pub(crate) async fn refresh_tag(
    app: &Arc<App>,
    proxy: &Proxy,
    repo: &Repository,
    tag: &str,
) -> Result<(), ApiError> {
    let resp = match proxy
        .upstream
        .fetch(&Method::GET, repo, "manifests", tag, Some(ACCEPT))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            crate::log::event(&format!("tag {tag} of {repo}: {e}; serving the cached tag"));
            return Ok(());
        }
    };
    match resp.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(ApiError::manifest_unknown(tag)),
        s => {
            crate::log::event(&format!(
                "tag {tag} of {repo}: {}; serving the cached tag",
                UpstreamError::Status(s)
            ));
            return Ok(());
        }
    }
    let digest = store_manifest(app, resp, None).await?;
    let store = app.store.clone();
    let (repo, tag) = (repo.clone(), tag.to_string());
    blocking(move || repos::tag_in(&store, &repo, &tag, &digest).map_err(ApiError::store)).await
}

/// Fetches manifest `digest` of `repo` that the store lacks, and records it in `repo`.
pub(crate) async fn fetch_manifest(
    app: &Arc<App>,
    proxy: &Proxy,
    repo: &Repository,
    digest: &Digest,
) -> Result<(), ApiError> {
    let resp = proxy
        .upstream
        .fetch(
            &Method::GET,
            repo,
            "manifests",
            &digest.to_string(),
            Some(ACCEPT),
        )
        .await
        .map_err(|e| bad_gateway(e.to_string()))?;
    match resp.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(ApiError::manifest_unknown(&digest.to_string())),
        s => return Err(bad_gateway(UpstreamError::Status(s).to_string())),
    }
    let d = store_manifest(app, resp, Some(digest)).await?;
    let store = app.store.clone();
    let repo = repo.clone();
    blocking(move || repos::keep_in(&store, &repo, &d).map_err(ApiError::store)).await
}

/// A blob the store lacks: `HEAD` asks the upstream; `GET` tees the upstream's blob to the
/// client and the store, or waits for a fetch already running. `None` means "now in the store,
/// serve it from there" (a follower, or a ranged request).
pub(crate) async fn blob(
    app: &Arc<App>,
    proxy: &Proxy,
    repo: &Repository,
    digest: &Digest,
    head: bool,
    ranged: bool,
) -> Result<Option<Resp>, ApiError> {
    if head {
        let r = proxy
            .upstream
            .fetch(&Method::HEAD, repo, "blobs", &digest.to_string(), None)
            .await
            .map_err(|e| bad_gateway(e.to_string()))?;
        if r.status() != StatusCode::OK {
            return Err(ApiError::blob_unknown(digest));
        }
        let mut resp = body::status(StatusCode::OK);
        if let Some(len) = r.headers().get(CONTENT_LENGTH) {
            resp.headers_mut().insert(CONTENT_LENGTH, len.clone());
        }
        body::set(&mut resp, "Docker-Content-Digest", &digest.to_string());
        return Ok(Some(resp));
    }
    // Join a fetch of this blob that is already running, or become the one that runs it.
    let (state, view) = watch::channel(FlightView::default());
    let running = {
        let mut map = lock(&proxy.inflight);
        match map.get(digest).cloned() {
            Some(other) => Some(other),
            None => {
                map.insert(digest.clone(), view);
                None
            }
        }
    };
    if let Some(other) = running {
        return Ok(follow_flight(app, other, digest, ranged).await);
    }
    let flight = Flight {
        app: app.clone(),
        digest: digest.clone(),
        state: Arc::new(state),
    };
    let r = proxy
        .upstream
        .fetch(&Method::GET, repo, "blobs", &digest.to_string(), None)
        .await
        .map_err(|e| bad_gateway(e.to_string()))?;
    match r.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(ApiError::blob_unknown(digest)),
        s => return Err(bad_gateway(UpstreamError::Status(s).to_string())),
    }
    let size: Option<u64> = r
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let mut finished = flight.state.subscribe();
    let (client_tx, client_rx) = mpsc::channel::<io::Result<Bytes>>(8);
    tokio::spawn(async move {
        let state = flight.state.clone();
        tee(
            &flight.app,
            r.into_body(),
            &flight.digest,
            size,
            &state,
            client_tx,
        )
        .await;
        drop(flight);
    });
    if ranged {
        // The whole blob is being fetched; serve the range from the store once it is there.
        drop(client_rx);
        let _ = finished.wait_for(|v| v.outcome.is_some()).await;
        return Ok(None);
    }
    Ok(Some(blob_response(
        body::channel(client_rx, size),
        size,
        digest,
    )))
}

/// A follower of a fetch in flight: its response streaming the blob as it lands, or `None`
/// ("serve it from the store") once the fetch ended, for a ranged request, or when the upstream
/// gave no size.
async fn follow_flight(
    app: &Arc<App>,
    mut view: watch::Receiver<FlightView>,
    digest: &Digest,
    ranged: bool,
) -> Option<Resp> {
    let landing = match view
        .wait_for(|v| v.outcome.is_some() || v.landing.is_some())
        .await
    {
        Ok(v) if v.outcome.is_none() && !ranged => v.landing.clone(),
        _ => None,
    };
    let Some((size, landing)) = landing else {
        let _ = view.wait_for(|v| v.outcome.is_some()).await;
        return None;
    };
    let store = app.store.clone();
    let body = follow::stream(view, size, landing, store, digest.clone());
    Some(blob_response(body, Some(size), digest))
}

/// The response headers of a whole blob streamed from the upstream.
fn blob_response(body: body::Body, size: Option<u64>, digest: &Digest) -> Resp {
    let mut resp = hyper::Response::new(body);
    if let Some(n) = size {
        resp.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(n));
    }
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    body::set(&mut resp, "Docker-Content-Digest", &digest.to_string());
    resp
}

/// One upstream fetch of a blob in progress; when it ends (also by an error or a cancelled
/// request) the requests following it are released: with `outcome: Some(false)` unless the tee
/// said the blob was stored.
struct Flight {
    app: Arc<App>,
    digest: Digest,
    state: Arc<watch::Sender<FlightView>>,
}

impl Drop for Flight {
    fn drop(&mut self) {
        if let Some(p) = &self.app.proxy {
            lock(&p.inflight).remove(&self.digest);
        }
        self.state.send_modify(|v| {
            v.outcome.get_or_insert(false);
        });
    }
}

/// Copies the upstream body into a store writer and to the client (best effort: a client that
/// goes away does not stop the cache fill). The last piece reaches the client only after the
/// store verified the blob.
async fn tee(
    app: &Arc<App>,
    mut upstream: hyper::body::Incoming,
    digest: &Digest,
    size: Option<u64>,
    state: &Arc<watch::Sender<FlightView>>,
    client: mpsc::Sender<io::Result<Bytes>>,
) {
    let store = app.store.clone();
    let alg = digest.algorithm();
    let w = match tokio::task::spawn_blocking(move || store.writer(alg)).await {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => return discard(digest, e.to_string(), &client).await,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    if let Some(n) = size {
        state.send_modify(|v| v.landing = Some((n, w.landing())));
    }
    let (mut wtx, writer) = body::Batcher::start(w);
    let idle = app.limits.body_idle;
    let mut pending: Option<Bytes> = None;
    let mut client_open = true;
    let mut failure: Option<String> = None;
    loop {
        match tokio::time::timeout(idle, upstream.frame()).await {
            Err(_) => {
                failure = Some(format!("upstream sent nothing for {}s", idle.as_secs()));
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                failure = Some(format!("upstream transfer failed: {e}"));
                break;
            }
            Ok(Some(Ok(f))) => {
                let Ok(data) = f.into_data() else { continue };
                if !wtx.push(data.clone()).await {
                    failure = Some("the store refused the data".into());
                    break;
                }
                if let Some(p) = pending.replace(data)
                    && client_open
                    && client.send(Ok(p)).await.is_err()
                {
                    client_open = false;
                }
            }
        }
    }
    if failure.is_none() && !wtx.flush().await {
        failure = Some("the store refused the data".into());
    }
    drop(wtx);
    let written = match writer.await {
        Ok((w, r)) => r.map(|()| w),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    let outcome = match (failure, written) {
        (Some(why), _) => Err(why),
        (None, Err(e)) => Err(e.to_string()),
        (None, Ok(w)) => {
            let d = digest.clone();
            match tokio::task::spawn_blocking(move || w.commit(Some(&d), size)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
    };
    match outcome {
        Ok(()) => {
            // Verified as it was written: a pull from the cache need not hash it again.
            app.verified.committed(&app.store, digest);
            state.send_modify(|v| v.outcome = Some(true));
            if let Some(p) = pending
                && client_open
            {
                let _ = client.send(Ok(p)).await;
            }
        }
        Err(why) => discard(digest, why, &client).await,
    }
}

/// The end of a cache fill that failed: logged, and the client's response cut off.
async fn discard(digest: &Digest, why: String, client: &mpsc::Sender<io::Result<Bytes>>) {
    crate::log::event(&format!("blob {digest} from the upstream discarded: {why}"));
    let _ = client.send(Err(io::Error::other(why))).await;
}

/// The periodic cache expiry of Proxy mode.
pub(crate) async fn expire_loop(app: Arc<App>, ttl: Duration) {
    let every = (ttl / 4).clamp(Duration::from_secs(60), Duration::from_secs(3600));
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let store = app.store.clone();
        match tokio::task::spawn_blocking(move || store.expire_cache(ttl, false)).await {
            Ok(Ok(r)) => crate::log::event(&format!(
                "cache expiry: {} blobs ({} bytes) removed",
                r.deleted.len(),
                r.deleted_bytes
            )),
            Ok(Err(e)) => crate::log::event(&format!("cache expiry failed: {e}")),
            Err(_) => crate::log::event("cache expiry panicked"),
        }
    }
}
