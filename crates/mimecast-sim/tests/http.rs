//! End-to-end tests: real HTTP (reqwest) against a `Simulator` on port 0.

use std::collections::HashSet;
use std::io::Read as _;
use std::time::{Duration, Instant};

use mimecast_sim::{FaultKind, FaultRule, SimConfig, SimTenant, Simulator};
use serde_json::{json, Value};
use time::OffsetDateTime;

mod common;
use common::*;

/// A v1 request signed with `secret` for `signed_path`, sent to `path`.
#[allow(clippy::too_many_arguments)]
fn v1_request(
    sim: &Simulator,
    t: &SimTenant,
    path: &str,
    signed_path: &str,
    secret: &str,
    date: OffsetDateTime,
    body: &Value,
) -> reqwest::RequestBuilder {
    v1_request_with(&client(), sim, t, path, signed_path, secret, date, body)
}

#[allow(clippy::too_many_arguments)]
fn v1_request_with(
    http: &reqwest::Client,
    sim: &Simulator,
    t: &SimTenant,
    path: &str,
    signed_path: &str,
    secret: &str,
    date: OffsetDateTime,
    body: &Value,
) -> reqwest::RequestBuilder {
    let v1 = t.v1.as_ref().expect("v1 creds");
    let date = mimecast_sim::format_mc_header_date(date);
    let req_id = "8578FCFC-A305-4D9A-99CB-F4D5ECEFE297";
    let sig = mimecast_sim::sign_v1(secret, &date, req_id, signed_path, &v1.app_key).expect("sign");
    http.post(format!("{}{path}", sim.base_url()))
        .header("Authorization", format!("MC {}:{sig}", v1.access_key))
        .header("x-mc-date", date)
        .header("x-mc-req-id", req_id)
        .header("x-mc-app-id", &v1.app_id)
        .header("Content-Type", "application/json")
        .body(body.to_string())
}

async fn v1_post(sim: &Simulator, t: &SimTenant, path: &str, body: &Value) -> Resp {
    let secret = t.v1.as_ref().expect("v1").secret_key.clone();
    send(v1_request(
        sim,
        t,
        path,
        path,
        &secret,
        OffsetDateTime::now_utc(),
        body,
    ))
    .await
}

fn mc(t: OffsetDateTime) -> String {
    mimecast_sim::dates::format_mc_date(t)
}

fn whole_window() -> Value {
    json!({"from": mc(END - time::Duration::hours(3)), "to": mc(END)})
}

#[tokio::test]
async fn v1_signature_is_verified() {
    let sim = start(default_cfg()).await;
    let t = SimTenant::demo();
    let secret = t.v1.as_ref().expect("v1").secret_key.clone();
    let path = "/api/ttp/url/get-logs";
    let body = json!({"data": [whole_window()]});
    let now = OffsetDateTime::now_utc();

    let ok = send(v1_request(&sim, &t, path, path, &secret, now, &body)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["fail"], json!([]));

    let wrong_secret = send(v1_request(&sim, &t, path, path, "c2VjcmV0", now, &body)).await;
    assert_eq!(wrong_secret.status, 401);
    assert_eq!(wrong_secret.fail_code(), "err_signature_mismatch");

    let wrong_path = send(v1_request(
        &sim,
        &t,
        path,
        "/api/audit/get-audit-events",
        &secret,
        now,
        &body,
    ))
    .await;
    assert_eq!(wrong_path.status, 401);

    let stale = send(v1_request(
        &sim,
        &t,
        path,
        path,
        &secret,
        now - time::Duration::hours(1),
        &body,
    ))
    .await;
    assert_eq!(stale.status, 401);
    assert_eq!(stale.fail_code(), "err_request_date_out_of_range");

    let mut other = t.clone();
    if let Some(v) = other.v1.as_mut() {
        v.app_key = "wrong-app-key".into();
    }
    let wrong_app_key = send(v1_request(&sim, &other, path, path, &secret, now, &body)).await;
    assert_eq!(wrong_app_key.status, 401);

    let mut unknown = t.clone();
    if let Some(v) = unknown.v1.as_mut() {
        v.access_key = "nobody".into();
    }
    let r = send(v1_request(&sim, &unknown, path, path, &secret, now, &body)).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.fail_code(), "err_unknown_access_key");

    let mut bad_app = t.clone();
    if let Some(v) = bad_app.v1.as_mut() {
        v.app_id = "other-app".into();
    }
    let r = send(v1_request(&sim, &bad_app, path, path, &secret, now, &body)).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.fail_code(), "err_developer_key");

    let missing = send(
        client()
            .post(format!("{}{path}", sim.base_url()))
            .body(body.to_string()),
    )
    .await;
    assert_eq!(missing.status, 400);
    assert!(missing.json()["fail"][0]["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("Credentials are missing"));

    let reqs = sim.requests();
    assert_eq!(
        reqs.len(),
        8,
        "every request is recorded, including refused ones"
    );
    assert_eq!(reqs[0].status, 200);
    assert_eq!(reqs[0].tenant.as_deref(), Some("demo"));
    assert_eq!(reqs[1].status, 401);
    assert_eq!(reqs[7].tenant, None);
    assert!(reqs[0].header("x-mc-req-id").is_some());
    sim.shutdown().await;
}

#[tokio::test]
async fn oauth_tokens_issue_and_expire() {
    let sim = start(SimConfig {
        token_ttl: Duration::from_secs(1),
        ..default_cfg()
    })
    .await;
    let t = SimTenant::demo();
    let v2 = t.v2.clone().expect("v2");
    let r = send(
        client()
            .post(format!("{}/oauth/token", sim.base_url()))
            .body(format!(
                "client_id={}&client_secret=nope&grant_type=client_credentials",
                v2.client_id
            )),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["fail"][0]["message"], "Invalid client credentials");

    let r = send(
        client()
            .post(format!("{}/oauth/token", sim.base_url()))
            .body(format!(
                "client_id={}&client_secret={}&grant_type=password",
                v2.client_id, v2.client_secret
            )),
    )
    .await;
    assert_eq!(r.status, 400);

    let body = send(
        client()
            .post(format!("{}/oauth/token", sim.base_url()))
            .body(format!(
                "client_id={}&client_secret={}&grant_type=client_credentials",
                v2.client_id, v2.client_secret
            )),
    )
    .await
    .json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 1);
    assert_eq!(body["scope"], "");
    let tok = body["access_token"].as_str().expect("token").to_string();

    let audit = json!({"data": [{"startDateTime": mc(END - time::Duration::hours(3)), "endDateTime": mc(END)}]});
    let r = v2_post(&sim, &tok, "/api/audit/get-audit-events", &audit).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["meta"]["pagination"]["totalCount"], 200);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = v2_post(&sim, &tok, "/api/audit/get-audit-events", &audit).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.fail_code(), "token_expired");

    let tok2 = token(&sim, &t).await;
    assert_eq!(
        v2_post(&sim, &tok2, "/api/audit/get-audit-events", &audit)
            .await
            .status,
        200
    );
    sim.expire_tokens();
    let r = v2_post(&sim, &tok2, "/api/audit/get-audit-events", &audit).await;
    assert_eq!(
        (r.status, r.fail_code()),
        (401, "token_expired".to_string())
    );
    let r = v2_post(&sim, "garbage", "/api/audit/get-audit-events", &audit).await;
    assert_eq!(r.status, 401);
    assert_eq!(sim.tokens_issued(), 2);
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.path == "/oauth/token" && r.status == 200)
            .count(),
        2
    );
    sim.shutdown().await;
}

