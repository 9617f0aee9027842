//! Prometheus metrics and `/healthz` for on-call dashboards.
//!
//! Counters are updated once per committed page or poll (and per request in the client), never
//! per event, so the hot path pays nothing. The exposition is written by `prometheus-client`
//! (the format's escaping, `_total`/`_bucket` naming and `promtool check metrics` rules are its
//! job, not ours); the values live here, in maps keyed by stream and tenant, and are encoded
//! at scrape time by a [`Collector`]. Owning the maps is what lets a reload drop the series of
//! a removed stream or tenant, and carry a tenant's request counters over when its client is
//! rebuilt (new credentials or rate), so a series is never rendered twice and never goes back.

use crate::api::MimecastClient;
use crate::state::StreamKey;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::collections::BTreeMap;
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

/// Upper bounds of the poll duration buckets, in seconds: an idle poll takes well under a
/// second, a page of a SIEM file a few, a backfill poll minutes.
const POLL_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];

#[derive(Debug)]
struct StreamMetrics {
    events: u64,
    duplicates: u64,
    pages: u64,
    polls: u64,
    poll_failures: u64,
    poll_duration: Histogram,
    covered_until: Option<OffsetDateTime>,
    last_success: Option<OffsetDateTime>,
    up: bool,
}

impl Default for StreamMetrics {
    fn default() -> Self {
        StreamMetrics {
            events: 0,
            duplicates: 0,
            pages: 0,
            polls: 0,
            poll_failures: 0,
            poll_duration: Histogram::new(POLL_BUCKETS),
            covered_until: None,
            last_success: None,
            up: false,
        }
    }
}

/// A tenant's request counters: the live client's, plus what the clients it replaced counted.
#[derive(Debug, Default, Clone)]
struct TenantCounts {
    by_status: BTreeMap<u16, u64>,
    rate_limited: u64,
    retries: u64,
    token_refreshes: u64,
}

impl TenantCounts {
    fn of(client: &MimecastClient) -> TenantCounts {
        let stats = client.stats();
        TenantCounts {
            by_status: stats.by_status().into_iter().collect(),
            rate_limited: stats.rate_limited(),
            retries: stats.retries(),
            token_refreshes: client.token_fetches(),
        }
    }

    fn add(&mut self, other: &TenantCounts) {
        for (status, n) in &other.by_status {
            *self.by_status.entry(*status).or_default() += n;
        }
        self.rate_limited += other.rate_limited;
        self.retries += other.retries;
        self.token_refreshes += other.token_refreshes;
    }
}

struct TenantSeries {
    client: MimecastClient,
    retired: TenantCounts,
}

impl std::fmt::Debug for TenantSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantSeries")
            .field("tenant", &self.client.tenant())
            .field("retired", &self.retired)
            .finish()
    }
}

#[derive(Debug, Default)]
struct Values {
    streams: Mutex<BTreeMap<StreamKey, StreamMetrics>>,
    tenants: Mutex<BTreeMap<String, TenantSeries>>,
    sink_bytes: AtomicU64,
    files_quarantined: AtomicU64,
    sink: Mutex<Option<SinkHealth>>,
}

/// The output's failures, labelled by its kind: a Kafka broker down fails every stream's
/// write alike, and one series says so where per-stream failures would not say why.
#[derive(Debug, Clone, Copy)]
struct SinkHealth {
    name: &'static str,
    errors: u64,
    up: bool,
}

