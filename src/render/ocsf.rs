//! OCSF 1.8.0 (<https://schema.ocsf.io/1.8.0/>), one class per record kind:
//!
//! - message events ([`EventKind::Email`]) -> Email Activity (4009);
//! - detections, threat intelligence and dashboard notifications ([`EventKind::Threat`],
//!   [`EventKind::Indicator`], [`EventKind::Notification`]) -> Detection Finding (2004), with the
//!   `osint` profile when the event carries an indicator;
//! - audit records -> Authentication (3002) for logons and logoffs, API Activity (6003) when the
//!   caller's address is known (that class requires `src_endpoint`), else Entity Management (3004);
//! - directory changes -> Entity Management (3004) on a "User" entity.
//!
//! The `security_control` profile (action, disposition, policy) is listed in `metadata.profiles`
//! only when one of its attributes is written: the class schemas forbid them otherwise.
//!
//! Every line must validate against the official class schema (`tests/render_ocsf.rs` checks the
//! golden samples and an event with nothing filled, for every kind). Where OCSF requires
//! something the event may lack, the choices are:
//! - `email` needs `from` or `to`: addresses that are not plain addresses (`"Name <a@b.c>"`) are
//!   reduced to the address inside the brackets; when no valid address is left at all, `email.to`
//!   is written as an empty list (the recipients are unknown) rather than a made-up address,
//!   and what could not be read goes to `unmapped`.
//! - Authentication needs a service: it is the Mimecast service the user logged on to.
//! - Entity Management needs an entity: for audit records, the audit type names it (Mimecast
//!   gives no separate entity field), typed with the audit category; the record's id only when
//!   the record has neither.
//!
//! Rendering is on the hot path. The line is decided first into small borrowed structs on the
//! stack (which attributes, which profile, what goes to `unmapped`), then written by hand into
//! the page buffer: keys and captions are constants copied as they are, only values are escaped
//! (by `json_string`, which escapes as serde_json does), and the untouched record is escaped
//! into `raw_data` in place. Through serde (derived `Serialize` on the same structs) the line
//! cost about twice as much, mostly per-key formatting and serde's byte-by-byte escaping. The
//! only allocation is the output line itself.

use crate::catalog::StreamKind;
use crate::event::{Event, EventKind, IndicatorType, Severity, Verdict};
use std::borrow::Cow;
use std::ops::Range;
use time::OffsetDateTime;

// Literals, so that the constant part of `metadata` is one string (`concat!`).
macro_rules! version {
    () => {
        "1.8.0"
    };
}
macro_rules! vendor {
    () => {
        "Mimecast"
    };
}
macro_rules! product {
    () => {
        "Mimecast Email Security"
    };
}

/// The OCSF schema version written in `metadata.version`.
pub const VERSION: &str = version!();

/// Appends `event` (of `kind`'s stream) as one OCSF line to `out`.
pub fn write(kind: StreamKind, event: &Event<'_>, out: &mut Vec<u8>) {
    let line = build(kind, event);
    write_line(&line, event.raw.map(|r| r.get()), out);
}

/// The OCSF classes this rendering emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    DetectionFinding,
    Authentication,
    EntityManagement,
    EmailActivity,
    ApiActivity,
}

impl Class {
    pub fn uid(self) -> u32 {
        match self {
            Class::DetectionFinding => 2004,
            Class::Authentication => 3002,
            Class::EntityManagement => 3004,
            Class::EmailActivity => 4009,
            Class::ApiActivity => 6003,
        }
    }

    /// The line's opening up to the activity: class and category, ids and captions.
    fn head(self) -> &'static str {
        macro_rules! head {
            ($uid:literal, $name:literal, $cat:literal, $cat_name:literal) => {
                concat!(
                    "{\"class_uid\":",
                    $uid,
                    ",\"class_name\":\"",
                    $name,
                    "\",\"category_uid\":",
                    $cat,
                    ",\"category_name\":\"",
                    $cat_name,
                    "\",\"activity_id\":"
                )
            };
        }
        match self {
            Class::DetectionFinding => head!(2004, "Detection Finding", 2, "Findings"),
            Class::Authentication => {
                head!(3002, "Authentication", 3, "Identity & Access Management")
            }
            Class::EntityManagement => {
                head!(3004, "Entity Management", 3, "Identity & Access Management")
            }
            Class::EmailActivity => head!(4009, "Email Activity", 4, "Network Activity"),
            Class::ApiActivity => head!(6003, "API Activity", 6, "Application Activity"),
        }
    }

    /// The class's caption for a standard activity id (99 and unknown ids: "Other"/"Unknown").
    fn activity_caption(self, id: u32) -> &'static str {
        match (self, id) {
            (_, 0) => "Unknown",
            (_, 99) => "Other",
            (Class::EmailActivity, 1) => "Send",
            (Class::EmailActivity, 2) => "Receive",
            (Class::EmailActivity, 3) => "Scan",
            (Class::EmailActivity, 4) => "Trace",
            (Class::EmailActivity, 5) => "MTA Relay",
            (Class::DetectionFinding, 1) => "Create",
            (Class::DetectionFinding, 2) => "Update",
            (Class::DetectionFinding, 3) => "Close",
            (Class::Authentication, 1) => "Logon",
            (Class::Authentication, 2) => "Logoff",
            (_, 1) => "Create",
            (_, 2) => "Read",
            (_, 3) => "Update",
            (_, 4) => "Delete",
            _ => "Other",
        }
    }

    /// `type_name`: "<class>: <activity>", as the schema server captions `type_uid`.
    fn type_name(self, activity: u32) -> &'static str {
        macro_rules! names {
            ($class:literal) => {
                match activity {
                    0 => concat!($class, ": Unknown"),
                    1 => concat!($class, ": Create"),
                    2 => concat!($class, ": Read"),
                    3 => concat!($class, ": Update"),
                    4 => concat!($class, ": Delete"),
                    _ => concat!($class, ": Other"),
                }
            };
        }
        match self {
            Class::EmailActivity => match activity {
                0 => "Email Activity: Unknown",
                1 => "Email Activity: Send",
                2 => "Email Activity: Receive",
                3 => "Email Activity: Scan",
                4 => "Email Activity: Trace",
                5 => "Email Activity: MTA Relay",
                _ => "Email Activity: Other",
            },
            Class::DetectionFinding => match activity {
                0 => "Detection Finding: Unknown",
                1 => "Detection Finding: Create",
                2 => "Detection Finding: Update",
                3 => "Detection Finding: Close",
                _ => "Detection Finding: Other",
            },
            Class::Authentication => match activity {
                0 => "Authentication: Unknown",
                1 => "Authentication: Logon",
                2 => "Authentication: Logoff",
                _ => "Authentication: Other",
            },
            Class::EntityManagement => names!("Entity Management"),
            Class::ApiActivity => names!("API Activity"),
        }
    }
}

/// The class an event is rendered as.
pub fn class_of(event: &Event<'_>) -> Class {
    match event.kind {
        EventKind::Email => Class::EmailActivity,
        EventKind::Threat | EventKind::Indicator | EventKind::Notification => {
            Class::DetectionFinding
        }
        EventKind::Directory => Class::EntityManagement,
        EventKind::Audit => {
            let user = event.user.as_deref().is_some_and(|u| !u.is_empty());
            if user && logon_activity(event.action.as_deref()).is_some() {
                Class::Authentication
            } else if user
                && event.action.is_some()
                && event.source_ip.as_deref().and_then(ip).is_some()
            {
                Class::ApiActivity
            } else {
                Class::EntityManagement
            }
        }
    }
}

// ---- the line, as decided ------------------------------------------------------------------
//
// What will be written, borrowed from the event; `write_line` writes it in this order. An
// attribute left `None` is not written.