/// Walks every page of `path`; `resend_data` chooses the XSOAR style (data + token) or the
/// Elastic style (token only).
async fn walk(
    sim: &Simulator,
    tok: &str,
    path: &str,
    item: Value,
    nest: Option<&str>,
    page_size: Value,
    resend_data: bool,
) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({"meta": {"pagination": {"pageSize": page_size.clone()}}});
        if let Some(t) = &token {
            body["meta"]["pagination"]["pageToken"] = json!(t);
        }
        if token.is_none() || resend_data {
            body["data"] = json!([item.clone()]);
        }
        let r = v2_post(sim, tok, path, &body).await;
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["fail"], json!([]), "{v}");
        pages += 1;
        let recs = match nest {
            Some(n) => v["data"][0][n].as_array().cloned().unwrap_or_default(),
            None => v["data"].as_array().cloned().unwrap_or_default(),
        };
        out.extend(recs);
        match v["meta"]["pagination"]["next"].as_str() {
            Some(n) => token = Some(n.to_string()),
            None => break,
        }
        assert!(pages < 10_000);
    }
    (out, pages)
}

fn key_set(v: &[Value]) -> HashSet<String> {
    v.iter().map(|r| r.to_string()).collect()
}

#[tokio::test]
async fn pagination_walks_windows_exactly_once() {
    let sim = start(SimConfig {
        records_per_stream: 1000,
        ..default_cfg()
    })
    .await;
    let t = SimTenant::demo();
    let tok = token(&sim, &t).await;
    let expected = sim.expected_records("demo", "ttp_url");
    assert_eq!(expected.len(), 1000);

    // Elastic style: token only, pageSize as a string; newest first.
    let (got, pages) = walk(
        &sim,
        &tok,
        "/api/ttp/url/get-logs",
        whole_window(),
        Some("clickLogs"),
        json!("77"),
        false,
    )
    .await;
    assert_eq!(got.len(), 1000);
    assert_eq!(pages, 13);
    assert_eq!(key_set(&got).len(), 1000, "no duplicates");
    assert_eq!(key_set(&got), key_set(&expected));
    assert_eq!(got[0], expected[999], "newest first by default");

    // XSOAR style: data resent with the token; oldestFirst.
    let mut item = whole_window();
    item["oldestFirst"] = json!(true);
    let (got, _) = walk(
        &sim,
        &tok,
        "/api/ttp/url/get-logs",
        item,
        Some("clickLogs"),
        json!(500),
        true,
    )
    .await;
    assert_eq!(got, expected, "oldest first = backlog order");

    // Adjacent windows partition the backlog ([from, to)).
    let mid = END - time::Duration::minutes(47);
    let a = json!({"from": mc(END - time::Duration::hours(3)), "to": mc(mid)});
    let b = json!({"from": mc(mid), "to": mc(END)});
    let (ra, _) = walk(
        &sim,
        &tok,
        "/api/ttp/attachment/get-logs",
        a,
        Some("attachmentLogs"),
        json!(100),
        false,
    )
    .await;
    let (rb, _) = walk(
        &sim,
        &tok,
        "/api/ttp/attachment/get-logs",
        b,
        Some("attachmentLogs"),
        json!(100),
        false,
    )
    .await;
    assert_eq!(ra.len() + rb.len(), 1000);
    assert!(ra
        .iter()
        .all(|r| r["date"].as_str().unwrap_or_default() < mc(mid).as_str()));
    assert!(rb
        .iter()
        .all(|r| r["date"].as_str().unwrap_or_default() >= mc(mid).as_str()));

    // Audit: records directly in data[].
    let audit =
        json!({"startDateTime": mc(END - time::Duration::hours(3)), "endDateTime": mc(END)});
    let (got, _) = walk(
        &sim,
        &tok,
        "/api/audit/get-audit-events",
        audit,
        None,
        json!(250),
        false,
    )
    .await;
    assert_eq!(
        key_set(&got),
        key_set(&sim.expected_records("demo", "audit"))
    );
    let ids: HashSet<&str> = got.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), 1000, "audit ids unique");

    // Impersonation carries resultCount; message finder and search logs page too.
    let imp = v2_post(
        &sim,
        &tok,
        "/api/ttp/impersonation/get-logs",
        &json!({"data": [whole_window()]}),
    )
    .await
    .json();
    assert_eq!(imp["data"][0]["resultCount"], 100);
    let (mf, _) = walk(
        &sim,
        &tok,
        "/api/message-finder/search",
        json!({"start": mc(END - time::Duration::hours(3)), "end": mc(END)}),
        Some("trackedEmails"),
        json!(500),
        false,
    )
    .await;
    assert_eq!(mf.len(), 1000);
    let (logs, _) = walk(
        &sim,
        &tok,
        "/api/archive/get-archive-search-logs",
        json!({}),
        Some("logs"),
        json!(400),
        false,
    )
    .await;
    assert_eq!(
        key_set(&logs),
        key_set(&sim.expected_records("demo", "archive_search_logs"))
    );
    let (notes, _) = walk(
        &sim,
        &tok,
        "/api/account/get-dashboard-notifications",
        json!({}),
        Some("notifications"),
        json!(500),
        false,
    )
    .await;
    assert_eq!(notes, sim.expected_records("demo", "dashboard"));
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_client_input_gets_proper_errors() {
    let sim = start(default_cfg()).await;
    let t = SimTenant::demo();
    let tok = token(&sim, &t).await;
    let p = "/api/ttp/url/get-logs";
    let r = send(
        client()
            .post(format!("{}{p}", sim.base_url()))
            .bearer_auth(&tok)
            .body("{not json"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.fail_code(), "err_request_malformed");
    let r = v2_post(
        &sim,
        &tok,
        p,
        &json!({"data": [{"from": "yesterday", "to": mc(END)}]}),
    )
    .await;
    assert_eq!(r.status, 200, "validation errors come with HTTP 200");
    assert_eq!(r.fail_code(), "err_validation_invalid_date");
    assert_eq!(r.json()["fail"][0]["key"]["from"], "yesterday");
    let r = v2_post(
        &sim,
        &tok,
        p,
        &json!({"meta": {"pagination": {"pageSize": "lots"}}}),
    )
    .await;
    assert_eq!(r.fail_code(), "err_validation_invalid_page_size");
    let r = v2_post(
        &sim,
        &tok,
        p,
        &json!({"meta": {"pagination": {"pageToken": "!!"}}}),
    )
    .await;
    assert_eq!(r.fail_code(), "err_validation_invalid_page_token");
    let r = v2_post(&sim, &tok, p, &json!({"data": {"from": 1}})).await;
    assert_eq!(r.fail_code(), "err_validation_invalid_data");
    let r = v2_post(
        &sim,
        &tok,
        p,
        &json!({"data": [{"from": mc(END), "to": mc(END - time::Duration::hours(1))}]}),
    )
    .await;
    assert_eq!(r.fail_code(), "err_validation_invalid_date_range");
    let r = v2_post(
        &sim,
        &tok,
        "/api/audit/get-audit-events",
        &json!({"data": [{"endDateTime": mc(END)}]}),
    )
    .await;
    assert_eq!(r.fail_code(), "err_validation_null");
    let r = v2_post(&sim, &tok, "/api/nope", &json!({})).await;
    assert_eq!(r.status, 404);
    let r = send(
        client()
            .get(format!("{}{p}", sim.base_url()))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(r.status, 405);
    let r = send(
        client()
            .get(format!(
                "{}/siem/v1/batch/events/cg?type=nope",
                sim.base_url()
            ))
            .bearer_auth(&tok),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_type");
    let r = send(client().get(format!(
        "{}/storage/forged.sig/file.json.gz",
        sim.base_url()
    )))
    .await;
    assert_eq!(r.status, 403);
    sim.shutdown().await;
}

#[tokio::test]
async fn every_fault_kind_is_observable() {
    let sim = start(default_cfg()).await;
    let t = SimTenant::demo();
    let tok = token(&sim, &t).await;
    let p = "/api/ttp/url/get-logs";
    let body = json!({"data": [whole_window()]});
    let rule = |kind: FaultKind| FaultRule {
        path_prefix: Some(p.into()),
        ..FaultRule::once(kind)
    };

    sim.inject(rule(FaultKind::RateLimit {
        reset_ms: Some(1500),
    }));
    let r = v2_post(&sim, &tok, p, &body).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["fail"][0]["message"], "Quota exceeded");
    assert_eq!(r.header("x-ratelimit-reset").as_deref(), Some("1500"));
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));

    sim.inject(rule(FaultKind::RateLimit { reset_ms: None }));
    let r = v2_post(&sim, &tok, p, &body).await;
    assert_eq!(r.status, 429);
    assert!(r.header("x-ratelimit-reset").is_none());

    sim.inject(rule(FaultKind::Status(503)));
    assert_eq!(v2_post(&sim, &tok, p, &body).await.status, 503);

    sim.inject(rule(FaultKind::HtmlError(502)));
    let r = v2_post(&sim, &tok, p, &body).await;
    assert_eq!(r.status, 502);
    assert!(r
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/html"));
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());

    sim.inject(rule(FaultKind::Delay(Duration::from_millis(400))));
    let t0 = Instant::now();
    let r = v2_post(&sim, &tok, p, &body).await;
    assert_eq!(r.status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(400));
    let timeout = client()
        .post(format!("{}{p}", sim.base_url()))
        .bearer_auth(&tok)
        .timeout(Duration::from_millis(100))
        .body(body.to_string());
    sim.inject(rule(FaultKind::Delay(Duration::from_millis(600))));
    assert!(timeout.send().await.is_err(), "client timeout observed");
    let pending = sim
        .requests()
        .into_iter()
        .last()
        .expect("recorded on arrival");
    assert_eq!(pending.fault.as_deref(), Some("delay=600ms"));
    assert!(
        matches!(pending.status, 0 | 499),
        "in flight or abandoned: {}",
        pending.status
    );

    sim.inject(rule(FaultKind::Reset));
    let res = client()
        .post(format!("{}{p}", sim.base_url()))
        .bearer_auth(&tok)
        .body(body.to_string())
        .send()
        .await;
    let broken = match res {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(broken, "reset must break the body");

    sim.inject(rule(FaultKind::TruncatedJson));
    let r = v2_post(&sim, &tok, p, &body).await;
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(b"{\"meta\""));
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());

    sim.inject(rule(FaultKind::MalformedJson));
    let r = v2_post(&sim, &tok, p, &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());

    sim.inject(rule(FaultKind::Fail {
        code: "err_x".into(),
        retryable: true,
    }));
    let r = v2_post(&sim, &tok, p, &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.fail_code(), "err_x");
    assert_eq!(r.json()["fail"][0]["errors"][0]["retryable"], true);
    assert_eq!(
        r.json()["fail"][0]["key"]["from"],
        whole_window()["from"],
        "key echoes data[0]"
    );

    sim.inject(rule(FaultKind::Forbidden));
    let r = v2_post(&sim, &tok, p, &body).await;
    assert_eq!(r.status, 403);
    assert!(r.json()["fail"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("Monitoring | URL Protection | Read"));

    sim.inject(rule(FaultKind::TokenExpired));
    let r = v2_post(&sim, &tok, p, &body).await;
    assert_eq!(
        (r.status, r.fail_code()),
        (401, "token_expired".to_string())
    );

    sim.inject(rule(FaultKind::KeysExpired));
    let r = v1_post(&sim, &t, p, &body).await;
    assert_eq!(
        (r.status, r.fail_code()),
        (418, "err_xdk_binding_expired".to_string())
    );

    // Spent rules no longer fire; `after` and `times` from the CLI grammar.
    assert_eq!(v2_post(&sim, &tok, p, &body).await.status, 200);
    sim.inject("500x2+1@/api/ttp/url".parse().expect("spec"));
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(v2_post(&sim, &tok, p, &body).await.status);
        }
        v
    };
    assert_eq!(statuses, vec![200, 500, 500, 200]);

    let labels: Vec<String> = sim
        .requests()
        .iter()
        .filter_map(|r| r.fault.clone())
        .collect();
    for want in [
        "429:reset=1500",
        "429",
        "503",
        "html502",
        "delay=400ms",
        "reset",
        "truncated",
        "malformed",
        "fail=err_x:retryable",
        "403",
        "expired-token",
        "expired-keys",
        "500",
    ] {
        assert!(labels.iter().any(|l| l == want), "{want} not in {labels:?}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn quota_returns_429_with_headers_and_does_not_execute() {
    let sim = start(SimConfig {
        quota_per_minute: 3,
        ..default_cfg()
    })
    .await;
    let t = SimTenant::demo();
    let tok = token(&sim, &t).await;
    let p = "/api/ttp/url/get-logs";
    let body = json!({"data": [whole_window()]});
    for _ in 0..3 {
        let r = v2_post(&sim, &tok, p, &body).await;
        assert_eq!(r.status, 200);
        assert!(
            r.header("x-ratelimit-limit").is_none(),
            "headers only on 429 by default"
        );
    }
    let r = v2_post(&sim, &tok, p, &body).await;
    assert_eq!(r.status, 429);
    let v = r.json();
    assert_eq!(v["fail"][0]["message"], "Quota exceeded");
    assert_eq!(v["data"], json!([]), "function not executed");
    assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("3"));
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
    let reset: u64 = r
        .header("x-ratelimit-reset")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(reset > 50_000 && reset <= 60_000, "{reset}");
    sim.shutdown().await;

    let sim = start(SimConfig {
        quota_per_minute: 10,
        rate_limit_headers_always: true,
        ..default_cfg()
    })
    .await;
    let tok = token(&sim, &t).await;
    let r = v2_post(&sim, &tok, p, &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("9"));
    sim.shutdown().await;
}

