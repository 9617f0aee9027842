//! Wire-level tests of the API 2.0 threat routes, SIEM CI batch, DLP and held-release logs, and
//! the product/permission checks (real HTTP against a `Simulator` on port 0).

use std::collections::HashSet;
use std::time::Duration;

use mimecast_sim::{
    FaultKind, FaultRule, RestItems, RestNext, RestShape, SimConfig, SimTenant, Simulator,
};
use serde_json::{json, Value};

mod common;
use common::*;

const START_Q: &str = "timestampRangeStartsAt=2026-01-15T00:00:00Z";
/// `START_Q` with the largest `limit` (the default, 5, would end a walk after 5 events).
const ALL_Q: &str = "timestampRangeStartsAt=2026-01-15T00:00:00Z&limit=1000";

/// The first 20 threats of the whole window, newest first.
async fn first_threats_page(sim: &Simulator, tok: &str) -> Value {
    get_ok(sim, tok, &format!("/threats/v1/events?{ALL_Q}&pageSize=20")).await
}

/// A 50-threat simulator whose page tokens live `ttl`, a demo token, and the first page's
/// `@nextPage` token.
async fn page_token_with_ttl(ttl: Duration) -> (Simulator, String, String) {
    let (sim, tok) = start_demo(SimConfig {
        page_token_ttl: Some(ttl),
        ..cfg(50)
    })
    .await;
    let first = first_threats_page(&sim, &tok).await;
    let t1 = first["@nextPage"].as_str().expect("next").to_string();
    (sim, tok, t1)
}

/// A 400 with the refused-page-token code.
async fn assert_bad_page_token(sim: &Simulator, tok: &str, url: &str) {
    get_err(sim, tok, url, 400, "err_validation_invalid_page_token").await;
}

/// `records` in reverse order (the default, newest-first order of the listings).
fn newest_first(records: &[Value]) -> Vec<Value> {
    records.iter().rev().cloned().collect()
}

fn ids(v: &[Value]) -> Vec<String> {
    v.iter().map(|r| r.to_string()).collect()
}

/// Walks a POST log endpoint (token only after the first page).
async fn walk_logs(sim: &Simulator, tok: &str, path: &str, item: Value, nest: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut body = json!({"meta": {"pagination": {"pageSize": 17}}});
        match &next {
            Some(t) => body["meta"]["pagination"]["pageToken"] = json!(t),
            None => body["data"] = json!([item.clone()]),
        }
        let v = v2_post_ok(sim, tok, path, &body).await.json();
        out.extend(v["data"][0][nest].as_array().cloned().unwrap_or_default());
        match v["meta"]["pagination"]["next"].as_str() {
            Some(n) => next = Some(n.to_string()),
            None => return out,
        }
    }
}

