//! The ECS rendering: Elastic Common Schema 9.x (`ecs.version` 9.4.0), one document per event.
//!
//! Only fields that exist in ECS 9.4 (`tests/fixtures/schemas/ecs/ecs_flat.json`) are written
//! outside `mimecast.`; whatever has no ECS home stays under `mimecast.*`, as Elastic's own
//! Mimecast integration keeps vendor fields (github.com/elastic/integrations, packages/mimecast).
//! Conventions:
//!
//! - `event.dataset` is `mimecast.<stream>` and `event.module` `mimecast`. The dataset names
//!   differ from the integration's (`mimecast.ttp_url_logs`...), so documents never land in its
//!   data streams, whose ingest pipelines expect the untouched Mimecast record.
//! - The tenant is `organization.name`: an ECS field, and the one multi-tenant dashboards filter on.
//! - `event.severity` is 1 info, 2 low, 3 medium, 4 high (the native order; OCSF's `severity_id`
//!   numbers the same words the same way).
//! - `event.action` is the record's action as normalized, bone-cased for audit events
//!   (`user-logged-on`) and snake-cased for attachment scans (`none_none`), as the integration
//!   writes them; `mimecast.action` keeps the native word.
//! - `event.original` is the untouched record as a JSON string, only when the sink asks for raw.
//! - IP fields only ever hold text that parses as an IP; other text stays as
//!   `mimecast.source_ip` / `mimecast.destination_ip`.
//! - `event.kind`, `event.category` and `event.type` use ECS's allowed values in the
//!   combinations its categorization page expects (elastic.co/guide/en/ecs, "ECS Categorization
//!   Fields").
//!
//! Rendering is on the hot path: the document is written straight into the page buffer from
//! the typed event, borrowing every value; the only allocation is an `event.action` that must
//! be re-cased.

use crate::catalog::StreamKind;
use crate::event::{rfc3339, Event, EventKind, Indicator, IndicatorType, Severity, Verdict};
use std::borrow::Cow;
use std::net::IpAddr;
use time::OffsetDateTime;

pub const ECS_VERSION: &str = "9.4.0";

/// Appends `event` (of `kind`'s stream) as one ECS document line to `out`.
pub fn write(kind: StreamKind, event: &Event<'_>, out: &mut Vec<u8>) {
    write_doc(kind, event, out);
    out.push(b'\n');
}

/// `event.dataset`, without a `format!` per event.
pub fn dataset(kind: StreamKind) -> &'static str {
    use StreamKind::*;
    match kind {
        SiemCg => "mimecast.siem_cg",
        SiemMta => "mimecast.siem_mta",
        TtpUrl => "mimecast.ttp_url",
        TtpAttachment => "mimecast.ttp_attachment",
        TtpImpersonation => "mimecast.ttp_impersonation",
        ThreatIntel => "mimecast.threat_intel",
        Audit => "mimecast.audit",
        ArchiveSearch => "mimecast.archive_search",
        ArchiveSearchLogs => "mimecast.archive_search_logs",
        MessageTracking => "mimecast.message_tracking",
        Dashboard => "mimecast.dashboard",
        Directory => "mimecast.directory",
        SiemCi => "mimecast.siem_ci",
        Threats => "mimecast.threats",
        Dlp => "mimecast.dlp",
        MessageRelease => "mimecast.message_release",
        ReportedEmails => "mimecast.reported_emails",
    }
}

/// `event.severity`: 1 info, 2 low, 3 medium, 4 high.
pub fn severity_number(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
    }
}

/// `event.kind`, `event.category`, `event.type` and `event.outcome` of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Categorization {
    pub kind: &'static str,
    pub category: &'static [&'static str],
    pub types: &'static [&'static str],
    pub outcome: Option<&'static str>,
}

/// How an event is categorized in ECS, from its kind, verdict, severity and action.
pub fn categorize(stream: StreamKind, e: &Event<'_>) -> Categorization {
    let action = e.action.as_deref().unwrap_or("");
    let (kind, category, types, outcome): (_, &'static [&'static str], &'static [&'static str], _) =
        match e.kind {
            EventKind::Threat => {
                let kind = if matches!(e.verdict, Some(Verdict::Blocked | Verdict::Held))
                    || e.severity == Some(Severity::High)
                {
                    "alert"
                } else {
                    "event"
                };
                let types: &'static [&'static str] = match e.verdict {
                    Some(Verdict::Blocked | Verdict::Held) => &["info", "denied"],
                    Some(Verdict::Allowed) => &["info", "allowed"],
                    _ => &["info"],
                };
                if stream == StreamKind::Dlp {
                    // A data-loss policy is not an intrusion; `email` expects only `info`.
                    (kind, &["email"][..], &["info"][..], None)
                } else if is_malware(stream, e) {
                    (
                        kind,
                        &["email", "intrusion_detection", "malware"][..],
                        types,
                        None,
                    )
                } else {
                    (kind, &["email", "intrusion_detection"][..], types, None)
                }
            }
            EventKind::Email => ("event", &["email"][..], &["info"][..], delivery(action)),
            EventKind::Audit => {
                let (c, t, o) = audit(stream, action, e.category.as_deref().unwrap_or(""));
                ("event", c, t, o)
            }
            EventKind::Directory => ("event", &["iam"][..], iam_types(Entity::User, action), None),
            EventKind::Indicator => ("enrichment", &["threat"][..], &["indicator"][..], None),
            // No ECS category describes a vendor's service notice.
            EventKind::Notification => ("event", &[][..], &[][..], None),
        };
    Categorization {
        kind,
        category,
        types,
        outcome,
    }
}