#[tokio::test]
async fn denied_permissions_answer_403() {
    let mut tenant = SimTenant::named("acme");
    tenant.denied = vec!["Archive | Search | Read".into()];
    let sim = start(SimConfig {
        tenants: vec![SimTenant::demo(), tenant.clone()],
        ..default_cfg()
    })
    .await;
    let tok = token(&sim, &tenant).await;
    let q = json!({"data": [{"admin": true, "query": "<xmlquery><muse><date select=\"last_year\"/></muse></xmlquery>"}]});
    let r = v2_post(&sim, &tok, "/api/archive/search", &q).await;
    assert_eq!(r.status, 403);
    assert!(r.json()["fail"][0]["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("Archive | Search | Read"));
    let r = v2_post(
        &sim,
        &tok,
        "/api/ttp/url/get-logs",
        &json!({"data": [whole_window()]}),
    )
    .await;
    assert_eq!(r.status, 200);
    let demo_tok = token(&sim, &SimTenant::demo()).await;
    assert_eq!(
        v2_post(&sim, &demo_tok, "/api/archive/search", &q)
            .await
            .status,
        200
    );
    assert_eq!(
        sim.requests()
            .last()
            .and_then(|r| r.tenant.clone())
            .as_deref(),
        Some("demo")
    );
    sim.shutdown().await;
}

async fn batch_page(sim: &Simulator, tok: &str, query: &str) -> Value {
    get_ok(sim, tok, &format!("/siem/v1/batch/events/cg?{query}")).await
}

#[tokio::test]
async fn siem_cg_batch_pages_and_files() {
    let sim = start(SimConfig {
        records_per_stream: 95,
        siem_cg_records_per_file: 10,
        ..default_cfg()
    })
    .await;
    let tok = token(&sim, &SimTenant::demo()).await;
    let mut query =
        "type=url%20protect&dateRangeStartsAt=2026-01-15&dateRangeEndsAt=2026-01-15&pageSize=3"
            .to_string();
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let page = batch_page(&sim, &tok, &query).await;
        pages += 1;
        for f in page["value"].as_array().cloned().unwrap_or_default() {
            let url = f["url"].as_str().expect("url");
            assert!(f["expiry"].is_string() && f["size"].is_u64());
            let r = send(client().get(url)).await; // no Authorization
            assert_eq!(r.status, 200);
            got.extend(gunzip_lines(&r.body));
        }
        if page["isCaughtUp"] == true {
            let again = batch_page(
                &sim,
                &tok,
                &format!(
                    "nextPage={}",
                    page["@nextPage"].as_str().unwrap_or_default()
                ),
            )
            .await;
            assert_eq!(again["value"], json!([]));
            assert_eq!(again["isCaughtUp"], true);
            break;
        }
        query = format!(
            "nextPage={}&pageSize=3",
            page["@nextPage"].as_str().expect("next")
        );
        assert!(pages < 20);
    }
    assert_eq!(pages, 4);
    assert_eq!(got, sim.expected_records("demo", "siem_cg:url protect"));
    assert!(got
        .iter()
        .all(|e| e["type"] == "url protect" && e["timestamp"].is_i64()));

    // v1 credentials are refused on SIEM routes with the SIEM error shape.
    let r = send(client().get(format!(
        "{}/siem/v1/batch/events/cg?type=receipt",
        sim.base_url()
    )))
    .await;
    assert_eq!(r.status, 401);
    assert!(r.json()["error"]["message"].is_string());
    sim.shutdown().await;
}

#[tokio::test]
async fn siem_cg_large_file_streams_and_expired_url_is_403() {
    const N: u64 = 200_000;
    let sim = start(SimConfig {
        records_per_stream: N,
        siem_cg_records_per_file: N,
        ..default_cfg()
    })
    .await;
    let tok = token(&sim, &SimTenant::demo()).await;
    let page = batch_page(
        &sim,
        &tok,
        "type=journal&dateRangeStartsAt=2026-01-14&dateRangeEndsAt=2026-01-15",
    )
    .await;
    let files = page["value"].as_array().cloned().unwrap_or_default();
    assert_eq!(files.len(), 1);
    assert_eq!(page["isCaughtUp"], true);
    let url = files[0]["url"].as_str().expect("url").to_string();
    // 200,000 records gzipped as they are made, by a debug build: on a loaded machine that
    // takes longer than the 20 s other requests get.
    let slow = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("client");
    let mut resp = slow.get(&url).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers().get("content-length").is_none(),
        "streamed, not buffered"
    );
    // Decompress incrementally while counting lines.
    let mut compressed = Vec::new();
    let mut chunks = 0;
    while let Some(c) = resp.chunk().await.expect("chunk") {
        chunks += 1;
        compressed.extend_from_slice(&c);
    }
    assert!(chunks > 10, "sent in many chunks ({chunks})");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut text)
        .expect("gunzip");
    let mut count = 0u64;
    let mut last_ts = i64::MIN;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("json line");
        let ts = v["timestamp"].as_i64().expect("ts");
        assert!(ts >= last_ts);
        last_ts = ts;
        count += 1;
    }
    assert_eq!(count, N);
    sim.shutdown().await;

    let sim = start(SimConfig {
        file_url_ttl: Duration::ZERO,
        ..default_cfg()
    })
    .await;
    let tok = token(&sim, &SimTenant::demo()).await;
    let page = batch_page(
        &sim,
        &tok,
        "type=receipt&dateRangeStartsAt=2026-01-15&dateRangeEndsAt=2026-01-15",
    )
    .await;
    let url = page["value"][0]["url"].as_str().expect("url").to_string();
    let r = send(client().get(&url)).await;
    assert_eq!(r.status, 403);
    assert!(String::from_utf8_lossy(&r.body).contains("Request has expired"));
    sim.shutdown().await;
}

