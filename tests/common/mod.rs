//! Shared helpers for integration tests: a simulator on port 0 and tenant configs that point at it.
#![allow(dead_code)]

pub mod ecs;
pub mod ocsf;
pub mod sweep;

// Not every test crate sweeps for secrets.
#[allow(unused_imports)]
pub use sweep::{assert_no_secret, SecretSet};

use mimecast_collector::api::{HttpSettings, MimecastClient};
use mimecast_collector::config::{
    Credentials, RetryConfig, StreamConfig, StreamKind, TenantConfig, V1Credentials, V2Credentials,
};
use mimecast_sim::{SimConfig, SimTenant, Simulator};
use secrecy::SecretString;
use std::num::NonZeroU32;
use std::time::Duration;

pub async fn start_sim(config: SimConfig) -> Simulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(config, listener).await.unwrap()
}

/// A simulator serving one tenant, "acme", with `records` per stream (see [`sim_config`]).
pub async fn start_acme_sim(records: u64) -> (SimTenant, Simulator) {
    let acme = SimTenant::named("acme");
    let sim = start_sim(SimConfig {
        tenants: vec![acme.clone()],
        ..sim_config(records)
    })
    .await;
    (acme, sim)
}

pub fn fast_retry() -> RetryConfig {
    RetryConfig {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(800),
        max_attempts: 5,
    }
}

pub fn http(request_timeout: Duration) -> reqwest::Client {
    HttpSettings {
        connect_timeout: Duration::from_secs(2),
        request_timeout,
        retry: fast_retry(),
        extra_ca_pem: None,
    }
    .build_http()
    .unwrap()
}

fn streams(kinds: &[StreamKind]) -> Vec<StreamConfig> {
    kinds
        .iter()
        .map(|k| StreamConfig {
            kind: *k,
            poll_interval: Duration::from_secs(60),
            page_size: 100,
            types: vec![],
            feed_types: vec![],
            domains: vec![],
        })
        .collect()
}

pub fn v1_tenant(sim: &Simulator, t: &SimTenant) -> TenantConfig {
    let c = t.v1.as_ref().expect("sim tenant has v1 credentials");
    TenantConfig {
        name: t.name.clone(),
        region: None,
        base_url: url::Url::parse(&sim.base_url()).unwrap(),
        credentials: Credentials::V1(V1Credentials {
            app_id: c.app_id.clone(),
            app_key: SecretString::from(c.app_key.clone()),
            access_key: SecretString::from(c.access_key.clone()),
            secret_key: SecretString::from(c.secret_key.clone()),
        }),
        requests_per_minute: NonZeroU32::new(6000).unwrap(),
        streams: streams(&[StreamKind::TtpUrl]),
    }
}

pub fn v2_tenant(sim: &Simulator, t: &SimTenant) -> TenantConfig {
    let c = t.v2.as_ref().expect("sim tenant has v2 credentials");
    TenantConfig {
        name: t.name.clone(),
        region: None,
        base_url: url::Url::parse(&sim.base_url()).unwrap(),
        credentials: Credentials::V2(V2Credentials {
            client_id: c.client_id.clone(),
            client_secret: SecretString::from(c.client_secret.clone()),
        }),
        requests_per_minute: NonZeroU32::new(6000).unwrap(),
        streams: streams(&[StreamKind::TtpUrl, StreamKind::SiemCg]),
    }
}

pub fn client(tenant: &TenantConfig) -> MimecastClient {
    client_with(tenant, fast_retry(), Duration::from_secs(5))
}

pub fn client_with(tenant: &TenantConfig, retry: RetryConfig, timeout: Duration) -> MimecastClient {
    MimecastClient::new(tenant, http(timeout), retry)
        .unwrap()
        .with_jitter_seed(7)
}

/// A TTP URL request body over the whole simulated backlog (Mimecast's body date format).
pub fn ttp_url_body(page_token: Option<&str>, page_size: u32) -> serde_json::Value {
    let to = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let from = to - time::Duration::days(2);
    let fmt =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+0000");
    let mut pagination = serde_json::json!({"pageSize": page_size});
    if let Some(t) = page_token {
        pagination["pageToken"] = serde_json::Value::String(t.to_string());
    }
    serde_json::json!({
        "meta": {"pagination": pagination},
        "data": [{"from": from.format(fmt).unwrap(), "to": to.format(fmt).unwrap(), "oldestFirst": true}]
    })
}

pub const TTP_URL: &str = "/api/ttp/url/get-logs";

/// A whole collector config pointing at the simulator.
pub fn collector_config(
    tenants: Vec<TenantConfig>,
    state_path: &std::path::Path,
    sink: mimecast_collector::config::SinkKind,
) -> mimecast_collector::config::Config {
    use mimecast_collector::config::*;
    Config {
        collector: CollectorConfig {
            state_path: state_path.to_path_buf(),
            file_group: None,
            poll_interval: Duration::from_secs(60),
            initial_lookback: Duration::from_secs(24 * 3600),
            max_lag: Duration::from_secs(300),
        },
        http: HttpConfig {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            retry: fast_retry(),
            requests_per_minute: NonZeroU32::new(6000).unwrap(),
            // The library's tests drain at full speed; `tests/budgets.rs` tests the budget.
            siem_listing_budget: None,
            file_downloads: mimecast_collector::config::DEFAULT_FILE_DOWNLOADS,
            extra_ca_pem: None,
        },
        sink: SinkConfig {
            kind: sink,
            include_raw: true,
            format: mimecast_collector::render::Format::Native,
        },
        tenants,
        metrics: MetricsConfig::default(),
        shard: None,
    }
}

