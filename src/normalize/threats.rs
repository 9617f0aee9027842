//! Detections outside TTP and SIEM: API 2.0 Threats (docs/mimecast-api.md#threats-api), DLP policy
//! hits (docs/mimecast-api.md#dlp-logs) and user-reported emails
//! (docs/mimecast-api.md#reported-emails).
//!
//! The Threats record is one the collector assembles (`streams::threat_details`): the listed
//! threat, its details or null, and why they are null. Neither part's shape is documented, so
//! each part is read on its own and several spellings are accepted: a details answer of an
//! unexpected shape costs its own fields, not the list record's id and time.

use super::fields::{action_word, parse_time, split_addresses, verdict, Address, OneOrMany, Text};
use super::id_or_hash;
use crate::event::{Context, Event, EventKind, Severity};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreatEnvelope<'a> {
    #[serde(borrow, default)]
    threat: Option<&'a RawValue>,
    #[serde(borrow, default)]
    details: Option<&'a RawValue>,
    #[serde(borrow, default)]
    details_error: Text<'a>,
}

/// A `/threats/v1/events` item. The time and sender names past the first are guesses for an
/// undocumented shape (UNCONFIRMED, docs/mimecast-api.md#threats-api).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ThreatSummary<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    timestamp: Text<'a>,
    #[serde(borrow, default)]
    created_at: Text<'a>,
    #[serde(borrow, default)]
    event_time: Text<'a>,
    #[serde(borrow, default)]
    date: Text<'a>,
    #[serde(borrow, default)]
    direction: Text<'a>,
    #[serde(borrow, default)]
    analysis: Text<'a>,
    #[serde(borrow, default)]
    status: Text<'a>,
    #[serde(borrow, default)]
    sender: Option<Address<'a>>,
    #[serde(borrow, default)]
    from: Option<Address<'a>>,
    #[serde(borrow, default)]
    sender_address: Option<Address<'a>>,
    #[serde(borrow, default)]
    subject: Text<'a>,
}

/// A `/threats/v1/events/{id}/details` answer. Sub-collections are cut at the request's
/// `pageSize` (docs/mimecast-api.md#threats-api); the first items are the ones mapped.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ThreatDetails<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    timestamp: Text<'a>,
    #[serde(borrow, default)]
    sender: Option<Address<'a>>,
    #[serde(borrow, default)]
    sender_ip: Text<'a>,
    #[serde(borrow, default)]
    subject: Text<'a>,
    #[serde(borrow, default)]
    status: Text<'a>,
    #[serde(borrow, default)]
    direction: Text<'a>,
    #[serde(borrow, default)]
    recipients: Option<OneOrMany<Address<'a>>>,
    #[serde(borrow, default)]
    threats: Option<Vec<ThreatItem<'a>>>,
    #[serde(borrow, default, alias = "attachments")]
    files: Option<Vec<FileItem<'a>>>,
    #[serde(borrow, default)]
    urls: Option<Vec<UrlItem<'a>>>,
}

#[derive(Deserialize)]
struct ThreatItem<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow, default)]
    verdict: Text<'a>,
    #[serde(borrow, default)]
    summary: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileItem<'a> {
    #[serde(borrow, default, alias = "name")]
    file_name: Text<'a>,
    #[serde(borrow, default)]
    sha256: Text<'a>,
}

#[derive(Deserialize)]
struct UrlItem<'a> {
    #[serde(borrow, default)]
    url: Text<'a>,
    #[serde(borrow, default)]
    clicked: Text<'a>,
}

/// Severity of a Threats `analysis` value or a reported email's `classification`.
fn verdict_severity(label: &str) -> Option<Severity> {
    Some(match label {
        "malware" | "phishing" | "malicious" => Severity::High,
        "suspicious" => Severity::Medium,
        "spam" | "unwanted" => Severity::Low,
        "clean" => Severity::Info,
        _ => return None,
    })
}

