//! SIEM batch files: `GET /siem/v1/batch/events/cg` lists pre-signed URLs of gzip NDJSON files
//! per event type, with an `@nextPage` continuation
//! (docs/mimecast-api.md#siem-batch-cloud-gateway).
//!
//! The cursor names the listing being read, the files of it already written (by a stable key:
//! the URL's path, without the signed query that changes with every listing) and the lines
//! written of the file in progress. A restart, or a file URL that expired, asks for the same
//! listing again and skips by key, so a listing that comes back in another order or with new
//! files in front of the old ones neither repeats nor skips a file. `@nextPage` is committed
//! only once every file of its listing is written. A file that cannot be decoded is retried at
//! the next polls and, after [`MAX_FILE_ATTEMPTS`], quarantined so one bad file cannot stop the
//! stream.

use super::{Cursor, FileFailure, FileRef, Page, Records, Request, Response, Source, StreamError};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

pub const PATH: &str = "/siem/v1/batch/events/cg";
/// Keys of earlier listings kept as done beside the current listing's.
pub const MAX_CARRIED: usize = 100;
/// Decode failures of one file (across polls) before it is quarantined.
pub const MAX_FILE_ATTEMPTS: u32 = 3;
/// Batch data is kept about 7 days (docs/mimecast-api.md#siem-batch-cloud-gateway, UNCONFIRMED):
/// the first listing never asks for more.
const RETENTION: Duration = Duration::from_secs(7 * 86_400);

/// Which listing a request asks for: the first (by date) or the one after a token.
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

/// The file in progress: by key, or (cursors stored before keys existed) by its index in the
/// listing, translated at the next listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FileMark {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCursor {
    /// The listing to read next (or being read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<PageRequest>,
    /// Keys of files written in full: this listing's, and up to [`MAX_CARRIED`] written before
    /// it (a listing asked for again may have moved its boundary).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done: Vec<String>,
    /// The file partly written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileMark>,
    /// Lines of `file` written.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub line: u64,
    /// A file that failed to decode, and how many times in a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing: Option<(String, u32)>,
    /// Replaying a quarantined file: the cursor to go back to once this listing's files (the
    /// one replayed) are written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<Box<BatchCursor>>,
}

impl super::Detour for BatchCursor {
    fn set_then(&mut self, then: BatchCursor) {
        self.then = Some(Box::new(then));
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn ymd(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

impl Cursor for BatchCursor {
    fn describe(&self) -> String {
        let page = match &self.page {
            Some(PageRequest::Token(t)) => {
                format!("page {}…", t.chars().take(16).collect::<String>())
            }
            Some(PageRequest::Dates { start, .. }) => format!("first page from {start}"),
            None => return "start".into(),
        };
        match &self.file {
            Some(FileMark::Key(k)) => format!(
                "{page}, {} files done, line {} of {}",
                self.done.len(),
                self.line,
                k.rsplit('/').next().unwrap_or(k)
            ),
            _ if !self.done.is_empty() => format!("{page}, {} files done", self.done.len()),
            _ => page,
        }
    }

    fn complete_until(&self) -> Option<OffsetDateTime> {
        None
    }

    fn since(since: OffsetDateTime) -> Result<BatchCursor, String> {
        let end = OffsetDateTime::now_utc() + time::Duration::days(1);
        Ok(BatchCursor {
            page: Some(PageRequest::Dates {
                start: ymd(since),
                end: ymd(end),
            }),
            ..BatchCursor::default()
        })
    }
}

#[derive(Debug, Deserialize)]
struct Listed {
    url: String,
}

/// What identifies a file across listings: the URL's path, without the signed query (which
/// changes with every listing) and without the host (a storage service may answer on more
/// than one).
pub fn file_key(url: &url::Url) -> String {
    url.path().to_string()
}

/// How a done file is remembered in the cursor: 64 bits of its key (paths are long, and the
/// cursor is written with every chunk).
fn mark(key: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()))
}

/// The files of a listing's `value`.
pub fn files(value: &serde_json::value::RawValue) -> Result<Vec<FileRef>, StreamError> {
    let listed: Vec<Listed> = serde_json::from_str(value.get())
        .map_err(|e| StreamError::Shape(format!("SIEM page value is not a list of files: {e}")))?;
    listed
        .into_iter()
        .map(|f| {
            let url = url::Url::parse(&f.url)
                .map_err(|e| StreamError::Shape(format!("SIEM file URL is not a URL: {e}")))?;
            Ok(FileRef {
                key: file_key(&url),
                url,
            })
        })
        .collect()
}

pub struct BatchSource {
    pub path: &'static str,
    pub event_type: String,
    pub page_size: u32,
    pub initial_lookback: Duration,
    /// The listing being read this poll (what sub-cursors name), and its files' marks.
    listing: Option<PageRequest>,
    listing_marks: Vec<String>,
    first: PageRequest,
}

impl BatchSource {
    pub fn new(
        path: &'static str,
        event_type: String,
        page_size: u32,
        initial_lookback: Duration,
    ) -> BatchSource {
        let mut s = BatchSource {
            path,
            event_type,
            page_size,
            initial_lookback,
            listing: None,
            listing_marks: Vec::new(),
            first: PageRequest::Token(String::new()),
        };
        s.first = s.first_page(OffsetDateTime::now_utc());
        s
    }

