//! A state database lost while its output is kept: deleted or emptied while the daemon is
//! stopped, or deleted under a running daemon. Either way the next start must not collect
//! again what the output already holds without the operator saying so.

mod common;
use mimecast_sim::{FaultKind, FaultRule, SimConfig, SimTenant};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mimecast-collector"))
}

fn run(args: &[&str], config: &Path) -> Output {
    bin()
        .args(["--log-level", "warn"])
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    out: PathBuf,
    state: PathBuf,
}

fn setup(sim: &mimecast_sim::Simulator, acme: &SimTenant) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let state = dir.path().join("state.db");
    let config = dir.path().join("config.toml");
    let v2 = acme.v2.as_ref().unwrap();
    std::fs::write(
        &config,
        format!(
            "[collector]\nstate_path = {:?}\npoll_interval = \"1h\"\n[sink]\nkind = \"file\"\npath = {:?}\n[[tenant]]\nname = \"acme\"\nbase_url = {:?}\nclient_id = {:?}\nclient_secret = {:?}\nstreams = [\"ttp_url\", \"audit\"]\n",
            state.display().to_string(),
            out.display().to_string(),
            sim.base_url(),
            v2.client_id,
            v2.client_secret
        ),
    )
    .unwrap();
    Setup {
        dir,
        config,
        out,
        state,
    }
}

fn ids(path: &Path) -> (usize, HashSet<String>) {
    let events = common::read_events(path);
    let ids = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    (events.len(), ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_the_state_has_no_record_of_is_refused_until_adopted() {
    let acme = SimTenant::named("acme");
    let sim = common::start_sim(SimConfig {
        tenants: vec![acme.clone()],
        records_per_stream: 120,
        // Well before `--since 10m` minus max_lag (5m): the reset below starts after all.
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(30)),
        ..SimConfig::default()
    })
    .await;
    let s = setup(&sim, &acme);
    assert_eq!(run(&["run", "--once"], &s.config).status.code(), Some(0));
    let collected = std::fs::read(&s.out).unwrap();
    assert_eq!(ids(&s.out).0, 240);

    // Emptied while stopped, then deleted while stopped: the same refusal, nothing written.
    for lose in ["empty", "delete"] {
        match lose {
            "empty" => std::fs::write(&s.state, b"").unwrap(),
            _ => std::fs::remove_file(&s.state).unwrap(),
        }
        let o = run(&["run", "--once"], &s.config);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{lose}: {stderr}");
        assert!(
            stderr.contains("has no record of writing them")
                && stderr.contains(&s.out.display().to_string())
                && stderr.contains("reset --adopt-output")
                && stderr.contains("restore the state database"),
            "{lose}: {stderr}"
        );
        assert!(
            std::fs::read(&s.out).unwrap() == collected,
            "{lose}: the output changed"
        );
    }

    // The operator takes the file as it is and starts each stream after what it holds.
    let o = run(&["reset", "--adopt-output"], &s.config);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("taken as the output"));
    for stream in ["ttp_url", "audit"] {
        let o = run(
            &[
                "reset", "--tenant", "acme", "--stream", stream, "--since", "10m",
            ],
            &s.config,
        );
        assert_eq!(o.status.code(), Some(0), "{o:?}");
    }
    assert_eq!(run(&["run", "--once"], &s.config).status.code(), Some(0));
    let after = std::fs::read(&s.out).unwrap();
    assert!(
        after == collected,
        "the adopted output changed: {} bytes, then {}",
        collected.len(),
        after.len()
    );
}

/// Deleted under the running daemon: it stops at its next commit and saves what it holds
/// beside the deleted file; put back, the collection goes on with nothing lost or repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_database_deleted_under_the_daemon_is_saved_and_collection_goes_on() {
    let acme = SimTenant::named("acme");
    let sim = common::start_sim(SimConfig {
        tenants: vec![acme.clone()],
        records_per_stream: 1000,
        default_page_size: 50,
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(5)),
        faults: vec![FaultRule {
            path_prefix: None,
            tenant: None,
            times: u32::MAX,
            after: 0,
            kind: FaultKind::Delay(Duration::from_millis(60)),
        }],
        ..SimConfig::default()
    })
    .await;
    let s = setup(&sim, &acme);
    let stderr_path = s.dir.path().join("stderr.log");
    let mut daemon = bin()
        .args(["--log-level", "warn", "run", "--config"])
        .arg(&s.config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while common::count_lines(&s.out) < 200 {
        assert!(started.elapsed() < Duration::from_secs(30), "no output");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::remove_file(&s.state).unwrap();
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the daemon did not stop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let saved = s.dir.path().join("state.db.recovered");
    assert!(
        stderr.contains("deleted or replaced while the collector ran")
            && stderr.contains(&saved.display().to_string()),
        "{stderr}"
    );
    let (stopped_at, _) = ids(&s.out);
    assert!(stopped_at < 2000, "the drain ended before the deletion");

    // Started again as it is: refused (no record of the output), nothing written.
    let o = run(&["run", "--once"], &s.config);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&saved.display().to_string()));
    assert_eq!(ids(&s.out).0, stopped_at);

    // The saved copy put back: the rest, each event once.
    std::fs::rename(&saved, &s.state).unwrap();
    let o = run(&["run", "--once"], &s.config);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (n, unique) = ids(&s.out);
    assert_eq!(n, 2000);
    assert_eq!(unique.len(), 2000);
    common::assert_exactly_once(
        &sim,
        &std::fs::read_to_string(&s.out).unwrap(),
        &[("acme", "ttp_url"), ("acme", "audit")],
        "after the saved state was put back",
    );
}
