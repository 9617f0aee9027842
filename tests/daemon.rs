//! The daemon against the simulator: every record of every stream comes out exactly once,
//! normalized and valid against the schema, on both APIs.

mod common;

use common::*;
use mimecast_collector::config::{SinkKind, StreamKind};
use mimecast_collector::daemon::{self, RunOptions};
use mimecast_sim::SimTenant;
use std::collections::HashMap;
use tokio_util::sync::CancellationToken;

const WINDOW_STREAMS: [StreamKind; 7] = [
    StreamKind::TtpUrl,
    StreamKind::TtpAttachment,
    StreamKind::TtpImpersonation,
    StreamKind::Audit,
    StreamKind::MessageTracking,
    StreamKind::ArchiveSearch,
    StreamKind::ArchiveSearchLogs,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_window_stream_on_both_apis_comes_out_exactly_once() {
    let v1 = SimTenant::named("globex");
    let v2 = SimTenant::named("acme");
    let sim = start_sim(mimecast_sim::SimConfig {
        tenants: vec![v1.clone(), v2.clone()],
        ..sim_config(230)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let tenants = vec![
        with_streams(v1_tenant(&sim, &v1), &WINDOW_STREAMS),
        with_streams(v2_tenant(&sim, &v2), &WINDOW_STREAMS),
    ];
    let config = collector_config(
        tenants,
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    run_once(config.clone()).await;

    let events = read_events(&out);
    let validator = schema();
    let mut by_stream: HashMap<(String, String), Vec<serde_json::Value>> = HashMap::new();
    for e in &events {
        let errors: Vec<String> = validator.iter_errors(e).map(|x| x.to_string()).collect();
        assert!(errors.is_empty(), "{e}: {errors:?}");
        by_stream
            .entry((
                e["tenant"].as_str().unwrap().into(),
                e["stream"].as_str().unwrap().into(),
            ))
            .or_default()
            .push(e.clone());
    }
    for tenant in [&v1, &v2] {
        for kind in WINDOW_STREAMS {
            let expected = sim.expected_records(&tenant.name, kind.name());
            assert_eq!(expected.len(), 230, "{kind}: simulator backlog");
            let got = by_stream
                .remove(&(tenant.name.clone(), kind.name().to_string()))
                .unwrap_or_default();
            let mut raws: Vec<String> = got.iter().map(|e| e["raw"].to_string()).collect();
            let mut want: Vec<String> = expected.iter().map(|r| r.to_string()).collect();
            raws.sort();
            want.sort();
            assert_eq!(
                raws.len(),
                want.len(),
                "{}/{kind}: {} events for {} records",
                tenant.name,
                raws.len(),
                want.len()
            );
            assert_eq!(raws, want, "{}/{kind}: records differ", tenant.name);
            let ids: std::collections::HashSet<_> = got
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(
                ids.len(),
                got.len(),
                "{}/{kind}: ids are unique",
                tenant.name
            );
        }
    }
    assert!(
        by_stream.is_empty(),
        "unexpected streams: {:?}",
        by_stream.keys()
    );

    // A second run finds nothing new: the overlap re-read is deduplicated.
    let before = std::fs::metadata(&out).unwrap().len();
    run_once(config).await;
    assert_eq!(
        std::fs::metadata(&out).unwrap().len(),
        before,
        "a re-run emitted duplicates"
    );
    sim.shutdown().await;
}

fn sorted_raws(events: &[serde_json::Value], tenant: &str, stream: &str) -> Vec<String> {
    let mut v: Vec<String> = events
        .iter()
        .filter(|e| e["tenant"] == tenant && e["stream"] == stream)
        .map(|e| e["raw"].to_string())
        .collect();
    v.sort();
    v
}

fn sorted_expected(sim: &mimecast_sim::Simulator, tenant: &str, stream: &str) -> Vec<String> {
    let mut v: Vec<String> = sim
        .expected_records(tenant, stream)
        .iter()
        .map(|r| r.to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn siem_cg_files_of_every_type_come_out_exactly_once() {
    let acme = SimTenant::named("acme");
    let sim = start_sim(mimecast_sim::SimConfig {
        tenants: vec![acme.clone()],
        siem_cg_records_per_file: 40,
        ..sim_config(150)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let tenant = with_streams(v2_tenant(&sim, &acme), &[StreamKind::SiemCg]);
    let mut config = collector_config(
        vec![tenant],
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    config.tenants[0].streams[0].types = mimecast_collector::streams::SIEM_CG_TYPES
        .iter()
        .map(|s| s.to_string())
        .collect();
    config.tenants[0].streams[0].page_size = 2;
    run_once(config.clone()).await;
    let events = read_events(&out);
    let want = sorted_expected(&sim, "acme", "siem_cg");
    assert_eq!(want.len(), 1500, "150 records for each of 10 types");
    assert_eq!(sorted_raws(&events, "acme", "siem_cg"), want);
    // File downloads carry no Authorization header (pre-signed URLs).
    let downloads: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/storage/"))
        .collect();
    assert!(!downloads.is_empty());
    assert!(downloads
        .iter()
        .all(|r| r.header("authorization").is_none()));
    // Nothing new on a second run.
    let before = std::fs::metadata(&out).unwrap().len();
    run_once(config).await;
    assert_eq!(std::fs::metadata(&out).unwrap().len(), before);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_siem_file_url_is_fetched_again_not_skipped() {
    let acme = SimTenant::named("acme");
    let sim = start_sim(mimecast_sim::SimConfig {
        tenants: vec![acme.clone()],
        siem_cg_records_per_file: 25,
        ..sim_config(100)
    })
    .await;
    // The second file download of the run answers 403, as an expired pre-signed URL does.
    sim.inject(mimecast_sim::FaultRule {
        path_prefix: Some("/storage/".into()),
        tenant: None,
        times: 1,
        after: 1,
        kind: mimecast_sim::FaultKind::Forbidden,
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let mut config = collector_config(
        vec![with_streams(v2_tenant(&sim, &acme), &[StreamKind::SiemCg])],
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    config.tenants[0].streams[0].types = vec!["receipt".into()];
    run_once(config).await;
    let events = read_events(&out);
    let mut want: Vec<String> = sim
        .expected_records("acme", "siem_cg")
        .iter()
        .filter(|r| r["type"] == "receipt")
        .map(|r| r.to_string())
        .collect();
    want.sort();
    assert_eq!(want.len(), 100);
    assert_eq!(sorted_raws(&events, "acme", "siem_cg"), want);
    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/storage/"))
        .map(|r| r.status)
        .collect();
    assert!(
        statuses.contains(&403),
        "the fault was applied: {statuses:?}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_token_and_snapshot_streams_come_out_exactly_once() {
    let v1 = SimTenant::named("globex");
    let v2 = SimTenant::named("acme");
    let sim = start_sim(mimecast_sim::SimConfig {
        tenants: vec![v1.clone(), v2.clone()],
        siem_mta_records_per_file: 30,
        ..sim_config(120)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let feeds = vec!["malware_customer".to_string(), "malware_grid".to_string()];
    let mut t1 = with_streams(
        v1_tenant(&sim, &v1),
        &[
            StreamKind::SiemMta,
            StreamKind::ThreatIntel,
            StreamKind::Dashboard,
            StreamKind::Directory,
        ],
    );
    t1.streams[1].feed_types = feeds.clone();
    let mut t2 = with_streams(
        v2_tenant(&sim, &v2),
        &[
            StreamKind::ThreatIntel,
            StreamKind::Dashboard,
            StreamKind::Directory,
        ],
    );
    t2.streams[0].feed_types = feeds;
    let config = collector_config(
        vec![t1, t2],
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    run_once(config.clone()).await;
    let events = read_events(&out);
    let validator = schema();
    for e in &events {
        assert!(validator.is_valid(e), "{e}");
    }
    for (tenant, streams) in [
        (
            "globex",
            vec!["siem_mta", "threat_intel", "dashboard", "directory"],
        ),
        ("acme", vec!["threat_intel", "dashboard", "directory"]),
    ] {
        for stream in streams {
            let want = sorted_expected(&sim, tenant, stream);
            assert!(
                !want.is_empty(),
                "{tenant}/{stream}: simulator serves nothing"
            );
            let got = sorted_raws(&events, tenant, stream);
            if got != want {
                let reqs: Vec<String> = sim
                    .requests()
                    .iter()
                    .filter(|r| r.tenant.as_deref() == Some(tenant))
                    .map(|r| {
                        format!(
                            "{} {} {} {:?}",
                            r.status,
                            r.path,
                            r.body.chars().take(200).collect::<String>(),
                            r.header("x-mc-threat-feed-next-token")
                        )
                    })
                    .collect();
                panic!("{tenant}/{stream}: {} events for {} records; first difference: {:?}\nrequests:\n{}", got.len(), want.len(), got.iter().zip(&want).find(|(a, b)| a != b), reqs.join("\n"));
            }
        }
    }
    assert!(events
        .iter()
        .filter(|e| e["stream"] == "directory")
        .all(|e| e["action"] == "added"));
    let before = std::fs::metadata(&out).unwrap().len();
    run_once(config).await;
    assert_eq!(
        std::fs::metadata(&out).unwrap().len(),
        before,
        "a second run found nothing new"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_lookback_is_walked_in_bounded_windows_without_gaps_or_repeats() {
    let acme = SimTenant::named("acme");
    let sim = start_sim(mimecast_sim::SimConfig {
        tenants: vec![acme.clone()],
        span: std::time::Duration::from_secs(60 * 3600),
        ..sim_config(500)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let mut config = collector_config(
        vec![with_streams(
            v2_tenant(&sim, &acme),
            &[StreamKind::TtpUrl, StreamKind::Audit],
        )],
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    config.collector.initial_lookback = std::time::Duration::from_secs(3 * 24 * 3600);
    run_once(config).await;
    let events = read_events(&out);
    for stream in ["ttp_url", "audit"] {
        assert_eq!(
            sorted_raws(&events, "acme", stream),
            sorted_expected(&sim, "acme", stream),
            "{stream}"
        );
    }
    // 60 hours of backlog in windows of at most a day: at least three windows were read.
    let windows: std::collections::HashSet<String> = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/api/audit/get-audit-events")
        .filter_map(|r| r.json())
        .map(|b| b["data"][0]["startDateTime"].to_string())
        .collect();
    assert!(windows.len() >= 3, "{windows:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_tenant_does_not_stop_the_others() {
    let good = SimTenant::named("good");
    let mut bad = SimTenant::named("bad");
    bad.denied = vec!["Account | Logs | Read".to_string()];
    let sim = start_sim(mimecast_sim::SimConfig {
        tenants: vec![good.clone(), bad.clone()],
        ..sim_config(150)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let mut broken = with_streams(v2_tenant(&sim, &good), &[StreamKind::TtpUrl]);
    broken.name = "broken".into();
    if let mimecast_collector::config::Credentials::V2(c) = &mut broken.credentials {
        c.client_secret = secrecy::SecretString::from("wrong");
    }
    let tenants = vec![
        broken,
        with_streams(
            v2_tenant(&sim, &bad),
            &[StreamKind::Audit, StreamKind::TtpUrl],
        ),
        with_streams(v1_tenant(&sim, &good), &[StreamKind::Audit]),
    ];
    let config = collector_config(
        tenants,
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    run_once(config.clone()).await;
    let events = read_events(&out);
    assert_eq!(
        sorted_raws(&events, "bad", "ttp_url"),
        sorted_expected(&sim, "bad", "ttp_url"),
        "the permitted stream of a tenant with a 403 elsewhere"
    );
    assert_eq!(
        sorted_raws(&events, "good", "audit"),
        sorted_expected(&sim, "good", "audit")
    );
    assert!(sorted_raws(&events, "bad", "audit").is_empty());
    assert!(sorted_raws(&events, "broken", "ttp_url").is_empty());
    // The failures are recorded for `status`, with what to do.
    let state = mimecast_collector::state::State::open(&config.collector.state_path).unwrap();
    let rows = state.status().unwrap();
    let err = |t: &str, s: &str| {
        rows.iter()
            .find(|r| r.key.tenant == t && r.key.stream == s)
            .and_then(|r| r.last_error.clone())
            .unwrap_or_default()
    };
    assert!(
        err("bad", "audit").contains("Account | Logs | Read"),
        "{rows:?}"
    );
    assert!(
        err("broken", "ttp_url").contains("client_secret"),
        "{rows:?}"
    );
    assert_eq!(err("good", "audit"), "");
    sim.shutdown().await;
}

/// Tenant "acme" with `records` in `kind`, whose page tokens are refused twice (in a first run
/// and after the restart) once `after` requests have passed, as Mimecast refuses an expired
/// token; the lookback puts the whole backlog in one window.
async fn refused_token_setup(
    records: u64,
    kind: StreamKind,
    path: &str,
    after: u32,
) -> (
    mimecast_sim::Simulator,
    tempfile::TempDir,
    std::path::PathBuf,
    mimecast_collector::config::Config,
) {
    let (acme, sim) = start_acme_sim(records).await;
    sim.inject(mimecast_sim::FaultRule {
        path_prefix: Some(path.into()),
        tenant: None,
        times: 2,
        after,
        kind: mimecast_sim::FaultKind::Fail {
            code: "err_invalid_page_token".into(),
            retryable: false,
        },
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let mut config = collector_config(
        vec![with_streams(v2_tenant(&sim, &acme), &[kind])],
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    config.collector.initial_lookback = std::time::Duration::from_secs(3 * 3600);
    (sim, dir, out, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_page_token_after_a_restart_repeats_nothing() {
    // The first request passes; the next two (the page token, in this run and after the
    // restart) are refused. One window holds the whole backlog.
    let (sim, _dir, out, config) =
        refused_token_setup(250, StreamKind::Audit, "/api/audit", 1).await;
    run_once(config.clone()).await;
    let seen: Vec<_> = sim
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.status, r.fault.clone()))
        .collect();
    assert_eq!(
        read_events(&out).len(),
        100,
        "the first page was written before the refusal: {seen:?}"
    );
    run_once(config).await;
    let events = read_events(&out);
    let raws = sorted_raws(&events, "acme", "audit");
    let mut unique = raws.clone();
    unique.dedup();
    assert_eq!(
        raws.len(),
        unique.len(),
        "{} records written twice",
        raws.len() - unique.len()
    );
    assert_eq!(raws, sorted_expected(&sim, "acme", "audit"));
    sim.shutdown().await;
}

/// TTP logs are asked oldest first: a refused token restarts at the newest second written (not
/// the window's start), and what is remembered for dedup is the next window's overlap, not the
/// window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_window_resumes_at_its_newest_second_and_remembers_only_the_overlap() {
    // Pages 1-3 pass; the 4th request (a page token) fails in this run, and again after the
    // restart. One window holds the whole two-hour backlog.
    let (sim, _dir, out, mut config) =
        refused_token_setup(2400, StreamKind::TtpUrl, "/api/ttp/url", 3).await;
    config.tenants[0].streams[0].page_size = 100;
    run_once(config.clone()).await;
    let first = read_events(&out);
    assert_eq!(first.len(), 300, "three pages before the refusal");
    let newest = first
        .iter()
        .filter_map(|e| e["time"].as_str())
        .max()
        .unwrap()
        .to_string();
    run_once(config.clone()).await;

    let events = read_events(&out);
    let raws = sorted_raws(&events, "acme", "ttp_url");
    let mut unique = raws.clone();
    unique.dedup();
    assert_eq!(raws.len(), unique.len(), "records written twice");
    assert_eq!(raws, sorted_expected(&sim, "acme", "ttp_url"));
    // The restart asked from the newest second written, not from the window's start.
    let mut fresh: Vec<serde_json::Value> = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/ttp/url") && r.status == 200)
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
        .filter(|b| b["meta"]["pagination"]["pageToken"].is_null())
        .collect();
    // (A later second may add the next window; only the first window's requests count here.)
    let window_end = fresh[0]["data"][0]["to"].clone();
    fresh.retain(|b| b["data"][0]["to"] == window_end);
    assert_eq!(
        fresh.len(),
        2,
        "the first page, then the restart: {fresh:?}"
    );
    let restart_from = fresh[1]["data"][0]["from"].as_str().unwrap().to_string();
    assert_eq!(
        &restart_from[..19],
        &newest[..19],
        "restart at the newest second written"
    );
    // Only the last max_lag (5 of 120 minutes) is remembered: about 100 of 2,400 ids.
    let state = mimecast_collector::state::State::open(&config.collector.state_path).unwrap();
    let remembered = state.seen_ids("acme", "ttp_url").unwrap().len();
    assert!(
        (50..=200).contains(&remembered),
        "{remembered} ids remembered"
    );
    sim.shutdown().await;
}

/// A backlog walk asks for each record once: windows that end more than `max_lag` before they
/// are read do not re-read an overlap, so requests = pages of records + one per empty window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_walk_makes_no_wasted_requests() {
    let (acme, sim) = start_acme_sim(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let mut config = collector_config(
        vec![with_streams(v2_tenant(&sim, &acme), &[StreamKind::TtpUrl])],
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    config.tenants[0].streams[0].page_size = 100;
    // 24 h in 6 h windows: three hold nothing, the last holds the two-hour backlog.
    config.collector.initial_lookback = std::time::Duration::from_secs(24 * 3600);
    run_once(config).await;
    let raws = sorted_raws(&read_events(&out), "acme", "ttp_url");
    assert_eq!(raws, sorted_expected(&sim, "acme", "ttp_url"));
    let requests = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/ttp/url"))
        .count();
    assert_eq!(
        requests,
        10 + 3,
        "1,000 records in pages of 100, 3 empty windows"
    );
    sim.shutdown().await;
}

/// A long-running daemon spreads its streams' first polls (5 ms apart) instead of starting them
/// all in one instant; `--once` does not wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_polls_are_staggered() {
    let tenants: Vec<SimTenant> = (0..10)
        .map(|i| SimTenant::named(&format!("t{i}")))
        .collect();
    let sim = start_sim(mimecast_sim::SimConfig {
        tenants: tenants.clone(),
        ..sim_config(0)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = collector_config(
        tenants
            .iter()
            .map(|t| {
                with_streams(
                    v2_tenant(&sim, t),
                    &[
                        StreamKind::TtpUrl,
                        StreamKind::TtpAttachment,
                        StreamKind::Audit,
                        StreamKind::Dashboard,
                    ],
                )
            })
            .collect(),
        &dir.path().join("state.db"),
        SinkKind::File {
            path: dir.path().join("out.jsonl"),
        },
    );
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let daemon = tokio::spawn(daemon::run(config, RunOptions::default(), shutdown, |_| {}));
    // 40 streams started 5 ms apart: the first requests span about 195 ms (less the first
    // stream's wait for the tenant's token); started together they would span a few ms.
    let first_requests = |sim: &mimecast_sim::Simulator| {
        let mut first: HashMap<(String, String), std::time::Instant> = HashMap::new();
        for r in sim.requests() {
            // The journal lists a request as it arrives and names its tenant once it is
            // authenticated: one still in flight (no tenant yet) is counted when it has one.
            // (Counting it as tenant "" made a 41st stream under load.)
            if let (true, Some(tenant)) = (r.path.starts_with("/api/"), &r.tenant) {
                first
                    .entry((tenant.clone(), r.path.clone()))
                    .or_insert(r.at);
            }
        }
        first
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while first_requests(&sim).len() < 40 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let first = first_requests(&sim);
    stop.cancel();
    daemon.await.unwrap().unwrap();
    assert_eq!(
        first.len(),
        40,
        "every stream polled: {:?}",
        first.keys().collect::<Vec<_>>()
    );
    let earliest = first.values().min().unwrap();
    let latest = first.values().max().unwrap();
    assert!(
        latest.duration_since(*earliest) >= std::time::Duration::from_millis(150),
        "first polls spread over {:?}",
        latest.duration_since(*earliest)
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_not_held_up_by_a_long_rate_limit_wait() {
    let (acme, sim) = start_acme_sim(50).await;
    sim.inject(mimecast_sim::FaultRule {
        path_prefix: Some("/api/audit".into()),
        tenant: None,
        times: u32::MAX,
        after: 0,
        kind: mimecast_sim::FaultKind::RateLimit {
            reset_ms: Some(100_000),
        },
    });
    let dir = tempfile::tempdir().unwrap();
    let config = collector_config(
        vec![with_streams(
            v2_tenant(&sim, &acme),
            &[StreamKind::Audit, StreamKind::TtpUrl],
        )],
        &dir.path().join("state.db"),
        SinkKind::File {
            path: dir.path().join("out.jsonl"),
        },
    );
    let shutdown = CancellationToken::new();
    let options = RunOptions {
        grace: Some(std::time::Duration::from_secs(1)),
        ..RunOptions::default()
    };
    let run = tokio::spawn(daemon::run(config, options, shutdown.clone(), |_| {}));
    // Wait until the audit stream is parked behind the 429.
    let started = std::time::Instant::now();
    while !sim.requests().iter().any(|r| r.status == 429) {
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    // Generous bound: the grace is 1 s; before the fix this waited for the 100 s reset.
    let result = tokio::time::timeout(std::time::Duration::from_secs(15), run).await;
    assert!(
        result.is_ok(),
        "the daemon did not stop while a stream waited out a 429"
    );
    result.unwrap().unwrap().unwrap();
    sim.shutdown().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_private_or_shared_with_the_configured_group() {
    use std::os::unix::fs::PermissionsExt;
    let (acme, sim) = start_acme_sim(10).await;
    for (group, mode) in [(None, 0o600), (Some(0), 0o640)] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("events.jsonl");
        let mut config = collector_config(
            vec![with_streams(v2_tenant(&sim, &acme), &[StreamKind::Audit])],
            &dir.path().join("state.db"),
            SinkKind::File { path: out.clone() },
        );
        config.collector.file_group = group;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        run_once(config).await;
        for path in [&out, &dir.path().join("state.db")] {
            let m = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, mode, "{} with group {group:?}", path.display());
        }
        // The group can also enter the directory (0700, as systemd's 0750 is to other groups):
        // read the files, not only own them.
        let d = std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        match group {
            None => assert_eq!(d, 0o700, "no group: the directory is left alone"),
            Some(_) => assert_eq!(d, 0o750, "the group may enter the directory"),
        }
    }
    sim.shutdown().await;
}

/// A settled window followed by a short one that is not (cut at "now"): the next poll's overlap
/// reaches back past the settled window's end. Its ids must still be remembered there, or the
/// events of those seconds are written twice (seen with 133 threats when windows were halved).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlap_reaching_back_past_a_settled_window_repeats_nothing() {
    let acme = SimTenant::named("acme");
    // One record a second, up to the server's now (records appear as its clock reaches them).
    let sim = start_sim(mimecast_sim::SimConfig {
        tenants: vec![acme.clone()],
        records_per_stream: 7_200,
        end: Some(time::OffsetDateTime::now_utc() + time::Duration::minutes(30)),
        span: std::time::Duration::from_secs(7_200),
        quota_per_minute: 0,
        ..mimecast_sim::SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let mut tenant = with_streams(v2_tenant(&sim, &acme), &[StreamKind::TtpUrl]);
    for s in &mut tenant.streams {
        s.page_size = 500;
        s.poll_interval = std::time::Duration::from_secs(1);
    }
    let mut config = collector_config(
        vec![tenant],
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    // The first window ends 5 min 10 s ago (settled); the next, 4 min 40 s long, is not.
    config.collector.initial_lookback = std::time::Duration::from_secs(6 * 3600 + 310);
    let daemon = spawn_daemon(config, std::time::Duration::from_secs(2));
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    daemon.shutdown.cancel();
    daemon.run.await.unwrap().unwrap();
    let events = read_events(&out);
    assert!(events.len() > 1_000, "{} events", events.len());
    let mut ids = std::collections::HashSet::new();
    let repeated = events
        .iter()
        .filter(|e| !ids.insert(e["id"].as_str().unwrap_or_default().to_string()))
        .count();
    assert_eq!(repeated, 0, "events written twice");
    sim.shutdown().await;
}

/// The most requests under `prefix` that were open at one instant.
fn most_open_at_once(sim: &mimecast_sim::Simulator, prefix: &str) -> usize {
    let spans: Vec<(std::time::Instant, std::time::Instant)> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with(prefix))
        .map(|r| (r.at, r.answered.expect("every request answered")))
        .collect();
    spans
        .iter()
        .map(|(start, _)| {
            spans
                .iter()
                .filter(|(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// A page's SIEM files are downloaded several at a time (`[http] file_downloads`), never more,
/// and still written in the page's order, each record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn siem_files_of_a_page_download_at_once_and_are_written_in_order() {
    // (file_downloads, the fewest and the most files seen open at once): three start together
    // (at least two overlap even on a crawling machine), never a fourth; one is one at a time.
    for (downloads, open) in [(3usize, 2..=3usize), (1, 1..=1)] {
        let acme = SimTenant::named("acme");
        let sim = start_sim(mimecast_sim::SimConfig {
            tenants: vec![acme.clone()],
            siem_cg_records_per_file: 10,
            ..sim_config(120)
        })
        .await;
        // Every file takes a while to answer, as Mimecast's storage does.
        sim.inject(mimecast_sim::FaultRule {
            path_prefix: Some("/storage/".into()),
            tenant: None,
            times: u32::MAX,
            after: 0,
            kind: mimecast_sim::FaultKind::Delay(std::time::Duration::from_millis(150)),
        });
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("events.jsonl");
        let mut config = collector_config(
            vec![with_streams(v2_tenant(&sim, &acme), &[StreamKind::SiemCg])],
            &dir.path().join("state.db"),
            SinkKind::File { path: out.clone() },
        );
        config.http.file_downloads = downloads;
        config.tenants[0].streams[0].types = vec!["receipt".into()];
        run_once(config).await;
        let files = sim
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/storage/"))
            .count();
        assert_eq!(files, 12, "120 records in files of 10");
        let most = most_open_at_once(&sim, "/storage/");
        assert!(
            open.contains(&most),
            "file_downloads = {downloads}: {most} files open at once"
        );
        // In the order the files were listed, each record once.
        let got: Vec<String> = read_events(&out)
            .iter()
            .map(|e| e["raw"].to_string())
            .collect();
        let want: Vec<String> = sim
            .expected_records("acme", "siem_cg:receipt")
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(got, want, "file_downloads = {downloads}");
        sim.shutdown().await;
    }
}

/// API calls ask for gzip, and the gzipped answers (the simulator compresses JSON for clients
/// that ask) are read as the plain ones were: every record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_calls_ask_for_gzip_and_read_compressed_answers() {
    let acme = SimTenant::named("acme");
    let sim = start_sim(mimecast_sim::SimConfig {
        tenants: vec![acme.clone()],
        ..sim_config(150)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let config = collector_config(
        vec![with_streams(
            v1_tenant(&sim, &acme),
            &[StreamKind::TtpUrl, StreamKind::Audit],
        )],
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    run_once(config).await;
    let api: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/"))
        .collect();
    assert!(api.len() >= 4, "{} API requests", api.len());
    for r in &api {
        assert!(
            r.header("accept-encoding")
                .is_some_and(|v| v.contains("gzip")),
            "{} did not ask for gzip: {:?}",
            r.path,
            r.headers
        );
    }
    let text = std::fs::read_to_string(&out).unwrap();
    assert_exactly_once(
        &sim,
        &text,
        &[("acme", "ttp_url"), ("acme", "audit")],
        "gzip",
    );
    sim.shutdown().await;
}
