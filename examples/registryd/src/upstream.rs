//! The upstream registry of Proxy mode: where `<namespace>/<repo>` is fetched from
//! (`<path>/<repo>` on `--upstream https://host[:port]/path`), over TLS with the system roots or
//! `--upstream-ca`, authenticating the way the upstream asks: a Bearer token from its realm
//! (service and scope from the challenge, the credentials sent as Basic to the realm) or Basic.
//! Tokens are cached per scope until shortly before they expire. The password is never logged
//! and never part of an error or `Debug` output.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::repos::Repository;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// How long one upstream request may take to answer (its head) before it counts as unreachable.
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// A token is renewed this long before the upstream said it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(10);

/// Credentials for the upstream.
#[derive(Clone)]
pub(crate) struct Credentials {
    user: String,
    password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.user)
    }
}

impl Credentials {
    /// The user and the password from the first line of `password_file`.
    pub(crate) fn load(user: &str, password_file: &Path) -> Result<Credentials, String> {
        let text = std::fs::read_to_string(password_file)
            .map_err(|e| format!("--upstream-password-file {}: {e}", password_file.display()))?;
        let password = text.lines().next().unwrap_or("").to_string();
        if password.is_empty() {
            return Err(format!(
                "--upstream-password-file {}: empty",
                password_file.display()
            ));
        }
        Ok(Credentials {
            user: user.to_string(),
            password,
        })
    }

    fn basic(&self) -> String {
        let raw = format!("{}:{}", self.user, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Why the upstream could not answer.
#[derive(Debug)]
pub(crate) enum UpstreamError {
    /// No answer in time, connection refused, TLS failure: the upstream is unreachable.
    Unreachable(String),
    /// It answered, with this status.
    Status(StatusCode),
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::Unreachable(why) => write!(f, "upstream unreachable: {why}"),
            UpstreamError::Status(s) => write!(f, "upstream answered {s}"),
        }
    }
}

/// The upstream registry.
pub(crate) struct Upstream {
    scheme: String,
    authority: String,
    path: String,
    client: Client<Https, Empty<Bytes>>,
    credentials: Option<Credentials>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    /// Requests carry [`PEER_HEADER`]: this is another master, which must not forward them.
    peer: bool,
}

/// The header a registryd sends to its peers. A request carrying it is answered from the
/// store alone, never forwarded to the receiver's own peers, so two masters that both lack
/// something cannot ask each other for it forever.
pub(crate) const PEER_HEADER: &str = "x-registryd-peer";

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("url", &self.url())
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The parameters of a `WWW-Authenticate` challenge: scheme and `key="value"` pairs.
fn parse_challenge(h: &str) -> (String, HashMap<String, String>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let key = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.insert(key, value.to_string());
        rest = tail.trim_start_matches([',', ' ']);
    }
    (scheme.to_ascii_lowercase(), params)
}

