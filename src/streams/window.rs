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
//! For ordered endpoints the resume point is also a floor within the window: a record older
//! than the newest second written was written already, so a page that repeats the end of the
//! one before (even the first page after a restart) writes nothing twice. An ordered endpoint
//! that broke its order would have its late records dropped: the same exposure as any event
//! indexed later than `max_lag`.

use super::emit::Rendered;
use super::{Dedup, Page, Records, Request, Response, StreamError, StreamKind};
use crate::api::{ApiError, Next};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;
use time::OffsetDateTime;

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

/// Mimecast's body date format: `2026-11-23T10:15:30+0000` (docs/mimecast-api.md#date-formats).
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

/// ISO 8601 with a zone and milliseconds, as the 2.0 REST routes ask ("Extended ISO-8601 format
/// with mandatory time zone", docs/mimecast-api.md#date-formats): `2026-11-23T10:15:30.000Z`.
pub fn iso_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// How an endpoint is asked for the window `[from, to)`.
pub enum Wire {
    /// POST to an `/api/...` function with `data[0] = item(from, to)`; records are `data[]`
    /// (field `None`) or `data[0].<field>[]`.
    Envelope {
        item: fn(from: OffsetDateTime, to: OffsetDateTime) -> Value,
        field: Option<&'static str>,
    },
    /// GET a 2.0 REST route with the window and page size in the query; records are a
    /// top-level array ([`crate::api::rest`]).
    Rest {
        query: fn(
            from: OffsetDateTime,
            to: OffsetDateTime,
            page_size: u32,
        ) -> Vec<(&'static str, String)>,
    },
}

/// How one endpoint is asked for a window, and where its records are.
pub struct WindowSpec {
    pub kind: StreamKind,
    pub wire: Wire,
    /// The request asks for oldest-first order (`oldestFirst: true`,
    /// docs/mimecast-api.md#ttp-logs).
    pub ordered: bool,
    /// Each record is completed by its details (threats, [`super::threat_details`]).
    pub details: bool,
    /// When a window is read again in halves instead of page after page.
    pub split: Split,
}

/// Windows that must be made smaller instead of paged through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Pages are followed to the window's end.
    Never,
    /// A page that names a next page halves the window instead: the endpoint pages by offset
    /// over a list that moves while it is read (reported emails: newest first, and a message
    /// reported again leaves the window, shifting every later one up a place), so only a
    /// window that fits in one page is read safely.
    OnNextPage,
    /// A window whose query answered this many records may have been cut off there (the
    /// Threats route's `limit`): it is read again in halves.
    AtCount(u64),
}

/// The smallest window that is halved; one this short is paged (or closed) as it is.
pub const MIN_SPLIT: Duration = Duration::from_secs(60);

/// The most threats the Threats route answers for one query, across its pages (`limit`,
/// 1-1000, default 5 in third-party code, docs/mimecast-api.md#threats-api). Asked for in full; a
/// window that reaches it is split.
pub const THREATS_LIMIT: u64 = 1000;

