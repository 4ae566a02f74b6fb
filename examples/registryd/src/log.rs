//! The request log: one line per request on stderr, with no secrets (no headers at all, so no
//! `Authorization`; no query string) and control characters escaped.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::{Method, StatusCode};

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for a time since the Unix epoch.
pub(crate) fn utc(t: Duration) -> String {
    registry_core::utc::rfc3339_millis(i64::try_from(t.as_millis()).unwrap_or(i64::MAX))
}

/// Writes a message line (startup, shutdown, errors outside requests).
pub(crate) fn event(msg: &str) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    eprintln!("{} registryd: {}", utc(now), msg.escape_debug());
}

/// Writes the line of one request.
pub(crate) fn request(
    peer: SocketAddr,
    method: &Method,
    path: &str,
    status: StatusCode,
    took: Duration,
    user: Option<&str>,
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let path: String = path.chars().take(512).collect();
    eprintln!(
        "{} {peer} {method} {} {} {:.1}ms user={}",
        utc(now),
        path.escape_debug(),
        status.as_u16(),
        took.as_secs_f64() * 1000.0,
        user.map(|u| u.escape_debug().to_string())
            .unwrap_or_else(|| "-".into())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(Duration::from_secs(0)), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 12:34:56 UTC is 951827696 s after the epoch (a leap day).
        assert_eq!(
            utc(Duration::from_millis(951_827_696_789)),
            "2000-02-29T12:34:56.789Z"
        );
        // 2026-12-01 00:00:00 UTC: 20788 days after the epoch.
        assert_eq!(
            utc(Duration::from_secs(20_788 * 86_400)),
            "2026-12-01T00:00:00.000Z"
        );
    }
}
