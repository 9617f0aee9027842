//! `reset`: move a stream's checkpoint back to a time (backfill) or clear it.
//!
//! It refuses while a daemon holds the state database unless `--force`; with `--force` the
//! running daemon notices at its next commit (the checkpoint version moved) and reloads.

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::config::{duration::parse_duration, Config};
use crate::state::lock::{LockError, StateLock};
use crate::state::{State, StreamKey};
use crate::streams::cursor_since;
use time::OffsetDateTime;

/// `2026-11-01T00:00:00Z` or a duration back from now (`3d`).
pub fn parse_since(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    // The record-time parser reads a bare number as epoch seconds or milliseconds (Mimecast
    // sends both); from an operator, `3` is a duration missing its unit, never 1970.
    if !text.is_empty() && text.trim().bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "--since: {text:?} is a bare number: write a duration with its unit (\"{t}d\", \"{t}h\") or a time (2026-11-01T00:00:00Z)",
            t = text.trim()
        ));
    }
    if let Some(t) = crate::normalize::fields::parse_time(text) {
        if t > now {
            return Err(format!("{text:?} is in the future"));
        }
        return Ok(t);
    }
    let d = parse_duration(text).map_err(|e| {
        format!("--since: not a time (2026-11-01T00:00:00Z) nor a duration (3d): {e}")
    })?;
    Ok(now - d)
}

/// What `reset` does to a stream's checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Start afresh (`initial_lookback`).
    Clear,
    /// Start at a time or a duration back.
    Since(&'a str),
    /// Read the quarantined files again, then go on from the checkpoint.
    ReplayQuarantined,
}