pub fn spec(kind: StreamKind) -> Option<WindowSpec> {
    use StreamKind::*;
    let envelope =
        |item: fn(OffsetDateTime, OffsetDateTime) -> Value, field| Wire::Envelope { item, field };
    let wire = match kind {
        // docs/mimecast-api.md#ttp-url-logs: oldestFirst, from/to; route and scanResult "all" ask
        // for everything.
        TtpUrl => envelope(
            |f, t| json!({"from": body_date(f), "to": body_date(t), "oldestFirst": true, "route": "all", "scanResult": "all"}),
            Some("clickLogs"),
        ),
        // docs/mimecast-api.md#ttp-attachment-logs
        TtpAttachment => envelope(
            |f, t| json!({"from": body_date(f), "to": body_date(t), "oldestFirst": true, "route": "all", "result": "all"}),
            Some("attachmentLogs"),
        ),
        // docs/mimecast-api.md#ttp-impersonation-logs
        TtpImpersonation => envelope(
            |f, t| json!({"from": body_date(f), "to": body_date(t), "oldestFirst": true}),
            Some("impersonationLogs"),
        ),
        // docs/mimecast-api.md#dlp-logs: the same request fields as the TTP logs (Postman
        // collection); oldestFirst is asked for but not relied on.
        Dlp => envelope(
            |f, t| json!({"from": body_date(f), "to": body_date(t), "oldestFirst": true}),
            Some("dlpLogs"),
        ),
        // docs/mimecast-api.md#audit-events: both dates required; records directly in data[].
        Audit => envelope(
            |f, t| json!({"startDateTime": body_date(f), "endDateTime": body_date(t)}),
            None,
        ),
        // docs/mimecast-api.md#message-tracking: item fields UNCONFIRMED; start/end as documented.
        MessageTracking => envelope(
            |f, t| json!({"start": body_date(f), "end": body_date(t), "searchReason": "mimecast-collector export"}),
            Some("trackedEmails"),
        ),
        // docs/mimecast-api.md#archive-search-logs: start/end are documented for get-search-logs;
        // records filtered by time here too.
        ArchiveSearchLogs => envelope(
            |f, t| json!({"start": body_date(f), "end": body_date(t)}),
            Some("logs"),
        ),
        // docs/mimecast-api.md#archive-search: the window is a `between` date range inside the XML
        // query; XSOAR reads data[0].items.
        ArchiveSearch => envelope(
            |f, t| json!({"admin": true, "query": archive_query(f, t)}),
            Some("items"),
        ),
        // docs/mimecast-api.md#held-message-release-logs: start/end (Elastic sends RFC 3339;
        // Mimecast's own form is accepted by every /api route), records in data[0].heldReleaseLogs,
        // no order parameter.
        MessageRelease => envelope(
            |f, t| json!({"start": body_date(f), "end": body_date(t)}),
            Some("heldReleaseLogs"),
        ),
        // docs/mimecast-api.md#threats-api: the end is exclusive; the page size is 1-100.
        Threats => Wire::Rest {
            query: |f, t, n| {
                vec![
                    ("timestampRangeStartsAt", iso_date(f)),
                    ("timestampRangeEndsAt", iso_date(t)),
                    ("pageSize", n.clamp(1, 100).to_string()),
                    ("limit", THREATS_LIMIT.to_string()),
                    // Newest first: where a query is cut at its limit, what is left out is the
                    // oldest, which the overlap had read before (third-party code,
                    // docs/mimecast-api.md#threats-api).
                    ("orderBy", "timestamp:desc".into()),
                ]
            },
        },
        // docs/mimecast-api.md#reported-emails: newest first whatever is asked; page sizes 25, 50,
        // 100, 250, 500 (config validation allows only those); pages are followed by
        // `meta.nextPage` links.
        ReportedEmails => Wire::Rest {
            query: |f, t, n| {
                vec![
                    ("dateRangeStartsAt", iso_date(f)),
                    ("dateRangeEndsAt", iso_date(t)),
                    ("pageSize", n.to_string()),
                ]
            },
        },
        _ => return None,
    };
    // Oldest first is documented for the TTP logs (docs/mimecast-api.md#ttp-url-logs); DLP takes
    // the same field in a third-party collection only, so its order is not relied on.
    let ordered = matches!(kind, TtpUrl | TtpAttachment | TtpImpersonation);
    let split = match kind {
        ReportedEmails => Split::OnNextPage,
        Threats => Split::AtCount(THREATS_LIMIT),
        _ => Split::Never,
    };
    Some(WindowSpec {
        kind,
        wire,
        ordered,
        details: kind == Threats,
        split,
    })
}

