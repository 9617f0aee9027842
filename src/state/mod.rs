//! Durable state in SQLite: checkpoints, stream health, the dedup window and the file sink's
//! committed offset.
//!
//! Everything a page changes is committed in one transaction: the new cursor, the ids it
//! emitted, the counters, and (for the file sink) the byte offset the output now ends at. Each
//! checkpoint carries a version, and a commit must name the version it starts from, so a page
//! committed twice or a stale writer is refused instead of silently skipping or repeating data
//! (the idea of quickwit's checkpoint deltas).
//!
//! The database is created with mode 0600, uses WAL so that `status` can read while the daemon
//! writes, and carries a schema version (`PRAGMA user_version`) migrated forward at open.

pub mod lock;
mod schema;

use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("state database {path}: cannot create it: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state database {path} has schema version {found}, newer than this program understands ({supported}); upgrade mimecast-collector")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("checkpoint conflict for {key}: expected version {expected}, found {found}; another process may be writing the same state database")]
    Conflict {
        key: String,
        expected: u64,
        found: u64,
    },
    /// The database file was deleted or replaced under the running daemon: its commits would
    /// go to a file nobody will open again.
    #[error("state database {path} was deleted or replaced while the collector ran; stopping so that nothing is collected twice. {saved}")]
    Vanished { path: PathBuf, saved: String },
    #[error("checkpoint conflict for {key}: the commit starts from a cursor that is not the stored one (a double poll, a skipped page or a cursor moving backwards); nothing was written")]
    Delta { key: String },
}

/// Which checkpoint: a stream of a tenant, and a part of it (a SIEM event type, a feed type, a
/// directory domain; empty for single-cursor streams).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    pub tenant: String,
    pub stream: String,
    pub part: String,
}

impl StreamKey {
    pub fn new(tenant: &str, stream: &str, part: &str) -> StreamKey {
        StreamKey {
            tenant: tenant.into(),
            stream: stream.into(),
            part: part.into(),
        }
    }
}

impl std::fmt::Display for StreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.part.is_empty() {
            write!(f, "{}/{}", self.tenant, self.stream)
        } else {
            write!(f, "{}/{}/{}", self.tenant, self.stream, self.part)
        }
    }
}

/// A checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Stream-specific JSON; `None` before the first commit.
    pub cursor: Option<String>,
    pub version: u64,
}

/// One row of `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStatus {
    pub key: StreamKey,
    pub cursor: Option<String>,
    pub version: u64,
    pub covered_until: Option<OffsetDateTime>,
    pub last_success: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    pub last_error_at: Option<OffsetDateTime>,
    pub events_total: u64,
    pub pages_total: u64,
}

/// A file given up on (see `streams::driver`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    /// The file's stable key (its URL without the signed query).
    pub file: String,
    pub error: String,
    /// The stream's cursor that reads the file again (`reset --replay-quarantined`).
    pub replay: String,
}

/// One quarantined file, for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub key: StreamKey,
    pub file: String,
    pub error: String,
    pub at: Option<OffsetDateTime>,
    pub replay: String,
}

/// What one page (or group of pages) changes, committed atomically: a delta from the stored
/// cursor to a new one.
#[derive(Debug, Clone)]
pub struct Commit {
    pub key: StreamKey,
    /// The version the writer read; the commit fails if the stored one differs.
    pub expected_version: u64,
    /// The stored cursor the commit starts from (`None`: none stored yet); refused if the
    /// stored one differs.
    pub from: Option<String>,
    pub cursor: String,
    /// The newest event time the cursor now covers (for lag in `status`).
    pub covered_until: Option<OffsetDateTime>,
    pub events: u64,
    pub pages: u64,
    /// Dedup entries for the emitted events: (id hash, event time as unix seconds).
    pub seen: Vec<(i64, i64)>,
    /// Forget dedup entries older than this (unix seconds): they can no longer be re-read.
    pub forget_seen_before: Option<i64>,
    /// A file the stream gives up on, recorded with the commit that skips it.
    pub quarantine: Option<Quarantine>,
}

/// The file sink's committed position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkPosition {
    pub offset: u64,
    /// Inode and device of the file the offset belongs to: a different file (after logrotate)
    /// must not be truncated to an offset that was never its own.
    pub inode: u64,
    pub device: u64,
}

