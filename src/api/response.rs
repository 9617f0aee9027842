//! Mapping a non-2xx HTTP response to an [`ApiError`], per the documented codes
//! (docs/mimecast-api.md#errors: 401, 403, 418 Binding Expired, 429 Quota Exceeded, 5xx).

use super::envelope::{error_detail, Envelope, BINDING_EXPIRED};
use super::error::ApiError;
use crate::catalog::ApiVersion;
use reqwest::header::HeaderMap;
use std::time::Duration;

/// The longest wait we accept from `X-RateLimit-Reset`; a larger value is treated as this, so a
/// garbled header cannot park a stream for days.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(15 * 60);

/// How long a 429 asks us to wait. Mimecast documents `X-RateLimit-Reset` as milliseconds to
/// wait (<https://integrations.mimecast.com/documentation/api-overview/rate-limiting>); other
/// integrators read it as an absolute epoch time (seconds), and some servers send epoch
/// milliseconds. The forms are told apart by magnitude: a wait of 1e9 ms is 11 days, longer than
/// any quota window, so values that large are instants. Seconds-to-wait cannot be told from
/// milliseconds-to-wait by the value; the retry loop never retries a 429 sooner than its
/// backoff floor, which covers them (see `client`). Missing or malformed: `None` (the caller
/// backs off). Every form is bounded by [`MAX_RATE_LIMIT_WAIT`].
pub fn rate_limit_reset(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("x-ratelimit-reset")?.to_str().ok()?.trim();
    let n: f64 = value.parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e6;
    let wait_ms = if n >= 1e11 {
        n - now_ms // epoch milliseconds
    } else if n >= 1e9 {
        n * 1000.0 - now_ms // epoch seconds
    } else {
        n // documented: milliseconds to wait
    };
    Some(Duration::from_millis(wait_ms.max(0.0) as u64).min(MAX_RATE_LIMIT_WAIT))
}

pub fn unauthorized_action(api: ApiVersion) -> &'static str {
    match api {
        ApiVersion::V1 => "check app_id, app_key, access_key and secret_key (run `mimecast-collector login` for new keys) and that this host's clock is correct",
        ApiVersion::V2 => super::error::BAD_CLIENT_CREDENTIALS,
    }
}

/// The host a redirect points to, for the error that names it (the whole location may carry a
/// signed query).
pub fn redirect_host(headers: &HeaderMap) -> String {
    match headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        None => "an unnamed location".into(),
        Some(location) => match url::Url::parse(location) {
            Ok(u) => u.host_str().unwrap_or("an unnamed host").to_string(),
            // A relative location stays on the same host.
            Err(_) => "the same host (a relative location)".into(),
        },
    }
}

pub fn status_error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    path: &str,
    api: ApiVersion,
) -> ApiError {
    let expired = Envelope::parse(body).is_ok_and(|e| e.has_failure_code(BINDING_EXPIRED));
    if status == 418 || expired {
        return ApiError::KeysExpired;
    }
    if (300..400).contains(&status) {
        return ApiError::Redirected {
            status,
            path: path.to_string(),
            host: redirect_host(headers),
        };
    }
    let detail = error_detail(body);
    match status {
        401 => ApiError::Unauthorized {
            status,
            detail,
            action: unauthorized_action(api).into(),
        },
        403 => ApiError::Forbidden {
            path: path.to_string(),
            // The stream that asked replaces this with the exact permission to grant.
            action: format!("grant the role access to {path} ({detail})"),
        },
        429 => ApiError::RateLimited {
            reset: rate_limit_reset(headers),
        },
        408 | 500..=599 => ApiError::Server { status, detail },
        _ => ApiError::Request {
            status,
            path: path.to_string(),
            detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(reset: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", reset.parse().unwrap());
        h
    }

    #[test]
    fn reset_header_is_milliseconds_and_tolerated_when_bad() {
        assert_eq!(
            rate_limit_reset(&headers("2000")),
            Some(Duration::from_secs(2))
        );
        assert_eq!(rate_limit_reset(&headers("soon")), None);
        assert_eq!(rate_limit_reset(&headers("-5")), None);
        assert_eq!(rate_limit_reset(&HeaderMap::new()), None);
        assert_eq!(
            rate_limit_reset(&headers("999999999")),
            Some(MAX_RATE_LIMIT_WAIT),
            "the longest ms wait is bounded"
        );
    }

    #[test]
    fn reset_header_in_epoch_forms_is_a_wait_until_then() {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let s = rate_limit_reset(&headers(&(now + 30).to_string())).unwrap();
        assert!((28..=30).contains(&s.as_secs()), "epoch seconds: {s:?}");
        let ms = rate_limit_reset(&headers(&((now + 30) * 1000).to_string())).unwrap();
        assert!((28..=30).contains(&ms.as_secs()), "epoch ms: {ms:?}");
        assert_eq!(
            rate_limit_reset(&headers(&(now - 5).to_string())),
            Some(Duration::ZERO),
            "an instant in the past means now"
        );
        assert_eq!(
            rate_limit_reset(&headers(&(now + 86_400).to_string())),
            Some(MAX_RATE_LIMIT_WAIT),
            "a far instant is bounded"
        );
    }

    #[test]
    fn statuses_map_to_what_the_operator_must_do() {
        let none = HeaderMap::new();
        let e = status_error(403, &none, b"", "/api/ttp/url/get-logs", ApiVersion::V1)
            .with_grant_hint(|| "grant X".into());
        assert!(e.to_string().contains("grant X"), "{e}");
        assert!(matches!(
            status_error(418, &none, b"", "/p", ApiVersion::V1),
            ApiError::KeysExpired
        ));
        let body = br#"{"meta":{"status":401},"data":[],"fail":[{"errors":[{"code":"err_xdk_binding_expired","message":"x"}]}]}"#;
        assert!(matches!(
            status_error(401, &none, body, "/p", ApiVersion::V1),
            ApiError::KeysExpired
        ));
        assert!(status_error(
            502,
            &none,
            b"<html>bad gateway</html>",
            "/p",
            ApiVersion::V1
        )
        .is_transient());
        assert!(!status_error(404, &none, b"", "/p", ApiVersion::V1).is_transient());
        let e = status_error(429, &headers("2000"), b"", "/p", ApiVersion::V2);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
    }
}