/// The XML query for message metadata received in `[from, to)`
/// (docs/mimecast-api.md#archive-search, XSOAR's default query with a `between` range).
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
    /// Routes whose windows are halved ([`Split`]): the length, in seconds, of the last window
    /// read whole. The next window is twice that at most, so a busy stream does not start
    /// every window at six hours and halve it down again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_s: Option<i64>,
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
    /// `next` came with a page that had no records (a placeholder, if Mimecast refuses it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_empty: bool,
    /// Such a token was refused once already and the window read again: refused again, the
    /// window is complete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub placeholder_seen: bool,
    /// Records this window has answered so far (endpoints that cap a query, see [`Split`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub read: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl super::Cursor for WindowCursor {
    fn describe(&self) -> String {
        match (&self.covered_until, &self.window) {
            (_, Some(open)) => format!(
                "reading window to {}",
                crate::event::rfc3339::format(open.to)
            ),
            (Some(c), None) => format!("until {}", crate::event::rfc3339::format(*c)),
            (None, None) => "start".into(),
        }
    }

    fn complete_until(&self) -> Option<OffsetDateTime> {
        self.covered_until
    }

    fn since(since: OffsetDateTime) -> Result<WindowCursor, String> {
        Ok(WindowCursor {
            covered_until: Some(since),
            window: None,
            settled: false,
            span_s: None,
        })
    }
}

/// How many records a REST page holds.
fn count_items(items: &serde_json::value::RawValue) -> Result<u64, StreamError> {
    serde_json::from_str::<Vec<serde::de::IgnoredAny>>(items.get())
        .map(|v| v.len() as u64)
        .map_err(|e| StreamError::Shape(format!("records are not an array: {e}")))
}

/// The hooks of a window stream.
pub struct WindowSource {
    pub spec: WindowSpec,
    pub page_size: u32,
    pub initial_lookback: Duration,
    pub max_lag: Duration,
    /// This poll's "now" and where its windows stop (Mimecast's clock).
    now: OffsetDateTime,
    end: OffsetDateTime,
}

impl WindowSource {
    pub fn new(
        spec: WindowSpec,
        page_size: u32,
        initial_lookback: Duration,
        max_lag: Duration,
    ) -> WindowSource {
        let now = OffsetDateTime::now_utc();
        WindowSource {
            spec,
            page_size,
            initial_lookback,
            max_lag,
            now,
            end: whole_seconds(now - SETTLE),
        }
    }

    fn body(&self, item: Value, token: Option<&str>) -> Value {
        let mut pagination = json!({"pageSize": self.page_size});
        if let Some(t) = token {
            pagination["pageToken"] = Value::String(t.to_string());
        }
        json!({"meta": {"pagination": pagination}, "data": [item]})
    }

    /// The window a closed cursor opens next, or `None` when caught up with this poll's end.
    fn next_window(&self, c: &WindowCursor) -> Option<OpenWindow> {
        let from = whole_seconds(match c.covered_until {
            Some(c_until) if c.settled => c_until,
            Some(c_until) => c_until - self.max_lag,
            None => self
                .now
                .checked_sub(
                    self.initial_lookback
                        .try_into()
                        .unwrap_or(time::Duration::ZERO),
                )
                .unwrap_or(self.now),
        });
        // A window must reach past the overlap, or it would re-read only what it has.
        if self.end <= from || c.covered_until.is_some_and(|cu| self.end <= cu) {
            return None;
        }
        let longest = time::Duration::try_from(MAX_WINDOW.max(self.max_lag * 2))
            .unwrap_or(time::Duration::HOUR);
        let len = match c.span_s {
            // Twice what fit last, and always past the overlap by a minute.
            Some(span) => {
                let past = c.covered_until.map_or(time::Duration::ZERO, |cu| cu - from);
                let twice: time::Duration = time::Duration::seconds(span) * 2;
                twice.max(past + MIN_SPLIT).min(longest)
            }
            None => longest,
        };
        let to = self.end.min(from + len);
        Some(OpenWindow {
            from,
            to,
            next: String::new(),
            resume_from: None,
            resume_ids: Vec::new(),
            settled: to + self.max_lag <= self.now,
            after_empty: false,
            placeholder_seen: false,
            read: 0,
        })
    }

    /// The window being read from `c`: its open one, or the next.
    fn window(&self, c: &WindowCursor) -> Option<OpenWindow> {
        c.window.clone().or_else(|| self.next_window(c))
    }

    /// When a window closes, the ids of its last `max_lag` are kept, settled or not: the next
    /// window starts at its end when it is settled, but the one after that may be short (cut
    /// at "now", or halved) and not settled, and its overlap then reaches back past this
    /// window's end. Forgetting them there repeated the events of that overlap.
    fn keep_after_close(&self, w: &OpenWindow) -> OffsetDateTime {
        w.to - self.max_lag
    }
}