impl Upstream {
    /// An upstream from `--upstream URL` and its options.
    pub(crate) fn new(
        url: &str,
        ca: Option<&Path>,
        credentials: Option<Credentials>,
    ) -> Result<Upstream, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("--upstream {url:?}: not a URL ({e})"))?;
        let scheme = uri.scheme_str().unwrap_or("").to_string();
        if scheme != "https" && scheme != "http" {
            return Err(format!(
                "--upstream {url:?}: must start with https:// or http://"
            ));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("--upstream {url:?}: no host"))?
            .to_string();
        if authority.contains('@') {
            return Err("--upstream: put credentials in --upstream-user and --upstream-password-file, not in the URL".to_string());
        }
        if uri.query().is_some() {
            return Err(format!("--upstream {url:?}: no query allowed"));
        }
        let path = uri.path().trim_matches('/').to_string();
        let mut roots = rustls::RootCertStore::empty();
        match ca {
            Some(ca) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
                    .map_err(|e| format!("--upstream-ca {}: {e}", ca.display()))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("--upstream-ca {}: {e}", ca.display()))?;
                if certs.is_empty() {
                    return Err(format!("--upstream-ca {}: no certificate", ca.display()));
                }
                for c in certs {
                    roots
                        .add(c)
                        .map_err(|e| format!("--upstream-ca {}: {e}", ca.display()))?;
                }
            }
            None => {
                for c in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(c);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Upstream {
            scheme,
            authority,
            path,
            client,
            credentials,
            tokens: Mutex::default(),
            peer: false,
        })
    }

    /// The same client marking its requests as a peer's ([`PEER_HEADER`]).
    pub(crate) fn into_peer(mut self) -> Upstream {
        self.peer = true;
        self
    }

    /// The upstream's URL (no credentials).
    pub(crate) fn url(&self) -> String {
        format!("{}://{}/{}", self.scheme, self.authority, self.path)
    }

    /// The upstream repository name of a store repository.
    fn name(&self, repo: &Repository) -> String {
        match (self.path.is_empty(), repo.is_root()) {
            (true, true) => String::new(),
            (true, false) => repo.as_str().to_string(),
            (false, true) => self.path.clone(),
            (false, false) => format!("{}/{}", self.path, repo.as_str()),
        }
    }

    async fn send(
        &self,
        method: &Method,
        uri: &str,
        accept: Option<&str>,
        auth: Option<&str>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let mut b = Request::builder().method(method.clone()).uri(uri);
        if let Some(a) = accept {
            b = b.header(ACCEPT, a);
        }
        if self.peer {
            b = b.header(PEER_HEADER, "1");
        }
        if let Some(a) = auth
            && let Ok(mut v) = HeaderValue::from_str(a)
        {
            v.set_sensitive(true);
            b = b.header(AUTHORIZATION, v);
        }
        let req = b
            .body(Empty::new())
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        match tokio::time::timeout(ANSWER_TIMEOUT, self.client.request(req)).await {
            Err(_) => Err(UpstreamError::Unreachable(format!(
                "no answer within {}s",
                ANSWER_TIMEOUT.as_secs()
            ))),
            Ok(Err(e)) => Err(UpstreamError::Unreachable(e.to_string())),
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// Gets a Bearer token for `scope` from the challenge's realm.
    async fn token(
        &self,
        params: &HashMap<String, String>,
        scope: &str,
    ) -> Result<String, UpstreamError> {
        let realm = params
            .get("realm")
            .ok_or_else(|| UpstreamError::Unreachable("Bearer challenge without realm".into()))?;
        let mut url = format!("{realm}?scope={}", query_escape(scope));
        if let Some(s) = params.get("service") {
            url.push_str(&format!("&service={}", query_escape(s)));
        }
        let basic = self.credentials.as_ref().map(Credentials::basic);
        let r = self
            .send(&Method::GET, &url, None, basic.as_deref())
            .await?;
        if !r.status().is_success() {
            return Err(UpstreamError::Status(r.status()));
        }
        let body = tokio::time::timeout(ANSWER_TIMEOUT, r.into_body().collect())
            .await
            .map_err(|_| UpstreamError::Unreachable("token response too slow".into()))?
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?
            .to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| UpstreamError::Unreachable("token response is not JSON".into()))?;
        let token = v
            .get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| UpstreamError::Unreachable("token response has no token".into()))?
            .to_string();
        let ttl = v.get("expires_in").and_then(|e| e.as_u64()).unwrap_or(60);
        let until = Instant::now() + Duration::from_secs(ttl).saturating_sub(TOKEN_MARGIN);
        lock(&self.tokens).insert(scope.to_string(), (token.clone(), until));
        Ok(token)
    }

    /// `GET` or `HEAD` of `/v2/<upstream name>/<kind>/<reference>`, authenticating as asked.
    pub(crate) async fn fetch(
        &self,
        method: &Method,
        repo: &Repository,
        kind: &str,
        reference: &str,
        accept: Option<&str>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let name = self.name(repo);
        let path = format!("/v2/{name}/{kind}/{reference}");
        self.request(method, &path, &format!("repository:{name}:pull"), accept)
            .await
    }

    /// The upstream name of a store repository, as the upstream lists it.
    pub(crate) fn name_of(&self, repo: &Repository) -> String {
        self.name(repo)
    }

    /// The store repository of an upstream name (`None` if outside the upstream's path or not
    /// a valid repository path).
    pub(crate) fn repository_of(&self, name: &str) -> Option<Repository> {
        if self.path.is_empty() {
            return Repository::parse(name).ok();
        }
        if name == self.path {
            return Some(Repository::root());
        }
        let rest = name.strip_prefix(&self.path)?.strip_prefix('/')?;
        Repository::parse(rest).ok()
    }

    /// `GET` of any API path (with its query), authenticating for `scope` as asked.
    pub(crate) async fn get(
        &self,
        path: &str,
        scope: &str,
    ) -> Result<Response<Incoming>, UpstreamError> {
        self.request(&Method::GET, path, scope, None).await
    }

    async fn request(
        &self,
        method: &Method,
        path: &str,
        scope: &str,
        accept: Option<&str>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let uri = format!("{}://{}{path}", self.scheme, self.authority);
        let scope = scope.to_string();
        let cached = lock(&self.tokens)
            .get(&scope)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(t, _)| format!("Bearer {t}"));
        let first = self.send(method, &uri, accept, cached.as_deref()).await?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let challenge = first
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let (scheme, params) = parse_challenge(&challenge);
        let auth = match scheme.as_str() {
            "bearer" => format!("Bearer {}", self.token(&params, &scope).await?),
            "basic" => match &self.credentials {
                Some(c) => c.basic(),
                None => return Ok(first),
            },
            _ => return Ok(first),
        };
        self.send(method, &uri, accept, Some(&auth)).await
    }
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses a `--ttl` such as `72h`, `30m`, `1h30m` or `90s`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("--ttl {s:?}: expected a duration such as 72h, 30m, 1h30m or 90s");
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| bad())?;
        num.clear();
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        total = total
            .checked_add(n.checked_mul(unit).ok_or_else(bad)?)
            .ok_or_else(bad)?;
    }
    if !num.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_parsed() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(s, "bearer");
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["service"], "registry.example");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let (s, p) = parse_challenge(r#"Basic realm="x""#);
        assert_eq!((s.as_str(), p["realm"].as_str()), ("basic", "x"));
    }

    #[test]
    fn durations_are_go_style() {
        assert_eq!(parse_duration("72h"), Ok(Duration::from_secs(72 * 3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        for bad in ["", "0s", "h", "5", "5d", "-1h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_never_show_the_password() {
        let c = Credentials {
            user: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