/// A detection that names malware: a family, or the stream's own malware label.
fn is_malware(stream: StreamKind, e: &Event<'_>) -> bool {
    if e.threat_name.is_some() {
        return true;
    }
    let category = e.category.as_deref().unwrap_or("");
    match stream {
        StreamKind::SiemCg => category == "av",
        StreamKind::SiemCi | StreamKind::Threats | StreamKind::ReportedEmails => {
            category.eq_ignore_ascii_case("malware")
        }
        _ => false,
    }
}

/// A delivery's outcome, where the action says it.
fn delivery(action: &str) -> Option<&'static str> {
    match action {
        "deliver" | "delivered" => Some("success"),
        "bounce" | "bounced" => Some("failure"),
        _ => None,
    }
}

/// `haystack` contains `needle` (ASCII lower case), ignoring ASCII case, without allocating.
fn has(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[derive(Clone, Copy)]
enum Entity {
    User,
    Group,
    Admin,
}

#[derive(Clone, Copy)]
enum Verb {
    Creation,
    Change,
    Deletion,
}

fn verb(action: &str) -> Option<Verb> {
    if ["create", "add"].iter().any(|w| has(action, w)) {
        Some(Verb::Creation)
    } else if ["delete", "remove"].iter().any(|w| has(action, w)) {
        Some(Verb::Deletion)
    } else if ["update", "change", "edit", "modif", "enable", "disable"]
        .iter()
        .any(|w| has(action, w))
    {
        Some(Verb::Change)
    } else {
        None
    }
}

/// `iam` types: the entity, and what happened to it (`info` when the action does not say).
fn iam_types(entity: Entity, action: &str) -> &'static [&'static str] {
    match (entity, verb(action)) {
        (Entity::User, Some(Verb::Creation)) => &["user", "creation"],
        (Entity::User, Some(Verb::Change)) => &["user", "change"],
        (Entity::User, Some(Verb::Deletion)) => &["user", "deletion"],
        (Entity::User, None) => &["user", "info"],
        (Entity::Group, Some(Verb::Creation)) => &["group", "creation"],
        (Entity::Group, Some(Verb::Change)) => &["group", "change"],
        (Entity::Group, Some(Verb::Deletion)) => &["group", "deletion"],
        (Entity::Group, None) => &["group", "info"],
        (Entity::Admin, Some(Verb::Creation)) => &["admin", "creation"],
        (Entity::Admin, Some(Verb::Change)) => &["admin", "change"],
        (Entity::Admin, Some(Verb::Deletion)) => &["admin", "deletion"],
        (Entity::Admin, None) => &["admin", "info"],
    }
}

type Class = (
    &'static [&'static str],
    &'static [&'static str],
    Option<&'static str>,
);

/// Audit events by their action (`auditType`) and Mimecast's audit category: logons are
/// `authentication` with an outcome, user/group/role changes `iam`, other changes
/// `configuration`, and the rest (downloads, searches, views) `api` access.
fn audit(stream: StreamKind, action: &str, category: &str) -> Class {
    if stream == StreamKind::ArchiveSearchLogs {
        return (&["api"], &["access"], None);
    }
    let failed = has(action, "fail");
    if ["logoff", "logged off", "log off", "logout", "logged out"]
        .iter()
        .any(|w| has(action, w))
    {
        return (&["authentication"], &["end"], Some("success"));
    }
    if [
        "logon",
        "logged on",
        "log on",
        "login",
        "logged in",
        "authentication",
    ]
    .iter()
    .any(|w| has(action, w))
    {
        let outcome = if failed { "failure" } else { "success" };
        return (&["authentication"], &["start"], Some(outcome));
    }
    if category == "authentication_logs" {
        return (&["authentication"], &["info"], failed.then_some("failure"));
    }
    let about = |w: &str| has(action, w) || has(category, w);
    let entity = if about("group") {
        Some(Entity::Group)
    } else if about("role") || about("permission") {
        Some(Entity::Admin)
    } else if about("user") {
        Some(Entity::User)
    } else {
        None
    };
    match (entity, verb(action)) {
        (Some(entity), _) => (&["iam"], iam_types(entity, action), None),
        (None, Some(Verb::Creation)) => (&["configuration"], &["creation"], None),
        (None, Some(Verb::Change)) => (&["configuration"], &["change"], None),
        (None, Some(Verb::Deletion)) => (&["configuration"], &["deletion"], None),
        (None, None) => (&["api"], &["access"], None),
    }
}

