//! A server that misbehaves must not make the collector repeat, lose or wedge. Each case
//! provokes one misbehaviour in the simulator (its fault modes) while a daemon drains, and
//! checks what the output and the state database hold afterwards. The fixes live in the one
//! driver (`streams::driver`), so the cases cover every kind of source.

mod common;

use common::*;
use mimecast_collector::config::{Config, SinkKind, StreamKind, TenantConfig};
use mimecast_collector::daemon::{self, RunOptions};
use mimecast_collector::state::State;
use mimecast_sim::{FaultRule, SimConfig, SimTenant, Simulator};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const RECORDS: u64 = 300;

struct Drain {
    sim: Simulator,
    _dir: tempfile::TempDir,
    out: PathBuf,
    state: PathBuf,
    config: Config,
}

impl Drain {
    fn text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Every output line's raw record, per stream.
    fn raws(&self, stream: &str) -> Vec<String> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["stream"] == stream)
            .map(|v| v["raw"].to_string())
            .collect()
    }

    /// Every record of `streams` exactly once in the output; then the simulator stops.
    async fn exactly_once_then_stop(self, streams: &[(&str, &str)], context: &str) {
        assert_exactly_once(&self.sim, &self.text(), streams, context);
        self.sim.shutdown().await;
    }

    /// The stream wrote nothing twice and reports `no progress`; its records, for more checks.
    fn no_progress_reported(&self, stream: &str) -> Vec<String> {
        let raws = self.raws(stream);
        no_repeats(&raws, stream);
        let error = self
            .last_error(stream)
            .expect("the stream reports the fault");
        assert!(error.contains("no progress"), "{error}");
        raws
    }

    fn last_error(&self, stream: &str) -> Option<String> {
        State::open(&self.state)
            .unwrap()
            .status()
            .unwrap()
            .into_iter()
            .find(|s| s.key.stream == stream)
            .and_then(|s| s.last_error)
    }
}

fn rule(spec: &str) -> FaultRule {
    FaultRule::from_str(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

/// How a case runs: which streams, how the simulator misbehaves, how long.
struct Case<'a> {
    specs: &'a [&'a str],
    v1: bool,
    kinds: &'a [StreamKind],
    sim: Box<dyn FnOnce(&mut SimConfig) + 'a>,
    collector: Box<dyn FnOnce(&mut Config) + 'a>,
    /// Wait for this many lines (0: wait `wait` and stop).
    lines: usize,
    wait: Duration,
    /// `run --once`: one poll per stream, then the daemon ends by itself.
    once: bool,
}

impl<'a> Case<'a> {
    fn new(specs: &'a [&'a str], kinds: &'a [StreamKind]) -> Case<'a> {
        Case {
            specs,
            v1: false,
            kinds,
            sim: Box::new(|_| {}),
            collector: Box::new(|_| {}),
            lines: 0,
            wait: Duration::from_secs(20),
            once: false,
        }
    }

    fn v1(self) -> Self {
        Case { v1: true, ..self }
    }

    fn until(self, lines: usize) -> Self {
        Case { lines, ..self }
    }

    fn for_(self, wait: Duration) -> Self {
        Case { wait, ..self }
    }

    fn once(self) -> Self {
        Case { once: true, ..self }
    }

    fn sim(self, f: impl FnOnce(&mut SimConfig) + 'a) -> Self {
        Case {
            sim: Box::new(f),
            ..self
        }
    }

    fn collector(self, f: impl FnOnce(&mut Config) + 'a) -> Self {
        Case {
            collector: Box::new(f),
            ..self
        }
    }

