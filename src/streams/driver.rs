//! The one poll loop: every stream is a [`Source`] run by this driver.
//!
//! What it guarantees, for every source alike:
//! - **One commit in flight.** A page is rendered while the previous page's commit is made
//!   durable; the next is sent only once that one is confirmed. The stored cursor and the
//!   driver's view of it move only on confirmation.
//! - **Commits are deltas.** Each names the stored cursor it starts from and the version it
//!   read; the state store refuses any other, so a double poll, a stale driver or a reset in
//!   between becomes an error instead of silent loss or repetition.
//! - **Dedup sees every page handed over**, confirmed or not: ids are remembered when a page is
//!   sent, and any write error rebuilds the driver from the stored state.
//! - **A server that makes no progress is caught**: an answer whose continuation is the request
//!   just made is not written (it would be written again forever) and fails the poll loudly;
//!   a run of empty pages that keep continuing is bounded.
//! - **A refused continuation** (expired, or from before a restart) restarts from a point the
//!   source knows to be safe; dedup by id makes the re-read exact.
//! - **Files** (SIEM batch) are streamed in chunks, each committed with the source's
//!   sub-cursor, so a restart continues at the same line of the same file.
//! - **Cancellation** lands between pages, after the page in flight is committed.

use super::decode::{spawn_decoder, spawn_zip_decoder, Piece};
use super::emit::{Emitter, Item, Rendered};
use super::prefetch::Prefetch;
use super::{
    Cursor, Dedup, FileRef, Page, PollReport, Records, Request, Response, Source, StreamError,
    StreamKind,
};
use crate::api::limiter::Priority;
use crate::api::{ApiError, MimecastClient};
use crate::sink::writer::{Batch, Reservation, SinkHandle, WriteError};
use crate::state::{Commit, Quarantine, StreamKey};
use serde_json::value::RawValue;
use std::future::Future;
use std::pin::Pin;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

/// Refused continuations restarted within one poll before the poll fails.
const MAX_RESTARTS: u32 = 3;
/// Pages in a row that carry no record but still continue before the poll fails.
const MAX_EMPTY_PAGES: u32 = 100;
/// Re-requests of a listing for fresh file URLs (they expire) before the poll fails.
const MAX_REFETCH: u32 = 3;
/// Re-requests of an answer that proved unreadable only once read (a file cut short, a
/// retryable `fail[]` inside a file endpoint's envelope) before the poll fails.
const MAX_UNREADABLE: u32 = 3;

/// A driver behind a trait object: the daemon holds one per tenant x stream x part.
pub trait Poll: Send {
    fn poll<'a>(
        &'a mut self,
        cancel: &'a CancellationToken,
    ) -> Pin<Box<dyn Future<Output = Result<PollReport, StreamError>> + Send + 'a>>;
    /// The stored cursor, described for the log line.
    fn describe(&self) -> String;
    /// Known complete up to here (for lag).
    fn complete_until(&self) -> Option<OffsetDateTime>;
}

/// What the driver was built from (the stored state).
pub struct Resume<C> {
    pub cursor: C,
    /// The cursor's stored text (a commit names it as its `from`).
    pub stored: Option<String>,
    pub version: u64,
}

pub struct Driver<S: Source> {
    pub source: S,
    pub kind: StreamKind,
    pub key: StreamKey,
    pub client: MimecastClient,
    pub sink: SinkHandle,
    pub emitter: Emitter,
    cursor: S::Cursor,
    stored: Option<String>,
    version: u64,
    progress: Option<Progress>,
}

/// Progress while a poll is still running: a backfill of hours must not look dead. Each
/// confirmed page counts in the metrics at once (not when the poll ends), and a line is logged
/// at most every `every` while the poll goes on.
pub struct Progress {
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub every: std::time::Duration,
    poll_started: std::time::Instant,
    last_line: std::time::Instant,
}

impl Progress {
    pub fn new(
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        every: std::time::Duration,
    ) -> Progress {
        let now = std::time::Instant::now();
        Progress {
            metrics,
            every,
            poll_started: now,
            last_line: now,
        }
    }
}

