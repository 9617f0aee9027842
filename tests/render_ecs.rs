//! The ECS rendering: every stream's sample records (`tests/fixtures/normalize/<stream>.json`)
//! render to documents that are valid ECS 9.4 (`common::ecs::validate`) and to exactly
//! `tests/fixtures/render/ecs/<stream>.jsonl`. After an intended change, regenerate with
//! `UPDATE_GOLDEN=1 cargo test --test render_ecs` and review the diff.

mod common;

use common::ecs::{event_id, validate};
use common::{fixtures_dir, sample_context, sample_records};
use mimecast_collector::event::{Event, EventKind};
use mimecast_collector::normalize::normalize;
use mimecast_collector::render::Format;
use mimecast_collector::streams::StreamKind;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::HashSet;

fn assert_valid(kind: StreamKind, line: &str) -> Value {
    let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{kind}: {e}: {line}"));
    let errors = validate(&value);
    assert!(errors.is_empty(), "{kind}: {line}\nECS errors: {errors:#?}");
    value
}

#[test]
fn every_stream_renders_valid_ecs_matching_its_golden_file() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let dir = fixtures_dir().join("render/ecs");
    for kind in StreamKind::ALL {
        let ctx = sample_context(kind.name(), true);
        let records = sample_records(kind);
        let mut out = Vec::new();
        for raw in &records {
            Format::Ecs.write(kind, &normalize(kind, &ctx, raw), &mut out);
        }
        let got = String::from_utf8(out).unwrap();
        assert_eq!(
            got.lines().count(),
            records.len(),
            "{kind}: one line per record"
        );
        let mut ids = HashSet::new();
        for (line, raw) in got.lines().zip(&records) {
            let value = assert_valid(kind, line);
            assert!(ids.insert(event_id(&value)), "{kind}: duplicate event.id");
            assert_eq!(value["event"]["dataset"], format!("mimecast.{kind}"));
            assert_eq!(value["organization"]["name"], "acme");
            // event.original is the record itself, byte for byte.
            assert_eq!(value["event"]["original"].as_str(), Some(raw.get()));
        }
        let path = dir.join(format!("{}.jsonl", kind.name()));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
                path.display()
            )
        });
        assert_eq!(
            got,
            expected,
            "{kind}: output differs from {}",
            path.display()
        );
    }
}

