//! API 2.0 SIEM batch events for Cloud Integrated tenants (`/siem/v1/batch/events/ci`), with the
//! verbatim field names of docs/mimecast-api.md#siem-batch-cloud-integrated (Elastic
//! `cloud_integrated_logs` test records).
//!
//! WHY apart from `siem_cg`: CI records differ where a client can trip: `recipients` is an
//! **array** (CG: a string), numbers are numbers, and every record carries `_offset` and
//! `_partition`. `urlclick` has no public sample: its field set here is INVENTED (plausible,
//! modelled on the CG `url protect` event and the "blocked events only" note of
//! docs/mimecast-api.md#siem-batch-cloud-integrated).

use serde_json::{json, Value};

use super::{external, message_id, rng::Rng, subject, TenantInfo, EXTERNAL_DOMAINS};

/// Event types (`type=` values, docs/mimecast-api.md#siem-batch-cloud-integrated), in the order
/// `expected_records("siem_ci")` concatenates.
pub const TYPES: &[&str] = &["entities", "mailflow", "urlclick"];

/// Kafka-style partitions the records are spread over (`_partition`); `_offset` counts per
/// partition.
const PARTITIONS: u64 = 4;

pub fn record(seed: u64, t: &TenantInfo, ty: &str, i: u64, t_ms: i64) -> Value {
    let mut r = Rng::for_record(seed, &t.name, &format!("siem_ci:{ty}"), i);
    let secs = t_ms.div_euclid(1000);
    let aggregate = format!("{}_{secs}", r.uid());
    let processing = format!("{}{}_{secs}", r.uid(), r.uid());
    let ty_base: u64 = match ty {
        "entities" => 1_000_000,
        "mailflow" => 2_000_000,
        _ => 3_000_000,
    };
    let partition = i % PARTITIONS;
    let offset = ty_base + i / PARTITIONS;
    let mut v = match ty {
        "entities" => {
            let sender = external(&mut r);
            let n_rcpt = r.range(1, 3);
            let recipients: Vec<String> = (0..n_rcpt).map(|_| t.user(&mut r)).collect();
            let n_att = r.below(3);
            let attachments: Vec<String> = (0..n_att)
                .map(|_| {
                    format!(
                        "{}.{}",
                        r.pick(&["invoice", "scan", "report", "photo"]),
                        r.pick(&["pdf", "docx", "xlsx", "png"])
                    )
                })
                .collect();
            let (threat_type, threat_state, tags, action): (&str, &str, Value, Value) =
                match r.below(10) {
                    0 => ("MALWARE", "BLOCKED", json!(["MALWARE"]), json!("BLOCK")),
                    1 => (
                        "NO_DETECTIONS",
                        "DELIVERED",
                        json!(["UNTRUSTWORTHY", "SPAM"]),
                        json!("DO_NOTHING"),
                    ),
                    2 => ("POLICIES_DISABLED", "DELIVERED", Value::Null, Value::Null),
                    3 => (
                        "NO_DETECTIONS",
                        "DELIVERY_IN_PROGRESS",
                        Value::Null,
                        json!("DO_NOTHING"),
                    ),
                    _ => (
                        "NO_DETECTIONS",
                        "DELIVERED",
                        Value::Null,
                        json!("DO_NOTHING"),
                    ),
                };
            json!({
                "accountId": t.account_code,
                "aggregateId": aggregate,
                "attachments": attachments,
                "direction": *r.pick(&["INBOUND", "INBOUND", "Inbound"]),
                "historicalMail": r.chance(5),
                "messageId": message_id(&mut r),
                "policiesApplied": [
                    {"action": action, "mode": "ACTIVE", "name": *r.pick(&["Default Malware Policy", "Default Spam Policy", "Anti-Phishing"])}
                ],
                "processingId": processing,
                "recipients": recipients,
                "senderEnvelope": sender,
                "senderHeader": sender,
                "senderIp": r.ip(),
                "source": "OFFICE_365_MAIL",
                "subject": subject(&mut r),
                // UNCONFIRMED: the samples do not show a non-null subtype.
                "subtype": Value::Null,
                "tags": tags,
                "threatState": threat_state,
                "threatType": threat_type,
                "timestamp": t_ms,
                "type": "entities",
            })
        }
        "mailflow" => {
            let auth = |r: &mut Rng, kind: &str| {
                let result = *r.pick(&["pass", "pass", "pass", "fail", "none"]);
                let aligned = match (kind, result) {
                    ("DMARC", _) | (_, "none") => Value::Null,
                    _ => json!(result == "pass"),
                };
                json!({"aligned": aligned, "result": result, "type": kind})
            };
            json!({
                "accountId": t.account_code,
                "aggregateId": aggregate,
                "authResults": [auth(&mut r, "SPF"), auth(&mut r, "DKIM"), auth(&mut r, "DMARC")],
                "messageId": message_id(&mut r),
                "processingId": processing,
                "subtype": Value::Null,
                "timestamp": t_ms,
                "type": "mailflow",
            })
        }
        _ => {
            // urlclick: INVENTED shape (no public sample,
            // docs/mimecast-api.md#siem-batch-cloud-integrated); blocked clicks only.
            json!({
                "accountId": t.account_code,
                "aggregateId": aggregate,
                "processingId": processing,
                "messageId": message_id(&mut r),
                "timestamp": t_ms,
                "type": "urlclick",
                "subtype": Value::Null,
                "url": format!("https://{}/{}", r.pick(EXTERNAL_DOMAINS), r.hex(10)),
                "userEmailAddress": t.user(&mut r),
                "action": "BLOCK",
                "category": *r.pick(&["PHISHING", "MALWARE", "SUSPICIOUS", "COMPROMISED"]),
                "sourceIp": r.ip(),
            })
        }
    };
    if let Value::Object(m) = &mut v {
        m.insert("_offset".into(), json!(offset));
        m.insert("_partition".into(), json!(partition));
    }
    v
}