/// The daemon's metrics: what the streams, clients and sink report, and the registry that
/// renders them with the build and process metrics.
pub struct Metrics {
    values: Arc<Values>,
    registry: Registry,
    heartbeat: AtomicI64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let values = Arc::new(Values::default());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ProcessCollector));
        let ours = registry.sub_registry_with_prefix("mimecast_collector");
        ours.register(
            "build",
            "The running build's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        ours.register_collector(Box::new(ValuesCollector(values.clone())));
        Metrics {
            values,
            registry,
            heartbeat: AtomicI64::new(0),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Metrics {
    /// Counts `client`'s requests under its tenant. A client that replaces another of the same
    /// tenant (a reload changed its credentials or rate) continues the old one's counters.
    pub fn register_client(&self, client: &MimecastClient) {
        let mut tenants = lock(&self.values.tenants);
        match tenants.get_mut(client.tenant()) {
            Some(series) if series.client.ptr_eq(client) => {}
            Some(series) => {
                let old = TenantCounts::of(&series.client);
                series.retired.add(&old);
                series.client = client.clone();
            }
            None => {
                tenants.insert(
                    client.tenant().to_string(),
                    TenantSeries {
                        client: client.clone(),
                        retired: TenantCounts::default(),
                    },
                );
            }
        }
    }

    /// Drops the series of a tenant that is no longer configured.
    pub fn forget_tenant(&self, tenant: &str) {
        lock(&self.values.tenants).remove(tenant);
    }

    pub fn register_stream(&self, key: &StreamKey) {
        lock(&self.values.streams).entry(key.clone()).or_default();
    }

    /// Drops the series of a stream that is no longer configured.
    pub fn forget_stream(&self, key: &StreamKey) {
        lock(&self.values.streams).remove(key);
    }

    /// A page confirmed durable, while its poll may still go on: events, pages and coverage
    /// move with every page, so a long backfill shows progress (and the stream is up).
    pub fn page_committed(
        &self,
        key: &StreamKey,
        page: &PollCounts,
        covered_until: Option<OffsetDateTime>,
    ) {
        let mut streams = lock(&self.values.streams);
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
        let mut streams = lock(&self.values.streams);
        let m = streams.entry(key.clone()).or_default();
        m.events += report.records;
        m.duplicates += report.duplicates;
        m.pages += report.pages;
        m.polls += 1;
        m.poll_duration.observe(seconds);
        m.last_success = Some(OffsetDateTime::now_utc());
        m.covered_until = covered_until.or(m.covered_until);
        m.up = true;
    }

    pub fn poll_failed(&self, key: &StreamKey, seconds: f64) {
        let mut streams = lock(&self.values.streams);
        let m = streams.entry(key.clone()).or_default();
        m.polls += 1;
        m.poll_failures += 1;
        m.poll_duration.observe(seconds);
        m.up = false;
    }

    pub fn file_quarantined(&self) {
        self.values
            .files_quarantined
            .fetch_add(1, Ordering::Relaxed);
    }

    /// The sink took a batch (or is opened and has not failed yet).
    pub fn sink_ok(&self, name: &'static str) {
        let mut sink = lock(&self.values.sink);
        let h = sink.get_or_insert(SinkHealth {
            name,
            errors: 0,
            up: true,
        });
        h.name = name;
        h.up = true;
    }

    /// A write or flush to the sink failed (the batch is retried by its stream).
    pub fn sink_failed(&self, name: &'static str) {
        let mut sink = lock(&self.values.sink);
        let h = sink.get_or_insert(SinkHealth {
            name,
            errors: 0,
            up: false,
        });
        h.name = name;
        h.errors += 1;
        h.up = false;
    }

    pub fn add_sink_bytes(&self, n: u64) {
        self.values.sink_bytes.fetch_add(n, Ordering::Relaxed);
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

    /// A one-line summary for systemd's STATUS=.
    pub fn summary(&self) -> String {
        let streams = lock(&self.values.streams);
        let events: u64 = streams.values().map(|m| m.events).sum();
        let failing = streams.values().filter(|m| m.polls > 0 && !m.up).count();
        format!(
            "{} streams, {events} events written, {failing} failing",
            streams.len()
        )
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            // Writing to a String does not fail; a collector that did would leave half a scrape.
            tracing::error!(error = %e, "metrics could not be rendered");
        }
        out
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

type Labels<'a> = [(&'static str, &'a str); 3];

fn stream_labels(k: &StreamKey) -> Labels<'_> {
    [
        ("tenant", k.tenant.as_str()),
        ("stream", k.stream.as_str()),
        ("part", k.part.as_str()),
    ]
}

/// Encodes the per-stream and per-tenant values at scrape time.
#[derive(Debug)]
struct ValuesCollector(Arc<Values>);

/// One family whose samples are computed from the values: `rows` yields a label set and a
/// value (or nothing, for a stream that has none yet).
fn family<L, M, I>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric_type: MetricType,
    rows: I,
) -> Result<(), std::fmt::Error>
where
    L: prometheus_client::encoding::EncodeLabelSet,
    M: EncodeMetric,
    I: IntoIterator<Item = (L, M)>,
{
    let mut family = encoder.encode_descriptor(name, help, unit, metric_type)?;
    for (labels, metric) in rows {
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for ValuesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = OffsetDateTime::now_utc();
        let age = |t: OffsetDateTime| (now - t).as_seconds_f64().max(0.0).round() as i64;
        {
            let streams = lock(&self.0.streams);
            let counter = |f: fn(&StreamMetrics) -> u64| {
                streams
                    .iter()
                    .map(move |(k, m)| (stream_labels(k), ConstCounter::new(f(m))))
            };
            let c = MetricType::Counter;
            family(
                &mut encoder,
                "events",
                "Events written",
                None,
                c,
                counter(|m| m.events),
            )?;
            family(
                &mut encoder,
                "duplicates_dropped",
                "Re-read records dropped by id",
                None,
                c,
                counter(|m| m.duplicates),
            )?;
            family(
                &mut encoder,
                "pages",
                "Pages committed",
                None,
                c,
                counter(|m| m.pages),
            )?;
            family(
                &mut encoder,
                "polls",
                "Polls ended",
                None,
                c,
                counter(|m| m.polls),
            )?;
            family(
                &mut encoder,
                "poll_failures",
                "Polls that ended in an error",
                None,
                c,
                counter(|m| m.poll_failures),
            )?;
            let mut hist = encoder.encode_descriptor(
                "poll_duration",
                "How long polls took, failed ones included",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            for (k, m) in streams.iter() {
                m.poll_duration
                    .encode(hist.encode_family(&stream_labels(k))?)?;
            }
            let g = MetricType::Gauge;
            family(
                &mut encoder,
                "stream_up",
                "1 when the stream's last poll (or page) succeeded",
                None,
                g,
                streams
                    .iter()
                    .map(|(k, m)| (stream_labels(k), ConstGauge::new(i64::from(m.up)))),
            )?;
            family(
                &mut encoder,
                "lag",
                "Time since the stream was last known complete up to a point",
                Some(&Unit::Seconds),
                g,
                streams.iter().filter_map(|(k, m)| {
                    let t = m.covered_until.or(m.last_success)?;
                    Some((stream_labels(k), ConstGauge::new(age(t))))
                }),
            )?;
            family(
                &mut encoder,
                "checkpoint_age",
                "Time since the stream last ended a poll well",
                Some(&Unit::Seconds),
                g,
                streams.iter().filter_map(|(k, m)| {
                    let t = m.last_success?;
                    Some((stream_labels(k), ConstGauge::new(age(t))))
                }),
            )?;
        }
        let tenants: Vec<(String, TenantCounts)> = lock(&self.0.tenants)
            .iter()
            .map(|(name, s)| {
                let mut counts = s.retired.clone();
                counts.add(&TenantCounts::of(&s.client));
                (name.clone(), counts)
            })
            .collect();
        let mut requests = encoder.encode_descriptor(
            "requests",
            "HTTP requests to Mimecast by status (0: no response)",
            None,
            MetricType::Counter,
        )?;
        for (tenant, counts) in &tenants {
            for (status, n) in &counts.by_status {
                let status = status.to_string();
                let labels = [("tenant", tenant.as_str()), ("status", status.as_str())];
                ConstCounter::new(*n).encode(requests.encode_family(&labels)?)?;
            }
        }
        let per_tenant = |f: fn(&TenantCounts) -> u64| {
            tenants
                .iter()
                .map(move |(t, c)| ([("tenant", t.as_str())], ConstCounter::new(f(c))))
        };
        let c = MetricType::Counter;
        family(
            &mut encoder,
            "rate_limited",
            "429 answers from Mimecast",
            None,
            c,
            per_tenant(|c| c.rate_limited),
        )?;
        family(
            &mut encoder,
            "retries",
            "Requests retried after a transient error",
            None,
            c,
            per_tenant(|c| c.retries),
        )?;
        family(
            &mut encoder,
            "token_refreshes",
            "API 2.0 access tokens fetched",
            None,
            c,
            per_tenant(|c| c.token_refreshes),
        )?;
        ConstCounter::new(self.0.sink_bytes.load(Ordering::Relaxed)).encode(
            encoder.encode_descriptor(
                "sink",
                "Bytes written to the output",
                Some(&Unit::Bytes),
                MetricType::Counter,
            )?,
        )?;
        let sink = *lock(&self.0.sink);
        family(
            &mut encoder,
            "sink_errors",
            "Writes to the output that failed (for Kafka: batches the brokers did not acknowledge)",
            None,
            MetricType::Counter,
            sink.map(|h| ([("sink", h.name)], ConstCounter::new(h.errors))),
        )?;
        family(
            &mut encoder,
            "sink_up",
            "1 when the last write to the output succeeded",
            None,
            MetricType::Gauge,
            sink.map(|h| ([("sink", h.name)], ConstGauge::new(i64::from(h.up)))),
        )?;
        ConstCounter::new(self.0.files_quarantined.load(Ordering::Relaxed)).encode(
            encoder.encode_descriptor(
                "files_quarantined",
                "SIEM files skipped after repeated decode failures (listed by `status`)",
                None,
                MetricType::Counter,
            )?,
        )?;
        Ok(())
    }
}

/// The standard `process_*` metrics (CPU, memory, file descriptors, threads, start time), read
/// from `/proc/self` at scrape time under the names every Prometheus client uses. Where `/proc`
/// cannot be read (not Linux, or hidden) they are left out rather than reported as zero.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(me) = procfs::process::Process::myself() else {
            return Ok(());
        };
        let gauge = |encoder: &mut DescriptorEncoder, name: &str, help: &str, v: f64| {
            ConstGauge::new(v).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)
        };
        if let Ok(stat) = me.stat() {
            let ticks = procfs::ticks_per_second() as f64;
            ConstCounter::new((stat.utime + stat.stime) as f64 / ticks).encode(
                encoder.encode_descriptor(
                    "process_cpu",
                    "Total user and system CPU time spent in seconds",
                    Some(&Unit::Seconds),
                    MetricType::Counter,
                )?,
            )?;
            gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                (stat.rss * procfs::page_size()) as f64,
            )?;
            gauge(
                &mut encoder,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                stat.vsize as f64,
            )?;
            gauge(
                &mut encoder,
                "process_threads",
                "Number of OS threads in the process",
                stat.num_threads as f64,
            )?;
            if let Some(boot) = boot_time() {
                gauge(
                    &mut encoder,
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds",
                    boot + stat.starttime as f64 / ticks,
                )?;
            }
        }
        if let Ok(n) = me.fd_count() {
            gauge(
                &mut encoder,
                "process_open_fds",
                "Number of open file descriptors",
                n as f64,
            )?;
        }
        if let Ok(limits) = me.limits() {
            if let procfs::process::LimitValue::Value(n) = limits.max_open_files.soft_limit {
                gauge(
                    &mut encoder,
                    "process_max_fds",
                    "Maximum number of open file descriptors",
                    n as f64,
                )?;
            }
        }
        Ok(())
    }
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
                async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], m.render()) }
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

