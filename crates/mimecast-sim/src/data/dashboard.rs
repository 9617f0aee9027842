//! Dashboard notifications (`data[0].notifications`) and the account snapshot (get-account),
//! docs/mimecast-api.md#dashboard-notifications.
//!
//! WHY: the collector deduplicates notifications by `id` and emits account changes.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{rng::Rng, TenantInfo};
use crate::dates::format_mc_date;

const TITLES: &[(&str, &str, &str)] = &[
    (
        "PRODUCT_NEWS",
        "INFO",
        "New feature: URL Protect for mobile",
    ),
    (
        "SERVICE_NOTIFICATION",
        "GOOD",
        "Scheduled maintenance completed",
    ),
    (
        "SERVICE_NOTIFICATION",
        "INFO",
        "Delayed archive ingestion in your region",
    ),
    ("PRODUCT_NEWS", "INFO", "API 1.0 end of life reminder"),
];

pub fn notification(seed: u64, t: &TenantInfo, i: u64, time: OffsetDateTime) -> Value {
    let mut r = Rng::for_record(seed, &t.name, "dashboard", i);
    let (kind, level, title) = *r.pick(TITLES);
    json!({
        "id": format!("{}", 1_000_000 + i),
        "customerCode": t.account_code,
        "clusterCode": &t.account_code[..t.account_code.len().min(4)],
        "displayMessage": format!("{title}. See the Mimecast status page for details ({}).", r.hex(6)),
        "noticeType": kind,
        "warningLevel": level,
        "title": title,
        "visibleFrom": format_mc_date(time),
        "enabled": r.chance(90),
    })
}

/// `get-account` `data[0]` (field list from the doc; values plausible).
pub fn account(t: &TenantInfo, user_count: u64) -> Value {
    json!({
        "maxRetention": 30,
        "accountCode": t.account_code,
        "domain": t.domains[0],
        "automatedSegmentPurge": true,
        "databaseCode": format!("{}DB", t.account_code),
        "supportCode": &t.account_code[t.account_code.len().saturating_sub(4)..],
        "region": "sim",
        "accountName": format!("{} (simulated)", t.name),
        "maxRetentionConfirmed": true,
        "archive": true,
        "gateway": true,
        "policyInheritance": false,
        "passphrase": "",
        "type": "full",
        "mailPlatform": "office365",
        "packages": ["Secure Email Gateway", "Targeted Threat Protection - URL Protect", "Mimecast API 2.0"],
        "mimecastId": format!("01-{}", t.account_code),
        "adminEmail": format!("admin@{}", t.domains[0]),
        "userCount": user_count,
    })
}