/// A commit handed to the writer and not yet confirmed.
struct Pending<C> {
    rx: tokio::sync::oneshot::Receiver<Result<u64, WriteError>>,
    cursor: C,
    text: String,
    emitted: u64,
    duplicates: u64,
    page: bool,
}

/// Where a page's files ended.
enum FilesOutcome {
    Done,
    Expired,
    Cancelled,
}

type Ahead = AbortOnDropHandle<Result<Response, ApiError>>;

async fn execute(client: MimecastClient, request: Request) -> Result<Response, ApiError> {
    match request {
        Request::Post { path, body } => client.post(path, &body).await.map(Response::Envelope),
        Request::Download { path, body } => client
            .post_download(path, &body)
            .await
            .map(Response::Download),
        Request::Stream { path, body } => {
            client.post_stream(path, &body).await.map(Response::Stream)
        }
        Request::Siem { path, query } => client
            .get_siem(path, &pairs(&query))
            .await
            .map(Response::Siem),
        Request::Get { path, query } => client
            .get_rest(path, &pairs(&query))
            .await
            .map(Response::Rest),
        Request::Follow { url } => client.get_rest_url(&url).await.map(Response::Rest),
        Request::GetOne { path, query } => client
            .get_rest_one(&path, &pairs(&query))
            .await
            .map(Response::One),
    }
}

/// A request's query as the client takes it.
pub fn pairs<'a>(query: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    query.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A stream complete only up to longer ago than this is behind: its requests go first.
const BEHIND: time::Duration = time::Duration::hours(1);

/// Requests that complete one page's records run this many at a time (each still waits for
/// the tenant's rate limiter).
const DETAILS_IN_FLIGHT: usize = 4;

/// Runs a page's detail requests, a few at a time, answers in the order asked.
async fn run_details(
    client: &MimecastClient,
    requests: Vec<Option<Request>>,
) -> Vec<Option<Result<Response, ApiError>>> {
    use futures_util::StreamExt;
    futures_util::stream::iter(requests.into_iter().map(|r| {
        let client = client.clone();
        async move {
            match r {
                Some(r) => Some(execute(client, r).await),
                None => None,
            }
        }
    }))
    .buffered(DETAILS_IN_FLIGHT)
    .collect()
    .await
}

impl<S: Source> Driver<S> {
    pub fn new(
        source: S,
        kind: StreamKind,
        key: StreamKey,
        client: MimecastClient,
        sink: SinkHandle,
        emitter: Emitter,
        resume: Resume<S::Cursor>,
    ) -> Driver<S> {
        Driver {
            source,
            kind,
            key,
            client,
            sink,
            emitter,
            cursor: resume.cursor,
            stored: resume.stored,
            version: resume.version,
            progress: None,
        }
    }

    /// Counts each confirmed page in `progress.metrics` and logs progress while a poll runs.
    pub fn with_progress(mut self, progress: Progress) -> Driver<S> {
        self.progress = Some(progress);
        self
    }

    pub fn cursor(&self) -> &S::Cursor {
        &self.cursor
    }

    /// A 403 names the exact permission of this stream.
    fn api_error(&self, e: ApiError) -> StreamError {
        let (kind, api) = (self.kind, self.client.api());
        StreamError::Api(e.with_grant_hint(|| kind.grant_hint(api)))
    }

    /// Waits for the commit in flight; only then do its cursor and counts stand.
    async fn settle(
        &mut self,
        pending: &mut Option<Pending<S::Cursor>>,
        report: &mut PollReport,
    ) -> Result<(), StreamError> {
        let Some(p) = pending.take() else {
            return Ok(());
        };
        self.version = p.rx.await.map_err(|_| WriteError::closed())??;
        self.cursor = p.cursor;
        self.stored = Some(p.text);
        report.pages += u64::from(p.page);
        report.records += p.emitted;
        report.duplicates += p.duplicates;
        if let Some(progress) = &mut self.progress {
            let covered = self.cursor.complete_until();
            progress.metrics.page_committed(
                &self.key,
                &crate::metrics::PollCounts {
                    records: p.emitted,
                    duplicates: p.duplicates,
                    pages: u64::from(p.page),
                },
                covered,
            );
            if progress.last_line.elapsed() >= progress.every {
                progress.last_line = std::time::Instant::now();
                let seconds = progress.poll_started.elapsed().as_secs_f64().max(0.001);
                let lag_s = covered.map(|c| (OffsetDateTime::now_utc() - c).whole_seconds());
                tracing::info!(
                    records = report.records,
                    pages = report.pages,
                    position = %self.cursor.describe(),
                    lag_s,
                    records_per_s = (report.records as f64 / seconds).round() as u64,
                    "backlog draining"
                );
            }
        }
        Ok(())
    }

