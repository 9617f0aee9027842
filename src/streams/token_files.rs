//! Endpoints that answer with a file and a continuation token in a response header:
//! `siem_mta` (`/api/audit/get-siem-logs`, zip of JSON lines, `mc-siem-token`,
//! docs/mimecast-api.md#siem-mta-log-files-api-10) and `threat_intel`
//! (`/api/ttp/threat-intel/get-feed`, STIX bundle, `x-mc-threat-feed-next-token`,
//! docs/mimecast-api.md#threat-intel-feed).
//!
//! Each file is written in full, then committed together with the token that follows it, so a
//! restart asks for the file after the last one written. A JSON envelope instead of a file
//! means "nothing more now" (SIEM: caught up; feed: `err_threat_intel_feed_no_result_found`).

use super::batch_files::MAX_FILE_ATTEMPTS;
use super::emit::Rendered;
use super::{
    Body, Cursor, Dedup, FileFailure, Page, Record, Records, Request, Response, Source,
    StreamError, StreamKind,
};
use crate::api::client::Download;
use crate::api::ApiError;
use crate::api::Streamed;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::io::Read;
use std::time::Duration;
use time::OffsetDateTime;

pub const SIEM_TOKEN_HEADER: &str = "mc-siem-token";
pub const FEED_TOKEN_HEADER: &str = "x-mc-threat-feed-next-token";
/// The feed's "nothing in this window" code (docs/mimecast-api.md#threat-intel-feed).
pub const FEED_NO_RESULT: &str = "err_threat_intel_feed_no_result_found";
/// Largest decompressed file accepted from a zip (a corrupt or hostile archive cannot exhaust memory).
const MAX_FILE_BYTES: u64 = 1024 * 1024 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCursor {
    /// The token to send next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Threat feed: the end of the last window read to exhaustion.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub covered_until: Option<OffsetDateTime>,
    /// Threat feed: the window the token belongs to.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub window_end: Option<OffsetDateTime>,
    /// SIEM: the newest event time written.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub written_until: Option<OffsetDateTime>,
    /// SIEM: re-reading from the oldest file after a refused token; events before this were
    /// written already.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub restarted_at: Option<OffsetDateTime>,
    /// SIEM: (id hash, time) of the events written in `written_until`'s second, so a re-read
    /// after a refused token drops them too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub newest_ids: Vec<(i64, i64)>,
    /// SIEM: lines written of the file answered to `token` (it is read in chunks).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub line: u64,
    /// SIEM: a file that failed to decode, and how many times in a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing: Option<(String, u32)>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The records of a SIEM MTA file: a zip holding JSON-lines (or JSON array) files, or the
/// JSON itself when Mimecast did not compress it.
pub fn mta_records(body: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
    let mut texts = Vec::new();
    if body.starts_with(b"PK") {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(body))
            .map_err(|e| ApiError::Decode(format!("SIEM log file is not a valid zip: {e}")))?;
        for i in 0..archive.len() {
            let entry = archive
                .by_index(i)
                .map_err(|e| ApiError::Decode(format!("SIEM log zip entry {i}: {e}")))?;
            if entry.is_dir() {
                continue;
            }
            let mut text = Vec::new();
            entry
                .take(MAX_FILE_BYTES)
                .read_to_end(&mut text)
                .map_err(|e| {
                    ApiError::Decode(format!("SIEM log zip entry {i} is truncated: {e}"))
                })?;
            texts.push(text);
        }
    } else {
        texts.push(body.to_vec());
    }
    let mut records = Vec::new();
    for text in texts {
        let trimmed = text.trim_ascii_start();
        if trimmed.starts_with(b"[") {
            let list: Vec<&RawValue> = serde_json::from_slice(trimmed)
                .map_err(|e| ApiError::Decode(format!("SIEM log file is not a JSON array: {e}")))?;
            records.extend(list.into_iter().map(|r| r.get().as_bytes().to_vec()));
        } else {
            records.extend(
                text.split(|b| *b == b'\n')
                    .map(<[u8]>::trim_ascii)
                    .filter(|l| !l.is_empty())
                    .map(<[u8]>::to_vec),
            );
        }
    }
    Ok(records)
}

