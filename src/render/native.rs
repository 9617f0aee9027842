//! The native rendering: the event's own serde form, `schema/event.schema.json`.

use crate::event::Event;

/// Appends the event as one JSON line to `out`.
pub fn write(event: &Event<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    super::write_json(event, out);
    if out.len() == start {
        return;
    }
    // `raw` is copied verbatim and may hold the source's insignificant whitespace. A literal
    // CR or LF can never be inside a JSON string (they must be escaped), so turning them into
    // spaces keeps the JSON identical in meaning and the event on one line. Only `raw` can hold
    // one (serde escapes every other field), so only then is the line scanned.
    if event
        .raw
        .is_some_and(|r| r.get().bytes().any(|b| b == b'\n' || b == b'\r'))
    {
        let end = out.len() - 1;
        for b in &mut out[start..end] {
            if *b == b'\n' || *b == b'\r' {
                *b = b' ';
            }
        }
    }
}
