//! Helpers shared by the simulator's wire-level tests: a `Simulator` on port 0, an HTTP client,
//! OAuth tokens, and GET/POST helpers that keep the status, headers and body of each answer.
#![allow(dead_code)]

use std::io::Read as _;
use std::time::Duration;

use mimecast_sim::{SimConfig, SimTenant, Simulator};
use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;

/// The end of every test's generated window.
pub const END: OffsetDateTime = datetime!(2026-01-15 12:00:00 UTC);

/// The default config with the window ending at `END`.
pub fn default_cfg() -> SimConfig {
    SimConfig {
        end: Some(END),
        ..SimConfig::default()
    }
}

/// `default_cfg()` with `n` records per stream.
pub fn cfg(n: u64) -> SimConfig {
    SimConfig {
        records_per_stream: n,
        ..default_cfg()
    }
}

pub async fn start(c: SimConfig) -> Simulator {
    Simulator::bind(c, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind")
}

/// Starts a simulator and fetches a token for the demo tenant.
pub async fn start_demo(c: SimConfig) -> (Simulator, String) {
    let sim = start(c).await;
    let tok = token(&sim, &SimTenant::demo()).await;
    (sim, tok)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The `Content-Type` header, or "" when absent.
    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or_default()
    }

    /// The first API 1.0 error code in `fail`.
    pub fn fail_code(&self) -> String {
        self.json()["fail"][0]["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub async fn send(rb: reqwest::RequestBuilder) -> Resp {
    let r = rb.send().await.expect("send");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().await.expect("body").to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

/// An OAuth client-credentials token for `t` (must be issued).
pub async fn token(sim: &Simulator, t: &SimTenant) -> String {
    let v2 = t.v2.as_ref().expect("v2");
    let r = send(
        client()
            .post(format!("{}/oauth/token", sim.base_url()))
            .form(&[
                ("client_id", v2.client_id.as_str()),
                ("client_secret", v2.client_secret.as_str()),
                ("grant_type", "client_credentials"),
            ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string()
}

/// `url` relative to the base URL, or as is when absolute.
pub fn absolute(sim: &Simulator, url: &str) -> String {
    if url.starts_with("http") {
        url.to_string()
    } else {
        format!("{}{url}", sim.base_url())
    }
}

/// GET with a bearer token (relative to the base URL, or absolute); any status.
pub async fn get(sim: &Simulator, tok: &str, url: &str) -> Resp {
    send(client().get(absolute(sim, url)).bearer_auth(tok)).await
}

/// GET that must answer HTTP 200; its JSON.
pub async fn get_ok(sim: &Simulator, tok: &str, url: &str) -> Value {
    let r = get(sim, tok, url).await;
    assert_eq!(r.status, 200, "{url}: {}", r.text());
    r.json()
}

/// GET that must answer `status` with the API 2.0 error `code`.
pub async fn get_err(sim: &Simulator, tok: &str, url: &str, status: u16, code: &str) {
    let r = get(sim, tok, url).await;
    assert_eq!(r.status, status, "{url}: {}", r.text());
    assert_eq!(r.json()["error"]["code"], code, "{url}");
}

/// POST a JSON body with a bearer token; any status.
pub async fn v2_post(sim: &Simulator, tok: &str, path: &str, body: &Value) -> Resp {
    send(
        client()
            .post(format!("{}{path}", sim.base_url()))
            .bearer_auth(tok)
            .header("Content-Type", "application/json")
            .body(body.to_string()),
    )
    .await
}

/// POST with a bearer token; must be HTTP 200, JSON, `fail: []`.
pub async fn v2_post_ok(sim: &Simulator, tok: &str, path: &str, body: &Value) -> Resp {
    let r = v2_post(sim, tok, path, body).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert_eq!(r.content_type(), "application/json", "{path}");
    assert_eq!(r.json()["fail"], json!([]), "{path}: {}", r.text());
    r
}

/// The JSON lines of a gzipped NDJSON file.
pub fn gunzip_lines(bytes: &[u8]) -> Vec<Value> {
    let mut s = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut s)
        .expect("gzip");
    s.lines()
        .map(|l| serde_json::from_str(l).expect("ndjson line"))
        .collect()
}