/// The objects of a STIX bundle (docs/mimecast-api.md#threat-intel-feed), each one event.
pub fn stix_objects(body: &[u8]) -> Result<Vec<&RawValue>, ApiError> {
    #[derive(Deserialize)]
    struct Bundle<'a> {
        #[serde(borrow, default)]
        objects: Vec<&'a RawValue>,
    }
    let b: Bundle = serde_json::from_slice(body)
        .map_err(|e| ApiError::Decode(format!("threat feed is not a STIX bundle: {e}")))?;
    Ok(b.objects)
}

impl Cursor for TokenCursor {
    fn describe(&self) -> String {
        match (&self.token, &self.covered_until) {
            (Some(t), _) => format!("token {}…", t.chars().take(16).collect::<String>()),
            (None, Some(c)) => format!("until {}", crate::event::rfc3339::format(*c)),
            (None, None) => "start".into(),
        }
    }

    fn complete_until(&self) -> Option<OffsetDateTime> {
        self.covered_until
    }

    fn since(since: OffsetDateTime) -> Result<TokenCursor, String> {
        Ok(TokenCursor {
            covered_until: Some(since),
            ..TokenCursor::default()
        })
    }
}

/// The hooks of `siem_mta` and `threat_intel`.
pub struct TokenFileSource {
    pub kind: StreamKind,
    /// Threat feed type (`malware_customer` / `malware_grid`); empty for SIEM.
    pub feed_type: String,
    pub initial_lookback: Duration,
    now: OffsetDateTime,
    /// SIEM: the cursor once the file being read is written (where a quarantine moves to).
    after_file: Option<TokenCursor>,
}

impl TokenFileSource {
    pub fn new(kind: StreamKind, feed_type: String, initial_lookback: Duration) -> TokenFileSource {
        TokenFileSource {
            kind,
            feed_type,
            initial_lookback,
            now: OffsetDateTime::now_utc(),
            after_file: None,
        }
    }

    fn is_feed(&self) -> bool {
        self.kind == StreamKind::ThreatIntel
    }

    /// The feed's window when no token is held: from where the last one ended up to now.
    fn feed_window(&self, c: &TokenCursor) -> Option<(OffsetDateTime, OffsetDateTime)> {
        let to = c.window_end.unwrap_or(self.now);
        let from = c
            .covered_until
            .unwrap_or(to - self.initial_lookback.min(Duration::from_secs(7 * 86_400)));
        (from < to).then_some((from, to))
    }

    /// The feed's cursor once its window is read to the end.
    fn closed(&self, c: &TokenCursor) -> TokenCursor {
        let mut next = c.clone();
        next.token = None;
        next.covered_until = next
            .window_end
            .take()
            .or(Some(self.now))
            .max(next.covered_until);
        next
    }
}

impl TokenFileSource {
    /// A SIEM log file to read as it streams in: the cursor moves to the token that follows it
    /// once every line is written; until then chunks are committed with the lines done.
    fn streamed(
        &mut self,
        c: &TokenCursor,
        response: reqwest::Response,
    ) -> Result<Page<TokenCursor>, StreamError> {
        let next_token = header(response.headers(), SIEM_TOKEN_HEADER);
        let mut next = c.clone();
        next.line = 0;
        next.failing = None;
        if let Some(t) = &next_token {
            next.token = Some(t.clone());
        }
        self.after_file = Some(next.clone());
        Ok(Page {
            records: Records::None,
            received: 1,
            // A file without a following token leaves the token as it was (and the driver
            // reports that as no progress).
            more: next.token.is_some(),
            continues: true,
            resume: None,
            next,
            files: Vec::new(),
            body: Some(Body {
                key: file_key(c),
                response,
            }),
            details: Vec::new(),
            dedup: self.dedup(c),
        })
    }

    fn dedup(&self, c: &TokenCursor) -> Dedup {
        Dedup {
            // SIEM: ids are collected for the cursor's newest second (see `rendered`); none
            // goes to the dedup table.
            remember_from: (!self.is_feed()).then_some(OffsetDateTime::UNIX_EPOCH),
            not_before: c.restarted_at,
            forget_before: None,
            // Logs are written well after their events: one dated within the last minute is a
            // record without a usable time, dated when it was collected.
            newest_before: Some(self.now - time::Duration::minutes(1)),
        }
    }
}

/// How logs and `status` name the SIEM log file answered to a cursor's token.
fn file_key(c: &TokenCursor) -> String {
    match &c.token {
        // The whole token is what tells two files apart; its hash keeps the name short.
        Some(t) => format!(
            "SIEM log file after token {}… ({:016x})",
            t.chars().take(16).collect::<String>(),
            xxhash_rust::xxh3::xxh3_64(t.as_bytes())
        ),
        None => "first SIEM log file".into(),
    }
}

