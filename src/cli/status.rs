//! `status`: what each stream has done and how far behind it is, from the state database alone
//! (it works while the daemon runs; SQLite WAL lets it read alongside the writer).

use super::{EXIT_FAILURE, EXIT_OK};
use crate::config::{duration::format_duration, Config, StreamKind};
use crate::event::rfc3339;
use crate::state::{State, StreamKey, StreamStatus};
use serde_json::{json, Value};
use std::time::Duration;
use time::OffsetDateTime;

/// One line of the report: a configured stream, or a stored one no longer configured.
struct Row {
    key: StreamKey,
    configured: bool,
    status: Option<StreamStatus>,
}

/// A short human description of a stored cursor, by the stream that owns it.
pub fn describe_cursor(stream: &str, cursor: Option<&str>) -> String {
    match StreamKind::from_name(stream) {
        Some(kind) => crate::streams::describe_cursor(kind, cursor),
        None => "unknown stream".into(),
    }
}

fn lag(s: &StreamStatus, now: OffsetDateTime) -> Option<Duration> {
    let anchor = s.covered_until.or(s.last_success)?;
    Some((now - anchor).try_into().unwrap_or(Duration::ZERO))
}

fn rows(config: &Config, stored: Vec<StreamStatus>) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for t in config.owned_tenants() {
        for s in &t.streams {
            let parts = s.parts();
            for part in parts {
                rows.push(Row {
                    key: StreamKey::new(&t.name, s.kind.name(), &part),
                    configured: true,
                    status: None,
                });
            }
        }
    }
    // Another shard's tenant is configured, but not here: a database copied when re-sharding
    // may still hold its rows, which this shard neither reads nor advances.
    let elsewhere =
        |tenant: &str| !config.owns(tenant) && config.tenants.iter().any(|t| t.name == tenant);
    for s in stored {
        if elsewhere(&s.key.tenant) {
            continue;
        }
        match rows.iter_mut().find(|r| r.key == s.key) {
            Some(r) => r.status = Some(s),
            None => rows.push(Row {
                key: s.key.clone(),
                configured: false,
                status: Some(s),
            }),
        }
    }
    rows
}

