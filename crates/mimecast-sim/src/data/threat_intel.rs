//! Threat-intel feed entries as STIX 2.0 objects (docs/mimecast-api.md#threat-intel-feed sample
//! bundle).
//!
//! WHY: the feed answers with a STIX bundle, not the envelope; each backlog entry `i` yields a
//! `malware`, an `indicator` and the `relationship` between them.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{rng::Rng, TenantInfo};
use crate::dates::format_iso_ms;

pub const FEEDS: &[&str] = &["malware_customer", "malware_grid"];

const NAMES: &[&str] = &[
    "Transaction notice",
    "Invoice_overdue.xlsm",
    "Payment advice",
    "Scan_0042.pdf.exe",
    "Shipping documents",
];
const LABELS: &[&str] = &["virus", "trojan", "ransomware", "spyware", "worm"];

pub fn objects(seed: u64, t: &TenantInfo, feed: &str, i: u64, time: OffsetDateTime) -> Vec<Value> {
    let mut r = Rng::for_record(seed, &t.name, &format!("threat_intel:{feed}"), i);
    let ts = format_iso_ms(time);
    let malware_id = format!("malware--{}", r.uuid());
    let indicator_id = format!("indicator--{}", r.uuid());
    let rel_id = format!("relationship--{}", r.uuid());
    let sha = r.hex(64);
    vec![
        json!({"type": "malware", "id": malware_id, "created": ts, "modified": ts,
               "name": *r.pick(NAMES), "labels": [*r.pick(LABELS)]}),
        json!({"type": "indicator", "id": indicator_id, "created": ts, "modified": ts,
               "labels": ["malicious-activity"], "pattern": format!("[file:hashes.'SHA-256' = '{sha}']"),
               "valid_from": ts}),
        json!({"type": "relationship", "id": rel_id, "created": ts, "modified": ts,
               "relationship_type": "indicates", "source_ref": indicator_id, "target_ref": malware_id}),
    ]
}
