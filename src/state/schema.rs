//! Schema versions of the state database and the migrations between them.
//!
//! `PRAGMA user_version` holds the version. Each migration runs in its own transaction; a
//! database newer than this program is refused rather than guessed at.

use super::StateError;
use rusqlite::Connection;
use std::path::Path;

/// Index i holds the SQL that takes the schema from version i to i + 1.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: checkpoints, dedup window, sink offsets.
    "CREATE TABLE streams (
        id INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL,
        stream TEXT NOT NULL,
        part TEXT NOT NULL DEFAULT '',
        cursor TEXT,
        version INTEGER NOT NULL DEFAULT 0,
        last_success TEXT,
        last_error TEXT,
        last_error_at TEXT,
        events_total INTEGER NOT NULL DEFAULT 0,
        pages_total INTEGER NOT NULL DEFAULT 0,
        UNIQUE (tenant, stream, part)
    );
    CREATE TABLE seen (
        stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
        id_hash INTEGER NOT NULL,
        event_time INTEGER NOT NULL,
        PRIMARY KEY (stream_id, id_hash)
    ) WITHOUT ROWID;
    CREATE TABLE sinks (
        name TEXT PRIMARY KEY,
        committed_offset INTEGER NOT NULL
    );",
    // 1 -> 2: lag in `status`, and sink file identity so a rotated file is never truncated.
    "ALTER TABLE streams ADD COLUMN covered_until TEXT;
     ALTER TABLE sinks ADD COLUMN inode INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE sinks ADD COLUMN device INTEGER NOT NULL DEFAULT 0;",
    // 2 -> 3: the dedup memory is pruned by event time after every page of an ordered window.
    "CREATE INDEX seen_by_time ON seen (stream_id, event_time);",
    // 3 -> 4: SIEM files given up on after repeated decode failures, kept for `status` and
    // `reset --replay-quarantined`.
    "CREATE TABLE quarantine (
        stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
        file TEXT NOT NULL,
        error TEXT NOT NULL,
        at TEXT NOT NULL,
        replay TEXT NOT NULL,
        PRIMARY KEY (stream_id, file)
    );",
];

pub const CURRENT: i64 = MIGRATIONS.len() as i64;

pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StateError> {
    let sql = |source| StateError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql)?;
    if found > CURRENT {
        return Err(StateError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: CURRENT,
        });
    }
    for (from, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction().map_err(sql)?;
        tx.execute_batch(step).map_err(sql)?;
        tx.pragma_update(None, "user_version", from as i64 + 1)
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        tracing::info!(path = %path.display(), version = from + 1, "state database migrated");
    }
    Ok(())
}

/// Applies only the first `upto` migrations (tests of upgrades from older schemas).
#[cfg(test)]
pub fn migrate_to(conn: &mut Connection, upto: usize) -> rusqlite::Result<()> {
    for (from, step) in MIGRATIONS.iter().enumerate().take(upto) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", from as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
