//! Disk full: the output sits on a small tmpfs that fills up mid-drain. The checkpoint must not
//! advance past what was written, no partial line may remain, the daemon keeps retrying, and
//! when space returns every record comes out exactly once. Needs root (to mount a tmpfs), as on
//! the project's machines and CI; elsewhere it says so and does nothing.

mod common;

use common::*;
use mimecast_collector::config::{SinkKind, StreamKind};
use mimecast_collector::daemon::{self, RunOptions};
use mimecast_sim::SimTenant;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_holds_the_checkpoint_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI machines run as root: the disk-full test must run there"
        );
        return;
    }
    let _mount = Mount(mnt.clone());
    // Leave about 200 KiB free.
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![0u8; 8 * 1024 * 1024 - 200 * 1024]).unwrap_or(());
    let acme = SimTenant::named("acme");
    let sim = start_sim(mimecast_sim::SimConfig {
        tenants: vec![acme.clone()],
        quota_per_minute: 0,
        ..sim_config(1000)
    })
    .await;
    let out = mnt.join("events.jsonl");
    let mut tenant = with_streams(
        v2_tenant(&sim, &acme),
        &[StreamKind::TtpUrl, StreamKind::Audit],
    );
    for s in &mut tenant.streams {
        s.poll_interval = Duration::from_millis(300);
    }
    let config = collector_config(
        vec![tenant],
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    let state_path = config.collector.state_path.clone();
    let daemon = spawn_daemon(config, Duration::from_secs(5));

    let last_error = || {
        mimecast_collector::state::State::open_read_only(&state_path)
            .and_then(|s| s.status())
            .map(|rows| {
                rows.into_iter()
                    .filter_map(|r| r.last_error)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    };
    let started = Instant::now();
    while !last_error().contains("No space left on device") {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the disk never filled: {}",
            last_error()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // While full: only whole lines are in the file, and they are exactly what is committed.
    // The streams keep retrying, and a retry writes what fits before it fails and is cut
    // back: the file is looked at between retries, when its length is the committed offset.
    let committed_offset = || {
        mimecast_collector::state::State::open_read_only(&state_path)
            .ok()
            .and_then(|s| s.sink_position("file").ok().flatten())
            .map(|p| p.offset)
    };
    let mut looks = 0;
    let text = loop {
        let before = committed_offset();
        let text = std::fs::read_to_string(&out).unwrap();
        if before == Some(text.len() as u64) && committed_offset() == before {
            break text;
        }
        looks += 1;
        assert!(
            looks < 200,
            "the checkpoint never covered exactly what is in the file"
        );
        tokio::time::sleep(Duration::from_millis(7)).await;
    };
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "a partial line was left behind"
    );
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("valid JSON line");
    }

    assert!(!daemon.run.is_finished(), "the daemon keeps running");

    // Space returns.
    std::fs::remove_file(&filler).unwrap();
    daemon
        .wait_for_lines(&out, 2000, Duration::from_secs(30), "after space returned")
        .await;
    daemon.settle_and_stop().await;
    let text = std::fs::read_to_string(&out).unwrap();
    assert_exactly_once(
        &sim,
        &text,
        &[("acme", "ttp_url"), ("acme", "audit")],
        "after recovery",
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_state_database_delays_commits_without_loss_or_repeats() {
    let acme = SimTenant::named("acme");
    let sim = start_sim(mimecast_sim::SimConfig {
        tenants: vec![acme.clone()],
        quota_per_minute: 0,
        faults: vec![mimecast_sim::FaultRule {
            path_prefix: Some("/api/".into()),
            tenant: None,
            times: u32::MAX,
            after: 0,
            kind: mimecast_sim::FaultKind::Delay(Duration::from_millis(40)),
        }],
        ..sim_config(1500)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let mut tenant = with_streams(
        v2_tenant(&sim, &acme),
        &[StreamKind::TtpUrl, StreamKind::Audit],
    );
    for s in &mut tenant.streams {
        s.poll_interval = Duration::from_millis(300);
        s.page_size = 50;
    }
    let config = collector_config(
        vec![tenant],
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    let state_path = config.collector.state_path.clone();
    let daemon = spawn_daemon(config, Duration::from_secs(5));
    daemon
        .wait_for_lines(&out, 200, Duration::from_secs(30), "before the lock")
        .await;
    // Another process takes the write lock for longer than SQLite's busy timeout (5 s).
    let before = sim.requests().len();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&state_path).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        std::thread::sleep(Duration::from_secs(7));
        conn.execute_batch("COMMIT").unwrap();
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::spawn_blocking(move || holder.join().unwrap())
        .await
        .unwrap();
    assert!(
        sim.requests().len() > before,
        "the daemon kept working while the state was locked"
    );
    assert!(!daemon.run.is_finished(), "the daemon kept running");
    daemon
        .wait_for_lines(
            &out,
            3000,
            Duration::from_secs(40),
            "after the lock was released",
        )
        .await;
    daemon.settle_and_stop().await;
    let text = std::fs::read_to_string(&out).unwrap();
    assert_exactly_once(
        &sim,
        &text,
        &[("acme", "ttp_url"), ("acme", "audit")],
        "after recovery",
    );
    sim.shutdown().await;
}

/// An output that cannot be written at all (here under /proc) stops the start with the path in
/// the message, before anything is fetched. (Write errors while running take the same path as
/// a full disk, tested above: rollback to the checkpoint, retry.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_output_is_a_clear_error_at_start() {
    let (acme, sim) = start_acme_sim(10).await;
    let dir = tempfile::tempdir().unwrap();
    let out = std::path::PathBuf::from("/proc/mimecast-collector-test/events.jsonl");
    let config = collector_config(
        vec![with_streams(v2_tenant(&sim, &acme), &[StreamKind::Audit])],
        &dir.path().join("state.db"),
        SinkKind::File { path: out },
    );
    let err = daemon::run(
        config,
        RunOptions::default(),
        CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("/proc/mimecast-collector-test/events.jsonl")
            && message.contains("cannot open"),
        "{message}"
    );
    assert!(sim.requests().is_empty(), "nothing was fetched");
    sim.shutdown().await;
}
