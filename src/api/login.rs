//! API 1.0 login: a service user's email and password exchanged once for an access key and
//! secret key (docs/mimecast-api.md#discover-authentication, docs/mimecast-api.md#login). The
//! password is never stored or logged; it lives in a `SecretString` and is wiped when dropped.
//!
//! Both calls carry `x-mc-date`, `x-mc-req-id` and `x-mc-app-id` but no HMAC. Discovery answers
//! the regional base URL in `data[0].region.api`; login answers `data[0].accessKey` and
//! `data[0].secretKey`.

use super::auth::v1::{format_date, new_request_id, unsigned_headers};
use super::envelope::Envelope;
use super::error::ApiError;
use super::response::status_error;
use crate::catalog::ApiVersion;
use base64::Engine;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

pub const DISCOVER_PATH: &str = "/api/login/discover-authentication";
pub const LOGIN_PATH: &str = "/api/login/login";

/// How the password is checked: a Mimecast cloud password or the domain (AD) password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthKind {
    Cloud,
    Domain,
}

impl AuthKind {
    /// The Authorization scheme. `Basic-Cloud` is confirmed (XSOAR); `Basic-AD` is UNCONFIRMED.
    fn scheme(self) -> &'static str {
        match self {
            AuthKind::Cloud => "Basic-Cloud",
            AuthKind::Domain => "Basic-AD",
        }
    }
}

pub struct Keys {
    pub access_key: SecretString,
    pub secret_key: SecretString,
}

async fn call(
    http: &reqwest::Client,
    base: &url::Url,
    path: &str,
    app_id: &str,
    body: serde_json::Value,
    auth: Option<HeaderValue>,
) -> Result<Envelope, ApiError> {
    let url = format!("{}{}", base.as_str().trim_end_matches('/'), path);
    let mut req = http
        .post(url)
        .headers(unsigned_headers(
            app_id,
            &format_date(time::OffsetDateTime::now_utc()),
            &new_request_id(),
        ))
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(a) = auth {
        req = req.header(AUTHORIZATION, a);
    }
    let resp = req.send().await.map_err(ApiError::from_reqwest)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.map_err(ApiError::from_reqwest)?;
    if !(200..300).contains(&status) {
        return Err(status_error(status, &headers, &bytes, path, ApiVersion::V1));
    }
    let env = Envelope::parse(&bytes)?;
    env.check(path)?;
    Ok(env)
}

fn first_item(env: &Envelope) -> Option<serde_json::Value> {
    let data: Vec<serde_json::Value> = serde_json::from_str(env.data.as_deref()?.get()).ok()?;
    data.into_iter().next()
}

/// The regional API base URL for `email`, asked of `discovery_host`.
pub async fn discover(
    http: &reqwest::Client,
    discovery_host: &url::Url,
    app_id: &str,
    email: &str,
) -> Result<url::Url, ApiError> {
    let env = call(
        http,
        discovery_host,
        DISCOVER_PATH,
        app_id,
        json!({"data": [{"emailAddress": email}]}),
        None,
    )
    .await?;
    let api = first_item(&env)
        .and_then(|d| d.get("region")?.get("api")?.as_str().map(str::to_string))
        .ok_or_else(|| {
            ApiError::Decode("discover-authentication did not answer data[0].region.api".into())
        })?;
    url::Url::parse(&api).map_err(|e| {
        ApiError::Decode(format!(
            "discover-authentication answered a bad URL {api:?}: {e}"
        ))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginData {
    access_key: String,
    secret_key: String,
}

/// Exchanges the password for keys on the regional host.
pub async fn login(
    http: &reqwest::Client,
    base: &url::Url,
    app_id: &str,
    email: &str,
    password: &SecretString,
    kind: AuthKind,
) -> Result<Keys, ApiError> {
    let mut basic = zeroize::Zeroizing::new(format!("{email}:{}", password.expose_secret()));
    let encoded =
        zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(basic.as_bytes()));
    zeroize::Zeroize::zeroize(&mut *basic);
    let mut auth = HeaderValue::from_str(&format!("{} {}", kind.scheme(), encoded.as_str()))
        .map_err(|_| ApiError::Request {
            status: 0,
            path: LOGIN_PATH.into(),
            detail: "the email address cannot be sent in a header".into(),
        })?;
    auth.set_sensitive(true);
    let env = match call(http, base, LOGIN_PATH, app_id, json!({"data": [{"userName": email}]}), Some(auth)).await {
        Err(ApiError::Unauthorized { status, detail, .. }) => {
            return Err(ApiError::Unauthorized {
                status,
                detail,
                action: match kind {
                    AuthKind::Cloud => "check the email and password (for a domain password use --auth domain), and that the user's Authentication Profile allows API access".into(),
                    AuthKind::Domain => "check the email and domain password (for a Mimecast cloud password use --auth cloud)".into(),
                },
            })
        }
        other => other?,
    };
    let data: LoginData = first_item(&env)
        .and_then(|d| serde_json::from_value(d).ok())
        .ok_or_else(|| {
            ApiError::Decode("login did not answer data[0].accessKey and secretKey".into())
        })?;
    Ok(Keys {
        access_key: SecretString::from(data.access_key),
        secret_key: SecretString::from(data.secret_key),
    })
}