pub fn with_streams(mut t: TenantConfig, kinds: &[StreamKind]) -> TenantConfig {
    t.streams = streams(kinds);
    t
}

/// Simulator settings whose whole backlog is older than the collector's settle delay.
pub fn sim_config(records: u64) -> SimConfig {
    SimConfig {
        records_per_stream: records,
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(2)),
        ..SimConfig::default()
    }
}

pub fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/event.schema.json"),
    )
    .unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

/// Asserts that the JSON lines in `text` hold, for each `(tenant, stream)`, exactly the
/// simulator's records: none missing, none twice. `stream` may name a part (`siem_cg:receipt`);
/// events are matched on the stream name before the colon.
pub fn assert_exactly_once(
    sim: &mimecast_sim::Simulator,
    text: &str,
    streams: &[(&str, &str)],
    context: &str,
) {
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{context}: invalid JSON line {l:?}: {e}"))
        })
        .collect();
    for (tenant, stream) in streams {
        let base = stream.split(':').next().unwrap_or(stream);
        let mut got: Vec<String> = events
            .iter()
            .filter(|e| e["tenant"] == *tenant && e["stream"] == base)
            .map(|e| listed_record(base, &e["raw"]).to_string())
            .collect();
        got.sort();
        let mut want: Vec<String> = sim
            .expected_records(tenant, stream)
            .iter()
            .map(|r| r.to_string())
            .collect();
        want.sort();
        assert_eq!(
            got.len(),
            want.len(),
            "{context}: {tenant}/{stream}: {} events for {} records",
            got.len(),
            want.len()
        );
        assert!(
            got == want,
            "{context}: {tenant}/{stream}: the records differ"
        );
    }
}

/// The record as the simulator listed it: a `threats` event's raw record is the threat with its
/// details (`{"threat": ..., "details": ...}`), the others are the record itself.
pub fn listed_record<'a>(stream: &str, raw: &'a serde_json::Value) -> &'a serde_json::Value {
    if stream == "threats" {
        &raw["threat"]
    } else {
        raw
    }
}

/// Lines in an output file (0 when it does not exist yet).
pub fn count_lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// A daemon running in-process, as `run` from the command line would, with its stop signal.
pub struct RunningDaemon {
    pub run: tokio::task::JoinHandle<
        Result<mimecast_collector::daemon::Summary, mimecast_collector::daemon::DaemonError>,
    >,
    pub shutdown: tokio_util::sync::CancellationToken,
}

pub fn spawn_daemon(config: mimecast_collector::config::Config, grace: Duration) -> RunningDaemon {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let options = mimecast_collector::daemon::RunOptions {
        grace: Some(grace),
        ..Default::default()
    };
    let run = tokio::spawn(mimecast_collector::daemon::run(
        config,
        options,
        shutdown.clone(),
        |_| {},
    ));
    RunningDaemon { run, shutdown }
}

impl RunningDaemon {
    /// Waits until `out` holds `n` lines; the daemon must keep running meanwhile.
    pub async fn wait_for_lines(
        &self,
        out: &std::path::Path,
        n: usize,
        deadline: Duration,
        what: &str,
    ) {
        let started = std::time::Instant::now();
        loop {
            let got = count_lines(out);
            if got >= n {
                return;
            }
            assert!(!self.run.is_finished(), "{what}: the daemon stopped");
            assert!(
                started.elapsed() < deadline,
                "{what}: only {got} of {n} lines after {deadline:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Lets one more poll cycle run (to catch anything written twice), then stops cleanly.
    pub async fn settle_and_stop(self) {
        tokio::time::sleep(Duration::from_millis(700)).await;
        self.shutdown.cancel();
        self.run.await.unwrap().unwrap();
    }
}

/// The daemon in-process, as `run --once` would run it: every stream polled once, to the end.
pub async fn run_once(config: mimecast_collector::config::Config) {
    mimecast_collector::daemon::run(
        config,
        mimecast_collector::daemon::RunOptions {
            once: true,
            ..mimecast_collector::daemon::RunOptions::default()
        },
        tokio_util::sync::CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
}

/// The JSON lines of an output file (none when it does not exist yet).
pub fn read_events(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON line {l:?}: {e}")))
        .collect()
}

/// `tests/fixtures`.
pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A stream's sample records (`tests/fixtures/normalize/<stream>.json`), as the golden files
/// of every format read them.
pub fn sample_records(kind: StreamKind) -> Vec<Box<serde_json::value::RawValue>> {
    let input = fixtures_dir().join(format!("normalize/{}.json", kind.name()));
    let text =
        std::fs::read_to_string(&input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", input.display()))
}

/// The context the golden files are rendered in: tenant "acme", collected at a fixed time.
pub fn sample_context(
    stream: &'static str,
    include_raw: bool,
) -> mimecast_collector::event::Context<'static> {
    mimecast_collector::event::Context {
        tenant: "acme",
        stream,
        collected_at: time::macros::datetime!(2026-11-23 10:03:00 UTC),
        include_raw,
    }
}

/// A loopback port nobody listens on now (for a server a test starts: rsyslog, the Kafka
/// broker, the daemon's metrics).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
