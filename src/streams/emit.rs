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
use std::sync::atomic::{AtomicUsize, Ordering};

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

pub struct Emitter {
    tenant: String,
    kind: StreamKind,
    output: Output,
    /// id hash -> event unix time, for pruning.
    seen: HashMap<i64, i64, IdBuild>,
    /// Every id of the last page handed over, remembered or not: a server whose consecutive
    /// pages share records must not have them written twice, whatever the dedup window keeps.
    recent: IdSet,
    /// Rendered bytes per byte of [`Emitter::base`] in the pages rendered so far, in 1/1024ths
    /// (0 before the first): see [`Emitter::rendered_size`].
    ratio: AtomicUsize,
}

/// What a page's rendered size is estimated from: its records, and a share per record for
/// the fields every line adds however small its record.
fn base(raw: usize, count: usize) -> usize {
    raw + 256 * count
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
            ratio: AtomicUsize::new(0),
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
        out.lines.reserve(self.rendered_size(raw, count));
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
        self.learn(base(raw, count), out.lines.len());
        out
    }

    /// How many bytes `count` records of `raw` bytes in all are expected to render to, for
    /// sizing the page's buffer once and reserving the writer's budget (which counts the
    /// buffer's capacity). A bound that holds for every record of every stream
    /// ([`crate::render::Format::size_bound`]) is up to twice what a stream's lines take, and
    /// the budget counted at that size holds half the lines it could: OCSF drains of
    /// `siem_cg` went from 1.15x to 1.45x native's time. So the first page is sized by the
    /// bound, and later ones by the largest ratio of rendered to record bytes this stream has
    /// produced (decaying by 1/16 a page), plus 1/16: a page larger than that grows its buffer
    /// once, and is counted at its capacity.
    pub fn rendered_size(&self, raw: usize, count: usize) -> usize {
        let base = base(raw, count);
        match self.ratio.load(Ordering::Relaxed) {
            0 => self.output.format.size_bound(raw, count),
            ratio => base.saturating_mul(ratio + ratio / 16) / 1024 + 64,
        }
    }

    /// Takes a rendered page's size into [`Emitter::rendered_size`]'s ratio.
    fn learn(&self, base: usize, rendered: usize) {
        if base == 0 || rendered == 0 {
            return;
        }
        let seen = rendered.saturating_mul(1024) / base;
        let before = self.ratio.load(Ordering::Relaxed);
        self.ratio
            .store(seen.max(before - before / 16), Ordering::Relaxed);
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

    /// A page's buffer is sized once, to what the stream's pages have taken: the first by the
    /// format's bound, later ones by what was learned, close enough that the writer's budget
    /// (which counts capacity) is not spent on room never written.
    #[test]
    fn pages_are_sized_by_what_the_stream_rendered_before() {
        for format in crate::render::Format::ALL {
            let output = Output {
                format,
                ..Output::default()
            };
            let e = Emitter::new("t", StreamKind::TtpUrl, output, Vec::new());
            let page = |from: usize| -> Vec<Box<RawValue>> {
                (from..from + 200)
                    .map(|i| {
                        let text = format!(
                            r#"{{"url":"https://example.com/{i}","date":"2026-11-20T08:00:00+0000","userEmailAddress":"u{i}@example.com","action":"Block","scanResult":"malicious"}}"#
                        );
                        serde_json::from_str(&text).unwrap()
                    })
                    .collect()
            };
            let at = datetime!(2026-11-23 10:00 UTC);
            let first = page(0);
            let raw: usize = first.iter().map(|r| r.get().len()).sum();
            let bound = format.size_bound(raw, first.len());
            assert_eq!(e.rendered_size(raw, first.len()), bound);
            let r = e.render(first.iter().map(|r| &**r), at, None, None);
            assert_eq!(
                r.lines.capacity(),
                bound,
                "{format}: sized once, by the bound"
            );
            assert!(r.lines.len() < bound, "{format}");

            let second = page(200);
            let raw: usize = second.iter().map(|r| r.get().len()).sum();
            let estimate = e.rendered_size(raw, second.len());
            let r2 = e.render(second.iter().map(|r| &**r), at, None, None);
            let (len, cap) = (r2.lines.len(), r2.lines.capacity());
            assert!(len <= cap, "{format}: {len} > {cap}: the buffer grew");
            assert!(
                cap <= len + len / 8 + 64,
                "{format}: {cap} bytes for {len} of lines"
            );
            assert_eq!(estimate, cap, "{format}: sized once, by the estimate");
        }
    }
}
