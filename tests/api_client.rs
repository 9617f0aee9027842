//! The API client against the simulator: signing, tokens, pagination, and every failure mode the
//! client handles (401, 403, 418, 429, 5xx, timeouts, resets, truncated/malformed JSON, fail[]).

mod common;

use common::*;
use mimecast_collector::api::{ApiError, Envelope};
use mimecast_collector::config::Credentials;
use mimecast_sim::{FaultKind, FaultRule, SimConfig, SimTenant};
use secrecy::SecretString;
use std::time::Duration;

fn click_logs(env: &Envelope) -> Vec<serde_json::Value> {
    let data: Vec<serde_json::Value> =
        serde_json::from_str(env.data.as_ref().unwrap().get()).unwrap();
    data.first()
        .and_then(|d| d.get("clickLogs"))
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default()
}

fn fault(kind: FaultKind, times: u32) -> FaultRule {
    FaultRule {
        path_prefix: Some(TTP_URL.to_string()),
        tenant: None,
        times,
        after: 0,
        kind,
    }
}

fn requests_to(sim: &mimecast_sim::Simulator, path: &str) -> Vec<mimecast_sim::RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect()
}

#[tokio::test]
async fn signed_v1_requests_are_accepted_and_paginate_to_every_record() {
    let sim = start_sim(SimConfig {
        records_per_stream: 250,
        ..SimConfig::default()
    })
    .await;
    let demo = SimTenant::demo();
    let client = client(&v1_tenant(&sim, &demo));
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let env = client
            .post(TTP_URL, &ttp_url_body(token.as_deref(), 100))
            .await
            .unwrap();
        let logs = click_logs(&env);
        pages += 1;
        token = env.next_page_token(logs.len()).map(str::to_string);
        all.extend(logs);
        if token.is_none() {
            break;
        }
    }
    let expected = sim.expected_records(&demo.name, "ttp_url");
    assert_eq!(expected.len(), 250);
    assert_eq!(all.len(), expected.len(), "every record exactly once");
    let mut got: Vec<String> = all.iter().map(|r| r.to_string()).collect();
    let mut want: Vec<String> = expected.iter().map(|r| r.to_string()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(pages, 3, "250 records at 100 a page is 3 requests");
    for r in requests_to(&sim, TTP_URL) {
        assert_eq!(r.status, 200);
        let auth = r
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.clone())
            .unwrap();
        assert!(auth.starts_with("MC "), "{auth}");
        assert!(r.headers.iter().any(|(k, _)| k == "x-mc-req-id"));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn tampered_v1_credentials_are_rejected_and_not_retried() {
    let sim = start_sim(SimConfig::default()).await;
    let demo = SimTenant::demo();
    let good = v1_tenant(&sim, &demo);
    let tamper = |f: &dyn Fn(&mut mimecast_collector::config::V1Credentials)| {
        let mut t = good.clone();
        if let Credentials::V1(c) = &mut t.credentials {
            f(c);
        }
        t
    };
    let cases = [
        (
            "wrong secret key",
            tamper(&|c| c.secret_key = SecretString::from("d3Jvbmcta2V5")),
        ),
        (
            "wrong app key",
            tamper(&|c| c.app_key = SecretString::from("not-the-app-key")),
        ),
        (
            "unknown access key",
            tamper(&|c| c.access_key = SecretString::from("no-such-access-key")),
        ),
    ];
    for (what, tenant) in cases {
        sim.clear_requests();
        let err = client(&tenant)
            .post(TTP_URL, &ttp_url_body(None, 10))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ApiError::Unauthorized { status: 401, .. }),
            "{what}: {err:?}"
        );
        assert!(
            err.to_string().contains("login"),
            "{what}: the message says what to do: {err}"
        );
        assert_eq!(
            requests_to(&sim, TTP_URL).len(),
            1,
            "{what}: a 401 is not retried"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn v2_token_is_fetched_once_reused_and_shared_by_concurrent_requests() {
    let sim = start_sim(SimConfig::default()).await;
    let client = client(&v2_tenant(&sim, &SimTenant::demo()));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            c.post(TTP_URL, &ttp_url_body(None, 10)).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    client.post(TTP_URL, &ttp_url_body(None, 10)).await.unwrap();
    assert_eq!(client.token_fetches(), 1);
    assert_eq!(requests_to(&sim, "/oauth/token").len(), 1);
    let api_calls = requests_to(&sim, TTP_URL);
    assert_eq!(api_calls.len(), 9);
    assert!(api_calls.iter().all(|r| r
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v.starts_with("Bearer "))));
    sim.shutdown().await;
}

#[tokio::test]
async fn v2_token_is_refreshed_before_expiry_and_after_a_401() {
    let sim = start_sim(SimConfig {
        token_ttl: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await;
    let client = client(&v2_tenant(&sim, &SimTenant::demo()));
    client.post(TTP_URL, &ttp_url_body(None, 10)).await.unwrap();
    assert_eq!(client.token_fetches(), 1);
    // Past the refresh point (ttl minus a tenth): the next request fetches first, no 401 seen.
    tokio::time::sleep(Duration::from_millis(1900)).await;
    client.post(TTP_URL, &ttp_url_body(None, 10)).await.unwrap();
    assert_eq!(client.token_fetches(), 2);
    assert!(
        requests_to(&sim, TTP_URL).iter().all(|r| r.status == 200),
        "refreshed before it expired"
    );

    // Revoked early: the 401 triggers one refresh and the request succeeds.
    let sim2 = start_sim(SimConfig::default()).await;
    let client2 = client_for_sim2(&sim2);
    client2
        .post(TTP_URL, &ttp_url_body(None, 10))
        .await
        .unwrap();
    sim2.expire_tokens();
    client2
        .post(TTP_URL, &ttp_url_body(None, 10))
        .await
        .unwrap();
    assert_eq!(client2.token_fetches(), 2);
    let statuses: Vec<u16> = requests_to(&sim2, TTP_URL)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![200, 401, 200]);
    sim.shutdown().await;
    sim2.shutdown().await;
}

fn client_for_sim2(sim: &mimecast_sim::Simulator) -> mimecast_collector::api::MimecastClient {
    client(&v2_tenant(sim, &SimTenant::demo()))
}

#[tokio::test]
async fn bad_client_secret_is_a_permanent_error_naming_the_fix() {
    let sim = start_sim(SimConfig::default()).await;
    let mut tenant = v2_tenant(&sim, &SimTenant::demo());
    if let Credentials::V2(c) = &mut tenant.credentials {
        c.client_secret = SecretString::from("wrong-secret");
    }
    let err = client(&tenant)
        .post(TTP_URL, &ttp_url_body(None, 10))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
    assert!(err.to_string().contains("client_secret"), "{err}");
    assert_eq!(requests_to(&sim, "/oauth/token").len(), 1, "not retried");
    assert!(requests_to(&sim, TTP_URL).is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limit_reset_header_delays_the_next_request() {
    let sim = start_sim(SimConfig::default()).await;
    sim.inject(fault(
        FaultKind::RateLimit {
            reset_ms: Some(2000),
        },
        1,
    ));
    let client = client(&v1_tenant(&sim, &SimTenant::demo()));
    client.post(TTP_URL, &ttp_url_body(None, 10)).await.unwrap();
    let reqs = requests_to(&sim, TTP_URL);
    assert_eq!(
        reqs.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![429, 200]
    );
    let gap = reqs[1].at.duration_since(reqs[0].at);
    assert!(gap >= Duration::from_millis(2000), "waited only {gap:?}");
    assert!(
        gap < Duration::from_millis(3500),
        "waited far longer than asked: {gap:?}"
    );
    assert_eq!(client.stats().rate_limited(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limit_without_headers_backs_off_instead_of_hammering() {
    let sim = start_sim(SimConfig::default()).await;
    sim.inject(fault(FaultKind::RateLimit { reset_ms: None }, 3));
    let client = client(&v1_tenant(&sim, &SimTenant::demo()));
    client.post(TTP_URL, &ttp_url_body(None, 10)).await.unwrap();
    let reqs = requests_to(&sim, TTP_URL);
    assert_eq!(
        reqs.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![429, 429, 429, 200]
    );
    for w in reqs.windows(2) {
        let gap = w[1].at.duration_since(w[0].at);
        assert!(
            gap >= fast_retry().initial_delay,
            "retried after only {gap:?}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_5xx_storm_is_retried_with_growing_backoff_then_succeeds() {
    let sim = start_sim(SimConfig::default()).await;
    sim.inject(fault(FaultKind::Status(503), 2));
    sim.inject(fault(FaultKind::Status(500), 1));
    sim.inject(fault(FaultKind::HtmlError(502), 1));
    let client = client(&v1_tenant(&sim, &SimTenant::demo()));
    let env = client.post(TTP_URL, &ttp_url_body(None, 10)).await.unwrap();
    assert!(!click_logs(&env).is_empty());
    let reqs = requests_to(&sim, TTP_URL);
    assert_eq!(
        reqs.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![503, 503, 500, 502, 200]
    );
    // The delays are the seeded full-jitter sequence: each gap is at least its delay, and the
    // ceilings the delays are drawn under double.
    let retry = fast_retry();
    let expected: Vec<Duration> =
        mimecast_collector::api::retry::FullJitter::new(&retry, Some(7)).collect();
    for (i, w) in reqs.windows(2).enumerate() {
        let gap = w[1].at.duration_since(w[0].at);
        assert!(
            gap >= expected[i],
            "gap {i} was {gap:?}, backoff said {:?}",
            expected[i]
        );
        let cap = mimecast_collector::api::retry::FullJitter::cap(
            retry.initial_delay,
            retry.max_delay,
            i as u32,
        );
        assert!(expected[i] <= cap);
    }
    assert_eq!(client.stats().retries(), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_max_attempts() {
    let sim = start_sim(SimConfig::default()).await;
    sim.inject(fault(FaultKind::Status(500), 100));
    let client = client(&v1_tenant(&sim, &SimTenant::demo()));
    let err = client
        .post(TTP_URL, &ttp_url_body(None, 10))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Server { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(
        requests_to(&sim, TTP_URL).len(),
        fast_retry().max_attempts as usize
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn forbidden_names_the_missing_permission_and_is_not_retried() {
    let mut tenant = SimTenant::demo();
    tenant.denied = vec!["Monitoring | URL Protection | Read".to_string()];
    let sim = start_sim(SimConfig {
        tenants: vec![tenant.clone()],
        ..SimConfig::default()
    })
    .await;
    for cfg in [v1_tenant(&sim, &tenant), v2_tenant(&sim, &tenant)] {
        sim.clear_requests();
        let err = client(&cfg)
            .post(TTP_URL, &ttp_url_body(None, 10))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Forbidden { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("Monitoring | URL Protection | Read"),
            "{err}"
        );
        assert_eq!(requests_to(&sim, TTP_URL).len(), 1);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn expired_v1_keys_stop_with_the_ttl_advice() {
    let sim = start_sim(SimConfig::default()).await;
    let demo = SimTenant::demo();
    let client = client(&v1_tenant(&sim, &demo));
    client.post(TTP_URL, &ttp_url_body(None, 10)).await.unwrap();
    sim.expire_binding(&demo.name);
    let err = client
        .post(TTP_URL, &ttp_url_body(None, 10))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::KeysExpired), "{err:?}");
    assert!(
        err.to_string().contains("Authentication Cache TTL"),
        "{err}"
    );
    assert_eq!(requests_to(&sim, TTP_URL).len(), 2, "not retried");
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_keys_expired_fault_is_recognised() {
    let sim = start_sim(SimConfig::default()).await;
    sim.inject(fault(FaultKind::KeysExpired, 1));
    let client = client(&v1_tenant(&sim, &SimTenant::demo()));
    let err = client
        .post(TTP_URL, &ttp_url_body(None, 10))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::KeysExpired), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn truncated_and_malformed_json_are_errors_then_retried() {
    let sim = start_sim(SimConfig::default()).await;
    sim.inject(fault(FaultKind::TruncatedJson, 1));
    sim.inject(fault(FaultKind::MalformedJson, 1));
    let client = client(&v2_tenant(&sim, &SimTenant::demo()));
    let env = client.post(TTP_URL, &ttp_url_body(None, 10)).await.unwrap();
    assert!(!click_logs(&env).is_empty());
    assert_eq!(requests_to(&sim, TTP_URL).len(), 3);

    // When it never recovers, the caller gets a decode error (no panic, nothing emitted).
    sim.inject(fault(FaultKind::TruncatedJson, 100));
    let err = client
        .post(TTP_URL, &ttp_url_body(None, 10))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Decode(_)), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn fail_entries_on_http_200_are_errors() {
    let sim = start_sim(SimConfig::default()).await;
    let client = client(&v1_tenant(&sim, &SimTenant::demo()));
    sim.inject(fault(
        FaultKind::Fail {
            code: "err_validation_blank".into(),
            retryable: false,
        },
        1,
    ));
    let err = client
        .post(TTP_URL, &ttp_url_body(None, 10))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Fail { ref code, .. } if code == "err_validation_blank"),
        "{err:?}"
    );
    assert_eq!(requests_to(&sim, TTP_URL).len(), 1);

    sim.clear_requests();
    sim.inject(fault(
        FaultKind::Fail {
            code: "err_temporarily_unavailable".into(),
            retryable: true,
        },
        2,
    ));
    client.post(TTP_URL, &ttp_url_body(None, 10)).await.unwrap();
    assert_eq!(
        requests_to(&sim, TTP_URL).len(),
        3,
        "retryable fail[] entries are retried"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn timeouts_and_connection_resets_are_retried() {
    let sim = start_sim(SimConfig::default()).await;
    sim.inject(fault(FaultKind::Delay(Duration::from_secs(3)), 1));
    sim.inject(fault(FaultKind::Reset, 1));
    let client = client_with(
        &v1_tenant(&sim, &SimTenant::demo()),
        fast_retry(),
        Duration::from_millis(700),
    );
    client.post(TTP_URL, &ttp_url_body(None, 10)).await.unwrap();
    let seen: Vec<_> = requests_to(&sim, TTP_URL)
        .iter()
        .map(|r| (r.status, r.fault.clone()))
        .collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(client.stats().retries(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn unreachable_host_is_a_connect_error_with_advice() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let sim = start_sim(SimConfig::default()).await;
    let mut tenant = v1_tenant(&sim, &SimTenant::demo());
    tenant.base_url = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let retry = mimecast_collector::config::RetryConfig {
        max_attempts: 2,
        ..fast_retry()
    };
    let err = client_with(&tenant, retry, Duration::from_secs(2))
        .post(TTP_URL, &ttp_url_body(None, 10))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Connect(_)), "{err:?}");
    assert!(err.to_string().contains("egress IP"), "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn errors_from_pre_signed_urls_do_not_carry_their_signature() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let sim = start_sim(SimConfig::default()).await;
    let client = client(&v2_tenant(&sim, &SimTenant::demo()));
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/bucket/file.json.gz?X-Amz-Signature=SIGNATURE-VALUE-123&X-Amz-Credential=CRED")).unwrap();
    let err = client.fetch_unsigned(&url).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, ApiError::Connect(_)), "{shown}");
    assert!(
        !shown.contains("SIGNATURE-VALUE-123") && !shown.contains("CRED"),
        "{shown}"
    );
    sim.shutdown().await;
}

/// A redirect on a credential-bearing request is never followed: the token request (a 307
/// would post the client secret again), a bearer call and a signed 1.0 call each stop with an
/// error naming the location's host, and the location never hears of them. The redirect goes
/// to a second simulator on loopback, which `base_url` rules would even allow.
#[tokio::test]
async fn redirects_of_credentialed_requests_are_refused_naming_the_host() {
    let elsewhere = start_sim(SimConfig::default()).await;
    let port = elsewhere.base_url().rsplit(':').next().unwrap().to_string();
    let to = |path: &str| format!("http://localhost:{port}{path}");
    let redirect = |prefix: &str, path: &str| FaultRule {
        path_prefix: Some(prefix.to_string()),
        tenant: None,
        times: u32::MAX,
        after: 0,
        kind: FaultKind::Redirect(to(path)),
    };

    // The token request.
    let sim = start_sim(SimConfig::default()).await;
    sim.inject(redirect("/oauth/token", "/oauth/token"));
    let err = client(&v2_tenant(&sim, &SimTenant::demo()))
        .post(TTP_URL, &ttp_url_body(None, 10))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::Redirected { host, .. } if host == "localhost"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("no credentials were sent"),
        "{err}"
    );
    assert_eq!(requests_to(&sim, "/oauth/token").len(), 1, "not retried");
    sim.shutdown().await;

    // A call with a bearer token, and a signed API 1.0 call.
    for v1 in [false, true] {
        let sim = start_sim(SimConfig::default()).await;
        sim.inject(redirect(TTP_URL, TTP_URL));
        let tenant = if v1 {
            v1_tenant(&sim, &SimTenant::demo())
        } else {
            v2_tenant(&sim, &SimTenant::demo())
        };
        let err = client(&tenant)
            .post(TTP_URL, &ttp_url_body(None, 10))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ApiError::Redirected { host, .. } if host == "localhost"),
            "v1 {v1}: {err:?}"
        );
        assert!(!err.is_transient());
        sim.shutdown().await;
    }
    assert!(
        elsewhere.requests().is_empty(),
        "the redirect target was reached: {:?}",
        elsewhere.requests()
    );
    elsewhere.shutdown().await;
}

/// A pre-signed file URL carries no credentials: its redirect is followed to https or to
/// loopback http (here, a second simulator serving the same file); to plain http elsewhere it
/// is an error naming the host.
#[tokio::test]
async fn file_downloads_follow_safe_redirects_only() {
    let sim = start_sim(SimConfig::default()).await;
    let url =
        url::Url::parse(&format!("{}/storage/anything/file.json.gz", sim.base_url())).unwrap();
    let c = client(&v2_tenant(&sim, &SimTenant::demo()));
    // A loopback location is followed (the second request is answered by the simulator: a
    // 403 for a made-up file, which proves the hop was taken).
    sim.inject(FaultRule {
        path_prefix: Some("/storage/anything".into()),
        tenant: None,
        times: 1,
        after: 0,
        kind: FaultKind::Redirect(format!("{}/storage/elsewhere/file.json.gz", sim.base_url())),
    });
    let err = c.fetch_unsigned(&url).await.unwrap_err();
    assert!(matches!(err, ApiError::Forbidden { .. }), "{err:?}");
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.path == "/storage/elsewhere/file.json.gz")
            .count(),
        1,
        "the loopback redirect was followed"
    );
    // Plain http to another host is not.
    sim.inject(FaultRule {
        path_prefix: Some("/storage/anything".into()),
        tenant: None,
        times: 1,
        after: 0,
        kind: FaultKind::Redirect("http://files.example.com/f.json.gz".into()),
    });
    let err = c.fetch_unsigned(&url).await.unwrap_err();
    assert!(
        matches!(&err, ApiError::Redirected { host, .. } if host == "files.example.com"),
        "{err:?}"
    );
    sim.shutdown().await;
}
