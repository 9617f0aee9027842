//! Byte-level damage for the `bad-utf8` and `corrupt-gzip` faults.
//!
//! WHY here: JSON serializers cannot produce invalid UTF-8, so a record is first marked with a
//! character the generators never emit, serialized normally, and the marker's bytes are then
//! swapped for a raw `0xFF` (never valid in UTF-8). The rest of the body stays byte-identical to
//! the undamaged answer.

use serde_json::Value;

/// U+FDD0, a Unicode noncharacter: no generator emits it.
const MARK: char = '\u{FDD0}';

/// Marks the middle record of `records` (see [`mark_value`]); false if there is nothing to mark.
pub(crate) fn mark_middle(records: &mut [Value]) -> bool {
    let mid = records.len() / 2;
    records.get_mut(mid).is_some_and(mark_value)
}

/// Puts the marker in the middle of the first string value of `v` (object fields in key order,
/// depth first). False if `v` holds no string.
pub(crate) fn mark_value(v: &mut Value) -> bool {
    match v {
        Value::String(s) => {
            let mut mid = s.len() / 2;
            while !s.is_char_boundary(mid) {
                mid -= 1;
            }
            s.insert(mid, MARK);
            true
        }
        Value::Object(o) => {
            // Strings directly in the object first, then nested values.
            if let Some(s) = o.values_mut().find(|x| x.is_string()) {
                return mark_value(s);
            }
            o.values_mut().any(mark_value)
        }
        Value::Array(a) => a.iter_mut().any(mark_value),
        _ => false,
    }
}

/// Replaces the first marker in serialized bytes with a raw `0xFF`.
pub(crate) fn unmark(mut bytes: Vec<u8>) -> Vec<u8> {
    let mut buf = [0u8; 4];
    let m = MARK.encode_utf8(&mut buf).as_bytes();
    if let Some(i) = bytes.windows(m.len()).position(|w| w == m) {
        bytes.splice(i..i + m.len(), [0xFF]);
    }
    bytes
}

/// The records array of a page's `data`: `data[0].<first array field>` for nested answers
/// (`clickLogs`, `items`, `users`, ...), else `data` itself.
pub(crate) fn records_of(data: &mut [Value]) -> &mut [Value] {
    let nested = data.len() == 1
        && data[0]
            .as_object()
            .is_some_and(|o| o.values().any(Value::is_array));
    if !nested {
        return data;
    }
    match data[0]
        .as_object_mut()
        .and_then(|o| o.values_mut().find(|x| x.is_array()))
        .and_then(Value::as_array_mut)
    {
        Some(a) => a,
        None => &mut [],
    }
}

/// A gzip file whose first half is intact and whose second half is garbled (each byte XORed
/// with 0xA5): the header parses and the first lines may decompress, then decompression fails
/// on bad deflate data, a CRC mismatch or a missing trailer.
pub(crate) fn garble_gzip(mut gz: Vec<u8>) -> Vec<u8> {
    let half = gz.len() / 2;
    for b in &mut gz[half..] {
        *b ^= 0xA5;
    }
    gz
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_raw_ff_inside_the_first_string_of_the_middle_record() {
        let mut recs = vec![
            json!({"a": 1, "b": "x"}),
            json!({"n": 2, "m": "hello", "z": "zz"}),
            json!({"c": "y"}),
        ];
        assert!(mark_middle(&mut recs));
        let bytes = unmark(serde_json::to_vec(&recs).unwrap_or_default());
        assert!(std::str::from_utf8(&bytes).is_err());
        assert_eq!(bytes.iter().filter(|b| **b == 0xFF).count(), 1);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("\"m\":\"he\u{FFFD}llo\""), "{text}");
        assert!(text.starts_with(r#"[{"a":1,"b":"x"}"#));
        assert!(!mark_value(&mut json!({"n": 1})));
        let mut empty: Vec<Value> = Vec::new();
        assert!(!mark_middle(&mut empty));
    }

    #[test]
    fn records_of_finds_nested_lists() {
        let mut nested = vec![json!({"clickLogs": [{"a": "1"}], "resultCount": 1})];
        assert_eq!(records_of(&mut nested).len(), 1);
        let mut flat = vec![json!({"a": "1"}), json!({"a": "2"})];
        assert_eq!(records_of(&mut flat).len(), 2);
    }
}
