//! The streams added for the peers' coverage and for a Synqly-style tenant: `siem_ci`, `threats`
//! (with details), `dlp`, `message_release`, `reported_emails`. Each drains the simulator exactly
//! once on the APIs it supports, survives 429s, 5xx and refused continuations, and turns an
//! answer it does not recognise into an error, never an empty page.

mod common;

use common::*;
use mimecast_collector::config::{SinkKind, StreamKind};
use mimecast_sim::{RestItems, RestNext, RestShape, SimConfig, SimTenant, Simulator};
use std::time::Duration;

const REPORTED: &str = "/threat-reporting/v1/reported-emails";

/// A drain into a fresh state database and output file.
struct Drain {
    _dir: tempfile::TempDir,
    out: std::path::PathBuf,
    config: mimecast_collector::config::Config,
}

impl Drain {
    fn new(tenants: Vec<mimecast_collector::config::TenantConfig>) -> Drain {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("events.jsonl");
        let config = collector_config(
            tenants,
            &dir.path().join("state.db"),
            SinkKind::File { path: out.clone() },
        );
        Drain {
            _dir: dir,
            out,
            config,
        }
    }

    /// `run --once`, in-process.
    async fn once(&self) {
        run_once(self.config.clone()).await;
    }
}

/// The binary, run off the async runtime (the simulator it talks to runs on it).
async fn run_bin(bin: &str, args: &[&str], config: &std::path::Path) -> std::process::Output {
    let (bin, config) = (bin.to_string(), config.to_path_buf());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .args(args)
            .arg(config)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// The streams as `assert_exactly_once` names them (a SIEM stream with all its types).
fn parts(kinds: &[StreamKind]) -> Vec<String> {
    kinds.iter().map(|k| k.to_string()).collect()
}

fn tenant(
    sim: &Simulator,
    t: &SimTenant,
    api_v1: bool,
    kinds: &[StreamKind],
    page: u32,
) -> mimecast_collector::config::TenantConfig {
    let base = if api_v1 {
        v1_tenant(sim, t)
    } else {
        v2_tenant(sim, t)
    };
    let mut t = with_streams(base, kinds);
    for s in &mut t.streams {
        s.page_size = if s.kind == StreamKind::ReportedEmails {
            25
        } else {
            page
        };
        if let Some(types) = s.kind.siem_types() {
            s.types = types.iter().map(|t| t.to_string()).collect();
            s.page_size = 2;
        }
        s.poll_interval = Duration::from_millis(300);
    }
    t
}

const V2_NEW: [StreamKind; 5] = [
    StreamKind::SiemCi,
    StreamKind::Threats,
    StreamKind::Dlp,
    StreamKind::MessageRelease,
    StreamKind::ReportedEmails,
];
const V1_NEW: [StreamKind; 2] = [StreamKind::Dlp, StreamKind::MessageRelease];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_new_stream_drains_exactly_once_on_the_apis_it_supports() {
    let acme = SimTenant::named("acme");
    let globex = SimTenant::named("globex");
    let sim = start_sim(SimConfig {
        tenants: vec![acme.clone(), globex.clone()],
        siem_cg_records_per_file: 40,
        quota_per_minute: 0,
        ..sim_config(230)
    })
    .await;
    let d = Drain::new(vec![
        tenant(&sim, &acme, false, &V2_NEW, 50),
        tenant(&sim, &globex, true, &V1_NEW, 50),
    ]);
    d.once().await;
    let (out, config) = (d.out.clone(), d.config.clone());
    let text = std::fs::read_to_string(&out).unwrap();
    let mut streams: Vec<(&str, String)> =
        parts(&V2_NEW).into_iter().map(|p| ("acme", p)).collect();
    streams.extend(parts(&V1_NEW).into_iter().map(|p| ("globex", p)));
    let named: Vec<(&str, &str)> = streams.iter().map(|(t, s)| (*t, s.as_str())).collect();
    assert_exactly_once(&sim, &text, &named, "first drain");

    // Every threat came with its details, and the normalized event carries them.
    let all = read_events(&out);
    let validator = schema();
    let threats: Vec<&serde_json::Value> =
        all.iter().filter(|e| e["stream"] == "threats").collect();
    assert_eq!(threats.len(), 230);
    for e in &threats {
        assert_eq!(e["raw"]["details"]["id"], e["raw"]["threat"]["id"], "{e}");
        assert!(e["raw"].get("detailsError").is_none(), "{e}");
        assert!(
            e["recipients"].as_array().is_some_and(|r| !r.is_empty()),
            "{e}"
        );
        assert!(e["source_ip"].is_string(), "{e}");
    }
    for e in &all {
        assert!(validator.is_valid(e), "schema: {e}");
    }
    // One details request per threat, each with the documented parameters.
    let details: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/threats/v1/events/"))
        .collect();
    assert_eq!(details.len(), 230);
    assert!(details.iter().all(|r| r
        .query
        .as_deref()
        .is_some_and(|q| q.contains("source=EMAIL") && q.contains("pageSize=100"))));

    // A second run finds nothing new and writes nothing.
    let before = all.len();
    run_once(config).await;
    assert_eq!(
        read_events(&out).len(),
        before,
        "a second drain wrote again"
    );
    sim.shutdown().await;
}

/// 429s, 5xx and refused page tokens on each new route, mid-drain: nothing lost or repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_server_errors_and_refused_tokens_on_the_new_routes_lose_and_repeat_nothing() {
    let specs = [
        "429:reset=50x3+2@/threats/",
        "503x2+3@/threats/v1/events/",
        "bad-page-tokenx1+1@/threats/v1/events",
        "truncatedx2+1@/threats/",
        "truncatedx1+2@/threat-reporting/",
        "429x2+1@/threat-reporting/",
        "500x2+2@/threat-reporting/",
        "429x2+1@/siem/v1/batch/events/ci",
        "503x2+2@/siem/v1/batch/events/ci",
        "429x2+1@/api/dlp/",
        "502x2+2@/api/dlp/",
        "bad-page-tokenx1+1@/api/dlp/",
        "429x2+1@/api/gateway/get-held-release-logs",
        "504x2+2@/api/gateway/get-held-release-logs",
    ];
    let acme = SimTenant::named("acme");
    let mut config = sim_config(120);
    config.tenants = vec![acme.clone()];
    config.quota_per_minute = 0;
    config.faults = mimecast_sim::parse_fault_specs(&specs.join(",")).unwrap();
    let sim = start_sim(config).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let mut config = collector_config(
        vec![tenant(&sim, &acme, false, &V2_NEW, 20)],
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    config.http.request_timeout = Duration::from_secs(2);
    let d = spawn_daemon(config, Duration::from_secs(2));
    // siem_ci: 3 types; the others one part each.
    d.wait_for_lines(
        &out,
        120 * 7,
        Duration::from_secs(60),
        "faults on the new routes",
    )
    .await;
    d.settle_and_stop().await;
    let text = std::fs::read_to_string(&out).unwrap();
    let streams: Vec<(&str, String)> = parts(&V2_NEW).into_iter().map(|p| ("acme", p)).collect();
    let named: Vec<(&str, &str)> = streams.iter().map(|(t, s)| (*t, s.as_str())).collect();
    assert_exactly_once(&sim, &text, &named, "faults on the new routes");
    // The details faults were all retryable: every threat came with its details.
    let threats: Vec<serde_json::Value> = read_events(&out)
        .into_iter()
        .filter(|e| e["stream"] == "threats")
        .collect();
    assert!(
        threats.iter().all(|e| e["raw"]["details"].is_object()),
        "a threat was written without details after a retryable fault"
    );
    let faulted: std::collections::HashSet<String> = sim
        .requests()
        .iter()
        .filter(|r| r.fault.is_some())
        .map(|r| r.path.clone())
        .collect();
    for prefix in [
        "/threats/v1/events",
        "/threats/v1/events/",
        REPORTED,
        "/siem/v1/batch/events/ci",
        "/api/dlp/get-logs",
        "/api/gateway/get-held-release-logs",
    ] {
        assert!(
            faulted.iter().any(|p| p.starts_with(prefix)),
            "no fault landed on {prefix}: {faulted:?}"
        );
    }
    sim.shutdown().await;
}

/// Every reasonable variant of the undocumented Threats answer reads the same records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_threats_shape_reads_every_threat_once() {
    let shapes = [
        (RestItems::Data, RestNext::MetaNextPage, false, true),
        (RestItems::Events, RestNext::MetaPaginationNext, true, false),
        (RestItems::Value, RestNext::AtNextPage, true, true),
    ];
    for (items, next, next_as_uri, bare_detail) in shapes {
        let what = format!("{items:?}/{next:?}/uri={next_as_uri}/bare={bare_detail}");
        let acme = SimTenant::named("acme");
        let sim = start_sim(SimConfig {
            tenants: vec![acme.clone()],
            rest_shape: RestShape::Shaped {
                items,
                next,
                next_as_uri,
                bare_detail,
            },
            quota_per_minute: 0,
            ..sim_config(75)
        })
        .await;
        let d = Drain::new(vec![tenant(&sim, &acme, false, &[StreamKind::Threats], 20)]);
        d.once().await;
        let out = d.out.clone();
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        assert_exactly_once(&sim, &text, &[("acme", "threats")], &what);
        assert!(
            read_events(&out)
                .iter()
                .all(|e| e["raw"]["details"].is_object()),
            "{what}: details missing"
        );
        sim.shutdown().await;
    }
}

