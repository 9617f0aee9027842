//! Audit, archive-search logs, dashboard notifications, directory users and threat intel.

use super::fields::{parse_time, Text};
use super::id_or_hash;
use crate::event::{Context, Event, EventKind, Severity};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditEvent<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    audit_type: Text<'a>,
    #[serde(borrow, default)]
    user: Text<'a>,
    #[serde(borrow, default)]
    event_time: Text<'a>,
    #[serde(borrow, default)]
    event_info: Text<'a>,
    #[serde(borrow, default)]
    category: Text<'a>,
}

/// §4.1 `get-audit-events`.
pub fn audit<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: AuditEvent<'a> = serde_json::from_str(raw.get())?;
    let time = r.event_time.as_str().and_then(parse_time);
    let mut e = Event::new(
        ctx,
        id_or_hash(r.id.get(), ctx, raw),
        EventKind::Audit,
        time,
        raw,
    );
    e.action = r.audit_type.get();
    e.user = r.user.get();
    e.category = r.category.get();
    e.description = r.event_info.get();
    Ok(e)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchLog<'a> {
    #[serde(borrow, default)]
    create_time: Text<'a>,
    #[serde(borrow, default)]
    email_addr: Text<'a>,
    #[serde(borrow, default)]
    source: Text<'a>,
    #[serde(borrow, default)]
    search_text: Text<'a>,
    #[serde(borrow, default)]
    description: Text<'a>,
}

/// §4.9 `get-archive-search-logs`: who searched the archive for what. No id: synthetic.
pub fn archive_search_log<'a>(
    ctx: &Context<'a>,
    raw: &'a RawValue,
) -> serde_json::Result<Event<'a>> {
    let r: SearchLog<'a> = serde_json::from_str(raw.get())?;
    let time = r.create_time.as_str().and_then(parse_time);
    let mut e = Event::new(ctx, id_or_hash(None, ctx, raw), EventKind::Audit, time, raw);
    e.action = Some(Cow::Borrowed("archive_search"));
    e.user = r.email_addr.get();
    e.category = r.source.get();
    e.description = r.search_text.get().or_else(|| r.description.get());
    Ok(e)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    title: Text<'a>,
    #[serde(borrow, default)]
    display_message: Text<'a>,
    #[serde(borrow, default)]
    notice_type: Text<'a>,
    #[serde(borrow, default)]
    warning_level: Text<'a>,
    #[serde(borrow, default)]
    visible_from: Text<'a>,
}

/// §4.12 dashboard notifications.
pub fn notification<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: Notification<'a> = serde_json::from_str(raw.get())?;
    let time = r.visible_from.as_str().and_then(parse_time);
    let mut e = Event::new(
        ctx,
        id_or_hash(r.id.get(), ctx, raw),
        EventKind::Notification,
        time,
        raw,
    );
    e.severity = Some(match r.warning_level.as_str() {
        Some("GOOD") => Severity::Info,
        Some("INFO") => Severity::Low,
        Some("WARNING" | "WARN") => Severity::Medium,
        Some("CRITICAL" | "ERROR" | "BAD") => Severity::High,
        _ => Severity::Info,
    });
    e.subject = r.title.get();
    e.category = r.notice_type.get();
    e.description = r.display_message.get();
    Ok(e)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirectoryUser<'a> {
    #[serde(borrow, default)]
    email_address: Text<'a>,
    /// The documented example spells it `emaiLAddress` (§4.13).
    #[serde(borrow, default, rename = "emaiLAddress")]
    email_address_typo: Text<'a>,
    #[serde(borrow, default)]
    address_type: Text<'a>,
    #[serde(borrow, default)]
    action: Text<'a>,
}

/// §4.13 internal users. The stream adds `action` (added/changed/removed) to what it emits.
pub fn directory_user<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: DirectoryUser<'a> = serde_json::from_str(raw.get())?;
    let user = r.email_address.get().or_else(|| r.email_address_typo.get());
    let id = user.as_ref().map(|u| Cow::Owned(format!("user:{u}")));
    let mut e = Event::new(
        ctx,
        id_or_hash(id, ctx, raw),
        EventKind::Directory,
        None,
        raw,
    );
    e.user = user;
    e.category = r.address_type.get();
    e.action = r.action.get();
    Ok(e)
}

#[derive(Deserialize)]
struct StixObject<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow, default)]
    modified: Text<'a>,
    #[serde(borrow, default)]
    created: Text<'a>,
    #[serde(borrow, default)]
    name: Text<'a>,
    #[serde(borrow, default)]
    pattern: Text<'a>,
    #[serde(borrow, default)]
    relationship_type: Text<'a>,
}

/// §4.7 threat feed: one event per STIX object of the bundle.
pub fn stix_object<'a>(ctx: &Context<'a>, raw: &'a RawValue) -> serde_json::Result<Event<'a>> {
    let r: StixObject<'a> = serde_json::from_str(raw.get())?;
    let time = r
        .modified
        .as_str()
        .or(r.created.as_str())
        .and_then(parse_time);
    let mut e = Event::new(
        ctx,
        id_or_hash(r.id.get(), ctx, raw),
        EventKind::Indicator,
        time,
        raw,
    );
    e.category = r.kind.get();
    e.action = r.relationship_type.get();
    e.subject = r.name.get();
    e.description = r.pattern.get();
    if r.kind.as_str() == Some("indicator") {
        e.severity = Some(Severity::High);
    }
    Ok(e)
}
