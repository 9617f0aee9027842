//! User-reported emails (`GET /threat-reporting/v1/reported-emails`,
//! docs/mimecast-api.md#reported-emails).
//!
//! WHY: field names are the scrape's (docs/mimecast-api.md#reported-emails); values are
//! plausible. The record's time is `lastReportedDate` (the route filters and sorts on it).
//! `threatReports` is an absolute URI in the real API; the generator gives the path and the
//! handler puts the request's own scheme and host in front ([`THREAT_REPORTS_PREFIX`]).

use serde_json::{json, Value};

use super::{external, message_id, rng::Rng, subject, TenantInfo};
use crate::dates::{format_iso_ms, from_ms};

/// `threatReports` before the handler makes it absolute.
pub const THREAT_REPORTS_PREFIX: &str = "/threat-reporting/v1/threat-reports";

pub fn record(seed: u64, t: &TenantInfo, i: u64, t_ms: i64) -> Value {
    let mut r = Rng::for_record(seed, &t.name, "reported_emails", i);
    let aggregate = r.uid();
    let sender = external(&mut r);
    let sent_ms = t_ms - (r.range(60, 6 * 3600) as i64) * 1000;
    let n_rcpt = r.range(1, 12);
    let recipients: Vec<String> = (0..n_rcpt).map(|_| t.user(&mut r)).collect();
    let reporters = r.range(1, n_rcpt);
    let analysis = if r.chance(35) {
        Value::Null
    } else {
        let resolved = sent_ms + ((t_ms - sent_ms) as f64 * 0.5) as i64;
        let class = *r.pick(&["malicious", "phishing", "spam", "clean", "unknown"]);
        json!({
            "threatAnalysisId": r.uid(),
            "resolvedDate": format_iso_ms(from_ms(resolved)),
            "classification": class,
            "details": match class {
                "malicious" | "phishing" => "Confirmed threat; message removed from mailboxes",
                "spam" => "Bulk or unsolicited message",
                "clean" => "No threat found",
                _ => "Analysis inconclusive",
            },
            "type": "MSOC",
        })
    };
    json!({
        "message": {
            "messageId": message_id(&mut r),
            "messageAggregateId": aggregate,
            "subject": subject(&mut r),
            "sentDate": format_iso_ms(from_ms(sent_ms)),
            "lastReportedDate": format_iso_ms(from_ms(t_ms)),
            "senderHeaders": [sender],
            "recipientsCount": n_rcpt,
            "reportersCount": reporters,
            "recipients": recipients,
        },
        "threatAnalysis": analysis,
        "threatReports": format!("{THREAT_REPORTS_PREFIX}?reportedMessageAggregateId={aggregate}"),
    })
}
