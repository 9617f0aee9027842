//! Crash test: the collector drains a backlog of more than 20,000 records from the simulator
//! into the file sink while it is killed with SIGKILL at random moments (seeded; the seed is
//! printed) and restarted each time. At the end the file holds every record exactly once and
//! every line is valid JSON. With stdout, at least once holds and duplicates stay within the
//! pages in flight at each kill.
//!
//! Longer soaks: `CRASH_KILLS=200 CRASH_RECORDS=3000 CRASH_DELAY_MS=50 cargo test --release --test crash -- --nocapture`
//! (see `scripts/crash-soak.sh`).

use mimecast_sim::{FaultKind, FaultRule, SimConfig, SimTenant, Simulator};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const PAGE: u32 = 50;

fn config(dir: &Path, base_url: &str, acme: &SimTenant, globex: &SimTenant, sink: &str) -> String {
    let v2 = acme.v2.as_ref().unwrap();
    let v1 = globex.v1.as_ref().unwrap();
    format!(
        r#"[collector]
state_path = {state:?}
poll_interval = "1h"
[http]
retry_initial_delay = "20ms"
retry_max_delay = "200ms"
requests_per_minute = 100000
[sink]
{sink}
[[tenant]]
name = "acme"
base_url = "{base_url}"
client_id = "{cid}"
client_secret = "{cs}"
streams = ["ttp_url", "siem_cg", "audit", "threat_intel", "dashboard", "directory", "threats", "siem_ci", "dlp", "reported_emails"]
[tenant.stream.threats]
page_size = {PAGE}
[tenant.stream.siem_ci]
types = ["entities"]
page_size = 3
[tenant.stream.dlp]
page_size = {PAGE}
[tenant.stream.reported_emails]
page_size = 500
[tenant.stream.ttp_url]
page_size = {PAGE}
[tenant.stream.audit]
page_size = {PAGE}
[tenant.stream.siem_cg]
types = {types}
page_size = 3
[tenant.stream.dashboard]
page_size = {PAGE}
[tenant.stream.directory]
page_size = {PAGE}
[[tenant]]
name = "globex"
api = "v1"
base_url = "{base_url}"
app_id = "{app_id}"
app_key = "{app_key}"
access_key = "{access_key}"
secret_key = "{secret_key}"
streams = ["ttp_attachment", "siem_mta", "message_release"]
[tenant.stream.ttp_attachment]
page_size = {PAGE}
[tenant.stream.message_release]
page_size = {PAGE}
"#,
        state = dir.join("state.db").display().to_string(),
        cid = v2.client_id,
        cs = v2.client_secret,
        app_id = v1.app_id,
        app_key = v1.app_key,
        access_key = v1.access_key,
        secret_key = v1.secret_key,
        types = siem_types_toml(),
    )
}

/// The SIEM event types drained: two by default, all ten with `CRASH_SIEM_TYPES=all` (the
/// soak).
fn siem_types() -> Vec<&'static str> {
    match std::env::var("CRASH_SIEM_TYPES").as_deref() {
        Ok("all") => mimecast_collector::streams::SIEM_CG_TYPES.to_vec(),
        _ => vec!["receipt", "delivery"],
    }
}