struct Line<'e> {
    class: Class,
    activity_id: u32,
    activity_name: &'e str,
    time: i64,
    severity: Option<Severity>,
    message: Option<&'e str>,
    /// `status_id` 1 Success or 2 Failure.
    failed: Option<bool>,
    metadata: Metadata<'e>,
    direction: Option<(u8, Option<&'e str>)>,
    email: Option<Email<'e>>,
    from: Option<&'e str>,
    to: Option<Addresses<'e>>,
    message_trace_uid: Option<&'e str>,
    finding_info: Option<FindingInfo<'e>>,
    evidence: Option<Evidence<'e>>,
    osint: Option<Osint<'e>>,
    user: Option<User<'e>>,
    /// `service.name`.
    service: Option<&'e str>,
    /// `actor.user`.
    actor: Option<User<'e>>,
    /// `api.operation`.
    api: Option<&'e str>,
    entity: Option<Entity<'e>>,
    /// `src_endpoint.ip` and `dst_endpoint.ip`: valid addresses only.
    src_endpoint: Option<&'e str>,
    dst_endpoint: Option<&'e str>,
    /// `action_id`, `action`, `disposition_id`, `disposition`.
    control: Option<(u8, &'e str, u8, &'e str)>,
    is_alert: Option<bool>,
    /// `policy.name`.
    policy: Option<&'e str>,
    /// `malware[0].name`.
    malware: Option<&'e str>,
    unmapped: Unmapped<'e>,
}

struct Metadata<'e> {
    uid: &'e str,
    /// `product.feature.name` and `log_name`: the stream.
    stream: &'e str,
    tenant_uid: &'e str,
    logged_time: i64,
    event_code: Option<&'e str>,
    profiles: &'static [&'static str],
}

#[derive(Default)]
struct Email<'e> {
    from: Option<&'e str>,
    from_mailbox: Option<&'e str>,
    to: Option<Addresses<'e>>,
    subject: Option<&'e str>,
    message_uid: Option<&'e str>,
    files: Option<File<'e>>,
    urls: Option<Url<'e>>,
}

struct File<'e> {
    name: &'e str,
    mime_type: Option<&'e str>,
    /// `hashes[0].value`; the algorithm comes from its length.
    hash: Option<&'e str>,
}

struct Url<'e> {
    url_string: &'e str,
    category: Option<&'e str>,
}

struct FindingInfo<'e> {
    uid: &'e str,
    title: &'e str,
    desc: Option<&'e str>,
    /// `types[0]`.
    kind: Option<&'e str>,
}

#[derive(Default)]
struct Evidence<'e> {
    email: Option<Email<'e>>,
    url: Option<Url<'e>>,
    file: Option<File<'e>>,
    src_endpoint: Option<&'e str>,
    dst_endpoint: Option<&'e str>,
    user: Option<User<'e>>,
}

impl Evidence<'_> {
    fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.url.is_none()
            && self.file.is_none()
            && self.src_endpoint.is_none()
            && self.dst_endpoint.is_none()
            && self.user.is_none()
    }
}

struct Osint<'e> {
    type_id: u8,
    kind: &'static str,
    value: &'e str,
}

struct User<'e> {
    name: &'e str,
    email_addr: Option<&'e str>,
}

impl<'e> User<'e> {
    fn of(name: &'e str) -> User<'e> {
        User {
            name,
            email_addr: address(name),
        }
    }
}

struct Entity<'e> {
    uid: Option<&'e str>,
    name: Option<&'e str>,
    kind: Option<&'e str>,
    type_id: Option<u8>,
    user: Option<User<'e>>,
}

/// The recipients that are valid OCSF email addresses (`email_t`), reduced as [`address`] does;
/// written without collecting them first, and may be empty.
#[derive(Clone, Copy)]
struct Addresses<'e>(&'e [Cow<'e, str>]);

/// The event's native fields that have no home in the class, under their native names.
#[derive(Default)]
struct Unmapped<'e> {
    action: Option<&'e str>,
    category: Option<&'e str>,
    direction: Option<&'e str>,
    sender: Option<&'e str>,
    /// The recipients that are not valid addresses.
    recipients: Option<&'e [Cow<'e, str>]>,
    user: Option<&'e str>,
    source_ip: Option<&'e str>,
    destination_ip: Option<&'e str>,
    file_hash: Option<&'e str>,
    rule: Option<&'e str>,
    threat_name: Option<&'e str>,
    verdict: Option<Verdict>,
}

impl Unmapped<'_> {
    fn is_empty(&self) -> bool {
        self.action.is_none()
            && self.category.is_none()
            && self.direction.is_none()
            && self.sender.is_none()
            && self.recipients.is_none()
            && self.user.is_none()
            && self.source_ip.is_none()
            && self.destination_ip.is_none()
            && self.file_hash.is_none()
            && self.rule.is_none()
            && self.threat_name.is_none()
            && self.verdict.is_none()
    }
}

// ---- deciding ------------------------------------------------------------------------------

const NO_PROFILES: &[&str] = &[];
const SECURITY_CONTROL: &[&str] = &["security_control"];
const OSINT: &[&str] = &["osint"];
const OSINT_SECURITY_CONTROL: &[&str] = &["osint", "security_control"];

fn build<'e>(kind: StreamKind, e: &'e Event<'e>) -> Line<'e> {
    let class = class_of(e);
    let mut line = Line {
        class,
        activity_id: 0,
        activity_name: "Unknown",
        time: epoch_ms(e.time),
        severity: e.severity,
        message: e.description.as_deref(),
        failed: None,
        metadata: Metadata {
            uid: &e.id,
            stream: e.stream,
            tenant_uid: e.tenant,
            logged_time: epoch_ms(e.collected_at),
            event_code: None,
            profiles: NO_PROFILES,
        },
        direction: None,
        email: None,
        from: None,
        to: None,
        message_trace_uid: None,
        finding_info: None,
        evidence: None,
        osint: None,
        user: None,
        service: None,
        actor: None,
        api: None,
        entity: None,
        src_endpoint: None,
        dst_endpoint: None,
        control: None,
        is_alert: None,
        policy: None,
        malware: None,
        unmapped: Unmapped {
            action: e.action.as_deref(),
            verdict: e.verdict,
            ..Unmapped::default()
        },
    };
    let (activity_id, activity_name) = match class {
        Class::EmailActivity => email_activity(kind, e, &mut line),
        Class::DetectionFinding => finding(kind, e, &mut line),
        Class::Authentication => authentication(e, &mut line),
        Class::ApiActivity => api_activity(e, &mut line),
        Class::EntityManagement if e.kind == EventKind::Directory => directory(e, &mut line),
        Class::EntityManagement => entity_management(e, &mut line),
    };
    line.activity_id = activity_id;
    line.activity_name = activity_name.unwrap_or_else(|| class.activity_caption(activity_id));
    line
}

/// What the recipients hold: one pass, so each is checked once here.
#[derive(Clone, Copy)]
struct Recipients {
    any_valid: bool,
    any_invalid: bool,
}

fn recipients(e: &Event<'_>) -> Recipients {
    let mut r = Recipients {
        any_valid: false,
        any_invalid: false,
    };
    for a in &e.recipients {
        if address(a).is_some() {
            r.any_valid = true;
        } else {
            r.any_invalid = true;
        }
    }
    r
}

