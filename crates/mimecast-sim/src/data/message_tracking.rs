//! Message Finder results (`trackedEmails`, docs/mimecast-api.md#message-tracking).
//!
//! WHY: the collector tracks delivery status per message. The per-item fields are UNCONFIRMED
//! (no source documents them); these are plausible names modelled on held-release logs
//! (docs/mimecast-api.md#held-message-release-logs) and the request's filter names (`senderIP`,
//! `route`, `status`).

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{external, message_id, rng::Rng, subject, TenantInfo};
use crate::dates::format_mc_date;

const STATUSES: &[&str] = &[
    "delivery", "delivery", "delivery", "held", "accepted", "bounced", "rejected", "archived",
];

/// UNCONFIRMED field set: id, fromEnv, fromHdr, to, subject, received, sent, status, route,
/// senderIP, attachments, messageId, info.
pub fn record(seed: u64, t: &TenantInfo, i: u64, time: OffsetDateTime) -> Value {
    let mut r = Rng::for_record(seed, &t.name, "message_tracking", i);
    let route = *r.pick(&["inbound", "inbound", "outbound", "internal"]);
    let (from, to) = if route == "inbound" {
        (external(&mut r), t.user(&mut r))
    } else {
        (t.user(&mut r), external(&mut r))
    };
    let status = *r.pick(STATUSES);
    json!({
        "id": format!("eNpV{}", r.uid()),
        "fromEnv": {"emailAddress": from},
        "fromHdr": {"emailAddress": from, "displayableName": from.split('@').next().unwrap_or_default()},
        "to": [{"emailAddress": to}],
        "subject": subject(&mut r),
        "received": format_mc_date(time),
        "sent": format_mc_date(time),
        "status": status,
        "route": route,
        "senderIP": r.ip(),
        "attachments": r.chance(30),
        "messageId": message_id(&mut r),
        "info": match status { "held" => "Held for review", "bounced" => "Bounced", "rejected" => "Rejected", _ => "Message processed" },
    })
}
