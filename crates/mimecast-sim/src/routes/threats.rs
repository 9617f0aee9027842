//! API 2.0 REST routes of "Threats, Security Events and Data for CG" outside `/siem`
//! (docs/mimecast-api.md#threats-api): `GET /threats/v1/events`, `GET
//! /threats/v1/events/{id}/details`, and the dispatch to `GET /threat-reporting/v1/reported-emails`
//! ([`super::reported`]).
//!
//! WHY: Synqly-style tenants hold only the "Threat and security statistics" permission
//! (docs/mimecast-api.md#threats-api), so a collector reads threats here instead of the SIEM batch.
//! The response shape of the list is UNCONFIRMED (docs/mimecast-api.md#threats-api), so
//! [`crate::SimConfig::rest_shape`] makes it vary the way a client must tolerate. Errors use the
//! API 2.0 `{"error":{"code","message"}}` shape with HTTP 400/404.
//!
//! Paging: `pageToken` is an opaque [`Cursor`] (stream `threats`) carrying the window, order,
//! position, page size and what is left of the walk's `limit` (in [`Cursor::x`], decimal), so a
//! token alone continues a walk; tokens go through the common machinery (`page_token_ttl`,
//! `bad-page-token`, `same-token`, `overlap`, `empty-next`).
//!
//! `limit` (docs/mimecast-api.md#threats-api, from third-party code: 1–1000, default 5)
//! is the most events one query returns in all, across all its pages: the first request sets it
//! (1..=1000, default **5**; anything else is 400 `invalid_limit`), each page spends what it
//! returns, and the page that reaches it is cut to it and has no next page. WHY model it: a client
//! that does not send a large `limit` silently gets only the first 5 events of its window, with no
//! sign that more exist; the simulator must make that mistake visible. On a continuation
//! (`pageToken`), a `limit` parameter is still checked (a URI next page repeats the first query's)
//! but the token's remainder rules; a token without a valid remainder is an invalid page token.

use axum::body::Body;
use axum::http::{Method, Response};
use serde_json::{json, Map, Value};

use crate::config::{RestNext, RestShape};
use crate::data::threats;
use crate::dates;
use crate::envelope::{self, ApiError};
use crate::faults::FaultKind;
use crate::oauth::parse_form;
use crate::pagination::{self, Cursor};
use crate::server::{Ctx, Req};

pub(crate) const EVENTS_PATH: &str = "/threats/v1/events";
const STREAM: &str = "threats";
/// Largest (and default) `pageSize` of the threat routes (docs/mimecast-api.md#threats-api: 1 ≤
/// value ≤ 100).
const MAX_PAGE: u64 = 100;
/// Largest `limit` of `GET /threats/v1/events` (docs/mimecast-api.md#threats-api: 1 ≤ value ≤
/// 1000).
const MAX_LIMIT: u64 = 1000;
/// `limit` of `GET /threats/v1/events` when the first request names none
/// (docs/mimecast-api.md#threats-api: default 5).
const DEFAULT_LIMIT: u64 = 5;
/// Host of the `foreign-next-page` fault's URIs.
pub(crate) const FOREIGN_ORIGIN: &str = "https://attacker.example";

/// The query parameters of a request (first occurrence wins; blank values count as absent).
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub fn of(req: &Req) -> Query {
        Query(parse_form(req.query.as_deref().unwrap_or("")))
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The query re-encoded with `overrides` replacing (or adding) parameters.
    pub fn with(&self, overrides: &[(&str, String)]) -> String {
        let mut pairs: Vec<(String, String)> = self
            .0
            .iter()
            .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
            .cloned()
            .collect();
        pairs.extend(overrides.iter().map(|(k, v)| (k.to_string(), v.clone())));
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn bad(code: &str, msg: impl Into<String>) -> ApiError {
    ApiError::new(400, code, msg)
}

/// `scheme://host` of absolute URIs in answers: the request's own `Host` (the simulator speaks
/// plain HTTP), or another host under the `foreign-next-page` fault.
pub(crate) fn origin(ctx: &Ctx<'_>) -> String {
    if matches!(ctx.fault, Some(FaultKind::ForeignNextPage)) {
        return FOREIGN_ORIGIN.to_string();
    }
    own_origin(ctx)
}

/// `http://<Host header>` (the base URL when there is none).
pub(crate) fn own_origin(ctx: &Ctx<'_>) -> String {
    match ctx
        .req
        .header("host")
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        Some(h) => format!("http://{h}"),
        None => ctx.inner.base_url.clone(),
    }
}

/// An ISO-8601 zoned timestamp parameter, in epoch ms.
pub(crate) fn time_param(q: &Query, name: &str) -> Result<Option<i64>, ApiError> {
    q.get(name)
        .map(|s| {
            dates::parse_iso_zoned(s)
                .map(dates::to_ms)
                .map_err(|e| bad("invalid_date", format!("{name}: {e}")))
        })
        .transpose()
}

/// `pageSize` in 1..=100.
fn page_size(q: &Query) -> Result<Option<u64>, ApiError> {
    q.get("pageSize")
        .map(|s| match s.parse::<u64>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(bad(
                "invalid_page_size",
                format!("pageSize must be an integer from 1 to {MAX_PAGE}, got {s:?}"),
            )),
        })
        .transpose()
}