/// `event.action`: audit types bone-cased (`User Logged On` -> `user-logged-on`), attachment
/// actions snake-cased (`none, none` -> `none_none`), as Elastic's integration writes them; the
/// rest as normalized. Borrowed unless the text must change.
fn event_action(stream: StreamKind, action: &str) -> Cow<'_, str> {
    match stream {
        StreamKind::Audit => slug(action, '-'),
        StreamKind::TtpAttachment => slug(action, '_'),
        _ => Cow::Borrowed(action),
    }
}

fn slug(text: &str, sep: char) -> Cow<'_, str> {
    let text = text.trim();
    let clean = text
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == sep as u8);
    if clean {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.chars() {
        if c == ',' {
            continue;
        }
        if c.is_whitespace() || c == '-' || c == '_' {
            gap = !out.is_empty();
            continue;
        }
        if gap {
            out.push(sep);
            gap = false;
        }
        out.extend(c.to_lowercase());
    }
    Cow::Owned(out)
}

/// The address in `Name <addr>`, or the text itself; `<>` (a null sender) is empty.
fn address(text: &str) -> &str {
    let t = text.trim_ascii();
    if t.ends_with('>') {
        if let Some(open) = t.rfind('<') {
            return t[open + 1..t.len() - 1].trim_ascii();
        }
    }
    t
}

/// `md5`, `sha1`, `sha256` or `sha512` by the length of a hex digest.
pub fn hash_algorithm(hash: &str) -> Option<&'static str> {
    let algo = match hash.len() {
        32 => "md5",
        40 => "sha1",
        64 => "sha256",
        128 => "sha512",
        _ => return None,
    };
    hash.bytes().all(|b| b.is_ascii_hexdigit()).then_some(algo)
}

fn ip(text: &str) -> Option<&str> {
    let t = text.trim();
    t.parse::<IpAddr>().is_ok().then_some(t)
}

/// An absolute URL's scheme, host and path, by slicing: `url::Url` would allocate per event.
struct UrlParts<'a> {
    scheme: &'a str,
    domain: Option<&'a str>,
    path: Option<&'a str>,
    query: Option<&'a str>,
}

fn memchr_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|c| c == b)
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let mut chars = scheme.bytes();
    if !chars.next()?.is_ascii_alphabetic()
        || !chars.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let end = rest
        .bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let tail = &rest[end..];
    let tail = match memchr_byte(tail, b'#') {
        Some(hash) => &tail[..hash],
        None => tail,
    };
    let (path, query) = match memchr_byte(tail, b'?') {
        Some(q) => (&tail[..q], Some(&tail[q + 1..])),
        None => (tail, None),
    };
    Some(UrlParts {
        scheme,
        domain: (!host.is_empty()).then_some(host),
        path: path.starts_with('/').then_some(path),
        query: query.filter(|q| !q.is_empty()),
    })
}

/// Where `description` goes: what it holds depends on the stream.
enum DescriptionTo {
    /// Why the message was rejected, held, released or flagged.
    Reason,
    /// A human-readable log message (audit `eventInfo`, a notification's text).
    Message,
    /// Anything else (a click's creation method, a TTP definition, a STIX pattern, a size).
    Mimecast,
}

fn description_to(stream: StreamKind) -> DescriptionTo {
    use StreamKind::*;
    match stream {
        SiemCg | SiemMta | MessageRelease | Threats | ReportedEmails => DescriptionTo::Reason,
        Audit | Dashboard => DescriptionTo::Message,
        _ => DescriptionTo::Mimecast,
    }
}

use super::json_string as string;

// ---- the document ----
//
// Written by hand into the buffer: the keys are constants, so only values are escaped, and a
// value that needs no escaping (nearly all) is one copy. Through serde the same document cost
// twice the native line, mostly in per-key formatting.

fn timestamp(out: &mut Vec<u8>, t: OffsetDateTime) {
    // Writing into a Vec cannot fail.
    let _ = rfc3339::serialize(&t, &mut serde_json::Serializer::new(&mut *out));
}

/// One JSON object being written: keys are trusted constants (no escaping needed).
struct Obj<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Obj<'o> {
    fn new(out: &'o mut Vec<u8>) -> Obj<'o> {
        out.push(b'{');
        Obj { out, empty: true }
    }

    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        // `"key":` in one copy: keys are short, so a stack buffer holds it.
        let mut buf = [0u8; 24];
        let k = key.as_bytes();
        if k.len() + 3 <= buf.len() {
            buf[0] = b'"';
            buf[1..=k.len()].copy_from_slice(k);
            buf[k.len() + 1] = b'"';
            buf[k.len() + 2] = b':';
            self.out.extend_from_slice(&buf[..k.len() + 3]);
        } else {
            self.out.push(b'"');
            self.out.extend_from_slice(k);
            self.out.extend_from_slice(b"\":");
        }
        self.out
    }

    fn str(&mut self, key: &str, value: &str) {
        string(self.key(key), value);
    }

    fn opt(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    /// An array of strings; nothing when `values` is empty.
    fn strs<'v>(&mut self, key: &str, values: impl IntoIterator<Item = &'v str>) {
        let mut values = values.into_iter().peekable();
        if values.peek().is_none() {
            return;
        }
        let out = self.key(key);
        out.push(b'[');
        for (i, v) in values.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, v);
        }
        out.push(b']');
    }

    fn object(&mut self, key: &str) -> Obj<'_> {
        Obj::new(self.key(key))
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

