//! Events -> output lines, in the format the sink asks for.
//!
//! One typed [`Event`] is rendered straight into the page's buffer by serde, with borrowed
//! structs per format and no intermediate `serde_json::Value`: rendering is on the hot path, and
//! a tree per event would cost more than parsing the record did. Each format knows the event
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
use serde_json::value::RawValue;

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

/// The untouched record as one JSON string literal (OCSF `raw_data`, ECS `event.original`),
/// ready to be written verbatim.
///
/// serde escapes a string byte by byte, the largest cost of a line that carries its record.
/// The record is valid JSON text, which narrows what can need escaping: inside its strings,
/// control characters are already escaped; outside them the only ones allowed are the
/// whitespace `\n`, `\r`, `\t`. A compact record (what the APIs send) has none of those, so only
/// `"` and `\` are escaped, found with `memchr` and copied between in slices. A record with
/// whitespace takes serde's path.
pub(crate) fn raw_as_string(raw: &RawValue) -> Box<RawValue> {
    let text = raw.get();
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8 + 2);
    if memchr::memchr3(b'\n', b'\r', b'\t', bytes).is_some() {
        // serde_json writes a str into a Vec without error.
        let _ = serde_json::to_writer(&mut out, text);
    } else {
        out.push(b'"');
        let mut from = 0;
        for at in memchr::memchr2_iter(b'"', b'\\', bytes) {
            out.extend_from_slice(&bytes[from..at]);
            out.push(b'\\');
            out.push(bytes[at]);
            from = at + 1;
        }
        out.extend_from_slice(&bytes[from..]);
        out.push(b'"');
    }
    // Valid UTF-8 (a str, with ASCII added) and a valid JSON string literal.
    String::from_utf8(out)
        .ok()
        .and_then(|s| RawValue::from_string(s).ok())
        .unwrap_or_else(|| {
            RawValue::from_string(serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into()))
                .unwrap_or_else(|_| RawValue::NULL.to_owned())
        })
}

/// Serializes `value` as one line; shared by every format. Serializing borrowed strings and
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
    fn a_record_as_a_string_reads_back_as_the_record() {
        for text in [
            r#"{"a":"b \"quoted\" \\ back","n":1,"u":"\u00e9\n"}"#,
            "{\n  \"pretty\": \"yes\",\r\n\t\"tab\": [1, 2]\n}",
            r#"{"plain":"é ✓ 𝄞"}"#,
            r#"[]"#,
        ] {
            let raw = RawValue::from_string(text.to_string()).unwrap();
            let lit = raw_as_string(&raw);
            let back: String = serde_json::from_str(lit.get()).unwrap();
            assert_eq!(back, text);
            assert_eq!(lit.get(), serde_json::to_string(text).unwrap());
        }
    }
}
