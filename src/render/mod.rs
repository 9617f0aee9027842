//! Events -> output lines, in the format the sink asks for.
//!
//! One typed [`Event`] is rendered straight into the page's buffer, with no intermediate
//! `serde_json::Value`: rendering is on the hot path, and a tree per event would cost more than
//! parsing the record did. Native goes through serde (the event's own `Serialize`, the record
//! copied as it came); OCSF and ECS are written by hand with constant keys, their values and the
//! untouched record (which they must carry as a string) escaped by `json_string` (serde's
//! byte-by-byte escape was the largest cost of such a line). Each format knows the event
//! model and the stream it came from, never a Mimecast record (that is `normalize`'s job), so
//! a field filled once appears in every format.
//!
//! - [`native`]: our own schema (`schema/event.schema.json`), the default and the contract.
//! - [`ocsf`]: OCSF 1.8.0, one class per record kind.
//! - [`ecs`]: Elastic Common Schema 9.x, Mimecast specifics under `mimecast.`.

pub mod ecs;
pub mod native;
pub mod ocsf;

use crate::catalog::StreamKind;
use crate::event::Event;
use serde::Serialize;

/// How a sink wants its events: the format, and whether the untouched record goes along.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Output {
    pub format: Format,
    pub include_raw: bool,
}

/// The sink's `format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Native,
    Ocsf,
    Ecs,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Native, Format::Ocsf, Format::Ecs];

    pub fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Ocsf => "ocsf",
            Format::Ecs => "ecs",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// At most how many bytes `count` records of `raw` bytes in all render to, for sizing a
    /// page's buffer once (a buffer that grows mid-page is copied and ends up to twice the
    /// size) and for the writer's budget. A line is its record (escaped into a string in OCSF
    /// and ECS: up to a quarter longer for JSON, whose quotes are escaped) plus the normalized
    /// fields, which repeat some of the record's values and, in OCSF and ECS, add constant
    /// keys, captions and `metadata`/`event`. The constants bound every golden record of every
    /// stream, compact or pretty-printed (`tests/normalize_golden.rs`).
    pub fn size_bound(self, raw: usize, count: usize) -> usize {
        match self {
            Format::Native => raw + raw / 4 + 1024 * count,
            Format::Ocsf => raw + raw / 2 + 1280 * count,
            Format::Ecs => raw + raw / 2 + 1024 * count,
        }
    }

    /// Appends `event` (of `kind`'s stream) as one line to `out`.
    pub fn write(self, kind: StreamKind, event: &Event<'_>, out: &mut Vec<u8>) {
        match self {
            Format::Native => native::write(event, out),
            Format::Ocsf => ocsf::write(kind, event, out),
            Format::Ecs => ecs::write(kind, event, out),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const LO: u64 = u64::from_ne_bytes([0x01; 8]);
const HI: u64 = u64::from_ne_bytes([0x80; 8]);

/// From this length on a string is escaped as [`long_json_string`] does.
const LONG: usize = 128;

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes (`"`, `\\` and control
/// characters). Eight bytes are checked at a time, so text with nothing to escape (nearly every
/// value) costs one scan and one copy. Long text (the untouched record, which OCSF's `raw_data`
/// and ECS's `event.original` carry as a string, with a quote every few bytes) goes through
/// [`long_json_string`].
pub(crate) fn json_string(out: &mut Vec<u8>, s: &str) {
    if s.len() >= LONG {
        long_json_string(out, s);
        return;
    }
    /// A high bit in every byte of `w` that is `"`, `\\` or below 0x20. Borrows can only flag
    /// bytes after a truly flagged one, and only the lowest flagged byte is used.
    fn flagged(w: u64) -> u64 {
        let control = w.wrapping_sub(LO * 0x20) & !w;
        let q = w ^ (LO * u64::from(b'"'));
        let quote = q.wrapping_sub(LO) & !q;
        let b = w ^ (LO * u64::from(b'\\'));
        let backslash = b.wrapping_sub(LO) & !b;
        (control | quote | backslash) & HI
    }
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let mut m = flagged(u64::from_le_bytes(word));
        // Every flagged byte of the word, lowest first; a borrow's false alarm is skipped.
        while m != 0 {
            let j = i + (m.trailing_zeros() / 8) as usize;
            m &= m - 1;
            match bytes[j] {
                // `\"` and `\\`: the byte itself goes out with the next run.
                b'"' | b'\\' => {
                    out.extend_from_slice(&bytes[start..j]);
                    out.push(b'\\');
                    start = j;
                }
                0..=0x1f => {
                    out.extend_from_slice(&bytes[start..j]);
                    escape(out, bytes[j]);
                    start = j + 1;
                }
                _ => {}
            }
        }
        i += 8;
    }
    for (j, &b) in bytes.iter().enumerate().skip(i) {
        if matches!(b, b'"' | b'\\' | 0..=0x1f) {
            out.extend_from_slice(&bytes[start..j]);
            escape(out, b);
            start = j + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// [`json_string`] for long text with many escapes. The escaped text is written into room
/// made beforehand (twice the text: each byte is one byte, or two for `\"` and `\\`), a word at
/// a time: each word is stored whole, and each quote or backslash in it costs one 8-byte store
/// of the rest of the word one byte further on, after the backslash, rather than a `memcpy`
/// call for the run before it. A word with a control character (up to six bytes each) is
/// escaped byte by byte, and the room made again.
fn long_json_string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // The room a word may need: 8 bytes, 7 backslashes and an 8-byte store from the last.
    const WORD: usize = 24;
    let room = |left: usize| 2 * left + WORD;
    let mut n = out.len();
    out.resize(n + 1 + room(bytes.len()), 0);
    out[n] = b'"';
    n += 1;
    let mut words = bytes.chunks_exact(8);
    let mut left = bytes.len();
    for chunk in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        left -= 8;
        let x = u64::from_le_bytes(w);
        if x.wrapping_sub(LO * 0x20) & !x & HI != 0 {
            // A control character (a borrow can only follow a true one).
            out.truncate(n);
            escape_bytes(out, &w);
            n = out.len();
            out.resize(n + room(left), 0);
            continue;
        }
        let q = x ^ (LO * u64::from(b'"'));
        let b = x ^ (LO * u64::from(b'\\'));
        let mut m = ((q.wrapping_sub(LO) & !q) | (b.wrapping_sub(LO) & !b)) & HI;
        // At least `room(left + 8)` bytes are past `n`: the word and its escapes fit.
        let buf = &mut out[n..n + WORD];
        buf[..8].copy_from_slice(&w);
        let mut shift = 0;
        while m != 0 {
            let j = (m.trailing_zeros() / 8) as usize;
            m &= m - 1;
            // A borrow's false alarm is skipped.
            if matches!(w[j], b'"' | b'\\') {
                // `w[j..]` moves one byte further on, behind a backslash.
                let at = j + shift;
                buf[at] = b'\\';
                buf[at + 1..at + 9].copy_from_slice(&(x >> (8 * j)).to_le_bytes());
                shift += 1;
            }
        }
        n += 8 + shift;
    }
    out.truncate(n);
    escape_bytes(out, words.remainder());
    out.push(b'"');
}

/// Appends `bytes`, escaped one at a time.
fn escape_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    for &c in bytes {
        if matches!(c, b'"' | b'\\' | 0..=0x1f) {
            escape(out, c);
        } else {
            out.push(c);
        }
    }
}

fn escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]),
    }
}

