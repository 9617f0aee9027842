//! Records -> output lines for one stream, with the dedup window.
//!
//! Time-window streams re-read the last `max_lag` of every window; the ids of events in that
//! overlap are remembered (in memory, and in the state database with each commit) so a
//! re-read record is dropped, not emitted twice. Only the overlap is remembered: a record older
//! than the next window's start can never be read again, so remembering it would cost memory
//! and writes for nothing.

use crate::event::Context;
use crate::normalize::normalize;
use crate::streams::StreamKind;
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Keys are already xxh3 hashes: hashing them again (SipHash) would only cost time.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(*b) ^ (self.0 >> 56);
        }
    }
    fn write_i64(&mut self, v: i64) {
        self.0 = v as u64;
    }
}

type IdBuild = BuildHasherDefault<IdHasher>;
use time::OffsetDateTime;

/// The dedup key of an event id: 64 bits of xxh3, stored as SQLite's signed integer.
pub fn id_hash(id: &str) -> i64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes()) as i64
}

pub struct Emitter {
    tenant: String,
    kind: StreamKind,
    include_raw: bool,
    /// id hash -> event unix time, for pruning.
    seen: HashMap<i64, i64, IdBuild>,
}

/// The lines of one page and what to commit with them.
#[derive(Debug, Default)]
pub struct Rendered {
    pub lines: Vec<u8>,
    pub emitted: u64,
    pub duplicates: u64,
    /// (id hash, event unix time) to remember.
    pub seen: Vec<(i64, i64)>,
    pub newest: Option<OffsetDateTime>,
}

impl Emitter {
    pub fn new(
        tenant: &str,
        kind: StreamKind,
        include_raw: bool,
        seen: impl IntoIterator<Item = (i64, i64)>,
    ) -> Emitter {
        Emitter {
            tenant: tenant.to_string(),
            kind,
            include_raw,
            seen: seen.into_iter().collect(),
        }
    }

    /// Renders `records`, dropping ids already emitted. Ids of events at or after `remember_from`
    /// are kept for dedup; `None` remembers none (cursor streams that never re-read).
    ///
    /// Events dated before `not_before` are dropped as well: an endpoint that ignores the
    /// requested window would otherwise re-emit history the dedup window no longer covers.
    pub fn render<'a>(
        &self,
        records: impl IntoIterator<Item = &'a RawValue, IntoIter: Clone>,
        collected_at: OffsetDateTime,
        remember_from: Option<OffsetDateTime>,
        not_before: Option<OffsetDateTime>,
    ) -> Rendered {
        let ctx = Context {
            tenant: &self.tenant,
            stream: self.kind.name(),
            collected_at,
            include_raw: self.include_raw,
        };
        let mut out = Rendered::default();
        let records = records.into_iter();
        // An event line is its record plus the normalized fields (well under 768 bytes):
        // sized once, the buffer is neither copied as it grows nor twice as large as needed.
        let expected: usize = records.clone().map(|r| r.get().len() + 768).sum();
        out.lines.reserve(expected);
        let mut page_ids: HashSet<i64, IdBuild> = HashSet::default();
        for raw in records {
            let event = normalize(self.kind, &ctx, raw);
            let hash = id_hash(&event.id);
            let stale = not_before.is_some_and(|nb| event.time < nb);
            if stale
                || self.seen.contains_key(&hash)
                || (remember_from.is_some() && !page_ids.insert(hash))
            {
                out.duplicates += 1;
                continue;
            }
            if remember_from.is_some_and(|from| event.time >= from) {
                out.seen.push((hash, event.time.unix_timestamp()));
            }
            out.newest = out.newest.max(Some(event.time));
            event.write_line(&mut out.lines);
            out.emitted += 1;
        }
        out
    }

    /// After a commit succeeded: the page's ids count as emitted.
    pub fn remember(&mut self, seen: &[(i64, i64)]) {
        self.seen.extend(seen.iter().copied());
    }

    /// Forgets everything (after a reset or a checkpoint conflict reloads the state).
    pub fn replace_seen(&mut self, seen: impl IntoIterator<Item = (i64, i64)>) {
        self.seen = seen.into_iter().collect();
    }

    /// Drops ids of events before `before` (unix seconds), as the commit did in the database.
    pub fn forget_before(&mut self, before: i64) {
        self.seen.retain(|_, t| *t >= before);
    }

    pub fn seen_len(&self) -> usize {
        self.seen.len()
    }
}
