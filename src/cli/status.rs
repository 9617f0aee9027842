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

/// A stored time, shown to the millisecond like every other time in the output.
fn short_time(text: &str) -> String {
    crate::normalize::fields::parse_time(text)
        .map(rfc3339::format)
        .unwrap_or_else(|| text.to_string())
}

/// A short human description of a stored cursor.
pub fn describe_cursor(cursor: Option<&str>) -> String {
    let Some(text) = cursor else {
        return "none".into();
    };
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return "unreadable".into();
    };
    if let Some(w) = v.get("window").filter(|w| !w.is_null()) {
        return format!(
            "reading window to {}",
            short_time(w["to"].as_str().unwrap_or("?"))
        );
    }
    if let Some(c) = v.get("covered_until").and_then(Value::as_str) {
        return format!("until {}", short_time(c));
    }
    if let Some(p) = v.get("page").filter(|p| !p.is_null()) {
        let file = v.get("file").and_then(Value::as_u64).unwrap_or(0);
        return match p.get("token").and_then(Value::as_str) {
            Some(t) => format!(
                "page {}… file {file}",
                t.chars().take(16).collect::<String>()
            ),
            None => format!("first page, file {file}"),
        };
    }
    if let Some(t) = v.get("token").and_then(Value::as_str) {
        return format!("token {}…", t.chars().take(16).collect::<String>());
    }
    if let Some(p) = v.get("polled_at").and_then(Value::as_str) {
        return format!("snapshot {}", short_time(p));
    }
    "start".into()
}

fn lag(s: &StreamStatus, now: OffsetDateTime) -> Option<Duration> {
    let anchor = s.covered_until.or(s.last_success)?;
    Some((now - anchor).try_into().unwrap_or(Duration::ZERO))
}

fn rows(config: &Config, stored: Vec<StreamStatus>) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for t in &config.tenants {
        for s in &t.streams {
            let parts = match s.kind {
                StreamKind::SiemCg => s.types.clone(),
                StreamKind::ThreatIntel => s.feed_types.clone(),
                _ => vec![String::new()],
            };
            for part in parts {
                rows.push(Row {
                    key: StreamKey::new(&t.name, s.kind.name(), &part),
                    configured: true,
                    status: None,
                });
            }
        }
    }
    for s in stored {
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
    let stored = if path.exists() {
        match State::open_read_only(path).and_then(|s| s.status()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_FAILURE;
            }
        }
    } else {
        Vec::new()
    };
    let now = OffsetDateTime::now_utc();
    let rows = rows(config, stored);
    let behind = |r: &Row| match (max_lag, r.status.as_ref()) {
        (None, _) => false,
        (Some(_), None) => r.configured,
        (Some(max), Some(s)) => r.configured && lag(s, now).is_none_or(|l| l > max),
    };
    let lagging = rows.iter().filter(|r| behind(r)).count();
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
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"state_path": path, "now": rfc3339::format(now), "streams": list})
            )
            .unwrap_or_default()
        );
    } else {
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
                        describe_cursor(s.cursor.as_deref()),
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
        if let Some(max) = max_lag {
            if lagging > 0 {
                println!(
                    "\n{lagging} stream(s) behind by more than {}",
                    format_duration(max)
                );
            }
        }
    }
    if lagging > 0 {
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
        assert_eq!(describe_cursor(None), "none");
        assert_eq!(
            describe_cursor(Some(r#"{"covered_until":"2026-11-23T10:00:00Z"}"#)),
            "until 2026-11-23T10:00:00Z"
        );
        assert!(describe_cursor(Some(
            r#"{"covered_until":"x","window":{"from":"a","to":"b","next":"t"}}"#
        ))
        .contains("window to b"));
        assert!(describe_cursor(Some(
            r#"{"page":{"token":"NDY6bnVsbA=="},"file":2,"line":0}"#
        ))
        .contains("file 2"));
        assert!(describe_cursor(Some(r#"{"token":"abc"}"#)).starts_with("token abc"));
    }
}
