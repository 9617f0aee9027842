//! Mimecast records -> output [`Event`]s: pure functions, one per stream, no I/O.
//!
//! Each normalizer reads only the fields it maps, borrowing strings from the response body,
//! and never fails: a record whose fields cannot be read still becomes an event (with its raw
//! bytes, a synthetic id and the collection time), because dropping data is worse than emitting
//! it plainly. Field names follow the documented samples, and where the same field is spelled
//! differently by another log type or API version every spelling is read: a field the record
//! carries but the event lacks is invisible to the user. Golden files in
//! `tests/fixtures/normalize/` pin the output for each stream.

pub mod fields;
mod mail;
mod other;
mod siem;
mod stix;
mod threats;
mod ttp;

use crate::catalog::StreamKind;
use crate::event::{Context, Event, EventKind, Verdict};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Normalizes one record of `kind`'s stream.
pub fn normalize<'a>(kind: StreamKind, ctx: &Context<'a>, raw: &'a RawValue) -> Event<'a> {
    // serde would read a JSON array into a struct positionally; a record must be an object.
    if !raw.get().trim_start().starts_with('{') {
        return fallback(kind, ctx, raw);
    }
    let parsed = match kind {
        StreamKind::TtpUrl => ttp::url(ctx, raw),
        StreamKind::TtpAttachment => ttp::attachment(ctx, raw),
        StreamKind::TtpImpersonation => ttp::impersonation(ctx, raw),
        StreamKind::SiemCg => siem::cg(ctx, raw),
        StreamKind::SiemMta => siem::mta(ctx, raw),
        StreamKind::Audit => other::audit(ctx, raw),
        StreamKind::ArchiveSearchLogs => other::archive_search_log(ctx, raw),
        StreamKind::Dashboard => other::notification(ctx, raw),
        StreamKind::Directory => other::directory_user(ctx, raw),
        StreamKind::ThreatIntel => other::stix_object(ctx, raw),
        StreamKind::ArchiveSearch => mail::archive_message(ctx, raw),
        StreamKind::MessageTracking => mail::tracked_email(ctx, raw),
        StreamKind::SiemCi => siem::ci(ctx, raw),
        StreamKind::Threats => threats::threat(ctx, raw),
        StreamKind::Dlp => threats::dlp(ctx, raw),
        StreamKind::MessageRelease => mail::held_release(ctx, raw),
        StreamKind::ReportedEmails => threats::reported_email(ctx, raw),
    };
    let mut e = parsed.unwrap_or_else(|_| fallback(kind, ctx, raw));
    // Message and threat events always say what happened, if only that it is unknown, so a
    // filter on the verdict never silently misses a stream; the others never carry one.
    if matches!(e.kind, EventKind::Email | EventKind::Threat) {
        e.verdict.get_or_insert(Verdict::Unknown);
    } else {
        e.verdict = None;
    }
    e
}

/// The event for a record whose fields could not be read (e.g. duplicate keys, not an object).
fn fallback<'a>(kind: StreamKind, ctx: &Context<'a>, raw: &'a RawValue) -> Event<'a> {
    let mut e = Event::new(
        ctx,
        Cow::Owned(fields::synthetic_id(ctx.stream, raw)),
        default_kind(kind),
        None,
        raw,
    );
    e.description = Some(Cow::Borrowed("record could not be normalized; see raw"));
    e
}

fn default_kind(kind: StreamKind) -> EventKind {
    match kind {
        StreamKind::TtpUrl | StreamKind::TtpAttachment | StreamKind::TtpImpersonation => {
            EventKind::Threat
        }
        StreamKind::SiemCg
        | StreamKind::SiemMta
        | StreamKind::ArchiveSearch
        | StreamKind::MessageTracking => EventKind::Email,
        StreamKind::Audit | StreamKind::ArchiveSearchLogs => EventKind::Audit,
        StreamKind::ThreatIntel => EventKind::Indicator,
        StreamKind::Dashboard => EventKind::Notification,
        StreamKind::Directory => EventKind::Directory,
        StreamKind::SiemCi => EventKind::Email,
        StreamKind::Threats | StreamKind::Dlp | StreamKind::ReportedEmails => EventKind::Threat,
        StreamKind::MessageRelease => EventKind::Email,
    }
}

/// The record's own id when it has a non-empty one, else a synthetic one.
fn id_or_hash<'a>(own: Option<Cow<'a, str>>, ctx: &Context<'a>, raw: &'a RawValue) -> Cow<'a, str> {
    own.unwrap_or_else(|| Cow::Owned(fields::synthetic_id(ctx.stream, raw)))
}

/// What the normalizers' unit tests share: a record from text, and a normalizer run on it.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::event::{Context, Event};
    use serde_json::value::RawValue;
    use time::macros::datetime;

    pub fn run_as<'a>(
        f: fn(&Context<'a>, &'a RawValue) -> serde_json::Result<Event<'a>>,
        stream: &'a str,
        raw: &'a RawValue,
    ) -> Event<'a> {
        let ctx = Context {
            tenant: "t",
            stream,
            collected_at: datetime!(2026-11-23 10:00 UTC),
            include_raw: false,
        };
        f(&ctx, raw).expect("the record normalizes")
    }

    pub fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).expect("valid JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn unreadable_records_still_become_events() {
        let ctx = Context {
            tenant: "t",
            stream: "audit",
            collected_at: datetime!(2026-11-23 10:00 UTC),
            include_raw: true,
        };
        for text in [r#"{"id":"a","id":"b"}"#, r#"[1,2]"#, r#""just a string""#] {
            let raw = RawValue::from_string(text.to_string()).unwrap();
            let e = normalize(StreamKind::Audit, &ctx, &raw);
            assert_eq!(e.time, ctx.collected_at);
            assert_eq!(e.raw.unwrap().get(), text);
            if !text.starts_with('{') {
                assert_eq!(e.id.len(), 32, "not an object: synthetic id");
                assert!(e.description.is_some());
            }
        }
    }
}
