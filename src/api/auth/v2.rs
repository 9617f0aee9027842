//! API 2.0 OAuth2 client-credentials tokens (docs/mimecast-api.md#api-20-oauth2).
//!
//! One token per tenant, fetched with `POST /oauth/token` (form body), shared by every stream of
//! the tenant, and refreshed shortly before `expires_in` runs out. Callers that find a token
//! rejected (401) invalidate the generation they used, so concurrent 401s cause one refresh,
//! not one per request; the mutex makes concurrent first requests share one fetch too.

use crate::api::error::ApiError;
use crate::api::response;
use crate::config::V2Credentials;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// What to tell an operator whose client credentials are refused.
pub use crate::api::error::BAD_CLIENT_CREDENTIALS;

#[derive(Clone)]
pub struct Bearer {
    pub token: SecretString,
    /// Which fetch produced it, for [`TokenSource::invalidate`].
    pub generation: u64,
}

struct Cached {
    bearer: Bearer,
    refresh_at: Instant,
}

pub struct TokenSource {
    token_url: url::Url,
    client_id: String,
    client_secret: SecretString,
    http: reqwest::Client,
    cached: Mutex<Option<Cached>>,
    fetches: AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// Mimecast tokens live 30 minutes (docs/mimecast-api.md#api-20-oauth2); used when a response omits
/// `expires_in`.
const DEFAULT_TTL: Duration = Duration::from_secs(1800);

/// Refresh a minute early (as Elastic does), or a tenth of the lifetime for short-lived tokens.
fn refresh_margin(ttl: Duration) -> Duration {
    std::cmp::min(Duration::from_secs(60), ttl / 10)
}

impl TokenSource {
    pub fn new(
        base_url: &url::Url,
        creds: &V2Credentials,
        http: reqwest::Client,
    ) -> Result<TokenSource, url::ParseError> {
        Ok(TokenSource {
            token_url: base_url.join("/oauth/token")?,
            client_id: creds.client_id.clone(),
            client_secret: creds.client_secret.clone(),
            http,
            cached: Mutex::new(None),
            fetches: AtomicU64::new(0),
        })
    }

    /// How many tokens were fetched so far (metrics, tests).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A valid token, fetching one if there is none or it is about to expire.
    pub async fn bearer(&self) -> Result<Bearer, ApiError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.bearer.clone());
            }
        }
        let (token, ttl) = self.fetch().await?;
        let generation = self.fetches.fetch_add(1, Ordering::Relaxed) + 1;
        let bearer = Bearer { token, generation };
        *cached = Some(Cached {
            bearer: bearer.clone(),
            refresh_at: Instant::now() + ttl.saturating_sub(refresh_margin(ttl)),
        });
        tracing::debug!(
            generation,
            ttl_s = ttl.as_secs(),
            "obtained an API 2.0 access token"
        );
        Ok(bearer)
    }

    /// Forget the token of `generation` after Mimecast refused it; a newer one is kept.
    pub async fn invalidate(&self, generation: u64) {
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|c| c.bearer.generation == generation)
        {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<(SecretString, Duration), ApiError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair("client_secret", self.client_secret.expose_secret())
            .append_pair("grant_type", "client_credentials")
            .finish();
        let resp = self
            .http
            .post(self.token_url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(ApiError::from_reqwest)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(ApiError::from_reqwest)?;
        if !status.is_success() {
            return Err(match status.as_u16() {
                // Never followed (the client follows no redirect): a 307/308 would post the
                // client secret to the new location.
                300..=399 => response::status_error(
                    status.as_u16(),
                    &headers,
                    &bytes,
                    "/oauth/token",
                    crate::catalog::ApiVersion::V2,
                ),
                400 | 401 | 403 => ApiError::Unauthorized {
                    status: status.as_u16(),
                    detail: format!(
                        "the token endpoint refused client_id {:?}: {}",
                        self.client_id,
                        super::super::envelope::error_detail(&bytes)
                    ),
                    action: BAD_CLIENT_CREDENTIALS.into(),
                },
                _ => response::status_error(
                    status.as_u16(),
                    &headers,
                    &bytes,
                    "/oauth/token",
                    crate::catalog::ApiVersion::V2,
                ),
            });
        }
        let parsed: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::Decode(format!("token response is not the expected JSON: {e}"))
        })?;
        if parsed.access_token.is_empty() {
            return Err(ApiError::Decode(
                "token response has an empty access_token".into(),
            ));
        }
        let ttl = match parsed.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64().map(Duration::from_secs),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok().map(Duration::from_secs),
            _ => None,
        }
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_TTL)
        // A garbled huge value must not overflow the clock arithmetic: a day is plenty.
        .min(Duration::from_secs(86_400));
        Ok((SecretString::from(parsed.access_token), ttl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_a_minute_or_a_tenth() {
        assert_eq!(
            refresh_margin(Duration::from_secs(1799)),
            Duration::from_secs(60)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(10)),
            Duration::from_secs(1)
        );
    }
}
