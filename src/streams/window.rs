//! Streams that walk forward through time windows over an `/api/...` envelope endpoint:
//! TTP URL, attachment and impersonation logs, audit events, Message Finder, archive search and
//! archive search logs.
//!
//! Each poll reads `[covered_until - max_lag, now - settle)` (from `covered_until` itself when
//! that was first asked for more than `max_lag` after it), oldest first where the endpoint
//! allows, one page at a time. Every page is committed with a cursor that holds the window and
//! the next page token, so a restart resumes at the page after the last one written. When the
//! window's last page is written the cursor becomes `covered_until = window end`. The overlap
//! re-read for late events is deduplicated by id (see `emit`).
//!
//! What is remembered for dedup is bounded by the event rate times `max_lag`, not by the
//! backlog: a window of a million events must not hold a million ids (in memory, or as rows
//! written page by page). Ids are needed for two re-reads only:
//! - the next window's overlap: ids of events in the last `max_lag` of this window;
//! - a page token refused after a restart. Endpoints asked for oldest-first order (TTP logs)
//!   restart at `resume_from`, the whole second of the newest event written; the ids of events
//!   in that second travel in the cursor itself (a page at most), so no id row is written per
//!   page. Endpoints without an order (audit, Message Finder, archive) restart at the window's
//!   start and keep every id of the open window, as their volumes are small.
//!
//! An ordered endpoint that broke its order would, only on a refused token, miss events older
//! than the resume point that it had not sent yet: the same exposure as any event indexed later
//! than `max_lag`.

use super::checkpoint::{Checkpointer, InFlight, Progress};
use super::emit::Emitter;
use super::records;
use super::{PollReport, StreamError, StreamKind};
use crate::api::envelope::Envelope;
use crate::api::{ApiError, MimecastClient};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

/// Events younger than this are left for the next poll: Mimecast indexes logs with a delay.
pub const SETTLE: Duration = Duration::from_secs(30);
/// The longest window read as one: a long first lookback (audit keeps 60 days) is walked in
/// steps, each committed when done, so progress and the dedup memory stay small.
pub const MAX_WINDOW: Duration = Duration::from_secs(6 * 3600);

/// Request dates carry whole seconds: windows are cut on whole seconds too, so two adjacent
/// windows never leave a fraction of a second between them unread.
fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// Mimecast's body date format: `2026-11-23T10:15:30+0000` (MIMECAST.md §4).
pub fn body_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+0000",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// How one endpoint is asked for a window, and where its records are.
pub struct WindowSpec {
    pub kind: StreamKind,
    /// `data[0]` of the request for `[from, to)`.
    pub item: fn(from: OffsetDateTime, to: OffsetDateTime) -> Value,
    /// `None`: records are `data[]`; `Some(f)`: they are `data[0].f[]`.
    pub field: Option<&'static str>,
    /// The request asks for oldest-first order (`oldestFirst: true`, §4.3-4.5).
    pub ordered: bool,
}

pub fn spec(kind: StreamKind) -> Option<WindowSpec> {
    use StreamKind::*;
    let (item, field): (fn(OffsetDateTime, OffsetDateTime) -> Value, _) = match kind {
        // §4.3: oldestFirst, from/to; route and scanResult "all" ask for everything.
        TtpUrl => (
            |f, t| json!({"from": body_date(f), "to": body_date(t), "oldestFirst": true, "route": "all", "scanResult": "all"}),
            Some("clickLogs"),
        ),
        // §4.4
        TtpAttachment => (
            |f, t| json!({"from": body_date(f), "to": body_date(t), "oldestFirst": true, "route": "all", "result": "all"}),
            Some("attachmentLogs"),
        ),
        // §4.5
        TtpImpersonation => (
            |f, t| json!({"from": body_date(f), "to": body_date(t), "oldestFirst": true}),
            Some("impersonationLogs"),
        ),
        // §4.1: both dates required; records directly in data[].
        Audit => (
            |f, t| json!({"startDateTime": body_date(f), "endDateTime": body_date(t)}),
            None,
        ),
        // §4.11: item fields UNCONFIRMED; start/end as documented.
        MessageTracking => (
            |f, t| json!({"start": body_date(f), "end": body_date(t), "searchReason": "mimecast-collector export"}),
            Some("trackedEmails"),
        ),
        // §4.9: start/end are documented for get-search-logs; records filtered by time here too.
        ArchiveSearchLogs => (
            |f, t| json!({"start": body_date(f), "end": body_date(t)}),
            Some("logs"),
        ),
        // §4.8: the window is a `between` date range inside the XML query; XSOAR reads data[0].items.
        ArchiveSearch => (
            |f, t| json!({"admin": true, "query": archive_query(f, t)}),
            Some("items"),
        ),
        _ => return None,
    };
    let ordered = matches!(kind, TtpUrl | TtpAttachment | TtpImpersonation);
    Some(WindowSpec {
        kind,
        item,
        field,
        ordered,
    })
}

