//! A long backfill is not silent: while one poll drains a backlog, each committed page counts in
//! `/metrics` (events, pages, `stream_up`) and a progress line is logged (records, position,
//! lag, rate), at most once per interval; and the scrape taken mid-drain passes
//! `promtool check metrics`. Its own test binary: it installs a log subscriber.

mod common;
use common::*;
use mimecast_collector::config::{SinkKind, StreamKind};
use mimecast_sim::{FaultKind, FaultRule, SimConfig, SimTenant};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `promtool check metrics` (Prometheus' own linter) must pass on the scrape. promtool comes
/// with Debian's `prometheus` package, which `.ci/run` installs.
fn promtool_check(scrape: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is not installed: apt-get install prometheus (as .ci/run does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- scrape:\n{scrape}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_counts_each_page_and_logs_progress_while_it_drains() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let acme = SimTenant::named("acme");
    // 40 pages of 25, each answered after 150 ms: one poll of about 6 s.
    let sim = start_sim(SimConfig {
        tenants: vec![acme.clone()],
        faults: vec![FaultRule {
            path_prefix: Some(TTP_URL.into()),
            tenant: None,
            times: u32::MAX,
            after: 0,
            kind: FaultKind::Delay(Duration::from_millis(150)),
        }],
        ..sim_config(1000)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut tenant = with_streams(v2_tenant(&sim, &acme), &[StreamKind::TtpUrl]);
    tenant.streams[0].page_size = 25;
    let mut config = collector_config(
        vec![tenant],
        &dir.path().join("state.db"),
        SinkKind::File {
            path: dir.path().join("events.jsonl"),
        },
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    config.metrics.listen = Some(([127, 0, 0, 1], port).into());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(mimecast_collector::daemon::run(
        config,
        mimecast_collector::daemon::RunOptions {
            once: true,
            progress_every: Some(Duration::from_millis(500)),
            ..Default::default()
        },
        shutdown.clone(),
        |_| {},
    ));
    // Mid-drain: events counted, the stream up, no poll finished yet.
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mid = loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no progress in /metrics"
        );
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
        {
            let text = r.text().await.unwrap();
            if sample(&text, "mimecast_collector_events_total{") >= 100.0 {
                break text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        sample(&mid, "mimecast_collector_polls_total{"),
        0.0,
        "still in the first poll: {mid}"
    );
    assert_eq!(sample(&mid, "mimecast_collector_stream_up{"), 1.0, "{mid}");
    promtool_check(&mid);
    run.await.unwrap().unwrap();
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("backlog draining"))
        .collect();
    assert!(lines.len() >= 3, "progress lines: {lines:?}");
    assert!(
        lines.len() <= 20,
        "at most one per interval, not one per page: {}",
        lines.len()
    );
    for l in &lines {
        for field in ["records=", "position=", "lag_s=", "records_per_s="] {
            assert!(l.contains(field), "{field} in {l}");
        }
        assert!(
            l.contains("tenant=acme") && l.contains("stream=ttp_url"),
            "{l}"
        );
    }
    sim.shutdown().await;
}
