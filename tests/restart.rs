//! The real binary, stopped with SIGTERM in the middle of a drain and started again: the union
//! of its output is exactly the simulator's records, none twice. Its logs, at trace level,
//! never contain a configured secret.

mod common;

use mimecast_sim::{FaultKind, FaultRule, SimConfig, SimTenant, Simulator};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STREAMS_V2: &str = r#"["ttp_url", "siem_cg", "audit"]"#;
const STREAMS_V1: &str = r#"["ttp_attachment", "siem_mta"]"#;

fn config_text(base_url: &str, dir: &Path, acme: &SimTenant, globex: &SimTenant) -> String {
    let v1 = globex.v1.as_ref().unwrap();
    let v2 = acme.v2.as_ref().unwrap();
    format!(
        r#"
[collector]
state_path = "{state}"
poll_interval = "1h"
initial_lookback = "24h"

[http]
request_timeout = "10s"
retry_initial_delay = "50ms"
retry_max_delay = "500ms"
requests_per_minute = 6000

[sink]
kind = "file"
path = "{out}"

[[tenant]]
name = "acme"
base_url = "{base_url}"
client_id = "{client_id}"
client_secret = "${{ACME_SECRET}}"
streams = {STREAMS_V2}
[tenant.stream.siem_cg]
types = ["receipt", "delivery"]
page_size = 3

[[tenant]]
name = "globex"
api = "v1"
base_url = "{base_url}"
app_id = "{app_id}"
app_key = "${{GLOBEX_APP_KEY}}"
access_key = "{access_key}"
secret_key_file = "globex.secret"
streams = {STREAMS_V1}
"#,
        state = dir.join("state.db").display(),
        out = dir.join("events.jsonl").display(),
        client_id = v2.client_id,
        app_id = v1.app_id,
        access_key = v1.access_key,
    )
}

/// The running collector and a thread collecting its log (read as it comes, so trace-level
/// output never fills the pipe and blocks the process).
struct Running {
    child: Child,
    log: std::thread::JoinHandle<String>,
}

fn spawn_collector(dir: &Path, acme: &SimTenant, globex: &SimTenant, once: bool) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mimecast-collector"));
    cmd.args(["--log-level", "trace", "run", "--config"])
        .arg(dir.join("config.toml"));
    if once {
        cmd.arg("--once");
    }
    cmd.env("ACME_SECRET", &acme.v2.as_ref().unwrap().client_secret)
        .env("GLOBEX_APP_KEY", &globex.v1.as_ref().unwrap().app_key)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut log = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
        log
    });
    Running { child, log }
}

