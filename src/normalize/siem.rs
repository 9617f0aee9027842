//! SIEM records: API 2.0 CG batch files (§6.4) and API 1.0 MTA log files (§4.2).
//!
//! Neither carries an id, so ids are synthetic. The batch form names the type `type`/`subtype`,
//! the streaming form `eventType`/`subType`; both are read.

use super::fields::{action_word, parse_time, split_addresses, Text};
use super::id_or_hash;
use crate::event::{Context, Event, EventKind, Severity};
use serde::Deserialize;
use serde_json::value::RawValue;

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
    e.sender = r.sender_envelope.get().or_else(|| r.sender_header.get());
    e.recipients = split_addresses(r.recipients.get());
    e.subject = r.subject.get();
    e.message_id = r.message_id.get();
    e.source_ip = r.sender_ip.get();
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
/// uses lower-case ones (`sender`, `recipient`, `msgid`); both spellings are read.
#[derive(Deserialize)]
struct MtaRecord<'a> {
    #[serde(borrow, default)]
    datetime: Text<'a>,
    #[serde(borrow, default, rename = "Act")]
    act: Text<'a>,
    #[serde(borrow, default)]
    action: Text<'a>,
    #[serde(borrow, default, rename = "Sender")]
    sender_cap: Text<'a>,
    #[serde(borrow, default)]
    sender: Text<'a>,
    #[serde(borrow, default, rename = "Rcpt")]
    rcpt: Text<'a>,
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
    #[serde(borrow, default, rename = "sourceIp")]
    source_ip: Text<'a>,
    #[serde(borrow, default, rename = "Dir")]
    dir: Text<'a>,
    #[serde(borrow, default)]
    route: Text<'a>,
    #[serde(borrow, default)]
    url: Text<'a>,
    #[serde(borrow, default)]
    reason: Text<'a>,
    #[serde(borrow, default, rename = "urlCategory")]
    url_category: Text<'a>,
    #[serde(borrow, default, rename = "RejInfo")]
    rej_info: Text<'a>,
    #[serde(borrow, default, rename = "Hld")]
    hold: Text<'a>,
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
    e.action = r.act.get().or_else(|| r.action.get()).map(action_word);
    e.sender = r.sender_cap.get().or_else(|| r.sender.get());
    e.recipients = split_addresses(r.rcpt.get().or_else(|| r.recipient.get()));
    e.subject = r.subject_cap.get().or_else(|| r.subject.get());
    e.message_id = r.msg_id_cap.get().or_else(|| r.msgid.get());
    e.source_ip = r.ip.get().or_else(|| r.source_ip.get());
    e.direction = r.dir.get().or_else(|| r.route.get());
    e.url = r.url.get();
    e.category = r.url_category.get();
    e.description = r
        .rej_info
        .get()
        .or_else(|| r.hold.get())
        .or_else(|| r.reason.get());
    Ok(e)
}
