//! The output event: one typed model that every stream normalizes into. Normalizers know
//! Mimecast; renderings (`render`: native, OCSF, ECS) know only this model and the stream it
//! came from, so a field filled once appears in every format, and a new format never reads a
//! Mimecast record.
//!
//! Fields borrow from the response body where they can, and `raw` is the record's original
//! bytes (`RawValue`), so emitting an event copies each string at most once and never
//! re-serializes the Mimecast record. The native schema is `schema/event.schema.json`; its
//! serde attributes below are that rendering.

use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use time::OffsetDateTime;

/// What kind of thing happened, coarse enough for routing in a SIEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A detection or protective action (URL, attachment, impersonation, AV, spam).
    Threat,
    /// Mail flow: receipt, processing, delivery, journaling, tracking, archive metadata.
    Email,
    /// Administrative or user activity (audit log, archive searches).
    Audit,
    /// A threat-intelligence object (STIX indicator, malware, relationship).
    Indicator,
    /// A dashboard notification from Mimecast.
    Notification,
    /// A directory change (internal user added, changed or removed).
    Directory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

/// What happened to the message or the thing detected, in four words analysts can filter on.
/// Normalizers derive it from the record's action or result; [`Verdict::Unknown`] when the
/// record names no outcome (or one we do not recognize: the raw word stays in `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Delivered, clicked through, released, accepted.
    Allowed,
    /// Rejected, bounced, blocked, deleted, removed.
    Blocked,
    /// Held or quarantined for review.
    Held,
    Unknown,
}

/// What an indicator's value is (threat intelligence, STIX patterns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorType {
    Ipv4,
    Ipv6,
    Domain,
    Url,
    Email,
    Md5,
    Sha1,
    Sha256,
    Sha512,
    /// A file name (STIX `file:name`).
    FileName,
}

/// One observable of a threat-intelligence object: `indicator` and `indicator_type` in the
/// native form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator<'a> {
    pub kind: IndicatorType,
    pub value: Cow<'a, str>,
}

/// One normalized event. Optional fields are left out of the JSON when absent.
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    pub id: Cow<'a, str>,
    pub tenant: &'a str,
    pub stream: &'a str,
    pub kind: EventKind,
    #[serde(with = "rfc3339")]
    pub time: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub collected_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<Cow<'a, str>>,
    /// Where the message went (the next hop a delivery connected to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_ip: Option<Cow<'a, str>>,
    /// The acting user (audit) or the directory entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_hash: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Cow<'a, str>>,
    /// The normalized outcome (see [`Verdict`]); message and threat events only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The policy, definition or rule that acted (TTP definition, DLP policy...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<Cow<'a, str>>,
    /// Malware or threat family names the record gives (STIX malware, virus found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threat_name: Option<Cow<'a, str>>,
    #[serde(
        flatten,
        skip_serializing_if = "Option::is_none",
        serialize_with = "indicator::serialize"
    )]
    pub indicator: Option<Indicator<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<&'a RawValue>,
}

mod indicator {
    use super::Indicator;
    use serde::ser::{SerializeMap, Serializer};

    /// Flattened as two native fields, `indicator` and `indicator_type`.
    pub fn serialize<S: Serializer>(i: &Option<Indicator<'_>>, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(i) = i {
            m.serialize_entry("indicator", &i.value)?;
            m.serialize_entry("indicator_type", &i.kind)?;
        }
        m.end()
    }
}

impl<'a> Event<'a> {
    /// An event with only the mandatory fields; normalizers fill in the rest.
    pub fn new(
        ctx: &Context<'a>,
        id: Cow<'a, str>,
        kind: EventKind,
        time: Option<OffsetDateTime>,
        raw: &'a RawValue,
    ) -> Event<'a> {
        Event {
            id,
            tenant: ctx.tenant,
            stream: ctx.stream,
            kind,
            time: time.unwrap_or(ctx.collected_at),
            collected_at: ctx.collected_at,
            action: None,
            severity: None,
            sender: None,
            recipients: Vec::new(),
            subject: None,
            url: None,
            message_id: None,
            source_ip: None,
            destination_ip: None,
            user: None,
            direction: None,
            category: None,
            file_name: None,
            file_hash: None,
            description: None,
            verdict: None,
            rule: None,
            threat_name: None,
            indicator: None,
            raw: ctx.include_raw.then_some(raw),
        }
    }
}

/// What every event of one poll shares.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub tenant: &'a str,
    pub stream: &'a str,
    pub collected_at: OffsetDateTime,
    pub include_raw: bool,
}

/// RFC 3339 in UTC with a `Z`, milliseconds only when the source had them.
pub mod rfc3339 {
    use serde::Serializer;
    use time::OffsetDateTime;

    pub fn format(t: OffsetDateTime) -> String {
        let mut buf = [0u8; 24];
        match render(t, &mut buf) {
            Some(s) => s.to_string(),
            None => slow(t),
        }
    }

    /// Without allocating: two timestamps per event are on the hot path.
    fn render(t: OffsetDateTime, buf: &mut [u8; 24]) -> Option<&str> {
        let t = t.to_offset(time::UtcOffset::UTC);
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        *buf = *b"0000-00-00T00:00:00.000Z";
        let put = |buf: &mut [u8; 24], at: usize, width: usize, mut v: u32| {
            for i in (at..at + width).rev() {
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(buf, 0, 4, year);
        put(buf, 5, 2, u32::from(u8::from(t.month())));
        put(buf, 8, 2, u32::from(t.day()));
        put(buf, 11, 2, u32::from(t.hour()));
        put(buf, 14, 2, u32::from(t.minute()));
        put(buf, 17, 2, u32::from(t.second()));
        let len = match t.millisecond() {
            0 => {
                buf[19] = b'Z';
                20
            }
            ms => {
                put(buf, 20, 3, u32::from(ms));
                24
            }
        };
        std::str::from_utf8(&buf[..len]).ok()
    }

    /// Years beyond 0..=9999 (not produced by the parsers, but representable).
    fn slow(t: OffsetDateTime) -> String {
        let t = t.to_offset(time::UtcOffset::UTC);
        let base = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        match t.millisecond() {
            0 => format!("{base}Z"),
            ms => format!("{base}.{ms:03}Z"),
        }
    }

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 24];
        match render(*t, &mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&slow(*t)),
        }
    }

    #[cfg(test)]
    mod tests {
        use time::macros::datetime;

        #[test]
        fn fast_and_slow_paths_agree() {
            for t in [
                datetime!(2026-11-23 09:05:03 UTC),
                datetime!(2026-11-23 09:05:03.007 +02:00),
                datetime!(0001-01-01 00:00:00.999 UTC),
                datetime!(9999-12-31 23:59:59 UTC),
            ] {
                assert_eq!(super::format(t), super::slow(t));
            }
            assert_eq!(
                super::format(datetime!(2026-11-23 09:05:03.5 +01:00)),
                "2026-11-23T08:05:03.500Z"
            );
        }
    }
}
