//! Where each endpoint puts its records inside `data` (docs/mimecast-api.md#where-the-records-are):
//! most nest them one level down (`data[0].clickLogs`), audit events sit directly in `data[]`.

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
///
/// One pass over the bytes: the items are walked by a visitor that keeps `field` and skips the
/// rest, instead of parsing `data`, then each item, then the array again.
pub fn extract<'a>(
    data: Option<&'a RawValue>,
    field: Option<&str>,
) -> Result<Vec<&'a RawValue>, ShapeError> {
    let Some(data) = data else {
        return Ok(Vec::new());
    };
    let Some(field) = field else {
        return serde_json::from_str(data.get())
            .map_err(|e| ShapeError(format!("data is not an array: {e}")));
    };
    let mut de = serde_json::Deserializer::from_str(data.get());
    let out = serde::de::DeserializeSeed::deserialize(Items { field }, &mut de)
        .and_then(|out| de.end().map(|()| out))
        .map_err(|e| {
            ShapeError(format!(
                "data is not an array of objects with {field}[]: {e}"
            ))
        })?;
    Ok(out)
}

/// `data[]`, keeping every item's `field` array.
struct Items<'f> {
    field: &'f str,
}

impl<'de> serde::de::DeserializeSeed<'de> for Items<'_> {
    type Value = Vec<&'de RawValue>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Items<'_> {
    type Value = Vec<&'de RawValue>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while seq
            .next_element_seed(Item {
                field: self.field,
                out: &mut out,
            })?
            .is_some()
        {}
        Ok(out)
    }
}

/// One `data[]` item: its `field` array is appended to `out`; other members are skipped.
struct Item<'f, 'o, 'de> {
    field: &'f str,
    out: &'o mut Vec<&'de RawValue>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Item<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Item<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == self.field {
                if let Some(list) = map.next_value::<Option<Vec<&'de RawValue>>>()? {
                    self.out.extend(list);
                }
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
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
