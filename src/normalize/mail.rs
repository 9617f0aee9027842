//! Message metadata: archive search results (docs/mimecast-api.md#archive-search), Message Finder
//! results (docs/mimecast-api.md#message-tracking) and held messages released or rejected from the
//! hold queue (docs/mimecast-api.md#held-message-release-logs).

use super::fields::{parse_time, split_addresses, verdict, Address, OneOrMany, Text};
use super::id_or_hash;
use crate::event::{Context, Event, EventKind, Severity};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct ArchiveMessage<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    subject: Text<'a>,
    #[serde(borrow, default)]
    displayfrom: Text<'a>,
    #[serde(borrow, default)]
    displayto: Text<'a>,
    #[serde(borrow, default)]
    receiveddate: Text<'a>,
    #[serde(borrow, default)]
    status: Text<'a>,
    #[serde(borrow, default)]
    size: Text<'a>,
}

pub fn archive_message<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: ArchiveMessage<'a> = serde_json::from_str(raw.get())?;
    let time = r.receiveddate.as_str().and_then(parse_time);
    let mut e = Event::new(
        ctx,
        id_or_hash(r.id.get(), ctx, raw),
        EventKind::Email,
        time,
        raw,
    );
    e.sender = r.displayfrom.get();
    e.recipients = split_addresses(r.displayto.get());
    e.subject = r.subject.get();
    e.action = r.status.get();
    e.verdict = r.status.as_str().map(verdict);
    e.description = r.size.get().map(|s| format!("size {s} bytes").into());
    Ok(e)
}

/// Message Finder items: the field list is UNCONFIRMED (docs/mimecast-api.md#message-tracking);
/// these names follow the `advancedTrackAndTraceOptions` vocabulary and the held-release log shape
/// (docs/mimecast-api.md#held-message-release-logs). The request spells the sender's address
/// `senderIP`, so the item may too: both spellings read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrackedEmail<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    status: Text<'a>,
    #[serde(borrow, default)]
    from_env: Option<Address<'a>>,
    #[serde(borrow, default)]
    from_hdr: Option<Address<'a>>,
    #[serde(borrow, default)]
    to: Option<Vec<Address<'a>>>,
    #[serde(borrow, default)]
    subject: Text<'a>,
    #[serde(borrow, default)]
    received: Text<'a>,
    #[serde(borrow, default)]
    sender_ip: Text<'a>,
    #[serde(borrow, default, rename = "senderIP")]
    sender_ip_caps: Text<'a>,
    #[serde(borrow, default)]
    route: Text<'a>,
    #[serde(borrow, default)]
    message_id: Text<'a>,
}

pub fn tracked_email<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: TrackedEmail<'a> = serde_json::from_str(raw.get())?;
    let time = r.received.as_str().and_then(parse_time);
    let mut e = Event::new(
        ctx,
        id_or_hash(r.id.get(), ctx, raw),
        EventKind::Email,
        time,
        raw,
    );
    e.action = r.status.get();
    e.verdict = r.status.as_str().map(verdict);
    e.sender = r
        .from_env
        .as_ref()
        .and_then(Address::text)
        .or_else(|| r.from_hdr.as_ref().and_then(Address::text));
    e.recipients = r.to.iter().flatten().filter_map(Address::text).collect();
    e.subject = r.subject.get();
    e.source_ip = r.sender_ip_caps.get().or_else(|| r.sender_ip.get());
    e.direction = r.route.get();
    e.message_id = r.message_id.get();
    Ok(e)
}