fn stored_error(config: &mimecast_collector::config::Config, stream: &str) -> String {
    let state = mimecast_collector::state::State::open(&config.collector.state_path).unwrap();
    state
        .status()
        .unwrap()
        .into_iter()
        .find(|r| r.key.stream == stream)
        .and_then(|r| r.last_error)
        .unwrap_or_default()
}

/// An answer none of the accepted shapes matches writes nothing and says so, in `status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrecognised_threats_answer_is_an_error_never_an_empty_page() {
    let acme = SimTenant::named("acme");
    let sim = start_sim(SimConfig {
        tenants: vec![acme.clone()],
        rest_shape: RestShape::Unrecognisable,
        ..sim_config(40)
    })
    .await;
    let d = Drain::new(vec![tenant(&sim, &acme, false, &[StreamKind::Threats], 20)]);
    d.once().await;
    let (out, config) = (d.out.clone(), d.config.clone());
    assert!(read_events(&out).is_empty());
    let err = stored_error(&config, "threats");
    assert!(
        err.contains("does not recognise") && err.contains("it has: items"),
        "{err}"
    );
    // Not retried at once: one listing request, no details.
    let asked = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/threats/"))
        .count();
    assert_eq!(asked, 1);
    // Nothing moved: the checkpoint still starts from the beginning.
    let state = mimecast_collector::state::State::open(&config.collector.state_path).unwrap();
    let row = state
        .status()
        .unwrap()
        .into_iter()
        .find(|r| r.key.stream == "threats")
        .unwrap();
    assert_eq!(row.events_total, 0);
    sim.shutdown().await;
}

