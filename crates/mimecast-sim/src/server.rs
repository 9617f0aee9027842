//! The request pipeline: record -> identify tenant -> auth faults -> authenticate -> quota ->
//! faults -> permission -> handler -> fault mangling -> record.
//!
//! WHY one pipeline: the order matters and must be the same for every endpoint.
//! docs/mimecast-api.md#rate-limits says a 429 means "the requested function will not be executed";
//! auth must run before any function (docs/mimecast-api.md#api-10-signing,
//! docs/mimecast-api.md#api-20-oauth2); and every request, including ones refused by auth, is
//! journaled.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Response};
use bytes::Bytes;
use futures_util::StreamExt as _;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::auth_v1::{self, V1Headers};
use crate::config::{SimConfig, SimTenant};
use crate::data::TenantInfo;
use crate::envelope::{bytes_response, error_response, ApiError, Style};
use crate::faults::{FaultKind, FaultPlan, ResetForm, Target};
use crate::oauth::{parse_form, TokenStore};
use crate::permissions;
use crate::ratelimit::{Quota, RateLimiter};
use crate::record::{Journal, RecordedRequest};
use crate::routes;

/// Largest request body accepted (real requests are a few hundred bytes).
const MAX_BODY: usize = 4 * 1024 * 1024;

pub(crate) struct TenantState {
    pub cfg: SimTenant,
    pub info: TenantInfo,
}

/// Shared simulator state.
pub(crate) struct Inner {
    pub cfg: SimConfig,
    pub tenants: Vec<TenantState>,
    pub end: OffsetDateTime,
    pub base_url: String,
    /// Key signing pre-signed storage URLs (derived from the seed).
    pub url_key: [u8; 32],
    pub tokens: Mutex<TokenStore>,
    pub faults: Mutex<FaultPlan>,
    pub limiter: Mutex<RateLimiter>,
    pub journal: Mutex<Journal>,
    pub expired_bindings: Mutex<HashSet<usize>>,
    /// With `cache_bodies`: (tenant, stream, index) -> record text.
    pub record_cache: Mutex<HashMap<RecordKey, Arc<RawValue>>>,
    /// With `cache_bodies`: storage path -> complete gzip file.
    pub file_cache: Mutex<HashMap<String, Bytes>>,
}

/// (tenant, stream, index) of a cached record; the tenant is its state's address, fixed for the
/// simulator's life.
pub(crate) type RecordKey = (usize, &'static str, u64);

/// Poison-tolerant lock: a panicking test thread must not wedge the simulator.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Route families, each with its own auth scheme and error shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    OAuth,
    Login,
    Api,
    Siem,
    /// API 2.0 REST routes outside `/siem` (`/threats/...`, `/threat-reporting/...`): bearer
    /// only, SIEM-style errors.
    Rest,
    Storage,
    Unknown,
}

impl Family {
    fn of(path: &str) -> Family {
        if path == "/oauth/token" {
            Family::OAuth
        } else if path == "/api/login/discover-authentication" || path == "/api/login/login" {
            Family::Login
        } else if path.starts_with("/api/") {
            Family::Api
        } else if path.starts_with("/siem/") {
            Family::Siem
        } else if path.starts_with("/threats/") || path.starts_with("/threat-reporting/") {
            Family::Rest
        } else if path.starts_with("/storage/") {
            Family::Storage
        } else {
            Family::Unknown
        }
    }

    pub fn style(self) -> Style {
        match self {
            Family::OAuth => Style::OAuth,
            Family::Siem | Family::Rest => Style::Siem,
            Family::Storage => Style::Storage,
            _ => Style::Envelope,
        }
    }
}

/// How the request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthVia {
    V1,
    V2,
    Unauthenticated,
}

/// The parts of a request handlers need.
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn bearer(&self) -> Option<&str> {
        let a = self.header("authorization")?.trim();
        let (scheme, tok) = a.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| tok.trim())
    }
}

/// What a handler sees.
pub(crate) struct Ctx<'a> {
    pub inner: &'a Inner,
    pub req: &'a Req,
    pub tenant: Option<usize>,
    pub via: AuthVia,
    pub family: Family,
    /// A fault the handler applies to its own answer ([`FaultKind::is_handler`]).
    pub fault: Option<FaultKind>,
    /// The page token the request carries (see [`crate::faults::Target`]).
    pub token: Option<String>,
}