/// A held-release log entry (docs/mimecast-api.md#held-message-release-logs). Address fields are
/// objects in the field list and, for `operator`, a plain string in Elastic's mock; both read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeldRelease<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    status: Text<'a>,
    #[serde(borrow, default)]
    reject_reason: Text<'a>,
    #[serde(borrow, default)]
    held_reason: Text<'a>,
    #[serde(borrow, default)]
    message_info: Text<'a>,
    #[serde(borrow, default)]
    released: Text<'a>,
    #[serde(borrow, default)]
    operator: Option<Address<'a>>,
    #[serde(borrow, default)]
    from_env: Option<Address<'a>>,
    #[serde(borrow, default)]
    from_hdr: Option<Address<'a>>,
    #[serde(borrow, default)]
    to: Option<OneOrMany<Address<'a>>>,
    #[serde(borrow, default)]
    subject: Text<'a>,
    #[serde(borrow, default)]
    route: Text<'a>,
    #[serde(borrow, default)]
    policy: Text<'a>,
    #[serde(borrow, default)]
    spam_score: Text<'a>,
    #[serde(borrow, default)]
    spam_processing_detail: Option<SpamDetail<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpamDetail<'a> {
    /// The field list says `verdict`; Elastic's mock says `spamVerdict`.
    #[serde(borrow, default, alias = "spamVerdict")]
    verdict: Option<SpamVerdict<'a>>,
}

#[derive(Deserialize)]
struct SpamVerdict<'a> {
    #[serde(borrow, default)]
    risk: Text<'a>,
    #[serde(borrow, default)]
    decision: Text<'a>,
}

/// Held-release logs (docs/mimecast-api.md#held-message-release-logs): an operator released a held
/// message to its recipients or rejected it. Severity is the message's risk, which matters most
/// when it was released (Elastic integrations#9395 asks to alert on exactly that).
pub fn held_release<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: HeldRelease<'a> = serde_json::from_str(raw.get())?;
    let time = r.released.as_str().and_then(parse_time);
    let mut e = Event::new(
        ctx,
        id_or_hash(r.id.get(), ctx, raw),
        EventKind::Email,
        time,
        raw,
    );
    let spam_verdict = r
        .spam_processing_detail
        .as_ref()
        .and_then(|d| d.verdict.as_ref());
    e.severity = spam_verdict
        .and_then(|v| risk_severity(v.risk.as_str()?))
        .or_else(|| spam_score_severity(r.spam_score.as_str()?))
        .or_else(|| match spam_verdict?.decision.as_str()? {
            "clean" => Some(Severity::Info),
            _ => Some(Severity::Low),
        });
    e.action = r.status.get();
    // Released: the message went on to its recipients; rejected: it never did.
    e.verdict = r.status.as_str().map(verdict);
    e.rule = r.policy.get();
    e.user = r.operator.as_ref().and_then(Address::text);
    e.sender = r
        .from_env
        .as_ref()
        .and_then(Address::text)
        .or_else(|| r.from_hdr.as_ref().and_then(Address::text));
    e.recipients = r.to.as_ref().map(OneOrMany::addresses).unwrap_or_default();
    e.subject = r.subject.get();
    e.direction = r.route.get();
    e.category = r.held_reason.get();
    // Elastic's mock fills both for a released message; the one that explains the status wins.
    e.description = if r.status.as_str() == Some("rejected") {
        r.reject_reason.get().or_else(|| r.message_info.get())
    } else {
        r.message_info.get().or_else(|| r.reject_reason.get())
    };
    Ok(e)
}

/// `verdict.risk` as Mimecast grades it (negligible, low, medium, high).
fn risk_severity(risk: &str) -> Option<Severity> {
    Some(match risk.to_ascii_lowercase().as_str() {
        "negligible" | "none" => Severity::Info,
        "low" => Severity::Low,
        "medium" | "moderate" => Severity::Medium,
        "high" | "critical" => Severity::High,
        _ => return None,
    })
}

