//! API 1.0 request-signature verification, written independently of the collector.
//!
//! WHY independent: if the simulator shared the collector's signing code, a bug in it would
//! be "verified" by itself. This module re-implements docs/mimecast-api.md#api-10-signing from the
//! documentation: `Authorization: MC {accessKey}:{Base64(HMAC-SHA1(base64decode(secretKey),
//! DataToSign))}` with `DataToSign = x-mc-date ":" x-mc-req-id ":" {uri path} ":" {appKey}`, and
//! compares signatures in constant time.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use time::OffsetDateTime;

use crate::config::V1Creds;
use crate::dates;

type HmacSha1 = Hmac<Sha1>;

/// Why a signed request was refused; mapped to HTTP status + fail[] code by the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V1Error {
    /// A required header is absent (docs/mimecast-api.md#errors: `400 0001` "Credentials are
    /// missing").
    Missing(&'static str),
    /// `Authorization` is not `MC accessKey:signature`.
    MalformedAuthorization,
    UnknownAccessKey,
    /// `x-mc-app-id` does not belong to the access key's tenant.
    UnknownApplication,
    /// `x-mc-date` cannot be parsed.
    BadDate,
    /// `x-mc-date` is further than the allowed skew from now.
    StaleDate,
    /// The signature does not match (wrong secret, path, app key, date or request id signed).
    SignatureMismatch,
}

impl V1Error {
    /// (HTTP status, fail[] code, message).
    pub fn describe(&self) -> (u16, &'static str, String) {
        match self {
            V1Error::Missing(h) => (
                400,
                "err_credentials_missing",
                format!("Credentials are missing from the request: header {h} is required"),
            ),
            V1Error::MalformedAuthorization => (
                401,
                "err_authorization_malformed",
                "Authorization header must be 'MC {accessKey}:{signature}'".into(),
            ),
            V1Error::UnknownAccessKey => {
                (401, "err_unknown_access_key", "Unknown access key".into())
            }
            V1Error::UnknownApplication => (
                401,
                "err_developer_key",
                "Connection headers has not been configured: unknown x-mc-app-id".into(),
            ),
            V1Error::BadDate => (
                401,
                "err_request_date_invalid",
                "x-mc-date must look like 'Tue, 24 Nov 2015 12:50:11 UTC'".into(),
            ),
            V1Error::StaleDate => (
                401,
                "err_request_date_out_of_range",
                "x-mc-date is too far from the server time".into(),
            ),
            V1Error::SignatureMismatch => (
                401,
                "err_signature_mismatch",
                "The request signature does not match".into(),
            ),
        }
    }
}

/// The headers a signed request carries, as received.
#[derive(Debug, Default, Clone, Copy)]
pub struct V1Headers<'a> {
    pub authorization: Option<&'a str>,
    pub date: Option<&'a str>,
    pub req_id: Option<&'a str>,
    pub app_id: Option<&'a str>,
}

/// Computes the signature: `Base64(HMAC-SHA1(base64decode(secret_b64), date:reqid:path:appKey))`.
/// Returns `None` if the secret is not valid base64.
pub fn sign(
    secret_b64: &str,
    date: &str,
    req_id: &str,
    path: &str,
    app_key: &str,
) -> Option<String> {
    let mac = mac_for(secret_b64, date, req_id, path, app_key)?;
    Some(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

fn mac_for(
    secret_b64: &str,
    date: &str,
    req_id: &str,
    path: &str,
    app_key: &str,
) -> Option<HmacSha1> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret_b64.trim())
        .ok()?;
    let mut mac = HmacSha1::new_from_slice(&key).ok()?;
    mac.update(date.as_bytes());
    mac.update(b":");
    mac.update(req_id.as_bytes());
    mac.update(b":");
    mac.update(path.as_bytes());
    mac.update(b":");
    mac.update(app_key.as_bytes());
    Some(mac)
}

/// Splits `MC accessKey:signature` (realm case-insensitive, docs/mimecast-api.md#api-10-signing
/// step 4).
pub fn parse_authorization(value: &str) -> Option<(&str, &str)> {
    let (realm, rest) = value.trim().split_once(' ')?;
    if !realm.eq_ignore_ascii_case("MC") {
        return None;
    }
    let (ak, sig) = rest.trim().split_once(':')?;
    if ak.is_empty() || sig.is_empty() {
        return None;
    }
    Some((ak, sig))
}

/// Checks that all four headers are present; returns the access key named in `Authorization`.
pub fn access_key<'a>(h: &V1Headers<'a>) -> Result<&'a str, V1Error> {
    let auth = h.authorization.ok_or(V1Error::Missing("Authorization"))?;
    h.date.ok_or(V1Error::Missing("x-mc-date"))?;
    h.req_id.ok_or(V1Error::Missing("x-mc-req-id"))?;
    h.app_id.ok_or(V1Error::Missing("x-mc-app-id"))?;
    parse_authorization(auth)
        .map(|(ak, _)| ak)
        .ok_or(V1Error::MalformedAuthorization)
}

