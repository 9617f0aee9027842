//! TTP Attachment Protect logs (`data[0].attachmentLogs`), fields of
//! the docs/mimecast-api.md#ttp-attachment-logs sample.
//!
//! WHY: the same windowed paging as URL logs, but a different nesting key and field set.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{external, message_id, rng::Rng, subject, TenantInfo};
use crate::dates::format_mc_date;

const TYPES: &[(&str, &str)] = &[
    ("pdf", "application/pdf"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12"),
    ("zip", "application/zip"),
];

pub fn record(seed: u64, t: &TenantInfo, i: u64, time: OffsetDateTime) -> Value {
    let mut r = Rng::for_record(seed, &t.name, "ttp_attachment", i);
    let (ext, mime) = *r.pick(TYPES);
    let malicious = r.chance(20);
    let secs = r.range(1, 90);
    let (result, action, details) = if malicious {
        (
            "malicious",
            "sandbox, block",
            "Malicious                                         ",
        )
    } else {
        (
            "safe",
            "none, none",
            "Safe                                              ",
        )
    };
    let route = *r.pick(&["inbound", "inbound", "outbound", "internal"]);
    json!({
        "senderAddress": external(&mut r),
        "recipientAddress": t.user(&mut r),
        "fileName": format!("attach-{}.{ext}", r.uuid()),
        "fileType": mime,
        "result": result,
        "actionTriggered": action,
        "date": format_mc_date(time),
        "details": format!("{details}\r\nTime taken: 0 hrs, {} min, {} sec", secs / 60, secs % 60),
        "route": route,
        "messageId": message_id(&mut r),
        "subject": subject(&mut r),
        "fileHash": r.hex(64),
        "definition": "Default Inbound Attachment Protect Definition",
    })
}
