//! Archive search results (`data[0].items`, docs/mimecast-api.md#archive-search) and archive search
//! logs (`data[0].logs`, docs/mimecast-api.md#archive-search-logs).
//!
//! WHY together: both come from the archive product; items feed reply-time analytics, logs
//! record who searched the archive.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{external, rng::Rng, subject, TenantInfo};
use crate::dates::format_mc_date;

/// One message of an archive search. Field names from XSOAR's `return-fields`; the value
/// shapes of `status`, `smash` and `displayfrom`/`displayto` (plain addresses here) are
/// UNCONFIRMED.
pub fn search_item(seed: u64, t: &TenantInfo, i: u64, time: OffsetDateTime) -> Value {
    let mut r = Rng::for_record(seed, &t.name, "archive_search", i);
    let inbound = r.chance(60);
    let (from, to) = if inbound {
        (external(&mut r), t.user(&mut r))
    } else {
        (t.user(&mut r), external(&mut r))
    };
    json!({
        "id": format!("eNo1{}", r.uid()),
        "status": "ARCHIVED",
        "smash": r.hex(32),
        "displayfrom": from,
        "displayto": to,
        "receiveddate": format_mc_date(time),
        "subject": subject(&mut r),
        "size": r.range(2_000, 2_000_000),
        "attachmentcount": r.below(4),
    })
}

pub fn search_log(seed: u64, t: &TenantInfo, i: u64, time: OffsetDateTime) -> Value {
    let mut r = Rng::for_record(seed, &t.name, "archive_search_logs", i);
    let admin = r.chance(70);
    let text = match r.below(3) {
        0 => t.domains[0].clone(),
        1 => external(&mut r),
        _ => subject(&mut r),
    };
    json!({
        "createTime": format_mc_date(time),
        "emailAddr": t.user(&mut r),
        "source": *r.pick(&["archive", "archive", "mailbox"]),
        "searchText": text,
        "searchReason": *r.pick(&["", "", "Legal hold", "Investigation"]),
        "description": format!("Audit [Page {}] - Depth 100", r.range(1, 5)),
        "isAdmin": admin,
        "searchPath": "/",
        "museQuery": "",
    })
}