    async fn start(self) -> (Drain, Option<RunningDaemon>) {
        let acme = SimTenant::named("acme");
        let mut sim_config = SimConfig {
            tenants: vec![acme.clone()],
            siem_cg_records_per_file: 50,
            siem_mta_records_per_file: 50,
            quota_per_minute: 0,
            faults: self.specs.iter().map(|s| rule(s)).collect(),
            ..sim_config(RECORDS)
        };
        (self.sim)(&mut sim_config);
        let sim = start_sim(sim_config).await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("events.jsonl");
        let state = dir.path().join("state.db");
        let base: TenantConfig = if self.v1 {
            v1_tenant(&sim, &acme)
        } else {
            v2_tenant(&sim, &acme)
        };
        let mut tenant = with_streams(base, self.kinds);
        for s in &mut tenant.streams {
            s.poll_interval = Duration::from_millis(300);
            s.page_size = 50;
            s.types = vec!["receipt".into()];
        }
        let mut config =
            collector_config(vec![tenant], &state, SinkKind::File { path: out.clone() });
        (self.collector)(&mut config);
        let drain = Drain {
            sim,
            _dir: dir,
            out,
            state,
            config: config.clone(),
        };
        if self.once {
            let options = RunOptions {
                once: true,
                ..Default::default()
            };
            tokio::time::timeout(
                self.wait,
                daemon::run(config, options, CancellationToken::new(), |_| {}),
            )
            .await
            .expect("run --once ends by itself")
            .unwrap();
            return (drain, None);
        }
        let daemon = spawn_daemon(config, Duration::from_secs(2));
        if self.lines > 0 {
            daemon
                .wait_for_lines(&drain.out, self.lines, self.wait, &self.specs.join(","))
                .await;
        } else {
            tokio::time::sleep(self.wait).await;
        }
        (drain, Some(daemon))
    }

    /// Runs the case to its end and stops the daemon.
    async fn run(self) -> Drain {
        let (drain, daemon) = self.start().await;
        if let Some(d) = daemon {
            d.settle_and_stop().await;
        }
        drain
    }
}

/// The same state and output, a daemon started again (after a restart of the collector).
async fn resume(d: &Drain, lines: usize) {
    let daemon = spawn_daemon(d.config.clone(), Duration::from_secs(2));
    daemon
        .wait_for_lines(&d.out, lines, Duration::from_secs(20), "after the restart")
        .await;
    daemon.settle_and_stop().await;
}

fn no_repeats(raws: &[String], what: &str) {
    let set: std::collections::HashSet<&String> = raws.iter().collect();
    assert_eq!(set.len(), raws.len(), "{what}: a record was written twice");
}