/// Serializes `value` as one line (the native format). Serializing borrowed strings and
/// `RawValue` into a `Vec` cannot fail, but should it, nothing half-written is left behind.
fn write_json<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    let start = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(start);
        return;
    }
    out.push(b'\n');
}

/// For the renderers' unit tests: `event` written as `format`, checked to be exactly one line,
/// parsed.
#[cfg(test)]
pub(crate) fn one_line(format: Format, stream: StreamKind, event: &Event<'_>) -> serde_json::Value {
    let mut out = Vec::new();
    format.write(stream, event, &mut out);
    assert_eq!(out.last(), Some(&b'\n'));
    assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1, "one line");
    serde_json::from_slice(&out).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let long = format!("{}\u{1}\"{}", "x".repeat(13), "é".repeat(9));
        // Every byte escaped, six bytes each: more than the room first set aside.
        let controls = "\u{1f}".repeat(100);
        let dense = r#"{"a":"b","c":["d\\"]}"#.repeat(50);
        for text in [
            r#"{"a":"b \"quoted\" \\ back","n":1,"u":"\u00e9\n"}"#,
            "{\n  \"pretty\": \"yes\",\r\n\t\"tab\": [1, 2]\n}",
            r#"{"plain":"é ✓ 𝄞"}"#,
            "\u{0}\u{8}\u{c}\u{1f}\u{7f}",
            "",
            "12345678",
            long.as_str(),
            controls.as_str(),
            dense.as_str(),
        ] {
            let mut out = b"before ".to_vec();
            json_string(&mut out, text);
            let expected = serde_json::to_string(text).unwrap();
            assert_eq!(std::str::from_utf8(&out[7..]).unwrap(), expected);
            let back: String = serde_json::from_slice(&out[7..]).unwrap();
            assert_eq!(back, text);
        }
    }

    proptest::proptest! {
        #[test]
        fn long_text_is_escaped_as_serde_json_escapes_it(
            any in "(?s).{120,400}",
            dense in "[\"\\\\a#\\]\n\u{1}é]{120,400}",
            quotes in "[\"a]{120,300}",
        ) {
            for text in [&any, &dense, &quotes] {
                let mut out = b"before ".to_vec();
                json_string(&mut out, text);
                let expected = serde_json::to_string(text).unwrap();
                proptest::prop_assert_eq!(std::str::from_utf8(&out[7..]).unwrap(), expected);
            }
        }
    }
}
