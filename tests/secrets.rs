//! No configured secret appears in any log line, error message or `Debug` output, including
//! on every error path of the client (401, 403, 418, 429, 5xx, token refresh).

mod common;

use common::*;
use mimecast_sim::{FaultKind, FaultRule, SimConfig, SimTenant};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn secrets_never_reach_logs_errors_or_debug_output() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let mut shown = String::new();
    let demo = SimTenant::demo();
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut tenant = demo.clone();
            tenant.denied = vec!["Account | Logs | Read".into()];
            let sim = start_sim(SimConfig {
                tenants: vec![tenant],
                token_ttl: std::time::Duration::from_secs(1),
                ..SimConfig::default()
            })
            .await;
            for rule in [
                FaultKind::RateLimit {
                    reset_ms: Some(100),
                },
                FaultKind::RateLimit { reset_ms: None },
                FaultKind::Status(503),
                FaultKind::HtmlError(502),
                FaultKind::TruncatedJson,
                FaultKind::TokenExpired,
            ] {
                sim.inject(FaultRule {
                    path_prefix: Some(TTP_URL.into()),
                    tenant: None,
                    times: 1,
                    after: 0,
                    kind: rule,
                });
            }
            let v1 = v1_tenant(&sim, &demo);
            let v2 = v2_tenant(&sim, &demo);
            shown.push_str(&format!("{v1:?} {v2:?}"));
            for cfg in [&v1, &v2] {
                let client = client(cfg);
                let _ = client.post(TTP_URL, &ttp_url_body(None, 10)).await;
                let _ = client.post(TTP_URL, &ttp_url_body(None, 10)).await;
                tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
                let _ = client.post(TTP_URL, &ttp_url_body(None, 10)).await;
                let e = client
                    .post(
                        "/api/audit/get-audit-events",
                        &serde_json::json!({"data": [{}]}),
                    )
                    .await
                    .unwrap_err();
                shown.push_str(&format!("{e} {e:?}"));
            }
            let mut bad_v1 = v1.clone();
            if let mimecast_collector::config::Credentials::V1(c) = &mut bad_v1.credentials {
                c.secret_key = secrecy::SecretString::from("d3Jvbmc=");
            }
            let e = client(&bad_v1)
                .post(TTP_URL, &ttp_url_body(None, 10))
                .await
                .unwrap_err();
            shown.push_str(&format!("{e} {e:?}"));
            let mut bad_v2 = v2.clone();
            if let mimecast_collector::config::Credentials::V2(c) = &mut bad_v2.credentials {
                c.client_secret = secrecy::SecretString::from("wrong-secret-VALUE");
            }
            let e = client(&bad_v2)
                .post(TTP_URL, &ttp_url_body(None, 10))
                .await
                .unwrap_err();
            shown.push_str(&format!("{e} {e:?}"));
            sim.expire_binding(&demo.name);
            let e = client(&v1)
                .post(TTP_URL, &ttp_url_body(None, 10))
                .await
                .unwrap_err();
            shown.push_str(&format!("{e} {e:?}"));
            sim.shutdown().await;
        });
    });
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("retrying"),
        "the error paths were exercised and logged:\n{logs}"
    );
    let v1 = demo.v1.as_ref().unwrap();
    let v2 = demo.v2.as_ref().unwrap();
    for secret in [
        &v1.app_key,
        &v1.access_key,
        &v1.secret_key,
        &v2.client_secret,
        &"wrong-secret-VALUE".to_string(),
    ] {
        assert!(!logs.contains(secret.as_str()), "log shows a secret");
        assert!(
            !shown.contains(secret.as_str()),
            "an error or Debug output shows a secret: {shown}"
        );
    }
    // Bearer tokens are credentials too.
    assert!(
        !logs.to_lowercase().contains("bearer "),
        "a bearer token was logged"
    );
}