impl Ctx<'_> {
    /// The authenticated tenant (handlers of authenticated routes only).
    pub fn tenant(&self) -> Result<&TenantState, ApiError> {
        self.tenant
            .and_then(|t| self.inner.tenants.get(t))
            .ok_or_else(|| ApiError::new(401, "err_unauthenticated", "Authentication required"))
    }
}

struct Outcome {
    response: Response<Body>,
    tenant: Option<usize>,
    fault: Option<String>,
}

/// axum fallback handler: every request goes through here.
pub(crate) async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let headers_rec: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let (body, too_large) = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => (b, false),
        Err(_) => (Bytes::new(), true),
    };
    let req = Req {
        method: parts.method.clone(),
        path,
        query,
        headers: parts.headers,
        body,
    };
    let id = lock(&inner.journal).push(RecordedRequest {
        method: req.method.to_string(),
        path: req.path.clone(),
        query: req.query.clone(),
        headers: headers_rec,
        body: String::from_utf8_lossy(&req.body).into_owned(),
        status: 0,
        tenant: None,
        at: Instant::now(),
        answered: None,
        fault: None,
    });
    let mut rec = Recorder {
        inner: &inner,
        id,
        finished: false,
    };
    let out = if too_large {
        Outcome {
            response: error_response(
                Family::of(&req.path).style(),
                &ApiError::new(413, "err_request_too_large", "Request body too large"),
            ),
            tenant: None,
            fault: None,
        }
    } else {
        process(&inner, &req, &rec).await
    };
    let status = out.response.status().as_u16();
    tracing::debug!(
        method = %req.method,
        path = %req.path,
        status,
        tenant = inner.tenant_label(out.tenant).as_deref().unwrap_or("-"),
        fault = out.fault.as_deref().unwrap_or("-"),
        "mimecast-sim request"
    );
    rec.finish(status, out.tenant, out.fault);
    // Every answer is dated by the server's clock (overriding hyper's own `Date`).
    let mut response = out.response;
    if let Ok(v) = HeaderValue::from_str(&crate::dates::format_imf_fixdate(inner.now())) {
        response.headers_mut().insert(header::DATE, v);
    }
    response
}

/// The real clock shifted by `offset_secs` (saturating at absurd offsets).
pub(crate) fn server_clock(offset_secs: i64) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.checked_add(time::Duration::seconds(offset_secs))
        .unwrap_or(now)
}

/// Completes a journal entry; if the request future is dropped first (client gone), marks the
/// entry 499.
struct Recorder<'a> {
    inner: &'a Inner,
    id: u64,
    finished: bool,
}

impl Recorder<'_> {
    /// Notes the tenant and fault as soon as they are known (before a `Delay`).
    fn note(&self, tenant: Option<usize>, fault: Option<&str>) {
        let name = self.inner.tenant_label(tenant);
        lock(&self.inner.journal).update(self.id, |r| {
            r.tenant = name;
            r.fault = fault.map(str::to_string);
        });
    }

    fn finish(&mut self, status: u16, tenant: Option<usize>, fault: Option<String>) {
        self.finished = true;
        let name = self.inner.tenant_label(tenant);
        lock(&self.inner.journal).update(self.id, |r| {
            r.status = status;
            r.tenant = name;
            r.fault = fault;
            r.answered = Some(Instant::now());
        });
    }
}

impl Drop for Recorder<'_> {
    fn drop(&mut self) {
        if !self.finished {
            lock(&self.inner.journal).update(self.id, |r| r.status = 499);
        }
    }
}