#[tokio::test]
async fn siem_mta_files_until_json() {
    let sim = start(SimConfig {
        records_per_stream: 45,
        siem_mta_records_per_file: 10,
        ..default_cfg()
    })
    .await;
    let t = SimTenant::demo();
    let mut token: Option<String> = None;
    let mut lines = Vec::new();
    let mut names = Vec::new();
    loop {
        let mut item = json!({"type": "MTA", "fileFormat": "json", "compress": true});
        if let Some(tk) = &token {
            item["token"] = json!(tk);
        }
        let r = v1_post(
            &sim,
            &t,
            "/api/audit/get-siem-logs",
            &json!({"data": [item]}),
        )
        .await;
        assert_eq!(r.status, 200);
        let ct = r.header("content-type").unwrap_or_default();
        if ct.starts_with("application/json") {
            assert_eq!(r.json()["fail"], json!([]));
            break;
        }
        assert_eq!(ct, "application/octet-stream");
        let cd = r.header("content-disposition").unwrap_or_default();
        names.push(cd.clone());
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(r.body.clone())).expect("zip");
        assert_eq!(zip.len(), 1);
        let mut s = String::new();
        zip.by_index(0)
            .expect("entry")
            .read_to_string(&mut s)
            .expect("read");
        lines.extend(
            s.lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("line")),
        );
        token = r.header("mc-siem-token");
        assert!(token.is_some());
        assert!(names.len() < 20);
    }
    assert_eq!(names.len(), 5);
    assert!(
        names[0].starts_with("attachment; filename=\"receipt_2026011")
            && names[0].ends_with(".json\""),
        "{}",
        names[0]
    );
    assert!(names[1].contains("process_"));
    assert_eq!(lines, sim.expected_records("demo", "siem_mta"));
    assert!(lines
        .iter()
        .all(|l| l["acc"].is_string() && l["datetime"].is_string()));

    // Not available with a bearer token (API 2.0).
    let tok = crate::token(&sim, &t).await;
    assert_eq!(
        v2_post(
            &sim,
            &tok,
            "/api/audit/get-siem-logs",
            &json!({"data": [{"type": "MTA"}]})
        )
        .await
        .status,
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_bytes_other_seed_other_data() {
    let a = start(default_cfg()).await;
    let b = start(default_cfg()).await;
    let c = start(SimConfig {
        seed: 7,
        ..default_cfg()
    })
    .await;
    for s in [
        "audit",
        "ttp_url",
        "siem_cg",
        "threat_intel",
        "directory",
        "siem_mta",
    ] {
        assert_eq!(
            a.expected_records("demo", s),
            b.expected_records("demo", s),
            "{s}"
        );
        assert_ne!(
            a.expected_records("demo", s),
            c.expected_records("demo", s),
            "{s}"
        );
    }
    let body = json!({"data": [whole_window()], "meta": {"pagination": {"pageSize": 50}}});
    let ta = token(&a, &SimTenant::demo()).await;
    let tb = token(&b, &SimTenant::demo()).await;
    let ra = v2_post(&a, &ta, "/api/ttp/impersonation/get-logs", &body).await;
    let rb = v2_post(&b, &tb, "/api/ttp/impersonation/get-logs", &body).await;
    assert_eq!(ra.body, rb.body);
    for s in [a, b, c] {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn login_flow_and_binding_expiry() {
    let sim = start(default_cfg()).await;
    let t = SimTenant::demo();
    let login = t.login.clone().expect("login");
    let v1 = t.v1.clone().expect("v1");
    let disc = send(
        client()
            .post(format!(
                "{}/api/login/discover-authentication",
                sim.base_url()
            ))
            .header("x-mc-app-id", &v1.app_id)
            .body(json!({"data": [{"emailAddress": login.email}]}).to_string()),
    )
    .await;
    assert_eq!(disc.status, 200);
    assert_eq!(disc.json()["data"][0]["region"]["api"], sim.base_url());

    let do_login = |pw: String| {
        use base64::Engine as _;
        let cred =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{pw}", login.email));
        client()
            .post(format!("{}/api/login/login", sim.base_url()))
            .header("Authorization", format!("Basic-Cloud {cred}"))
            .header("x-mc-app-id", &v1.app_id)
            .header(
                "x-mc-date",
                mimecast_sim::format_mc_header_date(OffsetDateTime::now_utc()),
            )
            .header("x-mc-req-id", "1")
            .body(json!({"data": [{"userName": login.email}]}).to_string())
    };
    let bad = send(do_login("wrong".into())).await;
    assert_eq!(bad.status, 401);
    assert!(!bad.fail_code().is_empty());

    sim.expire_binding("demo");
    let p = "/api/account/get-account";
    let r = v1_post(&sim, &t, p, &json!({"data": []})).await;
    assert_eq!(
        (r.status, r.fail_code()),
        (418, "err_xdk_binding_expired".to_string())
    );

    let ok = send(do_login(login.password.clone())).await;
    assert_eq!(ok.status, 200);
    let d = &ok.json()["data"][0];
    assert_eq!(d["accessKey"], v1.access_key);
    assert_eq!(d["secretKey"], v1.secret_key);
    assert_eq!(d["bindingType"], "one_step");
    let r = v1_post(&sim, &t, p, &json!({"data": []})).await;
    assert_eq!(r.status, 200, "login refreshed the binding");
    assert!(r.json()["data"][0]["accountCode"].is_string());
    sim.shutdown().await;
}

#[tokio::test]
async fn threat_feed_archive_and_directory() {
    let sim = start(SimConfig {
        records_per_stream: 120,
        ..default_cfg()
    })
    .await;
    let t = SimTenant::demo();
    let tok = token(&sim, &t).await;

    // Threat intel: follow the header token until "no result".
    let mut objects = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..20 {
        let mut item = json!({"feedType": "malware_grid", "fileType": "stix", "start": mc(END - time::Duration::hours(3)), "end": mc(END)});
        if let Some(n) = &next {
            item["token"] = json!(n);
        }
        let r = v2_post(
            &sim,
            &tok,
            "/api/ttp/threat-intel/get-feed",
            &json!({"data": [item], "meta": {"pagination": {"pageSize": 50}}}),
        )
        .await;
        assert_eq!(r.status, 200);
        let v = r.json();
        if v.get("fail").is_some() {
            assert_eq!(r.fail_code(), "err_threat_intel_feed_no_result_found");
            break;
        }
        assert_eq!(v["type"], "bundle");
        objects.extend(v["objects"].as_array().cloned().unwrap_or_default());
        next = r.header("x-mc-threat-feed-next-token");
        assert!(next.is_some());
    }
    assert_eq!(objects.len(), 360);
    assert_eq!(
        objects,
        sim.expected_records("demo", "threat_intel:malware_grid")
    );

    // Archive search with a between window.
    let from = END - time::Duration::hours(1);
    let q = format!("<?xml version=\"1.0\"?><xmlquery trace=\"iql,muse\"><metadata query-type=\"emailarchive\" archive=\"true\" page-size=\"25\"/><muse><text></text><date select=\"between\" from=\"{}\" to=\"{}\"/></muse></xmlquery>", mc(from), mc(END));
    let (items, pages) = walk(
        &sim,
        &tok,
        "/api/archive/search",
        json!({"admin": true, "query": q}),
        Some("items"),
        Value::Null,
        false,
    )
    .await;
    assert_eq!(items.len(), 60);
    assert_eq!(pages, 3, "page-size from the XML metadata");
    assert!(items
        .iter()
        .all(|i| i["receiveddate"].as_str().unwrap_or_default() >= mc(from).as_str()));

    // Directory: domains, then users per domain.
    let d = v2_post(
        &sim,
        &tok,
        "/api/domain/get-internal-domain",
        &json!({"data": []}),
    )
    .await
    .json();
    let domains: Vec<String> = d["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|x| x["domain"].as_str().map(str::to_string))
        .collect();
    assert_eq!(domains, vec!["demo.example", "demo-corp.example"]);
    let mut users = Vec::new();
    for dom in &domains {
        let (u, _) = walk(
            &sim,
            &tok,
            "/api/user/get-internal-users",
            json!({"domain": dom}),
            Some("users"),
            json!(25),
            false,
        )
        .await;
        assert!(u.iter().all(|x| x["emailAddress"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&format!("@{dom}"))));
        users.extend(u);
    }
    assert_eq!(users, sim.expected_records("demo", "directory"));
    let r = v2_post(
        &sim,
        &tok,
        "/api/user/get-internal-users",
        &json!({"data": [{"domain": "other.example"}]}),
    )
    .await;
    assert_eq!(r.fail_code(), "err_validation_domain_not_found");
    sim.shutdown().await;
}

#[test]
fn fault_specs_parse_from_cli_grammar() {
    let v = mimecast_sim::parse_fault_specs("429:reset=2000,500x3,reset@/api/ttp/url/get-logs,delay=5s,html502,fail=err_x:retryable,expired-keys,expired-token,403,truncated,malformed").expect("parse");
    assert_eq!(v.len(), 11);
    assert_eq!(v[1].times, 3);
    let e = mimecast_sim::parse_fault_specs("500,bogus").expect_err("must fail");
    assert!(e.contains("bogus"), "{e}");
}

/// `cache_bodies` (benchmarks) must serve the very bytes the generating path serves, on every
/// read: the same pages (with nesting, `resultCount`, `recordStart`) and the same SIEM files.
#[tokio::test]
async fn cached_bodies_are_the_generated_bytes() {
    let plain = start(SimConfig {
        records_per_stream: 120,
        siem_cg_records_per_file: 50,
        ..default_cfg()
    })
    .await;
    let cached = start(SimConfig {
        records_per_stream: 120,
        siem_cg_records_per_file: 50,
        cache_bodies: true,
        ..default_cfg()
    })
    .await;
    let tp = token(&plain, &SimTenant::demo()).await;
    let tc = token(&cached, &SimTenant::demo()).await;
    let audit =
        json!({"startDateTime": mc(END - time::Duration::hours(3)), "endDateTime": mc(END)});
    for (path, item) in [
        ("/api/ttp/url/get-logs", whole_window()),
        ("/api/ttp/impersonation/get-logs", whole_window()),
        ("/api/audit/get-audit-events", audit),
    ] {
        let body = json!({"data": [item], "meta": {"pagination": {"pageSize": 50}}});
        let expected = v2_post(&plain, &tp, path, &body).await;
        assert_eq!(expected.status, 200, "{path}");
        // Twice: the first read fills the cache, the second is served from it.
        for _ in 0..2 {
            let got = v2_post(&cached, &tc, path, &body).await;
            assert_eq!(
                String::from_utf8_lossy(&got.body),
                String::from_utf8_lossy(&expected.body),
                "{path}"
            );
        }
    }
    let q = "type=receipt&dateRangeStartsAt=2026-01-14&dateRangeEndsAt=2026-01-15";
    let files = |page: &Value| -> Vec<String> {
        page["value"]
            .as_array()
            .expect("value[]")
            .iter()
            .map(|f| f["url"].as_str().expect("url").to_string())
            .collect()
    };
    let fp = files(&batch_page(&plain, &tp, q).await);
    let fc = files(&batch_page(&cached, &tc, q).await);
    assert!(!fp.is_empty());
    assert_eq!(fp.len(), fc.len());
    for (p, c) in fp.iter().zip(&fc) {
        let expected = send(client().get(p)).await.body;
        for _ in 0..2 {
            let got = send(client().get(c)).await;
            assert_eq!(got.status, 200);
            assert_eq!(gunzip_lines(&got.body), gunzip_lines(&expected));
        }
    }
    plain.shutdown().await;
    cached.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Server misbehaviour modes (faults that answer "successfully" but wrongly, clock skew, token
// lifetime). Each test shows the misbehaviour on the wire.

fn specs(s: &str) -> Vec<FaultRule> {
    mimecast_sim::parse_fault_specs(s).expect("fault specs")
}

/// The path of a pre-signed file URL (without the signed query).
fn url_path(url: &str) -> String {
    url.split('?').next().unwrap_or_default().to_string()
}

fn file_paths(page: &Value) -> Vec<String> {
    page["value"]
        .as_array()
        .expect("value[]")
        .iter()
        .map(|f| url_path(f["url"].as_str().expect("url")))
        .collect()
}

fn gunzip_raw(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

async fn siem_logs(sim: &Simulator, token: Option<&str>) -> Resp {
    let mut item = json!({"type": "MTA", "fileFormat": "json", "compress": true});
    if let Some(t) = token {
        item["token"] = json!(t);
    }
    v1_post(
        sim,
        &SimTenant::demo(),
        "/api/audit/get-siem-logs",
        &json!({"data": [item]}),
    )
    .await
}

async fn batch_raw(sim: &Simulator, tok: &str, query: &str) -> Resp {
    send(
        client()
            .get(format!(
                "{}/siem/v1/batch/events/cg?{query}",
                sim.base_url()
            ))
            .bearer_auth(tok),
    )
    .await
}

const CG_DAY: &str = "type=receipt&dateRangeStartsAt=2026-01-14&dateRangeEndsAt=2026-01-15";

#[tokio::test]
async fn same_token_repeats_the_page_forever() {
    let sim = start(SimConfig {
        records_per_stream: 60,
        siem_cg_records_per_file: 10,
        siem_mta_records_per_file: 10,
        faults: specs("same-tokenx*"),
        ..default_cfg()
    })
    .await;
    let tok = token(&sim, &SimTenant::demo()).await;

    // POST envelope endpoint: the first page (no token) is untouched; then `next` == pageToken
    // and the page the token names comes back again and again.
    let p = "/api/ttp/url/get-logs";
    let first = v2_post(
        &sim,
        &tok,
        p,
        &json!({"data": [whole_window()], "meta": {"pagination": {"pageSize": 20}}}),
    )
    .await
    .json();
    let t1 = first["meta"]["pagination"]["next"]
        .as_str()
        .expect("next")
        .to_string();
    let mut pages = Vec::new();
    for _ in 0..3 {
        let v = v2_post(
            &sim,
            &tok,
            p,
            &json!({"meta": {"pagination": {"pageSize": 20, "pageToken": t1}}}),
        )
        .await
        .json();
        assert_eq!(v["meta"]["pagination"]["next"], json!(t1));
        pages.push(v["data"][0]["clickLogs"].clone());
    }
    assert_eq!(pages[0].as_array().map(Vec::len), Some(20));
    assert!(pages.iter().all(|pg| *pg == pages[0]), "same page again");
    assert_ne!(pages[0], first["data"][0]["clickLogs"]);
    assert_eq!(
        sim.requests()
            .iter()
            .find(|r| r.path == p)
            .map(|r| r.fault.clone()),
        Some(None),
        "a request without a token does not consume the rule"
    );

    // get-siem-logs: mc-siem-token == the request's token, and the same file again.
    let f0 = siem_logs(&sim, None).await;
    let m1 = f0.header("mc-siem-token").expect("token");
    let a = siem_logs(&sim, Some(&m1)).await;
    let b = siem_logs(&sim, Some(&m1)).await;
    assert_eq!(a.header("mc-siem-token").as_deref(), Some(m1.as_str()));
    assert_eq!(b.header("mc-siem-token").as_deref(), Some(m1.as_str()));
    assert_eq!(a.body, b.body);
    assert_eq!(
        a.header("content-disposition"),
        b.header("content-disposition")
    );
    assert_ne!(
        a.header("content-disposition"),
        f0.header("content-disposition")
    );

    // SIEM batch: @nextPage == nextPage, never caught up, the same files.
    let p1 = batch_page(&sim, &tok, &format!("{CG_DAY}&pageSize=2")).await;
    let n1 = p1["@nextPage"].as_str().expect("@nextPage").to_string();
    let mut listings = Vec::new();
    for _ in 0..3 {
        let v = batch_page(&sim, &tok, &format!("nextPage={n1}&pageSize=2")).await;
        assert_eq!(v["@nextPage"], json!(n1));
        assert_eq!(v["isCaughtUp"], false);
        listings.push(file_paths(&v));
    }
    assert_eq!(listings[0].len(), 2);
    assert!(listings.iter().all(|l| *l == listings[0]));
    assert_ne!(listings[0], file_paths(&p1));

    // Threat feed: the next-token header is the request's token.
    let feed = |token: Option<&str>| {
        let mut item = json!({"feedType": "malware_grid", "fileType": "stix", "start": mc(END - time::Duration::hours(3)), "end": mc(END)});
        if let Some(t) = token {
            item["token"] = json!(t);
        }
        json!({"data": [item], "meta": {"pagination": {"pageSize": 10}}})
    };
    let r = v2_post(&sim, &tok, "/api/ttp/threat-intel/get-feed", &feed(None)).await;
    let ft = r.header("x-mc-threat-feed-next-token").expect("feed token");
    let r = v2_post(
        &sim,
        &tok,
        "/api/ttp/threat-intel/get-feed",
        &feed(Some(&ft)),
    )
    .await;
    assert_eq!(r.header("x-mc-threat-feed-next-token"), Some(ft));
    sim.shutdown().await;
}

#[tokio::test]
async fn overlap_makes_consecutive_pages_share_records() {
    let sim = start(SimConfig {
        records_per_stream: 100,
        faults: specs("overlap=3x*@/api/ttp/url/get-logs"),
        ..default_cfg()
    })
    .await;
    let tok = token(&sim, &SimTenant::demo()).await;
    let (got, pages) = walk(
        &sim,
        &tok,
        "/api/ttp/url/get-logs",
        whole_window(),
        Some("clickLogs"),
        json!(10),
        false,
    )
    .await;
    // Pages start at 0, 7, 14, ..., 91: each repeats the previous page's last 3 records.
    assert_eq!(pages, 14);
    assert_eq!(got.len(), 100 + 3 * (pages - 1));
    assert_eq!(got[10..13], got[7..10], "page 2 starts 3 records early");
    assert_eq!(got[20..23], got[17..20]);
    assert_eq!(
        key_set(&got),
        key_set(&sim.expected_records("demo", "ttp_url")),
        "nothing lost"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn empty_next_defers_the_page_behind_a_token() {
    let sim = start(SimConfig {
        records_per_stream: 100,
        faults: specs("empty-nextx2@/api/ttp/url/get-logs"),
        ..default_cfg()
    })
    .await;
    let tok = token(&sim, &SimTenant::demo()).await;
    let mut token: Option<String> = None;
    let (mut sizes, mut got) = (Vec::new(), Vec::new());
    loop {
        let mut body = json!({"data": [whole_window()], "meta": {"pagination": {"pageSize": 40}}});
        if let Some(t) = &token {
            body["meta"]["pagination"]["pageToken"] = json!(t);
        }
        let v = v2_post(&sim, &tok, "/api/ttp/url/get-logs", &body)
            .await
            .json();
        assert_eq!(v["fail"], json!([]));
        let recs = v["data"][0]["clickLogs"]
            .as_array()
            .cloned()
            .expect("clickLogs");
        sizes.push(recs.len());
        got.extend(recs);
        match v["meta"]["pagination"]["next"].as_str() {
            Some(n) => {
                assert_ne!(Some(n), token.as_deref(), "never the request's own token");
                token = Some(n.to_string());
            }
            None => break,
        }
    }
    assert_eq!(
        sizes,
        vec![0, 0, 40, 40, 20],
        "two empty pages, then the data"
    );
    let mut expected = sim.expected_records("demo", "ttp_url");
    expected.reverse(); // newest first
    assert_eq!(got, expected, "nothing lost, nothing repeated");
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_utf8_in_one_record_of_a_page_and_one_line_of_a_file() {
    let sim = start(SimConfig {
        records_per_stream: 40,
        siem_cg_records_per_file: 20,
        faults: specs("bad-utf8@/api/ttp/url/get-logs,bad-utf8@/storage"),
        ..default_cfg()
    })
    .await;
    let tok = token(&sim, &SimTenant::demo()).await;
    let body = json!({"data": [whole_window()], "meta": {"pagination": {"pageSize": 10}}});
    let bad = v2_post(&sim, &tok, "/api/ttp/url/get-logs", &body).await;
    assert_eq!(bad.status, 200);
    assert!(std::str::from_utf8(&bad.body).is_err());
    assert!(serde_json::from_slice::<Value>(&bad.body).is_err());
    assert_eq!(bad.body.iter().filter(|b| **b == 0xFF).count(), 1);
    let clean = v2_post(&sim, &tok, "/api/ttp/url/get-logs", &body).await;
    let repaired: Vec<u8> = bad.body.iter().copied().filter(|b| *b != 0xFF).collect();
    assert_eq!(repaired, clean.body, "the rest of the page is intact");
    // The damage sits inside a string value of one record: a lenient decoder sees 10 records,
    // one of them with U+FFFD.
    let lossy: Value =
        serde_json::from_str(&String::from_utf8_lossy(&bad.body)).expect("lossy JSON");
    let recs = lossy["data"][0]["clickLogs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let clean_recs = clean.json()["data"][0]["clickLogs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(recs.len(), 10);
    let differing: Vec<usize> = (0..10).filter(|i| recs[*i] != clean_recs[*i]).collect();
    assert_eq!(differing, vec![5], "the middle record");
    assert!(recs[5].to_string().contains('\u{FFFD}'));

    // SIEM file: valid gzip; one NDJSON line has a raw 0xFF in a string value.
    let page = batch_page(&sim, &tok, CG_DAY).await;
    let url = page["value"][0]["url"].as_str().expect("url").to_string();
    let r = send(client().get(&url)).await;
    assert_eq!(r.status, 200);
    let text = gunzip_raw(&r.body).expect("still valid gzip");
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 20);
    let broken: Vec<usize> = (0..lines.len())
        .filter(|i| std::str::from_utf8(lines[*i]).is_err())
        .collect();
    assert_eq!(broken, vec![10], "the middle line");
    let clean = gunzip_lines(&send(client().get(&url)).await.body);
    for (i, line) in lines.iter().enumerate() {
        let fixed: Vec<u8> = line.iter().copied().filter(|b| *b != 0xFF).collect();
        let v: Value = serde_json::from_slice(&fixed).expect("line parses once repaired");
        assert_eq!(v, clean[i]);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_page_token_refuses_only_requests_carrying_a_token() {
    let sim = start(SimConfig {
        records_per_stream: 60,
        siem_cg_records_per_file: 10,
        siem_mta_records_per_file: 10,
        faults: specs(
            "bad-page-token@/siem,bad-page-token@/api/audit/get-siem-logs,bad-page-token",
        ),
        ..default_cfg()
    })
    .await;
    let tok = token(&sim, &SimTenant::demo()).await;
    let p = "/api/ttp/url/get-logs";
    let first = v2_post(
        &sim,
        &tok,
        p,
        &json!({"data": [whole_window()], "meta": {"pagination": {"pageSize": 20}}}),
    )
    .await;
    assert_eq!(first.status, 200, "no token: not affected");
    let next = first.json()["meta"]["pagination"]["next"].clone();
    let again = json!({"meta": {"pagination": {"pageSize": 20, "pageToken": next}}});
    let r = v2_post(&sim, &tok, p, &again).await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["meta"]["status"], 400);
    assert_eq!(v["data"], json!([]));
    assert_eq!(
        v["fail"][0]["errors"][0]["code"],
        "err_validation_invalid_page_token"
    );
    assert_eq!(v["fail"][0]["errors"][0]["retryable"], false);
    assert_eq!(v2_post(&sim, &tok, p, &again).await.status, 200, "spent");

    // SIEM batch: the SIEM error shape.
    let p1 = batch_page(&sim, &tok, &format!("{CG_DAY}&pageSize=2")).await;
    let n1 = p1["@nextPage"].as_str().expect("@nextPage").to_string();
    let r = batch_raw(&sim, &tok, &format!("nextPage={n1}")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["code"],
        "err_validation_invalid_page_token"
    );
    assert_eq!(
        batch_raw(&sim, &tok, &format!("nextPage={n1}"))
            .await
            .status,
        200
    );

    // get-siem-logs: envelope shape.
    let f0 = siem_logs(&sim, None).await;
    assert_eq!(f0.status, 200);
    let m1 = f0.header("mc-siem-token").expect("token");
    let r = siem_logs(&sim, Some(&m1)).await;
    assert_eq!(
        (r.status, r.fail_code()),
        (400, "err_validation_invalid_page_token".to_string())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn page_tokens_expire_after_page_token_ttl() {
    let sim = start(SimConfig {
        records_per_stream: 60,
        siem_cg_records_per_file: 10,
        siem_mta_records_per_file: 10,
        page_token_ttl: Some(Duration::from_secs(1)),
        ..default_cfg()
    })
    .await;
    let tok = token(&sim, &SimTenant::demo()).await;
    let p = "/api/ttp/url/get-logs";
    let page = |t: &Value| json!({"meta": {"pagination": {"pageSize": 20, "pageToken": t}}});
    let first = v2_post(
        &sim,
        &tok,
        p,
        &json!({"data": [whole_window()], "meta": {"pagination": {"pageSize": 20}}}),
    )
    .await
    .json();
    let fresh = v2_post(&sim, &tok, p, &page(&first["meta"]["pagination"]["next"])).await;
    assert_eq!(fresh.status, 200, "a fresh token works");
    let t2 = fresh.json()["meta"]["pagination"]["next"].clone();
    let n1 = batch_page(&sim, &tok, &format!("{CG_DAY}&pageSize=2")).await["@nextPage"]
        .as_str()
        .expect("@nextPage")
        .to_string();
    let m1 = siem_logs(&sim, None)
        .await
        .header("mc-siem-token")
        .expect("token");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = v2_post(&sim, &tok, p, &page(&t2)).await;
    assert_eq!(
        (r.status, r.fail_code()),
        (400, "err_validation_invalid_page_token".to_string())
    );
    let r = batch_raw(&sim, &tok, &format!("nextPage={n1}")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["code"],
        "err_validation_invalid_page_token"
    );
    let r = siem_logs(&sim, Some(&m1)).await;
    assert_eq!(
        (r.status, r.fail_code()),
        (400, "err_validation_invalid_page_token".to_string())
    );
    // A new walk (no token) still works.
    let r = v2_post(&sim, &tok, p, &json!({"data": [whole_window()]})).await;
    assert_eq!(r.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn clock_offset_dates_answers_and_hides_records_from_the_servers_future() {
    // Records arrive live: one per second over [now - 60 s, now + 60 s).
    let real_now = OffsetDateTime::now_utc();
    let live = |offset: i64| SimConfig {
        records_per_stream: 120,
        span: Duration::from_secs(120),
        end: Some(real_now + time::Duration::seconds(60)),
        clock_offset_secs: offset,
        ..default_cfg()
    };
    let on_time = start(live(0)).await;
    let behind = start(live(-30)).await;
    let item = json!({"from": mc(real_now - time::Duration::hours(1)), "to": mc(real_now + time::Duration::hours(1)), "oldestFirst": true});
    let body = json!({"data": [item], "meta": {"pagination": {"pageSize": 500}}});
    let mut counts = Vec::new();
    for (sim, offset) in [(&on_time, 0i64), (&behind, -30)] {
        let tok = token(sim, &SimTenant::demo()).await;
        let r = v2_post(sim, &tok, "/api/ttp/url/get-logs", &body).await;
        assert_eq!(r.headers.get_all("date").iter().count(), 1);
        let date = r.header("date").expect("Date");
        assert!(date.ends_with(" GMT"), "IMF-fixdate: {date}");
        let server_now = mimecast_sim::dates::parse_http_date(&date).expect("date parses");
        let want = OffsetDateTime::now_utc() + time::Duration::seconds(offset);
        assert!(
            (server_now - want).abs() <= time::Duration::seconds(3),
            "{date}"
        );
        let recs = r.json()["data"][0]["clickLogs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(recs.iter().all(|x| {
            let t = mimecast_sim::dates::parse_mc_date(x["date"].as_str().unwrap_or_default());
            t.is_ok_and(|t| t <= server_now)
        }));
        counts.push(recs.len() as i64);
        // Every answer carries the server's Date, errors and downloads included.
        let r = send(client().get(format!("{}/nope", sim.base_url()))).await;
        let d = mimecast_sim::dates::parse_http_date(&r.header("date").unwrap_or_default());
        assert!(d.is_some_and(|d| (d - want).abs() <= time::Duration::seconds(3)));
    }
    // ~61 records exist on time; 30 fewer on the server that is 30 s behind.
    assert!((58..=64).contains(&counts[0]), "{counts:?}");
    assert!((counts[0] - counts[1] - 30).abs() <= 2, "{counts:?}");
    assert_eq!(
        behind.expected_records("demo", "ttp_url").len(),
        120,
        "backlog unchanged"
    );
    on_time.shutdown().await;
    behind.shutdown().await;
}

#[tokio::test]
async fn rate_limit_reset_in_seconds_and_epoch_forms() {
    let sim = start(default_cfg()).await;
    let tok = token(&sim, &SimTenant::demo()).await;
    let p = "/api/ttp/url/get-logs";
    let body = json!({"data": [whole_window()]});
    let reset = |r: &Resp| -> i64 {
        assert_eq!(r.status, 429);
        assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
        r.header("x-ratelimit-reset")
            .and_then(|v| v.parse().ok())
            .expect("reset header")
    };
    sim.inject("429:reset-s=30".parse().expect("spec"));
    assert_eq!(reset(&v2_post(&sim, &tok, p, &body).await), 30);
    sim.inject("429:reset-epoch-s=30".parse().expect("spec"));
    let v = reset(&v2_post(&sim, &tok, p, &body).await);
    let now_s = OffsetDateTime::now_utc().unix_timestamp();
    assert!((v - (now_s + 30)).abs() <= 2, "{v} vs {now_s}");
    sim.inject("429:reset-epoch-ms=30".parse().expect("spec"));
    let v = reset(&v2_post(&sim, &tok, p, &body).await);
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    assert!((v - (now_ms + 30_000)).abs() <= 2_000, "{v} vs {now_ms}");
    sim.inject("429:reset=1500".parse().expect("spec"));
    assert_eq!(
        reset(&v2_post(&sim, &tok, p, &body).await),
        1500,
        "documented ms form kept"
    );
    let labels: Vec<String> = sim
        .requests()
        .iter()
        .filter_map(|r| r.fault.clone())
        .collect();
    assert_eq!(
        labels,
        vec![
            "429:reset-s=30",
            "429:reset-epoch-s=30",
            "429:reset-epoch-ms=30",
            "429:reset=1500"
        ]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn not_a_page_is_a_200_siem_answer_without_a_page() {
    let sim = start(default_cfg()).await;
    let tok = token(&sim, &SimTenant::demo()).await;
    // `fail=CODE:retryable` on /siem is an HTTP 503 error, not this.
    sim.inject("fail=err_x:retryable@/siem".parse().expect("spec"));
    let r = batch_raw(&sim, &tok, CG_DAY).await;
    assert_eq!(r.status, 503);
    assert!(r.json()["error"]["code"].is_string());

    sim.inject("not-a-page".parse().expect("spec"));
    let ok = v2_post(
        &sim,
        &tok,
        "/api/ttp/url/get-logs",
        &json!({"data": [whole_window()]}),
    )
    .await;
    assert_eq!(
        (ok.status, ok.json()["fail"].clone()),
        (200, json!([])),
        "only /siem paths: not counted here"
    );
    let r = batch_raw(&sim, &tok, CG_DAY).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    for k in ["value", "@nextPage", "isCaughtUp"] {
        assert!(v.get(k).is_none(), "{k} in {v}");
    }
    assert_eq!(v["fail"][0]["errors"][0]["retryable"], true);
    assert_eq!(v["fail"][0]["errors"][0]["code"], "err_service_unavailable");
    sim.shutdown().await;
}

#[tokio::test]
async fn corrupt_gzip_fails_every_download_while_the_rule_lasts() {
    let sim = start(SimConfig {
        records_per_stream: 50,
        siem_cg_records_per_file: 50,
        faults: specs("corrupt-gzipx*"),
        ..default_cfg()
    })
    .await;
    let tok = token(&sim, &SimTenant::demo()).await;
    let page = batch_page(&sim, &tok, CG_DAY).await; // listings are not affected
    let url = page["value"][0]["url"].as_str().expect("url").to_string();
    for _ in 0..3 {
        let r = send(client().get(&url)).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/gzip")
        );
        assert_eq!(r.body[..2], [0x1f, 0x8b], "a gzip header");
        assert!(gunzip_raw(&r.body).is_err(), "never decompresses");
    }
    let labels: Vec<Option<String>> = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/storage/"))
        .map(|r| r.fault.clone())
        .collect();
    assert_eq!(labels, vec![Some("corrupt-gzip".to_string()); 3]);
    sim.shutdown().await;
}

#[tokio::test]
async fn unstable_siem_listing_reorders_and_inserts_files_with_stable_paths() {
    let sim = start(SimConfig {
        records_per_stream: 60,
        siem_cg_records_per_file: 10,
        ..default_cfg()
    })
    .await;
    let tok = token(&sim, &SimTenant::demo()).await;
    let q = format!("{CG_DAY}&pageSize=3");
    let p1 = batch_page(&sim, &tok, &q).await;
    let n1 = p1["@nextPage"].as_str().expect("@nextPage").to_string();
    let f = file_paths(&p1);
    let p2 = batch_page(&sim, &tok, &format!("nextPage={n1}")).await;
    let rest = file_paths(&p2);
    assert_eq!(
        (f.len(), rest.len(), p2["isCaughtUp"].clone()),
        (3, 3, json!(true))
    );

    // The same page listed again: same paths (only the signed query changes).
    assert_eq!(file_paths(&batch_page(&sim, &tok, &q).await), f);

    // reorder: newest first.
    sim.inject("reorder".parse().expect("spec"));
    let mut reversed = f.clone();
    reversed.reverse();
    assert_eq!(file_paths(&batch_page(&sim, &tok, &q).await), reversed);

    // new-file: the next page's first file shows up before the page's own files; @nextPage
    // moves past it, so a full walk still lists every file once. A client resuming this page
    // at "file index 2" would now read f[1] again and never read rest[0].
    sim.inject("new-file".parse().expect("spec"));
    let ins = batch_page(&sim, &tok, &q).await;
    assert_eq!(
        file_paths(&ins),
        vec![rest[0].clone(), f[0].clone(), f[1].clone(), f[2].clone()]
    );
    assert_eq!(ins["isCaughtUp"], false);
    let after = batch_page(
        &sim,
        &tok,
        &format!("nextPage={}", ins["@nextPage"].as_str().expect("next")),
    )
    .await;
    assert_eq!(file_paths(&after), rest[1..].to_vec());
    assert_eq!(after["isCaughtUp"], true);

    // A tampered signature is refused; the listed URL works.
    let url = ins["value"][0]["url"].as_str().expect("url").to_string();
    assert!(
        url.contains("?expires=") && url.contains("&signature="),
        "{url}"
    );
    assert_eq!(send(client().get(&url)).await.status, 200);
    let forged = format!(
        "{}&signature=AAAA",
        url.split("&signature=").next().unwrap_or_default()
    );
    assert_eq!(send(client().get(&forged)).await.status, 403);
    sim.shutdown().await;
}

/// JSON answers are gzipped for a client that asks, and only then; the body inflates to the
/// same answer.
#[tokio::test]
async fn json_answers_are_gzipped_when_asked() {
    let sim = start(default_cfg()).await;
    let t = SimTenant::demo();
    let secret = t.v1.as_ref().expect("v1").secret_key.clone();
    let raw = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let path = "/api/audit/get-audit-events";
    let body = json!({"data": [whole_window()]});
    let ask = |gzip: bool| {
        let rb = v1_request_with(
            &raw,
            &sim,
            &t,
            path,
            path,
            &secret,
            OffsetDateTime::now_utc(),
            &body,
        );
        if gzip {
            rb.header("Accept-Encoding", "gzip")
        } else {
            rb
        }
    };
    let plain = send(ask(false)).await;
    assert_eq!(plain.status, 200);
    assert!(plain.headers.get("content-encoding").is_none());
    let zipped = send(ask(true)).await;
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.headers["content-encoding"], "gzip");
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(&zipped.body[..])
        .read_to_end(&mut inflated)
        .expect("gzip");
    assert_eq!(
        serde_json::from_slice::<Value>(&inflated).expect("json")["data"],
        plain.json()["data"]
    );
    assert!(zipped.body.len() < plain.body.len());
}
