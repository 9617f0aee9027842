//! What a new user sees: every stream drained from the simulator, and the normalized events
//! checked for the fields the records carry. A field a record has but the event lacks is a
//! normalizer that reads the wrong spelling, which golden files of hand-picked samples miss.
//!
//! The simulator is an independent rendering of the documented API (it shares no code with the
//! collector), so its records stand for what a tenant sends; the checks below look at each
//! event's `raw` record to decide what the event should hold.

mod common;

use common::*;
use mimecast_collector::config::{SinkKind, StreamKind};
use mimecast_sim::{SimConfig, SimTenant};
use serde_json::Value;
use std::collections::BTreeMap;

const PER_STREAM: u64 = 60;

/// Streams read from an API 1.0 tenant (every stream that API serves).
const V1: [StreamKind; 13] = [
    StreamKind::SiemMta,
    StreamKind::TtpUrl,
    StreamKind::TtpAttachment,
    StreamKind::TtpImpersonation,
    StreamKind::Audit,
    StreamKind::ThreatIntel,
    StreamKind::MessageTracking,
    StreamKind::Dlp,
    StreamKind::MessageRelease,
    StreamKind::Dashboard,
    StreamKind::Directory,
    StreamKind::ArchiveSearch,
    StreamKind::ArchiveSearchLogs,
];
/// Streams only API 2.0 serves.
const V2: [StreamKind; 4] = [
    StreamKind::SiemCg,
    StreamKind::SiemCi,
    StreamKind::Threats,
    StreamKind::ReportedEmails,
];

fn configure(
    mut t: mimecast_collector::config::TenantConfig,
) -> mimecast_collector::config::TenantConfig {
    for s in &mut t.streams {
        if let Some(types) = s.kind.siem_types() {
            s.types = types.iter().map(|t| t.to_string()).collect();
        }
        if s.kind == StreamKind::ThreatIntel {
            s.feed_types = vec!["malware_customer".into(), "malware_grid".into()];
        }
        if s.kind == StreamKind::ReportedEmails {
            s.page_size = 25;
        }
    }
    t
}

