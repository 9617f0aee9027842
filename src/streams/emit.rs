//! Records -> output lines for one stream, with the dedup window.
//!
//! Time-window streams re-read the last `max_lag` of every window; the ids of events in that
//! overlap are remembered (in memory, and in the state database with each commit) so a
//! re-read record is dropped, not emitted twice. Only the overlap is remembered: a record older
//! than the next window's start can never be read again, so remembering it would cost memory
//! and writes for nothing.

use crate::catalog::StreamKind;
use crate::event::Context;
use crate::normalize::normalize;
use crate::render::Output;
use serde_json::value::RawValue;
use std::borrow::Cow;
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

/// A set of id hashes (already hashes: not hashed again).
pub type IdSet = HashSet<i64, IdBuild>;
use time::OffsetDateTime;

/// The dedup key of an event id: 64 bits of xxh3, stored as SQLite's signed integer.
pub fn id_hash(id: &str) -> i64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes()) as i64
}

/// At most how many bytes `count` records of `raw` bytes in all render to: an event line is
/// its record plus the normalized fields, well under 768 bytes.
pub fn rendered_size(raw: usize, count: usize) -> usize {
    raw + 768 * count
}

pub struct Emitter {
    tenant: String,
    kind: StreamKind,
    output: Output,
    /// id hash -> event unix time, for pruning.
    seen: HashMap<i64, i64, IdBuild>,
    /// Every id of the last page handed over, remembered or not: a server whose consecutive
    /// pages share records must not have them written twice, whatever the dedup window keeps.
    recent: IdSet,
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
    /// Every id emitted (pages whose ids are checked), for the next page's check.
    pub ids: IdSet,
}

/// A record to render, with what its source decided beyond the record itself.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub raw: &'a RawValue,
    /// Replaces the normalized `action`.
    pub action: Option<&'static str>,
    /// Replaces the normalized id.
    pub id: Option<&'a str>,
}

impl<'a> From<&'a RawValue> for Item<'a> {
    fn from(raw: &'a RawValue) -> Item<'a> {
        Item {
            raw,
            action: None,
            id: None,
        }
    }
}

impl Emitter {
    pub fn new(
        tenant: &str,
        kind: StreamKind,
        output: Output,
        seen: impl IntoIterator<Item = (i64, i64)>,
    ) -> Emitter {
        Emitter {
            tenant: tenant.to_string(),
            kind,
            output,
            seen: seen.into_iter().collect(),
            recent: HashSet::default(),
        }
    }

    /// Renders `records`, dropping ids already emitted. Ids of events at or after `remember_from`
    /// are kept for dedup; `None` remembers none (cursor streams that never re-read).
    ///
    /// Events dated before `not_before` are dropped as well: an endpoint that ignores the
    /// requested window would otherwise re-emit history the dedup window no longer covers.
    pub fn render<'a, I: Into<Item<'a>>>(
        &self,
        records: impl IntoIterator<Item = I, IntoIter: Clone>,
        collected_at: OffsetDateTime,
        remember_from: Option<OffsetDateTime>,
        not_before: Option<OffsetDateTime>,
    ) -> Rendered {
        self.render_capped(records, collected_at, remember_from, not_before, None)
    }

    /// [`Emitter::render`], with `newest` taken only from events dated before `newest_before`:
    /// a record without a usable time is dated when it was collected, and must not pass for
    /// the newest event written (a restart point).
    pub fn render_capped<'a, I: Into<Item<'a>>>(
        &self,
        records: impl IntoIterator<Item = I, IntoIter: Clone>,
        collected_at: OffsetDateTime,
        remember_from: Option<OffsetDateTime>,
        not_before: Option<OffsetDateTime>,
        newest_before: Option<OffsetDateTime>,
    ) -> Rendered {
        let ctx = Context {
            tenant: &self.tenant,
            stream: self.kind.name(),
            collected_at,
            include_raw: self.output.include_raw,
        };
        let mut out = Rendered::default();
        let records = records.into_iter().map(Into::into);
        // Sized once, the buffer is neither copied as it grows nor twice as large as needed.
        let (raw, count) = records
            .clone()
            .fold((0, 0), |(b, n), r| (b + r.raw.get().len(), n + 1));
        out.lines.reserve(rendered_size(raw, count));
        let mut page_ids = IdSet::default();
        for item in records {
            let mut event = normalize(self.kind, &ctx, item.raw);
            if let Some(action) = item.action {
                event.action = Some(Cow::Borrowed(action));
            }
            if let Some(id) = item.id {
                event.id = Cow::Borrowed(id);
            }
            let hash = id_hash(&event.id);
            let stale = not_before.is_some_and(|nb| event.time < nb);
            if stale
                || self.seen.contains_key(&hash)
                || (remember_from.is_some()
                    && (self.recent.contains(&hash) || !page_ids.insert(hash)))
            {
                out.duplicates += 1;
                continue;
            }
            if remember_from.is_some_and(|from| event.time >= from) {
                out.seen.push((hash, event.time.unix_timestamp()));
            }
            if newest_before.is_none_or(|cap| event.time < cap) {
                out.newest = out.newest.max(Some(event.time));
            }
            self.output.format.write(self.kind, &event, &mut out.lines);
            out.emitted += 1;
        }
        if remember_from.is_some() {
            out.ids = page_ids;
        }
        out
    }

    /// Whether an event id is already written (or handed over), as dedup would find it.
    pub fn knows(&self, id: &str) -> bool {
        let hash = id_hash(id);
        self.seen.contains_key(&hash) || self.recent.contains(&hash)
    }

    /// The ids of the page just handed over, checked by the next page.
    pub fn set_recent(&mut self, ids: IdSet) {
        self.recent = ids;
    }

    /// The page's ids count as emitted from the moment the page is handed to the writer, so the
    /// next page (rendered while this one is made durable) is checked against them. Should the
    /// commit fail, the driver is rebuilt from the stored state, which drops them again.
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_record_without_a_usable_time_is_not_the_newest_written() {
        let e = Emitter::new("t", StreamKind::TtpUrl, Output::default(), Vec::new());
        let dated: Box<RawValue> =
            serde_json::from_str(r#"{"url":"u1","date":"2026-11-20T08:00:00+0000"}"#).unwrap();
        let undated: Box<RawValue> = serde_json::from_str(r#"{"url":"u2"}"#).unwrap();
        let at = datetime!(2026-11-23 10:00 UTC);
        let cap = datetime!(2026-11-21 00:00 UTC);
        let r = e.render_capped(
            [&*dated, &*undated],
            at,
            Some(OffsetDateTime::UNIX_EPOCH),
            None,
            Some(cap),
        );
        assert_eq!(r.emitted, 2, "both are written");
        assert_eq!(r.newest, Some(datetime!(2026-11-20 08:00 UTC)));
        let uncapped = e.render(
            [&*dated, &*undated],
            at,
            Some(OffsetDateTime::UNIX_EPOCH),
            None,
        );
        assert_eq!(uncapped.newest, Some(at), "dated when collected");
    }
}
