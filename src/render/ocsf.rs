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
//! Written straight from the typed event with borrowed structs (no `serde_json::Value`): the
//! only allocation is the output line itself.

use crate::catalog::StreamKind;
use crate::event::{Event, EventKind, IndicatorType, Severity, Verdict};
use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;
use std::borrow::Cow;
use time::OffsetDateTime;

/// The OCSF schema version written in `metadata.version`.
pub const VERSION: &str = "1.8.0";
const VENDOR: &str = "Mimecast";
const PRODUCT: &str = "Mimecast Email Security";

/// Appends `event` (of `kind`'s stream) as one OCSF line to `out`.
pub fn write(kind: StreamKind, event: &Event<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    super::write_json(&build(kind, event), out);
    if let Some(raw) = event.raw {
        super::append_raw_member(out, start, "raw_data", raw);
    }
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

    fn name(self) -> &'static str {
        match self {
            Class::DetectionFinding => "Detection Finding",
            Class::Authentication => "Authentication",
            Class::EntityManagement => "Entity Management",
            Class::EmailActivity => "Email Activity",
            Class::ApiActivity => "API Activity",
        }
    }

    fn category(self) -> (u32, &'static str) {
        match self {
            Class::DetectionFinding => (2, "Findings"),
            Class::Authentication | Class::EntityManagement => (3, "Identity & Access Management"),
            Class::EmailActivity => (4, "Network Activity"),
            Class::ApiActivity => (6, "Application Activity"),
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

// ---- the line ------------------------------------------------------------------------------

#[derive(Serialize)]
struct Line<'e> {
    class_uid: u32,
    class_name: &'static str,
    category_uid: u32,
    category_name: &'static str,
    activity_id: u32,
    activity_name: &'e str,
    type_uid: u32,
    type_name: &'static str,
    time: i64,
    severity_id: u8,
    severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    metadata: Metadata<'e>,
    #[serde(skip_serializing_if = "Option::is_none")]
    direction_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<Email<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<Addresses<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_trace_uid: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finding_info: Option<FindingInfo<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidences: Option<[Evidence<'e>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    osint: Option<[Osint<'e>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<User<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<Named<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<Actor<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api: Option<Api<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity: Option<Entity<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_endpoint: Option<Endpoint<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst_endpoint: Option<Endpoint<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disposition_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disposition: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_alert: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<Named<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    malware: Option<[Malware<'e>; 1]>,
    #[serde(skip_serializing_if = "Unmapped::is_empty")]
    unmapped: Unmapped<'e>,
}

#[derive(Serialize)]
struct Metadata<'e> {
    version: &'static str,
    product: Product<'e>,
    uid: &'e str,
    log_name: &'e str,
    tenant_uid: &'e str,
    logged_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_code: Option<&'e str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    profiles: &'static [&'static str],
}

#[derive(Serialize)]
struct Product<'e> {
    vendor_name: &'static str,
    name: &'static str,
    feature: Named<'e>,
}

#[derive(Serialize)]
struct Named<'e> {
    name: &'e str,
}

#[derive(Serialize, Default)]
struct Email<'e> {
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_mailbox: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<Addresses<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_uid: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<[File<'e>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    urls: Option<[Url<'e>; 1]>,
}

#[derive(Serialize)]
struct File<'e> {
    name: &'e str,
    /// 1 Regular File: what OCSF asks for when the log does not say more.
    type_id: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    mime_type: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hashes: Option<[Fingerprint<'e>; 1]>,
}

#[derive(Serialize)]
struct Fingerprint<'e> {
    algorithm_id: u8,
    algorithm: &'static str,
    value: &'e str,
}

#[derive(Serialize)]
struct Url<'e> {
    url_string: &'e str,
    #[serde(skip_serializing_if = "Option::is_none")]
    categories: Option<[&'e str; 1]>,
}

#[derive(Serialize)]
struct Endpoint<'e> {
    ip: &'e str,
}

#[derive(Serialize)]
struct FindingInfo<'e> {
    uid: &'e str,
    title: &'e str,
    #[serde(skip_serializing_if = "Option::is_none")]
    desc: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    types: Option<[&'e str; 1]>,
}

#[derive(Serialize, Default)]
struct Evidence<'e> {
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<Email<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<Url<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<File<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_endpoint: Option<Endpoint<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst_endpoint: Option<Endpoint<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize)]
struct Osint<'e> {
    type_id: u8,
    #[serde(rename = "type")]
    kind: &'static str,
    value: &'e str,
}

#[derive(Serialize)]
struct Malware<'e> {
    name: &'e str,
    /// 0 Unknown: Mimecast names the threat, not its class.
    classification_ids: [u8; 1],
}

