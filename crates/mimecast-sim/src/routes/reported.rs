//! `GET /threat-reporting/v1/reported-emails` (user-reported emails,
//! docs/mimecast-api.md#reported-emails).
//!
//! Parameters (docs/mimecast-api.md#reported-emails): `dateRangeStartsAt` (default one week before
//! now), `dateRangeEndsAt` (default now, exclusive), both ISO-8601 with a zone; `pageSize` ∈ {25,
//! 50, 100, 250, 500} (default 50); `offset` = page index from 0. Sorted by `lastReportedDate`
//! descending; the window filters on it. `meta.nextPage` is a **full URI**: this route's own, on
//! the request's `Host`, with the same query and `offset + 1` (plus the resolved window bounds when
//! the request left them to their defaults, so a walk keeps its window).

use axum::body::Body;
use axum::http::Response;
use serde_json::{json, Map, Value};

use super::threats::{bad, origin, own_origin, time_param, wrong_shape_body, Query};
use crate::data::reported_emails::THREAT_REPORTS_PREFIX;
use crate::dates;
use crate::envelope::{self, ApiError};
use crate::faults::FaultKind;
use crate::server::Ctx;

pub(crate) const PATH: &str = "/threat-reporting/v1/reported-emails";
const STREAM: &str = "reported_emails";
const PAGE_SIZES: &[u64] = &[25, 50, 100, 250, 500];
const WEEK_MS: i64 = 7 * 86_400_000;

/// Makes `threatReports` absolute on `origin` (the generator gives a path).
pub(crate) fn absolutise(mut item: Value, origin: &str) -> Value {
    if let Some(p) = item["threatReports"].as_str() {
        if p.starts_with(THREAT_REPORTS_PREFIX) {
            item["threatReports"] = json!(format!("{origin}{p}"));
        }
    }
    item
}

pub(crate) fn list(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let tenant = ctx.tenant()?;
    let inner = ctx.inner;
    let q = Query::of(ctx.req);
    let size = match q.get("pageSize") {
        None => 50,
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| PAGE_SIZES.contains(n))
            .ok_or_else(|| {
                bad(
                    "invalid_page_size",
                    format!("pageSize must be one of {PAGE_SIZES:?}, got {s:?}"),
                )
            })?,
    };
    let offset = match q.get("offset") {
        None => 0,
        Some(s) => s.parse::<u64>().map_err(|_| {
            bad(
                "invalid_offset",
                format!("offset must be a page index from 0, got {s:?}"),
            )
        })?,
    };
    let now = inner.now_ms();
    let end = time_param(&q, "dateRangeEndsAt")?.unwrap_or(now);
    let start = time_param(&q, "dateRangeStartsAt")?.unwrap_or(end.min(now) - WEEK_MS);
    if start > end {
        return Err(bad(
            "invalid_date_range",
            "dateRangeStartsAt is after dateRangeEndsAt",
        ));
    }
    let tl = inner.timeline(STREAM);
    let (lo, hi) = inner.visible_window(&tl, start, end);
    let total = hi - lo;
    let from = offset.saturating_mul(size).min(total);
    let to = from.saturating_add(size).min(total);
    let own = own_origin(ctx);
    let items: Vec<Value> = (from..to)
        .map(|k| absolutise(inner.record(tenant, STREAM, hi - 1 - k), &own))
        .collect();
    let mut meta = Map::new();
    if to < total {
        let mut over = vec![("offset", (offset + 1).to_string())];
        if q.get("dateRangeStartsAt").is_none() {
            over.push((
                "dateRangeStartsAt",
                dates::format_iso_ms(dates::from_ms(start)),
            ));
        }
        if q.get("dateRangeEndsAt").is_none() {
            over.push(("dateRangeEndsAt", dates::format_iso_ms(dates::from_ms(end))));
        }
        meta.insert(
            "nextPage".into(),
            json!(format!("{}{PATH}?{}", origin(ctx), q.with(&over))),
        );
    }
    if matches!(ctx.fault, Some(FaultKind::WrongShape)) {
        let next = meta
            .remove("nextPage")
            .and_then(|n| n.as_str().map(str::to_string));
        return Ok(envelope::json_response(200, &wrong_shape_body(items, next)));
    }
    Ok(envelope::json_response(
        200,
        &json!({"value": items, "meta": meta}),
    ))
}