fn siem_types_toml() -> String {
    let quoted: Vec<String> = siem_types().iter().map(|t| format!("{t:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Every stream drained, as `tenant`, `stream[:part]`.
fn streams() -> Vec<(&'static str, String)> {
    // threat_intel reads its default feed, malware_customer.
    let mut out: Vec<(&str, String)> = [
        "ttp_url",
        "audit",
        "threat_intel:malware_customer",
        "dashboard",
        "directory",
        "threats",
        "siem_ci:entities",
        "dlp",
        "reported_emails",
    ]
    .iter()
    .map(|s| ("acme", s.to_string()))
    .collect();
    out.extend(
        siem_types()
            .into_iter()
            .map(|t| ("acme", format!("siem_cg:{t}"))),
    );
    out.push(("globex", "ttp_attachment".into()));
    out.push(("globex", "siem_mta".into()));
    out.push(("globex", "message_release".into()));
    out
}

/// Every request takes a little while, so kills land in the middle of the drain; and about one
/// request in ten meets a fault (429, 5xx, a retryable `fail[]`, a truncated body), placed by
/// the seed.
fn faults(seed: u64) -> Vec<FaultRule> {
    let mut rules = Vec::new();
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    let kinds = [
        FaultKind::RateLimit { reset_ms: Some(30) },
        FaultKind::Status(503),
        FaultKind::Fail {
            code: "err_service_busy".into(),
            retryable: true,
        },
        FaultKind::TruncatedJson,
    ];
    for prefix in ["/api/", "/siem/", "/threat"] {
        let mut after = 0;
        for _ in 0..env_u64("CRASH_FAULTS", 40) {
            after += rng.u32(5..15);
            rules.push(FaultRule {
                path_prefix: Some(prefix.into()),
                tenant: None,
                times: 1,
                after,
                kind: kinds[rng.usize(..kinds.len())].clone(),
            });
        }
    }
    // Last: the simulator gives a request the first fault whose turn it is.
    rules.push(FaultRule {
        path_prefix: Some("/".into()),
        tenant: None,
        times: u32::MAX,
        after: 0,
        kind: FaultKind::Delay(Duration::from_millis(env_u64("CRASH_DELAY_MS", 25))),
    });
    rules
}

struct Outcome {
    kills: u64,
    /// (tenant, stream) -> raw records written, in order.
    written: HashMap<(String, String), Vec<String>>,
    expected: HashMap<(String, String), Vec<String>>,
    lines: usize,
}

/// Runs the collector, killing it `kills` times at seeded random moments, then lets it finish.
async fn crash_run(sink_kind: &str, seed: u64, kills: u64, records: u64) -> Outcome {
    let acme = SimTenant::named("acme");
    let globex = SimTenant::named("globex");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(
        SimConfig {
            tenants: vec![acme.clone(), globex.clone()],
            records_per_stream: records,
            siem_cg_records_per_file: 200,
            siem_mta_records_per_file: 200,
            end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(5)),
            quota_per_minute: 0,
            faults: faults(seed),
            ..SimConfig::default()
        },
        listener,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let sink = if sink_kind == "file" {
        format!("kind = \"file\"\npath = {:?}", out.display().to_string())
    } else {
        "kind = \"stdout\"".to_string()
    };
    std::fs::write(
        dir.path().join("config.toml"),
        config(dir.path(), &sim.base_url(), &acme, &globex, &sink),
    )
    .unwrap();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut stdout_capture: Vec<u8> = Vec::new();
    let mut done = 0;
    let mut finished = false;
    let started = Instant::now();
    let file_len = || std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    while !finished {
        let file_before = file_len();
        let stdout_before = stdout_capture.len();
        let mut ended = false;
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "crash test did not converge (seed {seed})"
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_mimecast-collector"))
            .args(["--log-level", "error", "run", "--once", "--config"])
            .arg(dir.path().join("config.toml"))
            .stdout(if sink_kind == "file" {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .stderr(
                std::fs::File::create(dir.path().join("stderr.log"))
                    .map(Stdio::from)
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        let reader = child.stdout.take().map(|mut s| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = std::io::Read::read_to_end(&mut s, &mut buf);
                buf
            })
        });
        let kill_at = if done < kills {
            Some(Duration::from_millis(rng.u64(60..400)))
        } else {
            None
        };
        let t0 = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                // It ended before any kill: the backlog is drained, once a run ends well with
                // nothing more to write. A run whose poll failed on an injected fault (a SIEM
                // file cut short fails its poll and counts toward quarantine) exits 1 naming
                // the stream, and the next run polls it again, as the daemon would at its next
                // interval.
                let stderr =
                    std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
                match status.code() {
                    Some(0) => ended = true,
                    Some(1) if stderr.contains("did not complete") => {}
                    _ => panic!("a run failed on its own (seed {seed}): {status}:\n{stderr}"),
                }
                break;
            }
            if t0.elapsed() > Duration::from_secs(180) {
                child.kill().unwrap();
                let _ = child.wait();
                panic!("a run did not end within 180 s (seed {seed})");
            }
            if kill_at.is_some_and(|k| t0.elapsed() >= k) {
                child.kill().unwrap(); // SIGKILL
                let _ = child.wait();
                done += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(r) = reader {
            // Each run's output is its own: a line cut short by the kill must not run into the
            // next run's first line.
            let mut out = r.join().unwrap();
            if !out.is_empty() && !out.ends_with(b"\n") {
                out.push(b'\n');
            }
            stdout_capture.extend(out);
        }
        if ended {
            finished = file_len() == file_before && stdout_capture.len() == stdout_before;
        }
    }
    let text = if sink_kind == "file" {
        std::fs::read_to_string(&out).unwrap()
    } else {
        String::from_utf8(stdout_capture).unwrap_or_default()
    };
    let mut written: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut lines = 0;
    for line in text.lines() {
        // With stdout a kill can cut the last line short; with the file sink that must never be seen.
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) if sink_kind == "stdout" => {
                eprintln!("partial stdout line after a kill: {e}");
                continue;
            }
            Err(e) => panic!("invalid JSON line in the output (seed {seed}): {e}: {line:?}"),
        };
        lines += 1;
        let stream = v["stream"].as_str().unwrap();
        // A threat is written with its details; the simulator lists the threat alone.
        let raw = if stream == "threats" {
            &v["raw"]["threat"]
        } else {
            &v["raw"]
        };
        written
            .entry((v["tenant"].as_str().unwrap().into(), stream.into()))
            .or_default()
            .push(raw.to_string());
    }
    let mut expected: HashMap<(String, String), Vec<String>> = HashMap::new();
    for (tenant, stream) in streams() {
        let base = stream.split(':').next().unwrap().to_string();
        expected
            .entry((tenant.to_string(), base))
            .or_default()
            .extend(
                sim.expected_records(tenant, &stream)
                    .iter()
                    .map(|r| r.to_string()),
            );
    }
    sim.shutdown().await;
    Outcome {
        kills: done,
        written,
        expected,
        lines,
    }
}

fn seed() -> u64 {
    let seed = env_u64("CRASH_SEED", fastrand::u64(..));
    eprintln!("crash test seed: {seed} (rerun with CRASH_SEED={seed})");
    seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_repeats_nothing_with_the_file_sink() {
    let seed = seed();
    let kills = env_u64("CRASH_KILLS", 20);
    let records = env_u64("CRASH_RECORDS", 5_000);
    let o = crash_run("file", seed, kills, records).await;
    let total: usize = o.expected.values().map(Vec::len).sum();
    assert!(total >= 20_000, "backlog of {total} records");
    let (mut lost, mut duplicated) = (0usize, 0usize);
    for (key, want) in &o.expected {
        let got = o.written.get(key).cloned().unwrap_or_default();
        let mut counts: HashMap<&String, i64> = HashMap::new();
        for r in &got {
            *counts.entry(r).or_default() += 1;
        }
        let (lost_before, dup_before) = (lost, duplicated);
        for r in want {
            match counts.get_mut(r) {
                Some(n) => *n -= 1,
                None => lost += 1,
            }
        }
        duplicated += counts
            .values()
            .filter(|n| **n > 0)
            .map(|n| *n as usize)
            .sum::<usize>();
        if (lost, duplicated) != (lost_before, dup_before) {
            eprintln!(
                "  {}/{}: lost {}, duplicated {}",
                key.0,
                key.1,
                lost - lost_before,
                duplicated - dup_before
            );
        }
    }
    eprintln!("crash test (file): seed {seed}, {} kills, {total} records, {} lines, lost {lost}, duplicated {duplicated}", o.kills, o.lines);
    assert_eq!((lost, duplicated), (0, 0), "seed {seed}");
    assert_eq!(o.lines, total);
    let min_kills = env_u64("CRASH_MIN_KILLS", kills);
    assert!(
        o.kills >= min_kills,
        "only {} kills landed before the drain ended (raise CRASH_DELAY_MS or CRASH_RECORDS)",
        o.kills
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_stdout_is_at_least_once_with_bounded_duplicates() {
    let seed = seed();
    let kills = env_u64("CRASH_KILLS", 20);
    let o = crash_run("stdout", seed, kills, 3_500).await;
    let mut lost = 0;
    let mut duplicated = 0;
    for (key, want) in &o.expected {
        let got = o.written.get(key).cloned().unwrap_or_default();
        let set: std::collections::HashSet<&String> = got.iter().collect();
        let missing = want.iter().filter(|r| !set.contains(r)).count();
        if missing > 0 {
            eprintln!("  {}/{}: lost {missing} of {}", key.0, key.1, want.len());
        }
        lost += missing;
        duplicated += got.len() - set.len();
    }
    // Each kill can repeat at most the pages in flight: one per stream task, of at most one
    // page or SIEM chunk (200 records here; a dashboard or directory snapshot is one commit of
    // up to 3,500 records).
    let tasks = streams().len() - 2;
    let bound = o.kills as usize * (tasks * 200 + 2 * 3_500);
    eprintln!("crash test (stdout): seed {seed}, {} kills, lost {lost}, duplicated {duplicated} (bound {bound})", o.kills);
    assert!(
        o.kills >= kills / 2,
        "only {} kills landed mid-drain",
        o.kills
    );
    assert_eq!(lost, 0, "seed {seed}");
    assert!(duplicated <= bound, "seed {seed}");
}
