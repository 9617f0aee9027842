//! Fault suite: each fault the simulator can inject is provoked in the middle of a drain by a
//! running daemon. Whatever happens, the daemon keeps running and, once the fault passes, every
//! record comes out exactly once. Faults longer than the retry budget fail a poll; the next
//! poll recovers.

mod common;

use common::*;
use mimecast_collector::config::{SinkKind, StreamKind};
use mimecast_collector::daemon::{self, RunOptions};
use mimecast_sim::{FaultKind, FaultRule, SimTenant, Simulator};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const RECORDS: u64 = 300;

struct Case {
    name: &'static str,
    path: &'static str,
    times: u32,
    kind: FaultKind,
}

fn cases() -> Vec<Case> {
    use FaultKind::*;
    let c = |name, path, times, kind| Case {
        name,
        path,
        times,
        kind,
    };
    vec![
        c(
            "429 storm with X-RateLimit-Reset",
            "/api/",
            6,
            RateLimit {
                reset_ms: Some(150),
            },
        ),
        c(
            "429 storm without headers",
            "/api/",
            6,
            RateLimit { reset_ms: None },
        ),
        c("500 beyond the retry budget", "/api/", 12, Status(500)),
        c("502", "/api/", 3, Status(502)),
        c("503", "/siem/", 3, Status(503)),
        c("504", "/api/", 3, Status(504)),
        c("connection resets", "/api/", 4, Reset),
        c(
            "requests hanging past the timeout",
            "/api/",
            2,
            Delay(Duration::from_secs(3)),
        ),
        c("truncated JSON", "/api/", 4, TruncatedJson),
        c("malformed JSON", "/siem/", 3, MalformedJson),
        c("HTML error pages", "/api/", 3, HtmlError(502)),
        c(
            "retryable fail[]",
            "/api/",
            3,
            Fail {
                code: "err_service_busy".into(),
                retryable: true,
            },
        ),
        c(
            "non-retryable fail[]",
            "/api/",
            2,
            Fail {
                code: "err_internal".into(),
                retryable: false,
            },
        ),
        c("token expired mid-pagination", "/api/", 2, TokenExpired),
        c("expired SIEM file URLs", "/storage/", 3, Forbidden),
    ]
}

async fn drain_with_fault(case: &Case) {
    let acme = SimTenant::named("acme");
    let sim = start_sim(mimecast_sim::SimConfig {
        tenants: vec![acme.clone()],
        siem_cg_records_per_file: 50,
        quota_per_minute: 0,
        ..sim_config(RECORDS)
    })
    .await;
    // Let the first requests through so the fault lands mid-drain.
    sim.inject(FaultRule {
        path_prefix: Some(case.path.into()),
        tenant: None,
        times: case.times,
        after: 2,
        kind: case.kind.clone(),
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let mut tenant = with_streams(
        v2_tenant(&sim, &acme),
        &[StreamKind::TtpUrl, StreamKind::Audit, StreamKind::SiemCg],
    );
    for s in &mut tenant.streams {
        s.poll_interval = Duration::from_millis(300);
        s.page_size = 50;
        s.types = vec!["receipt".into()];
    }
    let mut config = collector_config(
        vec![tenant],
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    config.http.request_timeout = Duration::from_secs(1);
    let daemon = spawn_daemon(config, Duration::from_secs(2));
    daemon
        .wait_for_lines(
            &out,
            RECORDS as usize * 3,
            Duration::from_secs(30),
            case.name,
        )
        .await;
    // One more poll cycle, to catch anything written twice after the fault.
    daemon.settle_and_stop().await;
    let text = std::fs::read_to_string(&out).unwrap();
    assert_exactly_once(
        &sim,
        &text,
        &[
            ("acme", "ttp_url"),
            ("acme", "audit"),
            ("acme", "siem_cg:receipt"),
        ],
        case.name,
    );
    let applied = sim.requests().iter().filter(|r| r.fault.is_some()).count();
    assert!(applied > 0, "{}: the fault was never applied", case.name);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_mid_drain_loses_and_repeats_nothing() {
    for case in cases() {
        let started = Instant::now();
        drain_with_fault(&case).await;
        eprintln!("fault ok: {} ({:?})", case.name, started.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulator_restarted_mid_drain_is_survived() {
    let acme = SimTenant::named("acme");
    let config_sim = mimecast_sim::SimConfig {
        tenants: vec![acme.clone()],
        quota_per_minute: 0,
        faults: vec![FaultRule {
            path_prefix: Some("/api/".into()),
            tenant: None,
            times: u32::MAX,
            after: 0,
            kind: FaultKind::Delay(Duration::from_millis(30)),
        }],
        ..sim_config(2000)
    };
    let sim = start_sim(config_sim.clone()).await;
    let addr = sim.addr();
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
    let daemon = spawn_daemon(config, Duration::from_secs(2));
    daemon
        .wait_for_lines(&out, 500, Duration::from_secs(30), "before the restart")
        .await;
    // The simulator goes away (connections refused), then comes back on the same address with
    // the same data; its tokens and page tokens from before are all that changed.
    sim.shutdown().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sim = Simulator::bind(
        mimecast_sim::SimConfig {
            faults: vec![],
            ..config_sim
        },
        addr,
    )
    .await
    .unwrap();
    daemon
        .wait_for_lines(
            &out,
            4000,
            Duration::from_secs(30),
            "after the simulator restart",
        )
        .await;
    daemon.settle_and_stop().await;
    let text = std::fs::read_to_string(&out).unwrap();
    assert_exactly_once(
        &sim,
        &text,
        &[("acme", "ttp_url"), ("acme", "audit")],
        "after the simulator restart",
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_keys_stop_the_hammering_and_say_what_to_do() {
    let globex = SimTenant::named("globex");
    let sim = start_sim(mimecast_sim::SimConfig {
        tenants: vec![globex.clone()],
        ..sim_config(100)
    })
    .await;
    sim.expire_binding("globex");
    let dir = tempfile::tempdir().unwrap();
    let mut tenant = with_streams(v1_tenant(&sim, &globex), &[StreamKind::Audit]);
    tenant.streams[0].poll_interval = Duration::from_millis(500);
    let config = collector_config(
        vec![tenant],
        &dir.path().join("state.db"),
        SinkKind::File {
            path: dir.path().join("out.jsonl"),
        },
    );
    let state_path = config.collector.state_path.clone();
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(daemon::run(
        config,
        RunOptions::default(),
        shutdown.clone(),
        |_| {},
    ));
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert!(!run.is_finished(), "the daemon keeps running");
    shutdown.cancel();
    run.await.unwrap().unwrap();
    // One request per poll interval (about 5 in 2.2 s), not a retry storm.
    let requests = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/api/audit/get-audit-events")
        .count();
    assert!((1..=6).contains(&requests), "{requests} requests in 2.2 s");
    let state = mimecast_collector::state::State::open(&state_path).unwrap();
    let row = state
        .status()
        .unwrap()
        .into_iter()
        .find(|r| r.key.stream == "audit")
        .unwrap();
    assert!(row.last_error.unwrap().contains("set the service user's Authentication Cache TTL to Never Expire and run `mimecast-collector login` again"));
    sim.shutdown().await;
}
