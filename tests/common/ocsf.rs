//! Checks a line against the official OCSF 1.8.0 class schemas (`tests/fixtures/schemas`).
//!
//! The schema is picked by `class_uid` from `index.json` (each compiled once per test binary);
//! beside it, the rules JSON Schema cannot say: `type_uid = class_uid * 100 + activity_id`,
//! `time` in epoch milliseconds, `metadata.version` 1.8.0, and profiles the class lists.

use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

struct Class {
    validator: jsonschema::Validator,
    profiles: Vec<String>,
}

fn classes() -> &'static HashMap<u64, Class> {
    static CLASSES: OnceLock<HashMap<u64, Class>> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schemas/ocsf-1.8");
        let read = |name: &str| -> Value {
            let text = std::fs::read_to_string(dir.join(name))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()));
            serde_json::from_str(&text).unwrap()
        };
        let index = read("index.json");
        assert_eq!(index["ocsf_version"], "1.8.0");
        index["classes"]
            .as_object()
            .expect("index.json: classes")
            .iter()
            .map(|(uid, c)| {
                let schema = read(c["file"].as_str().expect("index.json: file"));
                let validator = jsonschema::validator_for(&schema)
                    .unwrap_or_else(|e| panic!("{uid}: schema does not compile: {e}"));
                let profiles = c["profiles"]
                    .as_array()
                    .expect("index.json: profiles")
                    .iter()
                    .map(|p| p.as_str().unwrap().to_string())
                    .collect();
                (
                    uid.parse().unwrap(),
                    Class {
                        validator,
                        profiles,
                    },
                )
            })
            .collect()
    })
}

/// Every way `line` breaks OCSF 1.8.0; empty when it is a valid event of its class.
pub fn validate(line: &Value) -> Vec<String> {
    let Some(class_uid) = line["class_uid"].as_u64() else {
        return vec!["class_uid: missing or not an integer".into()];
    };
    let Some(class) = classes().get(&class_uid) else {
        return vec![format!(
            "class_uid {class_uid}: not a class this project emits"
        )];
    };
    let mut errors: Vec<String> = class
        .validator
        .iter_errors(line)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    match (line["activity_id"].as_u64(), line["type_uid"].as_u64()) {
        (Some(activity), Some(type_uid)) if type_uid == class_uid * 100 + activity => {}
        (activity, type_uid) => errors.push(format!(
            "type_uid {type_uid:?} is not class_uid {class_uid} * 100 + activity_id {activity:?}"
        )),
    }
    match line["time"].as_i64() {
        Some(t) if t > 100_000_000_000 && t < 10_000_000_000_000 => {}
        _ => errors.push(format!("time {}: not epoch milliseconds", line["time"])),
    }
    if line["metadata"]["version"] != "1.8.0" {
        errors.push(format!(
            "metadata.version {}: not 1.8.0",
            line["metadata"]["version"]
        ));
    }
    for p in line["metadata"]["profiles"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if !p
            .as_str()
            .is_some_and(|p| class.profiles.iter().any(|c| c == p))
        {
            errors.push(format!("profile {p}: not one class {class_uid} lists"));
        }
    }
    errors
}

/// The event's id (`metadata.uid`).
pub fn event_id(line: &Value) -> String {
    line["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