    fn first_page(&self, now: OffsetDateTime) -> PageRequest {
        let lookback = self.initial_lookback.min(RETENTION);
        PageRequest::Dates {
            start: ymd(now - lookback),
            end: ymd(now + time::Duration::days(1)),
        }
    }

    fn page_of(&self, c: &BatchCursor) -> PageRequest {
        c.page.clone().unwrap_or_else(|| self.first.clone())
    }
}

impl Source for BatchSource {
    type Cursor = BatchCursor;

    fn begin(&mut self, _cursor: &BatchCursor, now: OffsetDateTime) {
        self.first = self.first_page(now);
    }

    fn request(&self, c: &BatchCursor) -> Option<Request> {
        let mut query = vec![
            ("type", self.event_type.clone()),
            ("pageSize", self.page_size.to_string()),
        ];
        match self.page_of(c) {
            PageRequest::Dates { start, end } => {
                query.push(("dateRangeStartsAt", start));
                query.push(("dateRangeEndsAt", end));
            }
            PageRequest::Token(t) => query.push(("nextPage", t)),
        }
        Some(Request::Siem {
            path: self.path,
            query,
        })
    }

    fn page(
        &mut self,
        c: &BatchCursor,
        response: Response,
    ) -> Result<Page<BatchCursor>, StreamError> {
        let Response::Siem(listing) = response else {
            return Err(StreamError::Shape("expected a SIEM listing".into()));
        };
        let page = self.page_of(c);
        self.listing = Some(page.clone());
        let listed = match listing.value.as_deref() {
            Some(v) => files(v)?,
            None => Vec::new(),
        };
        // Cursors stored by index: the files before it are done, and the index is in progress.
        let stored_by_index = matches!(c.file, Some(FileMark::Index(_)));
        let mut c = c.clone();
        if let Some(FileMark::Index(i)) = c.file {
            c.done = listed.iter().take(i).map(|f| mark(&f.key)).collect();
            c.file = listed
                .get(i)
                .filter(|_| c.line > 0)
                .map(|f| FileMark::Key(f.key.clone()));
            if c.file.is_none() {
                c.line = 0;
            }
        }
        let marks: Vec<String> = listed.iter().map(|f| mark(&f.key)).collect();
        self.listing_marks = marks.clone();
        let todo: Vec<FileRef> = listed
            .iter()
            .zip(&marks)
            .filter(|(_, m)| !c.done.contains(m))
            .map(|(f, _)| f.clone())
            .collect();
        let next_token = listing
            .next_page
            .filter(|n| !n.is_empty())
            .map(PageRequest::Token)
            .filter(|n| *n != page);
        let caught_up = listing.is_caught_up || listed.is_empty() || next_token.is_none();
        // Every file of this listing is done once it is written, and files done before stay
        // known (at most MAX_CARRIED of them): a listing asked for again may have moved its
        // boundary, so a file written from this listing can come back at the top of the next.
        let done: Vec<String> = {
            let carried: Vec<String> = c
                .done
                .iter()
                .filter(|m| !marks.contains(m))
                .cloned()
                .collect();
            // Newest first: what goes is the oldest.
            marks
                .iter()
                .cloned()
                .chain(carried.into_iter().take(MAX_CARRIED))
                .collect()
        };
        // The driver reads the files from the translated cursor.
        let resume = stored_by_index.then(|| c.clone());
        if let Some(then) = &c.then {
            // A replay: the quarantined file alone read again (nothing else the listing may now
            // hold), then back to where the stream was, at the next poll.
            let todo: Vec<FileRef> = match &c.file {
                Some(FileMark::Key(k)) => todo.into_iter().filter(|f| f.key == *k).collect(),
                _ => Vec::new(),
            };
            if todo.is_empty() && c.file.is_some() {
                tracing::error!(listing = %c.describe(), "a quarantined file to replay is no longer listed by Mimecast; it cannot be read again");
            }
            return Ok(Page {
                records: Records::None,
                received: listed.len(),
                next: (**then).clone(),
                more: false,
                continues: false,
                resume,
                files: todo,
                body: None,
                details: Vec::new(),
                dedup: Default::default(),
            });
        }
        let next = match next_token {
            // Committed only once every file of this listing is written.
            Some(n) => BatchCursor {
                page: Some(n),
                done,
                ..BatchCursor::default()
            },
            // No new @nextPage: stay on this listing, its files done, so the next poll asks
            // for it again and reads only files it did not list before.
            None => BatchCursor {
                page: Some(page),
                done,
                ..BatchCursor::default()
            },
        };
        Ok(Page {
            records: Records::None,
            received: listed.len(),
            next,
            more: !caught_up,
            continues: true,
            resume,
            files: todo,
            body: None,
            details: Vec::new(),
            dedup: Default::default(),
        })
    }

