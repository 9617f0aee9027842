//! Message metadata: archive search results (§4.8) and Message Finder results (§4.11).

use super::fields::{parse_time, split_addresses, Text};
use super::id_or_hash;
use crate::event::{Context, Event, EventKind};
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
    e.description = r.size.get().map(|s| format!("size {s} bytes").into());
    Ok(e)
}

/// Address objects appear as `{"emailAddress": "..."}` in Mimecast's newer shapes.
#[derive(Deserialize)]
#[serde(untagged)]
enum Address<'a> {
    Object {
        #[serde(borrow, rename = "emailAddress")]
        email_address: Text<'a>,
    },
    Plain(#[serde(borrow)] Text<'a>),
}

impl<'a> Address<'a> {
    fn text(&self) -> Option<std::borrow::Cow<'a, str>> {
        match self {
            Address::Object { email_address } => email_address.get(),
            Address::Plain(t) => t.get(),
        }
    }
}

/// Message Finder items: the field list is UNCONFIRMED (§4.11); these names follow the
/// `advancedTrackAndTraceOptions` vocabulary and the held-release log shape (§4.14).
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
    e.sender = r
        .from_env
        .as_ref()
        .and_then(Address::text)
        .or_else(|| r.from_hdr.as_ref().and_then(Address::text));
    e.recipients = r.to.iter().flatten().filter_map(Address::text).collect();
    e.subject = r.subject.get();
    e.source_ip = r.sender_ip.get();
    e.direction = r.route.get();
    e.message_id = r.message_id.get();
    Ok(e)
}