impl Source for TokenFileSource {
    type Cursor = TokenCursor;

    fn begin(&mut self, _cursor: &TokenCursor, now: OffsetDateTime) {
        self.now = now;
    }

    fn request(&self, c: &TokenCursor) -> Option<Request> {
        let path = self.kind.spec().path;
        if !self.is_feed() {
            let mut item = json!({"type": "MTA", "fileFormat": "json", "compress": true});
            if let Some(t) = &c.token {
                item["token"] = Value::String(t.clone());
            }
            // The zip is read as it streams in: its size never sits in memory.
            return Some(Request::Stream {
                path,
                body: json!({ "data": [item] }),
            });
        }
        // The feed pages within a window fixed by its first request.
        let mut item = json!({"feedType": self.feed_type, "fileType": "stix", "compress": false});
        match &c.token {
            Some(t) => item["token"] = Value::String(t.clone()),
            None => {
                let (from, to) = self.feed_window(c)?;
                item["start"] = Value::String(super::window::body_date(from));
                item["end"] = Value::String(super::window::body_date(to));
            }
        }
        Some(Request::Download {
            path,
            body: json!({ "data": [item] }),
        })
    }

    fn page(
        &mut self,
        c: &TokenCursor,
        response: Response,
    ) -> Result<Page<TokenCursor>, StreamError> {
        let path = self.kind.spec().path;
        let download = match response {
            Response::Download(d) => d,
            Response::Stream(Streamed::Envelope(env)) => Download::Envelope(env),
            Response::Stream(Streamed::Read { headers, body }) => Download::File { headers, body },
            Response::Stream(Streamed::File(response)) => return self.streamed(c, response),
            _ => return Err(StreamError::Shape("expected a file or an envelope".into())),
        };
        let mut opened = c.clone();
        if self.is_feed() && c.token.is_none() {
            opened.window_end = self.feed_window(c).map(|(_, to)| to);
        }
        let (headers, body) = match download {
            Download::Envelope(env) => {
                if self.is_feed() && env.has_failure_code(FEED_NO_RESULT) {
                    return Ok(Page::empty(self.closed(&opened), false));
                }
                env.check(path)?;
                // A JSON answer means nothing more now. SIEM: the token stays.
                let next = if self.is_feed() {
                    self.closed(&opened)
                } else {
                    c.clone()
                };
                return Ok(Page::empty(next, false));
            }
            Download::File { headers, body } => (headers, body),
        };
        let next_token = header(
            &headers,
            if self.is_feed() {
                FEED_TOKEN_HEADER
            } else {
                SIEM_TOKEN_HEADER
            },
        );
        let records: Vec<Record> = if self.is_feed() {
            stix_objects(&body)?
                .into_iter()
                .map(|r| Record::plain(r.to_owned()))
                .collect()
        } else {
            let lines = mta_records(&body)?;
            let total = lines.len();
            let records: Vec<Record> = lines
                .into_iter()
                .filter_map(|l| {
                    let text = match String::from_utf8(l) {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::error!(
                                "SIEM log file line has invalid UTF-8; the damaged bytes are replaced with U+FFFD"
                            );
                            String::from_utf8_lossy(e.as_bytes()).into_owned()
                        }
                    };
                    RawValue::from_string(text).ok().map(Record::plain)
                })
                .collect();
            if records.len() < total {
                tracing::error!(
                    lines = total - records.len(),
                    "SIEM log file has lines that are not JSON; skipped"
                );
            }
            records
        };
        let received = records.len();
        let mut next = opened.clone();
        match next_token {
            Some(t) => next.token = Some(t),
            // The feed's window is read to its end; a SIEM file without a token leaves the
            // token as it was (and the driver reports that as no progress).
            None if self.is_feed() => next = self.closed(&opened),
            None => {}
        }
        // An empty feed file ends the window.
        if self.is_feed() && received == 0 {
            next = self.closed(&next);
        }
        let more = next.token.is_some() && !(self.is_feed() && received == 0);
        Ok(Page {
            records: Records::Owned(records),
            received,
            next,
            more,
            continues: more,
            resume: None,
            files: Vec::new(),
            body: None,
            details: Vec::new(),
            dedup: self.dedup(c),
        })
    }

    /// SIEM: files older than the newest event written are dropped while re-reading after a
    /// refused token; the floor is lifted at the first file that reaches past it.
    fn rendered(&mut self, next: &mut TokenCursor, rendered: &mut Rendered) {
        let seen = std::mem::take(&mut rendered.seen);
        let Some(newest) = rendered.newest else {
            return;
        };
        // The floor is lifted for a file only once all of it is written (`after_files`): a
        // later entry of the same file may be older again.
        if next.line == 0 && next.restarted_at.is_some_and(|f| newest > f) {
            next.restarted_at = None;
        }
        let second = newest.unix_timestamp();
        let before = next.written_until.map(|w| w.unix_timestamp());
        if before.is_none_or(|b| second > b) {
            next.written_until = Some(newest);
            next.newest_ids.clear();
        }
        let kept = next.written_until.map_or(second, |w| w.unix_timestamp());
        next.newest_ids
            .extend(seen.into_iter().filter(|(_, t)| *t >= kept));
    }

    fn carried_ids(&self, c: &TokenCursor) -> Vec<(i64, i64)> {
        c.newest_ids.clone()
    }

    /// The token that follows the file; what the file's chunks recorded (newest event, its ids,
    /// the restart floor) is kept.
    fn after_files(&self, current: &TokenCursor, next: TokenCursor) -> TokenCursor {
        let restarted_at = current
            .restarted_at
            .filter(|f| current.written_until.is_none_or(|w| w <= *f));
        TokenCursor {
            token: next.token,
            line: 0,
            failing: None,
            restarted_at,
            ..current.clone()
        }
    }

    fn file_start(&self, c: &TokenCursor, _key: &str) -> u64 {
        c.line
    }

    fn file_progress(
        &self,
        c: &TokenCursor,
        _key: &str,
        lines: u64,
        _finished: bool,
    ) -> TokenCursor {
        TokenCursor {
            line: lines,
            ..c.clone()
        }
    }

    /// A file that cannot be decoded is asked for again at the next polls; after
    /// [`MAX_FILE_ATTEMPTS`] it is quarantined and the stream moves to the token after it.
    fn file_failed(&self, c: &TokenCursor, key: &str) -> FileFailure<TokenCursor> {
        let attempts = match &c.failing {
            Some((k, n)) if k == key => n + 1,
            _ => 1,
        };
        match &self.after_file {
            // A SIEM log file is named only by the token it answered, and tokens expire: the
            // quarantine records it, but it cannot be asked for again later (`reset
            // --replay-quarantined` says so).
            Some(after) if attempts >= MAX_FILE_ATTEMPTS => FileFailure {
                cursor: self.after_files(c, after.clone()),
                quarantined: Some(TokenCursor::default()),
            },
            _ => FileFailure {
                cursor: TokenCursor {
                    failing: Some((key.to_string(), attempts)),
                    ..c.clone()
                },
                quarantined: None,
            },
        }
    }

    /// A refused token: SIEM starts again without one (Mimecast's oldest file), dropping what
    /// is older than the newest event written; the feed re-reads its window.
    fn restart(&mut self, c: &TokenCursor) -> Option<TokenCursor> {
        c.token.as_ref()?;
        // The feed keeps no ids: a re-read window would be written again. SIEM needs the
        // newest event written (cursors of older versions have none): without it, a re-read
        // from the oldest file would write days again. Both fail the poll instead.
        if self.is_feed() || c.written_until.is_none() {
            return None;
        }
        let mut next = c.clone();
        next.token = None;
        next.line = 0;
        next.failing = None;
        if !self.is_feed() {
            next.restarted_at = c.written_until;
        }
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn mta_files_as_zip_lines_or_array() {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            z.start_file(
                "receipt_20211018093329655.json",
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            z.write_all(b"{\"a\":1}\n{\"a\":2}\n\n").unwrap();
            z.finish().unwrap();
        }
        assert_eq!(mta_records(buf.get_ref()).unwrap().len(), 2);
        assert_eq!(
            mta_records(b"[{\"a\":1},{\"a\":2},{\"a\":3}]")
                .unwrap()
                .len(),
            3
        );
        assert!(mta_records(b"PK\x03\x04 truncated").is_err());
    }

    #[test]
    fn stix_bundle_objects() {
        let b = br#"{"type":"bundle","id":"bundle--1","spec_version":"2.0","objects":[{"type":"malware","id":"malware--1"},{"type":"indicator","id":"indicator--1"}]}"#;
        assert_eq!(stix_objects(b).unwrap().len(), 2);
        assert!(stix_objects(b"not json").is_err());
    }
}