pub fn run(config: &Config, as_json: bool, max_lag: Option<Duration>) -> u8 {
    let path = &config.collector.state_path;
    let (stored, quarantined) = if path.exists() {
        match State::open_read_only(path).and_then(|s| Ok((s.status()?, s.quarantined()?))) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_FAILURE;
            }
        }
    } else {
        (Vec::new(), Vec::new())
    };
    let now = OffsetDateTime::now_utc();
    let rows = rows(config, stored);
    let behind = |r: &Row| match (max_lag, r.status.as_ref()) {
        (None, _) => false,
        (Some(_), None) => r.configured,
        (Some(max), Some(s)) => r.configured && lag(s, now).is_none_or(|l| l > max),
    };
    let lagging = rows.iter().filter(|r| behind(r)).count();
    // A stream whose last poll failed (a success clears the error) is failing, however recent
    // its checkpoint: on-call must not read "exit 0" as "all is well".
    let failing_row =
        |r: &Row| r.configured && r.status.as_ref().is_some_and(|s| s.last_error.is_some());
    let failing: Vec<String> = rows
        .iter()
        .filter(|r| failing_row(r))
        .map(|r| r.key.to_string())
        .collect();
    if as_json {
        let list: Vec<Value> = rows
            .iter()
            .map(|r| {
                let s = r.status.as_ref();
                json!({
                    "tenant": r.key.tenant,
                    "stream": r.key.stream,
                    "part": if r.key.part.is_empty() { Value::Null } else { Value::from(r.key.part.clone()) },
                    "configured": r.configured,
                    "checkpoint": s.and_then(|s| s.cursor.as_deref()).and_then(|c| serde_json::from_str::<Value>(c).ok()),
                    "covered_until": s.and_then(|s| s.covered_until).map(rfc3339::format),
                    "last_success": s.and_then(|s| s.last_success).map(rfc3339::format),
                    "lag_seconds": s.and_then(|s| lag(s, now)).map(|l| l.as_secs()),
                    "events_total": s.map(|s| s.events_total).unwrap_or(0),
                    "pages_total": s.map(|s| s.pages_total).unwrap_or(0),
                    "last_error": s.and_then(|s| s.last_error.clone()),
                    "last_error_at": s.and_then(|s| s.last_error_at).map(rfc3339::format),
                    "behind": behind(r),
                    "failing": failing_row(r),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "state_path": path,
                "shard": super::shard_json(config),
                "now": rfc3339::format(now),
                "streams": list,
                "quarantined": quarantined.iter().map(|q| json!({
                    "tenant": q.key.tenant,
                    "stream": q.key.stream,
                    "part": q.key.part,
                    "file": q.file,
                    "error": q.error,
                    "at": q.at.map(rfc3339::format),
                })).collect::<Vec<_>>(),
            }))
            .unwrap_or_default()
        );
    } else {
        if let Some(line) = super::shard_line(config) {
            println!("{line}\n");
        }
        println!(
            "{:<16} {:<32} {:<36} {:<24} {:>8} {:>10}  LAST ERROR",
            "TENANT", "STREAM", "CHECKPOINT", "LAST SUCCESS", "LAG", "EVENTS"
        );
        for r in &rows {
            let stream = if r.key.part.is_empty() {
                r.key.stream.clone()
            } else {
                format!("{}/{}", r.key.stream, r.key.part)
            };
            let stream = if r.configured {
                stream
            } else {
                format!("{stream} (not configured)")
            };
            match &r.status {
                None => println!("{:<16} {:<32} never polled", r.key.tenant, stream),
                Some(s) => {
                    let error = match (&s.last_error, s.last_error_at) {
                        (Some(e), Some(at)) => format!("{} ({e})", rfc3339::format(at)),
                        (Some(e), None) => e.clone(),
                        _ => "-".into(),
                    };
                    println!(
                        "{:<16} {:<32} {:<36} {:<24} {:>8} {:>10}  {}",
                        r.key.tenant,
                        stream,
                        describe_cursor(&s.key.stream, s.cursor.as_deref()),
                        s.last_success
                            .map(rfc3339::format)
                            .unwrap_or_else(|| "never".into()),
                        lag(s, now)
                            .map(|l| format_duration(Duration::from_secs(l.as_secs())))
                            .unwrap_or_else(|| "-".into()),
                        s.events_total,
                        error
                    );
                }
            }
        }
        if !quarantined.is_empty() {
            println!(
                "\n{} SIEM file(s) quarantined (they failed to decode {} times and were skipped):",
                quarantined.len(),
                crate::streams::batch_files::MAX_FILE_ATTEMPTS
            );
            for q in &quarantined {
                println!(
                    "  {} {} {}: {}",
                    q.at.map(rfc3339::format).unwrap_or_default(),
                    q.key,
                    q.file,
                    q.error
                );
            }
        }
        if let Some(max) = max_lag {
            if lagging > 0 {
                println!(
                    "\n{lagging} stream(s) behind by more than {}",
                    format_duration(max)
                );
            }
        }
        if !failing.is_empty() {
            println!(
                "\n{} stream(s) failing (last poll failed): {}",
                failing.len(),
                failing.join(", ")
            );
        }
    }
    if lagging > 0 || !failing.is_empty() {
        EXIT_FAILURE
    } else {
        EXIT_OK
    }
}

#[cfg(test)]
mod tests {
    use super::describe_cursor;

    #[test]
    fn cursors_are_described_briefly() {
        assert_eq!(describe_cursor("ttp_url", None), "none");
        assert_eq!(
            describe_cursor(
                "ttp_url",
                Some(r#"{"covered_until":"2026-11-23T10:00:00Z"}"#)
            ),
            "until 2026-11-23T10:00:00Z"
        );
        assert!(describe_cursor(
            "audit",
            Some(r#"{"covered_until":"2026-11-23T10:00:00Z","window":{"from":"2026-11-23T09:00:00Z","to":"2026-11-23T10:00:00Z","next":"t"}}"#)
        )
        .contains("window to 2026-11-23T10:00:00Z"));
        assert!(describe_cursor(
            "siem_cg",
            Some(r#"{"page":{"token":"NDY6bnVsbA=="},"done":["h/a","h/b"]}"#)
        )
        .contains("2 files done"));
        assert!(describe_cursor("siem_mta", Some(r#"{"token":"abc"}"#)).starts_with("token abc"));
        assert!(describe_cursor("ttp_url", Some("[")).contains("unreadable"));
    }
}
