//! SIEM records: API 2.0 CG batch files (docs/mimecast-api.md#siem-batch-cloud-gateway), Cloud
//! Integrated batch files (docs/mimecast-api.md#siem-batch-cloud-integrated) and API 1.0 MTA log
//! files (docs/mimecast-api.md#siem-mta-log-files-api-10).
//!
//! CG and MTA records carry no id, so ids are synthetic. The CG batch form names the type
//! `type`/`subtype`, the streaming form `eventType`/`subType`; both are read. CI records do carry
//! a per-row key (`processingId`), but one message's rows of different types share it.
//!
//! A delivery record's outcome is its `delivered` flag, not an action: it has none.

use super::fields::{
    action_word, delivered_verdict, parse_time, split_addresses, verdict, Address, OneOrMany, Text,
};
use super::id_or_hash;
use crate::event::{Context, Event, EventKind, Severity, Verdict};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CgRecord<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow, default)]
    event_type: Text<'a>,
    #[serde(borrow, default)]
    timestamp: Text<'a>,
    #[serde(borrow, default)]
    action: Text<'a>,
    #[serde(borrow, default)]
    sender_envelope: Text<'a>,
    #[serde(borrow, default)]
    sender_header: Text<'a>,
    #[serde(borrow, default)]
    recipients: Text<'a>,
    #[serde(borrow, default)]
    subject: Text<'a>,
    #[serde(borrow, default)]
    message_id: Text<'a>,
    #[serde(borrow, default)]
    sender_ip: Text<'a>,
    #[serde(borrow, default)]
    direction: Text<'a>,
    #[serde(borrow, default)]
    route: Text<'a>,
    #[serde(borrow, default)]
    file_name: Text<'a>,
    #[serde(borrow, default)]
    sha256: Text<'a>,
    #[serde(borrow, default)]
    url: Text<'a>,
    #[serde(borrow, default)]
    url_category: Text<'a>,
    #[serde(borrow, default)]
    scan_results: Text<'a>,
    #[serde(borrow, default)]
    rejection_info: Text<'a>,
    #[serde(borrow, default)]
    hold_reason: Text<'a>,
    #[serde(borrow, default)]
    virus_found: Text<'a>,
    #[serde(borrow, default)]
    destination_ip: Text<'a>,
    #[serde(borrow, default)]
    delivered: Text<'a>,
    /// Impersonation protect's definition (UNCONFIRMED for CG: the API 1.0 logs and the TTP
    /// routes name it so); `policyDefinition` as some CG records spell the policy.
    #[serde(borrow, default)]
    definition: Text<'a>,
    #[serde(borrow, default)]
    policy_definition: Text<'a>,
}

pub fn cg<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: CgRecord<'a> = serde_json::from_str(raw.get())?;
    let event_type = r.kind.get().or_else(|| r.event_type.get());
    let (kind, severity) = match event_type.as_deref() {
        Some("receipt" | "process" | "delivery" | "journal") | None => (EventKind::Email, None),
        Some("av") => (EventKind::Threat, Some(Severity::High)),
        Some("spam") => (EventKind::Threat, Some(Severity::Medium)),
        Some(_) => (EventKind::Threat, Some(Severity::High)),
    };
    let time = r.timestamp.as_str().and_then(parse_time);
    let mut e = Event::new(ctx, id_or_hash(None, ctx, raw), kind, time, raw);
    e.severity = severity;
    e.category = event_type;
    e.action = r.action.get().map(action_word);
    e.verdict = r
        .delivered
        .as_str()
        .and_then(delivered_verdict)
        .or_else(|| r.action.as_str().map(verdict));
    e.rule = r.definition.get().or_else(|| r.policy_definition.get());
    e.threat_name = r.virus_found.get();
    e.sender = r.sender_envelope.get().or_else(|| r.sender_header.get());
    e.recipients = split_addresses(r.recipients.get());
    e.subject = r.subject.get();
    e.message_id = r.message_id.get();
    e.source_ip = r.sender_ip.get();
    e.destination_ip = r.destination_ip.get();
    e.direction = r.direction.get().or_else(|| r.route.get());
    e.file_name = r.file_name.get();
    e.file_hash = r.sha256.get();
    e.url = r.url.get();
    e.description = r
        .scan_results
        .get()
        .or_else(|| r.url_category.get())
        .or_else(|| r.virus_found.get())
        .or_else(|| r.rejection_info.get())
        .or_else(|| r.hold_reason.get());
    Ok(e)
}