#[derive(Serialize)]
struct User<'e> {
    name: &'e str,
    #[serde(skip_serializing_if = "Option::is_none")]
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

#[derive(Serialize)]
struct Actor<'e> {
    user: User<'e>,
}

#[derive(Serialize)]
struct Api<'e> {
    operation: &'e str,
}

#[derive(Serialize)]
struct Entity<'e> {
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'e str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    type_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<User<'e>>,
}

/// The recipients that are valid OCSF email addresses (`email_t`), reduced as [`address`] does.
/// Serialized without collecting them first; may be empty.
#[derive(Clone, Copy)]
struct Addresses<'e>(&'e [Cow<'e, str>]);

impl Serialize for Addresses<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for a in self.0.iter().filter_map(|r| address(r)) {
            seq.serialize_element(a)?;
        }
        seq.end()
    }
}

/// The recipients that are not, for `unmapped`.
#[derive(Clone, Copy)]
struct Unreadable<'e>(&'e [Cow<'e, str>]);

impl Serialize for Unreadable<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for r in self.0.iter().filter(|r| address(r).is_none()) {
            seq.serialize_element(r.as_ref())?;
        }
        seq.end()
    }
}

/// The event's native fields that have no home in the class, under their native names.
#[derive(Serialize, Default)]
struct Unmapped<'e> {
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sender: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipients: Option<Unreadable<'e>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_ip: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_ip: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_hash: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threat_name: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
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

// ---- building ------------------------------------------------------------------------------

const NO_PROFILES: &[&str] = &[];
const SECURITY_CONTROL: &[&str] = &["security_control"];
const OSINT: &[&str] = &["osint"];
const OSINT_SECURITY_CONTROL: &[&str] = &["osint", "security_control"];

