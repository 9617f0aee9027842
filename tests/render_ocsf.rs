//! The OCSF rendering: every sample record of every stream (`tests/fixtures/normalize`) renders
//! to a line that validates against the official OCSF 1.8.0 class schema, and to exactly
//! `tests/fixtures/render/ocsf/<stream>.jsonl`. After an intended change, regenerate with
//! `UPDATE_GOLDEN=1 cargo test --test render_ocsf` and review the diff.

mod common;

use common::ocsf::{event_id, validate};
use common::{fixtures_dir, sample_context, sample_records};
use mimecast_collector::event::{Context, Event, EventKind, IndicatorType, Severity, Verdict};
use mimecast_collector::normalize::normalize;
use mimecast_collector::render::Format;
use mimecast_collector::streams::StreamKind;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;

fn lines(out: &[u8]) -> Vec<Value> {
    std::str::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn assert_valid(what: &str, line: &Value) {
    let errors = validate(line);
    assert!(
        errors.is_empty(),
        "{what}: {line}\nOCSF errors: {errors:#?}"
    );
}

#[test]
fn every_stream_renders_valid_ocsf_matching_its_golden_file() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for kind in StreamKind::ALL {
        let records = sample_records(kind);
        let ctx = sample_context(kind.name(), true);
        let mut out = Vec::new();
        let mut ids = Vec::new();
        for raw in &records {
            let event = normalize(kind, &ctx, raw);
            ids.push(event.id.to_string());
            Format::Ocsf.write(kind, &event, &mut out);
        }
        let rendered = lines(&out);
        assert_eq!(rendered.len(), records.len(), "{kind}: one line per record");
        for (line, (id, raw)) in rendered.iter().zip(ids.iter().zip(&records)) {
            assert_valid(kind.name(), line);
            assert_eq!(&event_id(line), id, "{kind}: metadata.uid");
            assert_eq!(line["metadata"]["log_name"], kind.name());
            let kept: Value = serde_json::from_str(line["raw_data"].as_str().unwrap()).unwrap();
            let original: Value = serde_json::from_str(raw.get()).unwrap();
            assert_eq!(kept, original, "{kind}: raw_data is the record");
        }
        let got = String::from_utf8(out).unwrap();
        let golden = fixtures_dir().join(format!("render/ocsf/{}.jsonl", kind.name()));
        if update {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
                golden.display()
            )
        });
        assert_eq!(got, expected, "{kind}: differs from {}", golden.display());
    }
}

const KINDS: [EventKind; 6] = [
    EventKind::Threat,
    EventKind::Email,
    EventKind::Audit,
    EventKind::Indicator,
    EventKind::Notification,
    EventKind::Directory,
];

