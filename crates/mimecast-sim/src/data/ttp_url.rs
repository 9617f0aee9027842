//! TTP URL Protect click logs (`data[0].clickLogs`), field set of the
//! docs/mimecast-api.md#ttp-url-logs sample.
//!
//! WHY: the collector normalizes these into "threat" events; the sample's full field set
//! (including `messageId`, `date` and `tagMap`) must be present for its golden tests to mean much.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{external, message_id, rng::Rng, subject, TenantInfo};
use crate::dates::format_mc_date;

const MALICIOUS_CATEGORIES: &[(&str, &str)] = &[
    ("Dangerous file extension", "DangerousFileExt"),
    ("Phishing & Fraud", "Phishing"),
    ("Malware & Spyware", "Malware"),
];
const CLEAN_CATEGORIES: &[&str] = &[
    "Search Engines & Portals",
    "Business",
    "Technology & Internet",
    "News & Media",
];
const URLS: &[&str] = &[
    "https://oneclient.sfx.ms/Win/Preview/OneDriveSetup.exe",
    "https://login.example-office.example.net/secure/verify",
    "https://www.example.com/news/today",
    "https://docs.example.org/shared/budget.xlsx",
    "http://invoice-portal.example.net/pay?id=",
    "https://search.example.com/?q=mimecast",
];

pub fn record(seed: u64, t: &TenantInfo, i: u64, time: OffsetDateTime) -> Value {
    let mut r = Rng::for_record(seed, &t.name, "ttp_url", i);
    let malicious = r.chance(30);
    let route = *r.pick(&["inbound", "inbound", "inbound", "outbound", "internal"]);
    let url = format!(
        "{}{}",
        r.pick(URLS),
        if r.chance(50) {
            format!("#{}", r.hex(6))
        } else {
            String::new()
        }
    );
    let (action, actions, scan, category, tag_map, method) = if malicious {
        let (cat, tag) = *r.pick(MALICIOUS_CATEGORIES);
        let warn = r.chance(40);
        (
            if warn { "warn" } else { "block" },
            "Block",
            "malicious",
            cat.to_string(),
            json!({tag: {"Status": ["CustomerSpecific", "VerdictBlock"], "Inspect:FileExts": ["[exe]"]}}),
            *r.pick(&["Entry Scan", "User Click"]),
        )
    } else {
        (
            "allow",
            *r.pick(&["Allow", "Browser Isolation"]),
            "clean",
            (*r.pick(CLEAN_CATEGORIES)).to_string(),
            json!({}),
            "User Click",
        )
    };
    json!({
        "userEmailAddress": t.user(&mut r),
        "fromUserEmailAddress": external(&mut r),
        "url": url,
        "ttpDefinition": "Default Inbound URL Protect Definition",
        "subject": subject(&mut r),
        "action": action,
        "adminOverride": "N/A",
        "userOverride": "None",
        "scanResult": scan,
        "category": category,
        "sendingIp": r.ip(),
        "userAwarenessAction": "N/A",
        "date": format_mc_date(time),
        "actions": actions,
        "route": route,
        "creationMethod": method,
        "emailPartsDescription": [*r.pick(&["Body", "Attachment"])],
        "messageId": message_id(&mut r),
        "tagMap": tag_map,
    })
}