    fn file_start(&self, c: &BatchCursor, key: &str) -> u64 {
        match &c.file {
            Some(FileMark::Key(k)) if k == key => c.line,
            _ => 0,
        }
    }

    fn file_progress(&self, c: &BatchCursor, key: &str, lines: u64, finished: bool) -> BatchCursor {
        let mut next = c.clone();
        next.page = self.listing.clone().or(next.page);
        if let Some(FileMark::Index(_)) = next.file {
            next.file = None;
        }
        if finished {
            let m = mark(key);
            if !next.done.contains(&m) {
                next.done.push(m);
            }
            next.file = None;
            next.line = 0;
            next.failing = next.failing.filter(|(k, _)| k != key);
        } else {
            next.file = Some(FileMark::Key(key.to_string()));
            next.line = lines;
        }
        next
    }

    fn file_failed(&self, c: &BatchCursor, key: &str) -> FileFailure<BatchCursor> {
        let mut next = c.clone();
        next.page = self.listing.clone().or(next.page);
        let attempts = match &c.failing {
            Some((k, n)) if k == key => n + 1,
            _ => 1,
        };
        if attempts >= MAX_FILE_ATTEMPTS {
            let done = self.file_progress(&next, key, 0, true);
            // Reads the listing again with every other file done, from the line reached.
            let m = mark(key);
            let replay = BatchCursor {
                page: next.page.clone(),
                done: self
                    .listing_marks
                    .iter()
                    .filter(|x| **x != m)
                    .cloned()
                    .collect(),
                file: Some(FileMark::Key(key.to_string())),
                line: self.file_start(c, key),
                ..BatchCursor::default()
            };
            return FileFailure {
                cursor: BatchCursor {
                    failing: None,
                    ..done
                },
                quarantined: Some(replay),
            };
        }
        next.failing = Some((key.to_string(), attempts));
        FileFailure {
            cursor: next,
            quarantined: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, sig: &str) -> FileRef {
        let url = url::Url::parse(&format!("https://files.example/{path}?X-Sig={sig}")).unwrap();
        FileRef {
            key: file_key(&url),
            url,
        }
    }

    #[test]
    fn a_file_is_known_by_its_path_whatever_its_signature() {
        assert_eq!(file("a/1.json.gz", "x").key, file("a/1.json.gz", "y").key);
        assert_ne!(file("a/1.json.gz", "x").key, file("a/2.json.gz", "x").key);
    }

    #[test]
    fn cursor_round_trips_and_reads_index_cursors_of_older_versions() {
        let c = BatchCursor {
            page: Some(PageRequest::Token("NDY6bnVsbA==".into())),
            done: vec![mark("/a")],
            file: Some(FileMark::Key("h/b".into())),
            line: 4000,
            failing: Some(("h/c".into(), 2)),
            then: None,
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<BatchCursor>(&text).unwrap(), c);
        let old: BatchCursor =
            serde_json::from_str(r#"{"page":{"token":"t"},"file":2,"line":40}"#).unwrap();
        assert_eq!(old.file, Some(FileMark::Index(2)));
        assert_eq!(old.line, 40);
    }

    fn listing(paths: &[&str], next: Option<&str>) -> Response {
        let value: Vec<serde_json::Value> = paths
            .iter()
            .map(|p| serde_json::json!({"url": format!("https://files.example/{p}?sig=1")}))
            .collect();
        let body =
            serde_json::json!({"value": value, "@nextPage": next, "isCaughtUp": next.is_none()});
        Response::Siem(crate::api::SiemPage::parse(body.to_string().as_bytes()).unwrap())
    }

    #[test]
    fn a_cursor_stored_by_index_is_translated_for_the_driver() {
        let mut s = BatchSource::new(PATH, "receipt".into(), 10, Duration::from_secs(3600));
        let old: BatchCursor =
            serde_json::from_str(r#"{"page":{"token":"t"},"file":2,"line":40}"#).unwrap();
        let page = s
            .page(&old, listing(&["a", "b", "c", "d"], Some("t2")))
            .unwrap();
        let resume = page.resume.expect("translated");
        assert_eq!(resume.done, vec![mark("/a"), mark("/b")]);
        assert_eq!(s.file_start(&resume, "/c"), 40);
        let todo: Vec<&str> = page.files.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(todo, vec!["/c", "/d"]);
    }

    #[test]
    fn the_previous_listings_files_stay_done_and_the_oldest_go_first() {
        let mut s = BatchSource::new(PATH, "receipt".into(), 10, Duration::from_secs(3600));
        let mut c = BatchCursor::default();
        for i in 0..40 {
            let names: Vec<String> = (0..5).map(|j| format!("f{i}-{j}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            c = s
                .page(&c, listing(&refs, Some(&format!("t{i}"))))
                .unwrap()
                .next;
        }
        // The listing before the last is still known as done; the very first is forgotten.
        assert!(c.done.contains(&mark("/f38-0")));
        assert!(c.done.contains(&mark("/f39-4")));
        assert!(!c.done.contains(&mark("/f0-0")));
        assert!(c.done.len() <= 5 + MAX_CARRIED);
    }

    #[test]
    fn progress_failure_and_quarantine() {
        let s = BatchSource::new(PATH, "receipt".into(), 10, Duration::from_secs(3600));
        let f = file("a/1.json.gz", "x");
        let c = BatchCursor::default();
        let mid = s.file_progress(&c, &f.key, 500, false);
        assert_eq!(s.file_start(&mid, &f.key), 500);
        assert_eq!(s.file_start(&mid, &file("a/2.json.gz", "x").key), 0);
        let done = s.file_progress(&mid, &f.key, 900, true);
        assert_eq!(done.done, vec![mark(&f.key)]);
        assert_eq!(done.file, None);
        let mut cur = c;
        for attempt in 1..MAX_FILE_ATTEMPTS {
            let failure = s.file_failed(&cur, &f.key);
            assert!(failure.quarantined.is_none(), "attempt {attempt}");
            cur = failure.cursor;
        }
        let last = s.file_failed(&cur, &f.key);
        let replay = last.quarantined.expect("quarantined");
        assert_eq!(replay.file, Some(FileMark::Key(f.key.clone())));
        assert!(last.cursor.done.contains(&mark(&f.key)));
        assert_eq!(last.cursor.failing, None);
    }
}
