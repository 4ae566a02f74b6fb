//! Users: HTTP Basic authentication against a bcrypt htpasswd file (as `htpasswd -B` writes
//! it), who may write (`--writers`), and the defences around it.
//!
//! * bcrypt is paid once per credential: a verified `user:password` is remembered as a salted
//!   SHA-256 of both (never the password), compared in constant time on later requests.
//! * Repeated bad passwords from one address for one user are throttled: after
//!   [`MAX_FAILURES`] within [`WINDOW`], that pair gets `429` until the window ends.
//! * An unknown user costs a bcrypt verification like a known one, so timing does not tell
//!   which names exist.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use hyper::HeaderMap;
use hyper::StatusCode;
use sha2::{Digest as _, Sha256};

use crate::errors::{ApiError, Code};
use crate::metrics::Metrics;

/// Bad passwords allowed per address and user within [`WINDOW`].
pub(crate) const MAX_FAILURES: u32 = 5;
/// The throttling window.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Remembered credentials and failure records at most (then the oldest state is dropped).
const MAX_ENTRIES: usize = 10_000;

/// Who is asking and what they may do.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    /// The authenticated user (`None` when access is open).
    pub(crate) user: Option<String>,
    /// May push and delete.
    pub(crate) can_write: bool,
}

impl Access {
    /// Open access (no `--htpasswd`): anyone may read and write.
    pub(crate) fn anonymous_writer() -> Access {
        Access {
            user: None,
            can_write: true,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

/// The user database and its caches.
pub(crate) struct Auth {
    users: HashMap<String, String>,
    writers: Option<HashSet<String>>,
    salt: [u8; 16],
    /// A bcrypt hash of a random password, verified against for unknown users.
    decoy: String,
    verified: Mutex<HashMap<String, [u8; 32]>>,
    failures: Mutex<HashMap<(IpAddr, String), Failures>>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("users", &self.users.len())
            .field("writers", &self.writers)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Equal without an early exit, so timing does not reveal how much of a secret matched.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    let mut buf = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(buf)
}

/// Parses htpasswd text: `user:$2y$…` lines, `#` comments and blank lines ignored.
fn parse_htpasswd(path: &Path, text: &str) -> Result<HashMap<String, String>, String> {
    let mut users = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{}:{}", path.display(), i + 1);
        let (user, hash) = line
            .split_once(':')
            .ok_or_else(|| format!("{at}: expected user:hash"))?;
        if user.is_empty() {
            return Err(format!("{at}: empty user name"));
        }
        if !(hash.starts_with("$2y$") || hash.starts_with("$2a$") || hash.starts_with("$2b$")) {
            return Err(format!(
                "{at}: user {user:?} does not have a bcrypt hash (create it with htpasswd -B)"
            ));
        }
        if users.insert(user.to_string(), hash.to_string()).is_some() {
            return Err(format!("{at}: user {user:?} is listed twice"));
        }
    }
    if users.is_empty() {
        return Err(format!("{}: no users", path.display()));
    }
    Ok(users)
}

impl Auth {
    /// Loads the htpasswd file; `writers` (if given) must all be users in it.
    pub(crate) fn load(path: &Path, writers: Option<Vec<String>>) -> Result<Auth, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--htpasswd {}: {e}", path.display()))?;
        let users = parse_htpasswd(path, &text)?;
        let writers = match writers {
            None => None,
            Some(w) => {
                for name in &w {
                    if !users.contains_key(name) {
                        return Err(format!(
                            "--writers: {name:?} is not a user in {}",
                            path.display()
                        ));
                    }
                }
                Some(w.into_iter().collect())
            }
        };
        let cost = users
            .values()
            .filter_map(|h| h.get(4..6)?.parse::<u32>().ok())
            .next()
            .unwrap_or(bcrypt::DEFAULT_COST);
        let decoy_password = random_bytes::<16>()?;
        let decoy = bcrypt::hash(decoy_password, cost)
            .map_err(|e| format!("cannot prepare the password check: {e}"))?;
        Ok(Auth {
            users,
            writers,
            salt: random_bytes()?,
            decoy,
            verified: Mutex::default(),
            failures: Mutex::default(),
        })
    }

    fn credential_key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(user.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    fn challenge(why: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, Code::Unauthorized, why).header(
            "WWW-Authenticate",
            "Basic realm=\"registryd\", charset=\"UTF-8\"",
        )
    }

    fn throttled(&self, ip: IpAddr, user: &str) -> Option<Duration> {
        let f = lock(&self.failures).get(&(ip, user.to_string())).copied()?;
        let age = f.since.elapsed();
        (f.count >= MAX_FAILURES && age < WINDOW).then(|| WINDOW - age)
    }

    fn record_failure(&self, ip: IpAddr, user: &str) {
        let mut map = lock(&self.failures);
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, f| f.since.elapsed() < WINDOW);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        let e = map.entry((ip, user.to_string())).or_insert(Failures {
            count: 0,
            since: Instant::now(),
        });
        if e.since.elapsed() >= WINDOW {
            *e = Failures {
                count: 0,
                since: Instant::now(),
            };
        }
        e.count += 1;
    }