/// `limit` in 1..=1000.
fn limit(q: &Query) -> Result<Option<u64>, ApiError> {
    q.get("limit")
        .map(|s| match s.parse::<u64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(bad(
                "invalid_limit",
                format!("limit must be an integer from 1 to {MAX_LIMIT}, got {s:?}"),
            )),
        })
        .transpose()
}

/// What is left of a walk's `limit`, as a token carries it ([`Cursor::x`]).
fn limit_left(c: &Cursor) -> Option<u64> {
    c.x.as_deref()
        .and_then(|x| x.parse::<u64>().ok())
        .filter(|n| (1..=MAX_LIMIT).contains(n))
}

pub(crate) fn dispatch(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let path = ctx.req.path.as_str();
    if ctx.req.method != Method::GET {
        return Err(ApiError::new(405, "method_not_allowed", "Use GET"));
    }
    if path == EVENTS_PATH {
        return events(ctx);
    }
    if path == super::reported::PATH {
        return super::reported::list(ctx);
    }
    if let Some(id) = details_id(path) {
        return details(ctx, id);
    }
    Err(ApiError::new(
        404,
        "not_found",
        format!(
            "{path} is not simulated (see the mimecast-sim crate docs for the served endpoints)"
        ),
    ))
}

/// The `{id}` of a `/threats/v1/events/{id}/details` path.
pub(crate) fn details_id(path: &str) -> Option<&str> {
    path.strip_prefix("/threats/v1/events/")
        .and_then(|r| r.strip_suffix("/details"))
}

/// The `wrong-shape` body of the REST routes: `{"results":[…],"next":"…"}` (`next` only when
/// there is a next page).
pub(crate) fn wrong_shape_body(records: Vec<Value>, next: Option<String>) -> Value {
    let mut o = Map::new();
    o.insert("results".into(), Value::Array(records));
    if let Some(n) = next {
        o.insert("next".into(), json!(n));
    }
    Value::Object(o)
}

/// `GET /threats/v1/events`.
fn events(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let tenant = ctx.tenant()?;
    let inner = ctx.inner;
    let q = Query::of(ctx.req);
    let size = page_size(&q)?;
    let limit = limit(&q)?;
    let asc = match q.get("orderBy") {
        None => None,
        Some(o) if o.eq_ignore_ascii_case("timestamp:desc") => Some(false),
        Some(o) if o.eq_ignore_ascii_case("timestamp:asc") => Some(true),
        Some(o) => {
            return Err(bad(
                "invalid_order_by",
                format!("orderBy must be timestamp:asc or timestamp:desc, got {o:?}"),
            ))
        }
    };
    let invalid_token = || pagination::invalid_page_token("pageToken is not a valid page token");
    let (cursor, left) = match q.get("pageToken") {
        Some(tok) => {
            let c = Cursor::decode(tok, STREAM).map_err(|_| invalid_token())?;
            let left = limit_left(&c).ok_or_else(invalid_token)?;
            (c, left)
        }
        None => {
            let start = time_param(&q, "timestampRangeStartsAt")?.ok_or_else(|| {
                bad(
                    "missing_timestamp_range_starts_at",
                    "timestampRangeStartsAt is required (ISO-8601 with a time zone)",
                )
            })?;
            let end = time_param(&q, "timestampRangeEndsAt")?.unwrap_or_else(|| inner.now_ms());
            if start > end {
                return Err(bad(
                    "invalid_date_range",
                    "timestampRangeStartsAt is after timestampRangeEndsAt",
                ));
            }
            let tl = inner.timeline(STREAM);
            let (lo, hi) = inner.visible_window(&tl, start, end);
            let left = limit.unwrap_or(DEFAULT_LIMIT);
            (Cursor::new(STREAM, lo, hi, asc.unwrap_or(false)), left)
        }
    };
    // A forged token cannot reach past the backlog.
    let n = inner.cfg.records_per_stream;
    let mut c = Cursor {
        lo: cursor.lo.min(n),
        hi: cursor.hi.min(n),
        iat: inner.token_stamp(),
        d: 0,
        x: Some(left.to_string()),
        ..cursor.clone()
    };
    if let Some(FaultKind::Overlap(k)) = ctx.fault {
        c.off = c.off.saturating_sub(k);
    }
    let size = size
        .or((c.ps > 0).then_some(c.ps))
        .unwrap_or(MAX_PAGE)
        .clamp(1, MAX_PAGE);
    let mut page = pagination::page(&c, size);
    // `limit`: the page that reaches it is cut to it and ends the walk; otherwise the next
    // token carries what is left.
    let served = page.indices.len() as u64;
    if served >= left {
        page.indices.truncate(left as usize);
        page.next = None;
    } else if let Some(n) = page.next.as_mut() {
        n.x = Some((left - served).to_string());
    }
    if let Some(FaultKind::EmptyNext) = ctx.fault {
        page.indices.clear();
        page.next = Some(Cursor {
            off: c.off.min(c.total()),
            ps: size,
            d: cursor.d.saturating_add(1),
            ..c
        });
    }
    let next_token = match (&ctx.fault, q.get("pageToken")) {
        (Some(FaultKind::SameToken), Some(t)) => Some(t.to_string()),
        _ => page.next.as_ref().map(Cursor::encode),
    };
    let shape = inner.cfg.rest_shape;
    let next = next_token.map(|t| {
        if shape.next_is_uri() {
            format!(
                "{}{EVENTS_PATH}?{}",
                origin(ctx),
                q.with(&[("pageToken", t)])
            )
        } else {
            t
        }
    });
    let records: Vec<Value> = page
        .indices
        .iter()
        .map(|i| inner.record(tenant, STREAM, *i))
        .collect();
    let body = if matches!(ctx.fault, Some(FaultKind::WrongShape)) {
        wrong_shape_body(records, next)
    } else {
        list_body(shape, records, next)
    };
    Ok(envelope::json_response(200, &body))
}

