//! Targeted Threat Protection logs: URL clicks, attachment scans, impersonation hits
//! (docs/mimecast-api.md#ttp-logs).
//!
//! Each log names the TTP definition (policy) that acted, which is what an analyst tunes when a
//! verdict is wrong: it is the event's `rule`.

use super::fields::{action_word, parse_time, verdict, Text};
use super::id_or_hash;
use crate::event::{Context, Event, EventKind, Severity, Verdict};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClickLog<'a> {
    #[serde(borrow, default)]
    user_email_address: Text<'a>,
    #[serde(borrow, default)]
    from_user_email_address: Text<'a>,
    #[serde(borrow, default)]
    url: Text<'a>,
    #[serde(borrow, default)]
    subject: Text<'a>,
    #[serde(borrow, default)]
    action: Text<'a>,
    #[serde(borrow, default)]
    scan_result: Text<'a>,
    #[serde(borrow, default)]
    category: Text<'a>,
    #[serde(borrow, default)]
    sending_ip: Text<'a>,
    #[serde(borrow, default)]
    date: Text<'a>,
    #[serde(borrow, default)]
    route: Text<'a>,
    #[serde(borrow, default)]
    message_id: Text<'a>,
    #[serde(borrow, default)]
    creation_method: Text<'a>,
    #[serde(borrow, default)]
    ttp_definition: Text<'a>,
}

pub fn url<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: ClickLog<'a> = serde_json::from_str(raw.get())?;
    let time = r.date.as_str().and_then(parse_time);
    let mut e = Event::new(
        ctx,
        id_or_hash(None, ctx, raw),
        EventKind::Threat,
        time,
        raw,
    );
    e.severity = Some(match r.scan_result.as_str() {
        Some("malicious") => Severity::High,
        Some("suspicious") => Severity::Medium,
        _ => Severity::Info,
    });
    e.action = r.action.get().map(action_word);
    // `warn` lets the user proceed: allowed, as the table says.
    e.verdict = r.action.as_str().map(verdict);
    e.rule = r.ttp_definition.get();
    e.sender = r.from_user_email_address.get();
    e.recipients = r.user_email_address.get().into_iter().collect();
    e.subject = r.subject.get();
    e.url = r.url.get();
    e.message_id = r.message_id.get();
    e.source_ip = r.sending_ip.get();
    e.direction = r.route.get();
    e.category = r.category.get();
    e.description = r.creation_method.get();
    Ok(e)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachmentLog<'a> {
    #[serde(borrow, default)]
    sender_address: Text<'a>,
    #[serde(borrow, default)]
    recipient_address: Text<'a>,
    #[serde(borrow, default)]
    file_name: Text<'a>,
    #[serde(borrow, default)]
    file_hash: Text<'a>,
    #[serde(borrow, default)]
    result: Text<'a>,
    #[serde(borrow, default)]
    action_triggered: Text<'a>,
    #[serde(borrow, default)]
    date: Text<'a>,
    #[serde(borrow, default)]
    route: Text<'a>,
    #[serde(borrow, default)]
    message_id: Text<'a>,
    #[serde(borrow, default)]
    subject: Text<'a>,
    #[serde(borrow, default)]
    definition: Text<'a>,
    #[serde(borrow, default)]
    file_type: Text<'a>,
}

pub fn attachment<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: AttachmentLog<'a> = serde_json::from_str(raw.get())?;
    let time = r.date.as_str().and_then(parse_time);
    let mut e = Event::new(
        ctx,
        id_or_hash(None, ctx, raw),
        EventKind::Threat,
        time,
        raw,
    );
    e.severity = Some(match r.result.as_str() {
        Some("malicious") => Severity::High,
        Some("safe") => Severity::Info,
        _ => Severity::Low,
    });
    e.action = r.action_triggered.get().map(action_word);
    // `actionTriggered` lists the steps ("sandbox, block"); a scan that triggered nothing it
    // names still says the file was safe.
    e.verdict = match r.action_triggered.as_str().map(verdict) {
        None | Some(Verdict::Unknown) if matches!(r.result.as_str(), Some("safe" | "clean")) => {
            Some(Verdict::Allowed)
        }
        v => v,
    };
    e.rule = r.definition.get();
    e.sender = r.sender_address.get();
    e.recipients = r.recipient_address.get().into_iter().collect();
    e.subject = r.subject.get();
    e.message_id = r.message_id.get();
    e.direction = r.route.get();
    e.file_name = r.file_name.get();
    e.file_hash = r.file_hash.get();
    e.category = r.file_type.get();
    e.description = r.definition.get();
    Ok(e)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImpersonationLog<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    sender_address: Text<'a>,
    #[serde(borrow, default)]
    recipient_address: Text<'a>,
    #[serde(borrow, default)]
    subject: Text<'a>,
    #[serde(borrow, default)]
    definition: Text<'a>,
    #[serde(borrow, default)]
    action: Text<'a>,
    #[serde(borrow, default)]
    tagged_malicious: Text<'a>,
    #[serde(borrow, default)]
    sender_ip_address: Text<'a>,
    #[serde(borrow, default)]
    event_time: Text<'a>,
    #[serde(borrow, default)]
    message_id: Text<'a>,
}

