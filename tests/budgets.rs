//! Endpoint budgets and 429s per endpoint family, against the simulator: idle SIEM polls fit
//! the listing's budget (no 429 from a server that enforces it), and a 429 on the SIEM listing
//! does not hold back the tenant's other calls.

mod common;
use mimecast_sim::{FaultKind, FaultRule, RecordedRequest, SimConfig, SimTenant};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn is_listing(r: &RecordedRequest) -> bool {
    r.path.starts_with("/siem/v1/batch/events/")
}

fn config(dir: &Path, sim: &mimecast_sim::Simulator, acme: &SimTenant, extra: &str) -> String {
    let v2 = acme.v2.as_ref().unwrap();
    format!(
        "[collector]\nstate_path = {:?}\npoll_interval = \"1s\"\n{extra}[sink]\nkind = \"file\"\npath = {:?}\n[[tenant]]\nname = \"acme\"\nbase_url = {:?}\nclient_id = {:?}\nclient_secret = {:?}\nstreams = [\"siem_cg\", \"ttp_url\"]\n",
        dir.join("state.db").display().to_string(),
        dir.join("events.jsonl").display().to_string(),
        sim.base_url(),
        v2.client_id,
        v2.client_secret
    )
}

/// Ten SIEM types caught up and polling every second want ten listings a second; a server
/// that allows 50 per 15 minutes (the peer's figure) would refuse most of them. With the
/// default budget the daemon sends at most 50, gets no 429, and its other stream goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_siem_polls_fit_the_listing_budget_and_meet_no_429() {
    let acme = SimTenant::named("acme");
    let sim = common::start_sim(SimConfig {
        tenants: vec![acme.clone()],
        records_per_stream: 20,
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(5)),
        siem_listing_quota: Some((50, Duration::from_secs(900))),
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.toml");
    // The http section is left out: every budget is the default.
    std::fs::write(&config_path, config(dir.path(), &sim, &acme, "")).unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_mimecast-collector"))
        .args(["--log-level", "warn", "run", "--config"])
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Run until idle polls have wanted well past the budget: 50 listings, then 4 s more (40
    // more listings wanted at ten a second).
    let started = Instant::now();
    let spent = loop {
        let listings: Vec<Instant> = sim
            .requests()
            .iter()
            .filter(|r| is_listing(r))
            .map(|r| r.at)
            .collect();
        if listings.len() >= 50 {
            break listings[49];
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} listings in a minute",
            listings.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_secs(4)).await;
    let _ = daemon.kill();
    let _ = daemon.wait();
    let requests = sim.requests();
    let refused: Vec<&RecordedRequest> = requests.iter().filter(|r| r.status == 429).collect();
    assert!(
        refused.is_empty(),
        "{} answered 429: {:?}",
        refused.len(),
        refused[0].path
    );
    let listings = requests.iter().filter(|r| is_listing(r)).count();
    assert_eq!(listings, 50, "listings sent");
    // The tenant's other calls were not held back by the listing's spent budget.
    let later = requests
        .iter()
        .filter(|r| r.path.contains("/ttp/url/") && r.at > spent)
        .count();
    assert!(
        later >= 2,
        "{later} ttp_url polls after the listing budget was spent"
    );
}

/// A 429 on the SIEM listing (5 s to wait) pauses the SIEM listing only: the tenant's URL
/// logs go on being read during the pause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_the_siem_listing_does_not_delay_the_other_calls() {
    let acme = SimTenant::named("acme");
    let sim = common::start_sim(SimConfig {
        tenants: vec![acme.clone()],
        records_per_stream: 1000,
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(5)),
        faults: vec![
            FaultRule {
                path_prefix: Some("/siem/v1/batch/events/".into()),
                tenant: None,
                times: 1,
                after: 0,
                kind: FaultKind::RateLimit {
                    reset_ms: Some(5000),
                },
            },
            // URL log pages take a while, so that the drain is still going during the pause.
            FaultRule {
                path_prefix: Some("/api/ttp/url/".into()),
                tenant: None,
                times: u32::MAX,
                after: 0,
                kind: FaultKind::Delay(Duration::from_millis(150)),
            },
        ],
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config(dir.path(), &sim, &acme, "")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_mimecast-collector"))
        .args(["--log-level", "warn", "run", "--once", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let requests = sim.requests();
    let refused = requests
        .iter()
        .find(|r| r.status == 429)
        .expect("the listing was refused once");
    assert!(is_listing(refused));
    let refused_at = refused.answered.unwrap_or(refused.at);
    // The listing's pause itself is the limiter's (src/api/limiter.rs); here: the tenant's
    // other calls are not held back while it lasts.
    let pause_ends = refused_at + Duration::from_millis(4500);
    let during = requests
        .iter()
        .filter(|r| r.path.contains("/ttp/url/") && r.at > refused_at && r.at < pause_ends)
        .count();
    // All ten pages (and the empty one after them) fit in the pause; a paused tenant would
    // have let through only what was already in flight.
    assert!(
        during >= 6,
        "{during} URL log requests during the listing's pause"
    );
    common::assert_exactly_once(
        &sim,
        &std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap(),
        &[("acme", "ttp_url"), ("acme", "siem_cg")],
        "after the pause",
    );
}
