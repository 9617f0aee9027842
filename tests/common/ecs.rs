//! Checks a line against the ECS 9.4 field list (`tests/fixtures/schemas/ecs`).
//!
//! The line is flattened to dotted paths (`{"event":{"kind":..}}` -> `event.kind`; the objects
//! of a `nested` field such as `email.attachments` keep that prefix) and every leaf outside
//! `mimecast.` must be an ECS field, of its type, an array only where ECS makes the field one,
//! and within `allowed_values`. `event.type` values must be ones ECS expects for one of the
//! line's `event.category` values, and `threat.indicator.type` one ECS expects.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

pub struct Field {
    pub kind: String,
    pub array: bool,
    pub allowed: Option<Vec<String>>,
    pub required: bool,
    /// The type of an `object` field's values (`labels`: keyword).
    pub object_type: Option<String>,
}

pub fn fields() -> &'static HashMap<String, Field> {
    static FIELDS: OnceLock<HashMap<String, Field>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/schemas/ecs/ecs_flat.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["_meta"]["ecs_version"], "9.4.0");
        doc["fields"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, def)| {
                let field = Field {
                    kind: def["type"].as_str().unwrap().to_string(),
                    array: def["normalize"]
                        .as_array()
                        .is_some_and(|n| n.iter().any(|v| v == "array")),
                    allowed: def["allowed_values"]
                        .as_array()
                        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect()),
                    required: def["required"] == true,
                    object_type: def["object_type"].as_str().map(str::to_string),
                };
                (name.clone(), field)
            })
            .collect()
    })
}

/// The event types ECS expects per category ("ECS Categorization Fields", event.category).
pub fn expected_types(category: &str) -> &'static [&'static str] {
    match category {
        "api" => &[
            "access", "admin", "allowed", "change", "creation", "deletion", "denied", "end",
            "info", "start", "user",
        ],
        "authentication" => &["start", "end", "info"],
        "configuration" => &["access", "change", "creation", "deletion", "info"],
        "database" => &["access", "change", "info", "error"],
        "driver" => &["change", "end", "info", "start"],
        "email" => &["info"],
        "file" => &["access", "change", "creation", "deletion", "info"],
        "host" => &["access", "change", "end", "info", "start"],
        "iam" => &[
            "admin", "change", "creation", "deletion", "group", "info", "user",
        ],
        "intrusion_detection" => &["allowed", "denied", "info"],
        "library" => &["start"],
        "malware" => &["info"],
        "network" => &[
            "access",
            "allowed",
            "connection",
            "denied",
            "end",
            "info",
            "protocol",
            "start",
        ],
        "package" => &[
            "access",
            "change",
            "deletion",
            "info",
            "installation",
            "start",
        ],
        "process" => &["access", "change", "end", "info", "start"],
        "registry" => &["access", "change", "creation", "deletion"],
        "session" => &["start", "end", "info"],
        "threat" => &["indicator"],
        "vulnerability" => &["info"],
        "web" => &["access", "error", "info"],
        _ => &[],
    }
}