impl super::Source for WindowSource {
    type Cursor = WindowCursor;

    fn begin(&mut self, _cursor: &WindowCursor, now: OffsetDateTime) {
        self.now = now;
        self.end = whole_seconds(now - SETTLE);
    }

    fn request(&self, c: &WindowCursor) -> Option<Request> {
        let w = self.window(c)?;
        let token = (!w.next.is_empty()).then_some(w.next.as_str());
        let path = self.spec.kind.spec().path;
        Some(match &self.spec.wire {
            Wire::Envelope { item, .. } => Request::Post {
                path,
                body: self.body(item(w.from, w.to), token),
            },
            Wire::Rest { query } => {
                let query = query(w.from, w.to, self.page_size);
                match token.and_then(Next::parse) {
                    Some(next) => Request::rest_next(path, query, &next),
                    None => Request::Get { path, query },
                }
            }
        })
    }

    fn page(
        &mut self,
        c: &WindowCursor,
        response: Response,
    ) -> Result<Page<WindowCursor>, StreamError> {
        let (records, next_token) = match (response, &self.spec.wire) {
            (Response::Envelope(env), Wire::Envelope { field, .. }) => {
                let next = env
                    .meta
                    .pagination
                    .as_ref()
                    .and_then(|p| p.next.as_deref())
                    .filter(|t| !t.is_empty())
                    .map(str::to_string);
                (Records::Envelope { env, field: *field }, next)
            }
            (Response::Rest(page), Wire::Rest { .. }) => (
                Records::Array(page.items),
                page.next.as_ref().map(|n| n.as_str().to_string()),
            ),
            _ => {
                return Err(StreamError::Shape(
                    "the answer is not of the kind asked for".into(),
                ))
            }
        };
        let w = self
            .window(c)
            .ok_or_else(|| StreamError::Shape("a page arrived with no window open".into()))?;
        let answered = match &records {
            Records::Array(items) => count_items(items)?,
            _ => 0,
        };
        // A window too big for the route is made smaller: its part past what is known complete
        // is halved (the overlap re-read at its start was read before, and a window that ended
        // inside it would move the checkpoint back); once that part is a minute, the overlap
        // re-read is given up for this window (late events in it are the price of a minute
        // busier than a page), and only then is the window paged or closed as it is.
        let floor = c.covered_until.map_or(w.from, |cu| cu.max(w.from));
        let too_big = match (self.spec.split, &next_token) {
            (Split::OnNextPage, Some(_)) => true,
            (Split::AtCount(limit), None) => w.read + answered >= limit,
            _ => false,
        };
        let smaller = if !too_big {
            None
        } else if w.to - floor > MIN_SPLIT {
            Some((w.from, whole_seconds(floor + (w.to - floor) / 2)))
        } else if w.from < floor {
            tracing::warn!(from = %crate::event::rfc3339::format(floor), to = %crate::event::rfc3339::format(w.to), "a minute holds more than one answer of this route: its overlap re-read for late events is skipped");
            Some((floor, w.to))
        } else {
            if let Split::AtCount(limit) = self.spec.split {
                tracing::error!(from = %crate::event::rfc3339::format(w.from), to = %crate::event::rfc3339::format(w.to), limit, "a window of a minute answered the route's whole limit; the oldest events of that minute may be missing");
            }
            None
        };
        let split = smaller.is_some();
        // An empty page that still names a next page is followed: the data may be behind it.
        let (next, forget) = match next_token {
            // The window is read again in halves; what this page holds is written now, and
            // dropped by id when the halves read it again (an open window keeps its ids).
            _ if split => (
                WindowCursor {
                    covered_until: c.covered_until,
                    window: Some(OpenWindow {
                        from: smaller.map_or(w.from, |(f, _)| f),
                        to: smaller.map_or(w.to, |(_, t)| t),
                        next: String::new(),
                        after_empty: false,
                        placeholder_seen: false,
                        read: 0,
                        ..w.clone()
                    }),
                    settled: c.settled,
                    span_s: c.span_s,
                },
                None,
            ),
            Some(n) => (
                WindowCursor {
                    covered_until: c.covered_until,
                    // `after_empty` is set once the page's records are counted (`rendered`).
                    window: Some(OpenWindow {
                        next: n,
                        after_empty: false,
                        read: w.read + answered,
                        ..w.clone()
                    }),
                    settled: c.settled,
                    span_s: c.span_s,
                },
                None,
            ),
            None => (
                WindowCursor {
                    covered_until: Some(w.to),
                    window: None,
                    settled: w.settled,
                    // A window read whole sizes the next, on routes whose windows are halved.
                    span_s: (self.spec.split != Split::Never)
                        .then(|| (w.to - w.from).whole_seconds()),
                },
                Some(self.keep_after_close(&w).unix_timestamp()),
            ),
        };
        // After a closed window, the next one follows in the same poll if there is one.
        let more = next.window.is_some() || self.next_window(&next).is_some();
        let continues = next.window.is_some() && !split;
        let details = match (&records, self.spec.details) {
            (Records::Array(items), true) => super::threat_details::requests(items)?,
            _ => Vec::new(),
        };
        Ok(Page {
            records,
            // Counted by the driver as it renders them (one pass over the page).
            received: 0,
            next,
            more,
            continues,
            resume: None,
            files: Vec::new(),
            body: None,
            details,
            dedup: Dedup {
                remember_from: Some(w.from),
                // Oldest first: anything older than the newest second written was written
                // (a page that repeats the end of the one before, even across a restart).
                not_before: Some(match (self.spec.ordered, w.resume_from) {
                    (true, Some(r)) => r.max(w.from),
                    _ => w.from,
                }),
                forget_before: forget,
                newest_before: Some(w.to),
            },
        })
    }

