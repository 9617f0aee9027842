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

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes (`"`, `\\` and control
/// characters). Eight bytes are checked at a time, so text with nothing to escape (nearly every
/// value) costs one scan and one copy; `event.original` has a quote every few bytes.
pub(crate) fn json_string(out: &mut Vec<u8>, s: &str) {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
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
}
