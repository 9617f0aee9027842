//! API 1.0 login: discover-authentication (docs/mimecast-api.md#discover-authentication) and login
//! (docs/mimecast-api.md#login).
//!
//! WHY: `mimecast-collector login` exchanges a service user's password for keys; the simulator
//! must check the `Basic-Cloud`/`Basic-AD` header like the real service, refresh expired
//! bindings, and never log the password.

use axum::body::Body;
use axum::http::{Method, Response};
use base64::Engine as _;
use serde_json::{json, Value};

use super::{first_item, json_body, str_field};
use crate::envelope::{self, ApiError};
use crate::server::{ct_eq, lock, Ctx};

/// Splits `Basic-Cloud base64(email:password)` (or `Basic-AD`) into (email, password).
pub(crate) fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, b64) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Basic-Cloud") && !scheme.eq_ignore_ascii_case("Basic-AD") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (email, pw) = s.split_once(':')?;
    Some((email.to_string(), pw.to_string()))
}

pub(crate) fn basic_email(header: &str) -> Option<String> {
    basic_credentials(header).map(|(e, _)| e)
}

pub(crate) fn handle(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    if ctx.req.method != Method::POST {
        return Err(ApiError::new(
            405,
            "err_method_not_allowed",
            "Use POST for all API 1.0 endpoints",
        ));
    }
    let body = json_body(ctx.req)?;
    if ctx.req.path == "/api/login/discover-authentication" {
        discover(ctx, &body)
    } else {
        login(ctx, &body)
    }
}

/// `data[0].region.api` is the documented field; the rest is UNCONFIRMED but plausible.
fn discover(ctx: &Ctx<'_>, body: &Value) -> Result<Response<Body>, ApiError> {
    let item = first_item(body)?;
    let email = str_field(&item, "emailAddress")?
        .filter(|e| e.contains('@'))
        .ok_or_else(|| {
            ApiError::validation(
                "err_validation_invalid_email_address",
                "emailAddress must be an email address",
            )
            .with_key(Some(item.clone()))
        })?;
    let data = json!({
        "emailAddress": email,
        "emailToken": "",
        "authenticate": ["cloud"],
        "region": {"code": "sim", "api": ctx.inner.base_url, "label": "Mimecast simulator"},
    });
    Ok(envelope::json_response(
        200,
        &envelope::success(vec![data], None),
    ))
}

fn login(ctx: &Ctx<'_>, body: &Value) -> Result<Response<Body>, ApiError> {
    let auth = ctx.req.header("authorization").ok_or_else(|| {
        ApiError::new(
            400,
            "err_credentials_missing",
            "Credentials are missing from the request: Authorization",
        )
    })?;
    let app_id = ctx.req.header("x-mc-app-id").ok_or_else(|| {
        ApiError::new(
            400,
            "err_credentials_missing",
            "Credentials are missing from the request: x-mc-app-id",
        )
    })?;
    let (email, password) = basic_credentials(auth).ok_or_else(|| {
        ApiError::new(
            401,
            "err_authentication_type_not_supported",
            "Authorization must be 'Basic-Cloud base64(email:password)' or 'Basic-AD …'",
        )
    })?;
    let invalid = || {
        ApiError::new(
            401,
            "err_invalid_credentials",
            "Invalid user name or password",
        )
    };
    let t = ctx.tenant.ok_or_else(invalid)?;
    let tenant = ctx.inner.tenants.get(t).ok_or_else(invalid)?;
    let user = tenant.cfg.login.as_ref().ok_or_else(invalid)?;
    if !user.email.eq_ignore_ascii_case(&email)
        || !ct_eq(user.password.as_bytes(), password.as_bytes())
    {
        return Err(invalid());
    }
    let item = first_item(body)?;
    if let Some(u) = str_field(&item, "userName")? {
        if !u.eq_ignore_ascii_case(&email) {
            return Err(ApiError::validation(
                "err_validation_user_name_mismatch",
                "userName does not match the Authorization header",
            )
            .with_key(Some(item.clone())));
        }
    }
    let v1 = tenant.cfg.v1.as_ref().ok_or_else(|| {
        ApiError::new(
            401,
            "err_developer_key",
            "This account has no API 1.0 application",
        )
    })?;
    if v1.app_id != app_id.trim() {
        return Err(ApiError::new(
            401,
            "err_developer_key",
            "Connection headers has not been configured: unknown x-mc-app-id",
        ));
    }
    // A successful login refreshes an expired binding
    // (docs/mimecast-api.md#key-expiry-and-binding-refresh).
    lock(&ctx.inner.expired_bindings).remove(&t);
    let data = json!({
        "accessKey": v1.access_key,
        "secretKey": v1.secret_key,
        "username": user.email,
        "duration": 43_200_000u64,
        "bindingType": "one_step",
        "extendOnValidate": true,
        "lastUserToken": "",
    });
    Ok(envelope::json_response(
        200,
        &envelope::success(vec![data], None),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_cloud_and_ad() {
        let h = format!("Basic-Cloud {}", crate::server::b64(b"a@b.example:p:w"));
        assert_eq!(
            basic_credentials(&h),
            Some(("a@b.example".into(), "p:w".into()))
        );
        let h = format!("Basic-AD {}", crate::server::b64(b"a@b.example:x"));
        assert!(basic_credentials(&h).is_some());
        assert_eq!(basic_credentials("Basic abc"), None);
        assert_eq!(basic_credentials("Basic-Cloud !!!"), None);
    }
}
