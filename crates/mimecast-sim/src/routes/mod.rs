//! Endpoint handlers: one module per product area, all returning `Result<Response, ApiError>`.
//!
//! WHY: handlers only read the request and build the answer; auth, quota, faults, permissions
//! and recording are done once by `server.rs`, so no handler can forget them.

pub(crate) mod account;
pub(crate) mod archive;
pub(crate) mod directory;
pub(crate) mod login;
pub(crate) mod logs;
pub(crate) mod reported;
pub(crate) mod siem_mta;
pub(crate) mod threat_intel;
pub(crate) mod threats;

use axum::body::Body;
use axum::http::{Method, Response};
use serde_json::{json, Value};

use crate::data::{self, GenCtx, Timeline};
use crate::envelope::{self, ApiError};
use crate::faults::{Endpoint, Target};
use crate::pagination;
use crate::server::{Ctx, Family, Inner, Req, TenantState};

const ARCHIVE_SEARCH: &str = "/api/archive/search";
const THREAT_FEED: &str = "/api/ttp/threat-intel/get-feed";
const INTERNAL_USERS: &str = "/api/user/get-internal-users";
const SIEM_LOGS: &str = "/api/audit/get-siem-logs";

/// What fault rules need to know about a request: its endpoint, the page token it carries
/// (`meta.pagination.pageToken`, `data[0].token`, or the `nextPage` / `pageToken` query
/// parameter) and whether its answer's next page is a URI.
pub(crate) fn target(inner: &Inner, family: Family, req: &Req) -> Target {
    let endpoint = match family {
        Family::Siem if crate::siem::kind_of(&req.path).is_some() => Endpoint::SiemBatch,
        Family::Siem => Endpoint::SiemOther,
        Family::Rest if req.path == threats::EVENTS_PATH => Endpoint::Threats,
        Family::Rest if req.path == reported::PATH => Endpoint::ReportedEmails,
        Family::Rest if threats::details_id(&req.path).is_some() => Endpoint::ThreatDetails,
        Family::Storage => Endpoint::Storage,
        Family::Api => match req.path.as_str() {
            SIEM_LOGS => Endpoint::SiemMta,
            THREAT_FEED => Endpoint::ThreatFeed,
            ARCHIVE_SEARCH | INTERNAL_USERS => Endpoint::Paged,
            p if logs::spec_for(p).is_some() => Endpoint::Logs,
            _ => Endpoint::Other,
        },
        _ => Endpoint::Other,
    };
    let nonempty = |s: &str| {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_string())
    };
    let token = match endpoint {
        Endpoint::Logs | Endpoint::Paged => json_body(req)
            .ok()
            .and_then(|b| pagination::requested_token(&b)),
        Endpoint::SiemMta | Endpoint::ThreatFeed => json_body(req)
            .ok()
            .and_then(|b| b["data"][0]["token"].as_str().and_then(nonempty)),
        Endpoint::SiemBatch | Endpoint::Threats => {
            let name = if endpoint == Endpoint::Threats {
                "pageToken"
            } else {
                "nextPage"
            };
            crate::oauth::parse_form(req.query.as_deref().unwrap_or(""))
                .into_iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| nonempty(&v))
        }
        _ => None,
    };
    let next_is_uri = match endpoint {
        Endpoint::ReportedEmails => true,
        Endpoint::Threats => inner.cfg.rest_shape.next_is_uri(),
        _ => false,
    };
    Target {
        endpoint,
        token,
        next_is_uri,
    }
}

/// Issue time (epoch ms) of the page token of a request to `endpoint`, if it carries one.
pub(crate) fn token_issued_at(endpoint: Endpoint, token: &str) -> Option<i64> {
    match endpoint {
        Endpoint::SiemMta => siem_mta::issued_at(token),
        _ => pagination::issued_at(token),
    }
}

pub(crate) fn dispatch(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let path = ctx.req.path.as_str();
    match ctx.family {
        Family::OAuth => return oauth_token(ctx),
        Family::Login => return login::handle(ctx),
        Family::Siem => return crate::siem::batch(ctx),
        Family::Rest => return threats::dispatch(ctx),
        Family::Storage => return crate::siem::storage(ctx),
        Family::Unknown => {
            return Err(ApiError::new(
                404,
                "err_not_found",
                format!("No such resource: {path}"),
            ))
        }
        Family::Api => {}
    }
    if ctx.req.method != Method::POST {
        return Err(ApiError::new(
            405,
            "err_method_not_allowed",
            "Use POST for all API 1.0 endpoints",
        ));
    }
    let body = json_body(ctx.req)?;
    if let Some(spec) = logs::spec_for(path) {
        return logs::serve(ctx, &body, spec);
    }
    match path {
        "/api/account/get-account" => account::get_account(ctx),
        ARCHIVE_SEARCH => archive::search(ctx, &body),
        THREAT_FEED => threat_intel::get_feed(ctx, &body),
        "/api/domain/get-internal-domain" => directory::internal_domains(ctx, &body),
        INTERNAL_USERS => directory::internal_users(ctx, &body),
        SIEM_LOGS => siem_mta::get_siem_logs(ctx, &body),
        "/api/login/logout" => Ok(envelope::json_response(200, &envelope::success(vec![], None))),
        _ => Err(ApiError::new(
            404,
            "err_not_found",
            format!("{path} is not simulated (see the mimecast-sim crate docs for the served endpoints)"),
        )),
    }
}

