//! `siem_cg`: API 2.0 SIEM batch files (MIMECAST.md §6.4).
//!
//! Per event type: `GET /siem/v1/batch/events/cg` lists pre-signed URLs of gzip NDJSON files and
//! an `@nextPage` cursor. Files are fetched without an Authorization header, decompressed and
//! split into lines as they stream in, so memory stays bounded whatever a file's size. Lines are
//! committed in chunks with a sub-cursor (the page's request, the file index and the lines done
//! in that file); `@nextPage` itself is committed only after every file of the page is written.
//! A restart, or a file URL that expired (403/404), re-requests the same page and continues at
//! the same file and line: nothing skipped, nothing twice.

use super::checkpoint::{Checkpointer, Progress};
use super::emit::Emitter;
use super::records;
use super::{PollReport, StreamError};
use crate::api::{ApiError, MimecastClient};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::io::Write;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

pub const PATH: &str = "/siem/v1/batch/events/cg";
/// Lines per committed chunk, and the byte bound that cuts a chunk earlier.
const CHUNK_LINES: usize = 1000;
const CHUNK_BYTES: usize = 1024 * 1024;
/// Re-requests of one page for fresh URLs before the poll gives up (transiently).
const MAX_PAGE_REFETCH: u32 = 3;
/// A single line longer than this is not an event; it is skipped with a warning so a corrupt
/// file cannot exhaust memory.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// Which page a request asks for: the first (by date) or the one after a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageRequest {
    /// `dateRangeStartsAt` / `dateRangeEndsAt` as `YYYY-MM-DD` (first poll only).
    Dates {
        start: String,
        end: String,
    },
    Token(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgCursor {
    /// The request for the page to read next (or being read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<PageRequest>,
    /// Files of that page already written in full.
    #[serde(default)]
    pub file: usize,
    /// Lines of file `file` already written.
    #[serde(default)]
    pub line: u64,
}

#[derive(Debug, Deserialize)]
struct FileRef {
    url: String,
}

pub struct SiemCgStream {
    pub event_type: String,
    pub client: MimecastClient,
    pub emitter: Emitter,
    pub page_size: u32,
    pub initial_lookback: Duration,
    pub ckpt: Checkpointer,
    pub cursor: CgCursor,
}

fn ymd(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Lines collected from the decompressor, waiting to be committed.
struct Lines {
    buf: Vec<u8>,
    /// End offsets of complete lines in `buf`.
    ends: Vec<usize>,
    /// Bytes of an incomplete last line at the end of `buf`.
    skip_line: bool,
    oversized: u64,
}

impl Write for Lines {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut rest = data;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            if !self.skip_line {
                self.buf.extend_from_slice(&rest[..pos]);
                self.ends.push(self.buf.len());
            } else {
                self.oversized += 1;
                self.skip_line = false;
                let start = self.ends.last().copied().unwrap_or(0);
                self.buf.truncate(start);
            }
            rest = &rest[pos + 1..];
        }
        if !self.skip_line {
            self.buf.extend_from_slice(rest);
            let start = self.ends.last().copied().unwrap_or(0);
            if self.buf.len() - start > MAX_LINE {
                self.skip_line = true;
                self.buf.truncate(start);
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn new() -> Lines {
        Lines {
            buf: Vec::new(),
            ends: Vec::new(),
            skip_line: false,
            oversized: 0,
        }
    }

    /// Takes the complete lines, keeping a partial last line.
    fn take_complete(&mut self) -> (Vec<u8>, Vec<usize>) {
        let cut = self.ends.last().copied().unwrap_or(0);
        let tail = self.buf.split_off(cut);
        let lines = std::mem::replace(&mut self.buf, tail);
        (lines, std::mem::take(&mut self.ends))
    }

    /// At end of file: a last line without a newline still counts.
    fn finish(&mut self) {
        let start = self.ends.last().copied().unwrap_or(0);
        if self.buf.len() > start && !self.skip_line {
            self.ends.push(self.buf.len());
        }
    }

    fn pending(&self) -> usize {
        self.ends.len()
    }
}

enum FileOutcome {
    Done,
    /// The URL expired: fetch the page again for fresh URLs.
    Expired,
    Cancelled,
}

impl SiemCgStream {
    fn query(&self, page: &PageRequest) -> Vec<(&'static str, String)> {
        let mut q = vec![
            ("type", self.event_type.clone()),
            ("pageSize", self.page_size.to_string()),
        ];
        match page {
            PageRequest::Dates { start, end } => {
                q.push(("dateRangeStartsAt", start.clone()));
                q.push(("dateRangeEndsAt", end.clone()));
            }
            PageRequest::Token(t) => q.push(("nextPage", t.clone())),
        }
        q
    }

    pub async fn poll(&mut self, cancel: &CancellationToken) -> Result<PollReport, StreamError> {
        let mut report = PollReport::default();
        let mut refetches = 0;
        loop {
            if cancel.is_cancelled() {
                report.cancelled = true;
                return Ok(report);
            }
            let page = self.cursor.page.clone().unwrap_or_else(|| {
                let now = OffsetDateTime::now_utc();
                // Batch data is kept about 7 days (§6.4, UNCONFIRMED): never ask for more.
                let lookback = self.initial_lookback.min(Duration::from_secs(7 * 86_400));
                PageRequest::Dates {
                    start: ymd(now - lookback),
                    end: ymd(now + time::Duration::days(1)),
                }
            });
            let query = self.query(&page);
            let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let resp = self.client.get_siem(PATH, &pairs).await?;
            report.requests += 1;
            let files: Vec<FileRef> = match resp.value.as_deref() {
                Some(v) => serde_json::from_str(v.get()).map_err(|e| {
                    StreamError::Shape(format!("SIEM page value is not a list of files: {e}"))
                })?,
                None => Vec::new(),
            };
            let mut expired = false;
            for (index, file) in files.iter().enumerate().skip(self.cursor.file) {
                let url = url::Url::parse(&file.url)
                    .map_err(|e| StreamError::Shape(format!("SIEM file URL is not a URL: {e}")))?;
                match self
                    .read_file(&page, index, &url, cancel, &mut report)
                    .await?
                {
                    FileOutcome::Done => {}
                    FileOutcome::Cancelled => {
                        report.cancelled = true;
                        return Ok(report);
                    }
                    FileOutcome::Expired => {
                        expired = true;
                        break;
                    }
                }
            }
            if expired {
                refetches += 1;
                if refetches > MAX_PAGE_REFETCH {
                    return Err(ApiError::Server {
                        status: 403,
                        detail: "SIEM file URLs keep expiring before they can be read".into(),
                    }
                    .into());
                }
                tracing::warn!(
                    file = self.cursor.file,
                    "SIEM file URL expired; requesting the page again for fresh URLs"
                );
                continue;
            }
            refetches = 0;
            report.pages += 1;
            // Every file of the page is written: now the page's @nextPage may be committed.
            let next = resp
                .next_page
                .clone()
                .filter(|n| !n.is_empty())
                .map(PageRequest::Token)
                .filter(|n| *n != page);
            let done = resp.is_caught_up || files.is_empty() || next.is_none();
            // No new @nextPage: stay on this page, after its last file, so the next poll asks
            // for it again and reads only files it did not list before.
            let cursor = match next {
                Some(n) => CgCursor {
                    page: Some(n),
                    file: 0,
                    line: 0,
                },
                None => CgCursor {
                    page: Some(page),
                    file: files.len(),
                    line: 0,
                },
            };
            if cursor != self.cursor || !files.is_empty() {
                let moved = cursor.page != self.cursor.page;
                self.commit(cursor, Vec::new(), 0, moved).await?;
            }
            if done {
                return Ok(report);
            }
        }
    }

    async fn commit(
        &mut self,
        cursor: CgCursor,
        lines: Vec<u8>,
        events: u64,
        page_done: bool,
    ) -> Result<(), StreamError> {
        let progress = Progress {
            lines,
            events,
            pages: u64::from(page_done),
            ..Progress::default()
        };
        self.ckpt.commit(&cursor, progress).await?;
        self.cursor = cursor;
        Ok(())
    }

    /// Streams one file into committed chunks, starting after the lines already written.
    async fn read_file(
        &mut self,
        page: &PageRequest,
        index: usize,
        url: &url::Url,
        cancel: &CancellationToken,
        report: &mut PollReport,
    ) -> Result<FileOutcome, StreamError> {
        let resp = match self.client.fetch_unsigned(url).await {
            Ok(r) => r,
            Err(ApiError::Forbidden { .. }) | Err(ApiError::Request { status: 404, .. }) => {
                return Ok(FileOutcome::Expired)
            }
            Err(e) => return Err(e.into()),
        };
        report.requests += 1;
        let mut skip = if self.cursor.file == index {
            self.cursor.line
        } else {
            0
        };
        let mut line_no = skip;
        let (mut pieces, _decoder) = spawn_decoder(resp);
        loop {
            let piece = tokio::select! {
                _ = cancel.cancelled() => return Ok(FileOutcome::Cancelled),
                p = pieces.recv() => p,
            };
            let Some(piece) = piece else {
                return Err(StreamError::Shape("the SIEM file decoder stopped".into()));
            };
            let Piece {
                buf,
                ends,
                finished,
                oversized,
            } = piece?;
            {
                let mut start = 0;
                let mut records: Vec<&RawValue> = Vec::with_capacity(ends.len());
                let mut bad = 0u64;
                for end in &ends {
                    let line = &buf[start..*end];
                    start = *end;
                    if skip > 0 {
                        skip -= 1;
                        continue;
                    }
                    line_no += 1;
                    let text = std::str::from_utf8(line).unwrap_or("").trim();
                    if text.is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<&RawValue>(text) {
                        Ok(r) => records.push(r),
                        Err(_) => bad += 1,
                    }
                }
                if bad > 0 {
                    tracing::warn!(
                        file = index,
                        lines = bad,
                        "SIEM file has lines that are not JSON; skipped"
                    );
                }
                let rendered = self
                    .emitter
                    .render(records, OffsetDateTime::now_utc(), None, None);
                report.records += rendered.emitted;
                if finished || rendered.emitted > 0 {
                    let cursor = if finished {
                        CgCursor {
                            page: Some(page.clone()),
                            file: index + 1,
                            line: 0,
                        }
                    } else {
                        CgCursor {
                            page: Some(page.clone()),
                            file: index,
                            line: line_no,
                        }
                    };
                    self.commit(cursor, rendered.lines, rendered.emitted, false)
                        .await?;
                }
            }
            if finished {
                if oversized > 0 {
                    tracing::warn!(
                        file = index,
                        lines = oversized,
                        "SIEM file has lines over 16 MiB; skipped"
                    );
                }
                return Ok(FileOutcome::Done);
            }
        }
    }
}

/// Complete lines of a file, decompressed ahead of the writing.
struct Piece {
    buf: Vec<u8>,
    ends: Vec<usize>,
    finished: bool,
    /// Lines skipped for their size (known when the file is finished).
    oversized: u64,
}

/// Downloads and decompresses a file on its own task, a chunk of lines at a time, so that
/// inflating the next lines (one core) overlaps rendering and writing these (the other). The
/// channel holds one chunk: memory stays bounded by chunk size, not file size. Dropping the
/// receiver or the handle stops the task.
fn spawn_decoder(
    resp: reqwest::Response,
) -> (
    tokio::sync::mpsc::Receiver<Result<Piece, ApiError>>,
    AbortOnDropHandle<()>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(async move {
        let mut decoder = flate2::write::MultiGzDecoder::new(Lines::new());
        let mut body = resp.bytes_stream();
        loop {
            let finished = match body.next().await {
                Some(Ok(bytes)) => {
                    if let Err(e) = decoder.write_all(&bytes) {
                        let e = ApiError::Decode(format!("SIEM file is not valid gzip: {e}"));
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                    false
                }
                Some(Err(e)) => {
                    let _ = tx.send(Err(ApiError::from_reqwest(e))).await;
                    return;
                }
                None => {
                    if let Err(e) = decoder.try_finish() {
                        let e = ApiError::Decode(format!("SIEM file is truncated: {e}"));
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                    decoder.get_mut().finish();
                    true
                }
            };
            let lines = decoder.get_mut();
            if finished || lines.pending() >= CHUNK_LINES || lines.buf.len() >= CHUNK_BYTES {
                let (buf, ends) = lines.take_complete();
                let oversized = if finished { lines.oversized } else { 0 };
                let piece = Piece {
                    buf,
                    ends,
                    finished,
                    oversized,
                };
                if tx.send(Ok(piece)).await.is_err() || finished {
                    return;
                }
            }
        }
    });
    (rx, AbortOnDropHandle::new(task))
}

/// For `records::extract`-style callers that want the page's URLs alone (tests, `check`).
pub fn file_urls(value: &RawValue) -> Result<Vec<String>, records::ShapeError> {
    let files: Vec<FileRef> =
        serde_json::from_str(value.get()).map_err(|e| records::ShapeError(e.to_string()))?;
    Ok(files.into_iter().map(|f| f.url).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_writes_and_keep_partial_tails() {
        let mut l = Lines::new();
        l.write_all(b"{\"a\":1}\n{\"b\"").unwrap();
        l.write_all(b":2}\n{\"c\":3}").unwrap();
        let (buf, ends) = l.take_complete();
        assert_eq!(ends.len(), 2);
        assert_eq!(&buf[..ends[0]], b"{\"a\":1}");
        assert_eq!(&buf[ends[0]..ends[1]], b"{\"b\":2}");
        l.finish();
        let (buf, ends) = l.take_complete();
        assert_eq!(&buf[..ends[0]], b"{\"c\":3}");
    }

    #[test]
    fn cursor_round_trips() {
        let c = CgCursor {
            page: Some(PageRequest::Token("NDY6bnVsbA==".into())),
            file: 2,
            line: 4000,
        };
        assert_eq!(
            serde_json::from_str::<CgCursor>(&serde_json::to_string(&c).unwrap()).unwrap(),
            c
        );
        let d = CgCursor {
            page: Some(PageRequest::Dates {
                start: "2026-11-22".into(),
                end: "2026-11-24".into(),
            }),
            file: 0,
            line: 0,
        };
        assert_eq!(
            serde_json::from_str::<CgCursor>(&serde_json::to_string(&d).unwrap()).unwrap(),
            d
        );
    }
}
