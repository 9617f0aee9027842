//! Audit events (`/api/audit/get-audit-events`), shaped like the samples of
//! docs/mimecast-api.md#audit-events.
//!
//! WHY its own module: audit records sit directly in `data[]` with `eventTime`, unlike the
//! TTP logs; keeping each stream's shape in one file makes it easy to compare with the samples.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{rng::Rng, TenantInfo};
use crate::dates::{format_file_stamp, format_mc_date};

/// (auditType, category). The first two pairs and `case_review_logs` appear in the samples;
/// the others are plausible.
const TYPES: &[(&str, &str)] = &[
    ("User Logged On", "authentication_logs"),
    ("Threat Intel Feed Download", "reporting_logs"),
    ("Logon Authentication Failed", "authentication_logs"),
    ("Message Released", "case_review_logs"),
    ("Search Archive", "case_review_logs"),
    ("Policy Updated", "account_logs"),
];

pub fn record(seed: u64, t: &TenantInfo, i: u64, time: OffsetDateTime) -> Value {
    let mut r = Rng::for_record(seed, &t.name, "audit", i);
    let id = format!("eNq{}", r.uid());
    let user = t.user(&mut r);
    let ip = r.ip();
    let (audit_type, category) = *r.pick(TYPES);
    let date = format!(
        "Date: {:04}-{:02}-{:02}, Time: {:02}:{:02}:{:02}+0000",
        time.year(),
        time.month() as u8,
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
    let info = match audit_type {
        "User Logged On" => format!(
            "Successful authentication for {user}, {date}, IP: {ip}, Application: Web, Method: Cloud"
        ),
        "Threat Intel Feed Download" => format!(
            "Threat intel multiple feeds download  - malware_grid_csv_{}.zip, {date}, IP: {ip}, Application: Integrations",
            format_file_stamp(time)
        ),
        "Logon Authentication Failed" => format!(
            "Failed authentication for {user}, {date}, IP: {ip}, Application: Web, Reason: Invalid password"
        ),
        "Message Released" => format!("Message released from hold by {user}, {date}, IP: {ip}"),
        "Search Archive" => format!("Archive search by {user}, {date}, Search Reason: audit, IP: {ip}"),
        _ => format!("Policy 'Default Inbound' updated by {user}, {date}, IP: {ip}"),
    };
    json!({
        "id": id,
        "auditType": audit_type,
        "user": user,
        "eventTime": format_mc_date(time),
        "eventInfo": info,
        "category": category,
    })
}