    /// Ordered endpoints remember only what the next window's overlap re-reads, plus (in the
    /// cursor) the ids of the newest second, where a refused token restarts. Every window
    /// notes whether its next token came with an empty page.
    fn rendered(&mut self, next: &mut WindowCursor, rendered: &mut Rendered) {
        if let Some(w) = next.window.as_mut() {
            w.after_empty = rendered.emitted + rendered.duplicates == 0;
        }
        if !self.spec.ordered {
            return;
        }
        let Some(w) = next.window.as_mut() else {
            // Closing page: the tail the next window re-reads is what is kept.
            if let Some(to) = next.covered_until {
                // As `keep_after_close`: the last `max_lag`, settled or not.
                let tail = (to - self.max_lag).unix_timestamp();
                rendered.seen.retain(|(_, t)| *t >= tail);
            }
            return;
        };
        if let Some(newest) = rendered.newest.map(whole_seconds) {
            if w.resume_from.is_none_or(|r| newest > r) {
                w.resume_from = Some(newest);
                w.resume_ids.clear();
            }
        }
        if let Some(r) = w.resume_from.map(|r| r.unix_timestamp()) {
            w.resume_ids
                .extend(rendered.seen.iter().filter(|(_, t)| *t >= r));
        }
        let tail = self.keep_after_close(w).unix_timestamp();
        rendered.seen.retain(|(_, t)| *t >= tail);
    }

    /// Threats: each record becomes the threat with its details (see `threat_details`).
    fn with_details(
        &mut self,
        page: &mut Page<WindowCursor>,
        answers: Vec<Option<Result<Response, ApiError>>>,
    ) -> Result<(), StreamError> {
        if let Records::Array(items) = &page.records {
            let merged = super::threat_details::merge(items, answers)?;
            page.received = merged.len();
            page.records = Records::Owned(merged);
        }
        Ok(())
    }

    fn carried_ids(&self, c: &WindowCursor) -> Vec<(i64, i64)> {
        c.window
            .as_ref()
            .map(|w| w.resume_ids.clone())
            .unwrap_or_default()
    }