pub fn impersonation<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: ImpersonationLog<'a> = serde_json::from_str(raw.get())?;
    let time = r.event_time.as_str().and_then(parse_time);
    let mut e = Event::new(
        ctx,
        id_or_hash(r.id.get(), ctx, raw),
        EventKind::Threat,
        time,
        raw,
    );
    e.severity = Some(if r.tagged_malicious.as_str() == Some("true") {
        Severity::High
    } else {
        Severity::Medium
    });
    e.action = r.action.get().map(action_word);
    // `none`: tagged at most, delivered; `hold`; `bounce`.
    e.verdict = r.action.as_str().map(verdict);
    e.rule = r.definition.get();
    e.sender = r.sender_address.get();
    e.recipients = r.recipient_address.get().into_iter().collect();
    e.subject = r.subject.get();
    e.message_id = r.message_id.get();
    e.source_ip = r.sender_ip_address.get();
    e.description = r.definition.get();
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::normalize::test_support::raw;

    fn run<'a>(
        f: fn(&Context<'a>, &'a RawValue) -> serde_json::Result<Event<'a>>,
        raw: &'a RawValue,
    ) -> Event<'a> {
        crate::normalize::test_support::run_as(f, "ttp", raw)
    }

    #[test]
    fn a_click_names_its_definition_and_a_warning_lets_the_user_through() {
        for (action, want) in [
            ("allow", Verdict::Allowed),
            ("warn", Verdict::Allowed),
            ("block", Verdict::Blocked),
        ] {
            let r = raw(&format!(
                r#"{{"action":"{action}","ttpDefinition":"Default Inbound URL Protect Definition"}}"#
            ));
            let e = run(url, &r);
            assert_eq!(e.verdict, Some(want), "{action}");
            assert_eq!(
                e.rule.as_deref(),
                Some("Default Inbound URL Protect Definition")
            );
        }
    }

    #[test]
    fn an_attachment_verdict_comes_from_its_steps_or_its_result() {
        for (triggered, result, want) in [
            ("none, none", "safe", Verdict::Allowed),
            ("sandbox, block", "malicious", Verdict::Blocked),
            ("", "safe", Verdict::Allowed),
            ("sandbox", "safe", Verdict::Allowed),
            ("sandbox", "malicious", Verdict::Unknown),
        ] {
            let r = raw(&format!(
                r#"{{"actionTriggered":"{triggered}","result":"{result}","definition":"D"}}"#
            ));
            let e = run(attachment, &r);
            assert_eq!(e.verdict, Some(want), "{triggered} / {result}");
            assert_eq!(e.rule.as_deref(), Some("D"));
            assert_eq!(e.description.as_deref(), Some("D"), "unchanged");
        }
    }

    #[test]
    fn impersonation_actions() {
        for (action, want) in [
            ("none", Verdict::Allowed),
            ("hold", Verdict::Held),
            ("bounce", Verdict::Blocked),
            ("reject", Verdict::Blocked),
        ] {
            let r = raw(&format!(
                r#"{{"action":"{action}","definition":"IP - 1 hit (Tag email)"}}"#
            ));
            let e = run(impersonation, &r);
            assert_eq!(e.verdict, Some(want), "{action}");
            assert_eq!(e.rule.as_deref(), Some("IP - 1 hit (Tag email)"));
        }
    }
}
