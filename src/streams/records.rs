//! Where each endpoint puts its records inside `data` (MIMECAST.md §7.4): most nest them one
//! level down (`data[0].clickLogs`), audit events sit directly in `data[]`.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
#[error("unexpected response shape: {0}")]
pub struct ShapeError(pub String);

/// The records of `data`: `data[]` itself when `field` is `None`, else `data[0].<field>[]`
/// (every item of `data`, in fact, in case Mimecast splits a result). A missing field is an
/// empty page, not an error: Mimecast omits empty arrays in places.
pub fn extract<'a>(
    data: Option<&'a RawValue>,
    field: Option<&str>,
) -> Result<Vec<&'a RawValue>, ShapeError> {
    let Some(data) = data else {
        return Ok(Vec::new());
    };
    let items: Vec<&'a RawValue> = serde_json::from_str(data.get())
        .map_err(|e| ShapeError(format!("data is not an array: {e}")))?;
    let Some(field) = field else { return Ok(items) };
    let mut out = Vec::new();
    for item in items {
        let map: BTreeMap<Cow<'a, str>, &'a RawValue> = match serde_json::from_str(item.get()) {
            Ok(m) => m,
            Err(e) => return Err(ShapeError(format!("data[] item is not an object: {e}"))),
        };
        if let Some(list) = map.get(field) {
            if list.get() == "null" {
                continue;
            }
            let records: Vec<&'a RawValue> = serde_json::from_str(list.get())
                .map_err(|e| ShapeError(format!("data[].{field} is not an array: {e}")))?;
            out.extend(records);
        }
    }
    Ok(out)
}

/// Top-level fields of an object, unparsed (for small wrapper objects).
pub fn fields(obj: &RawValue) -> Result<BTreeMap<Cow<'_, str>, &RawValue>, ShapeError> {
    serde_json::from_str(obj.get()).map_err(|e| ShapeError(format!("expected an object: {e}")))
}

/// A string field of a wrapper object, if present.
pub fn string_field(obj: &RawValue, name: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Any(serde_json::Value);
    let map = fields(obj).ok()?;
    let v = map.get(name)?;
    serde_json::from_str::<Any>(v.get())
        .ok()
        .and_then(|Any(v)| v.as_str().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn nested_direct_missing_and_malformed() {
        let d = raw(r#"[{"clickLogs":[{"a":1},{"a":2}],"resultCount":2}]"#);
        assert_eq!(extract(Some(&d), Some("clickLogs")).unwrap().len(), 2);
        let d = raw(r#"[{"id":"x"},{"id":"y"}]"#);
        assert_eq!(extract(Some(&d), None).unwrap().len(), 2);
        let d = raw(r#"[{}]"#);
        assert!(extract(Some(&d), Some("clickLogs")).unwrap().is_empty());
        assert!(extract(None, Some("clickLogs")).unwrap().is_empty());
        let d = raw(r#"{"clickLogs":[]}"#);
        assert!(extract(Some(&d), Some("clickLogs")).is_err());
        let d = raw(r#"[{"clickLogs":"nope"}]"#);
        assert!(extract(Some(&d), Some("clickLogs")).is_err());
    }
}
