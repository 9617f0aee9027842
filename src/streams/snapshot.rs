//! Streams that read a whole list each poll and emit what is new or changed:
//! `dashboard` (notifications, new ids only, MIMECAST.md §4.12) and `directory` (internal users
//! per domain, added / changed / removed, §4.13).
//!
//! Neither endpoint takes a time window, so the state is what was seen: notification ids in the
//! dedup table, and for the directory a map of address -> record hash kept in the cursor.

use super::checkpoint::{Checkpointer, Progress};
use super::emit::{id_hash, Emitter};
use super::records;
use super::{PollReport, StreamError, StreamKind};
use crate::api::MimecastClient;
use crate::event::Context;
use crate::normalize::normalize;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

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

pub struct SnapshotStream {
    pub kind: StreamKind,
    pub client: MimecastClient,
    pub emitter: Emitter,
    pub page_size: u32,
    /// Directory: configured domains; empty means every internal domain.
    pub domains: Vec<String>,
    pub include_raw: bool,
    pub ckpt: Checkpointer,
    pub cursor: SnapshotCursor,
}

impl SnapshotStream {
    /// Every page of a paginated list endpoint, as raw records.
    async fn read_all(
        &self,
        path: &str,
        item: Value,
        field: Option<&str>,
        report: &mut PollReport,
        cancel: &CancellationToken,
    ) -> Result<Option<Vec<Box<RawValue>>>, StreamError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            if cancel.is_cancelled() {
                return Ok(None);
            }
            let mut pagination = json!({"pageSize": self.page_size});
            if let Some(t) = &token {
                pagination["pageToken"] = Value::String(t.clone());
            }
            let data = if item.is_null() {
                json!([])
            } else {
                json!([item])
            };
            let env = self
                .client
                .post(
                    path,
                    &json!({"meta": {"pagination": pagination}, "data": data}),
                )
                .await?;
            report.requests += 1;
            report.pages += 1;
            let recs = records::extract(env.data.as_deref(), field)
                .map_err(|e| StreamError::Shape(e.to_string()))?;
            let n = recs.len();
            out.extend(recs.into_iter().map(|r| r.to_owned()));
            match env.next_page_token(n) {
                Some(t) if Some(t) != token.as_deref() => token = Some(t.to_string()),
                _ => return Ok(Some(out)),
            }
        }
    }

    pub async fn poll(&mut self, cancel: &CancellationToken) -> Result<PollReport, StreamError> {
        match self.kind {
            StreamKind::Dashboard => self.poll_dashboard(cancel).await,
            _ => self.poll_directory(cancel).await,
        }
    }

    async fn poll_dashboard(
        &mut self,
        cancel: &CancellationToken,
    ) -> Result<PollReport, StreamError> {
        let mut report = PollReport::default();
        let Some(all) = self
            .read_all(
                self.kind.spec().path,
                Value::Null,
                Some("notifications"),
                &mut report,
                cancel,
            )
            .await?
        else {
            report.cancelled = true;
            return Ok(report);
        };
        let now = OffsetDateTime::now_utc();
        let rendered = self.emitter.render(
            all.iter().map(|b| b.as_ref()),
            now,
            Some(OffsetDateTime::UNIX_EPOCH),
            None,
        );
        let cursor = SnapshotCursor {
            users: BTreeMap::new(),
            polled_at: Some(now),
        };
        // Remembered from when they were first emitted, not from their own date: an old
        // notification must not come back when its date passes the forget horizon.
        let seen: Vec<(i64, i64)> = rendered
            .seen
            .iter()
            .map(|(h, _)| (*h, now.unix_timestamp()))
            .collect();
        self.commit(
            cursor,
            rendered.lines,
            rendered.emitted,
            seen.clone(),
            Some((now - NOTIFICATION_MEMORY).unix_timestamp()),
        )
        .await?;
        self.emitter.remember(&seen);
        report.records = rendered.emitted;
        report.duplicates = rendered.duplicates;
        Ok(report)
    }

    async fn poll_directory(
        &mut self,
        cancel: &CancellationToken,
    ) -> Result<PollReport, StreamError> {
        let mut report = PollReport::default();
        let domains = if self.domains.is_empty() {
            let Some(list) = self
                .read_all(DOMAINS_PATH, Value::Null, None, &mut report, cancel)
                .await?
            else {
                report.cancelled = true;
                return Ok(report);
            };
            list.iter()
                .filter_map(|d| records::string_field(d, "domain"))
                .collect()
        } else {
            self.domains.clone()
        };
        let now = OffsetDateTime::now_utc();
        let ctx = Context {
            tenant: &self.ckpt.key.tenant,
            stream: self.kind.name(),
            collected_at: now,
            include_raw: self.include_raw,
        };
        let mut lines = Vec::new();
        let mut events = 0;
        let mut next = SnapshotCursor {
            users: BTreeMap::new(),
            polled_at: Some(now),
        };
        for domain in &domains {
            let Some(users) = self
                .read_all(
                    self.kind.spec().path,
                    json!({"domain": domain}),
                    Some("users"),
                    &mut report,
                    cancel,
                )
                .await?
            else {
                report.cancelled = true;
                return Ok(report);
            };
            let before = self.cursor.users.get(domain).cloned().unwrap_or_default();
            let mut after = BTreeMap::new();
            for raw in &users {
                let mut event = normalize(self.kind, &ctx, raw);
                let Some(address) = event.user.as_deref().map(str::to_ascii_lowercase) else {
                    continue;
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
                event.action = Some(Cow::Borrowed(action));
                event.id = Cow::Owned(format!("user:{address}:{hash}"));
                event.write_line(&mut lines);
                events += 1;
                after.insert(address, hash);
            }
            for (address, hash) in &before {
                if !after.contains_key(address) {
                    let raw = RawValue::from_string(json!({"emailAddress": address}).to_string())
                        .map_err(|e| StreamError::Shape(e.to_string()))?;
                    let mut event = normalize(self.kind, &ctx, &raw);
                    event.action = Some(Cow::Borrowed("removed"));
                    event.id = Cow::Owned(format!("user:{address}:{hash}:removed"));
                    event.write_line(&mut lines);
                    events += 1;
                }
            }
            next.users.insert(domain.clone(), after);
        }
        self.commit(next, lines, events, Vec::new(), None).await?;
        report.records = events;
        Ok(report)
    }

    async fn commit(
        &mut self,
        cursor: SnapshotCursor,
        lines: Vec<u8>,
        events: u64,
        seen: Vec<(i64, i64)>,
        forget: Option<i64>,
    ) -> Result<(), StreamError> {
        let progress = Progress {
            lines,
            events,
            pages: 1,
            seen,
            forget_seen_before: forget,
            covered_until: cursor.polled_at,
        };
        self.ckpt.commit(&cursor, progress).await?;
        self.cursor = cursor;
        Ok(())
    }
}