/// Every new route answering in a shape the collector does not know: nothing of that stream is
/// written, and the error says so (in `status` from the state database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_new_route_answering_an_unknown_shape_writes_nothing_and_says_so() {
    let cases = [
        (StreamKind::Dlp, "/api/dlp/get-logs"),
        (
            StreamKind::MessageRelease,
            "/api/gateway/get-held-release-logs",
        ),
        (StreamKind::SiemCi, "/siem/v1/batch/events/ci"),
        (StreamKind::Threats, "/threats/v1/events"),
        (StreamKind::ReportedEmails, REPORTED),
    ];
    for (kind, path) in cases {
        let acme = SimTenant::named("acme");
        let mut config = sim_config(40);
        config.tenants = vec![acme.clone()];
        config.faults = mimecast_sim::parse_fault_specs(&format!("wrong-shapex*@{path}")).unwrap();
        let sim = start_sim(config).await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("events.jsonl");
        let mut t = tenant(&sim, &acme, false, &[kind], 20);
        for s in &mut t.streams {
            if kind == StreamKind::SiemCi {
                s.types = vec!["entities".into()];
            }
        }
        let config = collector_config(
            vec![t],
            &dir.path().join("state.db"),
            SinkKind::File { path: out.clone() },
        );
        run_once(config.clone()).await;
        assert!(
            read_events(&out).is_empty(),
            "{kind}: wrote from an unknown shape"
        );
        let err = stored_error(&config, kind.name());
        assert!(
            ["shape", "not an array", "not a list", "recognise"]
                .iter()
                .any(|w| err.contains(w)),
            "{kind}: {err}"
        );
        assert!(
            sim.requests().iter().any(|r| r.fault.is_some()),
            "{kind}: no fault applied"
        );
        sim.shutdown().await;
    }
}

