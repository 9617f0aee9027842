//! How each Mimecast endpoint is read: one [`Source`] of hooks per kind of endpoint, all run by
//! one [`driver`].
//!
//! Exactly-once output depends on a handful of rules (one commit in flight, ids visible to
//! dedup before their commit is confirmed, a cursor that never moves without its lines, a
//! server that stops making progress caught and reported). They hold for every stream only if
//! they are written once: a source therefore knows its endpoint and nothing else. From a typed
//! cursor it builds the next request; from a response it returns records, the next cursor and
//! whether more follows. The driver owns the loop, retries of refused continuations,
//! cancellation, rendering, commits, and what a poll reports.
//!
//! Adding a stream: a row in [`crate::catalog`], and either a new file of hooks implementing
//! [`Source`] or a table entry in an existing one (a new log read by time window, `/api/...`
//! POST or 2.0 REST GET, is a [`window`] spec), then one arm in [`family`].

pub mod batch_files;
pub mod decode;
pub mod driver;
pub mod emit;
pub mod prefetch;
pub mod probe;
pub mod records;
pub mod snapshot;
pub mod threat_details;
pub mod token_files;
pub mod window;

pub use crate::catalog::{ApiVersion, StreamKind, SIEM_CG_TYPES, SIEM_CI_TYPES, THREAT_FEED_TYPES};

use crate::api::{ApiError, Download, Envelope, Next, RestPage, SiemPage, Streamed};
use crate::sink::writer::{WriteError, WriteErrorKind};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt::Debug;
use time::OffsetDateTime;

/// What one poll did, for the log line after it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    pub records: u64,
    pub duplicates: u64,
    pub pages: u64,
    pub requests: u64,
    /// Stopped early for shutdown (after committing the last complete page).
    pub cancelled: bool,
}

/// Why a poll stopped.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("writing output: {0}")]
    Write(#[from] WriteError),
    #[error("{0}")]
    Shape(String),
    /// The server answered with the continuation it was asked for: reading on would write the
    /// same records again forever. Nothing of that answer is written.
    #[error("no progress: Mimecast answered {what} with the same continuation it was sent; nothing of that answer was written, and the stream retries at its next poll")]
    NoProgress { what: String },
}

impl StreamError {
    /// Errors an operator must fix; the stream then polls only at its interval and says so.
    pub fn is_permanent(&self) -> bool {
        match self {
            StreamError::Api(e) => !e.is_transient(),
            StreamError::Write(e) => {
                e.kind == WriteErrorKind::StdoutClosed || e.kind == WriteErrorKind::Closed
            }
            StreamError::Shape(_) | StreamError::NoProgress { .. } => false,
        }
    }
}

/// A cursor as a stream stores it: serialisable, and the only code that knows its own meaning
/// (for `status`, lag and `reset --since`).
pub trait Cursor:
    Serialize + DeserializeOwned + Default + Clone + PartialEq + Debug + Send + Sync + 'static
{
    /// A short description for `status` and the poll log line.
    fn describe(&self) -> String;
    /// Everything before this instant is known to be written (for lag); `None` if unknown.
    fn complete_until(&self) -> Option<OffsetDateTime>;
    /// The cursor that starts reading at `since` (`reset --since`), or why there is none.
    fn since(since: OffsetDateTime) -> Result<Self, String>;
}