/// The XML query for message metadata received in `[from, to)` (§4.8, XSOAR's default query
/// with a `between` range).
pub fn archive_query(from: OffsetDateTime, to: OffsetDateTime) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0"?><xmlquery trace="iql,muse"><metadata query-type="emailarchive" archive="true" active="false" page-size="100" startrow="0"><smartfolders/><return-fields>"#,
            "<return-field>attachmentcount</return-field><return-field>status</return-field><return-field>subject</return-field>",
            "<return-field>size</return-field><return-field>receiveddate</return-field><return-field>displayfrom</return-field>",
            "<return-field>id</return-field><return-field>displayto</return-field><return-field>smash</return-field>",
            r#"</return-fields></metadata><muse><text></text><date select="between" from="{}" to="{}"/><sent></sent><docs select="optional"></docs><route/></muse></xmlquery>"#
        ),
        body_date(from),
        body_date(to)
    )
}

/// The stored cursor of a window stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCursor {
    /// Everything before this instant has been written.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub covered_until: Option<OffsetDateTime>,
    /// The window being read, when a poll stopped between its pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<OpenWindow>,
    /// `covered_until` was first asked for at least `max_lag` after it: every late event was
    /// indexed by then, so the next window starts there instead of re-reading the overlap (a
    /// backlog walk wastes no request on overlaps).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub settled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenWindow {
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    /// Page token of the next page to read.
    pub next: String,
    /// Where a refused page token restarts the window (ordered endpoints; see the module docs).
    /// Absent: the window's start.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub resume_from: Option<OffsetDateTime>,
    /// (id hash, event time) of the events written in `resume_from`'s second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resume_ids: Vec<(i64, i64)>,
    /// The window was first asked for at least `max_lag` after its end (see `WindowCursor`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub settled: bool,
}

pub struct WindowStream {
    pub spec: WindowSpec,
    pub client: MimecastClient,
    pub emitter: Emitter,
    pub page_size: u32,
    pub initial_lookback: Duration,
    pub max_lag: Duration,
    pub ckpt: Checkpointer,
    pub cursor: WindowCursor,
}

/// A page handed to the writer, with what to apply once its commit is confirmed.
struct Pending {
    in_flight: InFlight,
    cursor: WindowCursor,
    seen: Vec<(i64, i64)>,
    forget_seen_before: Option<i64>,
    emitted: u64,
    duplicates: u64,
}

impl WindowStream {
    /// Waits for a page's commit; only then do its cursor and ids count as written.
    async fn settle(
        &mut self,
        pending: Option<Pending>,
        report: &mut PollReport,
    ) -> Result<(), StreamError> {
        let Some(p) = pending else { return Ok(()) };
        self.ckpt.confirm(p.in_flight).await?;
        self.emitter.remember(&p.seen);
        if let Some(before) = p.forget_seen_before {
            self.emitter.forget_before(before);
        }
        self.cursor = p.cursor;
        report.pages += 1;
        report.records += p.emitted;
        report.duplicates += p.duplicates;
        Ok(())
    }

    fn body(&self, from: OffsetDateTime, to: OffsetDateTime, token: Option<&str>) -> Value {
        let mut pagination = json!({"pageSize": self.page_size});
        if let Some(t) = token {
            pagination["pageToken"] = Value::String(t.to_string());
        }
        json!({"meta": {"pagination": pagination}, "data": [(self.spec.item)(from, to)]})
    }