/// Email Activity: the message, its endpoints, and what the gateway did with it.
fn email_activity<'e>(
    kind: StreamKind,
    e: &'e Event<'e>,
    line: &mut Line<'e>,
) -> (u32, Option<&'e str>) {
    line.direction = Some(direction(e.direction.as_deref()));
    let from = e.sender.as_deref().and_then(address);
    let rcpt = recipients(e);
    line.from = from;
    if rcpt.any_valid {
        line.to = Some(Addresses(&e.recipients));
    }
    line.email = Some(email(e, from, rcpt, &mut line.unmapped, true));
    line.src_endpoint = endpoint(e.source_ip.as_deref(), &mut line.unmapped.source_ip);
    line.dst_endpoint = endpoint(
        e.destination_ip.as_deref(),
        &mut line.unmapped.destination_ip,
    );
    let security = security_control(e, line);
    line.malware = e.threat_name.as_deref();
    if security || line.malware.is_some() {
        line.metadata.profiles = SECURITY_CONTROL;
        line.is_alert = Some(e.severity == Some(Severity::High));
    } else {
        line.unmapped.threat_name = e.threat_name.as_deref();
    }
    // The operator who released a held message, or a row's user: no Email Activity attribute
    // (`actor` needs the host profile, which would claim a host).
    line.unmapped.user = e.user.as_deref();
    let category = e.category.as_deref();
    match kind {
        StreamKind::SiemCg | StreamKind::SiemCi => line.metadata.event_code = category,
        _ => line.unmapped.category = category,
    }
    match kind {
        // The SIEM line's type says which stage of the message's path it logs.
        StreamKind::SiemCg | StreamKind::SiemCi => match category {
            None => (0, None),
            Some(t) if t.eq_ignore_ascii_case("receipt") => (2, None),
            Some(t) if t.eq_ignore_ascii_case("delivery") => (1, None),
            Some(t) if t.eq_ignore_ascii_case("journal") => (99, Some("Journal")),
            // process, and the CI rows (entities, mailflow): results of scanning the message.
            Some(_) => (3, None),
        },
        // The legacy MTA log does not keep the stage in the fields the event has: the gateway
        // handled (relayed) the message.
        StreamKind::SiemMta => (5, None),
        StreamKind::MessageTracking => {
            line.message_trace_uid = Some(&e.id);
            (4, None)
        }
        StreamKind::ArchiveSearch => (99, Some("Archive")),
        StreamKind::MessageRelease => (99, Some("Hold Review")),
        _ => (0, None),
    }
}

/// Detection Finding: a detection, an intelligence object or a notification.
fn finding<'e>(kind: StreamKind, e: &'e Event<'e>, line: &mut Line<'e>) -> (u32, Option<&'e str>) {
    let category = e.category.as_deref();
    // Where the native `category` belongs depends on the stream.
    let (url_category, mime_type, types) = match kind {
        StreamKind::TtpUrl | StreamKind::SiemMta => (category, None, None),
        StreamKind::TtpAttachment => (None, category, None),
        _ => (None, None, category),
    };
    let mut evidence = Evidence::default();
    let mut title = None;
    match e.kind {
        EventKind::Indicator => {
            if let Some(i) = &e.indicator {
                let (type_id, caption) = osint_type(i.kind);
                line.osint = Some(Osint {
                    type_id,
                    kind: caption,
                    value: &i.value,
                });
                line.metadata.profiles = OSINT;
            }
            title = e.subject.as_deref();
            line.is_alert = Some(false);
            line.unmapped.user = e.user.as_deref();
        }
        EventKind::Notification => {
            title = e.subject.as_deref();
            line.unmapped.user = e.user.as_deref();
            line.is_alert = Some(e.severity == Some(Severity::High));
        }
        _ => {
            if has_message(e) {
                let from = e.sender.as_deref().and_then(address);
                evidence.email = Some(email(e, from, recipients(e), &mut line.unmapped, false));
            }
            line.unmapped.direction = e.direction.as_deref();
            evidence.user = e.user.as_deref().map(User::of);
        }
    }
    if let Some(url) = e.url.as_deref() {
        evidence.url = Some(Url {
            url_string: url,
            category: url_category,
        });
    } else if url_category.is_some() {
        line.unmapped.category = url_category;
    }
    evidence.file = file(e, mime_type, &mut line.unmapped);
    if evidence.file.is_none() && mime_type.is_some() {
        line.unmapped.category = mime_type;
    }
    evidence.src_endpoint = endpoint(e.source_ip.as_deref(), &mut line.unmapped.source_ip);
    evidence.dst_endpoint = endpoint(
        e.destination_ip.as_deref(),
        &mut line.unmapped.destination_ip,
    );
    if !evidence.is_empty() {
        line.evidence = Some(evidence);
    }
    line.malware = e.threat_name.as_deref();
    let title = title
        .or(e.threat_name.as_deref())
        .or(e.rule.as_deref())
        .unwrap_or(finding_title(kind, e.kind));
    line.finding_info = Some(FindingInfo {
        uid: &e.id,
        title,
        desc: e.description.as_deref(),
        kind: types,
    });
    // A notification has no control outcome, and an intelligence object's `action` is a STIX
    // relationship type ("indicates"), not something a control did: both stay in `unmapped`.
    if e.kind == EventKind::Threat && security_control(e, line) {
        line.metadata.profiles = if line.osint.is_some() {
            OSINT_SECURITY_CONTROL
        } else {
            SECURITY_CONTROL
        };
    }
    if e.kind == EventKind::Threat {
        let denied = line.control.is_some_and(|(action_id, ..)| action_id == 2);
        line.is_alert = Some(denied || e.severity == Some(Severity::High));
    }
    if line.policy.is_none() {
        line.unmapped.rule = e.rule.as_deref();
    }
    (1, None)
}

/// Authentication: a logon or logoff to Mimecast.
fn authentication<'e>(e: &'e Event<'e>, line: &mut Line<'e>) -> (u32, Option<&'e str>) {
    let action = e.action.as_deref();
    let activity = logon_activity(action).unwrap_or(0);
    line.failed = Some(action.is_some_and(is_failure));
    line.user = e.user.as_deref().map(User::of);
    line.service = Some("Mimecast");
    line.src_endpoint = endpoint(e.source_ip.as_deref(), &mut line.unmapped.source_ip);
    line.metadata.event_code = action;
    line.unmapped.action = None;
    line.unmapped.category = e.category.as_deref();
    (activity, None)
}

/// API Activity: an audited operation whose caller's address is known.
fn api_activity<'e>(e: &'e Event<'e>, line: &mut Line<'e>) -> (u32, Option<&'e str>) {
    let action = e.action.as_deref();
    line.actor = e.user.as_deref().map(User::of);
    line.api = action;
    line.src_endpoint = endpoint(e.source_ip.as_deref(), &mut line.unmapped.source_ip);
    line.metadata.event_code = action;
    line.unmapped.action = None;
    line.unmapped.category = e.category.as_deref();
    crud_activity(action)
}

/// Entity Management for an audit record: the audit type names what was managed.
fn entity_management<'e>(e: &'e Event<'e>, line: &mut Line<'e>) -> (u32, Option<&'e str>) {
    let action = e.action.as_deref();
    let category = e.category.as_deref();
    line.entity = Some(Entity {
        uid: (action.is_none() && category.is_none()).then_some(&*e.id),
        name: action.or(category),
        kind: category,
        type_id: None,
        user: None,
    });
    line.actor = e.user.as_deref().map(User::of);
    line.src_endpoint = endpoint(e.source_ip.as_deref(), &mut line.unmapped.source_ip);
    line.metadata.event_code = action;
    line.unmapped.action = None;
    crud_activity(action)
}

/// Entity Management for a directory change: the internal user added, changed or removed.
fn directory<'e>(e: &'e Event<'e>, line: &mut Line<'e>) -> (u32, Option<&'e str>) {
    let user = e.user.as_deref();
    line.entity = Some(Entity {
        uid: user.is_none().then_some(&*e.id),
        name: user,
        kind: Some("User"),
        type_id: Some(2),
        user: user.map(User::of),
    });
    line.unmapped.category = e.category.as_deref();
    match e.action.as_deref() {
        None => (0, None),
        Some(a) if a.eq_ignore_ascii_case("added") => (1, None),
        Some(a) if a.eq_ignore_ascii_case("changed") => (3, None),
        Some(a) if a.eq_ignore_ascii_case("removed") => (4, None),
        Some(a) => (99, Some(a)),
    }
}