#[test]
fn events_with_every_optional_field_empty_still_validate() {
    let raw = RawValue::from_string(r#"{"x": "a\nb"}"#.to_string()).unwrap();
    let kinds = [
        EventKind::Threat,
        EventKind::Email,
        EventKind::Audit,
        EventKind::Indicator,
        EventKind::Notification,
        EventKind::Directory,
    ];
    for stream in StreamKind::ALL {
        for include_raw in [false, true] {
            let ctx = sample_context(stream.name(), include_raw);
            for kind in kinds {
                let event = Event::new(&ctx, Cow::Borrowed("id-1"), kind, None, &raw);
                let mut out = Vec::new();
                Format::Ecs.write(stream, &event, &mut out);
                let text = String::from_utf8(out).unwrap();
                assert_eq!(text.lines().count(), 1, "{stream}/{kind:?}: one line");
                let value = assert_valid(stream, text.trim_end());
                assert_eq!(event_id(&value), "id-1");
                assert_eq!(value["@timestamp"], "2026-11-23T10:03:00Z");
                assert_eq!(value["event"].get("original").is_some(), include_raw);
            }
        }
    }
}

/// A valid document, then one broken way at a time: the validator must say so each time, or
/// the tests above prove nothing.
#[test]
fn the_validator_rejects_broken_documents() {
    let kind = StreamKind::TtpAttachment;
    let ctx = sample_context(kind.name(), true);
    let records = sample_records(kind);
    let mut out = Vec::new();
    Format::Ecs.write(kind, &normalize(kind, &ctx, &records[0]), &mut out);
    let good: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(validate(&good), Vec::<String>::new());
    assert!(
        good["email"]["attachments"].is_array(),
        "a nested field is exercised"
    );

    let mut vendor = good.clone();
    vendor["mimecast"]["anything"] = json!([{"goes": 1}]);
    assert_eq!(
        validate(&vendor),
        Vec::<String>::new(),
        "mimecast.* is free"
    );

    type Break = fn(&mut Value);
    let broken: [(&str, &str, Break); 10] = [
        ("unknown field", "email.colour", |v| {
            v["email"]["colour"] = json!("red")
        }),
        ("unknown top-level object", "foo.bar", |v| {
            v["foo"] = json!({"bar": 1})
        }),
        ("wrong type", "event.severity", |v| {
            v["event"]["severity"] = json!("high")
        }),
        ("bad allowed value", "event.kind", |v| {
            v["event"]["kind"] = json!("incident")
        }),
        ("array where not allowed", "email.subject", |v| {
            v["email"]["subject"] = json!(["a", "b"])
        }),
        ("not an IP", "source.ip", |v| {
            v["source"] = json!({"ip": "Internal IP"})
        }),
        ("not a date", "event.created", |v| {
            v["event"]["created"] = json!("yesterday")
        }),
        ("missing @timestamp", "@timestamp", |v| {
            v.as_object_mut().unwrap().remove("@timestamp");
        }),
        ("type not expected for the category", "event.type", |v| {
            v["event"]["type"] = json!(["indicator"])
        }),
        (
            "bad field inside a nested object",
            "email.attachments.file.size",
            |v| v["email"]["attachments"][0]["file"]["size"] = json!("big"),
        ),
    ];
    for (what, path, brk) in broken {
        let mut v = good.clone();
        brk(&mut v);
        let errors = validate(&v);
        assert!(
            errors.iter().any(|e| e.starts_with(path)),
            "{what}: no error about {path}: {errors:?}"
        );
    }
}

/// Every optional field filled, every indicator type, every kind and verdict: the typed fields
/// that the sample records do not reach yet (verdict, destination, rule, threat names,
/// indicators) still make valid ECS.
#[test]
fn events_with_every_field_filled_validate() {
    use mimecast_collector::event::{Indicator, IndicatorType, Severity, Verdict};
    let raw = RawValue::from_string(r#"{"x": 1}"#.to_string()).unwrap();
    let indicators = [
        (IndicatorType::Ipv4, "192.0.2.1"),
        (IndicatorType::Ipv4, "not an ip"),
        (IndicatorType::Ipv6, "2001:db8::1"),
        (IndicatorType::Domain, "evil.example"),
        (IndicatorType::Url, "https://evil.example/a?b=c"),
        (IndicatorType::Email, "bad@evil.example"),
        (IndicatorType::Md5, "d41d8cd98f00b204e9800998ecf8427e"),
        (
            IndicatorType::Sha1,
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        ),
        (
            IndicatorType::Sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (IndicatorType::Sha512, "short"),
        (IndicatorType::FileName, "run.exe"),
    ];
    let kinds = [
        EventKind::Threat,
        EventKind::Email,
        EventKind::Audit,
        EventKind::Indicator,
        EventKind::Notification,
        EventKind::Directory,
    ];
    let verdicts = [
        Verdict::Allowed,
        Verdict::Blocked,
        Verdict::Held,
        Verdict::Unknown,
    ];
    let mut n = 0;
    for stream in StreamKind::ALL {
        let ctx = sample_context(stream.name(), true);
        for (i, kind) in kinds.into_iter().enumerate() {
            for (j, (itype, value)) in indicators.iter().enumerate() {
                let mut e = Event::new(&ctx, Cow::Borrowed("id"), kind, None, &raw);
                e.action = Some("User Logged On, Failed".into());
                e.severity = Some([Severity::Info, Severity::High][j % 2]);
                e.sender = Some("Name <from@x.example>".into());
                e.recipients = vec!["a@x.example".into(), "<>".into(), "a@x.example".into()];
                e.subject = Some("subject".into());
                e.url = Some("http://x.example/p".into());
                e.message_id = Some("<m@x>".into());
                e.source_ip = Some(["192.0.2.9", "Internal IP"][j % 2].into());
                e.destination_ip = Some("198.51.100.1".into());
                e.user = Some(["admin@x.example", "admin"][i % 2].into());
                e.direction = Some("Inbound".into());
                e.category = Some("malware".into());
                e.file_name = Some("a.pdf".into());
                e.file_hash = Some(value.to_string().into());
                e.description = Some("why".into());
                e.verdict = Some(verdicts[j % 4]);
                e.rule = Some("rule".into());
                e.threat_name = Some("Emotet".into());
                e.indicator = Some(Indicator {
                    kind: *itype,
                    value: Cow::Borrowed(value),
                });
                let mut out = Vec::new();
                Format::Ecs.write(stream, &e, &mut out);
                assert_valid(stream, std::str::from_utf8(&out).unwrap().trim_end());
                n += 1;
            }
        }
    }
    assert_eq!(n, 17 * 6 * 11);
}