/// MTA log lines use capitalised keys (`Sender`, `Rcpt`, `MsgId`) except the TTP URL log, which
/// uses lower-case ones (`sender`, `recipient`, `msgid`); both spellings are read. The other
/// log types spell the same facts their own way, and each spelling is read too (as Elastic's
/// `siem_logs` v1 pipeline names them, elastic/integrations `packages/mimecast`): receipt,
/// delivery and journal lines say `Rcpt`, the antivirus, spam, internal email protect,
/// impersonation and attachment lines `Recipient`; receipt and delivery lines say `IP`, spam
/// lines `SourceIP`; impersonation lines `Action` and `Definition`; antivirus lines `Virus`;
/// internal email protect lines `URL`.
#[derive(Deserialize)]
struct MtaRecord<'a> {
    #[serde(borrow, default)]
    datetime: Text<'a>,
    #[serde(borrow, default, rename = "Act")]
    act: Text<'a>,
    #[serde(borrow, default, rename = "Action")]
    action_cap: Text<'a>,
    #[serde(borrow, default)]
    action: Text<'a>,
    #[serde(borrow, default, rename = "Sender")]
    sender_cap: Text<'a>,
    #[serde(borrow, default)]
    sender: Text<'a>,
    #[serde(borrow, default, rename = "Rcpt")]
    rcpt: Text<'a>,
    #[serde(borrow, default, rename = "Recipient")]
    recipient_cap: Text<'a>,
    #[serde(borrow, default)]
    recipient: Text<'a>,
    #[serde(borrow, default, rename = "Subject")]
    subject_cap: Text<'a>,
    #[serde(borrow, default)]
    subject: Text<'a>,
    #[serde(borrow, default, rename = "MsgId")]
    msg_id_cap: Text<'a>,
    #[serde(borrow, default)]
    msgid: Text<'a>,
    #[serde(borrow, default, rename = "IP")]
    ip: Text<'a>,
    #[serde(borrow, default, rename = "SourceIP")]
    source_ip_cap: Text<'a>,
    #[serde(borrow, default, rename = "sourceIp")]
    source_ip: Text<'a>,
    #[serde(borrow, default, rename = "Dir")]
    dir: Text<'a>,
    #[serde(borrow, default)]
    route: Text<'a>,
    #[serde(borrow, default)]
    url: Text<'a>,
    #[serde(borrow, default, rename = "URL")]
    url_cap: Text<'a>,
    #[serde(borrow, default)]
    reason: Text<'a>,
    #[serde(borrow, default, rename = "urlCategory")]
    url_category: Text<'a>,
    #[serde(borrow, default, rename = "RejInfo")]
    rej_info: Text<'a>,
    #[serde(borrow, default, rename = "Hld")]
    hold: Text<'a>,
    #[serde(borrow, default, rename = "Delivered")]
    delivered: Text<'a>,
    #[serde(borrow, default, rename = "Definition")]
    definition: Text<'a>,
    #[serde(borrow, default, rename = "Virus")]
    virus: Text<'a>,
}

pub fn mta<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: MtaRecord<'a> = serde_json::from_str(raw.get())?;
    let is_threat = r.url.as_str().is_some();
    let time = r.datetime.as_str().and_then(parse_time);
    let kind = if is_threat {
        EventKind::Threat
    } else {
        EventKind::Email
    };
    let mut e = Event::new(ctx, id_or_hash(None, ctx, raw), kind, time, raw);
    if is_threat {
        e.severity = Some(match r.reason.as_str() {
            Some("malicious") => Severity::High,
            Some("clean") => Severity::Info,
            _ => Severity::Medium,
        });
    }
    let action = r
        .act
        .get()
        .or_else(|| r.action_cap.get())
        .or_else(|| r.action.get());
    e.verdict = r
        .delivered
        .as_str()
        .and_then(delivered_verdict)
        .or_else(|| action.as_deref().map(verdict));
    e.action = action.map(action_word);
    e.rule = r.definition.get();
    e.threat_name = r.virus.get();
    e.sender = r.sender_cap.get().or_else(|| r.sender.get());
    e.recipients = split_addresses(
        r.rcpt
            .get()
            .or_else(|| r.recipient_cap.get())
            .or_else(|| r.recipient.get()),
    );
    e.subject = r.subject_cap.get().or_else(|| r.subject.get());
    e.message_id = r.msg_id_cap.get().or_else(|| r.msgid.get());
    e.source_ip =
        r.ip.get()
            .or_else(|| r.source_ip_cap.get())
            .or_else(|| r.source_ip.get());
    e.direction = r.dir.get().or_else(|| r.route.get());
    e.url = r.url.get().or_else(|| r.url_cap.get());
    e.category = r.url_category.get();
    e.description = r
        .rej_info
        .get()
        .or_else(|| r.hold.get())
        .or_else(|| r.reason.get());
    Ok(e)
}