const URL: &[StreamKind] = &[StreamKind::TtpUrl];
const URL_AUDIT: &[StreamKind] = &[StreamKind::TtpUrl, StreamKind::Audit];
const CG: &[StreamKind] = &[StreamKind::SiemCg];
const MTA: &[StreamKind] = &[StreamKind::SiemMta];
const BOTH: &[(&str, &str)] = &[("acme", "ttp_url"), ("acme", "audit")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_token_that_never_changes_writes_nothing_twice_and_says_so() {
    // From the second page on, ttp_url's server answers the same page with the same token.
    let d = Case::new(&["same-tokenx*@/api/ttp/url/get-logs"], URL)
        .for_(Duration::from_secs(2))
        .run()
        .await;
    let raws = d.no_progress_reported("ttp_url");
    assert!(!raws.is_empty() && raws.len() < RECORDS as usize);
    d.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_siem_token_that_never_changes_writes_nothing_twice_and_says_so() {
    let d = Case::new(&["same-tokenx*@/api/audit/get-siem-logs"], MTA)
        .v1()
        .for_(Duration::from_secs(2))
        .run()
        .await;
    let raws = d.no_progress_reported("siem_mta");
    assert!(!raws.is_empty(), "the first file is written");
    d.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_pages_that_share_records_are_written_once() {
    let d = Case::new(&["overlap=10x*@/api/"], URL_AUDIT)
        .until(2 * RECORDS as usize)
        .run()
        .await;
    d.exactly_once_then_stop(BOTH, "overlapping pages").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_page_with_a_next_token_is_followed() {
    // The fourth request of each stream is the first page of the window that holds the
    // records (the first three 6-hour windows of the 24-hour lookback are empty).
    let d = Case::new(
        &[
            "empty-nextx1+3@/api/ttp/url/get-logs",
            "empty-nextx1+3@/api/audit/get-audit-events",
        ],
        URL_AUDIT,
    )
    .once()
    .run()
    .await;
    assert_exactly_once(&d.sim, &d.text(), BOTH, "empty pages with a next token");
    let applied = d
        .sim
        .requests()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert_eq!(applied, 2);
    d.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_one_record_is_kept_lossily_and_the_stream_goes_on() {
    // One record of a ttp_url page (the fourth request, as above), and one line of a siem_cg
    // file.
    let d = Case::new(
        &[
            "bad-utf8x1+3@/api/ttp/url/get-logs",
            "bad-utf8x1+1@/storage/",
        ],
        &[StreamKind::TtpUrl, StreamKind::SiemCg],
    )
    .until(2 * RECORDS as usize)
    .run()
    .await;
    for (stream, part) in [("ttp_url", "ttp_url"), ("siem_cg", "siem_cg:receipt")] {
        let raws = d.raws(stream);
        no_repeats(&raws, stream);
        assert_eq!(raws.len(), RECORDS as usize, "{stream}: every record, once");
        let want: std::collections::HashSet<String> = d
            .sim
            .expected_records("acme", part)
            .iter()
            .map(|r| r.to_string())
            .collect();
        let damaged: Vec<&String> = raws.iter().filter(|r| !want.contains(*r)).collect();
        assert_eq!(damaged.len(), 1, "{stream}: one damaged record");
        assert!(damaged[0].contains('\u{FFFD}'), "{stream}: {}", damaged[0]);
    }
    d.sim.shutdown().await;
}

/// Stops the collector mid-walk (its checkpoint holds a continuation), lets Mimecast forget
/// that continuation (tokens live 1 s), and starts the collector again.
async fn refused_after_restart(kinds: &[StreamKind], v1: bool, expect: &[(&str, &str)]) {
    let case = Case::new(&["delay=40msx*"], kinds)
        .sim(|c| c.page_token_ttl = Some(Duration::from_secs(1)))
        .until(100);
    let case = if v1 { case.v1() } else { case };
    let (d, daemon) = case.start().await;
    if let Some(daemon) = daemon {
        daemon.shutdown.cancel();
        daemon.run.await.unwrap().unwrap();
    }
    let written = count_lines(&d.out);
    let total = expect.len() * RECORDS as usize;
    assert!(written < total, "stopped mid-walk ({written} of {total})");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    resume(&d, total).await;
    assert_exactly_once(&d.sim, &d.text(), expect, "a token refused after a restart");
    let refused = d.sim.requests().iter().filter(|r| r.status == 400).count();
    assert!(refused >= 1, "a stored token was refused");
    d.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_token_refused_after_a_restart_reads_the_window_again_without_repeats() {
    // HTTP 400 err_validation_invalid_page_token, for an ordered (ttp_url) and an unordered
    // (audit) endpoint.
    refused_after_restart(URL_AUDIT, false, BOTH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_siem_token_refused_after_a_restart_starts_again_without_repeats() {
    refused_after_restart(MTA, true, &[("acme", "siem_mta")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_tokens_that_expire_during_rate_limit_pauses_do_not_livelock() {
    // Tokens live 1 s; every third request is refused with a 429 that asks for 1.2 s. The
    // read-ahead token expires during each pause, so every window restarts; progress must
    // still be made (ordered: from the newest second written; unordered: a halved window).
    let mut specs: Vec<String> = (1..=12)
        .map(|i| format!("429:reset=1200x1+{}@/api/", i * 3))
        .collect();
    specs.push("delay=10msx*".into());
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let d = Case::new(&specs, URL_AUDIT)
        .sim(|c| c.page_token_ttl = Some(Duration::from_secs(1)))
        .until(2 * RECORDS as usize)
        .for_(Duration::from_secs(60))
        .run()
        .await;
    d.exactly_once_then_stop(BOTH, "expiring tokens").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_siem_listing_that_is_not_a_page_is_retried_not_taken_as_caught_up() {
    // One poll (`run --once`): the answer that is not a page must be retried within it.
    let d = Case::new(&["not-a-pagex2@/siem/"], CG).once().run().await;
    d.exactly_once_then_stop(&[("acme", "siem_cg:receipt")], "not a page")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_siem_listing_that_reorders_or_grows_in_front_neither_repeats_nor_skips() {
    // Listings of two files. After the first listing, every listing comes back newest first
    // and, twice, with a file of the next listing in front; file URLs expire three times,
    // so listings are asked for again mid-page.
    let d = Case::new(
        &[
            "reorderx*+1@/siem/",
            "new-filex2+1@/siem/",
            "403x3+1@/storage/",
        ],
        CG,
    )
    .collector(|c| c.tenants[0].streams[0].page_size = 2)
    .until(RECORDS as usize)
    .run()
    .await;
    d.exactly_once_then_stop(&[("acme", "siem_cg:receipt")], "unstable listings")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_siem_file_is_quarantined_after_three_attempts_the_rest_flows_and_it_replays() {
    // One download at a time, so the three corrupt answers (the 2nd to 4th downloads) are the
    // same file's three attempts; with downloads overlapped they would be three files' first.
    let d = Case::new(&["corrupt-gzipx3+1@/storage/"], CG)
        .collector(|c| c.http.file_downloads = 1)
        .for_(Duration::from_secs(4))
        .run()
        .await;
    let raws = d.raws("siem_cg");
    no_repeats(&raws, "siem_cg");
    assert_eq!(
        raws.len(),
        RECORDS as usize - 50,
        "every file but the bad one"
    );
    let state = State::open(&d.state).unwrap();
    let quarantined = state.quarantined().unwrap();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert!(
        quarantined[0].error.contains("SIEM file"),
        "{quarantined:?}"
    );
    let attempts = d
        .sim
        .requests()
        .iter()
        .filter(|r| r.fault.as_deref() == Some("corrupt-gzip"))
        .count();
    assert_eq!(attempts, 3, "three attempts, then it is given up on");
    drop(state);
    // The operator replays it (the fault has passed): the file is read again, once, and the
    // stream goes on from its checkpoint.
    let code = mimecast_collector::cli::reset::run(
        &d.config,
        "acme",
        "siem_cg",
        mimecast_collector::cli::reset::Action::ReplayQuarantined,
        false,
    );
    assert_eq!(code, 0);
    assert!(State::open(&d.state)
        .unwrap()
        .quarantined()
        .unwrap()
        .is_empty());
    resume(&d, RECORDS as usize).await;
    d.exactly_once_then_stop(&[("acme", "siem_cg:receipt")], "replayed")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_are_cut_on_the_servers_clock() {
    // Mimecast's clock is 10 minutes behind ours: the checkpoint must never claim to be
    // complete past Mimecast's own "now" (events it stamps later would be skipped).
    let d = Case::new(&[], URL)
        .sim(|c| {
            c.clock_offset_secs = -600;
            c.end = Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(12));
        })
        .once()
        .run()
        .await;
    let server_now = d.sim.server_now();
    let covered = State::open(&d.state)
        .unwrap()
        .status()
        .unwrap()
        .into_iter()
        .find(|s| s.key.stream == "ttp_url")
        .and_then(|s| s.covered_until)
        .expect("a checkpoint");
    assert!(
        covered <= server_now,
        "covered until {covered}, but the server's clock says {server_now}"
    );
    d.exactly_once_then_stop(&[("acme", "ttp_url")], "skewed clock")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_reset_in_seconds_or_epoch_time_is_honoured() {
    // Production backoff (1 s, doubling): a 429 is never retried sooner than that, which is
    // what honours a reset sent in seconds.
    for (spec, at_least) in [
        ("429:reset-s=1x1+1@/api/", Duration::from_millis(950)),
        ("429:reset-epoch-s=2x1+1@/api/", Duration::from_millis(950)),
        (
            "429:reset-epoch-ms=2x1+1@/api/",
            Duration::from_millis(1500),
        ),
        ("429:reset=300x1+1@/api/", Duration::from_millis(290)),
    ] {
        let d = Case::new(&[spec], URL)
            .collector(|c| c.http.retry = mimecast_collector::config::RetryConfig::default())
            .once()
            .for_(Duration::from_secs(30))
            .run()
            .await;
        let requests: Vec<_> = d
            .sim
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/api/"))
            .collect();
        let i = requests
            .iter()
            .position(|r| r.status == 429)
            .expect("the 429 was sent");
        let gap = requests[i + 1].at - requests[i].at;
        assert!(gap >= at_least, "{spec}: retried after {gap:?}");
        assert!(gap < Duration::from_secs(5), "{spec}: waited {gap:?}");
        d.exactly_once_then_stop(&[("acme", "ttp_url")], spec).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_after_an_empty_page_reads_the_window_again() {
    // The first page of the window that holds the records is empty but names a next page
    // (the fourth request, as above), and that token is refused: the data behind it must
    // still be read, not the window closed.
    let d = Case::new(
        &[
            "empty-nextx1+3@/api/ttp/url/get-logs",
            "bad-page-tokenx1@/api/ttp/url/get-logs",
        ],
        URL,
    )
    .once()
    .run()
    .await;
    assert_exactly_once(
        &d.sim,
        &d.text(),
        &[("acme", "ttp_url")],
        "refused after empty",
    );
    assert!(d.sim.requests().iter().any(|r| r.status == 400));
    d.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_threat_feed_token_fails_the_poll_and_writes_nothing_twice() {
    let d = Case::new(
        &["bad-page-tokenx1@/api/ttp/threat-intel/get-feed"],
        &[StreamKind::ThreatIntel],
    )
    .collector(|c| c.tenants[0].streams[0].feed_types = vec!["malware_customer".into()])
    .until(3 * RECORDS as usize)
    .run()
    .await;
    d.exactly_once_then_stop(
        &[("acme", "threat_intel:malware_customer")],
        "refused feed token",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_page_token_that_never_changes_reports_no_removed_users() {
    // A first snapshot read whole; then the server repeats its page token forever.
    let d = Case::new(&[], &[StreamKind::Directory])
        .collector(|c| c.tenants[0].streams[0].page_size = 20)
        .until(RECORDS as usize)
        .run()
        .await;
    d.sim
        .inject(rule("same-tokenx*@/api/user/get-internal-users"));
    let daemon = spawn_daemon(d.config.clone(), Duration::from_secs(2));
    tokio::time::sleep(Duration::from_secs(2)).await;
    daemon.settle_and_stop().await;
    let removed = d
        .text()
        .lines()
        .filter(|l| l.contains("\"removed\""))
        .count();
    assert_eq!(
        removed, 0,
        "a snapshot read short must not report users as removed"
    );
    let error = d
        .last_error("directory")
        .expect("the stream reports the fault");
    assert!(error.contains("no progress"), "{error}");
    d.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_domain_configured_twice_is_read_once() {
    let d = Case::new(&[], &[StreamKind::Directory])
        .collector(|c| {
            c.tenants[0].streams[0].domains = vec![
                "acme.example".into(),
                "ACME.example".into(),
                "acme-corp.example".into(),
            ]
        })
        .once()
        .run()
        .await;
    assert_exactly_once(
        &d.sim,
        &d.text(),
        &[("acme", "directory")],
        "duplicate domain",
    );
    assert_eq!(d.last_error("directory"), None);
    d.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_more_than_a_hundred_empty_windows_is_walked_in_one_poll() {
    // 30 days back in 6-hour windows: 120 empty windows before the records. Empty pages that
    // open a new window are not a server that keeps continuing an empty list.
    let d = Case::new(&[], URL)
        .collector(|c| c.collector.initial_lookback = Duration::from_secs(30 * 86_400))
        .once()
        .run()
        .await;
    assert_exactly_once(&d.sim, &d.text(), &[("acme", "ttp_url")], "long backlog");
    assert_eq!(d.last_error("ttp_url"), None);
    d.sim.shutdown().await;
}
