//! Every normalizer over any JSON value; every event must render as one JSON line.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mimecast_collector::event::Context;
use mimecast_collector::normalize::{fields::parse_time, normalize};
use mimecast_collector::streams::StreamKind;
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_time(text);
    }
    let Ok(raw) = serde_json::from_slice::<&RawValue>(data) else { return };
    let ctx_time = time::OffsetDateTime::UNIX_EPOCH;
    for kind in StreamKind::ALL {
        let ctx = Context { tenant: "fuzz", stream: kind.name(), collected_at: ctx_time, include_raw: true };
        let mut out = Vec::new();
        normalize(kind, &ctx, raw).write_line(&mut out);
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1, "one line per event");
        // Grammar-level validity: `raw` carries the record verbatim, and JSON sets no range on
        // numbers (a record may hold 16E562, which a strict f64 parse would refuse).
        assert!(serde_json::from_slice::<serde::de::IgnoredAny>(&out).is_ok(), "an event is JSON");
    }
});
