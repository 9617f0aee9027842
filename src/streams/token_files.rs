//! Endpoints that answer with a file and a continuation token in a response header:
//! `siem_mta` (`/api/audit/get-siem-logs`, zip of JSON lines, `mc-siem-token`, MIMECAST.md §4.2)
//! and `threat_intel` (`/api/ttp/threat-intel/get-feed`, STIX bundle,
//! `x-mc-threat-feed-next-token`, §4.7).
//!
//! Each file is written in full, then committed together with the token that follows it, so a
//! restart asks for the file after the last one written. A JSON envelope instead of a file
//! means "nothing more now" (SIEM: caught up; feed: `err_threat_intel_feed_no_result_found`).

use super::checkpoint::{Checkpointer, Progress};
use super::emit::Emitter;
use super::{PollReport, StreamError, StreamKind};
use crate::api::client::Download;
use crate::api::{ApiError, MimecastClient};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::io::Read;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

pub const SIEM_TOKEN_HEADER: &str = "mc-siem-token";
pub const FEED_TOKEN_HEADER: &str = "x-mc-threat-feed-next-token";
/// The feed's "nothing in this window" code (§4.7).
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
}

pub struct TokenFileStream {
    pub kind: StreamKind,
    /// Threat feed type (`malware_customer` / `malware_grid`); empty for SIEM.
    pub feed_type: String,
    pub client: MimecastClient,
    pub emitter: Emitter,
    pub initial_lookback: Duration,
    pub ckpt: Checkpointer,
    pub cursor: TokenCursor,
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

/// The objects of a STIX bundle (§4.7), each one event.
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

impl TokenFileStream {
    fn request(&self, window: Option<(OffsetDateTime, OffsetDateTime)>) -> Value {
        let token = self.cursor.token.clone();
        match self.kind {
            StreamKind::SiemMta => {
                let mut item = json!({"type": "MTA", "fileFormat": "json", "compress": true});
                if let Some(t) = token {
                    item["token"] = Value::String(t);
                }
                json!({"data": [item]})
            }
            _ => {
                let mut item =
                    json!({"feedType": self.feed_type, "fileType": "stix", "compress": false});
                match (token, window) {
                    (Some(t), _) => item["token"] = Value::String(t),
                    (None, Some((from, to))) => {
                        item["start"] = Value::String(super::window::body_date(from));
                        item["end"] = Value::String(super::window::body_date(to));
                    }
                    (None, None) => {}
                }
                json!({"data": [item]})
            }
        }
    }

    pub async fn poll(&mut self, cancel: &CancellationToken) -> Result<PollReport, StreamError> {
        let mut report = PollReport::default();
        let path = self.kind.spec().path;
        let is_feed = self.kind == StreamKind::ThreatIntel;
        // The feed pages within a window fixed by its first request; open a new window when the
        // last one was read to its end.
        let mut window = None;
        if is_feed && self.cursor.token.is_none() {
            let now = OffsetDateTime::now_utc();
            let from = self
                .cursor
                .covered_until
                .unwrap_or(now - self.initial_lookback.min(Duration::from_secs(7 * 86_400)));
            if now <= from {
                return Ok(report);
            }
            window = Some((from, now));
            self.cursor.window_end = Some(now);
        }
        loop {
            if cancel.is_cancelled() {
                report.cancelled = true;
                return Ok(report);
            }
            let download = self
                .client
                .post_download(path, &self.request(window))
                .await?;
            report.requests += 1;
            let (headers, body) = match download {
                Download::Envelope(env) => {
                    if is_feed && env.has_failure_code(FEED_NO_RESULT) {
                        self.close_window().await?;
                        return Ok(report);
                    }
                    env.check(path)?;
                    // SIEM: a JSON answer means caught up; the token stays.
                    if is_feed {
                        self.close_window().await?;
                    }
                    return Ok(report);
                }
                Download::File { headers, body } => (headers, body),
            };
            let next = header(
                &headers,
                if is_feed {
                    FEED_TOKEN_HEADER
                } else {
                    SIEM_TOKEN_HEADER
                },
            );
            let collected_at = OffsetDateTime::now_utc();
            let rendered = if is_feed {
                let objects = stix_objects(&body)?;
                self.emitter.render(objects, collected_at, None, None)
            } else {
                let lines = mta_records(&body)?;
                let raws: Vec<&RawValue> = lines
                    .iter()
                    .filter_map(|l| serde_json::from_slice::<&RawValue>(l).ok())
                    .collect();
                if raws.len() < lines.len() {
                    tracing::warn!(
                        lines = lines.len() - raws.len(),
                        "SIEM log file has lines that are not JSON; skipped"
                    );
                }
                self.emitter.render(raws, collected_at, None, None)
            };
            let empty = rendered.emitted == 0;
            let mut cursor = self.cursor.clone();
            let advanced = next.is_some() && next != self.cursor.token;
            match &next {
                Some(t) => cursor.token = Some(t.clone()),
                None if is_feed => {
                    cursor.token = None;
                    cursor.covered_until = cursor.window_end.take().or(cursor.covered_until);
                }
                None => {}
            }
            self.commit(cursor, rendered.lines, rendered.emitted)
                .await?;
            report.pages += 1;
            report.records += rendered.emitted;
            window = None;
            if !advanced || (is_feed && empty) {
                if is_feed && empty {
                    self.close_window().await?;
                }
                return Ok(report);
            }
        }
    }

    async fn close_window(&mut self) -> Result<(), StreamError> {
        let mut cursor = self.cursor.clone();
        cursor.token = None;
        cursor.covered_until = cursor.window_end.take().or(cursor.covered_until);
        if cursor != self.cursor {
            self.commit(cursor, Vec::new(), 0).await?;
        }
        Ok(())
    }

    async fn commit(
        &mut self,
        cursor: TokenCursor,
        lines: Vec<u8>,
        events: u64,
    ) -> Result<(), StreamError> {
        let progress = Progress {
            lines,
            events,
            pages: 1,
            covered_until: cursor.covered_until,
            ..Progress::default()
        };
        self.ckpt.commit(&cursor, progress).await?;
        self.cursor = cursor;
        Ok(())
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