    fn access_of(&self, user: &str) -> Access {
        Access {
            user: Some(user.to_string()),
            can_write: self.writers.as_ref().is_none_or(|w| w.contains(user)),
        }
    }

    /// Authenticates a request from its `Authorization` header.
    pub(crate) async fn check(
        &self,
        headers: &HeaderMap,
        ip: IpAddr,
        metrics: &Metrics,
    ) -> Result<Access, ApiError> {
        let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return Err(Auth::challenge("authentication required"));
        };
        let Some(b64) = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
        else {
            return Err(Auth::challenge("only Basic authentication is supported"));
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| Auth::challenge("malformed Basic credentials"))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| Auth::challenge("malformed Basic credentials"))?;
        let key = self.credential_key(user, password);
        if let Some(known) = lock(&self.verified).get(user)
            && ct_eq(known, &key)
        {
            return Ok(self.access_of(user));
        }
        if let Some(wait) = self.throttled(ip, user) {
            metrics.auth_failure();
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                Code::TooManyRequests,
                "too many failed logins; try again later",
            )
            .header("Retry-After", &(wait.as_secs() + 1).to_string()));
        }
        let hash = self
            .users
            .get(user)
            .cloned()
            .unwrap_or_else(|| self.decoy.clone());
        let known_user = self.users.contains_key(user);
        let pw = password.to_string();
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(pw, &hash).unwrap_or(false))
            .await
            .unwrap_or(false)
            && known_user;
        if !ok {
            metrics.auth_failure();
            self.record_failure(ip, user);
            return Err(Auth::challenge("wrong user name or password"));
        }
        let mut v = lock(&self.verified);
        if v.len() >= MAX_ENTRIES {
            v.clear();
        }
        v.insert(user.to_string(), key);
        drop(v);
        lock(&self.failures).remove(&(ip, user.to_string()));
        Ok(self.access_of(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htpasswd_needs_bcrypt_entries() {
        let p = Path::new("users");
        let ok = parse_htpasswd(p, "# c\n\nalice:$2y$05$abc\n").expect("valid");
        assert_eq!(ok.len(), 1);
        let e = parse_htpasswd(p, "bob:{SHA}xyz\n").expect_err("sha1");
        assert!(e.contains("users:1") && e.contains("htpasswd -B"), "{e}");
        assert!(parse_htpasswd(p, "a:$2y$x\na:$2y$y\n").is_err());
        assert!(parse_htpasswd(p, "nocolon\n").is_err());
        assert!(parse_htpasswd(p, "").is_err());
    }

    #[test]
    fn constant_time_compare_is_exact() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