    /// Reads from the cursor up to now minus the settle delay, committing page by page.
    pub async fn poll(&mut self, cancel: &CancellationToken) -> Result<PollReport, StreamError> {
        let mut report = PollReport::default();
        let now = OffsetDateTime::now_utc();
        let end = whole_seconds(now - SETTLE);
        // Windows of at most MAX_WINDOW, one after the other, until caught up with `end`.
        'windows: loop {
            let (mut from, to, mut token, mut resume_from, mut resume_ids, settled) =
                match &self.cursor.window {
                    Some(w) => (
                        w.from,
                        w.to,
                        Some(w.next.clone()),
                        w.resume_from,
                        w.resume_ids.clone(),
                        w.settled,
                    ),
                    None => {
                        let from = whole_seconds(match self.cursor.covered_until {
                            Some(c) if self.cursor.settled => c,
                            Some(c) => c - self.max_lag,
                            None => now
                                .checked_sub(
                                    self.initial_lookback
                                        .try_into()
                                        .unwrap_or(time::Duration::ZERO),
                                )
                                .unwrap_or(now),
                        });
                        // A window must reach past the overlap, or it would re-read only what it has.
                        if end <= from || self.cursor.covered_until.is_some_and(|c| end <= c) {
                            return Ok(report);
                        }
                        let to = end.min(from + MAX_WINDOW.max(self.max_lag * 2));
                        (from, to, None, None, Vec::new(), to + self.max_lag <= now)
                    }
                };
            // When the window closes, only the overlap the next window re-reads is kept.
            let keep_after_close = if settled { to } else { to - self.max_lag };
            // The next page, requested while this one is rendered and committed. Dropped (and
            // so aborted) with the poll; never holds more than one page.
            let mut read_ahead: Option<AbortOnDropHandle<Result<Envelope, ApiError>>> = None;
            // The previous page's commit, made durable by the writer while this page renders.
            let mut pending: Option<Pending> = None;
            loop {
                if cancel.is_cancelled() {
                    self.settle(pending.take(), &mut report).await?;
                    report.cancelled = true;
                    return Ok(report);
                }
                let response = match read_ahead.take() {
                    Some(page) => match page.await {
                        Ok(r) => r,
                        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                        Err(e) => return Err(StreamError::Shape(format!("page read-ahead: {e}"))),
                    },
                    None => {
                        let body = self.body(from, to, token.as_deref());
                        self.client.post(self.spec.kind.spec().path, &body).await
                    }
                };
                let env = match response {
                    Ok(env) => env,
                    // A page token from before a restart may be refused: read the window again
                    // from its resume point (records already written are dropped by id).
                    Err(e @ ApiError::Fail { .. })
                        if token.is_some() && report.pages == 0 && pending.is_none() =>
                    {
                        let restart = resume_from.unwrap_or(from).clamp(from, to);
                        tracing::warn!(tenant = %self.ckpt.key.tenant, stream = %self.ckpt.key.stream, error = %e, from = %restart, "stored page token refused; reading the window again from its resume point");
                        from = restart;
                        token = None;
                        self.emitter.remember(&resume_ids);
                        continue;
                    }
                    Err(e) => {
                        self.settle(pending.take(), &mut report).await?;
                        return Err(e.into());
                    }
                };
                report.requests += 1;
                let recs = match records::extract(env.data.as_deref(), self.spec.field) {
                    Ok(recs) => recs,
                    Err(e) => {
                        self.settle(pending.take(), &mut report).await?;
                        return Err(StreamError::Shape(e.to_string()));
                    }
                };
                let next = env.next_page_token(recs.len()).map(str::to_string);
                // Mimecast's time and the network's overlap the collector's own work: one page
                // in flight while this one is written (tokens are the only thing it needs).
                if let Some(n) = &next {
                    let client = self.client.clone();
                    let body = self.body(from, to, Some(n));
                    let path = self.spec.kind.spec().path;
                    read_ahead = Some(AbortOnDropHandle::new(tokio::spawn(async move {
                        client.post(path, &body).await
                    })));
                }
                let collected_at = OffsetDateTime::now_utc();
                let mut rendered =
                    self.emitter
                        .render(recs.iter().copied(), collected_at, Some(from), Some(from));
                // Ordered endpoints remember only what the next window's overlap re-reads, plus
                // (in the cursor) the ids of the newest second, where a refused token restarts.
                if self.spec.ordered {
                    if let Some(newest) = rendered.newest.map(whole_seconds) {
                        if resume_from.is_none_or(|r| newest > r) {
                            resume_from = Some(newest);
                            resume_ids.clear();
                        }
                    }
                    if let Some(r) = resume_from.map(|r| r.unix_timestamp()) {
                        resume_ids.extend(rendered.seen.iter().filter(|(_, t)| *t >= r));
                    }
                    let tail = keep_after_close.unix_timestamp();
                    rendered.seen.retain(|(_, t)| *t >= tail);
                }
                let cursor = match &next {
                    Some(n) => WindowCursor {
                        covered_until: self.cursor.covered_until,
                        window: Some(OpenWindow {
                            from,
                            to,
                            next: n.clone(),
                            resume_from,
                            resume_ids: resume_ids.clone(),
                            settled,
                        }),
                        settled: self.cursor.settled,
                    },
                    None => WindowCursor {
                        covered_until: Some(to),
                        window: None,
                        settled,
                    },
                };
                let forget_seen_before = next.is_none().then(|| keep_after_close.unix_timestamp());
                let progress = Progress {
                    lines: rendered.lines,
                    events: rendered.emitted,
                    pages: 1,
                    seen: rendered.seen.clone(),
                    forget_seen_before,
                    covered_until: cursor.covered_until,
                };
                // One commit in flight at a time: the previous page's is confirmed (it was
                // being made durable while this page rendered) before this one is sent.
                self.settle(pending.take(), &mut report).await?;
                let in_flight = self.ckpt.send(&cursor, progress).await?;
                pending = Some(Pending {
                    in_flight,
                    cursor,
                    seen: rendered.seen,
                    forget_seen_before,
                    emitted: rendered.emitted,
                    duplicates: rendered.duplicates,
                });
                if next.is_none() {
                    // The next window starts from this one's confirmed end.
                    self.settle(pending.take(), &mut report).await?;
                }
                match next {
                    Some(n) => token = Some(n),
                    None => continue 'windows,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn body_dates_use_mimecasts_format() {
        assert_eq!(
            body_date(datetime!(2026-11-23 10:15:30.5 +01:00)),
            "2026-11-23T09:15:30+0000"
        );
    }

    #[test]
    fn cursor_round_trips() {
        let c = WindowCursor {
            covered_until: Some(datetime!(2026-11-23 10:00 UTC)),
            window: Some(OpenWindow {
                from: datetime!(2026-11-23 09:00 UTC),
                to: datetime!(2026-11-23 10:00 UTC),
                next: "tok".into(),
                resume_from: Some(datetime!(2026-11-23 09:30 UTC)),
                resume_ids: vec![(-5, 1_795_000_000)],
                settled: true,
            }),
            settled: false,
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<WindowCursor>(&text).unwrap(), c);
        assert_eq!(
            serde_json::from_str::<WindowCursor>("{}").unwrap(),
            WindowCursor::default()
        );
    }

    #[test]
    fn archive_query_has_the_between_range() {
        let q = archive_query(
            datetime!(2026-11-23 09:00 UTC),
            datetime!(2026-11-23 10:00 UTC),
        );
        assert!(q.contains(r#"<date select="between" from="2026-11-23T09:00:00+0000" to="2026-11-23T10:00:00+0000"/>"#), "{q}");
        for f in [
            "subject",
            "displayfrom",
            "displayto",
            "receiveddate",
            "size",
            "id",
        ] {
            assert!(q.contains(&format!("<return-field>{f}</return-field>")));
        }
    }

    #[test]
    fn every_window_stream_has_a_spec() {
        for k in [
            StreamKind::TtpUrl,
            StreamKind::TtpAttachment,
            StreamKind::TtpImpersonation,
            StreamKind::Audit,
            StreamKind::MessageTracking,
            StreamKind::ArchiveSearch,
            StreamKind::ArchiveSearchLogs,
        ] {
            let s = spec(k).unwrap();
            assert!((s.item)(
                datetime!(2026-11-23 09:00 UTC),
                datetime!(2026-11-23 10:00 UTC)
            )
            .is_object());
        }
        assert!(spec(StreamKind::SiemCg).is_none());
    }
}
