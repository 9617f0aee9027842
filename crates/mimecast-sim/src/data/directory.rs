//! Internal domains and users (docs/mimecast-api.md#directory).
//!
//! WHY: the directory stream snapshots users per internal domain. User `i` belongs to domain
//! `i * domains / n` (contiguous blocks), so a domain's users are an index range and page like
//! every other stream.

use serde_json::{json, Value};

use super::{rng::Rng, TenantInfo, FIRST, LAST};

/// Index range of the users of domain number `d`.
pub fn domain_range(n: u64, domains: usize, d: usize) -> (u64, u64) {
    let k = domains.max(1) as u64;
    let lo = (d as u64 * n).div_ceil(k);
    let hi = ((d as u64 + 1) * n).div_ceil(k);
    (lo, hi.min(n))
}

/// Which domain user `i` belongs to.
pub fn domain_of(t: &TenantInfo, n: u64, i: u64) -> usize {
    (0..t.domains.len())
        .find(|d| {
            let (lo, hi) = domain_range(n, t.domains.len(), *d);
            (lo..hi).contains(&i)
        })
        .unwrap_or(0)
}

/// A user record; `domain` is filled in by the caller (it depends on the backlog size).
pub fn user_in(seed: u64, t: &TenantInfo, i: u64, domain: &str) -> Value {
    let mut r = Rng::for_record(seed, &t.name, "directory", i);
    let alias = r.chance(10);
    json!({
        "emailAddress": format!("{}.{}{}@{domain}", r.pick(FIRST), r.pick(LAST), i),
        "addressType": if alias { "alias" } else { "primary" },
        "alias": alias,
    })
}

/// get-internal-domain entries (fields UNCONFIRMED).
pub fn domains(t: &TenantInfo) -> Vec<Value> {
    t.domains
        .iter()
        .enumerate()
        .map(|(k, d)| json!({"id": format!("{}-{k}", t.account_code), "domain": d, "inboundType": "accept", "local": true, "sendOnly": false}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_partition() {
        for n in [0u64, 1, 2, 7, 200] {
            let (a, b) = domain_range(n, 2, 0);
            let (c, d) = domain_range(n, 2, 1);
            assert_eq!((a, b, d), (0, c, n), "n={n}");
        }
    }
}
