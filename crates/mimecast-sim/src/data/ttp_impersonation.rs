//! TTP Impersonation Protect logs (`data[0].impersonationLogs`),
//! docs/mimecast-api.md#ttp-impersonation-logs sample shape.
//!
//! WHY: these carry their own `id` (`MTOKEN:…`) and `eventTime`, plus nested results.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{external, message_id, rng::Rng, subject, TenantInfo, FIRST, LAST};
use crate::dates::format_mc_date;

const IDENTIFIERS: &[&str] = &[
    "similar_internal_domain",
    "newly_observed_domain",
    "internal_user_name",
    "reply_address_mismatch",
    "targeted_threat_dictionary",
    "custom_external_domain",
    "mimecast_external_domain",
];

pub fn record(seed: u64, t: &TenantInfo, i: u64, time: OffsetDateTime) -> Value {
    let mut r = Rng::for_record(seed, &t.name, "ttp_impersonation", i);
    let id = format!("MTOKEN:eNq{}", r.uid());
    let hits = r.range(1, 3);
    let mut identifiers: Vec<&str> = Vec::new();
    while (identifiers.len() as u64) < hits {
        let id = *r.pick(IDENTIFIERS);
        if !identifiers.contains(&id) {
            identifiers.push(id);
        }
    }
    let first = r.pick(FIRST);
    let last = r.pick(LAST);
    let name = format!(
        "{}{} {}{}",
        first[..1].to_uppercase(),
        &first[1..],
        last[..1].to_uppercase(),
        &last[1..]
    );
    let results: Vec<Value> = identifiers
        .iter()
        .map(|src| {
            json!({
                "impersonationDomainSource": src,
                "similarDomain": format!("{name} <{first}.{last}_nu@{}>", t.domains[0]),
                "stringSimilarToDomain": name,
                "checkerResult": "hit",
            })
        })
        .collect();
    let action = *r.pick(&["none", "hold", "bounce"]);
    json!({
        "id": id,
        "senderAddress": external(&mut r),
        "recipientAddress": t.user(&mut r),
        "subject": subject(&mut r),
        "definition": format!("IP - {hits} hit{} (Tag email)", if hits == 1 { "" } else { "s" }),
        "hits": hits,
        "identifiers": identifiers,
        "action": action,
        "taggedExternal": r.chance(50),
        "taggedMalicious": r.chance(60),
        "senderIpAddress": r.ip(),
        "eventTime": format_mc_date(time),
        "impersonationResults": results,
        "messageId": message_id(&mut r),
    })
}