/// Verifies a request against the tenant's credentials. `path` is the request path only (no
/// query, scheme or host), as docs/mimecast-api.md#api-10-signing says the `{uri}` is.
pub fn verify(
    creds: &V1Creds,
    h: &V1Headers<'_>,
    path: &str,
    now: OffsetDateTime,
    max_skew: std::time::Duration,
) -> Result<(), V1Error> {
    let ak = access_key(h)?;
    let (_, sig) = parse_authorization(h.authorization.unwrap_or_default())
        .ok_or(V1Error::MalformedAuthorization)?;
    if ak != creds.access_key {
        return Err(V1Error::UnknownAccessKey);
    }
    if h.app_id.map(str::trim) != Some(creds.app_id.as_str()) {
        return Err(V1Error::UnknownApplication);
    }
    let date = h.date.unwrap_or_default();
    let when = dates::parse_http_date(date).ok_or(V1Error::BadDate)?;
    let skew = (now - when).abs();
    if skew > time::Duration::try_from(max_skew).unwrap_or(time::Duration::MAX) {
        return Err(V1Error::StaleDate);
    }
    let provided = base64::engine::general_purpose::STANDARD
        .decode(sig.trim())
        .map_err(|_| V1Error::SignatureMismatch)?;
    let mac = mac_for(
        &creds.secret_key,
        date,
        h.req_id.unwrap_or_default(),
        path,
        &creds.app_key,
    )
    .ok_or(V1Error::SignatureMismatch)?;
    // `verify_slice` compares in constant time.
    mac.verify_slice(&provided)
        .map_err(|_| V1Error::SignatureMismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const SECRET1: &str =
        "FgHrtydiP4TynI+rTZF42Qu0FtGuhJtuNM5bDh82goJQHed9kJZ5t/ORwGnI5r2hkl/bzCosZ+KVapJFeaf3Yw==";

    #[test]
    fn mimecast_md_vector_1() {
        let s = sign(
            SECRET1,
            "Tue, 24 Nov 2015 12:50:11 UTC",
            "8578FCFC-A305-4D9A-99CB-F4D5ECEFE297",
            "/api/audit/get-siem-logs",
            "475x54c6-4f61-4fab-8be7-a0710f3859e3",
        );
        assert_eq!(s.as_deref(), Some("7CGw4sgRBjFCOlj/hfVxOcVou9w="));
    }

    #[test]
    fn mimecast_md_vector_2() {
        let s = sign(
            "c2VjcmV0",
            "Mon, 02 Jan 2006 15:04:05 UTC",
            "00000000-0000-0000-0000-000000000000",
            "/api/ttp/url/get-logs",
            "app-key",
        );
        assert_eq!(s.as_deref(), Some("5ZNyoLJBvwTDqln7b3PrlBzxKgY="));
    }

    fn creds() -> V1Creds {
        V1Creds {
            app_id: "app".into(),
            app_key: "475x54c6-4f61-4fab-8be7-a0710f3859e3".into(),
            access_key: "ak".into(),
            secret_key: SECRET1.into(),
        }
    }

    #[test]
    fn verify_accepts_vector_and_rejects_tampering() {
        let now = datetime!(2015-11-24 12:55:00 UTC);
        let skew = std::time::Duration::from_secs(900);
        let auth = "MC ak:7CGw4sgRBjFCOlj/hfVxOcVou9w=";
        let h = V1Headers {
            authorization: Some(auth),
            date: Some("Tue, 24 Nov 2015 12:50:11 UTC"),
            req_id: Some("8578FCFC-A305-4D9A-99CB-F4D5ECEFE297"),
            app_id: Some("app"),
        };
        let c = creds();
        assert_eq!(
            verify(&c, &h, "/api/audit/get-siem-logs", now, skew),
            Ok(())
        );
        assert_eq!(
            verify(&c, &h, "/api/ttp/url/get-logs", now, skew),
            Err(V1Error::SignatureMismatch)
        );
        let late = datetime!(2015-11-24 13:10:00 UTC);
        assert_eq!(
            verify(&c, &h, "/api/audit/get-siem-logs", late, skew),
            Err(V1Error::StaleDate)
        );
        let mut other = c.clone();
        other.app_key = "another".into();
        assert_eq!(
            verify(&other, &h, "/api/audit/get-siem-logs", now, skew),
            Err(V1Error::SignatureMismatch)
        );
        let h2 = V1Headers {
            app_id: Some("nope"),
            ..h
        };
        assert_eq!(
            verify(&c, &h2, "/api/audit/get-siem-logs", now, skew),
            Err(V1Error::UnknownApplication)
        );
        let h3 = V1Headers { req_id: None, ..h };
        assert_eq!(
            verify(&c, &h3, "/api/audit/get-siem-logs", now, skew),
            Err(V1Error::Missing("x-mc-req-id"))
        );
        let h4 = V1Headers {
            authorization: Some("MC ak:!!notbase64"),
            ..h
        };
        assert_eq!(
            verify(&c, &h4, "/api/audit/get-siem-logs", now, skew),
            Err(V1Error::SignatureMismatch)
        );
        let h5 = V1Headers {
            authorization: Some("Bearer xyz"),
            ..h
        };
        assert_eq!(access_key(&h5), Err(V1Error::MalformedAuthorization));
    }
}