/// Only when there is no verdict. The scale is undocumented; the bands are a guess. `detectionLevel`
/// is not used: it is the hold policy's sensitivity setting (relaxed, moderate, aggressive), not
/// a judgement of the message.
fn spam_score_severity(score: &str) -> Option<Severity> {
    let n: f64 = score.trim().parse().ok()?;
    Some(if n >= 20.0 {
        Severity::Medium
    } else if n > 0.0 {
        Severity::Low
    } else {
        Severity::Info
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Verdict;
    use time::macros::datetime;

    fn release(text: &str) -> Event<'_> {
        let ctx = Context {
            tenant: "t",
            stream: "message_release",
            collected_at: datetime!(2026-11-23 10:00 UTC),
            include_raw: false,
        };
        let raw: &RawValue = serde_json::from_str(text).unwrap();
        held_release(&ctx, raw).unwrap()
    }

    #[test]
    fn a_release_reads_either_address_form_and_either_verdict_name() {
        let e = release(
            r#"{"id":"h1","status":"released","released":"2015-11-25T14:49:18+00:00",
                "operator":"admin@x","fromEnv":{"emailAddress":""},"fromHdr":{"emailAddress":"h@x"},
                "to":[{"displayableName":"T","emailAddress":"t@x"}],
                "spamProcessingDetail":{"spamVerdict":{"risk":"negligible"}},"spamScore":40}"#,
        );
        assert_eq!(e.time, datetime!(2015-11-25 14:49:18 UTC));
        assert_eq!(e.user.as_deref(), Some("admin@x"));
        assert_eq!(e.sender.as_deref(), Some("h@x"), "empty envelope: header");
        assert_eq!(e.recipients, vec!["t@x"]);
        assert_eq!(
            e.severity,
            Some(Severity::Info),
            "the verdict beats the score"
        );
    }

    #[test]
    fn a_release_is_allowed_a_rejection_blocked_and_the_policy_is_the_rule() {
        let e = release(r#"{"status":"released","policy":"Default Spam Scanning Definition"}"#);
        assert_eq!(e.verdict, Some(Verdict::Allowed));
        assert_eq!(e.rule.as_deref(), Some("Default Spam Scanning Definition"));
        assert_eq!(
            release(r#"{"status":"rejected"}"#).verdict,
            Some(Verdict::Blocked)
        );
    }

    fn tracked(text: &str) -> Event<'_> {
        let ctx = Context {
            tenant: "t",
            stream: "message_tracking",
            collected_at: datetime!(2026-11-23 10:00 UTC),
            include_raw: false,
        };
        let raw: &RawValue = serde_json::from_str(text).unwrap();
        tracked_email(&ctx, raw).unwrap()
    }

    #[test]
    fn a_tracked_message_reads_the_sender_ip_as_the_search_spells_it() {
        // As the simulator serves it: the `advancedTrackAndTraceOptions` name.
        let e = tracked(
            r#"{"id":"eNpV1","fromEnv":{"emailAddress":"a@x"},"to":[{"emailAddress":"b@y"}],
                "received":"2026-11-23T09:00:00+0000","status":"held","route":"inbound",
                "senderIP":"198.51.100.7","messageId":"<m@x>"}"#,
        );
        assert_eq!(e.source_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(e.verdict, Some(Verdict::Held));
        let camel = tracked(r#"{"senderIp":"192.0.2.1","status":"bounced"}"#);
        assert_eq!(camel.source_ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(camel.verdict, Some(Verdict::Blocked));
        assert_eq!(
            tracked(r#"{"status":"delivery"}"#).verdict,
            Some(Verdict::Allowed)
        );
        assert_eq!(
            tracked(r#"{"status":"archived"}"#).verdict,
            Some(Verdict::Unknown)
        );
    }

    #[test]
    fn the_description_explains_the_status() {
        let both = r#""rejectReason":"bad content","messageInfo":"by admin""#;
        let rejected = format!(r#"{{"status":"rejected",{both}}}"#);
        let released = format!(r#"{{"status":"released",{both}}}"#);
        assert_eq!(
            release(&rejected).description.as_deref(),
            Some("bad content")
        );
        assert_eq!(release(&released).description.as_deref(), Some("by admin"));
    }

    #[test]
    fn without_a_verdict_the_spam_score_grades_it() {
        assert_eq!(
            release(r#"{"spamScore":31}"#).severity,
            Some(Severity::Medium)
        );
        assert_eq!(
            release(r#"{"spamScore":"5"}"#).severity,
            Some(Severity::Low)
        );
        assert_eq!(release(r#"{"spamScore":0}"#).severity, Some(Severity::Info));
        assert_eq!(release(r#"{"detectionLevel":"aggressive"}"#).severity, None);
        let e = release(r#"{"spamProcessingDetail":{"verdict":{"decision":"clean"}}}"#);
        assert_eq!(e.severity, Some(Severity::Info));
    }
}
