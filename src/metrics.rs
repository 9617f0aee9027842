//! Prometheus metrics and `/healthz` for on-call dashboards.
//!
//! Counters are updated once per poll (and per request in the client), never per event, so the
//! hot path pays nothing. The text exposition format is small enough to write by hand, which
//! keeps the label set exactly as documented.

use crate::api::MimecastClient;
use crate::state::StreamKey;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// What one poll added, as counted by the stream that ran it.
#[derive(Debug, Default, Clone, Copy)]
pub struct PollCounts {
    pub records: u64,
    pub duplicates: u64,
    pub pages: u64,
}

/// `/healthz` fails when the daemon's heartbeat is older than this.
pub const HEARTBEAT_STALE: Duration = Duration::from_secs(60);

#[derive(Debug, Default, Clone)]
pub struct StreamMetrics {
    pub events: u64,
    pub duplicates: u64,
    pub pages: u64,
    pub polls: u64,
    pub poll_failures: u64,
    pub poll_seconds_sum: f64,
    pub covered_until: Option<OffsetDateTime>,
    pub last_success: Option<OffsetDateTime>,
    pub up: bool,
}

#[derive(Default)]
pub struct Metrics {
    streams: Mutex<BTreeMap<StreamKey, StreamMetrics>>,
    clients: Mutex<Vec<MimecastClient>>,
    sink_bytes: AtomicU64,
    files_quarantined: AtomicU64,
    heartbeat: AtomicI64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Metrics {
    pub fn register_client(&self, client: &MimecastClient) {
        lock(&self.clients).push(client.clone());
    }

    pub fn register_stream(&self, key: &StreamKey) {
        lock(&self.streams).entry(key.clone()).or_default();
    }

    pub fn forget_stream(&self, key: &StreamKey) {
        lock(&self.streams).remove(key);
    }

    /// A page confirmed durable, while its poll may still go on: events, pages and coverage
    /// move with every page, so a long backfill shows progress (and the stream is up).
    pub fn page_committed(
        &self,
        key: &StreamKey,
        page: &PollCounts,
        covered_until: Option<OffsetDateTime>,
    ) {
        let mut streams = lock(&self.streams);
        let m = streams.entry(key.clone()).or_default();
        m.events += page.records;
        m.duplicates += page.duplicates;
        m.pages += page.pages;
        m.covered_until = covered_until.or(m.covered_until);
        m.up = true;
    }

    /// A poll ended well. Its pages were counted as they were committed
    /// ([`Metrics::page_committed`]); `report` is only for drivers that do not count pages.
    pub fn poll_succeeded(
        &self,
        key: &StreamKey,
        report: &PollCounts,
        seconds: f64,
        covered_until: Option<OffsetDateTime>,
    ) {
        let mut streams = lock(&self.streams);
        let m = streams.entry(key.clone()).or_default();
        m.events += report.records;
        m.duplicates += report.duplicates;
        m.pages += report.pages;
        m.polls += 1;
        m.poll_seconds_sum += seconds;
        m.last_success = Some(OffsetDateTime::now_utc());
        m.covered_until = covered_until.or(m.covered_until);
        m.up = true;
    }

    pub fn poll_failed(&self, key: &StreamKey, seconds: f64) {
        let mut streams = lock(&self.streams);
        let m = streams.entry(key.clone()).or_default();
        m.polls += 1;
        m.poll_failures += 1;
        m.poll_seconds_sum += seconds;
        m.up = false;
    }

    pub fn file_quarantined(&self) {
        self.files_quarantined.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_sink_bytes(&self, n: u64) {
        self.sink_bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub fn beat(&self) {
        self.heartbeat.store(
            OffsetDateTime::now_utc().unix_timestamp(),
            Ordering::Relaxed,
        );
    }

    pub fn healthy(&self) -> bool {
        let last = self.heartbeat.load(Ordering::Relaxed);
        last > 0
            && OffsetDateTime::now_utc().unix_timestamp() - last <= HEARTBEAT_STALE.as_secs() as i64
    }

    pub fn snapshot(&self) -> BTreeMap<StreamKey, StreamMetrics> {
        lock(&self.streams).clone()
    }

    /// A one-line summary for systemd's STATUS=.
    pub fn summary(&self) -> String {
        let streams = lock(&self.streams);
        let events: u64 = streams.values().map(|m| m.events).sum();
        let failing = streams.values().filter(|m| m.polls > 0 && !m.up).count();
        format!(
            "{} streams, {events} events written, {failing} failing",
            streams.len()
        )
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let now = OffsetDateTime::now_utc();
        let streams = self.snapshot();
        let mut out = String::new();
        let labels = |k: &StreamKey| {
            format!(
                "tenant=\"{}\",stream=\"{}\",part=\"{}\"",
                escape(&k.tenant),
                escape(&k.stream),
                escape(&k.part)
            )
        };
        let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, String)>| {
            let _ = writeln!(
                out,
                "# HELP mimecast_collector_{name} {help}\n# TYPE mimecast_collector_{name} {kind}"
            );
            for (l, v) in rows {
                let _ = writeln!(out, "mimecast_collector_{name}{{{l}}} {v}");
            }
        };
        let per = |f: &dyn Fn(&StreamMetrics) -> Option<String>| -> Vec<(String, String)> {
            streams
                .iter()
                .filter_map(|(k, m)| f(m).map(|v| (labels(k), v)))
                .collect()
        };
        family(
            "events_total",
            "counter",
            "Events written, per tenant and stream.",
            per(&|m| Some(m.events.to_string())),
        );
        family(
            "duplicates_dropped_total",
            "counter",
            "Re-read records dropped by id.",
            per(&|m| Some(m.duplicates.to_string())),
        );
        family(
            "pages_total",
            "counter",
            "Pages committed.",
            per(&|m| Some(m.pages.to_string())),
        );
        family(
            "polls_total",
            "counter",
            "Polls started.",
            per(&|m| Some(m.polls.to_string())),
        );
        family(
            "poll_failures_total",
            "counter",
            "Polls that ended in an error.",
            per(&|m| Some(m.poll_failures.to_string())),
        );
        family(
            "poll_duration_seconds_sum",
            "counter",
            "Time spent polling.",
            per(&|m| Some(format!("{:.3}", m.poll_seconds_sum))),
        );
        family(
            "stream_up",
            "gauge",
            "1 when the stream's last poll succeeded.",
            per(&|m| Some(u8::from(m.up).to_string())),
        );
        family(
            "lag_seconds",
            "gauge",
            "How far the stream's checkpoint is behind now.",
            per(&|m| {
                m.covered_until
                    .or(m.last_success)
                    .map(|t| format!("{:.0}", (now - t).as_seconds_f64().max(0.0)))
            }),
        );
        family(
            "checkpoint_age_seconds",
            "gauge",
            "Time since the stream last committed a poll.",
            per(&|m| {
                m.last_success
                    .map(|t| format!("{:.0}", (now - t).as_seconds_f64().max(0.0)))
            }),
        );
        let clients = lock(&self.clients).clone();
        let tenant_rows = |f: &dyn Fn(&MimecastClient) -> u64| -> Vec<(String, String)> {
            clients
                .iter()
                .map(|c| {
                    (
                        format!("tenant=\"{}\"", escape(c.tenant())),
                        f(c).to_string(),
                    )
                })
                .collect()
        };
        let mut by_status = Vec::new();
        for c in &clients {
            for (status, n) in c.stats().by_status() {
                by_status.push((
                    format!("tenant=\"{}\",status=\"{status}\"", escape(c.tenant())),
                    n.to_string(),
                ));
            }
        }
        family(
            "requests_total",
            "counter",
            "HTTP requests to Mimecast by status (0: no response).",
            by_status,
        );
        family(
            "rate_limited_total",
            "counter",
            "429 answers from Mimecast.",
            tenant_rows(&|c| c.stats().rate_limited()),
        );
        family(
            "retries_total",
            "counter",
            "Requests retried after a transient error.",
            tenant_rows(&|c| c.stats().retries()),
        );
        family(
            "token_refreshes_total",
            "counter",
            "API 2.0 access tokens fetched.",
            tenant_rows(&|c| c.token_fetches()),
        );
        let _ = writeln!(out, "# HELP mimecast_collector_sink_bytes_total Bytes written to the output.\n# TYPE mimecast_collector_sink_bytes_total counter\nmimecast_collector_sink_bytes_total {}", self.sink_bytes.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP mimecast_collector_files_quarantined_total SIEM files skipped after repeated decode failures (listed by `status`).\n# TYPE mimecast_collector_files_quarantined_total counter\nmimecast_collector_files_quarantined_total {}", self.files_quarantined.load(Ordering::Relaxed));
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serves `/metrics` and `/healthz` on `listener` until `stop`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    use axum::http::{header, StatusCode};
    use axum::routing::get;
    let m = metrics.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = m.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        m.render(),
                    )
                }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let m = metrics.clone();
                async move {
                    if m.healthy() {
                        (StatusCode::OK, "ok\n")
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "stalled: no heartbeat from the scheduler\n",
                        )
                    }
                }
            }),
        );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

/// Binds the metrics listener (config `[metrics] listen`).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges_with_labels() {
        let m = Metrics::default();
        let key = StreamKey::new("acme", "siem_cg", "url protect");
        m.poll_succeeded(
            &key,
            &PollCounts {
                records: 7,
                pages: 2,
                ..Default::default()
            },
            0.5,
            Some(OffsetDateTime::now_utc() - time::Duration::seconds(90)),
        );
        m.add_sink_bytes(1234);
        m.file_quarantined();
        let text = m.render();
        assert!(text.contains("mimecast_collector_events_total{tenant=\"acme\",stream=\"siem_cg\",part=\"url protect\"} 7"), "{text}");
        assert!(text.contains("mimecast_collector_stream_up{tenant=\"acme\",stream=\"siem_cg\",part=\"url protect\"} 1"));
        assert!(text.contains("mimecast_collector_sink_bytes_total 1234"));
        assert!(text.contains("mimecast_collector_files_quarantined_total 1"));
        let lag: f64 = text
            .lines()
            .find(|l| l.starts_with("mimecast_collector_lag_seconds{"))
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((89.0..=100.0).contains(&lag), "{lag}");
        assert!(!m.healthy(), "no heartbeat yet");
        m.beat();
        assert!(m.healthy());
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