/// `hash.<algorithm>` of a file object.
fn hash(file: &mut Obj<'_>, algorithm: &str, value: &str) {
    let mut h = file.object("hash");
    h.str(algorithm, value);
    h.end();
}

/// Canonical `email.direction` words without allocating; anything else as given.
fn direction(d: &str) -> &str {
    for word in ["inbound", "outbound", "internal", "external"] {
        if d.eq_ignore_ascii_case(word) {
            return word;
        }
    }
    d
}

/// `user.email` for an address, split into `user.name` and `user.domain` at the `@` as the
/// integration does; any other text is `user.name`.
fn user(obj: &mut Obj<'_>, text: &str) {
    let a = address(text);
    if a.is_empty() {
        return;
    }
    let mut u = obj.object("user");
    match a.rsplit_once('@') {
        Some((name, domain)) if !name.is_empty() && !domain.is_empty() => {
            u.str("email", a);
            u.str("name", name);
            u.str("domain", domain);
        }
        _ => u.str("name", a),
    }
    u.end();
}

/// `threat.indicator.type` (ECS expects STIX 2.x cyber-observable names).
pub fn indicator_type(kind: IndicatorType) -> &'static str {
    match kind {
        IndicatorType::Ipv4 => "ipv4-addr",
        IndicatorType::Ipv6 => "ipv6-addr",
        IndicatorType::Domain => "domain-name",
        IndicatorType::Url => "url",
        IndicatorType::Email => "email-addr",
        IndicatorType::Md5
        | IndicatorType::Sha1
        | IndicatorType::Sha256
        | IndicatorType::Sha512
        | IndicatorType::FileName => "file",
    }
}