/// One row of a Cloud Integrated batch file, any of its three types
/// (docs/mimecast-api.md#siem-batch-cloud-integrated). `urlclick` has no public sample: its fields
/// are the ones Mimecast's URL Protect logs use elsewhere (UNCONFIRMED).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CiRecord<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow, default)]
    processing_id: Text<'a>,
    #[serde(borrow, default)]
    timestamp: Text<'a>,
    #[serde(borrow, default)]
    message_id: Text<'a>,
    // entities
    #[serde(borrow, default)]
    sender_envelope: Text<'a>,
    #[serde(borrow, default)]
    sender_header: Text<'a>,
    #[serde(borrow, default)]
    sender_ip: Text<'a>,
    #[serde(borrow, default)]
    recipients: Option<OneOrMany<Address<'a>>>,
    #[serde(borrow, default)]
    subject: Text<'a>,
    #[serde(borrow, default)]
    direction: Text<'a>,
    #[serde(borrow, default)]
    attachments: Option<OneOrMany<Text<'a>>>,
    #[serde(borrow, default)]
    policies_applied: Option<Vec<CiPolicy<'a>>>,
    #[serde(borrow, default)]
    tags: Option<OneOrMany<Text<'a>>>,
    #[serde(borrow, default)]
    threat_state: Text<'a>,
    #[serde(borrow, default)]
    threat_type: Text<'a>,
    // mailflow
    #[serde(borrow, default)]
    auth_results: Option<Vec<AuthResult<'a>>>,
    // urlclick
    #[serde(borrow, default)]
    url: Text<'a>,
    #[serde(borrow, default)]
    user_email_address: Text<'a>,
    #[serde(borrow, default)]
    action: Text<'a>,
    #[serde(borrow, default)]
    category: Text<'a>,
    #[serde(borrow, default)]
    source_ip: Text<'a>,
}

#[derive(Deserialize)]
struct CiPolicy<'a> {
    #[serde(borrow, default)]
    name: Text<'a>,
    #[serde(borrow, default)]
    action: Text<'a>,
}

#[derive(Deserialize)]
struct AuthResult<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow, default)]
    result: Text<'a>,
    #[serde(borrow, default)]
    aligned: Text<'a>,
}

/// `threatType` values that name no detection: the message was scanned clean, or scanning was
/// off (`POLICIES_DISABLED`), which is a fact about the tenant rather than about the message.
fn is_detection(threat_type: &str) -> bool {
    !matches!(threat_type, "NO_DETECTIONS" | "POLICIES_DISABLED")
}

/// How bad a CI verdict is. Spam-like labels rank as CG's `spam` type does (medium); any other
/// detection as CG's other threat types (high); `UNTRUSTWORTHY` alone says little (low).
fn ci_label_severity(label: &str) -> Severity {
    match label {
        "SPAM" | "GRAYMAIL" | "BULK" => Severity::Medium,
        "UNTRUSTWORTHY" => Severity::Low,
        _ => Severity::High,
    }
}