async fn process(inner: &Inner, req: &Req, rec: &Recorder<'_>) -> Outcome {
    let family = Family::of(&req.path);
    let style = family.style();
    let hint = inner.identify(family, req);
    let tenant_name = |t: Option<usize>| {
        t.and_then(|t| inner.tenants.get(t))
            .map(|t| t.cfg.name.clone())
    };
    let hint_name = tenant_name(hint);
    rec.note(hint, None);
    let target = routes::target(inner, family, req);

    // Auth-kind faults replace authentication.
    let auth_fault = lock(&inner.faults).pick(&req.path, hint_name.as_deref(), true, &target);
    if let Some(kind) = auth_fault {
        return Outcome {
            response: inner.fault_response(&kind, style, req),
            tenant: hint,
            fault: Some(kind.label()),
        };
    }

    let (tenant, via) = match inner.authenticate(family, req, hint) {
        Ok(a) => a,
        Err(e) => {
            return Outcome {
                response: error_response(style, &e),
                tenant: hint,
                fault: None,
            }
        }
    };
    let name = tenant_name(tenant);

    // Quota (docs/mimecast-api.md#rate-limits): refused requests are not executed.
    let mut quota = None;
    if matches!(family, Family::Api | Family::Siem | Family::Rest) {
        if let Some(n) = &name {
            let now = Instant::now();
            let mut checks = vec![lock(&inner.limiter).admit(n, inner.cfg.quota_per_minute, now)];
            // The SIEM listing's own quota, when configured, on top of the tenant's.
            if let (Some((limit, window)), true) = (
                inner.cfg.siem_listing_quota,
                req.path.starts_with("/siem/v1/batch/events/"),
            ) {
                if checks[0].allowed {
                    let key = format!("{n}#siem-listing");
                    checks.push(lock(&inner.limiter).admit_in(&key, limit, window, now));
                }
            }
            if let Some(refused) = checks.iter().find(|q| !q.allowed) {
                let mut r = error_response(style, &quota_error());
                add_rate_headers(&mut r, refused);
                return Outcome {
                    response: r,
                    tenant,
                    fault: None,
                };
            }
            quota = Some(checks[0]);
        }
    }

    let fault = lock(&inner.faults).pick(&req.path, name.as_deref(), false, &target);
    let label = fault.as_ref().map(FaultKind::label);
    rec.note(tenant, label.as_deref());
    let mut mangle = None;
    let mut handler_fault = None;
    match fault {
        Some(FaultKind::Delay(d)) => tokio::time::sleep(d).await,
        Some(k @ (FaultKind::Reset | FaultKind::TruncatedJson | FaultKind::MalformedJson)) => {
            mangle = Some(k)
        }
        Some(k) if k.is_handler() => handler_fault = Some(k),
        Some(k) => {
            return Outcome {
                response: inner.fault_response(&k, style, req),
                tenant,
                fault: label,
            }
        }
        None => {}
    }

    // API 2.0 products (docs/mimecast-api.md#api-20-products), then permissions (one table each,
    // permissions.rs).
    let tenant_cfg = tenant.and_then(|t| inner.tenants.get(t)).map(|t| &t.cfg);
    if let (Some(cfg), AuthVia::V2, Some(product)) =
        (tenant_cfg, via, permissions::product(&req.path))
    {
        if permissions::lacks_product(cfg.products.as_deref(), product) {
            return Outcome {
                response: error_response(style, &not_subscribed(product)),
                tenant,
                fault: label,
            };
        }
    }
    if let (Some(cfg), Some(perm)) = (tenant_cfg, permissions::required(&req.path)) {
        if permissions::lacks(&cfg.denied, cfg.granted.as_deref(), perm) {
            return Outcome {
                response: error_response(style, &forbidden(perm)),
                tenant,
                fault: label,
            };
        }
    }

    // Page tokens that outlived `page_token_ttl`.
    if let Some(e) = inner.stale_token(&target) {
        return Outcome {
            response: error_response(style, &e),
            tenant,
            fault: label,
        };
    }

    let ctx = Ctx {
        inner,
        req,
        tenant,
        via,
        family,
        fault: handler_fault,
        token: target.token,
    };
    let mut response = routes::dispatch(&ctx).unwrap_or_else(|e| error_response(style, &e));
    if let Some(q) = quota {
        if inner.cfg.rate_limit_headers_always {
            add_rate_headers(&mut response, &q);
        }
    }
    if let Some(k) = mangle {
        response = mangle_response(response, &k).await;
    }
    Outcome {
        response,
        tenant,
        fault: label,
    }
}

fn quota_error() -> ApiError {
    ApiError::new(429, "err_quota_exceeded", "Quota exceeded").retryable(true)
}

/// 403 naming the missing permission.
pub(crate) fn forbidden(perm: &str) -> ApiError {
    ApiError::new(
        403,
        "err_xdk_permission_denied",
        format!("The application or user lacks the permission '{perm}'"),
    )
}

/// 403 naming the API 2.0 product the application is not subscribed to
/// (docs/mimecast-api.md#api-20-products: products are fixed when the app is created).
pub(crate) fn not_subscribed(product: &str) -> ApiError {
    ApiError::new(
        403,
        "err_product_not_subscribed",
        format!("The application is not subscribed to the product '{product}'"),
    )
}

fn add_rate_headers(r: &mut Response<Body>, q: &Quota) {
    set_rate_headers(r, q.limit, q.remaining, q.reset_ms.to_string());
}