/// The list body in the configured shape ([`RestShape`]).
fn list_body(shape: RestShape, records: Vec<Value>, next: Option<String>) -> Value {
    let mut o = Map::new();
    o.insert(shape.items_key().to_string(), Value::Array(records));
    match shape {
        RestShape::Documented => {
            if let Some(n) = next {
                o.insert("@nextPage".into(), json!(n));
            }
        }
        RestShape::Unrecognisable => {
            if let Some(n) = next {
                o.insert("continuation".into(), json!(n));
            }
        }
        RestShape::Shaped { next: at, .. } => match at {
            RestNext::AtNextPage => {
                if let Some(n) = next {
                    o.insert("@nextPage".into(), json!(n));
                }
            }
            RestNext::MetaNextPage => {
                let mut m = Map::new();
                if let Some(n) = next {
                    m.insert("nextPage".into(), json!(n));
                }
                o.insert("meta".into(), Value::Object(m));
            }
            RestNext::MetaPaginationNext => {
                let mut p = Map::new();
                if let Some(n) = next {
                    p.insert("next".into(), json!(n));
                }
                o.insert("meta".into(), json!({ "pagination": p }));
            }
        },
    }
    Value::Object(o)
}

/// `GET /threats/v1/events/{id}/details?source=EMAIL&pageSize=N`.
fn details(ctx: &Ctx<'_>, id: &str) -> Result<Response<Body>, ApiError> {
    let tenant = ctx.tenant()?;
    let inner = ctx.inner;
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(bad(
            "invalid_id",
            format!("id must match ^[A-Za-z0-9_-]+$, got {id:?}"),
        ));
    }
    let q = Query::of(ctx.req);
    match q.get("source") {
        None => return Err(bad("missing_source", "source is required (EMAIL)")),
        Some(s) if s.eq_ignore_ascii_case("EMAIL") => {}
        Some(s) => {
            return Err(bad(
                "invalid_source",
                format!("source must be EMAIL, got {s:?}"),
            ))
        }
    }
    let size = page_size(&q)?.ok_or_else(|| {
        bad(
            "missing_page_size",
            format!("pageSize is required (1 to {MAX_PAGE})"),
        )
    })?;
    let not_found = || ApiError::new(404, "not_found", format!("No threat with id {id:?}"));
    let i = threats::index_of(id)
        .filter(|i| *i < inner.cfg.records_per_stream)
        .ok_or_else(not_found)?;
    let tl = inner.timeline(STREAM);
    let t_ms = tl.time_ms(i);
    let seed = inner.cfg.seed;
    if t_ms > inner.now_ms() || threats::record(seed, &tenant.info, i, t_ms)["id"] != id {
        return Err(not_found());
    }
    let d = threats::detail(seed, &tenant.info, i, t_ms, size as usize);
    let body = match inner.cfg.rest_shape {
        _ if matches!(ctx.fault, Some(FaultKind::WrongShape)) => wrong_shape_body(vec![d], None),
        RestShape::Shaped {
            bare_detail: true, ..
        } => d,
        shape => json!({ shape.items_key(): [d] }),
    };
    Ok(envelope::json_response(200, &body))
}
