//! Benchmarks of the per-record hot path: normalize + render, page parsing, request signing,
//! and a "limit" baseline (the least work any collector must do per record) to compare against.
//!
//! Inputs come from the simulator's own generators (`mimecast_sim::data`), so they have the
//! field set and sizes the daemon sees. Run with
//! `cargo bench --bench hot -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mimecast_collector::api::auth::v1::{format_date, signature, V1Signer};
use mimecast_collector::api::Envelope;
use mimecast_collector::config::V1Credentials;
use mimecast_collector::event::Context;
use mimecast_collector::normalize::normalize;
use mimecast_collector::render::Format;
use mimecast_collector::streams::emit::Emitter;
use mimecast_collector::streams::records;
use mimecast_collector::streams::StreamKind;
use mimecast_sim::data::{self, TenantInfo};
use mimecast_sim::envelope as sim_envelope;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::hint::black_box;
use time::macros::datetime;
use time::OffsetDateTime;

const SEED: u64 = 42;
const PAGE: usize = 500;
const COLLECTED_AT: OffsetDateTime = datetime!(2026-01-15 10:00:00 UTC);

fn tenant() -> TenantInfo {
    TenantInfo::new("demo", SEED)
}

/// Time of record `i` of a page: one record every 7 s before `COLLECTED_AT`.
fn record_time(i: usize) -> OffsetDateTime {
    COLLECTED_AT - time::Duration::seconds(7 * (PAGE - i) as i64)
}

/// One ttp_url record, serialized exactly as the simulator serves it.
fn ttp_url_record(t: &TenantInfo, i: usize) -> Value {
    data::ttp_url::record(SEED, t, i as u64, record_time(i))
}

/// The body of a full `get-logs` page: `data[0].clickLogs` with `PAGE` records, as the
/// simulator builds it (`routes/logs.rs`).
fn ttp_url_page_body(t: &TenantInfo) -> Vec<u8> {
    let recs: Vec<Value> = (0..PAGE).map(|i| ttp_url_record(t, i)).collect();
    let data = vec![json!({ "clickLogs": recs })];
    let p = sim_envelope::pagination(
        PAGE as u64,
        10 * PAGE as u64,
        Some("bmV4dC1wYWdlLXRva2Vu".into()),
        None,
        None,
    );
    serde_json::to_vec(&sim_envelope::success(data, Some(p))).expect("serializable")
}

