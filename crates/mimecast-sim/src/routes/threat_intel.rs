//! `/api/ttp/threat-intel/get-feed` (docs/mimecast-api.md#threat-intel-feed): a STIX bundle (or
//! CSV), paged by the `x-mc-threat-feed-next-token` header.
//!
//! WHY custom: the body is the feed file itself, not the envelope; paging is by header token,
//! and a request with nothing left answers `fail` `err_threat_intel_feed_no_result_found`.
//! Every successful answer carries a next token (pointing past what was served), so a client
//! that loops "until no result" and one that stops on a short page both terminate.

use axum::body::Body;
use axum::http::{HeaderValue, Response};
use serde_json::{json, Value};

use super::{date_field, first_item, str_field};
use crate::data::{rng::Rng, threat_intel::FEEDS};
use crate::dates;
use crate::envelope::{self, ApiError};
use crate::faults::FaultKind;
use crate::pagination::{self, Cursor};
use crate::server::Ctx;

pub(crate) fn get_feed(ctx: &Ctx<'_>, body: &Value) -> Result<Response<Body>, ApiError> {
    let tenant = ctx.tenant()?;
    let item = first_item(body)?;
    let feed = str_field(&item, "feedType")?.unwrap_or("malware_customer");
    if !FEEDS.contains(&feed) {
        return Err(ApiError::validation(
            "err_validation_invalid_feed_type",
            format!("feedType must be one of {FEEDS:?}"),
        )
        .with_key(Some(item.clone())));
    }
    let file_type = str_field(&item, "fileType")?
        .unwrap_or("csv")
        .to_ascii_lowercase();
    if file_type != "csv" && file_type != "stix" {
        return Err(ApiError::validation(
            "err_validation_invalid_file_type",
            "fileType must be csv or stix",
        )
        .with_key(Some(item.clone())));
    }
    let stream = format!("threat_intel:{feed}");
    let tl = ctx.inner.timeline(&stream);
    let token = str_field(&item, "token")?.filter(|s| !s.is_empty());
    let cursor = match token {
        Some(tok) => Cursor::decode(tok, &stream).map_err(|e| e.with_key(Some(item.clone())))?,
        None => {
            let now = ctx.inner.now_ms();
            let end = date_field(&item, "end")?.unwrap_or(now);
            let start = date_field(&item, "start")?.unwrap_or(end - 7 * 86_400_000);
            let (lo, hi) = ctx.inner.visible_window(&tl, start, end.max(start));
            Cursor::new(&stream, lo, hi, true)
        }
    };
    let n = ctx.inner.cfg.records_per_stream;
    let cursor = Cursor {
        lo: cursor.lo.min(n),
        hi: cursor.hi.min(n),
        iat: ctx.inner.token_stamp(),
        ..cursor
    };
    let size = pagination::requested_page_size(body)?
        .or((cursor.ps > 0).then_some(cursor.ps))
        .unwrap_or(u64::from(ctx.inner.cfg.default_page_size));
    let page = pagination::page(&cursor, size);
    if page.indices.is_empty() {
        return Err(ApiError::validation(
            "err_threat_intel_feed_no_result_found",
            "No results found for the requested threat feed",
        )
        .with_key(Some(item.clone())));
    }
    let gctx = ctx.inner.gen_ctx(tenant);
    let objects: Vec<Value> = page
        .indices
        .iter()
        .flat_map(
            |i| match crate::data::record(&stream, &gctx, *i, tl.time_ms(*i)) {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            },
        )
        .collect();
    let next = page.next.clone().unwrap_or(Cursor {
        off: cursor.total(),
        ps: size,
        ..cursor.clone()
    });
    let first = page.indices.first().copied().unwrap_or(0);
    let stamp = dates::format_file_stamp(dates::from_ms(tl.time_ms(first)));
    let (bytes, ctype, ext) = if file_type == "stix" {
        let mut r = Rng::for_record(
            ctx.inner.cfg.seed,
            &tenant.info.name,
            "threat_intel:bundle",
            first,
        );
        let bundle = json!({"type": "bundle", "id": format!("bundle--{}", r.uuid()), "spec_version": "2.0", "objects": objects});
        (
            serde_json::to_vec(&bundle).unwrap_or_default(),
            "application/json",
            "json",
        )
    } else {
        let mut csv = String::from("type,id,created,name,sha256\n");
        for o in objects.iter().filter(|o| o["type"] == "indicator") {
            let pattern = o["pattern"].as_str().unwrap_or_default();
            let sha = pattern.split('\'').nth(3).unwrap_or_default();
            csv.push_str(&format!(
                "indicator,{},{},,{sha}\n",
                o["id"].as_str().unwrap_or_default(),
                o["created"].as_str().unwrap_or_default()
            ));
        }
        (csv.into_bytes(), "text/csv", "csv")
    };
    let mut r = envelope::bytes_response(200, ctype, bytes);
    let h = r.headers_mut();
    // `same-token`: the request's own token again.
    let next = match (&ctx.fault, &ctx.token) {
        (Some(FaultKind::SameToken), Some(t)) => t.clone(),
        _ => next.encode(),
    };
    if let Ok(v) = HeaderValue::from_str(&next) {
        h.insert("x-mc-threat-feed-next-token", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{feed}_{file_type}_{stamp}.{ext}\""
    )) {
        h.insert("content-disposition", v);
    }
    Ok(r)
}