/// `threat.indicator.type` values ECS expects (STIX 2.x cyber-observable names).
pub const INDICATOR_TYPES: &[&str] = &[
    "autonomous-system",
    "artifact",
    "directory",
    "domain-name",
    "email-addr",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "port",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// Every problem with `line` as an ECS 9.4 document; empty when it is valid.
pub fn validate(line: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let mut leaves: Vec<(String, Value)> = Vec::new();
    match line.as_object() {
        Some(obj) => walk(obj, "", &mut leaves, &mut errors),
        None => errors.push("the line is not a JSON object".into()),
    }
    for (name, field) in fields() {
        if field.required && !leaves.iter().any(|(p, _)| p == name) {
            errors.push(format!("{name}: required, missing"));
        }
    }
    let values = |path: &str| -> Vec<&str> {
        leaves
            .iter()
            .filter(|(p, _)| p == path)
            .flat_map(|(_, v)| match v {
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>(),
                v => v.as_str().into_iter().collect(),
            })
            .collect()
    };
    let categories = values("event.category");
    for t in values("event.type") {
        if categories.is_empty() {
            errors.push(format!("event.type: {t:?} without an event.category"));
        } else if !categories.iter().any(|c| expected_types(c).contains(&t)) {
            errors.push(format!(
                "event.type: {t:?} is not expected for any of the categories {categories:?}"
            ));
        }
    }
    for t in values("threat.indicator.type") {
        if !INDICATOR_TYPES.contains(&t) {
            errors.push(format!(
                "threat.indicator.type: {t:?} is not an expected value"
            ));
        }
    }
    errors
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk(
    obj: &Map<String, Value>,
    prefix: &str,
    leaves: &mut Vec<(String, Value)>,
    errors: &mut Vec<String>,
) {
    for (key, value) in obj {
        let path = join(prefix, key);
        if path == "mimecast" || path.starts_with("mimecast.") {
            continue;
        }
        match fields().get(&path) {
            Some(field) if field.kind == "nested" => {
                let items: Vec<&Value> = match value {
                    Value::Array(a) => a.iter().collect(),
                    v => vec![v],
                };
                for item in items {
                    match item.as_object() {
                        Some(o) => walk(o, &path, leaves, errors),
                        None => errors.push(format!("{path}: nested, holds a non-object {item}")),
                    }
                }
            }
            Some(field) if field.kind == "object" || field.kind == "flattened" => {
                let items: Vec<&Value> = match value {
                    Value::Array(a) if field.array => a.iter().collect(),
                    v => vec![v],
                };
                for item in items {
                    let Some(o) = item.as_object() else {
                        errors.push(format!(
                            "{path}: {} expects an object, got {item}",
                            field.kind
                        ));
                        continue;
                    };
                    if field.kind == "object" {
                        if let Some(t) = &field.object_type {
                            for (k, v) in o {
                                check_scalar(&format!("{path}.{k}"), t, v, errors);
                            }
                        }
                    }
                }
                leaves.push((path, value.clone()));
            }
            Some(field) => {
                match value {
                    Value::Array(items) => {
                        if !field.array {
                            errors
                                .push(format!("{path}: an array, but ECS makes it a single value"));
                        }
                        for item in items {
                            check_value(&path, field, item, errors);
                        }
                    }
                    v => check_value(&path, field, v, errors),
                }
                leaves.push((path, value.clone()));
            }
            None => match value {
                Value::Object(o) => walk(o, &path, leaves, errors),
                _ => errors.push(format!("{path}: not an ECS 9.4 field")),
            },
        }
    }
}

fn check_value(path: &str, field: &Field, value: &Value, errors: &mut Vec<String>) {
    check_scalar(path, &field.kind, value, errors);
    if let (Some(allowed), Some(s)) = (&field.allowed, value.as_str()) {
        if !allowed.iter().any(|a| a == s) {
            errors.push(format!("{path}: {s:?} is not an allowed value"));
        }
    }
}

fn check_scalar(path: &str, kind: &str, value: &Value, errors: &mut Vec<String>) {
    let ok = match kind {
        "keyword" | "wildcard" | "match_only_text" | "constant_keyword" | "text" => {
            value.is_string()
        }
        "long" | "integer" => value.is_i64() || value.is_u64(),
        "float" | "double" | "scaled_float" => value.is_number(),
        "boolean" => value.is_boolean(),
        "date" => value.as_str().is_some_and(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
        }),
        "ip" => value
            .as_str()
            .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
        "geo_point" => value.is_object() || value.is_string() || value.is_array(),
        other => {
            errors.push(format!("{path}: unhandled ECS type {other}"));
            return;
        }
    };
    if !ok {
        errors.push(format!("{path}: {value} is not a valid {kind}"));
    }
}

/// The line's `event.id`.
pub fn event_id(line: &Value) -> String {
    line["event"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no event.id in {line}"))
        .to_string()
}