fn ctx(stream: &'static str) -> Context<'static> {
    Context {
        tenant: "demo",
        stream,
        collected_at: COLLECTED_AT,
        include_raw: true,
    }
}

fn bench_normalize(c: &mut Criterion) {
    let t = tenant();
    // Record 1 is a malicious (block/warn) click: the larger shape, with a tagMap.
    let text = serde_json::to_string(&ttp_url_record(&t, 1)).expect("serializable");
    let raw = RawValue::from_string(text).expect("valid JSON");
    let ctx_url = ctx("ttp_url");
    let mut g = c.benchmark_group("ttp_url_record");
    g.throughput(Throughput::Elements(1));
    g.bench_function("normalize+write_line", |b| {
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            out.clear();
            let e = normalize(StreamKind::TtpUrl, &ctx_url, black_box(&raw));
            mimecast_collector::render::native::write(&e, &mut out);
            black_box(out.len())
        })
    });
    // The same, rendered as OCSF 1.8.0 (Detection Finding) and as ECS 9.4.
    for format in [Format::Ocsf, Format::Ecs] {
        g.bench_function(format!("normalize+{format}"), |b| {
            let mut out = Vec::with_capacity(4096);
            b.iter(|| {
                out.clear();
                let e = normalize(StreamKind::TtpUrl, &ctx_url, black_box(&raw));
                format.write(StreamKind::TtpUrl, &e, &mut out);
                black_box(out.len())
            })
        });
    }
    g.bench_function("normalize_only", |b| {
        b.iter(|| black_box(normalize(StreamKind::TtpUrl, &ctx_url, black_box(&raw))))
    });
    g.finish();

    // A SIEM batch (Cloud Gateway) `receipt` event, the most common type, as one NDJSON line.
    let line = serde_json::to_string(&data::siem_cg::record(
        SEED,
        &t,
        "receipt",
        1,
        COLLECTED_AT.unix_timestamp() * 1000 - 1234,
    ))
    .expect("serializable");
    let ctx_cg = ctx("siem_cg");
    let mut g = c.benchmark_group("siem_cg_line");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_line+normalize+write_line", |b| {
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            out.clear();
            // What `streams::siem_cg` does per line before rendering.
            let raw: &RawValue = serde_json::from_str(black_box(line.as_str())).expect("JSON");
            let e = normalize(StreamKind::SiemCg, &ctx_cg, raw);
            mimecast_collector::render::native::write(&e, &mut out);
            black_box(out.len())
        })
    });
    // The same, rendered as OCSF 1.8.0 (Email Activity, Receive) and as ECS 9.4.
    for format in [Format::Ocsf, Format::Ecs] {
        g.bench_function(format!("parse_line+normalize+{format}"), |b| {
            let mut out = Vec::with_capacity(4096);
            b.iter(|| {
                out.clear();
                let raw: &RawValue = serde_json::from_str(black_box(line.as_str())).expect("JSON");
                let e = normalize(StreamKind::SiemCg, &ctx_cg, raw);
                format.write(StreamKind::SiemCg, &e, &mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

fn bench_page(c: &mut Criterion) {
    let t = tenant();
    let body = ttp_url_page_body(&t);
    let env = Envelope::parse(&body).expect("envelope");
    let recs = records::extract(env.data.as_deref(), Some("clickLogs")).expect("records");
    assert_eq!(recs.len(), PAGE);
    let from = record_time(0);

    let mut g = c.benchmark_group("ttp_url_page500");
    g.throughput(Throughput::Elements(PAGE as u64));
    g.bench_function("envelope_parse+extract", |b| {
        b.iter(|| {
            let env = Envelope::parse(black_box(&body)).expect("envelope");
            let recs = records::extract(env.data.as_deref(), Some("clickLogs")).expect("records");
            black_box(recs.len())
        })
    });
    // As `streams::window` calls it: every record in the re-read overlap is remembered.
    g.bench_function("Emitter::render", |b| {
        let emitter = Emitter::new(
            "demo",
            StreamKind::TtpUrl,
            mimecast_collector::render::Output {
                format: mimecast_collector::render::Format::Native,
                include_raw: true,
            },
            [],
        );
        b.iter(|| {
            let r = emitter.render(recs.iter().copied(), COLLECTED_AT, Some(from), Some(from));
            black_box(r.lines.len())
        })
    });
    g.finish();
}

fn bench_sign(c: &mut Criterion) {
    let creds = V1Credentials {
        app_id: "demo-app-id".into(),
        app_key: SecretString::from("demo-app-key"),
        access_key: SecretString::from("demo-access-key"),
        secret_key: SecretString::from("ZGVtby1zZWNyZXQta2V5LWZvci10aGUtbWltZWNhc3Qtc2ltdWxhdG9y"),
    };
    let signer = V1Signer::new(&creds).expect("base64 secret");
    let path = "/api/ttp/url/get-logs";
    let id = "8578FCFC-A305-4D9A-99CB-F4D5ECEFE297";
    let date = format_date(COLLECTED_AT);
    let mut g = c.benchmark_group("v1_sign");
    g.throughput(Throughput::Elements(1));
    g.bench_function("signature", |b| {
        b.iter(|| {
            black_box(signature(
                b"demo-secret-key-for-the-mimecast-simulator",
                black_box(&date),
                id,
                path,
                "demo-app-key",
            ))
        })
    });
    // The whole per-request cost: date formatting, HMAC, and the four header values.
    g.bench_function("V1Signer::headers", |b| {
        b.iter(|| black_box(signer.headers(path, black_box(COLLECTED_AT), id)))
    });
    g.finish();
}

/// The least a collector can do per ttp_url record: borrow the mapped fields, copy them and the
/// raw record into an output line. No time parsing, no id hashing, no dedup.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MinClick<'a> {
    user_email_address: &'a str,
    from_user_email_address: &'a str,
    url: &'a str,
    subject: &'a str,
    action: &'a str,
    scan_result: &'a str,
    category: &'a str,
    sending_ip: &'a str,
    date: &'a str,
    route: &'a str,
    message_id: &'a str,
    creation_method: &'a str,
}

#[derive(Serialize)]
struct MinLine<'a> {
    tenant: &'a str,
    stream: &'a str,
    time: &'a str,
    action: &'a str,
    severity: &'a str,
    sender: &'a str,
    recipients: [&'a str; 1],
    subject: &'a str,
    url: &'a str,
    message_id: &'a str,
    source_ip: &'a str,
    direction: &'a str,
    category: &'a str,
    description: &'a str,
    raw: &'a RawValue,
}

fn bench_limit(c: &mut Criterion) {
    let t = tenant();
    let text = serde_json::to_string(&ttp_url_record(&t, 1)).expect("serializable");
    let raw = RawValue::from_string(text).expect("valid JSON");
    let mut g = c.benchmark_group("limit_ttp_url_record");
    g.throughput(Throughput::Elements(1));
    g.bench_function("borrowed_parse+to_writer", |b| {
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            out.clear();
            let raw = black_box(&*raw);
            let r: MinClick<'_> = serde_json::from_str(raw.get()).expect("record");
            let line = MinLine {
                tenant: "demo",
                stream: "ttp_url",
                time: r.date,
                action: r.action,
                severity: r.scan_result,
                sender: r.from_user_email_address,
                recipients: [r.user_email_address],
                subject: r.subject,
                url: r.url,
                message_id: r.message_id,
                source_ip: r.sending_ip,
                direction: r.route,
                category: r.category,
                description: r.creation_method,
                raw,
            };
            serde_json::to_writer(&mut out, &line).expect("to Vec");
            out.push(b'\n');
            black_box(out.len())
        })
    });
    g.bench_function("borrowed_parse_only", |b| {
        b.iter(|| {
            let r: MinClick<'_> = serde_json::from_str(black_box(raw.get())).expect("record");
            black_box(r.url.len())
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_normalize,
    bench_page,
    bench_sign,
    bench_limit
);
criterion_main!(benches);