/// Fills the `security_control` attributes from the verdict, the action and the rule; true when
/// any was written (the profile must then be listed).
fn security_control<'e>(e: &'e Event<'e>, line: &mut Line<'e>) -> bool {
    line.control = action_disposition(e.verdict, e.action.as_deref());
    line.policy = e.rule.as_deref();
    line.control.is_some() || line.policy.is_some()
}

/// The `email` object, given the sender as an address (`from`) and what the recipients hold.
/// `required`: the class requires it, so it must hold `from` or `to`; an evidence's email is
/// only written when there is a message to describe.
fn email<'e>(
    e: &'e Event<'e>,
    from: Option<&'e str>,
    rcpt: Recipients,
    unmapped: &mut Unmapped<'e>,
    required: bool,
) -> Email<'e> {
    let sender = e.sender.as_deref();
    let mut out = Email {
        from,
        from_mailbox: sender.filter(|s| from.is_some_and(|f| f.len() != s.len())),
        subject: e.subject.as_deref(),
        message_uid: e.message_id.as_deref(),
        ..Email::default()
    };
    if from.is_none() {
        unmapped.sender = sender;
    }
    if rcpt.any_valid || from.is_none() {
        // With no valid address at all, an empty recipient list: unknown, not invented.
        out.to = Some(Addresses(&e.recipients));
    }
    if rcpt.any_invalid {
        unmapped.recipients = Some(&e.recipients);
    }
    if required {
        out.files = file(e, None, unmapped);
        out.urls = e.url.as_deref().map(|u| Url {
            url_string: u,
            category: None,
        });
    }
    out
}

fn has_message(e: &Event<'_>) -> bool {
    e.sender.is_some() || !e.recipients.is_empty() || e.subject.is_some() || e.message_id.is_some()
}

/// The attachment: OCSF requires its name; a hash without one is kept in `unmapped`.
fn file<'e>(
    e: &'e Event<'e>,
    mime_type: Option<&'e str>,
    unmapped: &mut Unmapped<'e>,
) -> Option<File<'e>> {
    let hash = e.file_hash.as_deref();
    let Some(name) = e.file_name.as_deref() else {
        unmapped.file_hash = hash;
        return None;
    };
    Some(File {
        name,
        mime_type,
        hash,
    })
}

/// A valid IP address for an endpoint; anything else is kept in `unmapped`.
fn endpoint<'e>(value: Option<&'e str>, unmapped: &mut Option<&'e str>) -> Option<&'e str> {
    let v = value?;
    let ip = ip(v);
    if ip.is_none() {
        *unmapped = Some(v);
    }
    ip
}

fn finding_title(kind: StreamKind, event: EventKind) -> &'static str {
    match (kind, event) {
        (_, EventKind::Notification) => "Mimecast dashboard notification",
        (_, EventKind::Indicator) => "Mimecast threat intelligence",
        (StreamKind::TtpUrl, _) => "URL Protect",
        (StreamKind::TtpAttachment, _) => "Attachment Protect",
        (StreamKind::TtpImpersonation, _) => "Impersonation Protect",
        (StreamKind::Dlp, _) => "Data Leak Prevention",
        (StreamKind::ReportedEmails, _) => "Email reported by a user",
        _ => "Mimecast email threat",
    }
}

// ---- writing -------------------------------------------------------------------------------

use super::json_string as string;

/// `"key":` as bytes, for a key known at compile time.
macro_rules! k {
    ($key:literal) => {
        concat!("\"", $key, "\":").as_bytes()
    };
}

/// One JSON object being written; keys come pre-quoted from `k!`.
struct Obj<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Obj<'o> {
    fn new(out: &'o mut Vec<u8>) -> Obj<'o> {
        out.push(b'{');
        Obj { out, empty: true }
    }

    fn key(&mut self, key: &[u8]) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.extend_from_slice(key);
        self.out
    }

    /// Constant members (`"a":1,"b":"c"`), written as they are.
    fn members(&mut self, json: &str) {
        self.key(json.as_bytes());
    }

    fn str(&mut self, key: &[u8], value: &str) {
        string(self.key(key), value);
    }

    fn opt(&mut self, key: &[u8], value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    fn int(&mut self, key: &[u8], value: i64) {
        int(self.key(key), value);
    }

    fn object(&mut self, key: &[u8]) -> Obj<'_> {
        Obj::new(self.key(key))
    }

    /// `key:[{`: an array of one object.
    fn one(&mut self, key: &[u8]) -> Obj<'_> {
        let out = self.key(key);
        out.push(b'[');
        Obj::new(out)
    }

    fn end(self) {
        self.out.push(b'}');
    }

    /// Ends an object opened by `Obj::one`.
    fn end_one(self) {
        self.out.extend_from_slice(b"}]");
    }
}

/// A decimal integer, as serde_json writes it: two digits at a time (a time in milliseconds has
/// thirteen).
fn int(out: &mut Vec<u8>, value: i64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = value.unsigned_abs();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + n as u8;
    }
    if value < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// A caption known to need no escaping (a constant of this module).