/// docs/mimecast-api.md#threats-api Threats, as the collector stores them: `{"threat", "details",
/// "detailsError"}`. A bare list record (no envelope) is read as the threat.
pub fn threat<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let envelope: ThreatEnvelope<'a> = serde_json::from_str(raw.get())?;
    let summary: ThreatSummary<'a> = match envelope.threat {
        Some(t) => serde_json::from_str(t.get()).unwrap_or_default(),
        None => serde_json::from_str(raw.get())?,
    };
    let details: Option<ThreatDetails<'a>> = envelope
        .details
        .map(|d| serde_json::from_str(d.get()).unwrap_or_default());

    let d = details.as_ref();
    let time = [
        &summary.timestamp,
        &summary.created_at,
        &summary.event_time,
        &summary.date,
    ]
    .into_iter()
    .chain(d.map(|d| &d.timestamp))
    .find_map(|t| t.as_str().and_then(parse_time));
    let id = summary.id.get().or_else(|| d.and_then(|d| d.id.get()));
    let mut e = Event::new(ctx, id_or_hash(id, ctx, raw), EventKind::Threat, time, raw);

    let items: &[ThreatItem<'a>] = d.and_then(|d| d.threats.as_deref()).unwrap_or_default();
    e.category = summary
        .analysis
        .get()
        .or_else(|| items.iter().find_map(|t| t.kind.get()));
    e.severity = e
        .category
        .as_deref()
        .and_then(verdict_severity)
        .or_else(|| {
            items
                .iter()
                .filter_map(|t| t.verdict.as_str())
                .find_map(verdict_severity)
        })
        // Listed by the Threats route at all: something was detected.
        .or(Some(Severity::Medium));
    let status = summary
        .status
        .get()
        .or_else(|| d.and_then(|d| d.status.get()));
    e.action = status.and_then(threat_action);
    // Where the message went: blocked/rejected/bounced, held, delivered; `unknown` says nothing.
    e.verdict = e.action.as_deref().map(verdict);
    e.sender = [&summary.sender, &summary.from, &summary.sender_address]
        .into_iter()
        .chain(d.map(|d| &d.sender))
        .find_map(|a| a.as_ref().and_then(Address::text));
    e.recipients = d
        .and_then(|d| d.recipients.as_ref())
        .map(OneOrMany::addresses)
        .unwrap_or_default();
    e.subject = summary
        .subject
        .get()
        .or_else(|| d.and_then(|d| d.subject.get()));
    e.source_ip = d.and_then(|d| d.sender_ip.get());
    e.direction = summary
        .direction
        .get()
        .or_else(|| d.and_then(|d| d.direction.get()));
    let files: &[FileItem<'a>] = d.and_then(|d| d.files.as_deref()).unwrap_or_default();
    if let Some(file) = files.first() {
        e.file_name = file.file_name.get();
        e.file_hash = file.sha256.get();
    }
    let urls: &[UrlItem<'a>] = d.and_then(|d| d.urls.as_deref()).unwrap_or_default();
    e.url = urls
        .iter()
        .filter(|u| u.clicked.as_str() == Some("true"))
        .chain(urls)
        .find_map(|u| u.url.get());
    e.description = match &details {
        Some(_) => {
            let parts: Vec<&str> = items.iter().filter_map(|t| t.summary.as_str()).collect();
            (!parts.is_empty()).then(|| Cow::Owned(parts.join("; ")))
        }
        None => Some(match envelope.details_error.as_str() {
            Some(why) => Cow::Owned(format!("threat details unavailable: {why}")),
            None => Cow::Borrowed("threat details unavailable"),
        }),
    };
    Ok(e)
}

/// A Threats `status` in the words the other streams use. `blocked` and `rejected` both mean the
/// message never reached a mailbox, and a SIEM rule asks exactly that, so both are "block";
/// `delivered` is "deliver" (what the SIEM `Del` code spells out), not "allow": the route reports
/// where the message went, not a policy decision to let it through. `unknown` says nothing.
fn threat_action(status: Cow<'_, str>) -> Option<Cow<'_, str>> {
    Some(match status.as_ref() {
        "blocked" | "rejected" => Cow::Borrowed("block"),
        "held" => Cow::Borrowed("hold"),
        "delivered" => Cow::Borrowed("deliver"),
        "bounced" => Cow::Borrowed("bounce"),
        "unknown" => return None,
        _ => action_word(status),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DlpLog<'a> {
    #[serde(borrow, default)]
    sender_address: Text<'a>,
    #[serde(borrow, default)]
    recipient_address: Text<'a>,
    #[serde(borrow, default)]
    subject: Text<'a>,
    #[serde(borrow, default)]
    event_time: Text<'a>,
    #[serde(borrow, default)]
    route: Text<'a>,
    #[serde(borrow, default)]
    policy: Text<'a>,
    #[serde(borrow, default)]
    action: Text<'a>,
    #[serde(borrow, default)]
    message_id: Text<'a>,
}

/// docs/mimecast-api.md#dlp-logs DLP logs: a message matched a data-loss-prevention policy. No id:
/// synthetic. Severity is medium throughout: the record names the policy, not how sensitive the
/// matched content was.
pub fn dlp<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: DlpLog<'a> = serde_json::from_str(raw.get())?;
    let time = r.event_time.as_str().and_then(parse_time);
    let mut e = Event::new(
        ctx,
        id_or_hash(None, ctx, raw),
        EventKind::Threat,
        time,
        raw,
    );
    e.severity = Some(Severity::Medium);
    e.action = r.action.get().map(action_word);
    // block, bounce: blocked; hold: held; notify: the message went on.
    e.verdict = r.action.as_str().map(verdict);
    e.rule = r.policy.get();
    e.sender = r.sender_address.get();
    e.recipients = split_addresses(r.recipient_address.get());
    e.subject = r.subject.get();
    e.message_id = r.message_id.get();
    e.direction = r.route.get();
    e.category = r.policy.get();
    Ok(e)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportedEmail<'a> {
    #[serde(borrow, default)]
    message: Option<ReportedMessage<'a>>,
    #[serde(borrow, default)]
    threat_analysis: Option<ThreatAnalysis<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportedMessage<'a> {
    #[serde(borrow, default)]
    message_id: Text<'a>,
    #[serde(borrow, default)]
    message_aggregate_id: Text<'a>,
    #[serde(borrow, default)]
    subject: Text<'a>,
    #[serde(borrow, default)]
    sent_date: Text<'a>,
    #[serde(borrow, default)]
    last_reported_date: Text<'a>,
    #[serde(borrow, default)]
    sender_headers: Option<OneOrMany<Text<'a>>>,
    #[serde(borrow, default)]
    recipients: Option<OneOrMany<Address<'a>>>,
    #[serde(borrow, default)]
    reporters_count: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreatAnalysis<'a> {
    #[serde(borrow, default)]
    classification: Text<'a>,
    #[serde(borrow, default)]
    details: Text<'a>,
}

/// docs/mimecast-api.md#reported-emails `/threat-reporting/v1/reported-emails`: messages users
/// reported as suspicious. The item names no outcome (no remediation or delivery status, only the
/// analysts' classification), so its verdict is unknown.
pub fn reported_email<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: ReportedEmail<'a> = serde_json::from_str(raw.get())?;
    let m = r.message.as_ref();
    let last_reported = m.and_then(|m| m.last_reported_date.get());
    // One item per reported message, re-listed with a later `lastReportedDate` each time another
    // user reports it. The window follows that date, so a re-report is read again and is news
    // (more users fell for it, or it came back): keyed on the message alone it would be
    // dropped as a duplicate of the first report.
    let id = match (m.and_then(|m| m.message_aggregate_id.get()), &last_reported) {
        (Some(aggregate), Some(date)) => Some(Cow::Owned(format!("{aggregate}:{date}"))),
        _ => None,
    };
    let time = last_reported
        .as_deref()
        .or_else(|| m.and_then(|m| m.sent_date.as_str()))
        .and_then(parse_time);
    let mut e = Event::new(ctx, id_or_hash(id, ctx, raw), EventKind::Threat, time, raw);
    e.action = Some(Cow::Borrowed("report"));
    let classification = r
        .threat_analysis
        .as_ref()
        .and_then(|a| a.classification.get());
    // Not yet analysed: a user's report is worth a look, as a suspicious detection is.
    e.severity = match classification.as_deref() {
        Some(c) => verdict_severity(c).or(Some(Severity::Medium)),
        None => Some(Severity::Medium),
    };
    e.category = classification.or(Some(Cow::Borrowed("unresolved")));
    if let Some(m) = m {
        // As given ("Name <addr>"): the display name is what the reporter saw.
        e.sender = m.sender_headers.as_ref().and_then(OneOrMany::first);
        e.recipients = m
            .recipients
            .as_ref()
            .map(OneOrMany::addresses)
            .unwrap_or_default();
        e.subject = m.subject.get();
        e.message_id = m.message_id.get();
    }
    e.description = r
        .threat_analysis
        .as_ref()
        .and_then(|a| a.details.get())
        .or_else(|| {
            let n = m.and_then(|m| m.reporters_count.get())?;
            let users = if n == "1" { "user" } else { "users" };
            Some(Cow::Owned(format!(
                "reported by {n} {users}, not yet analysed"
            )))
        });
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Verdict;
    use time::macros::datetime;

    use crate::normalize::test_support::{raw, run_as as run};

    #[test]
    fn a_bare_list_record_with_other_spellings_still_reads() {
        let r = raw(
            r#"{"id":"abc","eventTime":"2026-11-23T09:00:00+0000","from":{"emailAddress":"x@y"},
                "analysis":"phishing","status":"unknown"}"#,
        );
        let e = run(threat, "threats", &r);
        assert_eq!(e.id, "abc");
        assert_eq!(e.time, datetime!(2026-11-23 09:00 UTC));
        assert_eq!(e.sender.as_deref(), Some("x@y"));
        assert_eq!(e.severity, Some(Severity::High));
        assert_eq!(e.action, None, "unknown status: no action");
        assert_eq!(
            e.description.as_deref(),
            Some("threat details unavailable"),
            "no envelope, so no details"
        );
    }

    #[test]
    fn details_of_an_unexpected_shape_cost_only_their_own_fields() {
        let r = raw(
            r#"{"threat":{"id":"t1","timestamp":"2026-11-23T09:00:00.000Z","status":"held"},
                "details":{"id":"t1","files":"not a list","senderIp":"192.0.2.1"}}"#,
        );
        let e = run(threat, "threats", &r);
        assert_eq!(e.id, "t1");
        assert_eq!(e.time, datetime!(2026-11-23 09:00 UTC));
        assert_eq!(e.action.as_deref(), Some("hold"));
        assert_eq!(e.source_ip, None);
        assert_eq!(e.severity, Some(Severity::Medium), "listed, so detected");
        assert_eq!(e.description, None);
    }

    #[test]
    fn details_fill_what_the_list_record_lacks() {
        let r = raw(
            r#"{"threat":{"id":"t2"},"details":{"timestamp":"2026-11-23T08:00:00Z",
                "sender":{"emailAddress":"s@x"},"subject":"hi","direction":"inbound",
                "recipients":["a@x",{"emailAddress":"b@x","deliveryStatus":"held"}],
                "threats":[{"type":"malware","verdict":"malicious","summary":"one"},
                           {"type":"phishing","summary":"two"}],
                "attachments":[{"name":"a.exe","md5":"00"},{"fileName":"b.pdf","sha256":"ff"}],
                "urls":[{"url":"https://a"},{"url":"https://b","clicked":true}]}}"#,
        );
        let e = run(threat, "threats", &r);
        assert_eq!(e.time, datetime!(2026-11-23 08:00 UTC));
        assert_eq!(e.sender.as_deref(), Some("s@x"));
        assert_eq!(e.recipients, vec!["a@x", "b@x"]);
        assert_eq!(e.category.as_deref(), Some("malware"));
        assert_eq!(e.severity, Some(Severity::High));
        assert_eq!(e.file_name.as_deref(), Some("a.exe"));
        assert_eq!(e.file_hash, None, "only a SHA-256 is a file_hash");
        assert_eq!(e.url.as_deref(), Some("https://b"), "the clicked URL first");
        assert_eq!(e.description.as_deref(), Some("one; two"));
    }

    #[test]
    fn threat_statuses_as_verdicts() {
        for (status, want) in [
            ("blocked", Verdict::Blocked),
            ("rejected", Verdict::Blocked),
            ("bounced", Verdict::Blocked),
            ("held", Verdict::Held),
            ("delivered", Verdict::Allowed),
        ] {
            let r = raw(&format!(r#"{{"threat":{{"id":"t","status":"{status}"}}}}"#));
            assert_eq!(run(threat, "threats", &r).verdict, Some(want), "{status}");
        }
        let r = raw(r#"{"threat":{"id":"t","status":"unknown"}}"#);
        assert_eq!(
            run(threat, "threats", &r).verdict,
            None,
            "normalize() makes it unknown"
        );
    }

    #[test]
    fn dlp_actions_and_policies() {
        for (action, want) in [
            ("block", Verdict::Blocked),
            ("bounce", Verdict::Blocked),
            ("hold", Verdict::Held),
            ("notify", Verdict::Allowed),
        ] {
            let r = raw(&format!(
                r#"{{"policy":"GDPR Personal Data","action":"{action}"}}"#
            ));
            let e = run(dlp, "dlp", &r);
            assert_eq!(e.verdict, Some(want), "{action}");
            assert_eq!(e.rule.as_deref(), Some("GDPR Personal Data"));
            assert_eq!(
                e.category.as_deref(),
                Some("GDPR Personal Data"),
                "unchanged"
            );
        }
    }

    #[test]
    fn threat_statuses_in_words() {
        for (status, action) in [
            ("blocked", Some("block")),
            ("rejected", Some("block")),
            ("held", Some("hold")),
            ("delivered", Some("deliver")),
            ("bounced", Some("bounce")),
            ("unknown", None),
            ("Quarantined", Some("quarantined")),
        ] {
            assert_eq!(threat_action(status.into()).as_deref(), action, "{status}");
        }
    }

    #[test]
    fn a_re_report_is_a_new_event_and_an_unresolved_one_says_so() {
        let first = raw(
            r#"{"message":{"messageAggregateId":"agg","lastReportedDate":"2026-11-23T09:00:00Z",
                "reportersCount":2},"threatAnalysis":null}"#,
        );
        let again = raw(
            r#"{"message":{"messageAggregateId":"agg","lastReportedDate":"2026-11-23T09:30:00Z"},
                "threatAnalysis":{"classification":null}}"#,
        );
        let a = run(reported_email, "reported_emails", &first);
        let b = run(reported_email, "reported_emails", &again);
        assert_eq!(a.id, "agg:2026-11-23T09:00:00Z");
        assert_ne!(a.id, b.id);
        for e in [&a, &b] {
            assert_eq!(e.category.as_deref(), Some("unresolved"));
            assert_eq!(e.severity, Some(Severity::Medium));
        }
        assert_eq!(
            a.description.as_deref(),
            Some("reported by 2 users, not yet analysed")
        );
    }

    #[test]
    fn a_report_without_its_date_gets_a_synthetic_id_and_the_sent_date() {
        let r = raw(
            r#"{"message":{"messageAggregateId":"agg","sentDate":"2026-11-23T07:00:00Z",
                "senderHeaders":"Only <one@x>"},"threatAnalysis":{"classification":"spam"}}"#,
        );
        let e = run(reported_email, "reported_emails", &r);
        assert_eq!(e.id.len(), 32);
        assert_eq!(e.time, datetime!(2026-11-23 07:00 UTC));
        assert_eq!(e.sender.as_deref(), Some("Only <one@x>"));
        assert_eq!(e.severity, Some(Severity::Low));
    }

    #[test]
    fn dlp_without_a_time_is_collected_at() {
        let r = raw(r#"{"policy":"P","action":"Block","recipientAddress":"a@x;b@y"}"#);
        let e = run(dlp, "dlp", &r);
        assert_eq!(e.time, datetime!(2026-11-23 10:00 UTC));
        assert_eq!(e.action.as_deref(), Some("block"));
        assert_eq!(e.recipients, vec!["a@x", "b@y"]);
        assert_eq!(e.category.as_deref(), Some("P"));
    }
}
