//! Audit, archive-search logs, dashboard notifications, directory users and threat intel.
//!
//! Two of these keep what a SIEM filters on inside free text: an audit event's client address
//! sits in `eventInfo` ("…, IP: 8.8.8.8, Application: …") and a threat-intel indicator's
//! observable in its STIX pattern. Both are read out, and only when they parse as what they
//! claim to be; the text itself stays in `description`.

use super::fields::{ip_address, parse_time, Text};
use super::{id_or_hash, stix};
use crate::event::{Context, Event, EventKind, Indicator, Severity};
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

/// `get-audit-events` (docs/mimecast-api.md#audit-events).
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
    e.source_ip = match &r.event_info.0 {
        Some(Cow::Borrowed(info)) => audit_ip(info).map(Cow::Borrowed),
        Some(Cow::Owned(info)) => audit_ip(info).map(|ip| Cow::Owned(ip.to_string())),
        None => None,
    };
    e.description = r.event_info.get();
    Ok(e)
}

/// The address in an audit event's text: the value of its `IP: ` item, when it is one. The
/// items are comma-separated ("Date: …, Time: …, IP: 8.8.8.8, Application: Web"); an IPv6
/// address has no comma, so it survives the split.
fn audit_ip(info: &str) -> Option<&str> {
    info.split(',')
        .filter_map(|item| item.trim_start().strip_prefix("IP:"))
        .find_map(ip_address)
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

/// `get-archive-search-logs` (docs/mimecast-api.md#archive-search-logs): who searched the
/// archive for what. No id: synthetic.
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

/// Dashboard notifications (docs/mimecast-api.md#dashboard-notifications).
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
    /// The documented example spells it `emaiLAddress` (docs/mimecast-api.md#directory).
    #[serde(borrow, default, rename = "emaiLAddress")]
    email_address_typo: Text<'a>,
    #[serde(borrow, default)]
    address_type: Text<'a>,
    #[serde(borrow, default)]
    action: Text<'a>,
}

/// Internal users (docs/mimecast-api.md#directory). The stream adds `action`
/// (added/changed/removed) to what it emits.
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

/// Threat feed (docs/mimecast-api.md#threat-intel-feed): one event per STIX object of the bundle.
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
    // A malware object's name is the threat's name. Earlier versions put it in `subject`, which
    // is an email subject everywhere else; other objects keep their names there.
    if r.kind.as_str() == Some("malware") {
        e.threat_name = r.name.get();
    } else {
        e.subject = r.name.get();
    }
    // A pattern with JSON escapes was decoded into a copy; its indicator is copied out of it.
    e.indicator = match &r.pattern.0 {
        Some(Cow::Borrowed(p)) => stix::indicator(p),
        Some(Cow::Owned(p)) => stix::indicator(p).map(|i| Indicator {
            kind: i.kind,
            value: Cow::Owned(i.value.into_owned()),
        }),
        None => None,
    };
    e.description = r.pattern.get();
    if r.kind.as_str() == Some("indicator") {
        e.severity = Some(Severity::High);
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::IndicatorType;

    use crate::normalize::test_support::raw;

    fn run<'a>(
        f: fn(&Context<'a>, &'a RawValue) -> serde_json::Result<Event<'a>>,
        raw: &'a RawValue,
    ) -> Event<'a> {
        crate::normalize::test_support::run_as(f, "other", raw)
    }

    #[test]
    fn an_audit_events_text_gives_its_client_ip() {
        for (info, want) in [
            // the documented sample and the simulator's shapes
            (
                "Threat intel multiple feeds download  - malware_grid_csv_20211116120324398.zip, Date: 2021-11-16, Time: 12:03:24+0000, IP: 8.8.8.8, Application: Integrations",
                Some("8.8.8.8"),
            ),
            ("Message released from hold by a@x, Date: 2026-11-23, Time: 09:00:00+0000, IP: 203.0.113.9", Some("203.0.113.9")),
            ("Archive search by a@x, Search Reason: audit, IP: 2001:db8::7", Some("2001:db8::7")),
            // no IP, or not one
            ("Successful authentication for a@x, Application: Web, Method: Cloud", None),
            ("Failed authentication, IP: unknown, Application: SMTP", None),
            ("Failed authentication, IP: 10.10.10.300", None),
            ("Failed authentication, IP:", None),
            ("ZIP: 8.8.8.8", None),
        ] {
            let r = raw(&serde_json::json!({"id":"a","eventInfo":info}).to_string());
            assert_eq!(run(audit, &r).source_ip.as_deref(), want, "{info}");
        }
    }

    #[test]
    fn a_stix_indicator_gives_its_observable_and_malware_its_name() {
        let indicator = raw(
            r#"{"type":"indicator","id":"indicator--1","pattern":"[file:hashes.'SHA-256' = 'ec5a6c52']","labels":["malicious-activity"]}"#,
        );
        let e = run(stix_object, &indicator);
        let i = e.indicator.as_ref().unwrap();
        assert_eq!(
            (i.kind, i.value.as_ref()),
            (IndicatorType::Sha256, "ec5a6c52")
        );
        assert_eq!(
            e.description.as_deref(),
            Some("[file:hashes.'SHA-256' = 'ec5a6c52']")
        );

        // An escape in the JSON text: the pattern is decoded, the indicator still found.
        let escaped = raw(r#"{"type":"indicator","pattern":"[url:value = 'http://a/\u00e9']"}"#);
        let e = run(stix_object, &escaped);
        assert_eq!(
            e.indicator.as_ref().map(|i| i.value.as_ref()),
            Some("http://a/é")
        );

        let unknown = raw(r#"{"type":"indicator","pattern":"[mutex:name = 'm']"}"#);
        assert!(run(stix_object, &unknown).indicator.is_none());

        let malware = raw(
            r#"{"type":"malware","id":"malware--1","name":"Transaction notice","labels":["virus"]}"#,
        );
        let e = run(stix_object, &malware);
        assert_eq!(e.threat_name.as_deref(), Some("Transaction notice"));
        assert_eq!(e.subject, None, "a malware name is not an email subject");
        assert!(e.indicator.is_none());
    }
}