fn caption(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

/// Where the email's `from` and `to` values were written, to copy for the class's own.
#[derive(Default)]
struct Written {
    from: Option<Range<usize>>,
    to: Option<Range<usize>>,
}

fn write_line(line: &Line<'_>, raw: Option<&str>, out: &mut Vec<u8>) {
    let class = line.class;
    out.extend_from_slice(class.head().as_bytes());
    int(out, i64::from(line.activity_id));
    // The line is never empty from here on: every key is preceded by a comma.
    let mut l = Obj { out, empty: false };
    l.str(k!("activity_name"), line.activity_name);
    l.int(
        k!("type_uid"),
        i64::from(class.uid() * 100 + line.activity_id),
    );
    caption(l.key(k!("type_name")), class.type_name(line.activity_id));
    l.int(k!("time"), line.time);
    l.members(severity_fields(line.severity));
    l.opt(k!("message"), line.message);
    if let Some(failed) = line.failed {
        l.members(if failed {
            r#""status_id":2,"status":"Failure""#
        } else {
            r#""status_id":1,"status":"Success""#
        });
    }
    write_metadata(&mut l, &line.metadata);
    if let Some((id, name)) = line.direction {
        l.int(k!("direction_id"), i64::from(id));
        l.opt(k!("direction"), name);
    }
    let mut written = Written::default();
    if let Some(email) = &line.email {
        written = write_email(l.object(k!("email")), email);
    }
    if let Some(from) = line.from {
        let out = l.key(k!("from"));
        match written
            .from
            .filter(|_| line.email.as_ref().and_then(|e| e.from) == Some(from))
        {
            Some(r) => out.extend_from_within(r),
            None => string(out, from),
        }
    }
    if let Some(to) = line.to {
        let same = line
            .email
            .as_ref()
            .and_then(|e| e.to)
            .is_some_and(|t| t.same(to));
        let out = l.key(k!("to"));
        match written.to.filter(|_| same) {
            Some(r) => out.extend_from_within(r),
            None => write_addresses(out, to),
        }
    }
    l.opt(k!("message_trace_uid"), line.message_trace_uid);
    if let Some(f) = &line.finding_info {
        let mut o = l.object(k!("finding_info"));
        o.str(k!("uid"), f.uid);
        o.str(k!("title"), f.title);
        o.opt(k!("desc"), f.desc);
        if let Some(t) = f.kind {
            strings(o.key(k!("types")), t);
        }
        o.end();
    }
    if let Some(ev) = &line.evidence {
        let mut o = l.one(k!("evidences"));
        if let Some(email) = &ev.email {
            write_email(o.object(k!("email")), email);
        }
        if let Some(url) = &ev.url {
            write_url(o.object(k!("url")), url);
        }
        if let Some(file) = &ev.file {
            write_file(o.object(k!("file")), file);
        }
        write_endpoint(&mut o, k!("src_endpoint"), ev.src_endpoint);
        write_endpoint(&mut o, k!("dst_endpoint"), ev.dst_endpoint);
        if let Some(u) = &ev.user {
            write_user(o.object(k!("user")), u);
        }
        o.end_one();
    }
    if let Some(i) = &line.osint {
        let mut o = l.one(k!("osint"));
        o.int(k!("type_id"), i64::from(i.type_id));
        caption(o.key(k!("type")), i.kind);
        o.str(k!("value"), i.value);
        o.end_one();
    }
    if let Some(u) = &line.user {
        write_user(l.object(k!("user")), u);
    }
    if let Some(name) = line.service {
        let mut o = l.object(k!("service"));
        o.str(k!("name"), name);
        o.end();
    }
    if let Some(u) = &line.actor {
        let mut o = l.object(k!("actor"));
        write_user(o.object(k!("user")), u);
        o.end();
    }
    if let Some(op) = line.api {
        let mut o = l.object(k!("api"));
        o.str(k!("operation"), op);
        o.end();
    }
    if let Some(en) = &line.entity {
        let mut o = l.object(k!("entity"));
        o.opt(k!("uid"), en.uid);
        o.opt(k!("name"), en.name);
        o.opt(k!("type"), en.kind);
        if let Some(id) = en.type_id {
            o.int(k!("type_id"), i64::from(id));
        }
        if let Some(u) = &en.user {
            write_user(o.object(k!("user")), u);
        }
        o.end();
    }
    write_endpoint(&mut l, k!("src_endpoint"), line.src_endpoint);
    write_endpoint(&mut l, k!("dst_endpoint"), line.dst_endpoint);
    if let Some((action_id, action, disposition_id, disposition)) = line.control {
        l.int(k!("action_id"), i64::from(action_id));
        l.str(k!("action"), action);
        l.int(k!("disposition_id"), i64::from(disposition_id));
        l.str(k!("disposition"), disposition);
    }
    if let Some(alert) = line.is_alert {
        l.key(k!("is_alert"))
            .extend_from_slice(if alert { b"true" } else { b"false" });
    }
    if let Some(name) = line.policy {
        let mut o = l.object(k!("policy"));
        o.str(k!("name"), name);
        o.end();
    }
    if let Some(name) = line.malware {
        // classification_ids 0 Unknown: Mimecast names the threat, not its class.
        let mut o = l.one(k!("malware"));
        o.str(k!("name"), name);
        o.key(k!("classification_ids")).extend_from_slice(b"[0]");
        o.end_one();
    }
    if !line.unmapped.is_empty() {
        write_unmapped(l.object(k!("unmapped")), &line.unmapped);
    }
    l.opt(k!("raw_data"), raw);
    l.end();
    out.push(b'\n');
}

/// `"severity_id":N,"severity":"<caption>"`, without the leading comma.
fn severity_fields(s: Option<Severity>) -> &'static str {
    match s {
        None => r#""severity_id":0,"severity":"Unknown""#,
        Some(Severity::Info) => r#""severity_id":1,"severity":"Informational""#,
        Some(Severity::Low) => r#""severity_id":2,"severity":"Low""#,
        Some(Severity::Medium) => r#""severity_id":3,"severity":"Medium""#,
        Some(Severity::High) => r#""severity_id":4,"severity":"High""#,
    }
}

fn write_metadata(l: &mut Obj<'_>, m: &Metadata<'_>) {
    let out = l.key(
        concat!(
            "\"metadata\":{\"version\":\"",
            version!(),
            "\",\"product\":{\"vendor_name\":\"",
            vendor!(),
            "\",\"name\":\"",
            product!(),
            "\",\"feature\":{\"name\":"
        )
        .as_bytes(),
    );
    string(out, m.stream);
    out.extend_from_slice(b"}}");
    let mut o = Obj { out, empty: false };
    o.str(k!("uid"), m.uid);
    o.str(k!("log_name"), m.stream);
    o.str(k!("tenant_uid"), m.tenant_uid);
    o.int(k!("logged_time"), m.logged_time);
    o.opt(k!("event_code"), m.event_code);
    if !m.profiles.is_empty() {
        let out = o.key(k!("profiles"));
        out.push(b'[');
        for (i, p) in m.profiles.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            caption(out, p);
        }
        out.push(b']');
    }
    o.end();
}

/// Writes an `email` object; says where its `from` and `to` values are in the buffer.
fn write_email(mut o: Obj<'_>, email: &Email<'_>) -> Written {
    let mut written = Written::default();
    if let Some(from) = email.from {
        let out = o.key(k!("from"));
        let start = out.len();
        string(out, from);
        written.from = Some(start..out.len());
    }
    o.opt(k!("from_mailbox"), email.from_mailbox);
    if let Some(to) = email.to {
        let out = o.key(k!("to"));
        let start = out.len();
        write_addresses(out, to);
        written.to = Some(start..out.len());
    }
    o.opt(k!("subject"), email.subject);
    o.opt(k!("message_uid"), email.message_uid);
    if let Some(file) = &email.files {
        let out = o.key(k!("files"));
        out.push(b'[');
        write_file(Obj::new(out), file);
        out.push(b']');
    }
    if let Some(url) = &email.urls {
        let out = o.key(k!("urls"));
        out.push(b'[');
        write_url(Obj::new(out), url);
        out.push(b']');
    }
    o.end();
    written
}

impl Addresses<'_> {
    /// The same recipients (so the same array once written).
    fn same(self, other: Addresses<'_>) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

fn write_addresses(out: &mut Vec<u8>, to: Addresses<'_>) {
    out.push(b'[');
    let mut first = true;
    for a in to.0.iter().filter_map(|r| address(r)) {
        if !first {
            out.push(b',');
        }
        first = false;
        string(out, a);
    }
    out.push(b']');
}

/// `["text"]`.
fn strings(out: &mut Vec<u8>, text: &str) {
    out.push(b'[');
    string(out, text);
    out.push(b']');
}

fn write_file(mut o: Obj<'_>, f: &File<'_>) {
    o.str(k!("name"), f.name);
    // 1 Regular File: what OCSF asks for when the log does not say more.
    o.key(k!("type_id")).push(b'1');
    o.opt(k!("mime_type"), f.mime_type);
    if let Some(value) = f.hash {
        let (algorithm_id, algorithm) = hash_algorithm(value);
        let mut h = o.one(k!("hashes"));
        h.int(k!("algorithm_id"), i64::from(algorithm_id));
        caption(h.key(k!("algorithm")), algorithm);
        h.str(k!("value"), value);
        h.end_one();
    }
    o.end();
}

fn write_url(mut o: Obj<'_>, u: &Url<'_>) {
    o.str(k!("url_string"), u.url_string);
    if let Some(c) = u.category {
        strings(o.key(k!("categories")), c);
    }
    o.end();
}

fn write_endpoint(o: &mut Obj<'_>, key: &[u8], ip: Option<&str>) {
    if let Some(ip) = ip {
        let mut e = o.object(key);
        e.str(k!("ip"), ip);
        e.end();
    }
}

fn write_user(mut o: Obj<'_>, u: &User<'_>) {
    o.str(k!("name"), u.name);
    o.opt(k!("email_addr"), u.email_addr);
    o.end();
}

fn write_unmapped(mut o: Obj<'_>, u: &Unmapped<'_>) {
    o.opt(k!("action"), u.action);
    o.opt(k!("category"), u.category);
    o.opt(k!("direction"), u.direction);
    o.opt(k!("sender"), u.sender);
    if let Some(recipients) = u.recipients {
        let out = o.key(k!("recipients"));
        out.push(b'[');
        let mut first = true;
        for r in recipients.iter().filter(|r| address(r).is_none()) {
            if !first {
                out.push(b',');
            }
            first = false;
            string(out, r);
        }
        out.push(b']');
    }
    o.opt(k!("user"), u.user);
    o.opt(k!("source_ip"), u.source_ip);
    o.opt(k!("destination_ip"), u.destination_ip);
    o.opt(k!("file_hash"), u.file_hash);
    o.opt(k!("rule"), u.rule);
    o.opt(k!("threat_name"), u.threat_name);
    if let Some(v) = u.verdict {
        caption(o.key(k!("verdict")), verdict_name(v));
    }
    o.end();
}

/// The native name of a verdict (`schema/event.schema.json`).
fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Allowed => "allowed",
        Verdict::Blocked => "blocked",
        Verdict::Held => "held",
        Verdict::Unknown => "unknown",
    }
}

