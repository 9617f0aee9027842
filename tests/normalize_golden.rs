//! Golden files: real Mimecast sample records (the public samples docs/mimecast-api.md#endpoints
//! cites) in
//! `tests/fixtures/normalize/<stream>.json` must normalize to exactly
//! `<stream>.expected.jsonl`, and every line must validate against `schema/event.schema.json`.
//! After an intended change, regenerate with `UPDATE_GOLDEN=1 cargo test --test normalize_golden`
//! and review the diff.

use mimecast_collector::event::Context;
use mimecast_collector::normalize::normalize;
use mimecast_collector::streams::StreamKind;
use serde_json::value::RawValue;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/normalize")
}

pub fn schema_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/event.schema.json"),
    )
    .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn every_stream_matches_its_golden_file_and_the_schema() {
    let validator = schema_validator();
    let collected_at = time::macros::datetime!(2026-11-23 10:03:00 UTC);
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for kind in StreamKind::ALL {
        let input = fixtures().join(format!("{}.json", kind.name()));
        let text =
            std::fs::read_to_string(&input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        let records: Vec<Box<RawValue>> = serde_json::from_str(&text).unwrap();
        assert!(!records.is_empty(), "{kind}: no sample records");
        let ctx = Context {
            tenant: "acme",
            stream: kind.name(),
            collected_at,
            include_raw: true,
        };
        let mut out = Vec::new();
        let mut ids = HashSet::new();
        for raw in &records {
            let event = normalize(kind, &ctx, raw);
            assert!(
                ids.insert(event.id.to_string()),
                "{kind}: duplicate id {}",
                event.id
            );
            if kind != StreamKind::Directory {
                // Directory entries are snapshots: their time is when they were seen.
                assert_ne!(
                    event.time, collected_at,
                    "{kind}: the record's own time was not found"
                );
            }
            mimecast_collector::render::native::write(&event, &mut out);
        }
        let got = String::from_utf8(out).unwrap();
        for line in got.lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{kind}: {line}\nschema errors: {errors:?}"
            );
        }
        let expected_path = fixtures().join(format!("{}.expected.jsonl", kind.name()));
        if update {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
                expected_path.display()
            )
        });
        assert_eq!(
            got,
            expected,
            "{kind}: output differs from {}",
            expected_path.display()
        );
    }
}

#[test]
fn raw_is_left_out_when_not_wanted() {
    let raw = RawValue::from_string(r#"{"id":"x","eventTime":"2021-11-16T12:03:24+0000"}"#.into())
        .unwrap();
    let ctx = Context {
        tenant: "acme",
        stream: "audit",
        collected_at: time::OffsetDateTime::now_utc(),
        include_raw: false,
    };
    let mut out = Vec::new();
    mimecast_collector::render::native::write(&normalize(StreamKind::Audit, &ctx, &raw), &mut out);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(v.get("raw").is_none());
    assert_eq!(v["id"], "x");
    assert_eq!(v["time"], "2021-11-16T12:03:24Z");
}

/// Every format's line fits the size a page's buffer is given for it (`Format::size_bound`),
/// for every golden record as it came and compacted: a buffer that grows mid-page is copied,
/// and the writer's budget would undercount it.
#[test]
fn every_line_fits_the_size_reserved_for_it() {
    use mimecast_collector::render::Format;
    let collected_at = time::macros::datetime!(2026-11-23 10:03:00 UTC);
    let mut checked = 0;
    for kind in StreamKind::ALL {
        let input = fixtures().join(format!("{}.json", kind.name()));
        let text = std::fs::read_to_string(&input).unwrap();
        let records: Vec<Box<RawValue>> = serde_json::from_str(&text).unwrap();
        let ctx = Context {
            tenant: "acme",
            stream: kind.name(),
            collected_at,
            include_raw: true,
        };
        for pretty in &records {
            let value: serde_json::Value = serde_json::from_str(pretty.get()).unwrap();
            let compact = RawValue::from_string(value.to_string()).unwrap();
            for raw in [pretty.as_ref(), compact.as_ref()] {
                let event = normalize(kind, &ctx, raw);
                for format in Format::ALL {
                    let mut line = Vec::new();
                    format.write(kind, &event, &mut line);
                    let bound = format.size_bound(raw.get().len(), 1);
                    assert!(
                        line.len() <= bound,
                        "{kind} {format}: {} bytes over the {bound} reserved for a {}-byte record",
                        line.len(),
                        raw.get().len()
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100, "{checked}");
}
