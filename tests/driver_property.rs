//! Property test over the one poll loop: whatever the sequence of server faults, graceful stops
//! and crashes (a crash at each step of a commit: before the lines are written, after they are
//! written, after they are synced, after the checkpoint is stored but before it is confirmed),
//! every record ends up exactly once in the file sink, for every kind of source at once.
//!
//! Each case is generated from a seed: the faults the simulator injects, and a list of
//! interruptions, each a crash at a commit and a step or a graceful stop after a delay. The
//! collector runs in-process; after each interruption it starts again from the files on disk,
//! as after a restart; after the last it drains to the end.

mod common;

use common::*;
use mimecast_collector::config::{SinkKind, StreamKind};
use mimecast_collector::daemon::{self, RunOptions};
use mimecast_collector::sink::writer::{CrashPlan, CrashStage};
use mimecast_sim::{FaultRule, SimConfig, SimTenant};
use proptest::prelude::*;
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const RECORDS: u64 = 200;

#[derive(Debug, Clone)]
enum Interruption {
    Crash(CrashPlan),
    Stop(Duration),
}

fn interruption() -> impl Strategy<Value = Interruption> {
    let stage = prop_oneof![
        Just(CrashStage::BeforeWrite),
        Just(CrashStage::AfterWrite),
        Just(CrashStage::AfterSync),
        Just(CrashStage::AfterCommit),
    ];
    prop_oneof![
        3 => (1u64..25, stage).prop_map(|(at_commit, stage)| Interruption::Crash(CrashPlan { at_commit, stage })),
        1 => (20u64..400).prop_map(|ms| Interruption::Stop(Duration::from_millis(ms))),
    ]
}

/// Faults that end by themselves (a fault forever would only test the timeout), placed by the
/// seed on the routes of every kind of source.
fn faults(seed: u64) -> Vec<FaultRule> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let kinds = [
        "429:reset=20",
        "503",
        "fail=err_busy:retryable",
        "truncated",
        "overlap=5",
        "empty-next",
        "bad-page-token",
        "reorder",
        "new-file",
    ];
    let mut rules = Vec::new();
    for _ in 0..rng.usize(2..8) {
        let kind = kinds[rng.usize(..kinds.len())];
        let path = match kind {
            "reorder" | "new-file" => "/siem/",
            "overlap=5" | "empty-next" => "/api/ttp/",
            _ => ["/api/", "/siem/"][rng.usize(..2)],
        };
        let spec = format!("{kind}x{}+{}@{path}", rng.u32(1..4), rng.u32(0..12));
        eprintln!("seed {seed}: fault {spec}");
        rules.push(FaultRule::from_str(&spec).unwrap_or_else(|e| panic!("{spec}: {e}")));
    }
    rules.push(FaultRule::from_str("delay=5msx*").unwrap());
    rules
}

const STREAMS: &[(&str, &str)] = &[
    ("acme", "ttp_url"),
    ("acme", "audit"),
    ("acme", "siem_cg:receipt"),
    ("acme", "dashboard"),
    ("globex", "siem_mta"),
    ("globex", "ttp_attachment"),
];

async fn case(seed: u64, interruptions: Vec<Interruption>) {
    let acme = SimTenant::named("acme");
    let globex = SimTenant::named("globex");
    let sim = start_sim(SimConfig {
        tenants: vec![acme.clone(), globex.clone()],
        siem_cg_records_per_file: 20,
        siem_mta_records_per_file: 40,
        quota_per_minute: 0,
        faults: faults(seed),
        ..sim_config(RECORDS)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let mut a = with_streams(
        v2_tenant(&sim, &acme),
        &[
            StreamKind::TtpUrl,
            StreamKind::Audit,
            StreamKind::SiemCg,
            StreamKind::Dashboard,
        ],
    );
    let mut g = with_streams(
        v1_tenant(&sim, &globex),
        &[StreamKind::SiemMta, StreamKind::TtpAttachment],
    );
    for s in a.streams.iter_mut().chain(g.streams.iter_mut()) {
        s.poll_interval = Duration::from_millis(200);
        s.page_size = 20;
        s.types = vec!["receipt".into()];
    }
    a.streams[2].page_size = 3; // listings of 3 files
    let config = collector_config(
        vec![a, g],
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    let total: usize = STREAMS
        .iter()
        .map(|(t, s)| sim.expected_records(t, s).len())
        .sum();
    for interruption in interruptions {
        let shutdown = CancellationToken::new();
        let options = RunOptions {
            grace: Some(Duration::from_secs(2)),
            crash: match &interruption {
                Interruption::Crash(plan) => Some(*plan),
                Interruption::Stop(_) => None,
            },
            ..Default::default()
        };
        let run = tokio::spawn(daemon::run(
            config.clone(),
            options,
            shutdown.clone(),
            |_| {},
        ));
        let started = Instant::now();
        loop {
            if let Interruption::Stop(after) = interruption {
                if started.elapsed() >= after {
                    shutdown.cancel();
                }
            }
            if run.is_finished() || count_lines(&out) >= total {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "seed {seed}: a run neither ended nor drained"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        shutdown.cancel();
        // A crashed writer makes the run end with an error, as the process would have died.
        let _ = run.await.unwrap();
    }
    // The last run drains to the end.
    let daemon = spawn_daemon(config.clone(), Duration::from_secs(2));
    daemon
        .wait_for_lines(
            &out,
            total,
            Duration::from_secs(60),
            &format!("seed {seed}"),
        )
        .await;
    daemon.settle_and_stop().await;
    let text = std::fs::read_to_string(&out).unwrap();
    assert_exactly_once(&sim, &text, STREAMS, &format!("seed {seed}"));
    sim.shutdown().await;
}

/// Reruns one case by hand: `DRIVER_REPLAY='SEED;crash:COMMIT:STAGE;stop:MS;...'`.
#[test]
fn replay() {
    let Ok(spec) = std::env::var("DRIVER_REPLAY") else {
        return;
    };
    let mut parts = spec.split(';');
    let seed: u64 = parts.next().unwrap().parse().unwrap();
    let interruptions = parts
        .map(|p| {
            let f: Vec<&str> = p.split(':').collect();
            match f[0] {
                "stop" => Interruption::Stop(Duration::from_millis(f[1].parse().unwrap())),
                _ => Interruption::Crash(CrashPlan {
                    at_commit: f[1].parse().unwrap(),
                    stage: match f[2] {
                        "BeforeWrite" => CrashStage::BeforeWrite,
                        "AfterWrite" => CrashStage::AfterWrite,
                        "AfterSync" => CrashStage::AfterSync,
                        _ => CrashStage::AfterCommit,
                    },
                }),
            }
        })
        .collect();
    block_on(case(seed, interruptions));
}

fn block_on(f: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("DRIVER_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_record_exactly_once_whatever_the_faults_stops_and_crashes(
        seed in any::<u64>(),
        interruptions in proptest::collection::vec(interruption(), 1..6),
    ) {
        block_on(case(seed, interruptions));
    }
}
