//! Streams that read a whole list each poll and emit what is new or changed:
//! `dashboard` (notifications, new ids only, docs/mimecast-api.md#dashboard-notifications) and
//! `directory` (internal users per domain, added / changed / removed,
//! docs/mimecast-api.md#directory).
//!
//! Neither endpoint takes a time window, so the state is what was seen: notification ids in the
//! dedup table, and for the directory a map of address -> record hash kept in the cursor.

use super::emit::{id_hash, Rendered};
use super::records;
use super::{
    Cursor, Dedup, Page, Record, Records, Request, Response, Source, StreamError, StreamKind,
};
use crate::event::Context;
use crate::normalize::normalize;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use time::OffsetDateTime;

pub const DOMAINS_PATH: &str = "/api/domain/get-internal-domain";
/// Dashboard notification ids are remembered this long (they stay visible for weeks).
const NOTIFICATION_MEMORY: time::Duration = time::Duration::days(400);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotCursor {
    /// Directory: address -> 64-bit hash of the user's record, per domain.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub polled_at: Option<OffsetDateTime>,
}

impl Cursor for SnapshotCursor {
    fn describe(&self) -> String {
        self.polled_at
            .map(|p| format!("snapshot {}", crate::event::rfc3339::format(p)))
            .unwrap_or_else(|| "start".into())
    }

    fn complete_until(&self) -> Option<OffsetDateTime> {
        self.polled_at
    }

    fn since(_since: OffsetDateTime) -> Result<SnapshotCursor, String> {
        Err("this stream has no time cursor: reset without --since to emit everything again".into())
    }
}

/// Where a snapshot poll is: reading the list of domains, or the users of one domain.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Domains,
    Users(usize),
    Notifications,
}

/// The hooks of `dashboard` and `directory`. A snapshot is read whole within one poll; the
/// source keeps what it has read so far, and the cursor moves only with the last page.
pub struct SnapshotSource {
    pub kind: StreamKind,
    pub page_size: u32,
    /// Directory: configured domains; empty means every internal domain.
    pub domains: Vec<String>,
    pub tenant: String,
    pub include_raw: bool,
    // This poll's progress.
    step: Step,
    token: Option<String>,
    domain_list: Vec<String>,
    listed: Vec<Box<RawValue>>,
    users: BTreeMap<String, BTreeMap<String, String>>,
    events: Vec<Record>,
    now: OffsetDateTime,
}

impl SnapshotSource {
    pub fn new(
        kind: StreamKind,
        page_size: u32,
        domains: Vec<String>,
        tenant: String,
        include_raw: bool,
    ) -> SnapshotSource {
        SnapshotSource {
            kind,
            page_size,
            domains,
            tenant,
            include_raw,
            step: Step::Notifications,
            token: None,
            domain_list: Vec::new(),
            listed: Vec::new(),
            users: BTreeMap::new(),
            events: Vec::new(),
            now: OffsetDateTime::now_utc(),
        }
    }

    /// The directory's users of one domain, read whole: added, changed and removed events.
    fn diff_domain(&mut self, c: &SnapshotCursor, domain: &str) -> Result<(), StreamError> {
        let ctx = Context {
            tenant: &self.tenant,
            stream: self.kind.name(),
            collected_at: self.now,
            include_raw: self.include_raw,
        };
        let before = c.users.get(domain).cloned().unwrap_or_default();
        let mut after = BTreeMap::new();
        for raw in std::mem::take(&mut self.listed) {
            let address = match normalize(self.kind, &ctx, &raw).user.as_deref() {
                Some(a) => a.to_ascii_lowercase(),
                None => continue,
            };
            let hash = format!("{:016x}", id_hash(raw.get()) as u64);
            let action = match before.get(&address) {
                None => "added",
                Some(h) if *h != hash => "changed",
                Some(_) => {
                    after.insert(address, hash);
                    continue;
                }
            };
            self.events.push(Record {
                raw,
                action: Some(action),
                id: Some(format!("user:{address}:{hash}")),
            });
            after.insert(address, hash);
        }
        for (address, hash) in &before {
            if !after.contains_key(address) {
                let raw = RawValue::from_string(json!({"emailAddress": address}).to_string())
                    .map_err(|e| StreamError::Shape(e.to_string()))?;
                self.events.push(Record {
                    raw,
                    action: Some("removed"),
                    id: Some(format!("user:{address}:{hash}:removed")),
                });
            }
        }
        self.users.insert(domain.to_string(), after);
        Ok(())
    }

