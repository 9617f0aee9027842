//! Property tests: no response parser and no normalizer panics, whatever Mimecast (or a proxy,
//! or a corrupted transfer) sends. Each function must return a value or an error.

use mimecast_collector::api::envelope::{error_detail, Envelope, SiemPage};
use mimecast_collector::event::Context;
use mimecast_collector::normalize::{fields::parse_time, normalize};
use mimecast_collector::streams::{records, token_files, StreamKind};
use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::Value;

/// Arbitrary JSON, biased toward the shapes Mimecast uses (objects with known keys).
fn json() -> impl Strategy<Value = Value> {
    let keys = prop_oneof![
        Just("meta".to_string()),
        Just("data".to_string()),
        Just("fail".to_string()),
        Just("pagination".to_string()),
        Just("next".to_string()),
        Just("clickLogs".to_string()),
        Just("errors".to_string()),
        Just("code".to_string()),
        Just("retryable".to_string()),
        Just("value".to_string()),
        Just("@nextPage".to_string()),
        Just("isCaughtUp".to_string()),
        Just("date".to_string()),
        Just("timestamp".to_string()),
        Just("eventTime".to_string()),
        Just("id".to_string()),
        Just("recipients".to_string()),
        Just("type".to_string()),
        Just("objects".to_string()),
        Just("emailAddress".to_string()),
        Just("to".to_string()),
        Just("fromEnv".to_string()),
        ".{0,8}".prop_map(|s| s),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,24}".prop_map(Value::String),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Found by the fuzzer: a bare number beyond f64 range is valid JSON; it must come out as a
/// valid (verbatim) event line, not a panic or a broken line.
#[test]
fn a_huge_number_record_becomes_a_valid_line() {
    let raw = RawValue::from_string("16E562".into()).unwrap();
    let ctx = Context {
        tenant: "acme",
        stream: "audit",
        collected_at: time::OffsetDateTime::now_utc(),
        include_raw: true,
    };
    let mut out = Vec::new();
    mimecast_collector::render::native::write(&normalize(StreamKind::Audit, &ctx, &raw), &mut out);
    assert!(serde_json::from_slice::<serde::de::IgnoredAny>(&out).is_ok());
    assert!(String::from_utf8(out).unwrap().contains("\"raw\":16E562"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn envelope_and_siem_parsers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(env) = Envelope::parse(&bytes) {
            let _ = env.check("/api/x");
            let _ = env.next_page_token(1);
            let _ = records::extract(env.data.as_deref(), Some("clickLogs"));
        }
        let _ = SiemPage::parse(&bytes);
        let _ = error_detail(&bytes);
        let _ = token_files::mta_records(&bytes);
        let _ = token_files::stix_objects(&bytes);
    }

    #[test]
    fn envelope_and_siem_parsers_never_panic_on_json(v in json()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        if let Ok(env) = Envelope::parse(&bytes) {
            let _ = env.check("/api/x");
            let _ = env.next_page_token(3);
            let _ = records::extract(env.data.as_deref(), Some("clickLogs"));
            let _ = records::extract(env.data.as_deref(), None);
        }
        if let Ok(page) = SiemPage::parse(&bytes) {
            if let Some(value) = page.value.as_deref() {
                let _ = mimecast_collector::streams::batch_files::files(value);
            }
        }
        let _ = token_files::stix_objects(&bytes);
        let _ = error_detail(&bytes);
    }

    #[test]
    fn every_normalizer_accepts_any_json_and_emits_one_valid_line(v in json()) {
        let text = serde_json::to_string(&v).unwrap();
        let raw = RawValue::from_string(text).unwrap();
        let collected_at = time::OffsetDateTime::now_utc();
        for kind in StreamKind::ALL {
            let ctx = Context { tenant: "acme", stream: kind.name(), collected_at, include_raw: true };
            let mut out = Vec::new();
            mimecast_collector::render::native::write(&normalize(kind, &ctx, &raw), &mut out);
            prop_assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
            let line: Value = serde_json::from_slice(&out).expect("every event line is JSON");
            prop_assert!(line["id"].as_str().is_some_and(|s| !s.is_empty()));
        }
    }

    #[test]
    fn time_parsing_never_panics(s in ".{0,40}", n in any::<i64>()) {
        let _ = parse_time(&s);
        let _ = parse_time(&n.to_string());
        let _ = parse_time(&format!("{s}T00:00:00+0000"));
    }

    #[test]
    fn durations_never_panic(s in "[0-9a-z]{0,20}") {
        let _ = mimecast_collector::config::duration::parse_duration(&s);
    }
}