/// A threat whose details the route refuses is written without them, and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threat_refused_its_details_is_written_without_them() {
    let acme = SimTenant::named("acme");
    let mut config = sim_config(30);
    config.tenants = vec![acme.clone()];
    // The 4th and 5th details requests answer 404.
    config.faults = mimecast_sim::parse_fault_specs("status=404x2+3@/threats/v1/events/").unwrap();
    let sim = start_sim(config).await;
    let d = Drain::new(vec![tenant(&sim, &acme, false, &[StreamKind::Threats], 10)]);
    d.once().await;
    let out = d.out.clone();
    let text = std::fs::read_to_string(&out).unwrap();
    assert_exactly_once(&sim, &text, &[("acme", "threats")], "details refused");
    let without: Vec<serde_json::Value> = read_events(&out)
        .into_iter()
        .filter(|e| e["raw"]["details"].is_null())
        .collect();
    assert_eq!(without.len(), 2, "{without:?}");
    for e in &without {
        assert!(
            e["raw"]["detailsError"].as_str().unwrap().contains("404"),
            "{e}"
        );
        assert!(
            e["description"]
                .as_str()
                .unwrap()
                .contains("details unavailable"),
            "{e}"
        );
    }
    sim.shutdown().await;
}

/// A next-page link to another host is never followed: the tenant's credentials stay home.
/// The link is treated as a refused continuation (a link stored before a `base_url` change
/// reads the window again), and one that keeps coming fails the poll, naming the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_page_link_to_another_host_is_refused_and_named() {
    let acme = SimTenant::named("acme");
    let mut config = sim_config(80);
    config.tenants = vec![acme.clone()];
    config.rest_shape = RestShape::Shaped {
        items: RestItems::Value,
        next: RestNext::AtNextPage,
        next_as_uri: true,
        bare_detail: false,
    };
    config.faults =
        mimecast_sim::parse_fault_specs("foreign-next-pagex*@/threats/v1/events").unwrap();
    let sim = start_sim(config).await;
    let d = Drain::new(vec![tenant(&sim, &acme, false, &[StreamKind::Threats], 20)]);
    d.once().await;
    let (out, config) = (d.out.clone(), d.config.clone());
    let err = stored_error(&config, "threats");
    assert!(
        err.contains("attacker.example") && err.contains("not followed"),
        "{err}"
    );
    // Only first pages were read, and each threat written once.
    let written = read_events(&out);
    let ids: std::collections::HashSet<&str> =
        written.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids.len(), written.len());
    assert!(
        !written.is_empty() && written.len() < 80,
        "{}",
        written.len()
    );
    assert!(
        sim.requests()
            .iter()
            .filter(|r| r.path == "/threats/v1/events")
            .all(|r| !r.query.as_deref().unwrap_or("").contains("pageToken")),
        "a foreign link was followed"
    );
    sim.shutdown().await;
}

/// Reported emails page by offset over a list that moves while it is read (newest first; a
/// message reported again leaves the window). The collector never follows an offset: a page
/// that names a next one halves the window instead, until each window fits in one page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reported_emails_windows_are_halved_until_they_fit_one_page() {
    let acme = SimTenant::named("acme");
    let sim = start_sim(SimConfig {
        tenants: vec![acme.clone()],
        quota_per_minute: 0,
        ..sim_config(300)
    })
    .await;
    let d = Drain::new(vec![tenant(
        &sim,
        &acme,
        false,
        &[StreamKind::ReportedEmails],
        25,
    )]);
    d.once().await;
    let out = d.out.clone();
    let text = std::fs::read_to_string(&out).unwrap();
    assert_exactly_once(
        &sim,
        &text,
        &[("acme", "reported_emails")],
        "halved windows",
    );
    let asked: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == REPORTED)
        .map(|r| r.query.unwrap_or_default())
        .collect();
    assert!(asked.iter().all(|q| !q.contains("offset")), "{asked:#?}");
    assert!(asked.len() > 300 / 25, "{} requests", asked.len());
    sim.shutdown().await;
}

