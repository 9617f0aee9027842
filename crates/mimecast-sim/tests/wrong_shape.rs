//! Wire-level tests of the `wrong-shape` fault: HTTP 200 whose records sit in a shape a client
//! cannot recognise, on the log endpoints, the SIEM batch listings and the API 2.0 REST routes;
//! and requests the kind does not apply to are neither faulted nor counted.

use mimecast_sim::{FaultRule, SimConfig, Simulator};
use serde_json::{json, Value};

mod common;
use common::*;

const FROM: &str = "2026-01-15T00:00:00+0000";
const TO: &str = "2026-01-15T12:00:00+0000";

fn inject(sim: &Simulator, spec: &str) {
    sim.inject(spec.parse::<FaultRule>().expect("spec"));
}

/// Faults recorded in the journal, in request order (path, fault label).
fn faults(sim: &Simulator) -> Vec<(String, Option<String>)> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path != "/oauth/token")
        .map(|r| (r.path, r.fault))
        .collect()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// The index-keyed object of a page's records: `{"0": r0, "1": r1, …}`.
fn keyed(records: &[Value]) -> Value {
    Value::Object(
        records
            .iter()
            .enumerate()
            .map(|(i, r)| (i.to_string(), r.clone()))
            .collect(),
    )
}

#[tokio::test]
async fn log_endpoints_answer_records_keyed_by_index() {
    let (sim, tok) = start_demo(cfg(30)).await;
    let page = |item: Value| json!({"meta": {"pagination": {"pageSize": 12}}, "data": [item]});
    let ttp = json!({"from": FROM, "to": TO});
    let cases = [
        ("/api/ttp/url/get-logs", "clickLogs", ttp.clone()),
        (
            "/api/ttp/attachment/get-logs",
            "attachmentLogs",
            ttp.clone(),
        ),
        (
            "/api/ttp/impersonation/get-logs",
            "impersonationLogs",
            ttp.clone(),
        ),
        ("/api/dlp/get-logs", "dlpLogs", ttp.clone()),
        (
            "/api/gateway/get-held-release-logs",
            "heldReleaseLogs",
            json!({}),
        ),
        (
            "/api/message-finder/search",
            "trackedEmails",
            json!({"start": FROM, "end": TO}),
        ),
        (
            "/api/archive/get-archive-search-logs",
            "logs",
            json!({"start": FROM, "end": TO}),
        ),
    ];
    for (path, nest, item) in cases {
        let normal = v2_post_ok(&sim, &tok, path, &page(item.clone()))
            .await
            .json();
        let records = normal["data"][0][nest].as_array().cloned().expect(nest);
        assert_eq!(records.len(), 12, "{path}");
        inject(&sim, &format!("wrong-shape@{path}"));
        let r = v2_post_ok(&sim, &tok, path, &page(item)).await;
        let v = r.json();
        // A normal envelope…
        assert_eq!(keys(&v), ["data", "fail", "meta"], "{path}");
        assert_eq!(v["meta"]["status"], 200);
        assert_eq!(
            v["meta"]["pagination"]["pageSize"],
            normal["meta"]["pagination"]["pageSize"]
        );
        assert_eq!(
            v["meta"]["pagination"]["totalCount"],
            normal["meta"]["pagination"]["totalCount"]
        );
        assert!(v["meta"]["pagination"]["next"].is_string(), "{path}");
        // …whose records are an object keyed by index, not the documented array.
        let d = v["data"].as_array().expect("data is still an array");
        assert_eq!(d.len(), 1);
        assert!(d[0][nest].is_object(), "{path}: {v}");
        assert_eq!(d[0][nest], keyed(&records), "{path}");
        if nest == "impersonationLogs" {
            assert_eq!(d[0]["resultCount"], 12);
        }
        // The keys are in index order on the wire ("2" before "10").
        let text = r.text();
        let pos = |k: &str| text.find(&format!("\"{k}\":{{")).expect(k);
        assert!(pos("0") < pos("1") && pos("2") < pos("10") && pos("10") < pos("11"));
    }

    // Audit (records directly in `data[]`): `data` is an object.
    let item = json!({"startDateTime": FROM, "endDateTime": TO});
    let path = "/api/audit/get-audit-events";
    let normal = v2_post_ok(&sim, &tok, path, &page(item.clone()))
        .await
        .json();
    assert_eq!(normal["data"].as_array().map(Vec::len), Some(12));
    inject(&sim, "wrong-shape@/api/audit");
    let v = v2_post_ok(&sim, &tok, path, &page(item)).await.json();
    assert_eq!(v["data"], json!({"records": normal["data"]}));
    assert_eq!(
        v["meta"]["pagination"]["recordStart"],
        normal["meta"]["pagination"]["recordStart"]
    );
    assert!(v["meta"]["pagination"]["next"].is_string());

    // Not applicable to other paged endpoints: internal users are answered as usual and do not
    // use up the rule, which then fires on the next log request.
    sim.clear_requests();
    inject(&sim, "wrong-shape");
    let users = json!({"data": [{"domain": "demo.example"}]});
    let u = v2_post_ok(&sim, &tok, "/api/user/get-internal-users", &users)
        .await
        .json();
    assert!(u["data"][0]["users"].is_array(), "{u}");
    let v = v2_post_ok(&sim, &tok, "/api/dlp/get-logs", &page(ttp.clone()))
        .await
        .json();
    assert!(v["data"][0]["dlpLogs"].is_object(), "{v}");
    let v = v2_post_ok(&sim, &tok, "/api/dlp/get-logs", &page(ttp))
        .await
        .json();
    assert!(v["data"][0]["dlpLogs"].is_array(), "rule spent: {v}");
    assert_eq!(
        faults(&sim),
        [
            ("/api/user/get-internal-users".to_string(), None),
            ("/api/dlp/get-logs".into(), Some("wrong-shape".into())),
            ("/api/dlp/get-logs".into(), None),
        ]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn siem_batch_value_is_an_object() {
    let (sim, tok) = start_demo(SimConfig {
        siem_cg_records_per_file: 10,
        ..cfg(95)
    })
    .await;
    let file_path = |f: &Value| {
        let u = f["url"].as_str().expect("url");
        u.split('?').next().unwrap_or_default().to_string()
    };
    for (path, query) in [
        (
            "/siem/v1/batch/events/cg",
            "type=receipt&dateRangeStartsAt=2026-01-15&dateRangeEndsAt=2026-01-15&pageSize=3",
        ),
        (
            "/siem/v1/batch/events/ci",
            "type=entities&dateRangeStartsAt=2026-01-15&dateRangeEndsAt=2026-01-15&pageSize=3",
        ),
    ] {
        let url = format!("{path}?{query}");
        let normal = get_ok(&sim, &tok, &url).await;
        let files = normal["value"].as_array().cloned().expect("value");
        assert_eq!(files.len(), 3);
        inject(&sim, &format!("wrong-shape@{path}"));
        let v = get_ok(&sim, &tok, &url).await;
        assert_eq!(keys(&v), ["@nextPage", "isCaughtUp", "value"], "{v}");
        assert_eq!(keys(&v["value"]), ["files"], "{v}");
        let got = v["value"]["files"].as_array().cloned().expect("files");
        assert_eq!(
            got.iter().map(file_path).collect::<Vec<_>>(),
            files.iter().map(file_path).collect::<Vec<_>>()
        );
        assert!(v["@nextPage"].is_string());
        assert_eq!(v["isCaughtUp"], false);
    }

    // Storage downloads are not faulted and not counted: the rule fires on the next listing.
    sim.clear_requests();
    inject(&sim, "wrong-shape");
    let url = "/siem/v1/batch/events/cg?type=receipt&dateRangeStartsAt=2026-01-15&dateRangeEndsAt=2026-01-15&pageSize=3";
    let first = get_ok(&sim, &tok, url).await; // faulted: a listing
    let file_url = first["value"]["files"][0]["url"]
        .as_str()
        .expect("url")
        .to_string();
    inject(&sim, "wrong-shape");
    let r = send(client().get(&file_url)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), "application/gzip");
    let v = get_ok(&sim, &tok, url).await;
    assert!(v["value"].is_object(), "{v}");
    let v = get_ok(&sim, &tok, url).await;
    assert!(v["value"].is_array(), "rule spent: {v}");
    let f = faults(&sim);
    assert_eq!(f.len(), 4);
    assert_eq!(f[1].1, None, "{:?}", f[1]);
    assert!(f[1].0.starts_with("/storage/"));
    assert_eq!(
        f.iter().map(|(_, l)| l.as_deref()).collect::<Vec<_>>(),
        [Some("wrong-shape"), None, Some("wrong-shape"), None]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn rest_routes_answer_results_and_next() {
    let (sim, tok) = start_demo(cfg(60)).await;
    let list =
        "/threats/v1/events?timestampRangeStartsAt=2026-01-15T00:00:00Z&pageSize=20&limit=1000";
    let normal = get_ok(&sim, &tok, list).await;
    let records = normal["value"].as_array().cloned().expect("value");
    assert_eq!(records.len(), 20);

    // Not applicable (and not counted): an endpoint outside the three families.
    sim.clear_requests();
    inject(&sim, "wrong-shapex3");
    let acct = v2_post_ok(&sim, &tok, "/api/account/get-account", &json!({"data": []}))
        .await
        .json();
    assert!(acct["data"].is_array());

    // Threats list: `{"results":[…],"next":"<token>"}`; the token continues the walk.
    let v = get_ok(&sim, &tok, list).await;
    assert_eq!(keys(&v), ["next", "results"], "{v}");
    assert_eq!(v["results"], json!(records));
    let next = v["next"].as_str().expect("next").to_string();
    assert_eq!(Some(next.as_str()), normal["@nextPage"].as_str());

    // Details: `{"results":[detail]}`, no `next`.
    let id = records[0]["id"].as_str().expect("id");
    let details = format!("/threats/v1/events/{id}/details?source=EMAIL&pageSize=5");
    let v = get_ok(&sim, &tok, &details).await;
    assert_eq!(keys(&v), ["results"], "{v}");
    assert_eq!(v["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["results"][0]["id"], id);

    // Reported emails: `{"results":[…],"next":"<URI>"}`.
    let reported =
        "/threat-reporting/v1/reported-emails?dateRangeStartsAt=2026-01-15T00:00:00Z&pageSize=25";
    let v = get_ok(&sim, &tok, reported).await;
    assert_eq!(keys(&v), ["next", "results"], "{v}");
    assert_eq!(v["results"].as_array().map(Vec::len), Some(25));
    let n = v["next"].as_str().expect("next");
    assert!(
        n.starts_with(&format!(
            "{}/threat-reporting/v1/reported-emails?",
            sim.base_url()
        )),
        "{n}"
    );
    // The rule is spent (x3): the next URI answers the documented shape.
    let v = get_ok(&sim, &tok, n).await;
    assert!(v["value"].is_array() && v["meta"].is_object(), "{v}");
    let v = get_ok(&sim, &tok, &format!("/threats/v1/events?pageToken={next}")).await;
    assert_eq!(v["value"].as_array().map(Vec::len), Some(20));
    assert_eq!(
        faults(&sim)
            .iter()
            .map(|(_, l)| l.as_deref())
            .collect::<Vec<_>>(),
        [
            None,
            Some("wrong-shape"),
            Some("wrong-shape"),
            Some("wrong-shape"),
            None,
            None
        ]
    );

    // On the last page there is no `next`.
    inject(&sim, "wrong-shape");
    let v = get_ok(
        &sim,
        &tok,
        "/threats/v1/events?timestampRangeStartsAt=2026-01-15T00:00:00Z&pageSize=100&limit=1000",
    )
    .await;
    assert_eq!(keys(&v), ["results"], "{v}");
    assert_eq!(v["results"].as_array().map(Vec::len), Some(60));
    sim.shutdown().await;
}

#[test]
fn spec_grammar() {
    for (spec, times, after, path) in [
        ("wrong-shape", 1, 0, None),
        ("wrong-shapex*", u32::MAX, 0, None),
        ("wrong-shapex2+3@/siem#demo", 2, 3, Some("/siem")),
    ] {
        let r: FaultRule = spec.parse().expect(spec);
        assert_eq!(r.kind, mimecast_sim::FaultKind::WrongShape);
        assert_eq!(
            (r.times, r.after, r.path_prefix.as_deref()),
            (times, after, path)
        );
        assert_eq!(r.kind.label(), "wrong-shape");
    }
    let e = "wrong-shape=1"
        .parse::<FaultRule>()
        .expect_err("no argument");
    assert!(e.contains("takes no argument"), "{e}");
}