    /// A refused page token reads the window again: ordered endpoints from the newest second
    /// written (its ids travel in the cursor), others from the window's start. An unordered
    /// window is also halved, so that a token that keeps expiring (long rate-limit pauses)
    /// cannot restart the same long window forever. A token that followed an empty page was a
    /// placeholder: the window is complete.
    fn restart(&mut self, c: &WindowCursor) -> Option<WindowCursor> {
        let w = c.window.as_ref().filter(|w| !w.next.is_empty())?;
        // A token that came with an empty page and is refused: read the window again (the
        // data may be behind it); refused again at the same place after that re-read, it was
        // a placeholder and the window is complete.
        if w.after_empty && w.placeholder_seen {
            return Some(WindowCursor {
                covered_until: Some(w.to),
                window: None,
                settled: w.settled,
                span_s: c.span_s,
            });
        }
        let from = w.resume_from.unwrap_or(w.from).clamp(w.from, w.to);
        // Only the part past the checkpoint is halved (as when a window is split): a window
        // ending inside the overlap would move the checkpoint back.
        let floor = c.covered_until.map_or(w.from, |cu| cu.clamp(w.from, w.to));
        let to = if self.spec.ordered || w.to - floor <= time::Duration::minutes(2) {
            w.to
        } else {
            whole_seconds(floor + (w.to - floor) / 2)
        };
        Some(WindowCursor {
            covered_until: c.covered_until,
            window: Some(OpenWindow {
                from,
                to,
                next: String::new(),
                resume_from: w.resume_from,
                resume_ids: w.resume_ids.clone(),
                settled: w.settled && to == w.to,
                after_empty: false,
                placeholder_seen: w.placeholder_seen || w.after_empty,
                read: 0,
            }),
            settled: c.settled,
            span_s: c.span_s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::Source;
    use time::macros::datetime;

    /// A source of `kind` (24 h lookback, 5 min `max_lag`) at the start of a poll at `now`.
    fn source_at(kind: StreamKind, now: OffsetDateTime) -> WindowSource {
        let mut src = WindowSource::new(
            spec(kind).unwrap(),
            100,
            Duration::from_secs(86_400),
            Duration::from_secs(300),
        );
        src.begin(&WindowCursor::default(), now);
        src
    }

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
                after_empty: false,
                placeholder_seen: false,
                read: 0,
            }),
            settled: false,
            span_s: None,
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
    fn every_window_stream_has_a_spec_that_asks_for_the_window() {
        let (from, to) = (
            datetime!(2026-11-23 09:00 UTC),
            datetime!(2026-11-23 10:00 UTC),
        );
        for k in StreamKind::ALL {
            let Some(s) = spec(k) else {
                assert_ne!(super::super::family(k), super::super::Family::Window, "{k}");
                continue;
            };
            match s.wire {
                Wire::Envelope { item, .. } => {
                    let text = item(from, to).to_string();
                    assert!(text.contains("2026-11-23T09:00:00+0000"), "{k}: {text}");
                }
                Wire::Rest { query } => {
                    let q = query(from, to, 500);
                    let has = |v: &str| q.iter().any(|(_, x)| x == v);
                    assert!(
                        has("2026-11-23T09:00:00.000Z") && has("2026-11-23T10:00:00.000Z"),
                        "{k}: {q:?}"
                    );
                    // Threats pages hold 1 to 100 events whatever is configured.
                    if k == StreamKind::Threats {
                        assert!(has("100"), "{q:?}");
                    }
                }
            }
        }
        assert!(spec(StreamKind::SiemCg).is_none());
    }

    /// A window halved because its page named a next one never ends before what is already
    /// complete: halving the overlap re-read at its start would move the checkpoint back (and
    /// a stream whose overlap alone fills a page would walk backwards forever).
    #[test]
    fn a_split_window_never_ends_before_the_checkpoint() {
        use crate::api::{Next, RestPage};
        let mut src = source_at(StreamKind::ReportedEmails, datetime!(2026-11-23 12:00 UTC));
        let mut c = WindowCursor {
            covered_until: Some(datetime!(2026-11-23 11:00 UTC)),
            window: None,
            settled: false,
            span_s: None,
        };
        let full = || {
            Response::Rest(RestPage {
                items: serde_json::value::RawValue::from_string("[{}]".into()).unwrap(),
                next: Some(Next::Token("https://h/x?offset=1".into())),
            })
        };
        let mut ends = Vec::new();
        let mut froms = Vec::new();
        for _ in 0..20 {
            let page = src.page(&c, full()).unwrap();
            let w = page.next.window.clone().unwrap();
            assert!(w.to > datetime!(2026-11-23 11:00 UTC), "{w:?}");
            assert!(w.next.is_empty() || w.to - datetime!(2026-11-23 11:00 UTC) <= MIN_SPLIT);
            ends.push(w.to);
            froms.push(w.from);
            if !w.next.is_empty() {
                break;
            }
            c = page.next;
        }
        // Before paging, the overlap re-read is given up: the last window starts at the
        // checkpoint, the ones before it 5 minutes earlier.
        assert_eq!(
            froms.last(),
            Some(&datetime!(2026-11-23 11:00 UTC)),
            "{froms:?}"
        );
        assert_eq!(froms[0], datetime!(2026-11-23 10:55 UTC), "{froms:?}");
        // Halved (on whole seconds) until the part past the checkpoint is one minute, then
        // narrowed to start at the checkpoint, then paged.
        let halved = &ends[..ends.len() - 2];
        assert!(halved.windows(2).all(|p| p[1] < p[0]), "{ends:?}");
        assert!(ends.iter().all(|t| t.nanosecond() == 0), "{ends:?}");
        assert!(ends.len() > 3, "{ends:?}");
    }

    /// A route whose windows are halved starts its next window at twice what fit last (and
    /// always past the overlap), not at six hours again.
    #[test]
    fn the_next_window_is_twice_the_last_that_fit() {
        let src = source_at(StreamKind::Threats, datetime!(2026-11-23 12:00 UTC));
        let at = |span_s, settled| WindowCursor {
            covered_until: Some(datetime!(2026-11-23 08:00 UTC)),
            window: None,
            settled,
            span_s,
        };
        let w = src.next_window(&at(Some(600), true)).unwrap();
        assert_eq!(
            (w.from, w.to),
            (
                datetime!(2026-11-23 08:00 UTC),
                datetime!(2026-11-23 08:20 UTC)
            )
        );
        // Not settled: from 5 minutes back, and at least a minute past the checkpoint.
        let w = src.next_window(&at(Some(60), false)).unwrap();
        assert_eq!(
            (w.from, w.to),
            (
                datetime!(2026-11-23 07:55 UTC),
                datetime!(2026-11-23 08:01 UTC)
            )
        );
        let w = src.next_window(&at(None, true)).unwrap();
        assert_eq!(w.to, datetime!(2026-11-23 14:00 UTC).min(src.end));
    }

    /// A refused token halves an unordered window from the checkpoint, never into the overlap
    /// before it: a short window (sized from the last that fit) must not end behind what is
    /// already complete.
    #[test]
    fn a_restart_never_ends_a_window_before_the_checkpoint() {
        let mut src = source_at(StreamKind::Threats, datetime!(2026-11-23 12:00 UTC));
        let c = WindowCursor {
            covered_until: Some(datetime!(2026-11-23 08:00 UTC)),
            window: Some(OpenWindow {
                from: datetime!(2026-11-23 07:55 UTC),
                to: datetime!(2026-11-23 08:01 UTC),
                next: "tok".into(),
                resume_from: None,
                resume_ids: Vec::new(),
                settled: false,
                after_empty: false,
                placeholder_seen: false,
                read: 0,
            }),
            settled: false,
            span_s: Some(60),
        };
        let w = src.restart(&c).unwrap().window.unwrap();
        assert_eq!(w.to, datetime!(2026-11-23 08:01 UTC), "{w:?}");
        let long = WindowCursor {
            window: c.window.clone().map(|w| OpenWindow {
                to: datetime!(2026-11-23 09:00 UTC),
                ..w
            }),
            ..c
        };
        let w = src.restart(&long).unwrap().window.unwrap();
        assert_eq!(w.to, datetime!(2026-11-23 08:30 UTC), "{w:?}");
    }
}