/// The Threats route answers at most `limit` events per query, over all its pages (default 5):
/// the collector asks for 1,000 and reads a window that reaches it again in halves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threats_window_that_reaches_the_routes_limit_is_read_again_in_halves() {
    let acme = SimTenant::named("acme");
    let sim = start_sim(SimConfig {
        tenants: vec![acme.clone()],
        quota_per_minute: 0,
        ..sim_config(1_300)
    })
    .await;
    let d = Drain::new(vec![tenant(
        &sim,
        &acme,
        false,
        &[StreamKind::Threats],
        100,
    )]);
    d.once().await;
    let out = d.out.clone();
    let text = std::fs::read_to_string(&out).unwrap();
    assert_exactly_once(&sim, &text, &[("acme", "threats")], "limit");
    let listings: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "/threats/v1/events")
        .map(|r| r.query.unwrap_or_default())
        .collect();
    assert!(
        listings.iter().all(|q| q.contains("limit=1000")),
        "{listings:#?}"
    );
    let ends: std::collections::HashSet<&str> = listings
        .iter()
        .filter_map(|q| q.split('&').find(|p| p.starts_with("timestampRangeEndsAt")))
        .collect();
    assert!(ends.len() >= 3, "no window was halved: {ends:?}");
    sim.shutdown().await;
}

/// A tenant set up exactly as the Synqly guide says: one product, one permission. `check` says
/// `threats` is fine and names the permission and product `siem_cg` lacks; `run` collects the
/// threats and does not hammer the refused stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synqly_style_tenant_reads_threats_and_is_told_what_siem_needs() {
    let mut synq = SimTenant::named("synq");
    synq.products = Some(vec!["Threats, Security Events and Data for CG".into()]);
    synq.granted = Some(vec![
        "Security Events and Data Retrieval | Threat and security statistics | Read".into(),
    ]);
    let sim = start_sim(SimConfig {
        tenants: vec![synq.clone()],
        ..sim_config(60)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let v2 = synq.v2.as_ref().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            r#"[collector]
state_path = {state:?}
[sink]
kind = "file"
path = {out:?}
[[tenant]]
name = "synq"
base_url = "{base}"
client_id = "{cid}"
client_secret = "{cs}"
streams = ["threats", "siem_cg", "ttp_url"]
[tenant.stream.siem_cg]
types = ["receipt"]
"#,
            state = dir.path().join("state.db").display().to_string(),
            out = dir.path().join("events.jsonl").display().to_string(),
            base = sim.base_url(),
            cid = v2.client_id,
            cs = v2.client_secret,
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_mimecast-collector");
    let check = run_bin(bin, &["check", "--json", "--config"], &path).await;
    assert_eq!(check.status.code(), Some(1), "a failed stream fails check");
    let report: serde_json::Value = serde_json::from_slice(&check.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&check.stdout)));
    let text = report.to_string();
    let verdict = |stream: &str| -> serde_json::Value {
        report["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["stream"] == stream).cloned())
            .unwrap_or_else(|| panic!("{stream} missing: {text}"))
    };
    assert_eq!(verdict("threats")["ok"], true, "{text}");
    let siem = verdict("siem_cg");
    assert_eq!(siem["ok"], false, "{text}");
    let siem_error = siem["message"].as_str().unwrap_or_default();
    for words in [
        "Threat and Security Events (SIEM)",
        "Threats, Security Events and Data for CG",
        "cannot be changed once saved",
    ] {
        assert!(siem_error.contains(words), "{words}: {siem_error}");
    }
    let ttp_error = verdict("ttp_url")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(ttp_error.contains("\"Security Events\""), "{ttp_error}");

    // `run`: threats collected; each refused stream asked once per poll, not retried at once.
    sim.clear_requests();
    let out = run_bin(bin, &["run", "--once", "--config"], &path).await;
    let text = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    assert_exactly_once(&sim, &text, &[("synq", "threats")], "synqly tenant");
    let requests = sim.requests();
    for p in ["/siem/v1/batch/events/cg", "/api/ttp/url/get-logs"] {
        let n = requests.iter().filter(|r| r.path.starts_with(p)).count();
        assert!(
            n <= 1,
            "{p} asked {n} times in one poll: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    sim.shutdown().await;
}