    /// The step after the current list is read whole, or `None` when the snapshot is complete.
    fn advance(&mut self, c: &SnapshotCursor) -> Result<Option<Step>, StreamError> {
        self.token = None;
        Ok(match self.step.clone() {
            Step::Notifications => None,
            Step::Domains => {
                self.domain_list.clear();
                for d in std::mem::take(&mut self.listed)
                    .iter()
                    .filter_map(|d| records::string_field(d, "domain"))
                {
                    if !self.domain_list.iter().any(|x| x.eq_ignore_ascii_case(&d)) {
                        self.domain_list.push(d);
                    }
                }
                (!self.domain_list.is_empty()).then_some(Step::Users(0))
            }
            Step::Users(i) => {
                let domain = self.domain_list[i].clone();
                self.diff_domain(c, &domain)?;
                (i + 1 < self.domain_list.len()).then_some(Step::Users(i + 1))
            }
        })
    }
}

impl Source for SnapshotSource {
    type Cursor = SnapshotCursor;

    fn begin(&mut self, _cursor: &SnapshotCursor, now: OffsetDateTime) {
        self.now = now;
        self.token = None;
        self.listed.clear();
        self.users.clear();
        self.events.clear();
        // A domain configured twice is read once (the same request twice would look like a
        // server that makes no progress).
        self.domain_list = Vec::new();
        for d in &self.domains {
            if !self.domain_list.iter().any(|x| x.eq_ignore_ascii_case(d)) {
                self.domain_list.push(d.clone());
            }
        }
        self.step = match self.kind {
            StreamKind::Dashboard => Step::Notifications,
            _ if self.domains.is_empty() => Step::Domains,
            _ => Step::Users(0),
        };
    }

    fn request(&self, _c: &SnapshotCursor) -> Option<Request> {
        let (path, data) = match &self.step {
            Step::Notifications => (self.kind.spec().path, json!([])),
            Step::Domains => (DOMAINS_PATH, json!([])),
            Step::Users(i) => (
                self.kind.spec().path,
                json!([{"domain": self.domain_list.get(*i)?}]),
            ),
        };
        let mut pagination = json!({"pageSize": self.page_size});
        if let Some(t) = &self.token {
            pagination["pageToken"] = Value::String(t.clone());
        }
        Some(Request::Post {
            path,
            body: json!({"meta": {"pagination": pagination}, "data": data}),
        })
    }

    fn page(
        &mut self,
        c: &SnapshotCursor,
        response: Response,
    ) -> Result<Page<SnapshotCursor>, StreamError> {
        let Response::Envelope(env) = response else {
            return Err(StreamError::Shape("expected an envelope".into()));
        };
        let field = match self.step {
            Step::Notifications => Some("notifications"),
            Step::Domains => None,
            Step::Users(_) => Some("users"),
        };
        let recs = records::extract(env.data.as_deref(), field)
            .map_err(|e| StreamError::Shape(e.to_string()))?;
        let received = recs.len();
        self.listed.extend(recs.into_iter().map(|r| r.to_owned()));
        let next_token = env.next_page_token(received).map(str::to_string);
        if let Some(t) = next_token {
            // A snapshot read short would report users on unread pages as removed.
            if Some(&t) == self.token.as_ref() {
                return Err(StreamError::NoProgress {
                    what: format!("{} (page token {})", self.kind.spec().path, t),
                });
            }
            self.token = Some(t);
            return Ok(Page {
                received,
                continues: true,
                ..Page::empty(c.clone(), true)
            });
        }
        if let Some(step) = self.advance(c)? {
            self.step = step;
            return Ok(Page {
                received,
                ..Page::empty(c.clone(), true)
            });
        }
        // The snapshot is complete: its events and the new cursor in one commit.
        let next = SnapshotCursor {
            users: std::mem::take(&mut self.users),
            polled_at: Some(self.now),
        };
        let (records, dedup) = match self.kind {
            StreamKind::Dashboard => (
                std::mem::take(&mut self.listed)
                    .into_iter()
                    .map(Record::plain)
                    .collect(),
                Dedup {
                    remember_from: Some(OffsetDateTime::UNIX_EPOCH),
                    not_before: None,
                    forget_before: Some((self.now - NOTIFICATION_MEMORY).unix_timestamp()),
                    newest_before: None,
                },
            ),
            _ => (std::mem::take(&mut self.events), Dedup::default()),
        };
        Ok(Page {
            records: Records::Owned(records),
            received,
            next,
            more: false,
            continues: false,
            resume: None,
            files: Vec::new(),
            body: None,
            details: Vec::new(),
            dedup,
        })
    }

    /// Notifications are remembered from when they were first emitted, not from their own
    /// date: an old notification must not come back when its date passes the forget horizon.
    fn rendered(&mut self, _next: &mut SnapshotCursor, rendered: &mut Rendered) {
        if self.kind == StreamKind::Dashboard {
            let now = self.now.unix_timestamp();
            for (_, t) in rendered.seen.iter_mut() {
                *t = now;
            }
        }
    }
}
