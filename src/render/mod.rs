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