// ---- vocabularies --------------------------------------------------------------------------

/// Milliseconds since the epoch, truncated toward zero as `unix_timestamp_nanos() / 1_000_000`
/// would, without its 128-bit division.
fn epoch_ms(t: OffsetDateTime) -> i64 {
    let secs = t.unix_timestamp();
    let nanos = i64::from(t.nanosecond());
    if secs < 0 && nanos > 0 {
        // Before 1970 with a fraction: toward zero is up.
        secs * 1000 + (nanos + 999_999) / 1_000_000
    } else {
        secs * 1000 + nanos / 1_000_000
    }
}

/// Email Activity `direction_id`, case-insensitive; anything else is 99 with the text kept.
pub fn direction(d: Option<&str>) -> (u8, Option<&str>) {
    match d {
        None => (0, Some("Unknown")),
        Some(d) if d.eq_ignore_ascii_case("inbound") => (1, Some("Inbound")),
        Some(d) if d.eq_ignore_ascii_case("outbound") => (2, Some("Outbound")),
        Some(d) if d.eq_ignore_ascii_case("internal") => (3, Some("Internal")),
        Some(d) => (99, Some(d)),
    }
}

/// `fingerprint.algorithm_id` from a hex digest's length (0 Unknown for anything else).
pub fn hash_algorithm(value: &str) -> (u8, &'static str) {
    if !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (0, "Unknown");
    }
    match value.len() {
        32 => (1, "MD5"),
        40 => (2, "SHA-1"),
        64 => (3, "SHA-256"),
        128 => (4, "SHA-512"),
        _ => (0, "Unknown"),
    }
}

fn osint_type(kind: IndicatorType) -> (u8, &'static str) {
    match kind {
        IndicatorType::Ipv4 | IndicatorType::Ipv6 => (1, "IP Address"),
        IndicatorType::Domain => (2, "Domain"),
        IndicatorType::Url => (5, "URL"),
        IndicatorType::Email => (9, "Email Address"),
        IndicatorType::Md5
        | IndicatorType::Sha1
        | IndicatorType::Sha256
        | IndicatorType::Sha512 => (4, "Hash"),
        IndicatorType::FileName => (11, "File"),
    }
}

/// `security_control` action and disposition (ids and captions) from the verdict, refined by the
/// action word; with no verdict, from the action word alone. None when neither says anything.
pub fn action_disposition(
    verdict: Option<Verdict>,
    action: Option<&str>,
) -> Option<(u8, &str, u8, &str)> {
    const ALLOWED: (u8, &str, u8, &str) = (1, "Allowed", 1, "Allowed");
    const BLOCKED: (u8, &str, u8, &str) = (2, "Denied", 2, "Blocked");
    const REJECTED: (u8, &str, u8, &str) = (2, "Denied", 25, "Rejected");
    const DELETED: (u8, &str, u8, &str) = (2, "Denied", 5, "Deleted");
    const QUARANTINED: (u8, &str, u8, &str) = (2, "Denied", 3, "Quarantined");
    let word = action.map(ActionWord::of);
    let denied = |w: Option<ActionWord>| match w {
        Some(ActionWord::Reject) => REJECTED,
        Some(ActionWord::Delete) => DELETED,
        _ => BLOCKED,
    };
    Some(match (verdict, word) {
        (Some(Verdict::Allowed), _) => ALLOWED,
        (Some(Verdict::Blocked), w) => denied(w),
        (Some(Verdict::Held), _) => QUARANTINED,
        (Some(Verdict::Unknown) | None, None) => match (verdict, action) {
            (Some(_), _) => (0, "Unknown", 0, "Unknown"),
            _ => return None,
        },
        (Some(Verdict::Unknown) | None, Some(w)) => match w {
            ActionWord::Allow => ALLOWED,
            ActionWord::Block => BLOCKED,
            ActionWord::Reject | ActionWord::Delete => denied(Some(w)),
            ActionWord::Hold => QUARANTINED,
            ActionWord::Warn => (1, "Allowed", 19, "Alert"),
            ActionWord::Tag => (4, "Modified", 18, "Tagged"),
            ActionWord::None => (3, "Observed", 16, "No Action"),
            // OCSF's convention for Other: the caption carries the source's own word.
            ActionWord::Other => {
                let a = action.unwrap_or("Other");
                (99, a, 99, a)
            }
        },
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActionWord {
    Allow,
    Block,
    Reject,
    Delete,
    Hold,
    Warn,
    Tag,
    None,
    Other,
}

impl ActionWord {
    /// The action words the normalizers write (`action_word` and each stream's status).
    fn of(a: &str) -> ActionWord {
        const WORDS: &[(&str, ActionWord)] = &[
            ("accept", ActionWord::Allow),
            ("accepted", ActionWord::Allow),
            ("allow", ActionWord::Allow),
            ("allowed", ActionWord::Allow),
            ("deliver", ActionWord::Allow),
            ("delivered", ActionWord::Allow),
            ("release", ActionWord::Allow),
            ("released", ActionWord::Allow),
            ("block", ActionWord::Block),
            ("blocked", ActionWord::Block),
            ("deny", ActionWord::Block),
            ("denied", ActionWord::Block),
            ("reject", ActionWord::Reject),
            ("rejected", ActionWord::Reject),
            ("bounce", ActionWord::Reject),
            ("bounced", ActionWord::Reject),
            ("delete", ActionWord::Delete),
            ("deleted", ActionWord::Delete),
            ("remove", ActionWord::Delete),
            ("removed", ActionWord::Delete),
            ("hold", ActionWord::Hold),
            ("held", ActionWord::Hold),
            ("quarantine", ActionWord::Hold),
            ("quarantined", ActionWord::Hold),
            ("warn", ActionWord::Warn),
            ("warned", ActionWord::Warn),
            ("tag", ActionWord::Tag),
            ("tagged", ActionWord::Tag),
            ("none", ActionWord::None),
            ("no action", ActionWord::None),
        ];
        let a = a.trim();
        WORDS
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(a))
            .map_or(ActionWord::Other, |(_, k)| *k)
    }
}

/// The words of `text`: ASCII letters and digits, everything else separates.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
}

fn is_word(w: &str, list: &[&str]) -> bool {
    list.iter().any(|l| l.eq_ignore_ascii_case(w))
}

/// 1 Logon or 2 Logoff when an audit type says so ("User Logged On", "Logon Authentication
/// Failed", "Log Off", "logout"...).
pub fn logon_activity(action: Option<&str>) -> Option<u32> {
    let mut prev = "";
    for w in words(action?) {
        if is_word(w, &["logon", "login", "signin"]) {
            return Some(1);
        }
        if is_word(w, &["logoff", "logout", "signout"]) {
            return Some(2);
        }
        if is_word(prev, &["log", "logged", "sign", "signed"]) {
            if is_word(w, &["on", "in"]) {
                return Some(1);
            }
            if is_word(w, &["off", "out"]) {
                return Some(2);
            }
        }
        prev = w;
    }
    None
}

fn is_failure(action: &str) -> bool {
    words(action).any(|w| {
        w.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("fail"))
            || is_word(w, &["unsuccessful", "denied", "invalid"])
    })
}