pub fn run(config: &Config, tenant: &str, stream: &str, action: Action<'_>, force: bool) -> u8 {
    let since = match action {
        Action::Since(text) => Some(text),
        _ => None,
    };
    let Some(t) = config.tenants.iter().find(|t| t.name == tenant) else {
        let names: Vec<&str> = config.tenants.iter().map(|t| t.name.as_str()).collect();
        eprintln!(
            "error: no tenant {tenant:?} in the configuration (tenants: {})",
            names.join(", ")
        );
        return EXIT_USAGE;
    };
    // Its checkpoints live in the database of the shard that collects it; changing them here
    // would change nothing that is read.
    if let Some(shard) = config.shard.filter(|_| !config.owns(tenant)) {
        let owner = crate::config::shard::owner(tenant, shard.count());
        eprintln!(
            "error: tenant {tenant:?} is collected by shard {owner}/{n}, not by this one ({shard}): reset it with shard {owner}/{n}'s state database (its state_path, with --shard {owner}/{n})",
            n = shard.count()
        );
        return EXIT_USAGE;
    }
    let Some(s) = t.streams.iter().find(|s| s.kind.name() == stream) else {
        let names: Vec<&str> = t.streams.iter().map(|s| s.kind.name()).collect();
        eprintln!(
            "error: tenant {tenant:?} has no stream {stream:?} (its streams: {})",
            names.join(", ")
        );
        return EXIT_USAGE;
    };
    let now = OffsetDateTime::now_utc();
    let cursor = match since
        .map(|text| parse_since(text, now).and_then(|t| cursor_since(s.kind, t).map(|c| (t, c))))
    {
        None => None,
        Some(Ok(pair)) => Some(pair),
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let path = &config.collector.state_path;
    let _lock = match StateLock::acquire(path) {
        Ok(l) => Some(l),
        Err(LockError::Held { .. }) if force => {
            eprintln!("warning: a daemon is running; it will pick up the new checkpoint at its next commit");
            None
        }
        Err(e @ LockError::Held { .. }) => {
            eprintln!("error: {e}; stop it first, or use --force");
            return EXIT_FAILURE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    let mut state = match State::open(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    let parts = s.parts();
    if action == Action::ReplayQuarantined {
        let mut replayed = 0;
        for part in parts {
            let key = StreamKey::new(tenant, stream, &part);
            let result = state.replay_quarantined(&key, |replays, stored| {
                crate::streams::replay_cursor(s.kind, replays, stored)
            });
            match result {
                Ok(Ok(files)) => {
                    for f in &files {
                        println!("{key}: {f} will be read again at the next poll, then the stream goes on from its checkpoint");
                    }
                    replayed += files.len();
                }
                Ok(Err(e)) => {
                    eprintln!("error: {key}: {e}");
                    return EXIT_USAGE;
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_FAILURE;
                }
            }
        }
        if replayed == 0 {
            println!("{tenant}/{stream}: no quarantined file");
        }
        return EXIT_OK;
    }
    // `--since` after the point a stream is complete up to would skip the records in between:
    // a backfill tool must not lose data without being told so, twice.
    if let Some((t, _)) = &cursor {
        let statuses = match state.status() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_FAILURE;
            }
        };
        let behind: Vec<(String, OffsetDateTime)> = statuses
            .iter()
            .filter(|st| st.key.tenant == tenant && st.key.stream == stream)
            .filter_map(|st| Some((st.key.to_string(), st.covered_until.filter(|c| c < t)?)))
            .collect();
        for (key, covered) in &behind {
            let verb = if force { "warning" } else { "error" };
            eprintln!(
                "{verb}: {key} is complete up to {}; --since {} moves its checkpoint forward and skips the records in between",
                crate::event::rfc3339::format(*covered),
                crate::event::rfc3339::format(*t)
            );
        }
        if !behind.is_empty() && !force {
            eprintln!("error: nothing changed; use an earlier --since, or --force to skip them");
            return EXIT_FAILURE;
        }
    }
    for part in parts {
        let key = StreamKey::new(tenant, stream, &part);
        if let Err(e) = state.reset(&key, cursor.as_ref().map(|(_, c)| c.as_str())) {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
        match &cursor {
            Some((t, _)) => println!(
                "{key}: checkpoint moved to {} (the next poll reads from there, minus max_lag)",
                crate::event::rfc3339::format(*t)
            ),
            None => println!(
                "{key}: checkpoint cleared (the next poll starts {} back)",
                crate::config::duration::format_duration(config.collector.initial_lookback)
            ),
        }
    }
    EXIT_OK
}

/// `reset --adopt-output`: records the output file as it is now as this state database's, so
/// that `run` appends after its end instead of refusing a file it has no record of.
pub fn adopt_output(config: &Config) -> u8 {
    let crate::config::SinkKind::File { path: output } = &config.sink.kind else {
        eprintln!("error: --adopt-output: the sink is not a file ([sink] kind = \"file\")");
        return EXIT_USAGE;
    };
    let path = &config.collector.state_path;
    let _lock = match StateLock::acquire(path) {
        Ok(l) => l,
        Err(e @ LockError::Held { .. }) => {
            eprintln!("error: {e}; stop it first");
            return EXIT_FAILURE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    let result = State::open(path)
        .map_err(crate::sink::SinkError::from)
        .and_then(|mut state| crate::sink::file::FileSink::adopt(output, &mut state));
    match result {
        Ok(pos) => {
            println!(
                "{}: taken as the output of {} as it is ({} bytes); the next run appends after them",
                output.display(),
                path.display(),
                pos.offset
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StreamKind;
    use time::macros::datetime;

    #[test]
    fn since_takes_times_and_durations() {
        let now = datetime!(2026-11-23 12:00 UTC);
        assert_eq!(
            parse_since("2026-11-01T00:00:00Z", now).unwrap(),
            datetime!(2026-11-01 00:00 UTC)
        );
        assert_eq!(
            parse_since("3d", now).unwrap(),
            datetime!(2026-11-20 12:00 UTC)
        );
        assert!(parse_since("2027-01-01T00:00:00Z", now)
            .unwrap_err()
            .contains("future"));
        assert!(parse_since("last week", now).is_err());
        for bare in ["3", "1700000000", " 42 "] {
            let e = parse_since(bare, now).unwrap_err();
            assert!(e.contains("bare number"), "{bare}: {e}");
        }
    }

    #[test]
    fn cursors_for_each_kind() {
        let t = datetime!(2026-11-20 08:00 UTC);
        assert_eq!(
            cursor_since(StreamKind::TtpUrl, t).unwrap(),
            r#"{"covered_until":"2026-11-20T08:00:00Z"}"#
        );
        assert!(cursor_since(StreamKind::SiemCg, t)
            .unwrap()
            .contains("2026-11-20"));
        assert!(cursor_since(StreamKind::SiemMta, t).is_err());
        // The stored forms must be what the streams read back.
        let w: crate::streams::window::WindowCursor =
            serde_json::from_str(&cursor_since(StreamKind::Audit, t).unwrap()).unwrap();
        assert_eq!(w.covered_until, Some(t));
        let c: crate::streams::batch_files::BatchCursor =
            serde_json::from_str(&cursor_since(StreamKind::SiemCg, t).unwrap()).unwrap();
        assert!(matches!(
            c.page,
            Some(crate::streams::batch_files::PageRequest::Dates { .. })
        ));
        let f: crate::streams::token_files::TokenCursor =
            serde_json::from_str(&cursor_since(StreamKind::ThreatIntel, t).unwrap()).unwrap();
        assert_eq!(f.covered_until, Some(t));
    }
}
