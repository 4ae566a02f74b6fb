//! The application: shared state and the request pipeline (route → authenticate → authorise →
//! endpoint → log line and metrics), independent of how connections arrive.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use registry_core::store::Store;

use crate::auth::{Access, Auth};
use crate::body::{self, Resp};
use crate::errors::ApiError;
use crate::metrics::Metrics;
use crate::names::Namespace;
use crate::repos::Repository;
use crate::router::{Route, route};
use crate::view::Views;
use crate::{blobs, listing, manifests, uploads};

/// Largest total size of a request's headers (hyper bounds the whole head too, see `server`).
pub(crate) const MAX_HEADERS: usize = 64 << 10;

/// Limits on what a request may send.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Largest manifest accepted by `PUT`.
    pub(crate) max_manifest: u64,
    /// Longest pause allowed between two pieces of a request body.
    pub(crate) body_idle: Duration,
}

/// Everything requests share.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) store: Store,
    pub(crate) namespace: Namespace,
    pub(crate) views: Views,
    pub(crate) auth: Option<Auth>,
    /// Proxy mode (with `--upstream`); `None` is the Local registry.
    pub(crate) proxy: Option<crate::proxy::Proxy>,
    /// Local mode with `--peer`: the other masters, asked for what the store lacks.
    pub(crate) peers: Vec<crate::proxy::Proxy>,
    pub(crate) metrics: Metrics,
    /// Blob files already hashed by this process (whole reads of them are not hashed again).
    pub(crate) verified: crate::verified::Verified,
    pub(crate) limits: Limits,
    /// False until the listener is up, and again once shutdown began.
    pub(crate) ready: AtomicBool,
}

/// One request being served: the shared state plus the parsed parts handlers need.
pub(crate) struct Call {
    pub(crate) app: Arc<App>,
    pub(crate) method: Method,
    pub(crate) query: Option<String>,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: Incoming,
}

impl Call {
    /// A query parameter (first occurrence), percent-decoded.
    pub(crate) fn param(&self, key: &str) -> Option<String> {
        let q = self.query.as_deref()?;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == key).then(|| percent_decode(v))
        })
    }

    /// A header as a string (absent if missing or not visible ASCII).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }

    /// Whether a miss of this request may be forwarded to the peers: not when another master
    /// sent it (see [`crate::upstream::PEER_HEADER`]).
    pub(crate) fn forwards_misses(&self) -> bool {
        self.header(crate::upstream::PEER_HEADER).is_none()
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else if b[i] == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs a blocking store operation off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

impl App {
    /// Serves one request and logs it.
    pub(crate) async fn serve(self: Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> Resp {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        self.metrics.in_flight(1);
        let (user, resp) = self.clone().dispatch(req, peer).await;
        self.metrics.in_flight(-1);
        let mut resp = resp;
        resp.headers_mut().insert(
            "Docker-Distribution-API-Version",
            HeaderValue::from_static("registry/2.0"),
        );
        let elapsed = started.elapsed();
        self.metrics
            .request(&method, resp.status(), elapsed, body_len(&resp));
        crate::log::request(
            peer,
            &method,
            &path,
            resp.status(),
            elapsed,
            user.as_deref(),
        );
        resp
    }

    async fn dispatch(
        self: Arc<App>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> (Option<String>, Resp) {
        let head = req.method() == Method::HEAD;
        let head_bytes: usize = req
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum();
        if head_bytes > MAX_HEADERS {
            let e = ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                crate::errors::Code::SizeInvalid,
                format!("request headers larger than {MAX_HEADERS} bytes"),
            );
            return (None, body::error(&e, head));
        }
        let uri = req.uri().clone();
        let r = route(uri.path());
        match r {
            Route::Health => return (None, body::status(StatusCode::OK)),
            Route::Ready => {
                let ok = self.ready.load(Ordering::SeqCst);
                let s = if ok {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                return (None, body::status(s));
            }
            Route::Metrics => {
                let text = self.metrics.render(&self);
                let mut resp = body::json(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    text.into_bytes(),
                );
                resp.headers_mut()
                    .insert("Cache-Control", HeaderValue::from_static("no-store"));
                return (None, resp);
            }
            _ => {}
        }
        let access = match &self.auth {
            None => Access::anonymous_writer(),
            Some(auth) => match auth.check(req.headers(), peer.ip(), &self.metrics).await {
                Ok(a) => a,
                Err(e) => return (None, body::error(&e, head)),
            },
        };
        let user = access.user.clone();
        let writes = matches!(
            *req.method(),
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        if writes && self.proxy.is_some() {
            let e = ApiError::unsupported(
                "this registryd is a pull-through cache (Proxy mode): push to the upstream",
            );
            return (user, body::error(&e, head));
        }
        if writes && !access.can_write {
            let e = ApiError::denied("this user may only pull (not one of --writers)");
            return (user, body::error(&e, head));
        }
        let (parts, body) = req.into_parts();
        let call = Call {
            app: self.clone(),
            method: parts.method,
            query: uri.query().map(str::to_owned),
            headers: parts.headers,
            body,
        };
        let out = match self.endpoint(r, call).await {
            Ok(resp) => resp,
            Err(e) => body::error(&e, head),
        };
        (user, out)
    }

    async fn endpoint(self: &Arc<App>, r: Route<'_>, call: Call) -> Result<Resp, ApiError> {
        let m = call.method.clone();
        let repo = |name: &str| self.namespace.repository(name);
        match (r, m) {
            (Route::Ping, Method::GET | Method::HEAD) => Ok(body::json(
                StatusCode::OK,
                "application/json",
                b"{}".to_vec(),
            )),
            (Route::Catalog, Method::GET) => listing::catalog(call).await,
            (Route::Tags { name }, Method::GET) => {
                let repo = repo(name)?;
                listing::tags(call, name, repo).await
            }
            (Route::Referrers { name, digest }, Method::GET) => {
                let repo = repo(name)?;
                listing::referrers(call, repo, digest).await
            }
            (Route::Manifest { name, reference }, m) => {
                let repo = repo(name)?;
                match m {
                    Method::GET | Method::HEAD => manifests::get(call, repo, reference).await,
                    Method::PUT => manifests::put(call, name, repo, reference).await,
                    Method::DELETE => manifests::delete(call, repo, reference).await,
                    _ => Err(not_allowed()),
                }
            }
            (Route::Blob { name, digest }, m) => {
                let repo: Repository = repo(name)?;
                match m {
                    Method::GET | Method::HEAD => blobs::get(call, repo, digest).await,
                    Method::DELETE => blobs::delete(call, digest).await,
                    _ => Err(not_allowed()),
                }
            }
            (Route::UploadStart { name }, Method::POST) => {
                repo(name)?;
                uploads::start(call, name).await
            }
            (Route::Upload { name, id }, m) => {
                repo(name)?;
                match m {
                    Method::GET => uploads::status(call, name, id).await,
                    Method::PATCH => uploads::patch(call, name, id).await,
                    Method::PUT => uploads::finish(call, name, id).await,
                    Method::DELETE => uploads::cancel(call, name, id).await,
                    _ => Err(not_allowed()),
                }
            }
            (Route::Unknown, _) => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                crate::errors::Code::NameUnknown,
                "no such endpoint",
            )),
            _ => Err(not_allowed()),
        }
    }
}

fn not_allowed() -> ApiError {
    ApiError::unsupported("method not allowed on this endpoint")
}

fn body_len(resp: &Resp) -> u64 {
    resp.headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