#[tokio::test]
async fn dlp_and_held_release_logs() {
    let (sim, tok) = start_demo(cfg(60)).await;
    let expected = sim.expected_records("demo", "dlp");
    assert_eq!(expected.len(), 60);
    let window = json!({"from": "2026-01-15T09:00:00+0000", "to": "2026-01-15T12:00:00+0000"});
    let newest = walk_logs(&sim, &tok, "/api/dlp/get-logs", window.clone(), "dlpLogs").await;
    let rev = newest_first(&expected);
    assert_eq!(newest, rev);
    let mut w = window.clone();
    w["oldestFirst"] = json!(true);
    let oldest = walk_logs(&sim, &tok, "/api/dlp/get-logs", w, "dlpLogs").await;
    assert_eq!(oldest, expected);
    for r in &expected {
        for k in [
            "senderAddress",
            "recipientAddress",
            "subject",
            "eventTime",
            "route",
            "policy",
            "action",
            "messageId",
        ] {
            assert!(r[k].is_string(), "{k} in {r}");
        }
        assert!(r.get("id").is_none());
        assert!(["inbound", "outbound", "internal"].contains(&r["route"].as_str().unwrap_or("")));
        assert_eq!(r["eventTime"].as_str().map(str::len), Some(24));
    }

    // Held/release: optional window, RFC 3339 or Mimecast dates, newest first.
    let expected = sim.expected_records("demo", "message_release");
    let rev = newest_first(&expected);
    let all = walk_logs(
        &sim,
        &tok,
        "/api/gateway/get-held-release-logs",
        json!({}),
        "heldReleaseLogs",
    )
    .await;
    assert_eq!(all, rev);
    let r = &all[0];
    for k in [
        "id",
        "status",
        "heldReason",
        "released",
        "subject",
        "route",
        "policy",
    ] {
        assert!(r[k].is_string(), "{k} in {r}");
    }
    assert!(r["attachments"].is_boolean() && r["spamScore"].is_u64() && r["size"].is_u64());
    assert!(r["to"][0]["emailAddress"].is_string() && r["operator"]["emailAddress"].is_string());
    assert!(r["spamProcessingDetail"]["verdict"]["categories"].is_array());
    let mid = all[30]["released"].as_str().expect("released").to_string();
    let mid_rfc = format!("{}Z", &mid[..19]);
    for (start, end) in [
        (mid.clone(), "2026-01-15T12:00:00+0000".to_string()),
        (mid_rfc.clone(), "2026-01-15T12:00:00Z".to_string()),
        (
            format!("{}+00:00", &mid[..19]),
            "2026-01-15T12:00:00+00:00".to_string(),
        ),
    ] {
        let got = walk_logs(
            &sim,
            &tok,
            "/api/gateway/get-held-release-logs",
            json!({"start": start, "end": end}),
            "heldReleaseLogs",
        )
        .await;
        assert_eq!(got, rev[..31].to_vec(), "{start}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn siem_ci_batch_serves_every_type_like_cg() {
    let (sim, tok) = start_demo(SimConfig {
        siem_cg_records_per_file: 10,
        ..cfg(45)
    })
    .await;
    for ty in ["entities", "mailflow", "urlclick"] {
        let mut q = format!(
            "/siem/v1/batch/events/ci?type={ty}&dateRangeStartsAt=2026-01-15&dateRangeEndsAt=2026-01-15&pageSize=2"
        );
        let mut got = Vec::new();
        loop {
            let page = get_ok(&sim, &tok, &q).await;
            for f in page["value"].as_array().cloned().unwrap_or_default() {
                let r = send(client().get(f["url"].as_str().expect("url"))).await;
                assert_eq!(r.status, 200);
                got.extend(gunzip_lines(&r.body));
            }
            if page["isCaughtUp"] == true {
                break;
            }
            q = format!(
                "/siem/v1/batch/events/ci?nextPage={}",
                page["@nextPage"].as_str().expect("next")
            );
        }
        assert_eq!(got, sim.expected_records("demo", &format!("siem_ci:{ty}")));
        for r in &got {
            assert_eq!(r["type"], ty);
            assert!(r["timestamp"].is_i64() && r["_offset"].is_u64() && r["_partition"].is_u64());
            assert!(r["accountId"].is_string() && r["processingId"].is_string());
        }
        match ty {
            "entities" => {
                assert!(got.iter().all(|r| r["recipients"].is_array()
                    && r["source"] == "OFFICE_365_MAIL"
                    && r["policiesApplied"][0]["mode"] == "ACTIVE"
                    && (r["tags"].is_null() || r["tags"].is_array())));
            }
            "mailflow" => {
                assert!(got
                    .iter()
                    .all(|r| r["subtype"].is_null() && r["authResults"][2]["type"] == "DMARC"));
            }
            _ => assert!(got
                .iter()
                .all(|r| r["action"] == "BLOCK" && r["url"].is_string())),
        }
    }
    assert_eq!(sim.expected_records("demo", "siem_ci").len(), 135);
    get_err(
        &sim,
        &tok,
        "/siem/v1/batch/events/ci?type=receipt",
        400,
        "invalid_type",
    )
    .await;
    // A CG cursor is not a CI cursor.
    let cg = get_ok(
        &sim,
        &tok,
        "/siem/v1/batch/events/cg?type=receipt&pageSize=1",
    )
    .await;
    let r = get(
        &sim,
        &tok,
        &format!(
            "/siem/v1/batch/events/ci?nextPage={}",
            cg["@nextPage"].as_str().unwrap_or_default()
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    sim.shutdown().await;
}

/// Walks `/threats/v1/events` with the default shape; returns (records, pages).
async fn walk_threats(sim: &Simulator, tok: &str, query: &str) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut url = format!("/threats/v1/events?{query}");
    let mut pages = 0;
    loop {
        let v = get_ok(sim, tok, &url).await;
        pages += 1;
        out.extend(v["value"].as_array().cloned().expect("value"));
        match v["@nextPage"].as_str() {
            Some(t) => url = format!("/threats/v1/events?pageToken={t}"),
            None => return (out, pages),
        }
        assert!(pages < 1000);
    }
}

#[tokio::test]
async fn threats_list_walks_every_record_once_in_each_order() {
    let (sim, tok) = start_demo(cfg(250)).await;
    let expected = sim.expected_records("demo", "threats");
    assert_eq!(expected.len(), 250);
    let (asc, pages) = walk_threats(
        &sim,
        &tok,
        &format!("{ALL_Q}&pageSize=30&orderBy=timestamp:asc"),
    )
    .await;
    assert_eq!(pages, 9);
    assert_eq!(asc, expected);
    let (desc, _) = walk_threats(&sim, &tok, &format!("{ALL_Q}&pageSize=30")).await;
    let rev = newest_first(&expected);
    assert_eq!(desc, rev);
    let (dflt, pages) = walk_threats(&sim, &tok, ALL_Q).await;
    assert_eq!((dflt.len(), pages), (250, 3));
    assert_eq!(ids(&dflt).into_iter().collect::<HashSet<_>>().len(), 250);
    for r in &expected {
        let id = r["id"].as_str().expect("id");
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        assert_eq!(r["source"], "EMAIL");
        assert_eq!(r["direction"], "inbound");
        assert!(["malware", "phishing", "spam", "suspicious", "unwanted"]
            .contains(&r["analysis"].as_str().unwrap_or("")));
        assert!([
            "blocked",
            "rejected",
            "delivered",
            "held",
            "bounced",
            "unknown"
        ]
        .contains(&r["status"].as_str().unwrap_or("")));
        assert!(r["sender"].as_str().unwrap_or("").contains('@'));
        assert!(r["subject"].is_string() && r["recipientsCount"].is_u64());
        let ts = r["timestamp"].as_str().expect("timestamp");
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && &ts[19..20] == ".",
            "{ts}"
        );
    }

    // Date forms: Z, +00:00, +0000 (encoded), fractional, [Region/City]; end exclusive.
    let mid = expected[100]["timestamp"].as_str().expect("ts").to_string();
    for end in [
        mid.clone(),
        format!("{}%2B00:00", &mid[..23]),
        format!("{}%2B0000", &mid[..23]),
        format!("{}%2B01:00%5BEurope%2FParis%5D", {
            let h: u32 = mid[11..13].parse().expect("hour");
            format!("{}{:02}{}", &mid[..11], h + 1, &mid[13..23])
        }),
    ] {
        let (got, _) = walk_threats(
            &sim,
            &tok,
            &format!(
                "timestampRangeStartsAt=2026-01-15T00:00:00.000%2B0000&timestampRangeEndsAt={end}&orderBy=timestamp:asc&limit=1000"
            ),
        )
        .await;
        assert_eq!(got, expected[..100].to_vec(), "{end}");
    }

    for (q, code) in [
        ("pageSize=10", "missing_timestamp_range_starts_at"),
        (
            &format!("{START_Q}&pageSize=0") as &str,
            "invalid_page_size",
        ),
        (&format!("{START_Q}&pageSize=101"), "invalid_page_size"),
        (&format!("{START_Q}&pageSize=x"), "invalid_page_size"),
        (&format!("{START_Q}&orderBy=time"), "invalid_order_by"),
        ("timestampRangeStartsAt=2026-01-15T00:00:00", "invalid_date"),
        (
            "timestampRangeStartsAt=2026-01-15T00:00:00+0000",
            "invalid_date",
        ),
        ("pageToken=garbage", "err_validation_invalid_page_token"),
    ] {
        get_err(&sim, &tok, &format!("/threats/v1/events?{q}"), 400, code).await;
    }
    // API 1.0 keys do not reach API 2.0 REST routes.
    let r = send(client().get(format!("{}/threats/v1/events?{START_Q}", sim.base_url()))).await;
    assert_eq!(r.status, 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn threats_limit_caps_a_whole_walk() {
    let (sim, tok) = start_demo(cfg(250)).await;
    let expected = sim.expected_records("demo", "threats");
    let rev = newest_first(&expected);

    // No `limit`: 5 events in all (the newest), and no sign that more exist.
    let v = get_ok(&sim, &tok, &format!("/threats/v1/events?{START_Q}")).await;
    assert_eq!(v["value"], json!(rev[..5].to_vec()));
    assert!(v.get("@nextPage").is_none(), "{v}");
    // ... across pages too: 2 + 2 + 1.
    let (got, pages) = walk_threats(&sim, &tok, &format!("{START_Q}&pageSize=2")).await;
    assert_eq!((got, pages), (rev[..5].to_vec(), 3));

    // limit=1000 walks the whole 250-event window.
    let (got, pages) = walk_threats(&sim, &tok, &format!("{START_Q}&limit=1000")).await;
    assert_eq!((got, pages), (rev.clone(), 3));

    // limit=30, pageSize=20: 20, then 10 and no next page.
    let q = format!("{START_Q}&limit=30&pageSize=20&orderBy=timestamp:asc");
    let v = get_ok(&sim, &tok, &format!("/threats/v1/events?{q}")).await;
    assert_eq!(v["value"], json!(expected[..20].to_vec()));
    let next = v["@nextPage"].as_str().expect("next").to_string();
    let v = get_ok(&sim, &tok, &format!("/threats/v1/events?pageToken={next}")).await;
    assert_eq!(v["value"], json!(expected[20..30].to_vec()));
    assert!(v.get("@nextPage").is_none(), "{v}");

    for bad in ["0", "1001", "-1", "x"] {
        for url in [
            format!("/threats/v1/events?{START_Q}&limit={bad}"),
            format!("/threats/v1/events?pageToken={next}&limit={bad}"),
        ] {
            get_err(&sim, &tok, &url, 400, "invalid_limit").await;
        }
    }
    sim.shutdown().await;

    // URI next pages repeat the first query's `limit`; the token's remainder rules.
    let (sim, tok) = start_demo(SimConfig {
        rest_shape: shaped(RestItems::Value, RestNext::AtNextPage, true, false),
        ..cfg(250)
    })
    .await;
    let v = get_ok(&sim, &tok, &format!("/threats/v1/events?{q}")).await;
    let n = v["@nextPage"].as_str().expect("next").to_string();
    assert!(n.contains("limit=30"), "{n}");
    let v = get_ok(&sim, &tok, &n).await;
    assert_eq!(v["value"], json!(expected[20..30].to_vec()));
    assert!(v.get("@nextPage").is_none(), "{v}");
    sim.shutdown().await;
}

#[tokio::test]
async fn threat_details_agree_with_the_list_and_cut_sub_collections() {
    let (sim, tok) = start_demo(cfg(300)).await;
    let list = sim.expected_records("demo", "threats");
    let (mut saw_no_files, mut saw_no_urls, mut saw_cut) = (false, false, false);
    for r in list.iter().take(120) {
        let id = r["id"].as_str().expect("id");
        let v = get_ok(
            &sim,
            &tok,
            &format!("/threats/v1/events/{id}/details?source=EMAIL&pageSize=100"),
        )
        .await;
        let d = &v["value"][0];
        for k in [
            "id",
            "timestamp",
            "sender",
            "subject",
            "status",
            "direction",
            "recipientsCount",
        ] {
            assert_eq!(d[k], r[k], "{k}");
        }
        assert_eq!(d["source"], "EMAIL");
        assert!(d["senderIp"]
            .as_str()
            .unwrap_or("")
            .starts_with(|c: char| c.is_ascii_digit()));
        let count = |k: &str| d[k].as_u64().expect("count") as usize;
        let len = |k: &str| d[k].as_array().expect("array").len();
        assert_eq!(len("recipients"), count("recipientsCount").min(100));
        assert_eq!(len("files"), count("filesCount").min(100));
        assert_eq!(len("urls"), count("urlsCount").min(100));
        assert!(d["recipients"][0]["emailAddress"]
            .as_str()
            .unwrap_or("")
            .ends_with(".example"));
        assert_eq!(d["threats"][0]["type"], r["analysis"]);
        if let Some(f) = d["files"].get(0) {
            for k in ["fileName", "fileType", "sha256", "md5", "sha1", "verdict"] {
                assert!(f[k].is_string(), "{k}");
            }
        }
        if let Some(u) = d["urls"].get(0) {
            assert!(u["clicked"].is_boolean() && u["clickCount"].is_u64() && u["url"].is_string());
        }
        saw_no_files |= count("filesCount") == 0;
        saw_no_urls |= count("urlsCount") == 0;
        if count("recipientsCount") > 3 {
            saw_cut = true;
            let small = get_ok(
                &sim,
                &tok,
                &format!("/threats/v1/events/{id}/details?source=email&pageSize=3"),
            )
            .await;
            let s = &small["value"][0];
            assert_eq!(s["recipients"].as_array().map(Vec::len), Some(3));
            assert_eq!(s["recipientsCount"], d["recipientsCount"]);
        }
    }
    assert!(saw_no_files && saw_no_urls && saw_cut);

    let id = list[0]["id"].as_str().expect("id");
    for (q, status, code) in [
        ("pageSize=5", 400, "missing_source"),
        ("source=URL&pageSize=5", 400, "invalid_source"),
        ("source=EMAIL", 400, "missing_page_size"),
        ("source=EMAIL&pageSize=0", 400, "invalid_page_size"),
        ("source=EMAIL&pageSize=101", 400, "invalid_page_size"),
    ] {
        let url = format!("/threats/v1/events/{id}/details?{q}");
        get_err(&sim, &tok, &url, status, code).await;
    }
    let mut forged = id.to_string();
    forged.pop();
    forged.push(if id.ends_with('A') { 'B' } else { 'A' });
    for bad in ["unknown-id_0", forged.as_str()] {
        let url = format!("/threats/v1/events/{bad}/details?source=EMAIL&pageSize=5");
        get_err(&sim, &tok, &url, 404, "not_found").await;
    }
    sim.shutdown().await;
}

fn shaped(items: RestItems, next: RestNext, next_as_uri: bool, bare_detail: bool) -> RestShape {
    RestShape::Shaped {
        items,
        next,
        next_as_uri,
        bare_detail,
    }
}

#[tokio::test]
async fn rest_shape_variants() {
    use RestNext::{AtNextPage, MetaNextPage, MetaPaginationNext};
    for (items, next, next_as_uri, bare_detail) in [
        (RestItems::Data, AtNextPage, false, false),
        (RestItems::Events, MetaNextPage, false, false),
        (RestItems::Value, MetaPaginationNext, false, true),
        (RestItems::Value, AtNextPage, true, false),
        (RestItems::Data, MetaNextPage, true, true),
        (RestItems::Events, MetaPaginationNext, true, false),
    ] {
        let items_key = match items {
            RestItems::Value => "value",
            RestItems::Data => "data",
            RestItems::Events => "events",
        };
        let shape = shaped(items, next, next_as_uri, bare_detail);
        let (sim, tok) = start_demo(SimConfig {
            rest_shape: shape,
            ..cfg(55)
        })
        .await;
        let mut url = format!("/threats/v1/events?{ALL_Q}&pageSize=20&orderBy=timestamp:asc");
        let mut got = Vec::new();
        let mut pages = 0;
        loop {
            let v = get_ok(&sim, &tok, &url).await;
            pages += 1;
            assert!(v.get("value").is_none() || items_key == "value", "{v}");
            got.extend(v[items_key].as_array().cloned().expect("items"));
            let n = match next {
                RestNext::AtNextPage => v["@nextPage"].as_str(),
                RestNext::MetaNextPage => v["meta"]["nextPage"].as_str(),
                RestNext::MetaPaginationNext => v["meta"]["pagination"]["next"].as_str(),
            };
            if next != RestNext::AtNextPage {
                assert!(v.get("@nextPage").is_none());
            }
            let Some(n) = n else { break };
            if next_as_uri {
                assert!(
                    n.starts_with(&format!("{}/threats/v1/events?", sim.base_url())),
                    "{n}"
                );
                assert!(n.contains("pageToken="), "{n}");
                url = n.to_string();
            } else {
                assert!(!n.contains('/'), "{n}");
                url = format!("/threats/v1/events?pageToken={n}");
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(got, sim.expected_records("demo", "threats"), "{shape:?}");
        let id = got[0]["id"].as_str().expect("id");
        let d = get_ok(
            &sim,
            &tok,
            &format!("/threats/v1/events/{id}/details?source=EMAIL&pageSize=10"),
        )
        .await;
        let detail = if bare_detail { &d } else { &d[items_key][0] };
        assert_eq!(detail["id"], id, "{d}");
        sim.shutdown().await;
    }

    // Unrecognisable: none of the known keys.
    let (sim, tok) = start_demo(SimConfig {
        rest_shape: RestShape::Unrecognisable,
        ..cfg(55)
    })
    .await;
    let v = first_threats_page(&sim, &tok).await;
    for k in ["value", "data", "events", "@nextPage", "meta"] {
        assert!(v.get(k).is_none(), "{k} in {v}");
    }
    assert_eq!(v["items"].as_array().map(Vec::len), Some(20));
    sim.shutdown().await;
}

#[tokio::test]
async fn threats_paging_faults_and_token_ttl() {
    let (sim, tok, t1) = page_token_with_ttl(Duration::from_secs(3600)).await;
    let page2 = format!("/threats/v1/events?pageToken={t1}");

    sim.inject(FaultRule::once(FaultKind::SameToken));
    let v = get_ok(&sim, &tok, &page2).await;
    assert_eq!(v["@nextPage"], json!(t1));
    assert_eq!(v["value"].as_array().map(Vec::len), Some(20));

    sim.inject(FaultRule::once(FaultKind::EmptyNext));
    let v = get_ok(&sim, &tok, &page2).await;
    assert_eq!(v["value"], json!([]));
    let t2 = v["@nextPage"].as_str().expect("next").to_string();
    assert_ne!(t2, t1);
    let v = get_ok(&sim, &tok, &format!("/threats/v1/events?pageToken={t2}")).await;
    assert_eq!(v["value"][0], sim.expected_records("demo", "threats")[29]);

    sim.inject(FaultRule::once(FaultKind::BadPageToken));
    assert_bad_page_token(&sim, &tok, &page2).await;
    sim.shutdown().await;

    // A token older than page_token_ttl is refused.
    let (sim, tok, t1) = page_token_with_ttl(Duration::from_millis(1)).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_bad_page_token(&sim, &tok, &format!("/threats/v1/events?pageToken={t1}")).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn reported_emails_pages_by_offset_with_absolute_uris() {
    let (sim, tok) = start_demo(cfg(60)).await;
    let expected = sim.expected_records("demo", "reported_emails");
    let rev = newest_first(&expected);
    // END is in the past: the default window (the last week) would miss it.
    let mut url =
        "/threat-reporting/v1/reported-emails?pageSize=25&dateRangeStartsAt=2026-01-15T00:00:00Z"
            .to_string();
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let v = get_ok(&sim, &tok, &url).await;
        pages += 1;
        got.extend(v["value"].as_array().cloned().expect("value"));
        match v["meta"]["nextPage"].as_str() {
            Some(n) => {
                assert!(n.starts_with(&format!(
                    "{}/threat-reporting/v1/reported-emails?",
                    sim.base_url()
                )));
                assert!(n.contains(&format!("offset={pages}")), "{n}");
                // The default end, resolved, keeps the walk's window.
                assert!(n.contains("dateRangeEndsAt="), "{n}");
                url = n.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(got, rev);
    let item = &got[0];
    let m = &item["message"];
    for k in [
        "messageId",
        "messageAggregateId",
        "subject",
        "sentDate",
        "lastReportedDate",
    ] {
        assert!(m[k].is_string(), "{k}");
    }
    assert!(m["senderHeaders"].is_array() && m["recipients"].is_array());
    assert!(m["recipientsCount"].is_u64() && m["reportersCount"].is_u64());
    assert!(item["threatReports"]
        .as_str()
        .unwrap_or("")
        .starts_with(&sim.base_url()));
    assert!(got.iter().any(|i| i["threatAnalysis"].is_null()));
    let ta = got
        .iter()
        .find(|i| !i["threatAnalysis"].is_null())
        .map(|i| i["threatAnalysis"].clone())
        .expect("an analysed item");
    assert_eq!(ta["type"], "MSOC");
    assert!(ta["threatAnalysisId"].is_string() && ta["resolvedDate"].is_string());
    // Sorted by lastReportedDate, descending.
    let dates: Vec<&str> = got
        .iter()
        .map(|i| i["message"]["lastReportedDate"].as_str().unwrap_or(""))
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]));

    // The window filters on lastReportedDate; the end is exclusive.
    let cut = expected[40]["message"]["lastReportedDate"]
        .as_str()
        .expect("d");
    let v = get_ok(
        &sim,
        &tok,
        &format!("/threat-reporting/v1/reported-emails?dateRangeStartsAt=2026-01-15T00:00:00Z&dateRangeEndsAt={cut}&pageSize=100"),
    )
    .await;
    assert_eq!(v["value"].as_array().map(Vec::len), Some(40));
    assert!(v["meta"].get("nextPage").is_none());

    for q in [
        "pageSize=30",
        "pageSize=0",
        "offset=-1",
        "dateRangeStartsAt=yesterday",
    ] {
        let r = get(
            &sim,
            &tok,
            &format!("/threat-reporting/v1/reported-emails?{q}"),
        )
        .await;
        assert_eq!(r.status, 400, "{q}");
        assert!(r.json()["error"]["code"].is_string());
    }

    // foreign-next-page: the next page points to another host.
    sim.inject("foreign-next-pagex2".parse::<FaultRule>().expect("spec"));
    let v = get_ok(
        &sim,
        &tok,
        "/threat-reporting/v1/reported-emails?pageSize=25&dateRangeStartsAt=2026-01-15T00:00:00Z",
    )
    .await;
    let n = v["meta"]["nextPage"].as_str().expect("next");
    assert!(
        n.starts_with("https://attacker.example/threat-reporting/v1/reported-emails?"),
        "{n}"
    );
    sim.shutdown().await;

    // ... and on threats when next pages are URIs (not when they are bare tokens).
    let (sim, tok) = start_demo(SimConfig {
        rest_shape: shaped(RestItems::Value, RestNext::AtNextPage, true, false),
        faults: vec!["foreign-next-page".parse().expect("spec")],
        ..cfg(60)
    })
    .await;
    let v = first_threats_page(&sim, &tok).await;
    let n = v["@nextPage"].as_str().expect("next");
    assert!(
        n.starts_with("https://attacker.example/threats/v1/events?"),
        "{n}"
    );
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.fault.as_deref() == Some("foreign-next-page")));
    sim.shutdown().await;
}

#[tokio::test]
async fn granted_permissions_and_products() {
    let stats = "Security Events and Data Retrieval | Threat and security statistics | Read";
    let mut synqly = SimTenant::named("synqly");
    synqly.products = Some(vec!["Threats, Security Events and Data for CG".into()]);
    synqly.granted = Some(vec![stats.into()]);
    let sim = start(SimConfig {
        tenants: vec![SimTenant::demo(), synqly.clone()],
        ..cfg(20)
    })
    .await;
    let tok = token(&sim, &synqly).await;
    let v = get_ok(&sim, &tok, &format!("/threats/v1/events?{START_Q}")).await;
    let id = v["value"][0]["id"].as_str().expect("id").to_string();
    get_ok(
        &sim,
        &tok,
        &format!("/threats/v1/events/{id}/details?source=EMAIL&pageSize=1"),
    )
    .await;
    get_ok(&sim, &tok, "/threat-reporting/v1/reported-emails").await;
    let r = get(&sim, &tok, "/siem/v1/batch/events/cg?type=receipt").await;
    assert_eq!(r.status, 403);
    let msg = r.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(msg.contains("Threat and Security Events (SIEM)"), "{msg}");
    let r = get(&sim, &tok, "/siem/v1/batch/events/ci?type=entities").await;
    assert_eq!(r.status, 403);
    let e = r.json()["error"].clone();
    assert_eq!(e["code"], "err_product_not_subscribed");
    assert!(e["message"]
        .as_str()
        .unwrap_or("")
        .contains("'Threats, Security Events and Data for CI'"));
    let r = send(
        client()
            .post(format!("{}/api/dlp/get-logs", sim.base_url()))
            .bearer_auth(&tok)
            .header("Content-Type", "application/json")
            .body("{}"),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(String::from_utf8_lossy(&r.body).contains("'Security Events'"));

    // A tenant with every product but denied the statistics permission.
    let demo_tok = token(&sim, &SimTenant::demo()).await;
    get_ok(&sim, &demo_tok, "/siem/v1/batch/events/ci?type=entities").await;
    sim.shutdown().await;
    let mut denied = SimTenant::named("denied");
    denied.denied = vec![stats.into()];
    let sim = start(SimConfig {
        tenants: vec![denied.clone()],
        ..cfg(20)
    })
    .await;
    let tok = token(&sim, &denied).await;
    let r = get(
        &sim,
        &tok,
        "/threats/v1/events/abc/details?source=EMAIL&pageSize=1",
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(String::from_utf8_lossy(&r.body).contains("Threat and security statistics"));
    sim.shutdown().await;
}