/// Create/Read/Update/Delete from an audit type's words; 99 with the type itself otherwise.
fn crud_activity(action: Option<&str>) -> (u32, Option<&str>) {
    let Some(a) = action else {
        return (0, None);
    };
    const DELETE: &[&str] = &[
        "delete", "deleted", "deletion", "remove", "removed", "removal",
    ];
    const CREATE: &[&str] = &["create", "created", "creation", "add", "added", "new"];
    const UPDATE: &[&str] = &[
        "update", "updated", "change", "changed", "edit", "edited", "modify", "modified", "amend",
        "amended",
    ];
    const READ: &[&str] = &[
        "read",
        "view",
        "viewed",
        "search",
        "searched",
        "download",
        "downloaded",
        "export",
        "exported",
        "list",
        "listed",
    ];
    for (list, id) in [(DELETE, 4), (CREATE, 1), (UPDATE, 3), (READ, 2)] {
        if words(a).any(|w| is_word(w, list)) {
            return (id, None);
        }
    }
    (99, Some(a))
}

/// `text` as an OCSF `email_t`, or the address in its angle brackets ("Name <a@b.c>").
pub fn address(text: &str) -> Option<&str> {
    let t = trim(text);
    if is_email(t) {
        return Some(t);
    }
    let inner = t.strip_suffix('>')?;
    let inner = &inner[inner.rfind('<')? + 1..];
    is_email(inner).then_some(inner)
}

/// `text.trim()`, without its search when the ends are plain ASCII (nearly always).
fn trim(text: &str) -> &str {
    let b = text.as_bytes();
    let plain = |c: &u8| c.is_ascii_graphic();
    if b.first().is_some_and(plain) && b.last().is_some_and(plain) {
        text
    } else {
        text.trim()
    }
}

/// Byte classes of `email_t`: the local part, a domain label, and the domain after its first dot.
const LOCAL: u8 = 1;
const LABEL: u8 = 2;
const DOMAIN: u8 = 4;
const EMAIL_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphanumeric() || b == b'-' {
            t[c] = LOCAL | LABEL | DOMAIN;
        }
        c += 1;
    }
    t[b'.' as usize] = LOCAL | DOMAIN;
    let specials = b"!#$%&'*+,/=?^_`{|}~";
    let mut i = 0;
    while i < specials.len() {
        t[specials[i] as usize] = LOCAL;
        i += 1;
    }
    t
};

/// The `email_t` pattern of OCSF 1.8.0:
/// `^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$` (`+-/` is a range),
/// in one pass over the bytes.
fn is_email(s: &str) -> bool {
    let b = s.as_bytes();
    let class = |i: usize| b.get(i).map_or(0, |&c| EMAIL_BYTES[usize::from(c)]);
    let mut i = 0;
    while class(i) & LOCAL != 0 {
        i += 1;
    }
    if i == 0 || b.get(i) != Some(&b'@') {
        return false;
    }
    let label = i + 1;
    i = label;
    while class(i) & LABEL != 0 {
        i += 1;
    }
    if i == label || b.get(i) != Some(&b'.') {
        return false;
    }
    let rest = &b[i + 1..];
    !rest.is_empty()
        && rest
            .iter()
            .all(|&c| EMAIL_BYTES[usize::from(c)] & DOMAIN != 0)
}