fn ctx(stream: &'static str, include_raw: bool) -> Context<'static> {
    Context {
        tenant: "acme",
        stream,
        collected_at: time::OffsetDateTime::now_utc(),
        include_raw,
    }
}

/// An event with nothing but its mandatory fields, of every kind on every stream, with and
/// without the raw record: the renderer must still write a valid line.
#[test]
fn empty_events_of_every_kind_still_validate() {
    let raw = RawValue::from_string(r#"{"a":"b\nc"}"#.into()).unwrap();
    for stream in StreamKind::ALL {
        for include_raw in [true, false] {
            let ctx = ctx(stream.name(), include_raw);
            for kind in KINDS {
                let e = Event::new(&ctx, Cow::Borrowed("id-1"), kind, None, &raw);
                let mut out = Vec::new();
                Format::Ocsf.write(stream, &e, &mut out);
                let line = &lines(&out)[0];
                assert_valid(&format!("{stream} {kind:?} empty"), line);
                assert_eq!(line.get("raw_data").is_some(), include_raw);
            }
        }
    }
}

/// Every optional field filled, some with values OCSF cannot take as they are (a display-name
/// sender, an IP that is not one, a short hash): still valid, with those kept in `unmapped`.
#[test]
fn full_and_awkward_events_still_validate() {
    let raw = RawValue::from_string("{}".into()).unwrap();
    let verdicts = [
        None,
        Some(Verdict::Allowed),
        Some(Verdict::Blocked),
        Some(Verdict::Held),
        Some(Verdict::Unknown),
    ];
    for stream in StreamKind::ALL {
        let ctx = ctx(stream.name(), false);
        for kind in KINDS {
            for (i, verdict) in verdicts.into_iter().enumerate() {
                let mut e = Event::new(&ctx, Cow::Borrowed("id-2"), kind, None, &raw);
                e.action = Some(Cow::Borrowed(
                    ["User Logged On", "block", "reject", "Hld", "notify"][i],
                ));
                e.severity = Some(Severity::High);
                e.sender = Some(Cow::Borrowed(if i % 2 == 0 {
                    "Team <team@x.example>"
                } else {
                    "<>"
                }));
                e.recipients = vec![Cow::Borrowed("a@x.example"), Cow::Borrowed("undisclosed")];
                e.subject = Some(Cow::Borrowed("s"));
                e.url = Some(Cow::Borrowed("https://x.example/a"));
                e.message_id = Some(Cow::Borrowed("<m@x>"));
                e.source_ip = Some(Cow::Borrowed(if i % 2 == 0 {
                    "2001:db8::1"
                } else {
                    "Internal IP"
                }));
                e.destination_ip = Some(Cow::Borrowed("192.0.2.1"));
                e.user = Some(Cow::Borrowed(if i % 2 == 0 { "u@x.example" } else { "u" }));
                e.direction = Some(Cow::Borrowed(
                    ["Inbound", "external", "INTERNAL", "outbound", "x"][i],
                ));
                e.category = Some(Cow::Borrowed("c"));
                e.file_name = (i != 3).then_some(Cow::Borrowed("f.pdf"));
                e.file_hash = Some(Cow::Borrowed(if i % 2 == 0 {
                    "22a65c43"
                } else {
                    "d41d8cd98f00b204e9800998ecf8427e"
                }));
                e.description = Some(Cow::Borrowed("d"));
                e.verdict = verdict;
                e.rule = Some(Cow::Borrowed("r"));
                e.threat_name = Some(Cow::Borrowed("EICAR"));
                e.indicator = Some(mimecast_collector::event::Indicator {
                    kind: IndicatorType::Url,
                    value: Cow::Borrowed("https://x.example/a"),
                });
                let mut out = Vec::new();
                Format::Ocsf.write(stream, &e, &mut out);
                let line = &lines(&out)[0];
                assert_valid(&format!("{stream} {kind:?} {verdict:?}"), line);
            }
        }
    }
}

/// The check itself can fail: lines broken in ways the schema or the extra rules catch.
#[test]
fn the_validator_rejects_broken_lines() {
    let raw = RawValue::from_string("{}".into()).unwrap();
    let ctx = ctx("ttp_url", false);
    let mut e = Event::new(&ctx, Cow::Borrowed("id-3"), EventKind::Threat, None, &raw);
    e.action = Some(Cow::Borrowed("block"));
    let mut out = Vec::new();
    Format::Ocsf.write(StreamKind::TtpUrl, &e, &mut out);
    let good: Value = serde_json::from_slice(&out).unwrap();
    assert!(validate(&good).is_empty(), "{:?}", validate(&good));

    let broken = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        validate(&v)
    };
    assert!(
        !broken(&|v| v["type_uid"] = 200402.into()).is_empty(),
        "type_uid"
    );
    assert!(!broken(&|v| {
        v["finding_info"].as_object_mut().unwrap().remove("uid");
    })
    .is_empty());
    assert!(
        !broken(&|v| v["time"] = 1_700_000_000.into()).is_empty(),
        "seconds"
    );
    assert!(!broken(&|v| v["metadata"]["version"] = "1.7.0".into()).is_empty());
    assert!(
        !broken(&|v| v["metadata"]["profiles"] = serde_json::json!([])).is_empty(),
        "security_control attributes without the profile"
    );
    assert!(
        !broken(&|v| v["metadata"]["profiles"] = serde_json::json!(["security_control", "trace"]))
            .is_empty(),
        "a profile the class does not list"
    );
    assert!(!broken(&|v| v["severity_id"] = 7.into()).is_empty());
    assert!(!broken(&|v| v["class_uid"] = 9999.into()).is_empty());
    assert!(!broken(&|v| v["surprise"] = true.into()).is_empty());
    assert!(
        !broken(&|v| v["evidences"] = serde_json::json!([{}])).is_empty(),
        "an empty evidence"
    );

    let mut e = Event::new(&ctx, Cow::Borrowed("id-4"), EventKind::Email, None, &raw);
    e.sender = Some(Cow::Borrowed("a@x.example"));
    let mut out = Vec::new();
    Format::Ocsf.write(StreamKind::SiemCg, &e, &mut out);
    let good: Value = serde_json::from_slice(&out).unwrap();
    assert!(validate(&good).is_empty(), "{:?}", validate(&good));
    let mut bad = good.clone();
    bad["email"]["from"] = "Team <a@x.example>".into();
    assert!(!validate(&bad).is_empty(), "not an email_t");
    let mut bad = good.clone();
    bad["email"].as_object_mut().unwrap().remove("from");
    assert!(!validate(&bad).is_empty(), "email needs from or to");
    let mut bad = good;
    bad["direction_id"] = 5.into();
    assert!(!validate(&bad).is_empty(), "direction_id");
}