/// Where an indicator's value goes. `None` when it has no typed home (an IP that does not
/// parse, a hash of the wrong length): then it stays under `mimecast.indicator`.
enum IndicatorValue<'a> {
    Ip(&'a str),
    Domain(&'a str),
    Url(&'a str),
    Email(&'a str),
    Hash(&'static str, &'a str),
    FileName(&'a str),
}

fn indicator_value<'a>(i: &'a Indicator<'_>) -> Option<IndicatorValue<'a>> {
    let v = i.value.trim();
    Some(match i.kind {
        IndicatorType::Ipv4 | IndicatorType::Ipv6 => IndicatorValue::Ip(ip(v)?),
        IndicatorType::Domain => IndicatorValue::Domain(v),
        IndicatorType::Url => IndicatorValue::Url(v),
        IndicatorType::Email => IndicatorValue::Email(v),
        IndicatorType::Md5
        | IndicatorType::Sha1
        | IndicatorType::Sha256
        | IndicatorType::Sha512 => IndicatorValue::Hash(hash_algorithm(v)?, v),
        IndicatorType::FileName => IndicatorValue::FileName(v),
    })
}

fn write_indicator(threat: &mut Obj<'_>, i: &Indicator<'_>, value: Option<&IndicatorValue<'_>>) {
    let mut t = threat.object("indicator");
    t.str("type", indicator_type(i.kind));
    // ECS: the indicator's display name, i.e. its value.
    t.str("name", i.value.trim());
    t.str("provider", "Mimecast");
    match value {
        Some(IndicatorValue::Ip(ip)) => t.str("ip", ip),
        Some(IndicatorValue::Domain(d)) => {
            let mut u = t.object("url");
            u.str("domain", d);
            u.end();
        }
        Some(IndicatorValue::Url(url)) => {
            let mut u = t.object("url");
            u.str("original", url);
            u.str("full", url);
            u.opt("domain", split_url(url).and_then(|p| p.domain));
            u.end();
        }
        Some(IndicatorValue::Email(a)) => {
            let mut m = t.object("email");
            m.str("address", a);
            m.end();
        }
        Some(IndicatorValue::Hash(algorithm, h)) => {
            let mut f = t.object("file");
            hash(&mut f, algorithm, h);
            f.end();
        }
        Some(IndicatorValue::FileName(n)) => {
            let mut f = t.object("file");
            f.str("name", n);
            f.end();
        }
        None => {}
    }
    t.end();
}

/// Up to `N` values once each, in order.
fn unique<const N: usize>(values: [Option<&str>; N]) -> impl Iterator<Item = &str> {
    values
        .into_iter()
        .enumerate()
        .filter_map(move |(i, v)| v.filter(|v| !values[..i].contains(&Some(v))))
}

fn write_doc(stream: StreamKind, e: &Event<'_>, out: &mut Vec<u8>) {
    let c = categorize(stream, e);
    let emailish = matches!(e.kind, EventKind::Email | EventKind::Threat);

    let (mut reason, mut message, mut vendor_description) = (None, None, None);
    match description_to(stream) {
        DescriptionTo::Reason => reason = e.description.as_deref(),
        DescriptionTo::Message => message = e.description.as_deref(),
        DescriptionTo::Mimecast => vendor_description = e.description.as_deref(),
    }
    // A STIX malware object's name is the family.
    let stix_malware = e.kind == EventKind::Indicator
        && e.threat_name.is_none()
        && e.category.as_deref() == Some("malware");
    // Notification titles and other STIX names are not email subjects.
    let (subject, vendor_subject) = match e.kind {
        EventKind::Indicator if stix_malware => (None, None),
        EventKind::Notification | EventKind::Indicator => (None, e.subject.as_deref()),
        _ => (e.subject.as_deref(), None),
    };
    let software = e.threat_name.as_deref().or(if stix_malware {
        e.subject.as_deref()
    } else {
        None
    });

    let sender = e.sender.as_deref().map(address).filter(|a| !a.is_empty());
    let recipients = || {
        e.recipients
            .iter()
            .map(|r| address(r))
            .filter(|a| !a.is_empty())
    };
    let file_hash = e.file_hash.as_deref().map(str::trim);
    let hash_algo = file_hash.and_then(hash_algorithm);
    let hash_value = file_hash.filter(|_| hash_algo.is_some());
    let has_file = e.file_name.is_some() || hash_algo.is_some();
    let mime_type = match stream {
        StreamKind::TtpAttachment => e.category.as_deref(),
        _ => None,
    };
    let write_file = |f: &mut Obj<'_>| {
        f.opt("name", e.file_name.as_deref());
        f.opt("mime_type", mime_type);
        if let (Some(algorithm), Some(h)) = (hash_algo, hash_value) {
            hash(f, algorithm, h);
        }
    };

    let source_ip = e.source_ip.as_deref().and_then(ip);
    let destination_ip = e.destination_ip.as_deref().and_then(ip);
    let indicator = e.indicator.as_ref().map(|i| (i, indicator_value(i)));
    let indicator_ip = match indicator {
        Some((_, Some(IndicatorValue::Ip(ip)))) => Some(ip),
        _ => None,
    };
    let indicator_hash = match indicator {
        Some((_, Some(IndicatorValue::Hash(_, h)))) => Some(h),
        _ => None,
    };
    // Until the DLP normalizer fills `rule`, its policy is the rule that acted.
    let rule = e.rule.as_deref().or(match stream {
        StreamKind::Dlp => e.category.as_deref(),
        _ => None,
    });

    let mut doc = Obj::new(out);
    timestamp(doc.key("@timestamp"), e.time);
    let mut ecs = doc.object("ecs");
    ecs.str("version", ECS_VERSION);
    ecs.end();

    let mut ev = doc.object("event");
    ev.str("kind", c.kind);
    ev.strs("category", c.category.iter().copied());
    ev.strs("type", c.types.iter().copied());
    if let Some(a) = e.action.as_deref() {
        ev.str("action", &event_action(stream, a));
    }
    ev.opt("outcome", c.outcome);
    ev.str("id", &e.id);
    ev.str("dataset", dataset(stream));
    ev.str("module", "mimecast");
    timestamp(ev.key("created"), e.collected_at);
    if let Some(s) = e.severity {
        ev.key("severity").push(b'0' + severity_number(s));
    }
    ev.opt("reason", reason);
    ev.opt("original", e.raw.map(|r| r.get()));
    ev.end();

    doc.opt("message", message);
    let mut org = doc.object("organization");
    org.str("name", e.tenant);
    org.end();

    let has_to = recipients().next().is_some();
    let attachment = emailish && has_file;
    if sender.is_some()
        || has_to
        || subject.is_some()
        || e.message_id.is_some()
        || e.direction.is_some()
        || attachment
    {
        let mut em = doc.object("email");
        if let Some(s) = sender {
            let mut from = em.object("from");
            from.strs("address", [s]);
            from.end();
        }
        if has_to {
            let mut to = em.object("to");
            to.strs("address", recipients());
            to.end();
        }
        em.opt("subject", subject);
        em.opt("message_id", e.message_id.as_deref());
        em.opt("direction", e.direction.as_deref().map(direction));
        if attachment {
            let a = em.key("attachments");
            a.extend_from_slice(b"[{\"file\":");
            let mut f = Obj::new(a);
            write_file(&mut f);
            f.end();
            a.extend_from_slice(b"}]");
        }
        em.end();
    }
    if let Some(ip) = source_ip {
        let mut s = doc.object("source");
        s.str("ip", ip);
        s.end();
    }
    if let Some(ip) = destination_ip {
        let mut d = doc.object("destination");
        d.str("ip", ip);
        d.end();
    }
    if let Some(url) = e.url.as_deref() {
        let parts = split_url(url);
        let mut u = doc.object("url");
        u.str("original", url);
        u.str("full", url);
        if let Some(p) = parts {
            u.str("scheme", p.scheme);
            u.opt("domain", p.domain);
            u.opt("path", p.path);
            u.opt("query", p.query);
        }
        u.end();
    }
    if has_file && !emailish {
        let mut f = doc.object("file");
        write_file(&mut f);
        f.end();
    }
    if indicator.is_some() || software.is_some() {
        let mut t = doc.object("threat");
        if let Some((i, value)) = &indicator {
            write_indicator(&mut t, i, value.as_ref());
        }
        if let Some(name) = software {
            let mut s = t.object("software");
            s.str("name", name);
            s.end();
        }
        t.end();
    }
    if let Some(name) = rule {
        let mut r = doc.object("rule");
        r.str("name", name);
        r.end();
    }
    if let Some(u) = e.user.as_deref() {
        user(&mut doc, u);
    }

    let acting = e.user.as_deref().map(address).filter(|a| !a.is_empty());
    let users = || acting.into_iter().chain(sender).chain(recipients());
    let ips = [source_ip, destination_ip, indicator_ip];
    let hashes = [hash_value, indicator_hash];
    if users().next().is_some()
        || ips.iter().any(Option::is_some)
        || hashes.iter().any(Option::is_some)
    {
        let mut rel = doc.object("related");
        rel.strs("ip", unique(ips));
        rel.strs(
            "user",
            users()
                .enumerate()
                .filter(|(i, u)| !users().take(*i).any(|earlier| earlier == *u))
                .map(|(_, u)| u),
        );
        rel.strs("hash", unique(hashes));
        rel.end();
    }

    let unplaced_indicator = match &indicator {
        Some((i, None)) => Some(i.value.as_ref()),
        _ => None,
    };
    let vendor = [
        ("action", e.action.as_deref()),
        ("verdict", e.verdict.map(verdict_name)),
        ("category", e.category.as_deref()),
        ("subject", vendor_subject),
        ("description", vendor_description),
        (
            "source_ip",
            e.source_ip.as_deref().filter(|_| source_ip.is_none()),
        ),
        (
            "destination_ip",
            e.destination_ip
                .as_deref()
                .filter(|_| destination_ip.is_none()),
        ),
        ("file_hash", file_hash.filter(|_| hash_algo.is_none())),
        ("indicator", unplaced_indicator),
    ];
    if vendor.iter().any(|(_, v)| v.is_some()) {
        let mut m = doc.object("mimecast");
        for (key, value) in vendor {
            m.opt(key, value);
        }
        m.end();
    }
    doc.end();
}

/// The native name of a verdict (`schema/event.schema.json`), kept as `mimecast.verdict`.
fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Allowed => "allowed",
        Verdict::Blocked => "blocked",
        Verdict::Held => "held",
        Verdict::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Context;
    use serde_json::value::RawValue;
    use serde_json::Value;
    use time::macros::datetime;

    fn ctx(stream: StreamKind, include_raw: bool) -> Context<'static> {
        Context {
            tenant: "acme",
            stream: stream.name(),
            collected_at: datetime!(2026-11-23 10:00 UTC),
            include_raw,
        }
    }

    fn raw() -> Box<RawValue> {
        RawValue::from_string(r#"{"a": "b\nc"}"#.to_string()).unwrap()
    }

    fn render(stream: StreamKind, e: &Event<'_>) -> Value {
        crate::render::one_line(crate::render::Format::Ecs, stream, e)
    }

    #[test]
    fn hashes_are_named_by_their_length() {
        let raw = raw();
        let ctx = ctx(StreamKind::TtpAttachment, false);
        for (hash, algo) in [
            ("d41d8cd98f00b204e9800998ecf8427e", Some("md5")),
            ("da39a3ee5e6b4b0d3255bfef95601890afd80709", Some("sha1")),
            (
                "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                Some("sha256"),
            ),
            (&"ab".repeat(64), Some("sha512")),
            ("22a65c43", None),
            ("zz39a3ee5e6b4b0d3255bfef95601890afd80709", None),
        ] {
            assert_eq!(hash_algorithm(hash), algo, "{hash}");
            // An email's attachment...
            let mut e = Event::new(&ctx, "i".into(), EventKind::Threat, None, &raw);
            e.file_hash = Some(hash.into());
            let v = render(StreamKind::TtpAttachment, &e);
            let attached = &v["email"]["attachments"][0]["file"]["hash"];
            match algo {
                Some(a) => {
                    assert_eq!(attached[a], hash);
                    assert_eq!(v["related"]["hash"][0], hash);
                    assert!(v["mimecast"].get("file_hash").is_none());
                }
                None => {
                    assert!(v.get("email").is_none());
                    assert!(v.get("related").is_none());
                    assert_eq!(v["mimecast"]["file_hash"], hash);
                }
            }
            // ...and a file that is not one.
            let mut e = Event::new(&ctx, "i".into(), EventKind::Audit, None, &raw);
            e.file_hash = Some(hash.into());
            let v = render(StreamKind::Audit, &e);
            if let Some(a) = algo {
                assert_eq!(v["file"]["hash"][a], hash);
                assert!(v.get("email").is_none());
            }
        }
    }

    #[test]
    fn kind_category_and_type_follow_the_event_kind_and_verdict() {
        let raw = raw();
        let c = ctx(StreamKind::TtpUrl, false);
        let cat = |stream, kind, verdict, severity, action: Option<&'static str>| {
            let mut e = Event::new(&c, "i".into(), kind, None, &raw);
            e.verdict = verdict;
            e.severity = severity;
            e.action = action.map(Cow::Borrowed);
            categorize(stream, &e)
        };
        let t = StreamKind::TtpUrl;
        let blocked = cat(t, EventKind::Threat, Some(Verdict::Blocked), None, None);
        assert_eq!(blocked.kind, "alert");
        assert_eq!(blocked.category, ["email", "intrusion_detection"]);
        assert_eq!(blocked.types, ["info", "denied"]);
        let held = cat(t, EventKind::Threat, Some(Verdict::Held), None, None);
        assert_eq!((held.kind, held.types), ("alert", &["info", "denied"][..]));
        let allowed = cat(t, EventKind::Threat, Some(Verdict::Allowed), None, None);
        assert_eq!(
            (allowed.kind, allowed.types),
            ("event", &["info", "allowed"][..])
        );
        let high = cat(
            t,
            EventKind::Threat,
            Some(Verdict::Allowed),
            Some(Severity::High),
            None,
        );
        assert_eq!(
            high.kind, "alert",
            "high severity is an alert even when allowed"
        );
        let unknown = cat(
            t,
            EventKind::Threat,
            Some(Verdict::Unknown),
            Some(Severity::Low),
            None,
        );
        assert_eq!((unknown.kind, unknown.types), ("event", &["info"][..]));
        let dlp = cat(
            StreamKind::Dlp,
            EventKind::Threat,
            Some(Verdict::Blocked),
            None,
            None,
        );
        assert_eq!((dlp.category, dlp.types), (&["email"][..], &["info"][..]));

        let mut av = Event::new(&c, "i".into(), EventKind::Threat, None, &raw);
        av.category = Some("av".into());
        assert!(categorize(StreamKind::SiemCg, &av)
            .category
            .contains(&"malware"));
        assert!(!categorize(StreamKind::TtpUrl, &av)
            .category
            .contains(&"malware"));

        let delivered = cat(t, EventKind::Email, None, None, Some("delivered"));
        assert_eq!(
            (
                delivered.kind,
                delivered.category,
                delivered.types,
                delivered.outcome
            ),
            ("event", &["email"][..], &["info"][..], Some("success"))
        );
        assert_eq!(
            cat(t, EventKind::Email, None, None, Some("bounce")).outcome,
            Some("failure")
        );

        let a = StreamKind::Audit;
        let logon = cat(a, EventKind::Audit, None, None, Some("User Logged On"));
        assert_eq!(
            (logon.category, logon.types, logon.outcome),
            (&["authentication"][..], &["start"][..], Some("success"))
        );
        let failed = cat(
            a,
            EventKind::Audit,
            None,
            None,
            Some("Logon Authentication Failed"),
        );
        assert_eq!(failed.outcome, Some("failure"));
        let created = cat(a, EventKind::Audit, None, None, Some("User Created"));
        assert_eq!(
            (created.category, created.types),
            (&["iam"][..], &["user", "creation"][..])
        );
        let policy = cat(a, EventKind::Audit, None, None, Some("Policy Deleted"));
        assert_eq!(
            (policy.category, policy.types),
            (&["configuration"][..], &["deletion"][..])
        );
        let search = cat(
            StreamKind::ArchiveSearchLogs,
            EventKind::Audit,
            None,
            None,
            None,
        );
        assert_eq!(
            (search.category, search.types),
            (&["api"][..], &["access"][..])
        );

        let d = StreamKind::Directory;
        for (action, types) in [
            ("added", &["user", "creation"][..]),
            ("changed", &["user", "change"][..]),
            ("removed", &["user", "deletion"][..]),
        ] {
            let dir = cat(d, EventKind::Directory, None, None, Some(action));
            assert_eq!(
                (dir.kind, dir.category, dir.types),
                ("event", &["iam"][..], types)
            );
        }
        let ti = cat(
            StreamKind::ThreatIntel,
            EventKind::Indicator,
            None,
            None,
            None,
        );
        assert_eq!(
            (ti.kind, ti.category, ti.types),
            ("enrichment", &["threat"][..], &["indicator"][..])
        );
    }

    #[test]
    fn text_that_is_not_an_ip_stays_out_of_ip_fields() {
        let raw = raw();
        let ctx = ctx(StreamKind::TtpUrl, false);
        let mut e = Event::new(&ctx, "i".into(), EventKind::Threat, None, &raw);
        e.source_ip = Some("Internal IP".into());
        e.destination_ip = Some("2001:db8::1".into());
        let v = render(StreamKind::TtpUrl, &e);
        assert!(v.get("source").is_none());
        assert_eq!(v["mimecast"]["source_ip"], "Internal IP");
        assert_eq!(v["destination"]["ip"], "2001:db8::1");
        assert_eq!(v["related"]["ip"], serde_json::json!(["2001:db8::1"]));
        assert!(v["mimecast"].get("destination_ip").is_none());

        let mut i = Event::new(&ctx, "i".into(), EventKind::Indicator, None, &raw);
        i.indicator = Some(Indicator {
            kind: IndicatorType::Ipv4,
            value: "999.1.1.1".into(),
        });
        let v = render(StreamKind::ThreatIntel, &i);
        assert_eq!(v["threat"]["indicator"]["type"], "ipv4-addr");
        assert!(v["threat"]["indicator"].get("ip").is_none());
        assert_eq!(v["mimecast"]["indicator"], "999.1.1.1");
    }

    #[test]
    fn the_original_record_goes_along_only_when_asked() {
        let raw = raw();
        for include_raw in [false, true] {
            let ctx = ctx(StreamKind::Audit, include_raw);
            let e = Event::new(&ctx, "i".into(), EventKind::Audit, None, &raw);
            let v = render(StreamKind::Audit, &e);
            match include_raw {
                true => assert_eq!(v["event"]["original"], raw.get()),
                false => assert!(v["event"].get("original").is_none()),
            }
            assert_eq!(v["event"]["created"], "2026-11-23T10:00:00Z");
            assert_eq!(v["ecs"]["version"], "9.4.0");
        }
    }

    #[test]
    fn indicators_land_in_their_typed_fields() {
        let raw = raw();
        let ctx = ctx(StreamKind::ThreatIntel, false);
        let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        for (kind, value, path, ty) in [
            (IndicatorType::Ipv6, "2001:db8::2", "/ip", "ipv6-addr"),
            (
                IndicatorType::Domain,
                "evil.example",
                "/url/domain",
                "domain-name",
            ),
            (
                IndicatorType::Url,
                "http://evil.example/x",
                "/url/full",
                "url",
            ),
            (
                IndicatorType::Email,
                "bad@evil.example",
                "/email/address",
                "email-addr",
            ),
            (IndicatorType::Sha1, sha1, "/file/hash/sha1", "file"),
            (IndicatorType::FileName, "run.exe", "/file/name", "file"),
        ] {
            let mut e = Event::new(&ctx, "i".into(), EventKind::Indicator, None, &raw);
            e.indicator = Some(Indicator {
                kind,
                value: value.into(),
            });
            e.threat_name = Some("Emotet".into());
            let v = render(StreamKind::ThreatIntel, &e);
            let ind = &v["threat"]["indicator"];
            assert_eq!(ind["type"], ty);
            assert_eq!(
                ind.pointer(path).and_then(Value::as_str),
                Some(value),
                "{kind:?}"
            );
            assert_eq!(ind["name"], value);
            assert_eq!(v["threat"]["software"]["name"], "Emotet");
            assert!(v["mimecast"].get("indicator").is_none());
        }
    }

    #[test]
    fn actions_are_cased_as_the_integration_writes_them() {
        assert_eq!(
            event_action(StreamKind::Audit, "User Logged On"),
            "user-logged-on"
        );
        assert_eq!(
            event_action(StreamKind::TtpAttachment, "none, none"),
            "none_none"
        );
        assert_eq!(
            event_action(StreamKind::TtpAttachment, "user release, none"),
            "user_release_none"
        );
        assert!(matches!(
            event_action(StreamKind::Audit, "search-action"),
            Cow::Borrowed(_)
        ));
        assert_eq!(event_action(StreamKind::TtpUrl, "Warn"), "Warn");
    }

    #[test]
    fn urls_and_addresses_are_sliced_not_copied() {
        let p = split_url("HTTPS://user:pw@Host.example:8443/a/b?x=1#frag").unwrap();
        assert_eq!(
            (p.scheme, p.domain, p.path, p.query),
            ("HTTPS", Some("Host.example"), Some("/a/b"), Some("x=1"))
        );
        let p = split_url("http://[2001:db8::1]:80").unwrap();
        assert_eq!((p.domain, p.path), (Some("2001:db8::1"), None));
        assert!(split_url("not a url").is_none());
        assert!(split_url("://x").is_none());
        assert_eq!(address("Security Team <sec@x.example>"), "sec@x.example");
        assert_eq!(address("<>"), "");
        assert_eq!(address(" plain@x "), "plain@x");
    }

    #[test]
    fn datasets_are_the_stream_names() {
        for k in StreamKind::ALL {
            assert_eq!(dataset(k), format!("mimecast.{}", k.name()));
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let all_ascii: String = (0u8..0x80).map(char::from).collect();
        for s in [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            "\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}",
            "non-ASCII é \u{2028} 😀",
            &all_ascii,
        ] {
            let mut out = Vec::new();
            string(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_escaped_as_serde_json_escapes_it(s in "(?s).{0,80}", t in "[\\x00-\\x7f]{0,40}") {
            for s in [&s, &t] {
                let mut out = Vec::new();
                string(&mut out, s);
                proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(s).unwrap());
            }
        }
    }
}
