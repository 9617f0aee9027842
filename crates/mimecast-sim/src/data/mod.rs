//! Deterministic record generators, one module per stream.
//!
//! WHY: the simulator must serve realistic records (the field names and value shapes of the
//! public samples in docs/mimecast-api.md#endpoints) for backlogs of up to millions of records
//! without holding them: record `i` of a stream is a pure function of (seed, tenant, stream, i),
//! and its time comes from the [`Timeline`], which spreads the backlog evenly over
//! `[end - span, end)`.

pub mod archive;
pub mod audit;
pub mod dashboard;
pub mod directory;
pub mod dlp;
pub mod message_release;
pub mod message_tracking;
pub mod reported_emails;
pub mod rng;
pub mod siem_cg;
pub mod siem_ci;
pub mod siem_mta;
pub mod threat_intel;
pub mod threats;
pub mod ttp_attachment;
pub mod ttp_impersonation;
pub mod ttp_url;

use serde_json::Value;
use time::OffsetDateTime;

use self::rng::Rng;
use crate::dates;

/// Per-tenant facts shared by all generators.
#[derive(Debug, Clone)]
pub struct TenantInfo {
    pub name: String,
    /// e.g. `CUSB4A274` (docs/mimecast-api.md#api-10-regional-hosts account-code shape).
    pub account_code: String,
    /// Internal domains: `<name>.example`, `<name>-corp.example`.
    pub domains: Vec<String>,
}

impl TenantInfo {
    pub fn new(name: &str, seed: u64) -> Self {
        let h = rng::hash_parts(seed, &[b"account", name.as_bytes()]);
        let grid = ["CUSA", "CUSB", "CUK", "CDE", "CCA"][(h % 5) as usize];
        TenantInfo {
            name: name.to_string(),
            account_code: format!("{grid}{:05X}", (h >> 8) & 0xFFFFF),
            domains: vec![format!("{name}.example"), format!("{name}-corp.example")],
        }
    }

    /// A mailbox of this tenant.
    pub fn user(&self, r: &mut Rng) -> String {
        let first = r.pick(FIRST);
        let last = r.pick(LAST);
        let dom = r.pick(&self.domains);
        format!("{first}.{last}@{dom}")
    }
}

/// An address outside every tenant.
pub fn external(r: &mut Rng) -> String {
    let first = r.pick(FIRST);
    let last = r.pick(LAST);
    let dom = r.pick(EXTERNAL_DOMAINS);
    format!("{}{}@{dom}", &first[..1], last)
}

pub fn subject(r: &mut Rng) -> String {
    (*r.pick(SUBJECTS)).to_string()
}

/// A Message-ID in the shape of the samples (`<29b951d7ab596678-115297@hapi.b41.one>`).
pub fn message_id(r: &mut Rng) -> String {
    let dom = r.pick(EXTERNAL_DOMAINS);
    format!("<{}-{}@{dom}>", r.hex(16), r.range(10_000, 999_999))
}

pub const FIRST: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara",
];
pub const LAST: &[&str] = &[
    "smith", "jones", "taylor", "brown", "wilson", "evans", "thomas", "johnson", "roberts",
    "walker", "wright", "hall", "green", "baker", "hughes", "clarke",
];
pub const EXTERNAL_DOMAINS: &[&str] = &[
    "concept-variety.example.net",
    "empirepartners.example.org",
    "newsletter.example.com",
    "hapi.example.net",
    "evaluation-fuzz.example.org",
    "zenz.example.com",
    "supplier-portal.example.net",
];
pub const SUBJECTS: &[&str] = &[
    "new information",
    "WP-02 Data Response",
    "FIRE DRILL",
    "Invoice 2024-0117 overdue",
    "Management Changes",
    "Don't read, just fill out!",
    "DocuSign- Contract #45576744333",
    "Quarterly report",
    "Re: lunch on Friday?",
    "Your password expires today",
    "Shared document: budget.xlsx",
    "We found suspicious files in a message",
];

/// Spreads `n` records evenly over `[end - span, end)` at a resolution of `res_ms`.
///
/// Record `i` has time `start + floor(i * span / n)` (in resolution units), so times are
/// non-decreasing in `i`, every time is `< end`, and the records of a window `[from, to)` are
/// the contiguous index range [`Timeline::window`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    pub start_ms: i64,
    pub span_units: i64,
    pub res_ms: i64,
    pub n: u64,
}

impl Timeline {
    pub fn new(end: OffsetDateTime, span: std::time::Duration, n: u64, res_ms: i64) -> Self {
        let res_ms = res_ms.max(1);
        let end_ms = dates::to_ms(end).div_euclid(res_ms) * res_ms;
        let span_units = ((span.as_millis() as i64) / res_ms).max(1);
        Timeline {
            start_ms: end_ms - span_units * res_ms,
            span_units,
            res_ms,
            n,
        }
    }

    pub fn end_ms(&self) -> i64 {
        self.start_ms + self.span_units * self.res_ms
    }

    pub fn time_ms(&self, i: u64) -> i64 {
        if self.n == 0 {
            return self.start_ms;
        }
        let u = (i as i128 * self.span_units as i128) / self.n as i128;
        let u = i64::try_from(u).unwrap_or(i64::MAX);
        self.start_ms.saturating_add(u.saturating_mul(self.res_ms))
    }

