//! DLP logs (`/api/dlp/get-logs`, `data[0].dlpLogs[]`), field set of docs/mimecast-api.md#dlp-logs
//! (Elastic mock): `senderAddress`, `recipientAddress`, `subject`, `eventTime`, `route`, `policy`,
//! `action`, `messageId`.
//!
//! WHY its own module: these records have **no `id`**, so a client must build its own dedup key
//! (e.g. from `messageId`, `eventTime` and `policy`); the generator keeps that property.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{external, message_id, rng::Rng, subject, TenantInfo};
use crate::dates::format_mc_date;

/// Policy names (plausible; the mock only shows the field).
const POLICIES: &[&str] = &[
    "Credit Card Numbers - Outbound",
    "Confidential Keyword Block",
    "GDPR Personal Data",
    "Source Code Leakage",
    "Payroll Attachments",
];
/// Actions: the brief's examples (UNCONFIRMED as an exhaustive list).
const ACTIONS: &[&str] = &["block", "hold", "notify", "notify", "bounce"];

pub fn record(seed: u64, t: &TenantInfo, i: u64, time: OffsetDateTime) -> Value {
    let mut r = Rng::for_record(seed, &t.name, "dlp", i);
    let route = *r.pick(&["outbound", "outbound", "outbound", "internal", "inbound"]);
    let (from, to) = match route {
        "inbound" => (external(&mut r), t.user(&mut r)),
        "internal" => (t.user(&mut r), t.user(&mut r)),
        _ => (t.user(&mut r), external(&mut r)),
    };
    json!({
        "senderAddress": from,
        "recipientAddress": to,
        "subject": subject(&mut r),
        "eventTime": format_mc_date(time),
        "route": route,
        "policy": *r.pick(POLICIES),
        "action": *r.pick(ACTIONS),
        "messageId": message_id(&mut r),
    })
}