/// One request a source asks for. Requests are compared: a source that asks for the same
/// request right after it was answered is making no progress.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// POST to an `/api/...` function answering an envelope (`fail[]` checked).
    Post { path: &'static str, body: Value },
    /// POST to a function answering a file, or an envelope when there is none.
    Download { path: &'static str, body: Value },
    /// The same, with the file left unread, to be streamed ([`Page::body`]).
    Stream { path: &'static str, body: Value },
    /// GET a 2.0 SIEM route.
    Siem {
        path: &'static str,
        query: Vec<(&'static str, String)>,
    },
    /// GET a 2.0 REST route answering a page of records ([`RestPage`]).
    Get {
        path: &'static str,
        query: Vec<(&'static str, String)>,
    },
    /// Follow the next-page link a REST route answered with (on the tenant's host only).
    Follow { url: url::Url },
    /// GET a 2.0 REST route answering one object (a threat's details).
    GetOne {
        path: String,
        query: Vec<(&'static str, String)>,
    },
}

impl Request {
    pub fn path(&self) -> &str {
        match self {
            Request::Post { path, .. }
            | Request::Download { path, .. }
            | Request::Stream { path, .. }
            | Request::Siem { path, .. }
            | Request::Get { path, .. } => path,
            Request::Follow { url } => url.path(),
            Request::GetOne { path, .. } => path,
        }
    }

    /// The request that continues a REST listing: a link is followed, a token is sent back.
    pub fn rest_next(
        path: &'static str,
        mut query: Vec<(&'static str, String)>,
        next: &Next,
    ) -> Request {
        match next {
            Next::Uri(url) => Request::Follow { url: url.clone() },
            Next::Token(t) => {
                query.push((crate::api::rest::TOKEN_PARAM, t.clone()));
                Request::Get { path, query }
            }
        }
    }
}

/// The answer to a [`Request`], of the matching kind.
#[derive(Debug)]
pub enum Response {
    Envelope(Envelope),
    Download(Download),
    Stream(Streamed),
    Siem(SiemPage),
    Rest(RestPage),
    One(Box<RawValue>),
}

/// A file answered in the response itself, read as it streams in (SIEM logs of API 1.0).
#[derive(Debug)]
pub struct Body {
    /// What the cursor calls it while it is being read.
    pub key: String,
    pub response: reqwest::Response,
}

/// A record with what a source decided about it beyond the record itself.
#[derive(Debug)]
pub struct Record {
    pub raw: Box<RawValue>,
    /// Replaces the normalized `action` (directory: added / changed / removed).
    pub action: Option<&'static str>,
    /// Replaces the normalized id.
    pub id: Option<String>,
}

impl Record {
    pub fn plain(raw: Box<RawValue>) -> Record {
        Record {
            raw,
            action: None,
            id: None,
        }
    }
}

/// The records of a page, kept in the buffer they arrived in where possible.
#[derive(Debug, Default)]
pub enum Records {
    #[default]
    None,
    /// `data[]` (field `None`) or `data[0].<field>[]` of an envelope.
    Envelope {
        env: Envelope,
        field: Option<&'static str>,
    },
    Owned(Vec<Record>),
    /// A JSON array of records (a REST page).
    Array(Box<RawValue>),
}

/// How a page's records are checked against what was written before.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dedup {
    /// Remember the ids of events at or after this instant (and drop repeats within the page);
    /// `None`: the endpoint never re-reads, nothing is remembered.
    pub remember_from: Option<OffsetDateTime>,
    /// Drop events dated before this (an endpoint that ignored the requested window).
    pub not_before: Option<OffsetDateTime>,
    /// Once this page is committed, forget remembered ids older than this (unix seconds).
    pub forget_before: Option<i64>,
    /// Events dated at or after this do not count as the newest written (a record without a
    /// usable time is dated when it was collected).
    pub newest_before: Option<OffsetDateTime>,
}

/// A pre-signed file whose lines are records (SIEM batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// What identifies the file across listings: its URL without the signed query.
    pub key: String,
    pub url: url::Url,
}

/// A request that completes one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    /// The record's event id: a record already written is not completed again (its answer
    /// would be dropped with the record).
    pub id: String,
    pub request: Request,
}

/// What a source made of one response.
#[derive(Debug)]
pub struct Page<C> {
    pub records: Records,
    /// Records the response carried (for the bound on empty pages that still continue).
    pub received: usize,
    /// The cursor once this page (and its files) is written.
    pub next: C,
    /// Another request follows in this poll.
    pub more: bool,
    /// The next request continues this same list (a page token, not a new window or step):
    /// empty pages that keep continuing are bounded.
    pub continues: bool,
    /// The cursor the page was read from, as the source understands it, when that differs
    /// from the stored one (a cursor of an older version, translated).
    pub resume: Option<C>,
    /// Files to read, in order, before `next` is committed.
    pub files: Vec<FileRef>,
    /// A file in the answer itself, read before `next` is committed.
    pub body: Option<Body>,
    /// Requests that complete the records (a threat's details), one per record where it has
    /// one; the driver runs them and hands the answers to [`Source::with_details`].
    pub details: Vec<Option<Detail>>,
    pub dedup: Dedup,
}

impl<C> Page<C> {
    pub fn empty(next: C, more: bool) -> Page<C> {
        Page {
            records: Records::None,
            received: 0,
            next,
            more,
            continues: false,
            resume: None,
            files: Vec::new(),
            body: None,
            details: Vec::new(),
            dedup: Dedup::default(),
        }
    }
}

/// What the driver tells a source after a file could not be decoded.
#[derive(Debug)]
pub struct FileFailure<C> {
    /// The cursor to commit (attempts counted, or the file marked done when quarantined).
    pub cursor: C,
    /// The file is given up on: recorded in the state database and `status`, with the cursor
    /// that reads it again (`reset --replay-quarantined`).
    pub quarantined: Option<C>,
}

/// The hooks of one kind of endpoint. No loop, no commit, no cancellation: the driver does those.
pub trait Source: Send + 'static {
    type Cursor: Cursor;

    /// Once per poll, before the first request, with Mimecast's own "now".
    fn begin(&mut self, _cursor: &Self::Cursor, _now: OffsetDateTime) {}

    /// The request that continues from `cursor`, or `None` when there is nothing to read now.
    fn request(&self, cursor: &Self::Cursor) -> Option<Request>;

    /// What a response to `request(cursor)` means.
    fn page(
        &mut self,
        cursor: &Self::Cursor,
        response: Response,
    ) -> Result<Page<Self::Cursor>, StreamError>;

    /// After the page is rendered, before it is committed: the cursor may keep what it needs of
    /// the rendered ids, and `seen` may be cut to what must be remembered.
    fn rendered(&mut self, _next: &mut Self::Cursor, _rendered: &mut emit::Rendered) {}

    /// A request that carried a continuation was refused (expired, or issued before a restart):
    /// the cursor that reads again from a point known to be safe, or `None` to fail the poll.
    fn restart(&mut self, _cursor: &Self::Cursor) -> Option<Self::Cursor> {
        None
    }

    /// Ids the cursor itself carries that dedup must know (a restart point's newest second).
    fn carried_ids(&self, _cursor: &Self::Cursor) -> Vec<(i64, i64)> {
        Vec::new()
    }

    /// Lines of the file `key` already written, to skip.
    fn file_start(&self, _cursor: &Self::Cursor, _key: &str) -> u64 {
        0
    }

    /// The cursor once `lines` lines of the file `key` are written (`finished`: all of it).
    fn file_progress(
        &self,
        cursor: &Self::Cursor,
        _key: &str,
        _lines: u64,
        _finished: bool,
    ) -> Self::Cursor {
        cursor.clone()
    }

    /// The cursor to commit once a page's files are written: `next` as the page said, and
    /// `current` as the files' chunks left it (a source that keeps its own progress in the
    /// cursor takes it from there).
    fn after_files(&self, _current: &Self::Cursor, next: Self::Cursor) -> Self::Cursor {
        next
    }

    /// The answers to the page's [`Page::details`] requests, in the same order (`None` where
    /// the record had none): the source completes the page's records with them.
    fn with_details(
        &mut self,
        _page: &mut Page<Self::Cursor>,
        _answers: Vec<Option<Result<Response, ApiError>>>,
    ) -> Result<(), StreamError> {
        Ok(())
    }

    /// The file `key` could not be decoded.
    fn file_failed(&self, cursor: &Self::Cursor, _key: &str) -> FileFailure<Self::Cursor> {
        FileFailure {
            cursor: cursor.clone(),
            quarantined: None,
        }
    }
}

/// Which source reads a stream. One arm per kind of endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Window,
    BatchFiles,
    TokenFiles,
    Snapshot,
}

pub fn family(kind: StreamKind) -> Family {
    use StreamKind::*;
    match kind {
        SiemCg | SiemCi => Family::BatchFiles,
        SiemMta | ThreatIntel => Family::TokenFiles,
        Dashboard | Directory => Family::Snapshot,
        TtpUrl | TtpAttachment | TtpImpersonation | Audit | ArchiveSearch | ArchiveSearchLogs
        | MessageTracking | Dlp | MessageRelease | Threats | ReportedEmails => Family::Window,
    }
}

fn parse<C: Cursor>(text: Option<&str>) -> Result<C, String> {
    match text {
        Some(t) => serde_json::from_str(t).map_err(|e| {
            format!(
                "stored checkpoint is unreadable ({e}); reset it with `mimecast-collector reset`"
            )
        }),
        None => Ok(C::default()),
    }
}

/// Calls `f` with the stored cursor of `kind` parsed as its own type.
macro_rules! with_cursor {
    ($kind:expr, $text:expr, |$c:ident| $body:expr) => {
        match family($kind) {
            Family::Window => parse::<window::WindowCursor>($text).map(|$c| $body),
            Family::BatchFiles => parse::<batch_files::BatchCursor>($text).map(|$c| $body),
            Family::TokenFiles => parse::<token_files::TokenCursor>($text).map(|$c| $body),
            Family::Snapshot => parse::<snapshot::SnapshotCursor>($text).map(|$c| $body),
        }
    };
}

/// `status`: a stored cursor described by the stream that owns it.
pub fn describe_cursor(kind: StreamKind, text: Option<&str>) -> String {
    if text.is_none() {
        return "none".into();
    }
    with_cursor!(kind, text, |c| c.describe()).unwrap_or_else(|e| e)
}

/// The instant a stored cursor is known complete up to, if it says.
pub fn complete_until(kind: StreamKind, text: Option<&str>) -> Option<OffsetDateTime> {
    with_cursor!(kind, text, |c| c.complete_until())
        .ok()
        .flatten()
}

/// `reset --replay-quarantined`: the cursor that reads each quarantined file again (replay
/// cursors oldest first), then returns to the stored cursor.
pub fn replay_cursor(
    kind: StreamKind,
    replays: &[String],
    stored: Option<&str>,
) -> Result<String, String> {
    fn chain<C: Cursor + Detour>(
        replays: &[String],
        stored: Option<&str>,
    ) -> Result<String, String> {
        let mut cursor: C = parse(stored)?;
        for text in replays.iter().rev() {
            let mut replay: C = parse(Some(text))?;
            replay.set_then(cursor);
            cursor = replay;
        }
        serde_json::to_string(&cursor).map_err(|e| e.to_string())
    }
    match family(kind) {
        Family::BatchFiles => chain::<batch_files::BatchCursor>(replays, stored),
        Family::TokenFiles => Err(format!(
            "{kind} files are named by the Mimecast token that answered them, and tokens expire: a quarantined {kind} file cannot be asked for again (status lists it)"
        )),
        _ => Err(format!("{kind} has no files to quarantine")),
    }
}

/// A cursor that can take a detour: read something again, then go back to where it was.
pub trait Detour: Sized {
    fn set_then(&mut self, then: Self);
}

/// `reset --since`: the stored form of a cursor that starts reading at `since`.
pub fn cursor_since(kind: StreamKind, since: OffsetDateTime) -> Result<String, String> {
    fn text<C: Cursor>(c: Result<C, String>) -> Result<String, String> {
        c.and_then(|c| serde_json::to_string(&c).map_err(|e| e.to_string()))
    }
    match family(kind) {
        Family::Window => text(window::WindowCursor::since(since)),
        Family::BatchFiles => text(batch_files::BatchCursor::since(since)),
        Family::TokenFiles if kind == StreamKind::SiemMta => Err("siem_mta checkpoints are Mimecast tokens, not times: reset without --since to start again from the oldest file Mimecast still has".into()),
        Family::TokenFiles => text(token_files::TokenCursor::since(since)),
        Family::Snapshot => Err(format!(
            "{kind} has no time cursor: reset without --since to emit everything again"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn every_stream_has_a_family_and_cursors_round_trip_through_since() {
        let t = datetime!(2026-11-20 00:00 UTC);
        for kind in StreamKind::ALL {
            match cursor_since(kind, t) {
                Ok(text) => {
                    assert!(
                        complete_until(kind, Some(&text)).is_none_or(|c| c <= t),
                        "{kind}: {text}"
                    );
                    assert_ne!(describe_cursor(kind, Some(&text)), "none", "{kind}");
                }
                Err(e) => assert!(e.contains("reset without --since"), "{kind}: {e}"),
            }
        }
        assert!(describe_cursor(StreamKind::TtpUrl, Some("not json")).contains("unreadable"));
        assert_eq!(describe_cursor(StreamKind::TtpUrl, None), "none");
    }
}

#[cfg(test)]
mod replay_tests {
    use super::*;

    #[test]
    fn quarantined_siem_log_files_cannot_be_replayed_and_say_why() {
        let e = replay_cursor(StreamKind::SiemMta, &["{}".into()], None).unwrap_err();
        assert!(e.contains("tokens expire"), "{e}");
        let chained = replay_cursor(
            StreamKind::SiemCg,
            &[r#"{"page":{"token":"p1"},"file":"/f1"}"#.into()],
            Some(r#"{"page":{"token":"p9"}}"#),
        )
        .unwrap();
        let c: batch_files::BatchCursor = serde_json::from_str(&chained).unwrap();
        assert_eq!(
            c.then.and_then(|t| t.page),
            Some(batch_files::PageRequest::Token("p9".into()))
        );
    }
}