/// `POST /oauth/token` (credentials were verified by the pipeline).
fn oauth_token(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    if ctx.req.method != Method::POST {
        return Err(ApiError::new(
            405,
            "method_not_allowed",
            "Use POST /oauth/token",
        ));
    }
    let t = ctx
        .tenant
        .ok_or_else(|| ApiError::new(401, "invalid_client", "Invalid client credentials"))?;
    let ttl = ctx.inner.cfg.token_ttl;
    let token = crate::server::lock(&ctx.inner.tokens).issue(t, ttl, std::time::Instant::now());
    Ok(envelope::json_response(
        200,
        &json!({"access_token": token, "token_type": "Bearer", "expires_in": ttl.as_secs(), "scope": ""}),
    ))
}

/// Parses the JSON body; an empty body counts as `{}`.
pub(crate) fn json_body(req: &Req) -> Result<Value, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(&req.body).map_err(|e| {
        ApiError::new(
            400,
            "err_request_malformed",
            format!("The request body is not valid JSON: {e}"),
        )
    })?;
    if !v.is_object() {
        return Err(ApiError::new(
            400,
            "err_request_malformed",
            "The request body must be a JSON object",
        ));
    }
    Ok(v)
}

/// `data[0]` of a request (`{}` when `data` is absent or empty). More than one item is refused:
/// the simulated endpoints all "must contain at most 1 item" (docs/mimecast-api.md#envelope).
pub(crate) fn first_item(body: &Value) -> Result<Value, ApiError> {
    match &body["data"] {
        Value::Null => Ok(json!({})),
        Value::Array(a) if a.is_empty() => Ok(json!({})),
        Value::Array(a) if a.len() == 1 => match &a[0] {
            Value::Object(_) => Ok(a[0].clone()),
            _ => Err(ApiError::validation(
                "err_validation_invalid_item",
                "data[0] must be an object",
            )),
        },
        Value::Array(_) => Err(ApiError::validation(
            "err_validation_too_many_items",
            "data must contain at most 1 item",
        )),
        _ => Err(ApiError::validation(
            "err_validation_invalid_data",
            "data must be an array",
        )),
    }
}

/// An optional date field of `item` in Mimecast body format.
pub(crate) fn date_field(item: &Value, key: &str) -> Result<Option<i64>, ApiError> {
    match &item[key] {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Err(ApiError::validation(
            "err_validation_blank",
            format!("{key} must not be blank"),
        )
        .with_key(Some(item.clone()))),
        Value::String(s) => crate::dates::parse_mc_date(s)
            .map(|t| Some(crate::dates::to_ms(t)))
            .map_err(|e| {
                ApiError::validation("err_validation_invalid_date", format!("{key}: {e}"))
                    .with_key(Some(item.clone()))
            }),
        other => Err(ApiError::validation(
            "err_validation_invalid_date",
            format!("{key} must be a date string like 2026-11-23T10:15:30+0000, got {other}"),
        )
        .with_key(Some(item.clone()))),
    }
}

/// An optional boolean field (also `"true"`/`"false"`).
pub(crate) fn bool_field(item: &Value, key: &str) -> Result<Option<bool>, ApiError> {
    match &item[key] {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        other => Err(ApiError::validation(
            "err_validation_invalid_boolean",
            format!("{key} must be true or false, got {other}"),
        )
        .with_key(Some(item.clone()))),
    }
}

/// An optional string field.
pub(crate) fn str_field<'a>(item: &'a Value, key: &str) -> Result<Option<&'a str>, ApiError> {
    match &item[key] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.as_str())),
        other => Err(ApiError::validation(
            "err_validation_invalid_string",
            format!("{key} must be a string, got {other}"),
        )
        .with_key(Some(item.clone()))),
    }
}

impl Inner {
    /// The timeline of a stream key (`siem_cg:receipt` etc.).
    pub(crate) fn timeline(&self, stream: &str) -> Timeline {
        Timeline::new(
            self.end,
            self.cfg.span,
            self.cfg.records_per_stream,
            data::resolution_ms(stream),
        )
    }

    pub(crate) fn gen_ctx<'a>(&'a self, t: &'a TenantState) -> GenCtx<'a> {
        GenCtx {
            seed: self.cfg.seed,
            tenant: &t.info,
            n: self.cfg.records_per_stream,
            mta_per_file: self.cfg.siem_mta_records_per_file.max(1),
        }
    }

    /// Record `i` of `stream` for tenant `t`.
    pub(crate) fn record(&self, t: &TenantState, stream: &str, i: u64) -> Value {
        let tl = self.timeline(stream);
        data::record(stream, &self.gen_ctx(t), i, tl.time_ms(i)).unwrap_or(Value::Null)
    }

    /// The server's clock: the real one shifted by `clock_offset_secs`.
    pub(crate) fn now(&self) -> time::OffsetDateTime {
        crate::server::server_clock(self.cfg.clock_offset_secs)
    }

    pub(crate) fn now_ms(&self) -> i64 {
        crate::dates::to_ms(self.now())
    }

    /// Index range of the records of `tl` with `from_ms <= t < to_ms` that exist yet (time <=
    /// the server's now): a server does not serve records from its future.
    pub(crate) fn visible_window(&self, tl: &Timeline, from_ms: i64, to_ms: i64) -> (u64, u64) {
        tl.window(from_ms, to_ms.min(self.now_ms().saturating_add(1)))
    }

    /// How many of the first records of `tl` exist yet (time <= the server's now).
    pub(crate) fn visible_count(&self, tl: &Timeline) -> u64 {
        tl.first_at_or_after(self.now_ms().saturating_add(1))
    }

    /// Issue time to embed in new page tokens: only when tokens expire.
    pub(crate) fn token_stamp(&self) -> Option<i64> {
        self.cfg.page_token_ttl.map(|_| self.now_ms())
    }
}
