//! `/metrics`: request counts by method and status, latency histogram, bytes sent, requests in
//! flight, failed logins, upload sessions started, and the store's uploads, in the Prometheus
//! text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use hyper::{Method, StatusCode};

use crate::app::App;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0];

/// The counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    duration_us: AtomicU64,
    count: AtomicU64,
    bytes_sent: AtomicU64,
    in_flight: AtomicI64,
    auth_failures: AtomicU64,
    uploads_started: AtomicU64,
}

impl Metrics {
    pub(crate) fn in_flight(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    pub(crate) fn auth_failure(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn upload_started(&self) {
        self.uploads_started.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a finished request (`bytes`: the response's declared length).
    pub(crate) fn request(&self, method: &Method, status: StatusCode, took: Duration, bytes: u64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((method.to_string(), status.as_u16()))
            .or_default() += 1;
        let secs = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The text exposition.
    pub(crate) fn render(&self, app: &App) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP registryd_requests_total Requests served, by method and status."
        );
        let _ = writeln!(s, "# TYPE registryd_requests_total counter");
        for ((m, c), n) in self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                s,
                "registryd_requests_total{{method=\"{m}\",code=\"{c}\"}} {n}"
            );
        }
        let _ = writeln!(
            s,
            "# HELP registryd_request_duration_seconds Time to the response head."
        );
        let _ = writeln!(s, "# TYPE registryd_request_duration_seconds histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let n = self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                s,
                "registryd_request_duration_seconds_bucket{{le=\"{b}\"}} {n}"
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            s,
            "registryd_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.duration_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(s, "registryd_request_duration_seconds_sum {sum}");
        let _ = writeln!(s, "registryd_request_duration_seconds_count {count}");
        let simple = [
            (
                "registryd_response_bytes_total",
                "counter",
                "Bytes of response bodies declared.",
                self.bytes_sent.load(Ordering::Relaxed) as i64,
            ),
            (
                "registryd_requests_in_flight",
                "gauge",
                "Requests being served.",
                self.in_flight.load(Ordering::Relaxed),
            ),
            (
                "registryd_auth_failures_total",
                "counter",
                "Failed or throttled logins.",
                self.auth_failures.load(Ordering::Relaxed) as i64,
            ),
            (
                "registryd_upload_sessions_total",
                "counter",
                "Upload sessions started.",
                self.uploads_started.load(Ordering::Relaxed) as i64,
            ),
        ];
        for (name, kind, help, v) in simple {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
        if let Ok(ups) = app.store.uploads() {
            let active = ups.iter().filter(|u| u.active).count();
            let _ = writeln!(
                s,
                "# HELP registryd_store_uploads Resumable uploads in the store.\n# TYPE registryd_store_uploads gauge"
            );
            let _ = writeln!(s, "registryd_store_uploads{{state=\"active\"}} {active}");
            let _ = writeln!(
                s,
                "registryd_store_uploads{{state=\"idle\"}} {}",
                ups.len() - active
            );
        }
        s
    }
}
