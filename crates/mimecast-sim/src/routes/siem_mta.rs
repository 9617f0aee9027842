//! `/api/audit/get-siem-logs` (API 1.0 only, docs/mimecast-api.md#siem-mta-log-files-api-10): one
//! file per request.
//!
//! WHY: the collector loops "download file, store `mc-siem-token`, repeat until the answer is
//! JSON". Each answer is a zip (`compress: true`, the default here) of JSON lines, with the type
//! and date in `Content-Disposition` and the next token in `mc-siem-token`.

use std::io::Write as _;

use axum::body::Body;
use axum::http::{HeaderValue, Response};
use base64::Engine as _;
use serde_json::Value;

use super::{bool_field, first_item, str_field};
use crate::data::siem_mta;
use crate::dates;
use crate::envelope::{self, ApiError};
use crate::faults::FaultKind;
use crate::server::{AuthVia, Ctx};

/// `mta:<file>`, or `mta:<file>:<issue time, epoch ms>` when tokens expire; base64url.
fn encode_token(file: u64, iat: Option<i64>) -> String {
    let raw = match iat {
        None => format!("mta:{file}"),
        Some(t) => format!("mta:{file}:{t}"),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// (file, issue time) of a token.
fn parse_token(tok: &str) -> Option<(u64, Option<i64>)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tok.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let mut it = raw.strip_prefix("mta:")?.splitn(2, ':');
    let file = it.next()?.parse().ok()?;
    let iat = match it.next() {
        None => None,
        Some(t) => Some(t.parse().ok()?),
    };
    Some((file, iat))
}

fn decode_token(tok: &str) -> Option<u64> {
    parse_token(tok).map(|(f, _)| f)
}

/// Issue time of a get-siem-logs token, if it carries one.
pub(crate) fn issued_at(tok: &str) -> Option<i64> {
    parse_token(tok)?.1
}

/// `key=value|key=value` rendering for `fileFormat: key_value` (format UNCONFIRMED).
fn key_value_line(v: &Value) -> String {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    Value::Null => format!("{k}="),
                    other => format!("{k}={other}"),
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .unwrap_or_default()
}

pub(crate) fn get_siem_logs(ctx: &Ctx<'_>, body: &Value) -> Result<Response<Body>, ApiError> {
    let tenant = ctx.tenant()?;
    if ctx.via != AuthVia::V1 {
        // docs/mimecast-api.md#api-10-functions-on-the-20-gateway: not available on API 2.0 (the
        // pipeline already refuses bearers).
        return Err(ApiError::new(
            404,
            "err_resource_not_found",
            "get-siem-logs is API 1.0 only",
        ));
    }
    let item = first_item(body)?;
    let ty = str_field(&item, "type")?.unwrap_or("MTA");
    if !ty.eq_ignore_ascii_case("MTA") {
        return Err(
            ApiError::validation("err_validation_invalid_type", "type must be MTA")
                .with_key(Some(item.clone())),
        );
    }
    let format = str_field(&item, "fileFormat")?
        .unwrap_or("json")
        .to_ascii_lowercase();
    if format != "json" && format != "key_value" {
        return Err(ApiError::validation(
            "err_validation_invalid_file_format",
            "fileFormat must be json or key_value",
        )
        .with_key(Some(item.clone())));
    }
    let compress = bool_field(&item, "compress")?.unwrap_or(true);
    let token = str_field(&item, "token")?.filter(|t| !t.trim().is_empty());
    let file = match token {
        None => 0,
        Some(t) => decode_token(t).ok_or_else(|| {
            ApiError::validation("err_audit_siem_invalid_token", "The SIEM token is invalid")
                .with_key(Some(item.clone()))
        })?,
    };
    let n = ctx.inner.cfg.records_per_stream;
    let per_file = ctx.inner.cfg.siem_mta_records_per_file.max(1);
    let tl = ctx.inner.timeline("siem_mta");
    // A file is published once all its records exist (time <= the server's now).
    let visible = ctx.inner.visible_count(&tl);
    let files = if visible >= n {
        n.div_ceil(per_file)
    } else {
        visible / per_file
    };
    let stamp = ctx.inner.token_stamp();
    // `same-token`: the response token is the request's own, so the same file comes next.
    let same = match (&ctx.fault, &ctx.token) {
        (Some(FaultKind::SameToken), Some(t)) => Some(t.clone()),
        _ => None,
    };
    if file >= files {
        // Caught up: a JSON answer (the documented "end" signal), token unchanged (re-stamped
        // when tokens expire).
        let mut r = envelope::json_response(200, &envelope::success(vec![], None));
        let tok = same.unwrap_or_else(|| encode_token(file, stamp));
        if let Ok(v) = HeaderValue::from_str(&tok) {
            r.headers_mut().insert("mc-siem-token", v);
        }
        return Ok(r);
    }
    let lo = file * per_file;
    let hi = (lo + per_file).min(n);
    let kind = siem_mta::type_of(lo, per_file);
    let name = format!(
        "{kind}_{}.json",
        dates::format_file_stamp(dates::from_ms(tl.time_ms(lo)))
    );
    let mut lines = Vec::new();
    for i in lo..hi {
        let rec = ctx.inner.record(tenant, "siem_mta", i);
        if format == "json" {
            serde_json::to_writer(&mut lines, &rec).unwrap_or_default();
        } else {
            lines.extend_from_slice(key_value_line(&rec).as_bytes());
        }
        lines.push(b'\n');
    }
    let body = if compress {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let zipped = zip
            .start_file(name.clone(), opts)
            .map_err(|e| e.to_string())
            .and_then(|_| zip.write_all(&lines).map_err(|e| e.to_string()))
            .and_then(|_| zip.finish().map_err(|e| e.to_string()));
        match zipped {
            Ok(c) => c.into_inner(),
            Err(e) => {
                return Err(ApiError::new(
                    500,
                    "err_internal_server_error",
                    format!("zip: {e}"),
                ))
            }
        }
    } else {
        lines
    };
    let mut r = envelope::bytes_response(200, "application/octet-stream", body);
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert("content-disposition", v);
    }
    let tok = same.unwrap_or_else(|| encode_token(file + 1, stamp));
    if let Ok(v) = HeaderValue::from_str(&tok) {
        h.insert("mc-siem-token", v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        assert_eq!(decode_token(&encode_token(17, None)), Some(17));
        assert_eq!(decode_token(&encode_token(17, Some(5))), Some(17));
        assert_eq!(issued_at(&encode_token(17, Some(5))), Some(5));
        assert_eq!(issued_at(&encode_token(17, None)), None);
        assert_eq!(decode_token("garbage!"), None);
    }
}