/// `text` as an OCSF `ip_t` (an IPv4 or IPv6 address, at most 40 characters).
fn ip(text: &str) -> Option<&str> {
    let t = text.trim();
    (t.len() <= 40 && t.parse::<std::net::IpAddr>().is_ok()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Context, Indicator};
    use serde_json::Value;
    use time::macros::datetime;

    const RAW: &str = r#"{"id":"r1","x":"a \"quoted\" value"}"#;

    fn ctx(stream: &'static str, include_raw: bool) -> Context<'static> {
        Context {
            tenant: "acme",
            stream,
            collected_at: datetime!(2026-11-23 10:03:00 UTC),
            include_raw,
        }
    }

    fn raw() -> &'static serde_json::value::RawValue {
        Box::leak(serde_json::value::RawValue::from_string(RAW.to_string()).unwrap())
    }

    fn event(stream: StreamKind, kind: EventKind) -> Event<'static> {
        Event::new(
            &ctx(stream.name(), true),
            Cow::Borrowed("e1"),
            kind,
            Some(datetime!(2026-11-20 09:15:00.250 UTC)),
            raw(),
        )
    }

    fn render(stream: StreamKind, e: &Event<'_>) -> Value {
        crate::render::one_line(crate::render::Format::Ocsf, stream, e)
    }

    #[test]
    fn direction_is_case_insensitive_and_keeps_other_text() {
        assert_eq!(direction(Some("Inbound")).0, 1);
        assert_eq!(direction(Some("INBOUND")).0, 1);
        assert_eq!(direction(Some("outbound")).0, 2);
        assert_eq!(direction(Some("Internal")), (3, Some("Internal")));
        assert_eq!(direction(Some("external")), (99, Some("external")));
        assert_eq!(direction(None).0, 0);
        let mut e = event(StreamKind::SiemCg, EventKind::Email);
        e.direction = Some(Cow::Borrowed("External"));
        e.sender = Some(Cow::Borrowed("a@b.example"));
        let v = render(StreamKind::SiemCg, &e);
        assert_eq!(v["direction_id"], 99);
        assert_eq!(v["direction"], "External");
    }

    #[test]
    fn hash_algorithm_by_hex_length() {
        assert_eq!(hash_algorithm(&"a".repeat(32)), (1, "MD5"));
        assert_eq!(hash_algorithm(&"B".repeat(40)), (2, "SHA-1"));
        assert_eq!(hash_algorithm(&"0".repeat(64)), (3, "SHA-256"));
        assert_eq!(hash_algorithm(&"f".repeat(128)), (4, "SHA-512"));
        assert_eq!(hash_algorithm("22a65c43").0, 0);
        assert_eq!(hash_algorithm(&"z".repeat(64)).0, 0, "not hex");
    }

    #[test]
    fn verdict_and_action_give_action_and_disposition() {
        let ids = |v, a| action_disposition(v, a).map(|(a, _, d, _)| (a, d));
        assert_eq!(ids(Some(Verdict::Allowed), Some("accept")), Some((1, 1)));
        assert_eq!(ids(Some(Verdict::Blocked), Some("block")), Some((2, 2)));
        assert_eq!(ids(Some(Verdict::Blocked), Some("reject")), Some((2, 25)));
        assert_eq!(ids(Some(Verdict::Blocked), Some("bounce")), Some((2, 25)));
        assert_eq!(ids(Some(Verdict::Blocked), Some("deleted")), Some((2, 5)));
        assert_eq!(ids(Some(Verdict::Blocked), None), Some((2, 2)));
        assert_eq!(ids(Some(Verdict::Held), Some("hold")), Some((2, 3)));
        assert_eq!(ids(Some(Verdict::Unknown), None), Some((0, 0)));
        assert_eq!(ids(None, None), None);
        // No verdict yet: the action word alone.
        assert_eq!(ids(None, Some("Hold")), Some((2, 3)));
        assert_eq!(ids(None, Some("warn")), Some((1, 19)));
        assert_eq!(
            action_disposition(Some(Verdict::Unknown), Some("notify")),
            Some((99, "notify", 99, "notify"))
        );
    }

    #[test]
    fn each_kind_has_its_class() {
        let class = |k| class_of(&event(StreamKind::Audit, k)).uid();
        assert_eq!(class(EventKind::Email), 4009);
        assert_eq!(class(EventKind::Threat), 2004);
        assert_eq!(class(EventKind::Indicator), 2004);
        assert_eq!(class(EventKind::Notification), 2004);
        assert_eq!(class(EventKind::Directory), 3004);
        assert_eq!(
            class(EventKind::Audit),
            3004,
            "nothing known: Entity Management"
        );
    }

    #[test]
    fn audit_records_split_into_authentication_api_and_entity_management() {
        let audit = |action: &'static str, ip: Option<&'static str>| {
            let mut e = event(StreamKind::Audit, EventKind::Audit);
            e.action = Some(Cow::Borrowed(action));
            e.user = Some(Cow::Borrowed("admin@acme.example"));
            e.source_ip = ip.map(Cow::Borrowed);
            e
        };
        let failed = audit("Logon Authentication Failed", None);
        assert_eq!(class_of(&failed), Class::Authentication);
        let v = render(StreamKind::Audit, &failed);
        assert_eq!(
            (v["activity_id"].as_u64(), v["status_id"].as_u64()),
            (Some(1), Some(2))
        );
        let v = render(StreamKind::Audit, &audit("User Logged On", None));
        assert_eq!(
            (v["activity_id"].as_u64(), v["status_id"].as_u64()),
            (Some(1), Some(1))
        );
        let v = render(StreamKind::Audit, &audit("User Logged Off", None));
        assert_eq!(v["activity_id"], 2);

        let api = audit("Policy Definition Changed", Some("8.8.8.8"));
        assert_eq!(class_of(&api), Class::ApiActivity);
        let v = render(StreamKind::Audit, &api);
        assert_eq!(v["activity_id"], 3);
        assert_eq!(v["api"]["operation"], "Policy Definition Changed");
        assert_eq!(v["src_endpoint"]["ip"], "8.8.8.8");

        let no_ip = audit("Threat Intel Feed Download", Some("not an ip"));
        assert_eq!(class_of(&no_ip), Class::EntityManagement);
        let v = render(StreamKind::Audit, &no_ip);
        assert_eq!(v["activity_id"], 2, "a download reads");
        assert_eq!(v["unmapped"]["source_ip"], "not an ip");
        let mut anonymous = audit("User Logged On", None);
        anonymous.user = None;
        assert_eq!(class_of(&anonymous), Class::EntityManagement);
    }

    #[test]
    fn raw_data_only_with_include_raw() {
        let e = event(StreamKind::Audit, EventKind::Audit);
        let v = render(StreamKind::Audit, &e);
        assert_eq!(v["raw_data"], RAW, "the record as one JSON string");
        let e = Event::new(
            &ctx("audit", false),
            Cow::Borrowed("e1"),
            EventKind::Audit,
            None,
            raw(),
        );
        assert!(render(StreamKind::Audit, &e).get("raw_data").is_none());
    }

    #[test]
    fn common_fields() {
        let mut e = event(StreamKind::TtpUrl, EventKind::Threat);
        e.severity = Some(Severity::Medium);
        e.action = Some(Cow::Borrowed("block"));
        e.url = Some(Cow::Borrowed("https://x.example/"));
        e.category = Some(Cow::Borrowed("Phishing"));
        let v = render(StreamKind::TtpUrl, &e);
        assert_eq!(v["time"], 1_795_166_100_250_i64);
        assert_eq!(v["metadata"]["logged_time"], 1_795_428_180_000_i64);
        assert_eq!(v["type_uid"], 200401);
        assert_eq!(
            (v["severity_id"].as_u64(), v["severity"].as_str()),
            (Some(3), Some("Medium"))
        );
        assert_eq!(v["metadata"]["profiles"][0], "security_control");
        assert_eq!(v["disposition_id"], 2);
        assert_eq!(v["is_alert"], true, "blocked threat");
        assert_eq!(v["evidences"][0]["url"]["categories"][0], "Phishing");
        assert_eq!(v["unmapped"]["action"], "block");
    }

    #[test]
    fn addresses_are_reduced_or_kept_aside() {
        assert_eq!(address("a.b+c@x-y.example"), Some("a.b+c@x-y.example"));
        assert_eq!(address("Team <team@x.example>"), Some("team@x.example"));
        assert_eq!(address("<>"), None);
        assert_eq!(address("nobody@localhost"), None);
        let mut e = event(StreamKind::SiemMta, EventKind::Email);
        e.sender = Some(Cow::Borrowed("<>"));
        let v = render(StreamKind::SiemMta, &e);
        assert_eq!(v["email"]["to"], serde_json::json!([]));
        assert_eq!(v["unmapped"]["sender"], "<>");
    }

    /// `email_t` as the pattern reads, part by part.
    fn email_by_parts(s: &str) -> bool {
        let Some((local, domain)) = s.split_once('@') else {
            return false;
        };
        let Some((first, rest)) = domain.split_once('.') else {
            return false;
        };
        let local_ok = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+,-./=?^_`{|}~".contains(&b);
        let label_ok = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
        !local.is_empty()
            && local.bytes().all(local_ok)
            && !first.is_empty()
            && first.bytes().all(label_ok)
            && !rest.is_empty()
            && rest.bytes().all(|b| label_ok(b) || b == b'.')
    }

    proptest::proptest! {
        #[test]
        fn is_email_follows_the_pattern(s in "[a-c.@\\-+,/!~ <>\"é\u{0}]{0,12}", t in "(?s).{0,16}") {
            for s in [&s, &t] {
                proptest::prop_assert_eq!(is_email(s), email_by_parts(s), "{:?}", s);
            }
        }

        #[test]
        fn trim_is_str_trim(s in "[ a\t\u{a0}\u{3000}é]{0,6}") {
            proptest::prop_assert_eq!(trim(&s), s.trim());
        }
    }

    #[test]
    fn integers_are_written_as_serde_json_writes_them() {
        for n in [
            0,
            7,
            10,
            99,
            100,
            101,
            4009,
            200401,
            1_795_166_100_250,
            -1,
            -10,
            -1_000,
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            int(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
    }

    #[test]
    fn epoch_ms_truncates_toward_zero() {
        for t in [
            datetime!(2026-11-20 09:15:00.250 UTC),
            datetime!(1970-01-01 00:00:00 UTC),
            datetime!(1969-12-31 23:59:59.9995 UTC),
            datetime!(1969-12-31 23:59:59.999 UTC),
            datetime!(1960-01-01 00:00:00.001 UTC),
            datetime!(1960-01-01 00:00:00 UTC),
            datetime!(2026-01-01 00:00:00.000_999 UTC),
        ] {
            assert_eq!(
                epoch_ms(t),
                (t.unix_timestamp_nanos() / 1_000_000) as i64,
                "{t}"
            );
        }
    }

    #[test]
    fn indicators_carry_osint() {
        let mut e = event(StreamKind::ThreatIntel, EventKind::Indicator);
        e.indicator = Some(Indicator {
            kind: IndicatorType::Sha256,
            value: Cow::Borrowed("ab"),
        });
        let v = render(StreamKind::ThreatIntel, &e);
        assert_eq!(v["metadata"]["profiles"], serde_json::json!(["osint"]));
        assert_eq!(v["osint"][0]["type_id"], 4);
        assert_eq!(v["osint"][0]["value"], "ab");
    }
}