/// Every event of every stream, once.
async fn drain() -> Vec<Value> {
    let v1 = SimTenant::named("globex");
    let v2 = SimTenant::named("acme");
    let sim = start_sim(SimConfig {
        tenants: vec![v1.clone(), v2.clone()],
        // Five files: one of each MTA log type.
        siem_mta_records_per_file: PER_STREAM / 5,
        siem_cg_records_per_file: 20,
        quota_per_minute: 0,
        ..sim_config(PER_STREAM)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let config = collector_config(
        vec![
            configure(with_streams(v1_tenant(&sim, &v1), &V1)),
            configure(with_streams(v2_tenant(&sim, &v2), &V2)),
        ],
        &dir.path().join("state.db"),
        SinkKind::File { path: out.clone() },
    );
    run_once(config).await;
    let events = read_events(&out);
    let validator = schema();
    for e in &events {
        assert!(validator.is_valid(e), "schema: {e}");
    }
    sim.shutdown().await;
    events
}

fn stream<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    let got: Vec<&Value> = events.iter().filter(|e| e["stream"] == name).collect();
    assert!(!got.is_empty(), "{name}: the simulator served nothing");
    got
}

fn has(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

/// The first of `keys` the raw record has a value for.
fn raw_any<'a>(e: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().map(|k| &e["raw"][k]).find(|v| has(v))
}

/// How many events fill `field`, per stream: printed for the record of what the simulator
/// exercises.
fn census(events: &[Value]) -> BTreeMap<String, BTreeMap<&'static str, usize>> {
    let fields = [
        "source_ip",
        "destination_ip",
        "recipients",
        "verdict",
        "rule",
        "threat_name",
        "indicator",
    ];
    let mut out: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
    for e in events {
        let s = out
            .entry(e["stream"].as_str().unwrap_or_default().to_string())
            .or_default();
        *s.entry("events").or_default() += 1;
        for f in fields {
            if has(&e[f]) {
                *s.entry(f).or_default() += 1;
            }
        }
        if has(&e["verdict"]) && e["verdict"] != "unknown" {
            *s.entry("verdict_known").or_default() += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_records_fill_the_fields_they_carry() {
    let events = drain().await;
    for (stream, counts) in census(&events) {
        println!("{stream}: {counts:?}");
    }

    // 1. Message Finder: `senderIP` in every record.
    for e in stream(&events, "message_tracking") {
        assert_eq!(e["source_ip"], e["raw"]["senderIP"], "{e}");
    }

    // 2. CG delivery records name the next hop.
    let cg = stream(&events, "siem_cg");
    let deliveries: Vec<&&Value> = cg
        .iter()
        .filter(|e| has(&e["raw"]["destinationIp"]))
        .collect();
    assert!(!deliveries.is_empty());
    for e in deliveries {
        assert_eq!(e["destination_ip"], e["raw"]["destinationIp"], "{e}");
    }

    // 3. Audit: the client IP inside `eventInfo`.
    let mut with_ip = 0;
    for e in stream(&events, "audit") {
        let info = e["raw"]["eventInfo"].as_str().unwrap_or_default();
        if let Some(ip) = info
            .split(", ")
            .find_map(|part| part.strip_prefix("IP: "))
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        {
            with_ip += 1;
            assert_eq!(e["source_ip"], ip, "{e}");
        }
    }
    assert!(with_ip > 0, "no audit record had an IP");

    // 4. Threat intel: every indicator's pattern yields its observable; malware names are
    // threat names, not email subjects.
    for e in stream(&events, "threat_intel") {
        match e["raw"]["type"].as_str() {
            Some("indicator") => {
                let pattern = e["raw"]["pattern"].as_str().unwrap_or_default();
                assert!(has(&e["indicator"]), "{e}");
                assert!(pattern.contains(e["indicator"].as_str().unwrap()), "{e}");
                assert_eq!(e["indicator_type"], "sha256", "{e}");
                assert_eq!(e["description"], pattern, "{e}");
            }
            Some("malware") => {
                assert_eq!(e["threat_name"], e["raw"]["name"], "{e}");
                assert!(e.get("subject").is_none(), "{e}");
            }
            _ => {}
        }
    }

    // 5. MTA: every record with a recipient or an IP, in any of the log types' spellings.
    for e in stream(&events, "siem_mta") {
        if let Some(rcpt) = raw_any(e, &["Rcpt", "Recipient", "recipient"]) {
            assert_eq!(e["recipients"][0], *rcpt, "{e}");
        }
        if let Some(ip) = raw_any(e, &["IP", "SourceIP", "sourceIp"]) {
            assert_eq!(e["source_ip"], *ip, "{e}");
        }
    }

    // 6. A verdict on every message and threat event; a known one where the simulator gives an
    // action. None on the others.
    let census = census(&events);
    for e in &events {
        let verdict = &e["verdict"];
        if matches!(e["kind"].as_str(), Some("email" | "threat")) {
            assert!(
                matches!(
                    verdict.as_str(),
                    Some("allowed" | "blocked" | "held" | "unknown")
                ),
                "{e}"
            );
        } else {
            assert!(verdict.is_null(), "{e}");
        }
    }
    for s in [
        "siem_cg",
        "siem_mta",
        "siem_ci",
        "ttp_url",
        "ttp_attachment",
        "ttp_impersonation",
        "message_tracking",
        "threats",
        "dlp",
        "message_release",
    ] {
        let known = census[s].get("verdict_known").copied().unwrap_or(0);
        assert!(known > 0, "{s}: no allowed/blocked/held verdict");
    }

    // 7. The rule that acted, where the record names one.
    for (s, key) in [
        ("ttp_url", "ttpDefinition"),
        ("ttp_attachment", "definition"),
        ("ttp_impersonation", "definition"),
        ("dlp", "policy"),
        ("message_release", "policy"),
    ] {
        for e in stream(&events, s) {
            assert_eq!(e["rule"], e["raw"][key], "{e}");
        }
    }
    for e in stream(&events, "siem_ci") {
        if has(&e["raw"]["policiesApplied"]) {
            assert!(has(&e["rule"]), "{e}");
        }
    }
    for e in &cg {
        if has(&e["raw"]["definition"]) {
            assert_eq!(e["rule"], e["raw"]["definition"], "{e}");
        }
    }

    // 8. Virus names.
    for e in &cg {
        if has(&e["raw"]["virusFound"]) {
            assert_eq!(e["threat_name"], e["raw"]["virusFound"], "{e}");
        }
    }
}