pub struct State {
    conn: Connection,
    path: PathBuf,
    /// Inode and device of the database file when it was opened.
    identity: Option<(u64, u64)>,
}

fn file_identity(path: &Path) -> std::io::Result<(u64, u64)> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok((meta.ino(), meta.dev()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok((0, 0))
    }
}

pub fn now_utc() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ts(t: OffsetDateTime) -> String {
    crate::event::rfc3339::format(t)
}

fn parse_ts(s: Option<String>) -> Option<OffsetDateTime> {
    s.and_then(|s| crate::normalize::fields::parse_time(&s))
}

impl State {
    /// Opens (creating with mode 0600 if needed) and migrates the database.
    pub fn open(path: &Path) -> Result<State, StateError> {
        create_private(path).map_err(|source| StateError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        let conn = Connection::open(path).map_err(|source| StateError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let mut state = State {
            conn,
            path: path.to_path_buf(),
            identity: file_identity(path).ok(),
        };
        state.init()?;
        Ok(state)
    }

    /// Opens for reading only (`status`): never creates, never migrates.
    pub fn open_read_only(path: &Path) -> Result<State, StateError> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|source| StateError::Sqlite {
                path: path.to_path_buf(),
                source,
            })?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|source| StateError::Sqlite {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(State {
            conn,
            path: path.to_path_buf(),
            identity: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that the path still names the database this connection has open. If it was
    /// deleted or replaced (an over-eager clean-up, a restore under a running daemon), the
    /// open copy is saved beside it as `<path>.recovered` and an error says so: the daemon
    /// stops rather than commit to a file that the next start would not find.
    pub fn check_in_place(&self) -> Result<(), StateError> {
        let Some(expected) = self.identity else {
            return Ok(());
        };
        match file_identity(&self.path) {
            Ok(found) if found == expected => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // Cannot tell (permissions changed?): the commit itself will say if it fails.
            Err(_) => return Ok(()),
        }
        let mut copy = self.path.as_os_str().to_owned();
        copy.push(".recovered");
        let copy = PathBuf::from(copy);
        let saved = match create_private(&copy)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                self.conn
                    .execute("VACUUM INTO ?1", [copy.to_string_lossy()])
                    .map_err(|e| e.to_string())
            }) {
            Ok(_) => format!(
                "Its checkpoints up to now were saved to {copy}: to go on where it stopped, move that file to {path} and start again.",
                copy = copy.display(),
                path = self.path.display()
            ),
            Err(e) => format!(
                "Its checkpoints could not be saved to {} ({e}).",
                copy.display()
            ),
        };
        Err(StateError::Vanished {
            path: self.path.clone(),
            saved,
        })
    }

    fn err(&self, source: rusqlite::Error) -> StateError {
        StateError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn init(&mut self) -> Result<(), StateError> {
        let path = self.path.clone();
        let e = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        self.conn.busy_timeout(Duration::from_secs(5)).map_err(e)?;
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(e)?;
        // NORMAL in WAL mode: every commit is atomic, and a power cut can only lose the newest
        // ones. That is safe for exactly-once: the output file is fdatasynced before each
        // commit, so after such a loss the file is ahead of the stored offset, and start-up cuts
        // that tail and fetches it again. It saves one sync per commit.
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(e)?;
        self.conn
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(e)?;
        // Integrity first: a corrupt file must stop the daemon with a clear error.
        let check: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(e)?;
        if check != "ok" {
            return Err(StateError::Sqlite {
                path: self.path.clone(),
                source: rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                    Some(format!("integrity check failed: {check}; move the file aside to start afresh (checkpoints will restart from initial_lookback)")),
                ),
            });
        }
        schema::migrate(&mut self.conn, &self.path)
    }

    fn stream_id(&self, key: &StreamKey) -> Result<Option<i64>, StateError> {
        self.conn
            .query_row(
                "SELECT id FROM streams WHERE tenant = ?1 AND stream = ?2 AND part = ?3",
                params![key.tenant, key.stream, key.part],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    fn ensure_stream(tx: &rusqlite::Transaction<'_>, key: &StreamKey) -> rusqlite::Result<i64> {
        tx.execute(
            "INSERT INTO streams (tenant, stream, part) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![key.tenant, key.stream, key.part],
        )?;
        tx.query_row(
            "SELECT id FROM streams WHERE tenant = ?1 AND stream = ?2 AND part = ?3",
            params![key.tenant, key.stream, key.part],
            |r| r.get(0),
        )
    }

    pub fn checkpoint(&self, key: &StreamKey) -> Result<Checkpoint, StateError> {
        let row = self
            .conn
            .query_row(
                "SELECT cursor, version FROM streams WHERE tenant = ?1 AND stream = ?2 AND part = ?3",
                params![key.tenant, key.stream, key.part],
                |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(match row {
            Some((cursor, version)) => Checkpoint {
                cursor,
                version: version as u64,
            },
            None => Checkpoint {
                cursor: None,
                version: 0,
            },
        })
    }

    /// The dedup entries of a stream (all parts share one window): (id hash, event unix time).
    pub fn seen_ids(&self, tenant: &str, stream: &str) -> Result<Vec<(i64, i64)>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT s.id_hash, s.event_time FROM seen s JOIN streams t ON t.id = s.stream_id WHERE t.tenant = ?1 AND t.stream = ?2")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![tenant, stream], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<(i64, i64)>, _>>()
            .map_err(|e| self.err(e))
    }

    /// Commits pages and, when given, the sink position, all or nothing.
    pub fn commit(
        &mut self,
        commits: &[Commit],
        sink: Option<(&str, SinkPosition)>,
    ) -> Result<Vec<u64>, StateError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(|source| StateError::Sqlite {
                path: path.clone(),
                source,
            })?;
        let mut versions = Vec::with_capacity(commits.len());
        let now = ts(now_utc());
        for c in commits {
            let sql = |source| StateError::Sqlite {
                path: path.clone(),
                source,
            };
            let next = c.expected_version + 1;
            // One cached statement on the way every page takes: the update applies only if
            // the stream is still where this batch started (version and cursor), and says
            // which row it changed. No row: the stream is new, or it moved (another process,
            // a reset); the slow path below tells which.
            let advance = |tx: &rusqlite::Transaction<'_>| {
                tx.prepare_cached(
                    "UPDATE streams SET cursor = ?6, version = ?7, covered_until = COALESCE(?8, covered_until),
                       last_success = ?9, events_total = events_total + ?10, pages_total = pages_total + ?11
                     WHERE tenant = ?1 AND stream = ?2 AND part = ?3 AND version = ?4 AND cursor IS ?5
                     RETURNING id",
                )
                .and_then(|mut st| {
                    st.query_row(
                        params![
                            c.key.tenant,
                            c.key.stream,
                            c.key.part,
                            c.expected_version as i64,
                            c.from,
                            c.cursor,
                            next as i64,
                            c.covered_until.map(ts),
                            now,
                            c.events as i64,
                            c.pages as i64
                        ],
                        |r| r.get::<_, i64>(0),
                    )
                    .optional()
                })
            };
            let id = match advance(&tx).map_err(sql)? {
                Some(id) => id,
                None => {
                    let id = Self::ensure_stream(&tx, &c.key).map_err(sql)?;
                    let (found, stored): (i64, Option<String>) = tx
                        .prepare_cached("SELECT version, cursor FROM streams WHERE id = ?1")
                        .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))))
                        .map_err(sql)?;
                    if found as u64 != c.expected_version {
                        return Err(StateError::Conflict {
                            key: c.key.to_string(),
                            expected: c.expected_version,
                            found: found as u64,
                        });
                    }
                    if stored != c.from {
                        return Err(StateError::Delta {
                            key: c.key.to_string(),
                        });
                    }
                    // The stream's first commit: its row exists now.
                    advance(&tx)
                        .map_err(sql)?
                        .ok_or_else(|| sql(rusqlite::Error::QueryReturnedNoRows))?
                }
            };
            if !c.seen.is_empty() {
                let mut stmt = tx
                    .prepare_cached("INSERT OR REPLACE INTO seen (stream_id, id_hash, event_time) VALUES (?1, ?2, ?3)")
                    .map_err(sql)?;
                for (hash, time) in &c.seen {
                    stmt.execute(params![id, hash, time]).map_err(sql)?;
                }
            }
            if let Some(q) = &c.quarantine {
                tx.execute(
                    "INSERT OR REPLACE INTO quarantine (stream_id, file, error, at, replay) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, q.file, q.error, now, q.replay],
                )
                .map_err(sql)?;
            }
            if let Some(before) = c.forget_seen_before {
                tx.execute(
                    "DELETE FROM seen WHERE stream_id = ?1 AND event_time < ?2",
                    params![id, before],
                )
                .map_err(sql)?;
            }
            versions.push(next);
        }
        if let Some((name, pos)) = sink {
            tx.prepare_cached(
                "INSERT INTO sinks (name, committed_offset, inode, device) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET committed_offset = ?2, inode = ?3, device = ?4",
            )
            .and_then(|mut st| {
                st.execute(params![
                    name,
                    pos.offset as i64,
                    pos.inode as i64,
                    pos.device as i64
                ])
            })
            .map_err(|source| StateError::Sqlite {
                path: path.clone(),
                source,
            })?;
        }
        tx.commit()
            .map_err(|source| StateError::Sqlite { path, source })?;
        Ok(versions)
    }

    pub fn sink_position(&self, name: &str) -> Result<Option<SinkPosition>, StateError> {
        self.conn
            .query_row(
                "SELECT committed_offset, inode, device FROM sinks WHERE name = ?1",
                [name],
                |r| {
                    Ok(SinkPosition {
                        offset: r.get::<_, i64>(0)? as u64,
                        inode: r.get::<_, i64>(1)? as u64,
                        device: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Records the sink position alone (after a rotation or a truncation at start-up).
    pub fn set_sink_position(&mut self, name: &str, pos: SinkPosition) -> Result<(), StateError> {
        self.commit(&[], Some((name, pos))).map(|_| ())
    }

    /// Records a failed poll: what went wrong and when, for `status` and `check`.
    pub fn record_error(&mut self, key: &StreamKey, message: &str) -> Result<(), StateError> {
        let path = self.path.clone();
        let sql = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let id = Self::ensure_stream(&tx, key).map_err(sql)?;
        tx.execute(
            "UPDATE streams SET last_error = ?2, last_error_at = ?3 WHERE id = ?1",
            params![id, message, ts(now_utc())],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Records a successful poll: the error is cleared, and the stream was last known complete
    /// now (or up to `covered_until`, where its cursor says so). A poll that found nothing new
    /// commits no page, yet the stream is as current as it can be: without this, `status`
    /// would call a caught-up stream behind while `/metrics` (which sees every poll) did not.
    pub fn record_success(
        &mut self,
        key: &StreamKey,
        covered_until: Option<OffsetDateTime>,
    ) -> Result<(), StateError> {
        let path = self.path.clone();
        let sql = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let id = Self::ensure_stream(&tx, key).map_err(sql)?;
        tx.execute(
            "UPDATE streams SET last_error = NULL, last_success = ?2,
               covered_until = COALESCE(?3, covered_until) WHERE id = ?1",
            params![id, ts(now_utc()), covered_until.map(ts)],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Replaces a stream's cursor outside the normal flow (`reset`); `None` clears it. Bumps the
    /// version, so a daemon still holding the old one cannot overwrite the reset.
    pub fn reset(&mut self, key: &StreamKey, cursor: Option<&str>) -> Result<(), StateError> {
        let path = self.path.clone();
        let sql = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let id = Self::ensure_stream(&tx, key).map_err(sql)?;
        tx.execute("UPDATE streams SET cursor = ?2, version = version + 1, covered_until = NULL WHERE id = ?1", params![id, cursor]).map_err(sql)?;
        tx.execute("DELETE FROM seen WHERE stream_id = ?1", [id])
            .map_err(sql)?;
        tx.commit().map_err(sql)
    }

    pub fn status(&self) -> Result<Vec<StreamStatus>, StateError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT tenant, stream, part, cursor, version, covered_until, last_success, last_error, last_error_at, events_total, pages_total
                 FROM streams ORDER BY tenant, stream, part",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(StreamStatus {
                    key: StreamKey {
                        tenant: r.get(0)?,
                        stream: r.get(1)?,
                        part: r.get(2)?,
                    },
                    cursor: r.get(3)?,
                    version: r.get::<_, i64>(4)? as u64,
                    covered_until: parse_ts(r.get(5)?),
                    last_success: parse_ts(r.get(6)?),
                    last_error: r.get(7)?,
                    last_error_at: parse_ts(r.get(8)?),
                    events_total: r.get::<_, i64>(9)? as u64,
                    pages_total: r.get::<_, i64>(10)? as u64,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Every quarantined file, oldest first (none in a database older than the quarantine,
    /// which `status` opens without migrating).
    pub fn quarantined(&self) -> Result<Vec<Quarantined>, StateError> {
        let exists: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'quarantine'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT t.tenant, t.stream, t.part, q.file, q.error, q.at, q.replay FROM quarantine q
                 JOIN streams t ON t.id = q.stream_id ORDER BY q.at",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Quarantined {
                    key: StreamKey {
                        tenant: r.get(0)?,
                        stream: r.get(1)?,
                        part: r.get(2)?,
                    },
                    file: r.get(3)?,
                    error: r.get(4)?,
                    at: parse_ts(r.get(5)?),
                    replay: r.get(6)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Sets a stream's cursor to read its quarantined files again and forgets them (`reset
    /// --replay-quarantined`), in one transaction; `chain` builds the cursor from the replay
    /// cursors (oldest first) and the stored one. Returns the files.
    pub fn replay_quarantined(
        &mut self,
        key: &StreamKey,
        chain: impl FnOnce(&[String], Option<&str>) -> Result<String, String>,
    ) -> Result<Result<Vec<String>, String>, StateError> {
        let Some(id) = self.stream_id(key)? else {
            return Ok(Ok(Vec::new()));
        };
        let path = self.path.clone();
        let sql = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let rows: Vec<(String, String)> = tx
            .prepare("SELECT file, replay FROM quarantine WHERE stream_id = ?1 ORDER BY at")
            .and_then(|mut s| {
                s.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(sql)?;
        if rows.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let stored: Option<String> = tx
            .query_row("SELECT cursor FROM streams WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .map_err(sql)?;
        let replays: Vec<String> = rows.iter().map(|(_, r)| r.clone()).collect();
        let cursor = match chain(&replays, stored.as_deref()) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        tx.execute(
            "UPDATE streams SET cursor = ?2, version = version + 1 WHERE id = ?1",
            params![id, cursor],
        )
        .map_err(sql)?;
        tx.execute("DELETE FROM quarantine WHERE stream_id = ?1", [id])
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Ok(rows.into_iter().map(|(f, _)| f).collect()))
    }

    /// Whether a stream exists in the database (used by `reset` to catch typos).
    pub fn has_stream(&self, key: &StreamKey) -> Result<bool, StateError> {
        Ok(self.stream_id(key)?.is_some())
    }
}

/// Lets `group` read a file the collector created: group ownership and mode 0640. Without a
/// group nothing changes (files are created 0600).
pub fn share_with_group(path: &Path, group: Option<u32>) -> std::io::Result<()> {
    #[cfg(unix)]
    if let Some(gid) = group {
        use std::os::unix::fs::PermissionsExt;
        if path.exists() {
            std::os::unix::fs::chown(path, None, Some(gid))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, group);
    Ok(())
}

/// Lets `group` reach the files in `dir`: group ownership and the group's read and search bits
/// added (`g+rx`, nothing else changed). A group that may read the output file but not enter
/// its directory reads nothing: systemd creates the state directory 0750, owned by the
/// service's own group. Only a directory this process owns is changed; for another it says
/// whether the group can get in.
pub fn share_dir_with_group(dir: &Path, group: Option<u32>) -> std::io::Result<()> {
    #[cfg(unix)]
    if let Some(gid) = group {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = std::fs::metadata(dir)?;
        let reachable = |m: &std::fs::Metadata| {
            m.mode() & 0o005 == 0o005 || (m.gid() == gid && m.mode() & 0o050 == 0o050)
        };
        if reachable(&meta) {
            return Ok(());
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        if meta.uid() != uid {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "the group {gid} cannot enter {}: it is not this user's to change; give it the group and g+rx",
                    dir.display()
                ),
            ));
        }
        std::os::unix::fs::chown(dir, None, Some(gid))?;
        std::fs::set_permissions(
            dir,
            std::fs::Permissions::from_mode(meta.mode() & 0o7777 | 0o050),
        )?;
    }
    #[cfg(not(unix))]
    let _ = (dir, group);
    Ok(())
}

/// Creates the file with mode 0600 if it does not exist, so the database is never readable by
/// others even for an instant.
pub fn create_private(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map(|_| ())
}

#[cfg(test)]
mod tests;