/// docs/mimecast-api.md#siem-batch-cloud-integrated Cloud Integrated rows: `entities` (one per
/// message), `mailflow` (its SPF/DKIM/DMARC results) and `urlclick` (blocked clicks only).
pub fn ci<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: CiRecord<'a> = serde_json::from_str(raw.get())?;
    let row_type = r.kind.get();
    let tags: Vec<Cow<'a, str>> = r
        .tags
        .iter()
        .flat_map(|t| t.iter())
        .filter_map(Text::get)
        .collect();
    let threat_type = r.threat_type.get().filter(|t| is_detection(t));
    let is_urlclick = row_type.as_deref() == Some("urlclick");

    let mut severity = threat_type.as_deref().map(ci_label_severity);
    for tag in &tags {
        severity = severity.max(Some(ci_label_severity(tag)));
    }
    if r.threat_state.as_str() == Some("BLOCKED") {
        severity = severity.max(Some(Severity::Medium));
    }
    if is_urlclick {
        // The CI URL log carries blocked clicks only
        // (docs/mimecast-api.md#siem-batch-cloud-integrated): a user followed a link Mimecast
        // judged dangerous enough to stop.
        severity = Some(
            if r.action
                .as_str()
                .is_some_and(|a| a.eq_ignore_ascii_case("block"))
            {
                Severity::High
            } else {
                Severity::Medium
            },
        );
    }
    let kind = if severity.is_some() {
        EventKind::Threat
    } else {
        EventKind::Email
    };

    // A click's row keeps its message's processingId, so two clicks on one message (two
    // recipients, two links) would share `urlclick:<processingId>` and the second would be
    // dropped as a duplicate; the record's own bytes tell clicks apart and stay stable on re-read.
    let id = match (&row_type, r.processing_id.get()) {
        (Some(t), Some(p)) if !is_urlclick => Some(Cow::Owned(format!("{t}:{p}"))),
        _ => None,
    };
    let time = r.timestamp.as_str().and_then(parse_time);
    let mut e = Event::new(ctx, id_or_hash(id, ctx, raw), kind, time, raw);
    e.severity = severity;
    e.category = threat_type
        .or_else(|| (!tags.is_empty()).then(|| Cow::Owned(tags.join(","))))
        .or_else(|| r.category.get())
        .or(row_type);
    e.action = match r.threat_state.as_str() {
        Some("BLOCKED") => Some(Cow::Borrowed("block")),
        Some("DELIVERED") => Some(Cow::Borrowed("deliver")),
        _ => r.threat_state.get().map(action_word),
    }
    .or_else(|| r.action.get().map(action_word));
    // Where the message ended up, else what the click log did.
    e.verdict = [r.threat_state.as_str(), r.action.as_str()]
        .into_iter()
        .flatten()
        .map(verdict)
        .find(|v| *v != Verdict::Unknown);
    e.rule = r.policies_applied.as_deref().and_then(policy_names);
    e.sender = r.sender_envelope.get().or_else(|| r.sender_header.get());
    e.recipients = r
        .recipients
        .as_ref()
        .map(OneOrMany::addresses)
        .unwrap_or_default();
    if let Some(user) = r.user_email_address.get() {
        // The clicker, where TTP URL logs put it (recipients), and as the acting user.
        if e.recipients.is_empty() {
            e.recipients.push(user.clone());
        }
        e.user = Some(user);
    }
    e.subject = r.subject.get();
    e.message_id = r.message_id.get();
    e.source_ip = r.sender_ip.get().or_else(|| r.source_ip.get());
    e.direction = r.direction.get();
    e.url = r.url.get();
    e.file_name = r.attachments.as_ref().and_then(OneOrMany::first);
    e.description = match &r.auth_results {
        Some(results) => auth_summary(results),
        None => r.policies_applied.as_deref().and_then(policy_summary),
    };
    Ok(e)
}

/// "SPF pass (aligned), DKIM pass (unaligned), DMARC fail": alignment is what DMARC turns on, so
/// a DKIM pass for another domain is worth telling apart from one for the sender's.
fn auth_summary(results: &[AuthResult<'_>]) -> Option<Cow<'static, str>> {
    let parts: Vec<String> = results
        .iter()
        .filter_map(|a| {
            let kind = a.kind.as_str()?;
            let result = a.result.as_str().unwrap_or("unknown");
            Some(match a.aligned.as_str() {
                Some("true") => format!("{kind} {result} (aligned)"),
                Some("false") => format!("{kind} {result} (unaligned)"),
                _ => format!("{kind} {result}"),
            })
        })
        .collect();
    (!parts.is_empty()).then(|| Cow::Owned(parts.join(", ")))
}

/// The applied policies' names, each once ("Default Malware Policy; Anti-Phishing").
fn policy_names<'a>(policies: &[CiPolicy<'a>]) -> Option<Cow<'a, str>> {
    let mut names: Vec<Cow<'a, str>> = Vec::new();
    for name in policies.iter().filter_map(|p| p.name.get()) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    match names.len() {
        0 => None,
        1 => names.pop(),
        _ => Some(Cow::Owned(names.join("; "))),
    }
}