fn set_rate_headers(r: &mut Response<Body>, limit: u32, remaining: u32, reset: String) {
    let h = r.headers_mut();
    for (name, v) in [
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset", reset),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
}

impl Inner {
    pub(crate) fn tenant_label(&self, t: Option<usize>) -> Option<String> {
        t.and_then(|t| self.tenants.get(t))
            .map(|t| t.cfg.name.clone())
    }

    pub(crate) fn tenant_by_name(&self, name: &str) -> Option<usize> {
        self.tenants.iter().position(|t| t.cfg.name == name)
    }

    /// Attributes a request to a tenant before authenticating it (for fault matching and the
    /// journal). Never trusts the result for access.
    fn identify(&self, family: Family, req: &Req) -> Option<usize> {
        match family {
            Family::Api | Family::Siem | Family::Rest => {
                if let Some(tok) = req.bearer() {
                    return lock(&self.tokens).owner(tok);
                }
                let (ak, _) = auth_v1::parse_authorization(req.header("authorization")?)?;
                self.tenants
                    .iter()
                    .position(|t| t.cfg.v1.as_ref().is_some_and(|v| v.access_key == ak))
            }
            Family::OAuth => {
                let id = self
                    .oauth_params(req)
                    .into_iter()
                    .find(|(k, _)| k == "client_id")?
                    .1;
                self.tenants
                    .iter()
                    .position(|t| t.cfg.v2.as_ref().is_some_and(|v| v.client_id == id))
            }
            Family::Login => {
                let email = routes::login::basic_email(req.header("authorization")?)?;
                self.tenants.iter().position(|t| {
                    t.cfg
                        .login
                        .as_ref()
                        .is_some_and(|l| l.email.eq_ignore_ascii_case(&email))
                })
            }
            Family::Storage => crate::siem::storage_tenant(self, &req.path, req.query.as_deref()),
            Family::Unknown => None,
        }
    }

    /// Form body parameters of `/oauth/token`, plus query parameters (Elastic's mock).
    pub(crate) fn oauth_params(&self, req: &Req) -> Vec<(String, String)> {
        let mut p = parse_form(&String::from_utf8_lossy(&req.body));
        if let Some(q) = &req.query {
            p.extend(parse_form(q));
        }
        p
    }

    fn authenticate(
        &self,
        family: Family,
        req: &Req,
        hint: Option<usize>,
    ) -> Result<(Option<usize>, AuthVia), ApiError> {
        match family {
            Family::Api => {
                if let Some(tok) = req.bearer() {
                    if req.path == "/api/audit/get-siem-logs" {
                        // docs/mimecast-api.md#api-10-functions-on-the-20-gateway: not available on
                        // API 2.0.
                        return Err(ApiError::new(
                            404,
                            "err_resource_not_found",
                            "/api/audit/get-siem-logs is not available on API 2.0; use /siem/v1/batch/events/cg",
                        ));
                    }
                    let t = lock(&self.tokens)
                        .check(tok, Instant::now())
                        .map_err(|e| e.to_api_error())?;
                    return Ok((Some(t), AuthVia::V2));
                }
                let h = V1Headers {
                    authorization: req.header("authorization"),
                    date: req.header("x-mc-date"),
                    req_id: req.header("x-mc-req-id"),
                    app_id: req.header("x-mc-app-id"),
                };
                let v1_err = |e: auth_v1::V1Error| {
                    let (status, code, msg) = e.describe();
                    ApiError::new(status, code, msg)
                };
                auth_v1::access_key(&h).map_err(v1_err)?;
                let t = hint.ok_or_else(|| v1_err(auth_v1::V1Error::UnknownAccessKey))?;
                let creds = self
                    .tenants
                    .get(t)
                    .and_then(|t| t.cfg.v1.as_ref())
                    .ok_or_else(|| v1_err(auth_v1::V1Error::UnknownAccessKey))?;
                auth_v1::verify(creds, &h, &req.path, self.now(), self.cfg.max_clock_skew)
                    .map_err(v1_err)?;
                if lock(&self.expired_bindings).contains(&t) {
                    return Err(binding_expired());
                }
                Ok((Some(t), AuthVia::V1))
            }
            Family::Siem | Family::Rest => {
                let Some(tok) = req.bearer() else {
                    return Err(ApiError::new(
                        401,
                        "unauthorized",
                        "API 2.0 routes need 'Authorization: Bearer <token>' from /oauth/token",
                    ));
                };
                let t = lock(&self.tokens)
                    .check(tok, Instant::now())
                    .map_err(|e| e.to_api_error())?;
                Ok((Some(t), AuthVia::V2))
            }
            Family::OAuth => {
                let p = self.oauth_params(req);
                let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
                match get("grant_type") {
                    Some("client_credentials") => {}
                    Some(other) => {
                        return Err(ApiError::new(
                            400,
                            "unsupported_grant_type",
                            format!(
                                "grant_type {other:?} is not supported; use client_credentials"
                            ),
                        ))
                    }
                    None => {
                        return Err(ApiError::new(
                            400,
                            "invalid_request",
                            "grant_type=client_credentials is required",
                        ))
                    }
                }
                let (Some(id), Some(secret)) = (get("client_id"), get("client_secret")) else {
                    return Err(ApiError::new(
                        400,
                        "invalid_request",
                        "client_id and client_secret are required",
                    ));
                };
                let ok = hint
                    .and_then(|t| self.tenants.get(t))
                    .and_then(|t| t.cfg.v2.as_ref())
                    .is_some_and(|v| {
                        v.client_id == id && ct_eq(v.client_secret.as_bytes(), secret.as_bytes())
                    });
                if !ok {
                    return Err(ApiError::new(
                        401,
                        "invalid_client",
                        "Invalid client credentials",
                    ));
                }
                Ok((hint, AuthVia::V2))
            }
            Family::Login | Family::Storage | Family::Unknown => {
                Ok((hint, AuthVia::Unauthenticated))
            }
        }
    }

    /// The refusal of a page token older than `page_token_ttl`, if the request carries one.
    fn stale_token(&self, target: &Target) -> Option<ApiError> {
        let ttl = self.cfg.page_token_ttl?;
        let tok = target.token.as_deref()?;
        let issued = routes::token_issued_at(target.endpoint, tok)?;
        let age = self.now_ms().saturating_sub(issued);
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        (age > ttl_ms).then(|| {
            crate::pagination::invalid_page_token(format!(
                "The page token has expired (issued {age} ms ago; tokens are valid for {ttl_ms} ms)"
            ))
        })
    }

    /// The response of a fault that replaces the function.
    fn fault_response(&self, kind: &FaultKind, style: Style, req: &Req) -> Response<Body> {
        let path = req.path.as_str();
        let quota_limit = match self.cfg.quota_per_minute {
            0 => 600,
            q => q,
        };
        match kind {
            FaultKind::RateLimit { reset_ms } => {
                let mut r = error_response(style, &quota_error());
                if let Some(ms) = reset_ms {
                    set_rate_headers(&mut r, quota_limit, 0, ms.to_string());
                }
                r
            }
            FaultKind::RateLimitReset(form) => {
                let mut r = error_response(style, &quota_error());
                let now_ms = self.now_ms();
                let reset = match *form {
                    ResetForm::Seconds(n) => n.to_string(),
                    ResetForm::EpochSeconds(n) => (now_ms.div_euclid(1000) + n as i64).to_string(),
                    ResetForm::EpochMillis(n) => {
                        (now_ms + (n as i64).saturating_mul(1000)).to_string()
                    }
                };
                set_rate_headers(&mut r, quota_limit, 0, reset);
                r
            }
            FaultKind::NotAPage { code } => {
                // Whatever the route family, an API-gateway envelope with HTTP 200.
                let (_, ct, body) = ApiError::new(
                    200,
                    code.clone(),
                    format!("Simulated failure {code}; try again later"),
                )
                .retryable(true)
                .render(Style::Envelope);
                bytes_response(200, ct, body)
            }
            FaultKind::BadPageToken => error_response(
                style,
                &crate::pagination::invalid_page_token("The page token is not valid (simulated)"),
            ),
            FaultKind::Status(s) => error_response(
                style,
                &ApiError::new(
                    *s,
                    "err_internal_server_error",
                    format!("Simulated HTTP {s}"),
                )
                .retryable(true),
            ),
            FaultKind::Redirect(location) => {
                let mut r = bytes_response(307, "text/plain", b"Temporary Redirect".to_vec());
                if let Ok(v) = HeaderValue::from_str(location) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
            FaultKind::HtmlError(s) => {
                let reason = axum::http::StatusCode::from_u16(*s)
                    .ok()
                    .and_then(|c| c.canonical_reason())
                    .unwrap_or("Error");
                bytes_response(
                    *s,
                    "text/html",
                    format!(
                        "<html>\r\n<head><title>{s} {reason}</title></head>\r\n<body>\r\n<center><h1>{s} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
                    )
                    .into_bytes(),
                )
            }
            FaultKind::Fail { code, retryable } => {
                // `fail[].key` echoes the request item, as for real function failures.
                let key = serde_json::from_slice::<serde_json::Value>(&req.body)
                    .ok()
                    .and_then(|v| v["data"].get(0).cloned());
                let e = ApiError::new(200, code.clone(), format!("Simulated failure {code}"))
                    .retryable(*retryable)
                    .with_key(key);
                match style {
                    // SIEM routes have no fail[]; report through their error shape.
                    Style::Siem => error_response(
                        style,
                        &ApiError {
                            http: if *retryable { 503 } else { 400 },
                            ..e
                        },
                    ),
                    _ => error_response(style, &e),
                }
            }
            FaultKind::Forbidden => error_response(
                style,
                &forbidden(permissions::required(path).unwrap_or("the required permission")),
            ),
            FaultKind::KeysExpired => error_response(style, &binding_expired()),
            FaultKind::TokenExpired => {
                error_response(style, &crate::oauth::TokenError::Expired.to_api_error())
            }
            // Handled in the pipeline (they need the real response) or by the handler.
            FaultKind::Delay(_)
            | FaultKind::Reset
            | FaultKind::TruncatedJson
            | FaultKind::MalformedJson
            | FaultKind::SameToken
            | FaultKind::Overlap(_)
            | FaultKind::EmptyNext
            | FaultKind::BadUtf8
            | FaultKind::CorruptGzip
            | FaultKind::Reorder
            | FaultKind::NewFile
            | FaultKind::ForeignNextPage
            | FaultKind::WrongShape => error_response(
                style,
                &ApiError::new(500, "err_internal_server_error", "fault misrouted"),
            ),
        }
    }
}

/// docs/mimecast-api.md#key-expiry-and-binding-refresh: HTTP 418 "Binding Expired" with
/// `err_xdk_binding_expired`.
pub(crate) fn binding_expired() -> ApiError {
    ApiError::new(
        418,
        "err_xdk_binding_expired",
        "The access key binding has expired; log in again to refresh it",
    )
}

/// Constant-time byte comparison.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Applies a body-level fault to a real response.
async fn mangle_response(resp: Response<Body>, kind: &FaultKind) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let exact = body.size_hint().exact();
    match kind {
        FaultKind::MalformedJson => {
            let mut r = bytes_response(
                200,
                "application/json",
                b"<!-- upstream error -->{\"meta\":{\"status\":200},\"data\":[{]".to_vec(),
            );
            for (k, v) in parts.headers.iter() {
                if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                    r.headers_mut().insert(k.clone(), v.clone());
                }
            }
            r
        }
        FaultKind::TruncatedJson => {
            parts.headers.remove(header::CONTENT_LENGTH);
            let body = if exact.is_some() {
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                Body::from(bytes.slice(..bytes.len() / 2))
            } else {
                // A stream of unknown length: end it cleanly after the first chunk.
                Body::from_stream(body.into_data_stream().take(1))
            };
            Response::from_parts(parts, body)
        }
        FaultKind::Reset => {
            let broken =
                || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "simulated reset");
            let body = if exact.is_some() {
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                if let Ok(v) = HeaderValue::from_str(&bytes.len().to_string()) {
                    parts.headers.insert(header::CONTENT_LENGTH, v);
                }
                let half = bytes.slice(..bytes.len() / 2);
                Body::from_stream(futures_util::stream::iter(vec![
                    Ok::<Bytes, std::io::Error>(half),
                    Err(broken()),
                ]))
            } else {
                let first = body
                    .into_data_stream()
                    .take(1)
                    .map(|r| r.map_err(|e| std::io::Error::other(e.to_string())));
                Body::from_stream(first.chain(futures_util::stream::iter(vec![Err(broken())])))
            };
            Response::from_parts(parts, body)
        }
        _ => Response::from_parts(parts, body),
    }
}

/// Random-looking but seed-derived key for signing storage URLs.
pub(crate) fn url_key(seed: u64) -> [u8; 32] {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"mimecast-sim storage url key");
    h.update(seed.to_le_bytes());
    h.finalize().into()
}

/// Standard base64 (tests).
#[cfg(test)]
pub(crate) fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}
