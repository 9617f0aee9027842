//! Threat detections (`GET /threats/v1/events` and `/threats/v1/events/{id}/details`,
//! docs/mimecast-api.md#threats-api).
//!
//! WHY one generator for both: a detail must agree with its list record (id, timestamp, sender,
//! subject, status, direction, `recipientsCount`), so both come from one build. The record
//! shape is UNCONFIRMED (docs/mimecast-api.md#threats-api);
//! field values follow the filter enums docs/mimecast-api.md#threats-api lists (`analysis`,
//! `status`, `direction`, `source`).
//!
//! The id is URL-safe base64 (`^[A-Za-z0-9_-]+$`, the "Detection Id" pattern of
//! docs/mimecast-api.md#threats-api) of the stream hash, the record index and random bytes, so the
//! details route finds the record in O(1) ([`index_of`]) and checks the rest.

use base64::Engine as _;
use serde_json::{json, Value};

use super::{external, rng::Rng, subject, TenantInfo, EXTERNAL_DOMAINS};
use crate::dates::{format_iso_ms, from_ms};

pub const ANALYSES: &[&str] = &["malware", "phishing", "spam", "suspicious", "unwanted"];
pub const STATUSES: &[&str] = &[
    "blocked",
    "rejected",
    "delivered",
    "held",
    "bounced",
    "unknown",
];

/// Everything about one detection; the list record and the detail are views of it.
pub struct Threat {
    pub summary: Value,
    pub sender_ip: String,
    pub recipients: Vec<Value>,
    pub threats: Vec<Value>,
    pub files: Vec<Value>,
    pub urls: Vec<Value>,
}

pub fn build(seed: u64, t: &TenantInfo, i: u64, t_ms: i64) -> Threat {
    let mut r = Rng::for_record(seed, &t.name, "threats", i);
    let id = r.uid();
    let analysis = *r.pick(ANALYSES);
    let status = *r.pick(STATUSES);
    let sender = external(&mut r);
    let subj = subject(&mut r);
    let n_rcpt = match r.below(10) {
        0 => r.range(101, 140),
        1 | 2 => r.range(4, 20),
        _ => r.range(1, 3),
    };
    let delivery = match status {
        "delivered" => "delivered",
        "held" => "held",
        "bounced" => "bounced",
        "rejected" | "blocked" => "rejected",
        _ => "unknown",
    };
    let recipients = (0..n_rcpt)
        .map(|_| json!({"emailAddress": t.user(&mut r), "deliveryStatus": delivery}))
        .collect();
    let verdict = if matches!(analysis, "malware" | "phishing") {
        "malicious"
    } else {
        "suspicious"
    };
    let summary_text = match analysis {
        "malware" => "Attachment matched a malware signature",
        "phishing" => "Credential phishing link impersonating a login page",
        "spam" => "Bulk unsolicited message",
        "suspicious" => "Suspicious rejection reason or URL category",
        _ => "Unwanted graymail",
    };
    let threats = vec![json!({"type": analysis, "verdict": verdict, "summary": summary_text})];
    let n_files = if analysis == "malware" {
        r.range(1, 3)
    } else {
        r.below(2)
    };
    let files = (0..n_files)
        .map(|_| {
            let ext = *r.pick(&["pdf", "docx", "xlsm", "zip", "exe"]);
            json!({
                "fileName": format!("{}.{ext}", r.pick(&["invoice", "scan", "report", "payload"])),
                "fileType": ext,
                "size": r.range(1_000, 5_000_000),
                "sha256": r.hex(64),
                "md5": r.hex(32),
                "sha1": r.hex(40),
                "verdict": verdict,
            })
        })
        .collect();
    let n_urls = match r.below(20) {
        0 => r.range(101, 110),
        1..=6 => 0,
        _ => r.range(1, 5),
    };
    let urls = (0..n_urls)
        .map(|_| {
            let clicks = if r.chance(30) { r.range(1, 4) } else { 0 };
            json!({
                "url": format!("https://{}/{}", r.pick(EXTERNAL_DOMAINS), r.hex(10)),
                "clicked": clicks > 0,
                "clickCount": clicks,
                "verdict": verdict,
                "category": *r.pick(&["Phishing & Fraud", "Malware & Spyware", "Compromised", "Suspicious"]),
            })
        })
        .collect();
    let sender_ip = r.ip();
    let summary = json!({
        "id": id,
        "timestamp": format_iso_ms(from_ms(t_ms)),
        "source": "EMAIL",
        "direction": "inbound",
        "analysis": analysis,
        "status": status,
        "sender": sender,
        "subject": subj,
        "recipientsCount": n_rcpt,
    });
    Threat {
        summary,
        sender_ip,
        recipients,
        threats,
        files,
        urls,
    }
}

/// The list record.
pub fn record(seed: u64, t: &TenantInfo, i: u64, t_ms: i64) -> Value {
    build(seed, t, i, t_ms).summary
}

/// The detail, each sub-collection cut to `page_size` items (the `*Count` fields give totals).
pub fn detail(seed: u64, t: &TenantInfo, i: u64, t_ms: i64, page_size: usize) -> Value {
    let th = build(seed, t, i, t_ms);
    let s = &th.summary;
    let cut = |v: &[Value]| Value::Array(v.iter().take(page_size).cloned().collect());
    json!({
        "id": s["id"],
        "source": "EMAIL",
        "timestamp": s["timestamp"],
        "sender": s["sender"],
        "senderIp": th.sender_ip,
        "subject": s["subject"],
        "status": s["status"],
        "direction": s["direction"],
        "recipients": cut(&th.recipients),
        "threats": cut(&th.threats),
        "files": cut(&th.files),
        "urls": cut(&th.urls),
        "recipientsCount": th.recipients.len(),
        "filesCount": th.files.len(),
        "urlsCount": th.urls.len(),
    })
}

/// The record index an id names (not checked against the tenant; compare the regenerated id).
pub fn index_of(id: &str) -> Option<u64> {
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .ok()?;
    if b.len() != 24 {
        return None;
    }
    Some(u64::from_be_bytes(b[8..16].try_into().ok()?))
}