fn build<'e>(kind: StreamKind, e: &'e Event<'e>) -> Line<'e> {
    let class = class_of(e);
    let (category_uid, category_name) = class.category();
    let (severity_id, severity) = severity(e.severity);
    let mut line = Line {
        class_uid: class.uid(),
        class_name: class.name(),
        category_uid,
        category_name,
        activity_id: 0,
        activity_name: "Unknown",
        type_uid: 0,
        type_name: "",
        time: epoch_ms(e.time),
        severity_id,
        severity,
        message: e.description.as_deref(),
        status_id: None,
        status: None,
        metadata: Metadata {
            version: VERSION,
            product: Product {
                vendor_name: VENDOR,
                name: PRODUCT,
                feature: Named { name: e.stream },
            },
            uid: &e.id,
            log_name: e.stream,
            tenant_uid: e.tenant,
            logged_time: epoch_ms(e.collected_at),
            event_code: None,
            profiles: NO_PROFILES,
        },
        direction_id: None,
        direction: None,
        email: None,
        from: None,
        to: None,
        message_trace_uid: None,
        finding_info: None,
        evidences: None,
        osint: None,
        user: None,
        service: None,
        actor: None,
        api: None,
        entity: None,
        src_endpoint: None,
        dst_endpoint: None,
        action_id: None,
        action: None,
        disposition_id: None,
        disposition: None,
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
    line.type_uid = class.uid() * 100 + activity_id;
    line.type_name = class.type_name(activity_id);
    line
}

/// Email Activity: the message, its endpoints, and what the gateway did with it.
fn email_activity<'e>(
    kind: StreamKind,
    e: &'e Event<'e>,
    line: &mut Line<'e>,
) -> (u32, Option<&'e str>) {
    let (direction_id, direction) = direction(e.direction.as_deref());
    line.direction_id = Some(direction_id);
    line.direction = direction;
    let sender = e.sender.as_deref();
    let from = sender.and_then(address);
    line.from = from;
    if !e.recipients.is_empty() && e.recipients.iter().any(|r| address(r).is_some()) {
        line.to = Some(Addresses(&e.recipients));
    }
    line.email = Some(email(e, &mut line.unmapped, true));
    line.src_endpoint = endpoint(e.source_ip.as_deref(), &mut line.unmapped.source_ip);
    line.dst_endpoint = endpoint(
        e.destination_ip.as_deref(),
        &mut line.unmapped.destination_ip,
    );
    let security = security_control(e, line);
    if e.threat_name.is_some() {
        line.malware = malware(e.threat_name.as_deref());
    }
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
                line.osint = Some([Osint {
                    type_id,
                    kind: caption,
                    value: &i.value,
                }]);
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
                evidence.email = Some(email(e, &mut line.unmapped, false));
            }
            line.unmapped.direction = e.direction.as_deref();
            evidence.user = e.user.as_deref().map(User::of);
        }
    }
    if let Some(url) = e.url.as_deref() {
        evidence.url = Some(Url {
            url_string: url,
            categories: url_category.map(|c| [c]),
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
        line.evidences = Some([evidence]);
    }
    line.malware = malware(e.threat_name.as_deref());
    let title = title
        .or(e.threat_name.as_deref())
        .or(e.rule.as_deref())
        .unwrap_or(finding_title(kind, e.kind));
    line.finding_info = Some(FindingInfo {
        uid: &e.id,
        title,
        desc: e.description.as_deref(),
        types: types.map(|t| [t]),
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
        line.is_alert = Some(line.action_id == Some(2) || e.severity == Some(Severity::High));
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
    let failed = action.is_some_and(is_failure);
    line.status_id = Some(if failed { 2 } else { 1 });
    line.status = Some(if failed { "Failure" } else { "Success" });
    line.user = e.user.as_deref().map(User::of);
    line.service = Some(Named { name: "Mimecast" });
    line.src_endpoint = endpoint(e.source_ip.as_deref(), &mut line.unmapped.source_ip);
    line.metadata.event_code = action;
    line.unmapped.action = None;
    line.unmapped.category = e.category.as_deref();
    (activity, None)
}

/// API Activity: an audited operation whose caller's address is known.
fn api_activity<'e>(e: &'e Event<'e>, line: &mut Line<'e>) -> (u32, Option<&'e str>) {
    let action = e.action.as_deref();
    line.actor = e.user.as_deref().map(|u| Actor { user: User::of(u) });
    line.api = action.map(|operation| Api { operation });
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
    line.actor = e.user.as_deref().map(|u| Actor { user: User::of(u) });
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
    let mut any = false;
    if let Some((action_id, action, disposition_id, disposition)) =
        action_disposition(e.verdict, e.action.as_deref())
    {
        line.action_id = Some(action_id);
        line.action = Some(action);
        line.disposition_id = Some(disposition_id);
        line.disposition = Some(disposition);
        any = true;
    }
    if let Some(rule) = e.rule.as_deref() {
        line.policy = Some(Named { name: rule });
        any = true;
    }
    any
}

/// The `email` object. `required`: the class requires it, so it must hold `from` or `to`; an
/// evidence's email is only written when there is a message to describe.
fn email<'e>(e: &'e Event<'e>, unmapped: &mut Unmapped<'e>, required: bool) -> Email<'e> {
    let sender = e.sender.as_deref();
    let from = sender.and_then(address);
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
    let valid = e.recipients.iter().any(|r| address(r).is_some());
    if valid || from.is_none() {
        // With no valid address at all, an empty recipient list: unknown, not invented.
        out.to = Some(Addresses(&e.recipients));
    }
    if e.recipients.iter().any(|r| address(r).is_none()) {
        unmapped.recipients = Some(Unreadable(&e.recipients));
    }
    if required {
        out.files = file(e, None, unmapped).map(|f| [f]);
        out.urls = e.url.as_deref().map(|u| {
            [Url {
                url_string: u,
                categories: None,
            }]
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
        type_id: 1,
        mime_type,
        hashes: hash.map(|value| {
            let (algorithm_id, algorithm) = hash_algorithm(value);
            [Fingerprint {
                algorithm_id,
                algorithm,
                value,
            }]
        }),
    })
}

fn malware(name: Option<&str>) -> Option<[Malware<'_>; 1]> {
    name.map(|name| {
        [Malware {
            name,
            classification_ids: [0],
        }]
    })
}

/// An endpoint for a valid IP address; anything else is kept in `unmapped`.
fn endpoint<'e>(value: Option<&'e str>, unmapped: &mut Option<&'e str>) -> Option<Endpoint<'e>> {
    let v = value?;
    match ip(v) {
        Some(ip) => Some(Endpoint { ip }),
        None => {
            *unmapped = Some(v);
            None
        }
    }
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

// ---- vocabularies --------------------------------------------------------------------------

fn epoch_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn severity(s: Option<Severity>) -> (u8, &'static str) {
    match s {
        None => (0, "Unknown"),
        Some(Severity::Info) => (1, "Informational"),
        Some(Severity::Low) => (2, "Low"),
        Some(Severity::Medium) => (3, "Medium"),
        Some(Severity::High) => (4, "High"),
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
    let t = text.trim();
    if is_email(t) {
        return Some(t);
    }
    let inner = t.strip_suffix('>')?;
    let inner = &inner[inner.rfind('<')? + 1..];
    is_email(inner).then_some(inner)
}

/// The `email_t` pattern of OCSF 1.8.0:
/// `^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$` (`+-/` is a range).
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+,-./=?^_`{|}~".contains(&b));
    let Some((first, rest)) = domain.split_once('.') else {
        return false;
    };
    local_ok
        && !first.is_empty()
        && first
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
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
        let mut out = Vec::new();
        write(stream, e, &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1, "one line");
        serde_json::from_slice(&out).unwrap()
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