fn wait(running: Running, deadline: Duration) -> (Option<i32>, String) {
    let Running { mut child, log } = running;
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > deadline {
            child.kill().unwrap();
            panic!("collector did not exit within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), log.join().unwrap())
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

async fn sim(config: SimConfig) -> Simulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(config, listener).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_drain_then_restart_loses_and_repeats_nothing() {
    let acme = SimTenant::named("acme");
    let globex = SimTenant::named("globex");
    let base = SimConfig {
        tenants: vec![acme.clone(), globex.clone()],
        records_per_stream: 1500,
        siem_cg_records_per_file: 50,
        siem_mta_records_per_file: 100,
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(5)),
        ..SimConfig::default()
    };
    // First run: every request is slowed down so that SIGTERM lands mid-drain.
    let slow = sim(SimConfig {
        faults: vec![FaultRule {
            path_prefix: Some("/".into()),
            tenant: None,
            times: u32::MAX,
            after: 0,
            kind: FaultKind::Delay(Duration::from_millis(40)),
        }],
        ..base.clone()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("globex.secret"),
        format!("{}\n", globex.v1.as_ref().unwrap().secret_key),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        config_text(&slow.base_url(), dir.path(), &acme, &globex),
    )
    .unwrap();
    let out = dir.path().join("events.jsonl");

    let child = spawn_collector(dir.path(), &acme, &globex, false);
    let started = Instant::now();
    while lines(&out) < 300 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no output from the first run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let (code, log1) = tokio::task::spawn_blocking(move || wait(child, Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "graceful stop exits 0; log:\n{log1}");
    assert!(log1.contains("stop requested"), "{log1}");
    let after_first = lines(&out);
    slow.shutdown().await;

    // Second run against an identical simulator (same seed and backlog), at full speed.
    let fast = sim(base).await;
    std::fs::write(
        dir.path().join("config.toml"),
        config_text(&fast.base_url(), dir.path(), &acme, &globex),
    )
    .unwrap();
    let child = spawn_collector(dir.path(), &acme, &globex, true);
    let (code, log2) = tokio::task::spawn_blocking(move || wait(child, Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "log:\n{log2}");

    let text = std::fs::read_to_string(&out).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut total_expected = 0;
    let mut by_stream: HashMap<(String, String), Vec<String>> = HashMap::new();
    for e in &events {
        by_stream
            .entry((
                e["tenant"].as_str().unwrap().into(),
                e["stream"].as_str().unwrap().into(),
            ))
            .or_default()
            .push(e["raw"].to_string());
    }
    let expect = |tenant: &str, stream: &str| -> Vec<String> {
        let mut v: Vec<String> = fast
            .expected_records(tenant, stream)
            .iter()
            .filter(|r| stream != "siem_cg" || r["type"] == "receipt" || r["type"] == "delivery")
            .map(|r| r.to_string())
            .collect();
        v.sort();
        v
    };
    for (tenant, stream) in [
        ("acme", "ttp_url"),
        ("acme", "siem_cg"),
        ("acme", "audit"),
        ("globex", "ttp_attachment"),
        ("globex", "siem_mta"),
    ] {
        let want = expect(tenant, stream);
        total_expected += want.len();
        let mut got = by_stream
            .remove(&(tenant.to_string(), stream.to_string()))
            .unwrap_or_default();
        got.sort();
        let dupes = got.windows(2).filter(|w| w[0] == w[1]).count();
        assert_eq!(dupes, 0, "{tenant}/{stream}: {dupes} records written twice");
        assert_eq!(
            got.len(),
            want.len(),
            "{tenant}/{stream}: {} of {} records",
            got.len(),
            want.len()
        );
        assert!(got == want, "{tenant}/{stream}: different records");
    }
    assert!(
        after_first > 0 && after_first < total_expected,
        "SIGTERM landed mid-drain ({after_first} of {total_expected})"
    );
    assert_eq!(events.len(), total_expected);

    // No configured secret in any log line, even at trace level.
    let v1 = globex.v1.as_ref().unwrap();
    for secret in [
        &acme.v2.as_ref().unwrap().client_secret,
        &v1.app_key,
        &v1.access_key,
        &v1.secret_key,
    ] {
        assert!(
            !log1.contains(secret.as_str()) && !log2.contains(secret.as_str()),
            "a secret appeared in the logs"
        );
    }
    assert!(log2.contains("poll complete") && log2.contains("tenant") && log2.contains("stream"));
    fast.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reopens_the_output_after_logrotate_moved_it() {
    let acme = SimTenant::named("acme");
    let globex = SimTenant::named("globex");
    let fast = sim(SimConfig {
        tenants: vec![acme.clone(), globex.clone()],
        records_per_stream: 100,
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(5)),
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("globex.secret"),
        format!("{}\n", globex.v1.as_ref().unwrap().secret_key),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        config_text(&fast.base_url(), dir.path(), &acme, &globex),
    )
    .unwrap();
    let out = dir.path().join("events.jsonl");
    let rotated = dir.path().join("events.jsonl.1");
    let expected: usize = [
        ("acme", "ttp_url"),
        ("acme", "siem_cg:receipt"),
        ("acme", "siem_cg:delivery"),
        ("acme", "audit"),
        ("globex", "ttp_attachment"),
        ("globex", "siem_mta"),
    ]
    .iter()
    .map(|(t, s)| fast.expected_records(t, s).len())
    .sum();

    let running = spawn_collector(dir.path(), &acme, &globex, false);
    let started = Instant::now();
    while lines(&out) < expected {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "drain did not finish: {} of {expected}",
            lines(&out)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::rename(&out, &rotated).unwrap();
    let pid = running.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    while !out.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "SIGHUP did not reopen the output"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let (code, log) = tokio::task::spawn_blocking(move || wait(running, Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    assert!(log.contains("output file reopened"), "{log}");

    // A restart finds nothing new, and neither file is cut or appended to.
    let rotated_len = std::fs::metadata(&rotated).unwrap().len();
    let running = spawn_collector(dir.path(), &acme, &globex, true);
    let (code, _) = tokio::task::spawn_blocking(move || wait(running, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    assert_eq!(lines(&rotated), expected);
    assert_eq!(std::fs::metadata(&rotated).unwrap().len(), rotated_len);
    assert_eq!(
        lines(&out),
        0,
        "nothing was emitted twice into the new file"
    );
    fast.shutdown().await;
}