/// When the machine booted, in seconds since the epoch: now minus the time since boot. Read
/// from the clocks rather than `/proc/stat`, which the unit's `ProcSubset=pid` hides.
fn boot_time() -> Option<f64> {
    let mut since_boot = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to the pointer it is given, which is valid.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut since_boot) } != 0 {
        return None;
    }
    let now = OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
    Some(now - (since_boot.tv_sec as f64 + since_boot.tv_nsec as f64 / 1e9))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn renders_counters_gauges_and_histograms_with_labels() {
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
        m.poll_failed(&key, 20.0);
        m.add_sink_bytes(1234);
        m.file_quarantined();
        let text = m.render();
        let labels = r#"{tenant="acme",stream="siem_cg",part="url protect"}"#;
        let at = |name: &str| sample(&text, &format!("mimecast_collector_{name}{labels}"));
        assert_eq!(at("events_total"), Some(7.0), "{text}");
        assert_eq!(at("pages_total"), Some(2.0));
        assert_eq!(at("polls_total"), Some(2.0));
        assert_eq!(at("poll_failures_total"), Some(1.0));
        assert_eq!(at("stream_up"), Some(0.0), "the last poll failed");
        assert_eq!(at("poll_duration_seconds_count"), Some(2.0));
        assert_eq!(at("poll_duration_seconds_sum"), Some(20.5));
        let bucket = |le: &str| {
            sample(
                &text,
                &format!(
                    r#"mimecast_collector_poll_duration_seconds_bucket{{tenant="acme",stream="siem_cg",part="url protect",le="{le}"}}"#
                ),
            )
        };
        assert_eq!(bucket("0.5"), Some(1.0), "{text}");
        assert_eq!(bucket("10"), Some(1.0), "{text}");
        assert_eq!(bucket("30"), Some(2.0));
        assert_eq!(bucket("+Inf"), Some(2.0));
        let lag = at("lag_seconds").expect("lag");
        assert!((89.0..=100.0).contains(&lag), "{lag}");
        assert_eq!(
            sample(&text, "mimecast_collector_sink_bytes_total"),
            Some(1234.0)
        );
        assert_eq!(
            sample(&text, "mimecast_collector_files_quarantined_total"),
            Some(1.0)
        );
        assert!(text.contains(&format!(
            "mimecast_collector_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(
            sample(&text, "process_resident_memory_bytes").is_some_and(|v| v > 0.0),
            "{text}"
        );
        assert!(sample(&text, "process_cpu_seconds_total").is_some());
        // Started within the last hour (the test process), not at the epoch or in the future.
        let started = sample(&text, "process_start_time_seconds").expect("start time");
        let now = OffsetDateTime::now_utc().unix_timestamp() as f64;
        assert!(
            started <= now + 1.0 && started > now - 3600.0,
            "{started} vs {now}"
        );
        assert!(!m.healthy(), "no heartbeat yet");
        m.beat();
        assert!(m.healthy());
    }

    /// A broker down shows as one series: the output's failures, not only every stream's.
    #[test]
    fn sink_failures_are_counted_and_the_sink_goes_down_then_up() {
        let m = Metrics::default();
        assert!(
            !m.render().contains("sink_up{"),
            "no series before a sink is opened"
        );
        m.sink_ok("kafka");
        assert!(m
            .render()
            .contains("mimecast_collector_sink_up{sink=\"kafka\"} 1"));
        m.sink_failed("kafka");
        m.sink_failed("kafka");
        let text = m.render();
        assert!(
            text.contains("mimecast_collector_sink_errors_total{sink=\"kafka\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("mimecast_collector_sink_up{sink=\"kafka\"} 0"),
            "{text}"
        );
        m.sink_ok("kafka");
        assert!(m
            .render()
            .contains("mimecast_collector_sink_up{sink=\"kafka\"} 1"));
    }

    #[test]
    fn a_forgotten_stream_leaves_no_series() {
        let m = Metrics::default();
        let gone = StreamKey::new("acme", "audit", "");
        let kept = StreamKey::new("acme", "ttp_url", "");
        m.register_stream(&gone);
        m.register_stream(&kept);
        m.page_committed(
            &gone,
            &PollCounts {
                records: 3,
                ..Default::default()
            },
            None,
        );
        assert!(m.render().contains(r#"stream="audit""#));
        m.forget_stream(&gone);
        let text = m.render();
        assert!(!text.contains(r#"stream="audit""#), "{text}");
        assert!(text.contains(r#"stream="ttp_url""#), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.register_stream(&StreamKey::new("a\"b\\c", "audit", ""));
        let text = m.render();
        assert!(
            text.contains(
                r#"mimecast_collector_events_total{tenant="a\"b\\c",stream="audit",part=""} 0"#
            ),
            "{text}"
        );
    }
}