    /// Hands lines and the cursor they complete to the writer, after the previous commit is
    /// confirmed. Ids count as emitted from here on (see the module docs).
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &mut self,
        pending: &mut Option<Pending<S::Cursor>>,
        report: &mut PollReport,
        cursor: S::Cursor,
        rendered: Rendered,
        forget_before: Option<i64>,
        page: bool,
        quarantine: Option<Quarantine>,
        reservation: Option<Reservation>,
    ) -> Result<(), StreamError> {
        self.settle(pending, report).await?;
        let text = serde_json::to_string(&cursor).map_err(|e| StreamError::Shape(e.to_string()))?;
        let mut rendered = rendered;
        if !rendered.ids.is_empty() {
            self.emitter.set_recent(std::mem::take(&mut rendered.ids));
        }
        self.emitter.remember(&rendered.seen);
        if let Some(before) = forget_before {
            self.emitter.forget_before(before);
        }
        let commit = Commit {
            key: self.key.clone(),
            expected_version: self.version,
            from: self.stored.clone(),
            cursor: text.clone(),
            covered_until: cursor.complete_until(),
            events: rendered.emitted,
            pages: u64::from(page),
            seen: rendered.seen,
            forget_seen_before: forget_before,
            quarantine,
        };
        let rx = self
            .sink
            .send(
                Batch {
                    commit,
                    lines: rendered.lines,
                },
                reservation,
            )
            .await?;
        *pending = Some(Pending {
            rx,
            cursor,
            text,
            emitted: rendered.emitted,
            duplicates: rendered.duplicates,
            page,
        });
        Ok(())
    }

    /// One poll: from the stored cursor until the source has nothing more to read now.
    pub async fn poll(&mut self, cancel: &CancellationToken) -> Result<PollReport, StreamError> {
        let mut report = PollReport::default();
        if let Some(p) = &mut self.progress {
            let now = std::time::Instant::now();
            p.poll_started = now;
            p.last_line = now;
        }
        let mut pending = None;
        let result = self.walk(cancel, &mut report, &mut pending).await;
        // Whatever ended the walk, the commit in flight is confirmed (or its failure reported)
        // before the poll returns.
        let settled = self.settle(&mut pending, &mut report).await;
        // A failed commit wins over whatever ended the walk: it is a write error, which makes
        // the task rebuild the driver from the stored state (the ids this driver remembered
        // for that page were never written).
        settled?;
        result.map(|()| report)
    }

    async fn walk(
        &mut self,
        cancel: &CancellationToken,
        report: &mut PollReport,
        pending: &mut Option<Pending<S::Cursor>>,
    ) -> Result<(), StreamError> {
        self.source.begin(&self.cursor, self.client.server_now());
        // A stream with a backlog (never committed, or complete only up to long ago) is served
        // before the tenant's caught-up polls, and so is every request after a page that said
        // there is more.
        let behind = self.stored.is_none()
            || self
                .cursor
                .complete_until()
                .is_some_and(|t| t < self.client.server_now() - BEHIND);
        let mut client = self.client.with_priority(if behind {
            Priority::Behind
        } else {
            Priority::CaughtUp
        });
        // Until the first answer the client may not know Mimecast's clock (see below).
        let skew_at_begin = self.client.clock_skew();
        let mut clock_checked = false;
        // The cursor after the last page handed to the writer (confirmed or not).
        let mut current = self.cursor.clone();
        let Some(mut request) = self.source.request(&current) else {
            return Ok(());
        };
        let mut ahead: Option<Ahead> = None;
        let (mut restarts, mut empty_run, mut refetches, mut unreadable) = (0, 0, 0, 0);
        loop {
            if cancel.is_cancelled() {
                report.cancelled = true;
                return Ok(());
            }
            let answer = match ahead.take() {
                Some(handle) => match handle.await {
                    Ok(r) => r,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => return Err(StreamError::Shape(format!("page read-ahead: {e}"))),
                },
                None => execute(client.clone(), request.clone()).await,
            };
            if answer.is_ok() {
                report.requests += 1;
            }
            // Windows are cut on Mimecast's clock, known only from its answers. If the first
            // answer shows the clock far from what the poll began with, the poll begins again
            // on the right clock before anything is written (one request, once per poll).
            if answer.is_ok() && !clock_checked {
                clock_checked = true;
                let moved = (self.client.clock_skew() - skew_at_begin).abs();
                if moved > time::Duration::seconds(2) && pending.is_none() && report.pages == 0 {
                    tracing::info!(skew_s = self.client.clock_skew().whole_seconds(), "Mimecast's clock differs from this host's; the poll starts again on Mimecast's clock");
                    self.source.begin(&self.cursor, self.client.server_now());
                    current = self.cursor.clone();
                    match self.source.request(&current) {
                        Some(r) => request = r,
                        None => return Ok(()),
                    }
                    continue;
                }
            }
            // A refused continuation can arrive as an HTTP error or inside a 200 answer (a
            // `fail[]` the source reads), so both paths meet here.
            // A refused continuation can arrive as an HTTP error or inside a 200 answer (a
            // `fail[]` the source reads), so both paths meet here; `read` tells them apart.
            let (outcome, read) = match answer {
                Ok(r) => (self.source.page(&current, r), true),
                Err(e) => (Err(StreamError::Api(e)), false),
            };
            let page = match outcome {
                Ok(page) => page,
                Err(StreamError::Api(e)) if e.is_request_refusal() && restarts < MAX_RESTARTS => {
                    let Some(restart) = self.source.restart(&current) else {
                        return Err(self.api_error(e));
                    };
                    restarts += 1;
                    tracing::warn!(error = %e, from = %restart.describe(), "continuation refused; reading again from the last safe point (records already written are dropped by id)");
                    self.emitter.remember(&self.source.carried_ids(&restart));
                    current = restart;
                    match self.source.request(&current) {
                        Some(r) => request = r,
                        None => {
                            // Nothing to read from there now: the restart point is kept, so
                            // the refused continuation is not sent again.
                            let at = current.clone();
                            self.send(
                                pending,
                                report,
                                at,
                                Rendered::default(),
                                None,
                                false,
                                None,
                                None,
                            )
                            .await?;
                            return Ok(());
                        }
                    }
                    continue;
                }
                // The client retried what it could judge; an answer found unreadable only by
                // the source (a file cut short) is asked for again here.
                Err(StreamError::Api(e))
                    if read && e.is_transient() && unreadable < MAX_UNREADABLE =>
                {
                    tracing::warn!(error = %e, "answer unreadable; asking again");
                    tokio::time::sleep(self.client.backoff(unreadable)).await;
                    unreadable += 1;
                    continue;
                }
                Err(StreamError::Api(e)) => return Err(self.api_error(e)),
                Err(e) => return Err(e),
            };
            unreadable = 0;
            if page.more {
                client = self.client.with_priority(Priority::Behind);
            }
            let next_request = if page.more {
                self.source.request(&page.next)
            } else {
                None
            };
            if next_request.as_ref() == Some(&request) {
                return Err(StreamError::NoProgress {
                    what: format!("{} ({})", request.path(), current.describe()),
                });
            }
            let mut page = page;
            if let Some(translated) = page.resume.take() {
                current = translated;
            }
            let had_files = page.body.is_some() || !page.files.is_empty();
            if let Some(body) = page.body.take() {
                let (pieces, _decoder) = spawn_zip_decoder(body.response);
                let dedup = page.dedup;
                match self
                    .read_file(
                        &mut current,
                        &body.key,
                        pieces,
                        dedup,
                        cancel,
                        report,
                        pending,
                    )
                    .await?
                {
                    FilesOutcome::Done => {}
                    FilesOutcome::Cancelled | FilesOutcome::Expired => {
                        report.cancelled = true;
                        return Ok(());
                    }
                }
            }
            if !page.files.is_empty() {
                match self
                    .read_files(
                        &mut current,
                        &page.files,
                        page.dedup,
                        cancel,
                        report,
                        pending,
                    )
                    .await?
                {
                    FilesOutcome::Done => refetches = 0,
                    FilesOutcome::Cancelled => {
                        report.cancelled = true;
                        return Ok(());
                    }
                    FilesOutcome::Expired => {
                        refetches += 1;
                        if refetches > MAX_REFETCH {
                            return Err(StreamError::Api(ApiError::Server {
                                status: 403,
                                detail: "SIEM file URLs keep expiring before they can be read"
                                    .into(),
                            }));
                        }
                        tracing::warn!(
                            "SIEM file URL expired; requesting the page again for fresh URLs"
                        );
                        request = self.source.request(&current).unwrap_or(request);
                        continue;
                    }
                }
            } else if let Some(next) = &next_request {
                // The next page is requested while this one is rendered and committed.
                ahead = Some(AbortOnDropHandle::new(tokio::spawn(execute(
                    client.clone(),
                    next.clone(),
                ))));
            }
            if !page.details.is_empty() {
                // A record already written is dropped at render: its details are not asked
                // for again (a window read again in halves re-lists what it wrote).
                let requests: Vec<Option<Request>> = std::mem::take(&mut page.details)
                    .into_iter()
                    .map(|d| d.filter(|d| !self.emitter.knows(&d.id)).map(|d| d.request))
                    .collect();
                let asked = requests.iter().flatten().count() as u64;
                let answers = tokio::select! {
                    _ = cancel.cancelled() => {
                        report.cancelled = true;
                        return Ok(());
                    }
                    a = run_details(&client, requests) => a,
                };
                report.requests += asked;
                if let Err(e) = self.source.with_details(&mut page, answers) {
                    return Err(match e {
                        StreamError::Api(e) => self.api_error(e),
                        other => other,
                    });
                }
            }
            let Page {
                records,
                next,
                dedup,
                received,
                continues,
                ..
            } = page;
            let mut next = if had_files {
                self.source.after_files(&current, next)
            } else {
                next
            };
            let mut rendered = self.render(&records, dedup)?;
            // Envelope pages are counted as they are rendered (one pass over the page).
            let received = match &records {
                Records::Envelope { .. } | Records::Array(_) => {
                    (rendered.emitted + rendered.duplicates) as usize
                }
                _ => received,
            };
            empty_run = if received == 0 && continues {
                empty_run + 1
            } else {
                0
            };
            if empty_run > MAX_EMPTY_PAGES {
                return Err(StreamError::Shape(format!(
                    "Mimecast sent {empty_run} empty pages in a row that each continue; stopping this poll"
                )));
            }
            self.source.rendered(&mut next, &mut rendered);
            let moved = next != current;
            if moved || rendered.emitted > 0 || !rendered.seen.is_empty() {
                // The page is already in memory; what waits for the writer is bounded.
                let reservation = self.sink.reserve(rendered.lines.capacity()).await?;
                self.send(
                    pending,
                    report,
                    next.clone(),
                    rendered,
                    dedup.forget_before,
                    true,
                    None,
                    Some(reservation),
                )
                .await?;
            } else {
                report.duplicates += rendered.duplicates;
            }
            current = next;
            match next_request {
                Some(r) => request = r,
                None => return Ok(()),
            }
        }
    }

    fn render(&self, records: &Records, dedup: super::Dedup) -> Result<Rendered, StreamError> {
        let at = OffsetDateTime::now_utc();
        let raw = |recs: Vec<&RawValue>| {
            self.emitter.render_capped(
                recs,
                at,
                dedup.remember_from,
                dedup.not_before,
                dedup.newest_before,
            )
        };
        Ok(match records {
            Records::None => Rendered::default(),
            Records::Envelope { env, field } => {
                raw(super::records::extract(env.data.as_deref(), *field)
                    .map_err(|e| StreamError::Shape(e.to_string()))?)
            }
            Records::Array(items) => raw(serde_json::from_str(items.get())
                .map_err(|e| StreamError::Shape(format!("records are not an array: {e}")))?),
            Records::Owned(list) => self.emitter.render_capped(
                list.iter().map(|r| Item {
                    raw: &r.raw,
                    action: r.action,
                    id: r.id.as_deref(),
                }),
                at,
                dedup.remember_from,
                dedup.not_before,
                dedup.newest_before,
            ),
        })
    }

    /// Streams each file in committed chunks, each with the source's sub-cursor.
    async fn read_files(
        &mut self,
        current: &mut S::Cursor,
        files: &[FileRef],
        dedup: Dedup,
        cancel: &CancellationToken,
        report: &mut PollReport,
        pending: &mut Option<Pending<S::Cursor>>,
    ) -> Result<FilesOutcome, StreamError> {
        // Up to `download_ahead` files are requested at once (each request a task of its own,
        // holding one of the tenant's download slots until its file is written or given up),
        // while the files are decoded, written and committed strictly one after the other, in
        // the page's order: the same commits as reading one at a time, without waiting out
        // each file's latency in turn. A file ahead is not decoded until its turn: its body
        // waits in the connection (bounded by TCP flow control), so memory does not grow with
        // the files in flight. Leaving early (an expired link, an error, cancellation) aborts
        // the requests started ahead.
        let client = self.client.clone();
        let mut downloads = Prefetch::new(
            self.client.download_slots(),
            self.client.download_ahead(),
            files
                .iter()
                .map(|f| f.url.clone())
                .collect::<Vec<_>>()
                .into_iter(),
            move |url: url::Url| fetch_file(client.clone(), url),
        );
        for file in files {
            let download = tokio::select! {
                _ = cancel.cancelled() => return Ok(FilesOutcome::Cancelled),
                d = downloads.next() => d,
            };
            let (resp, _slot) = match download {
                Some(Ok((Ok(resp), slot))) => (resp, slot),
                Some(Ok((Err(ApiError::Forbidden { .. }), _)))
                | Some(Ok((Err(ApiError::Request { status: 404, .. }), _))) => {
                    return Ok(FilesOutcome::Expired)
                }
                Some(Ok((Err(e), _))) => return Err(e.into()),
                Some(Err(e)) => {
                    return Err(
                        ApiError::Network(format!("the file download task ended: {e}")).into(),
                    )
                }
                None => return Err(StreamError::Shape("a file download went missing".into())),
            };
            report.requests += 1;
            let (pieces, _decoder) = spawn_decoder(resp);
            let outcome = self
                .read_file(current, &file.key, pieces, dedup, cancel, report, pending)
                .await?;
            if !matches!(outcome, FilesOutcome::Done) {
                return Ok(outcome);
            }
        }
        Ok(FilesOutcome::Done)
    }

    /// Writes one file's lines in committed chunks, from the line the cursor says, each chunk
    /// with the source's sub-cursor. A file that cannot be decoded is counted by the source,
    /// and skipped once it says so (quarantine).
    #[allow(clippy::too_many_arguments)]
    async fn read_file(
        &mut self,
        current: &mut S::Cursor,
        key: &str,
        mut pieces: tokio::sync::mpsc::Receiver<Result<Piece, ApiError>>,
        dedup: Dedup,
        cancel: &CancellationToken,
        report: &mut PollReport,
        pending: &mut Option<Pending<S::Cursor>>,
    ) -> Result<FilesOutcome, StreamError> {
        let mut skip = self.source.file_start(current, key);
        let mut line_no = skip;
        loop {
            let piece = tokio::select! {
                _ = cancel.cancelled() => return Ok(FilesOutcome::Cancelled),
                p = pieces.recv() => p,
            };
            let piece = match piece {
                Some(Ok(p)) => p,
                Some(Err(ApiError::Decode(why))) => {
                    let failure = self.source.file_failed(current, key);
                    let next = failure.cursor;
                    let quarantine = match &failure.quarantined {
                        Some(replay) => Some(Quarantine {
                            file: key.to_string(),
                            error: why.clone(),
                            replay: serde_json::to_string(replay)
                                .map_err(|e| StreamError::Shape(e.to_string()))?,
                        }),
                        None => None,
                    };
                    if quarantine.is_some() {
                        tracing::error!(file = %key, error = %why, "file cannot be decoded after repeated attempts; quarantined (listed by `status`; `reset --replay-quarantined` reads it again) and skipped");
                    }
                    let quarantined = quarantine.is_some();
                    self.send(
                        pending,
                        report,
                        next.clone(),
                        Rendered::default(),
                        None,
                        false,
                        quarantine,
                        None,
                    )
                    .await?;
                    *current = next;
                    if quarantined {
                        return Ok(FilesOutcome::Done);
                    }
                    return Err(ApiError::Decode(why).into());
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Err(StreamError::Shape("the file decoder stopped".into())),
            };
            let Piece {
                buf,
                ends,
                finished,
                oversized,
            } = piece;
            let mut start = 0;
            let mut owned: Vec<Box<RawValue>> = Vec::new();
            let mut records: Vec<&RawValue> = Vec::with_capacity(ends.len());
            let (mut bad, mut damaged) = (0u64, 0u64);
            let mut positions = Vec::new();
            for end in &ends {
                let line = &buf[start..*end];
                start = *end;
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                line_no += 1;
                let text = match std::str::from_utf8(line) {
                    Ok(t) => t.trim(),
                    Err(_) => {
                        damaged += 1;
                        positions.push(line_no);
                        let lossy = String::from_utf8_lossy(line).trim().to_string();
                        match RawValue::from_string(lossy) {
                            Ok(r) => owned.push(r),
                            Err(_) => bad += 1,
                        }
                        continue;
                    }
                };
                if text.is_empty() {
                    continue;
                }
                match serde_json::from_str::<&RawValue>(text) {
                    Ok(r) => records.push(r),
                    Err(_) => {
                        bad += 1;
                        positions.push(line_no);
                    }
                }
            }
            if bad > 0 || damaged > 0 {
                tracing::error!(file = %key, lines = ?positions, not_json = bad, invalid_utf8 = damaged, "file has damaged lines: invalid UTF-8 is replaced with U+FFFD and kept, lines that are not JSON are skipped");
            }
            records.extend(owned.iter().map(|b| b.as_ref()));
            // Taken before rendering: chunks rendered by many streams at once would otherwise
            // all be in memory, whatever the writer can take (see `IN_FLIGHT_BYTES`).
            let mut reservation = self
                .sink
                .reserve(self.emitter.rendered_size(buf.len(), records.len()))
                .await?;
            let mut rendered = self.emitter.render_capped(
                records,
                OffsetDateTime::now_utc(),
                dedup.remember_from,
                dedup.not_before,
                dedup.newest_before,
            );
            // The inflated chunk is done with: freed now, not after the wait for the writer
            // below, while the decoder is already filling the next.
            drop(owned);
            drop(buf);
            if finished || rendered.emitted > 0 {
                let mut next = self.source.file_progress(current, key, line_no, finished);
                self.source.rendered(&mut next, &mut rendered);
                reservation.fit(rendered.lines.capacity());
                self.send(
                    pending,
                    report,
                    next.clone(),
                    rendered,
                    None,
                    false,
                    None,
                    Some(reservation),
                )
                .await?;
                *current = next;
            }
            if finished {
                if oversized > 0 {
                    tracing::warn!(file = %key, lines = oversized, "file has lines over 16 MiB; skipped");
                }
                return Ok(FilesOutcome::Done);
            }
        }
    }
}

/// One file's download, on a task of its own (owning what it needs).
async fn fetch_file(client: MimecastClient, url: url::Url) -> Result<reqwest::Response, ApiError> {
    client.fetch_unsigned(&url).await
}

impl<S: Source> Poll for Driver<S> {
    fn poll<'a>(
        &'a mut self,
        cancel: &'a CancellationToken,
    ) -> Pin<Box<dyn Future<Output = Result<PollReport, StreamError>> + Send + 'a>> {
        Box::pin(Driver::poll(self, cancel))
    }

    fn describe(&self) -> String {
        self.cursor.describe()
    }

    fn complete_until(&self) -> Option<OffsetDateTime> {
        self.cursor.complete_until()
    }
}