    /// Smallest index whose time is `>= t_ms` (`n` if none).
    pub fn first_at_or_after(&self, t_ms: i64) -> u64 {
        let (mut lo, mut hi) = (0u64, self.n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.time_ms(mid) >= t_ms {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    /// Index range of the records with `from_ms <= t < to_ms`.
    pub fn window(&self, from_ms: i64, to_ms: i64) -> (u64, u64) {
        let lo = self.first_at_or_after(from_ms);
        let hi = self.first_at_or_after(to_ms).max(lo);
        (lo, hi)
    }
}

/// The streams the simulator serves (names as in DESIGN.md).
pub const STREAMS: &[&str] = &[
    "siem_cg",
    "siem_mta",
    "ttp_url",
    "ttp_attachment",
    "ttp_impersonation",
    "threat_intel",
    "audit",
    "archive_search",
    "archive_search_logs",
    "message_tracking",
    "dashboard",
    "directory",
    "dlp",
    "message_release",
    "siem_ci",
    "threats",
    "reported_emails",
];

/// What a generator needs besides the record index.
#[derive(Debug, Clone, Copy)]
pub struct GenCtx<'a> {
    pub seed: u64,
    pub tenant: &'a TenantInfo,
    /// Backlog size of the stream (directory users are split across domains by it).
    pub n: u64,
    /// Records per get-siem-logs file (a record's MTA type depends on its file).
    pub mta_per_file: u64,
}

/// Generates record `i` (time `t_ms`) of a stream. `stream` is a key such as `ttp_url`,
/// `siem_cg:receipt`, `siem_ci:mailflow` or `threat_intel:malware_grid` (threat intel yields an array of the three
/// STIX objects of entry `i`). Returns `None` for unknown keys.
pub fn record(stream: &str, ctx: &GenCtx<'_>, i: u64, t_ms: i64) -> Option<Value> {
    let (seed, t) = (ctx.seed, ctx.tenant);
    let time = dates::from_ms(t_ms);
    Some(match stream {
        "audit" => audit::record(seed, t, i, time),
        "ttp_url" => ttp_url::record(seed, t, i, time),
        "ttp_attachment" => ttp_attachment::record(seed, t, i, time),
        "ttp_impersonation" => ttp_impersonation::record(seed, t, i, time),
        "archive_search" => archive::search_item(seed, t, i, time),
        "archive_search_logs" => archive::search_log(seed, t, i, time),
        "message_tracking" => message_tracking::record(seed, t, i, time),
        "dashboard" => dashboard::notification(seed, t, i, time),
        "directory" => {
            let d = directory::domain_of(t, ctx.n, i);
            directory::user_in(seed, t, i, &t.domains[d])
        }
        "siem_mta" => siem_mta::record(seed, t, i, time, siem_mta::type_of(i, ctx.mta_per_file)),
        "dlp" => dlp::record(seed, t, i, time),
        "message_release" => message_release::record(seed, t, i, time),
        "threats" => threats::record(seed, t, i, t_ms),
        "reported_emails" => reported_emails::record(seed, t, i, t_ms),
        s => {
            if let Some(ty) = s.strip_prefix("siem_cg:") {
                siem_cg::record(seed, t, siem_cg::TYPES.iter().find(|x| **x == ty)?, i, t_ms)
            } else if let Some(ty) = s.strip_prefix("siem_ci:") {
                siem_ci::record(seed, t, siem_ci::TYPES.iter().find(|x| **x == ty)?, i, t_ms)
            } else if let Some(feed) = s.strip_prefix("threat_intel:") {
                Value::Array(threat_intel::objects(
                    seed,
                    t,
                    threat_intel::FEEDS.iter().find(|x| **x == feed)?,
                    i,
                    time,
                ))
            } else {
                return None;
            }
        }
    })
}

/// Time resolution of a stream's records: Mimecast body dates have whole seconds; SIEM batch
/// `timestamp`, STIX `created` and threat detections' `timestamp` have milliseconds.
pub fn resolution_ms(stream: &str) -> i64 {
    if stream.starts_with("siem_cg")
        || stream.starts_with("siem_ci")
        || stream.starts_with("threat_intel")
        || stream == "threats"
    {
        1
    } else {
        1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timeline_windows_partition_the_backlog() {
        let tl = Timeline::new(
            datetime!(2026-01-01 12:00 UTC),
            std::time::Duration::from_secs(7200),
            1000,
            1000,
        );
        assert_eq!(tl.time_ms(0), tl.start_ms);
        assert!(tl.time_ms(999) < tl.end_ms());
        assert_eq!(tl.window(tl.start_ms, tl.end_ms()), (0, 1000));
        let mid = tl.start_ms + 3_600_000;
        let (a, b) = tl.window(tl.start_ms, mid);
        let (c, d) = tl.window(mid, tl.end_ms());
        assert_eq!((a, b, c, d), (0, b, b, 1000));
        assert!(tl.time_ms(b) >= mid && tl.time_ms(b - 1) < mid);
        assert_eq!(tl.window(tl.end_ms(), tl.end_ms() + 5), (1000, 1000));
    }

    #[test]
    fn every_stream_generates() {
        let t = TenantInfo::new("demo", 42);
        let ctx = GenCtx {
            seed: 42,
            tenant: &t,
            n: 10,
            mta_per_file: 2,
        };
        for s in STREAMS {
            let key = match *s {
                "siem_cg" => "siem_cg:receipt",
                "siem_ci" => "siem_ci:entities",
                "threat_intel" => "threat_intel:malware_grid",
                k => k,
            };
            assert!(record(key, &ctx, 3, 1_700_000_000_000).is_some(), "{s}");
        }
        assert!(record("nope", &ctx, 3, 0).is_none());
    }
}