/// "policies applied: Default O365 Mail policy (BLOCK)". The real samples repeat a policy with
/// a null action; repeats are told once.
fn policy_summary(policies: &[CiPolicy<'_>]) -> Option<Cow<'static, str>> {
    let mut parts: Vec<String> = Vec::new();
    for p in policies {
        let Some(name) = p.name.as_str() else {
            continue;
        };
        let part = match p.action.as_str() {
            Some(action) => format!("{name} ({action})"),
            None => name.to_string(),
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    (!parts.is_empty()).then(|| Cow::Owned(format!("policies applied: {}", parts.join("; "))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ci_event(text: &str) -> Event<'_> {
        let ctx = Context {
            tenant: "t",
            stream: "siem_ci",
            collected_at: datetime!(2026-11-23 10:00 UTC),
            include_raw: false,
        };
        let raw: &RawValue = serde_json::from_str(text).unwrap();
        ci(&ctx, raw).unwrap()
    }

    use crate::normalize::test_support::raw;

    fn run<'a>(
        f: fn(&Context<'a>, &'a RawValue) -> serde_json::Result<Event<'a>>,
        raw: &'a RawValue,
    ) -> Event<'a> {
        crate::normalize::test_support::run_as(f, "siem", raw)
    }

    #[test]
    fn a_cg_delivery_names_its_next_hop_and_its_flag_is_the_verdict() {
        // As the simulator and Elastic's batch sample shape a delivery.
        let ok = raw(
            r#"{"Hostname":"mx.example","delivered":"true","destinationIp":"81.2.69.144",
                "direction":"Internal","recipients":"a@x","subtype":"true","timestamp":1731451448010,
                "type":"delivery"}"#,
        );
        let e = run(cg, &ok);
        assert_eq!(e.destination_ip.as_deref(), Some("81.2.69.144"));
        assert_eq!(e.source_ip, None);
        assert_eq!(e.verdict, Some(Verdict::Allowed));
        let failed = raw(r#"{"delivered":"false","type":"delivery"}"#);
        assert_eq!(run(cg, &failed).verdict, Some(Verdict::Blocked));
    }

    #[test]
    fn cg_actions_definitions_and_virus_names() {
        for (action, want) in [
            ("Acc", Verdict::Allowed),
            ("Rej", Verdict::Blocked),
            ("Hld", Verdict::Held),
            ("Sdbx", Verdict::Unknown),
            ("Block", Verdict::Blocked),
            ("Allow", Verdict::Allowed),
        ] {
            let r = raw(&format!(r#"{{"type":"receipt","action":"{action}"}}"#));
            assert_eq!(run(cg, &r).verdict, Some(want), "{action}");
        }
        let imp = raw(
            r#"{"type":"impersonation protect","action":"hold","definition":"IP - 1 hit (Tag email)"}"#,
        );
        let e = run(cg, &imp);
        assert_eq!(e.rule.as_deref(), Some("IP - 1 hit (Tag email)"));
        assert_eq!(e.verdict, Some(Verdict::Held));
        let av = raw(r#"{"type":"av","virusFound":"Eicar-Test-Signature","fileName":"a.pdf"}"#);
        let e = run(cg, &av);
        assert_eq!(e.threat_name.as_deref(), Some("Eicar-Test-Signature"));
        assert_eq!(
            e.description.as_deref(),
            Some("Eicar-Test-Signature"),
            "unchanged"
        );
        assert_eq!(e.verdict, None, "no action: normalize() makes it unknown");
    }

    #[test]
    fn mta_lines_of_every_log_type_give_their_recipient_and_ip() {
        for (line, rcpt, ip) in [
            // receipt and delivery (simulator and documented samples)
            (
                r#"{"Rcpt":"a@x","IP":"192.0.2.1","Act":"Acc"}"#,
                Some("a@x"),
                Some("192.0.2.1"),
            ),
            // TTP URL log (simulator and documented sample)
            (
                r#"{"recipient":"b@x","sourceIp":"192.0.2.2","url":"http://u"}"#,
                Some("b@x"),
                Some("192.0.2.2"),
            ),
            // spam and antivirus logs
            (
                r#"{"Recipient":"c@x","SourceIP":"192.0.2.3"}"#,
                Some("c@x"),
                Some("192.0.2.3"),
            ),
            // impersonation and attachment logs
            (
                r#"{"Recipient":"d@x","IP":"192.0.2.4"}"#,
                Some("d@x"),
                Some("192.0.2.4"),
            ),
            // process lines carry neither
            (r#"{"Act":"Hld","Hld":"Spm","Sender":"s@x"}"#, None, None),
        ] {
            let r = raw(line);
            let e = run(mta, &r);
            assert_eq!(e.recipients.first().map(|r| r.as_ref()), rcpt, "{line}");
            assert_eq!(e.source_ip.as_deref(), ip, "{line}");
        }
    }

    #[test]
    fn mta_verdicts_rules_and_virus_names() {
        for (line, want) in [
            (r#"{"Act":"Acc"}"#, Some(Verdict::Allowed)),
            (r#"{"Act":"Rej"}"#, Some(Verdict::Blocked)),
            (r#"{"Act":"Hld"}"#, Some(Verdict::Held)),
            (r#"{"Act":"Bnc"}"#, Some(Verdict::Blocked)),
            (r#"{"Delivered":true}"#, Some(Verdict::Allowed)),
            (r#"{"Delivered":false}"#, Some(Verdict::Blocked)),
            (
                r#"{"action":"Block","url":"http://u"}"#,
                Some(Verdict::Blocked),
            ),
            (
                r#"{"Action":"hold","Definition":"IP - 2 hits"}"#,
                Some(Verdict::Held),
            ),
            (r#"{"RcptActType":"Jnl"}"#, None),
        ] {
            let r = raw(line);
            assert_eq!(run(mta, &r).verdict, want, "{line}");
        }
        let imp = raw(r#"{"Action":"none","Definition":"IP - 2 hits (Tag email)"}"#);
        let e = run(mta, &imp);
        assert_eq!(e.rule.as_deref(), Some("IP - 2 hits (Tag email)"));
        assert_eq!(e.action.as_deref(), Some("none"));
        let av = raw(r#"{"Virus":"W97M.Downloader","Recipient":"a@x"}"#);
        assert_eq!(
            run(mta, &av).threat_name.as_deref(),
            Some("W97M.Downloader")
        );
        let iep = raw(r#"{"URL":"http://u","Recipient":"a@x"}"#);
        let e = run(mta, &iep);
        assert_eq!(e.url.as_deref(), Some("http://u"));
        assert_eq!(
            e.kind,
            EventKind::Email,
            "kind keeps its rule: lower-case url"
        );
    }

    #[test]
    fn ci_verdicts_and_policies() {
        for (row, want) in [
            (
                r#"{"type":"entities","threatState":"BLOCKED"}"#,
                Some(Verdict::Blocked),
            ),
            (
                r#"{"type":"entities","threatState":"DELIVERED"}"#,
                Some(Verdict::Allowed),
            ),
            (
                r#"{"type":"entities","threatState":"DELIVERY_IN_PROGRESS"}"#,
                Some(Verdict::Allowed),
            ),
            (
                r#"{"type":"urlclick","action":"BLOCK"}"#,
                Some(Verdict::Blocked),
            ),
            (r#"{"type":"mailflow","authResults":[]}"#, None),
        ] {
            assert_eq!(ci_event(row).verdict, want, "{row}");
        }
        let e = ci_event(
            r#"{"type":"entities","policiesApplied":[{"name":"P","action":null},{"name":"P","action":null},{"name":"Q","action":"BLOCK"}]}"#,
        );
        assert_eq!(e.rule.as_deref(), Some("P; Q"));
        let one = ci_event(
            r#"{"type":"entities","policiesApplied":[{"name":"Anti-Phishing","action":"DO_NOTHING"}]}"#,
        );
        assert_eq!(one.rule.as_deref(), Some("Anti-Phishing"));
    }

    #[test]
    fn rows_of_one_message_get_one_id_per_type() {
        let entities =
            ci_event(r#"{"type":"entities","processingId":"p1","timestamp":1732724425453}"#);
        let mailflow =
            ci_event(r#"{"type":"mailflow","processingId":"p1","timestamp":1732724425453}"#);
        assert_eq!(entities.id, "entities:p1");
        assert_eq!(mailflow.id, "mailflow:p1");
        assert_eq!(entities.time, datetime!(2024-11-27 16:20:25.453 UTC));
        let no_key = ci_event(r#"{"type":"entities","processingId":""}"#);
        assert_eq!(no_key.id.len(), 32, "no processingId: synthetic");
    }

    #[test]
    fn clicks_on_one_message_stay_apart() {
        let a = ci_event(
            r#"{"type":"urlclick","processingId":"p1","url":"https://a","userEmailAddress":"u@x","action":"BLOCK"}"#,
        );
        let b = ci_event(
            r#"{"type":"urlclick","processingId":"p1","url":"https://a","userEmailAddress":"v@x","action":"BLOCK"}"#,
        );
        assert_ne!(a.id, b.id);
        assert_eq!(a.kind, EventKind::Threat);
        assert_eq!(a.severity, Some(Severity::High));
        assert_eq!(a.action.as_deref(), Some("block"));
        assert_eq!(a.user.as_deref(), Some("u@x"));
        assert_eq!(a.recipients, vec!["u@x"]);
    }

    #[test]
    fn only_detections_make_an_entity_a_threat() {
        let clean = ci_event(
            r#"{"type":"entities","threatType":"POLICIES_DISABLED","tags":null,"threatState":"DELIVERED"}"#,
        );
        assert_eq!(clean.kind, EventKind::Email);
        assert_eq!(clean.severity, None);
        assert_eq!(clean.category.as_deref(), Some("entities"));
        assert_eq!(clean.action.as_deref(), Some("deliver"));

        let tagged = ci_event(
            r#"{"type":"entities","threatType":"NO_DETECTIONS","tags":["UNTRUSTWORTHY"]}"#,
        );
        assert_eq!(tagged.kind, EventKind::Threat);
        assert_eq!(tagged.severity, Some(Severity::Low));
        assert_eq!(tagged.category.as_deref(), Some("UNTRUSTWORTHY"));

        let blocked =
            ci_event(r#"{"type":"entities","threatType":"NO_DETECTIONS","threatState":"BLOCKED"}"#);
        assert_eq!(blocked.severity, Some(Severity::Medium));
        assert_eq!(blocked.action.as_deref(), Some("block"));

        let new_type = ci_event(r#"{"type":"entities","threatType":"PHISHING","tags":["SPAM"]}"#);
        assert_eq!(
            new_type.severity,
            Some(Severity::High),
            "the worst signal wins"
        );
        assert_eq!(new_type.category.as_deref(), Some("PHISHING"));
    }

    #[test]
    fn entity_addresses_and_attachments() {
        let e = ci_event(
            r#"{"type":"entities","senderEnvelope":"","senderHeader":"h@x","recipients":"a@x, b@x",
                "attachments":[],"policiesApplied":[{"name":"P","action":null},{"name":"P","action":null},{"name":"Q","action":"BLOCK"}]}"#,
        );
        assert_eq!(e.sender.as_deref(), Some("h@x"));
        assert_eq!(
            e.recipients,
            vec!["a@x", "b@x"],
            "a CG-style string still reads"
        );
        assert_eq!(e.file_name, None);
        assert_eq!(
            e.description.as_deref(),
            Some("policies applied: P; Q (BLOCK)")
        );
    }

    #[test]
    fn mailflow_summarises_authentication() {
        let e = ci_event(
            r#"{"type":"mailflow","authResults":[{"aligned":true,"result":"pass","type":"SPF"},
                {"aligned":false,"result":"fail","type":"DKIM"},{"aligned":null,"result":null,"type":"DMARC"},
                {"result":"pass"}]}"#,
        );
        assert_eq!(e.kind, EventKind::Email);
        assert_eq!(
            e.description.as_deref(),
            Some("SPF pass (aligned), DKIM fail (unaligned), DMARC unknown")
        );
        assert_eq!(
            ci_event(r#"{"type":"mailflow","authResults":[]}"#).description,
            None
        );
    }
}
