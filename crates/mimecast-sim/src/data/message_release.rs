//! Held/release logs (`/api/gateway/get-held-release-logs`, `data[0].heldReleaseLogs[]`), field
//! set of docs/mimecast-api.md#held-message-release-logs (Elastic mock). The record's time is
//! `released` (docs/mimecast-api.md#held-message-release-logs: Elastic's `message_release_logs`
//! stream uses it as the event time).

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{external, rng::Rng, subject, TenantInfo};
use crate::dates::format_mc_date;

const HELD_REASONS: &[&str] = &[
    "Policy - Spam Scanning",
    "Policy - Attachment Protection",
    "Policy - Content Examination",
    "Policy - Anti-Virus",
];
const REJECT_REASONS: &[&str] = &[
    "Spam",
    "Phishing",
    "Malicious Attachment",
    "Policy Violation",
];
const POLICIES: &[&str] = &[
    "Default Spam Scanning Definition",
    "Default Attachment Hold",
    "Content Examination - Finance",
];

pub fn record(seed: u64, t: &TenantInfo, i: u64, time: OffsetDateTime) -> Value {
    let mut r = Rng::for_record(seed, &t.name, "message_release", i);
    let released = r.chance(75);
    let from = external(&mut r);
    let rcpts: Vec<Value> = (0..r.range(1, 3))
        .map(|_| json!({"emailAddress": t.user(&mut r)}))
        .collect();
    let spam_score = r.range(0, 30);
    let decision = if spam_score > 15 { "spam" } else { "clean" };
    let categories: Vec<&str> = if spam_score > 15 {
        vec![*r.pick(&["bulk", "phishing", "marketing"])]
    } else {
        Vec::new()
    };
    let pass = |r: &mut Rng| -> Value {
        json!({"allow": r.chance(85), "info": *r.pick(&["ALLOW", "ALLOW", "UNKNOWN", "FAIL"])})
    };
    json!({
        "id": format!("eNo1{}", r.uid()),
        "status": if released { "released" } else { "rejected" },
        "rejectReason": if released { Value::Null } else { json!(*r.pick(REJECT_REASONS)) },
        "heldReason": *r.pick(HELD_REASONS),
        "messageInfo": *r.pick(&["Released by administrator", "Released by user digest", "Rejected by administrator"]),
        "released": format_mc_date(time),
        "operator": {"emailAddress": format!("admin@{}", t.domains[0])},
        "fromEnv": {"emailAddress": from},
        "fromHdr": {"emailAddress": from},
        "to": rcpts,
        "subject": subject(&mut r),
        "attachments": r.chance(40),
        "route": *r.pick(&["inbound", "inbound", "outbound"]),
        "size": r.range(2_000, 900_000),
        "policy": *r.pick(POLICIES),
        "spamScore": spam_score,
        "detectionLevel": *r.pick(&["relaxed", "moderate", "aggressive"]),
        "spamProcessingDetail": {
            "rbl": {"allow": true, "info": ""},
            "greyEmail": r.chance(20),
            "spf": pass(&mut r),
            "dkim": pass(&mut r),
            "dmarc": pass(&mut r),
            "permittedSender": {"allow": false, "info": "NONE"},
            "managedSender": {"allow": false, "info": "NONE"},
            "verdict": {
                "decision": decision,
                "description": if decision == "spam" { "Message classified as spam" } else { "No spam detected" },
                "risk": *r.pick(&["negligible", "low", "medium", "high"]),
                "categories": categories,
            },
        },
    })
}
