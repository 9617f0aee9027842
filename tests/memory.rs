//! SIEM files far larger than the collector's memory budget are streamed (a `siem_cg` gzip batch
//! file, a `siem_mta` zip): the peak RSS of the real binary stays bounded while it writes every
//! record.

use mimecast_sim::{SimConfig, SimTenant, Simulator};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RECORDS: u64 = 200_000;
/// Peak resident memory allowed while draining a file of more than 100 MiB.
const BUDGET_KIB: u64 = 64 * 1024;

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the real binary once over `config`, sampling its peak RSS; returns (peak KiB, output).
async fn run_measured(config: String, dir: &std::path::Path) -> (u64, std::path::PathBuf) {
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mimecast-collector"))
        .args(["--log-level", "warn", "run", "--once", "--config"])
        .arg(dir.join("config.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    let mut peak = 0;
    let status = loop {
        if let Some(p) = peak_rss_kib(pid) {
            peak = peak.max(p);
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(240) {
            child.kill().unwrap();
            panic!("collector did not finish within 240 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success());
    (peak, dir.join("events.jsonl"))
}

/// Drains one huge file of `stream` with the real binary and checks that every record was
/// written within the memory budget. `tenant` is the `[[tenant]]` table for the simulator.
async fn streams_within_budget(
    stream: &str,
    config: SimConfig,
    tenant: impl FnOnce(&Simulator) -> String,
) {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("no /proc: peak RSS cannot be measured here");
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(config, listener).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (peak, out) = run_measured(
        format!(
            "[collector]\nstate_path = {:?}\n[http]\nrequest_timeout = \"10m\"\n[sink]\nkind = \"file\"\npath = {:?}\ninclude_raw = true\n{}",
            dir.path().join("state.db").display().to_string(),
            dir.path().join("events.jsonl").display().to_string(),
            tenant(&sim),
        ),
        dir.path(),
    )
    .await;
    let size = std::fs::metadata(&out).unwrap().len();
    let count = std::fs::read_to_string(&out).unwrap().lines().count() as u64;
    assert_eq!(
        count, RECORDS,
        "{stream}: every record of the file was written"
    );
    assert!(
        size > 100 * 1024 * 1024,
        "the output ({size} bytes) is far larger than the budget"
    );
    eprintln!(
        "{stream}: {RECORDS} records, {} MiB written, peak RSS {} MiB, {:?}",
        size >> 20,
        peak >> 10,
        started.elapsed()
    );
    assert!(peak > 0, "RSS was sampled");
    assert!(
        peak < BUDGET_KIB,
        "{stream}: peak RSS {peak} KiB exceeds the budget of {BUDGET_KIB} KiB"
    );
    sim.shutdown().await;
}

fn backlog() -> SimConfig {
    SimConfig {
        records_per_stream: RECORDS,
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(5)),
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_siem_log_zip_larger_than_the_memory_budget_is_streamed() {
    let globex = SimTenant::named("globex");
    let config = SimConfig {
        tenants: vec![globex.clone()],
        siem_mta_records_per_file: RECORDS,
        ..backlog()
    };
    let v1 = globex.v1.clone().unwrap();
    streams_within_budget("siem_mta", config, |sim| {
        format!(
            "[[tenant]]\nname = \"globex\"\napi = \"v1\"\nbase_url = {:?}\napp_id = {:?}\napp_key = {:?}\naccess_key = {:?}\nsecret_key = {:?}\nstreams = [\"siem_mta\"]\n",
            sim.base_url(),
            v1.app_id,
            v1.app_key,
            v1.access_key,
            v1.secret_key,
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_siem_file_larger_than_the_memory_budget_is_streamed() {
    let acme = SimTenant::named("acme");
    let config = SimConfig {
        tenants: vec![acme.clone()],
        siem_cg_records_per_file: RECORDS,
        ..backlog()
    };
    let v2 = acme.v2.clone().unwrap();
    streams_within_budget("siem_cg", config, |sim| {
        format!(
            "[[tenant]]\nname = \"acme\"\nbase_url = {:?}\nclient_id = {:?}\nclient_secret = {:?}\nstreams = [\"siem_cg\"]\n[tenant.stream.siem_cg]\ntypes = [\"receipt\"]\n",
            sim.base_url(),
            v2.client_id,
            v2.client_secret
        )
    })
    .await;
}
