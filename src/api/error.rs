//! What can go wrong talking to Mimecast, split by what the caller should do about it.
//!
//! Transient errors are retried with backoff and never move a checkpoint; permanent errors stop
//! the stream from hammering and carry the fix an operator must make. The split follows the
//! documented response codes (docs/mimecast-api.md#errors,
//! docs/mimecast-api.md#key-expiry-and-binding-refresh, docs/mimecast-api.md#rate-limits).

use std::time::Duration;

/// The fix for expired API 1.0 keys (docs/mimecast-api.md#key-expiry-and-binding-refresh): shown by
/// the daemon, `check` and `status`.
pub const KEYS_EXPIRED_ACTION: &str = "keys expired: set the service user's Authentication Cache TTL to Never Expire and run `mimecast-collector login` again";

/// The fix for API 2.0 credentials Mimecast refused (shared by the token source and the mapping
/// of HTTP statuses, which sit side by side and must not import each other).
pub const BAD_CLIENT_CREDENTIALS: &str = "check client_id and client_secret (Admin Console > Integrations > API and Platform Integrations > Mimecast API 2.0; a secret is shown only once, so generate new keys if in doubt)";

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    // ---- transient: retry with backoff ----
    #[error("request timed out ({0})")]
    Timeout(String),
    #[error("cannot connect: {0} (check the network, proxy and that Mimecast allows this host's egress IP)")]
    Connect(String),
    #[error("connection failed: {0}")]
    Network(String),
    #[error("server error HTTP {status}: {detail}")]
    Server { status: u16, detail: String },
    #[error("rate limited by Mimecast (HTTP 429){}", match .reset { Some(d) => format!(", quota resets in {} ms", d.as_millis()), None => String::new() })]
    RateLimited { reset: Option<Duration> },
    #[error("unreadable response: {0}")]
    Decode(String),
    #[error("Mimecast reported a retryable error {code}: {message}")]
    RetryableFail { code: String, message: String },

    // ---- permanent: stop, tell the operator ----
    #[error("credentials rejected (HTTP {status}): {detail}; {action}")]
    Unauthorized {
        status: u16,
        detail: String,
        action: String,
    },
    #[error("missing permission (HTTP 403) for {path}: {action}")]
    Forbidden { path: String, action: String },
    #[error("{KEYS_EXPIRED_ACTION}")]
    KeysExpired,
    #[error("Mimecast rejected the request to {path} ({code}): {message}")]
    Fail {
        path: String,
        code: String,
        message: String,
    },
    /// A 200 answer in a shape the collector does not know: nothing of it is written, and
    /// retrying at once would only get the same answer.
    #[error("Mimecast answered in a shape this collector does not recognise: {0}; nothing of it was written (report it with this message)")]
    Shape(String),
    /// A continuation URI that points away from the tenant's API host: following it would send
    /// the tenant's credentials there.
    #[error("Mimecast's next-page link points to {host}, not to the tenant's API host {expected}; it was not followed, so no credentials were sent there")]
    ForeignLink { host: String, expected: String },
    /// A redirect answered to a request that carries credentials (the token request's client
    /// secret, a signed call, a bearer token): it is never followed, since following it sends
    /// them to the new location.
    #[error("{path} answered HTTP {status}, a redirect to {host}; it was not followed, so no credentials were sent there (check the tenant's base_url or region: is it Mimecast's API host for this account?)")]
    Redirected {
        status: u16,
        path: String,
        host: String,
    },
    #[error("HTTP {status} from {path}: {detail}")]
    Request {
        status: u16,
        path: String,
        detail: String,
    },
}

impl ApiError {
    /// Whether retrying the same request later can succeed without an operator.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ApiError::Timeout(_)
                | ApiError::Connect(_)
                | ApiError::Network(_)
                | ApiError::Server { .. }
                | ApiError::RateLimited { .. }
                | ApiError::Decode(_)
                | ApiError::RetryableFail { .. }
        )
    }

    /// How long Mimecast asked us to wait, when it said (`X-RateLimit-Reset`, in ms).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { reset } => *reset,
            _ => None,
        }
    }

    /// Names what to grant on a 403, once the caller knows which stream asked: the api layer
    /// only knows paths, and does not map them back to streams.
    pub fn with_grant_hint(self, hint: impl FnOnce() -> String) -> ApiError {
        match self {
            ApiError::Forbidden { path, .. } => ApiError::Forbidden {
                path,
                action: hint(),
            },
            other => other,
        }
    }

    /// Whether Mimecast refused a continuation token it issued (expired, or from before a
    /// restart): the documented code is `err_validation_invalid_page_token`, sent with HTTP 200
    /// and `fail[]` on API 1.0 routes and with HTTP 400 elsewhere. Any other permanent rejection
    /// of a request that carried a token is treated the same way by the callers that ask.
    ///
    /// A next-page link to another host counts too: a link stored in a checkpoint before the
    /// tenant's `base_url` or region changed is read again from a safe point instead of failing
    /// every poll (a foreign link Mimecast keeps sending still fails the poll after the
    /// driver's restarts, and is never followed).
    pub fn is_request_refusal(&self) -> bool {
        matches!(
            self,
            ApiError::Fail { .. }
                | ApiError::Request { status: 400, .. }
                | ApiError::ForeignLink { .. }
        )
    }

    /// A short stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::Timeout(_) => "timeout",
            ApiError::Connect(_) => "connect",
            ApiError::Network(_) => "network",
            ApiError::Server { .. } => "server_error",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Decode(_) => "decode",
            ApiError::RetryableFail { .. } => "retryable_fail",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::KeysExpired => "keys_expired",
            ApiError::Fail { .. } => "fail",
            ApiError::Request { .. } => "request",
            ApiError::Shape(_) => "shape",
            ApiError::ForeignLink { .. } => "foreign_link",
            ApiError::Redirected { .. } => "redirected",
        }
    }

    pub(crate) fn from_reqwest(e: reqwest::Error) -> ApiError {
        // reqwest puts the URL in its message; a pre-signed file URL carries a signature in its
        // query, so the URL is removed before the error is shown anywhere.
        let e = e.without_url();
        let detail = error_chain(&e);
        if e.is_timeout() {
            ApiError::Timeout(detail)
        } else if e.is_connect() {
            ApiError::Connect(detail)
        } else if e.is_decode() {
            ApiError::Decode(detail)
        } else {
            ApiError::Network(detail)
        }
    }
}

/// reqwest's top-level message is vague ("error sending request"); the sources say why.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out.replace(|c: char| c.is_control(), " ")
}

/// At most `max` characters of a response body, on one line, for error messages.
pub(crate) fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        format!("{one_line}…")
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_and_permanent_split() {
        assert!(ApiError::Server {
            status: 503,
            detail: String::new()
        }
        .is_transient());
        assert!(ApiError::RateLimited { reset: None }.is_transient());
        assert!(ApiError::Decode("eof".into()).is_transient());
        assert!(!ApiError::KeysExpired.is_transient());
        assert!(!ApiError::Forbidden {
            path: "/x".into(),
            action: "grant".into()
        }
        .is_transient());
        let e = ApiError::RateLimited {
            reset: Some(Duration::from_millis(2000)),
        };
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert!(e.to_string().contains("2000 ms"));
        assert!(ApiError::KeysExpired.to_string().contains("Never Expire"));
    }

    #[test]
    fn snippets_are_bounded_single_lines() {
        assert_eq!(snippet(b"a\nb", 10), "a b");
        assert_eq!(snippet(&[b'x'; 50], 5), "xxxxx…");
    }
}
