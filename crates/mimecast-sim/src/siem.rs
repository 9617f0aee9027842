//! API 2.0 SIEM batch (`GET /siem/v1/batch/events/cg`,
//! docs/mimecast-api.md#siem-batch-cloud-gateway, and its Cloud Integrated twin `GET
//! /siem/v1/batch/events/ci`, docs/mimecast-api.md#siem-batch-cloud-integrated) and the pre-signed
//! file storage they point to.
//!
//! The two routes differ only in their event types and record generator ([`BatchKind`]);
//! parameters, paging, `isCaughtUp`, file URLs, gzip, expiry and faults are the same code. A
//! cursor or file of one route is not valid on the other.
//!
//! WHY: batch pages list files; each file URL works without auth until it expires (403 after,
//! like S3) and serves gzip NDJSON. Files can be far larger than memory in tests, so a file is
//! generated and compressed as a stream in bounded chunks, and the URL itself (HMAC-signed)
//! carries everything needed to regenerate it.
//!
//! URL shape: `/storage/<file id>/file.json.gz?expires=<epoch ms>&signature=<hmac>`. The path
//! names the file only (tenant, event type, record range), so it is the same in every listing
//! that includes the file; the query (expiry and signature over path and expiry) changes with
//! each listing, as with pre-signed object-store URLs
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/ShareObjectPreSignedURL.html>).

use std::io::Write as _;

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Response};
use base64::Engine as _;
use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::corrupt;
use crate::data::{self, TenantInfo, Timeline};
use crate::dates;
use crate::envelope::{self, ApiError};
use crate::faults::FaultKind;
use crate::oauth::parse_form;
use crate::pagination::MAX_PAGE_SIZE;
use crate::server::{Ctx, Inner};

pub(crate) const BATCH_PATH: &str = "/siem/v1/batch/events/cg";
pub(crate) const CI_BATCH_PATH: &str = "/siem/v1/batch/events/ci";

/// One SIEM batch route: its path, stream name and event types.
#[derive(Debug)]
pub(crate) struct BatchKind {
    pub path: &'static str,
    /// Stream name; record keys are `<stream>:<type>`.
    pub stream: &'static str,
    pub types: &'static [&'static str],
}

/// Index 0 is CG (its cursors and file ids carry no kind field, so they are unchanged).
pub(crate) const KINDS: &[BatchKind] = &[
    BatchKind {
        path: BATCH_PATH,
        stream: "siem_cg",
        types: data::siem_cg::TYPES,
    },
    BatchKind {
        path: CI_BATCH_PATH,
        stream: "siem_ci",
        types: data::siem_ci::TYPES,
    },
];

/// Index in [`KINDS`] of a batch route path.
pub(crate) fn kind_of(path: &str) -> Option<usize> {
    KINDS.iter().position(|k| k.path == path)
}

impl BatchKind {
    fn record(&self, seed: u64, t: &TenantInfo, ty: &str, i: u64, t_ms: i64) -> Value {
        if self.stream == "siem_ci" {
            data::siem_ci::record(seed, t, ty, i, t_ms)
        } else {
            data::siem_cg::record(seed, t, ty, i, t_ms)
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
/// Records generated per compressed chunk of a file stream.
const CHUNK_RECORDS: u64 = 256;
/// Approximate compressed bytes per record, for the `size` field (files are not pre-compressed).
const APPROX_GZ_BYTES_PER_RECORD: u64 = 180;

/// `@nextPage` state: event types, index window, position in the global file list.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BatchCursor {
    /// Route ([`KINDS`] index; absent = CG).
    #[serde(default, skip_serializing_if = "is_zero")]
    k: usize,
    t: Vec<usize>,
    lo: u64,
    hi: u64,
    g: u64,
    /// Issue time (epoch ms, server clock), only when page tokens expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
}

/// What a storage path names (the path part of a file URL; stable across listings).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileId {
    /// Tenant name.
    n: String,
    /// Route ([`KINDS`] index; absent = CG).
    #[serde(default, skip_serializing_if = "is_zero")]
    k: usize,
    /// Event type index.
    y: usize,
    /// Record index range `[a, b)`.
    a: u64,
    b: u64,
}

fn b64u() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

fn siem_err(http: u16, code: &str, msg: impl Into<String>) -> ApiError {
    ApiError::new(http, code, msg)
}

fn sign(key: &[u8; 32], payload: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(payload.as_bytes());
            b64u().encode(&m.finalize().into_bytes()[..16])
        }
        Err(_) => String::new(),
    }
}

/// The pre-signed URL of a file, valid until `expires_ms`.
fn file_url(inner: &Inner, f: &FileId, expires_ms: i64) -> String {
    let id = b64u().encode(serde_json::to_vec(f).unwrap_or_default());
    let sig = sign(&inner.url_key, &format!("{id}:{expires_ms}"));
    format!(
        "{}/storage/{id}/file.json.gz?expires={expires_ms}&signature={sig}",
        inner.base_url
    )
}

/// Verifies and decodes `/storage/<id>/<name>?expires=…&signature=…`: (file, expiry epoch ms).
fn parse_storage_url(inner: &Inner, path: &str, query: Option<&str>) -> Option<(FileId, i64)> {
    let id = path.strip_prefix("/storage/")?.split('/').next()?;
    let q = parse_form(query.unwrap_or(""));
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let expires: i64 = get("expires")?.parse().ok()?;
    let want = sign(&inner.url_key, &format!("{id}:{expires}"));
    if !crate::server::ct_eq(want.as_bytes(), get("signature")?.as_bytes()) {
        return None;
    }
    let f = serde_json::from_slice(&b64u().decode(id).ok()?).ok()?;
    Some((f, expires))
}

/// Tenant a storage URL belongs to (for attribution and fault matching).
pub(crate) fn storage_tenant(inner: &Inner, path: &str, query: Option<&str>) -> Option<usize> {
    let (f, _) = parse_storage_url(inner, path, query)?;
    inner.tenant_by_name(&f.n)
}

/// Parses a range bound: `YYYY-MM-DD` (documented) or a full timestamp (the streaming API's
/// form, accepted leniently).
fn range_bound(s: &str, is_end: bool) -> Option<i64> {
    if let Some(d) = dates::parse_ymd(s) {
        // The end date is inclusive: the whole day.
        let ms = dates::to_ms(d);
        return Some(if is_end { ms + 86_400_000 } else { ms });
    }
    dates::parse_mc_date(s).ok().map(dates::to_ms)
}

pub(crate) fn batch(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let Some(kind_idx) = kind_of(&ctx.req.path) else {
        return Err(siem_err(
            404,
            "not_found",
            format!(
                "{} is not simulated; use {BATCH_PATH} or {CI_BATCH_PATH}",
                ctx.req.path
            ),
        ));
    };
    let kind = &KINDS[kind_idx];
    let types = kind.types;
    if ctx.req.method != Method::GET {
        return Err(siem_err(405, "method_not_allowed", "Use GET"));
    }
    let tenant = ctx.tenant()?;
    let q = parse_form(ctx.req.query.as_deref().unwrap_or(""));
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let inner = ctx.inner;
    let per_file = inner.cfg.siem_cg_records_per_file.max(1);
    let page_size = match get("pageSize") {
        None => u64::from(inner.cfg.default_page_size),
        Some(s) => match s.trim().parse::<u64>() {
            Ok(n) if n >= 1 => n.min(MAX_PAGE_SIZE),
            _ => {
                return Err(siem_err(
                    400,
                    "invalid_page_size",
                    format!("pageSize must be a positive integer, got {s:?}"),
                ))
            }
        },
    };
    let cursor = match get("nextPage") {
        Some(tok) => b64u()
            .decode(tok.trim())
            .ok()
            .and_then(|b| serde_json::from_slice::<BatchCursor>(&b).ok())
            .filter(|c| {
                c.k == kind_idx
                    && c.lo <= c.hi
                    && !c.t.is_empty()
                    && c.t.iter().all(|t| *t < types.len())
            })
            .ok_or_else(|| siem_err(400, "invalid_next_page", "nextPage is not a valid cursor"))?,
        None => {
            let types_raw = get("type").or_else(|| get("types")).ok_or_else(|| {
                siem_err(
                    400,
                    "missing_type",
                    format!("type is required, one of {types:?}"),
                )
            })?;
            let mut t = Vec::new();
            for name in types_raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                let idx = types
                    .iter()
                    .position(|x| x.eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        siem_err(
                            400,
                            "invalid_type",
                            format!("unknown type {name:?}; expected one of {types:?}"),
                        )
                    })?;
                if !t.contains(&idx) {
                    t.push(idx);
                }
            }
            if t.is_empty() {
                return Err(siem_err(400, "missing_type", "type is required"));
            }
            let now = inner.now_ms();
            let today = now - now.rem_euclid(86_400_000);
            let start = match get("dateRangeStartsAt") {
                Some(s) => range_bound(s, false).ok_or_else(|| {
                    siem_err(
                        400,
                        "invalid_date",
                        format!("dateRangeStartsAt must be YYYY-MM-DD, got {s:?}"),
                    )
                })?,
                None => today - 7 * 86_400_000,
            };
            let end = match get("dateRangeEndsAt") {
                Some(s) => range_bound(s, true).ok_or_else(|| {
                    siem_err(
                        400,
                        "invalid_date",
                        format!("dateRangeEndsAt must be YYYY-MM-DD, got {s:?}"),
                    )
                })?,
                None => today + 86_400_000,
            };
            if start > end {
                return Err(siem_err(
                    400,
                    "invalid_date_range",
                    "dateRangeStartsAt is after dateRangeEndsAt",
                ));
            }
            let tl = inner.timeline(&format!("{}:{}", kind.stream, types[0]));
            let (lo, hi) = inner.visible_window(&tl, start, end);
            BatchCursor {
                k: kind_idx,
                t,
                lo,
                hi,
                g: 0,
                iat: None,
            }
        }
    };
    let n = inner.cfg.records_per_stream;
    let cursor = BatchCursor {
        lo: cursor.lo.min(n),
        hi: cursor.hi.min(n),
        ..cursor
    };
    let files_per_type = (cursor.hi - cursor.lo).div_ceil(per_file);
    let total_files = files_per_type.saturating_mul(cursor.t.len() as u64);
    let g_end = cursor.g.saturating_add(page_size).min(total_files);
    let expiry_ms = inner.now_ms() + inner.cfg.file_url_ttl.as_millis() as i64;
    // File `g` of the global list (type-major, then record order).
    let file_at = |g: u64| {
        let ty = cursor.t[(g / files_per_type) as usize];
        let fi = g % files_per_type;
        let a = cursor.lo + fi * per_file;
        let b = a.saturating_add(per_file).min(cursor.hi);
        let f = FileId {
            n: tenant.cfg.name.clone(),
            k: kind_idx,
            y: ty,
            a,
            b,
        };
        json!({
            "url": file_url(inner, &f, expiry_ms),
            "expiry": dates::format_iso_ms(dates::from_ms(expiry_ms)),
            "size": (b - a) * APPROX_GZ_BYTES_PER_RECORD,
        })
    };
    let mut value: Vec<Value> = (cursor.g.min(total_files)..g_end).map(file_at).collect();
    let mut next_g = g_end.max(cursor.g);
    match ctx.fault {
        // An unstable listing: newest first.
        Some(FaultKind::Reorder) => value.reverse(),
        // An unstable listing: a file shows up before the ones listed so far (the next page's
        // first file, so the walk still serves every file once).
        Some(FaultKind::NewFile) if g_end < total_files => {
            value.insert(0, file_at(g_end));
            next_g = g_end + 1;
        }
        _ => {}
    }
    let next = BatchCursor {
        g: next_g,
        iat: inner.token_stamp(),
        ..cursor.clone()
    };
    let (next_page, caught_up) = match (&ctx.fault, &ctx.token) {
        // A server stuck on this page: the same token again, never caught up.
        (Some(FaultKind::SameToken), Some(t)) => (t.clone(), false),
        _ => (
            b64u().encode(serde_json::to_vec(&next).unwrap_or_default()),
            next_g >= total_files,
        ),
    };
    // `wrong-shape`: the files under `value.files` (an object where a list is documented).
    let value = match ctx.fault {
        Some(FaultKind::WrongShape) => json!({ "files": value }),
        _ => Value::Array(value),
    };
    let body = json!({
        "value": value,
        "@nextPage": next_page,
        "isCaughtUp": caught_up,
    });
    Ok(envelope::json_response(200, &body))
}

/// `GET /storage/<signed-id>/file.json.gz`: no auth; 403 when expired or tampered.
pub(crate) fn storage(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    if ctx.req.method != Method::GET {
        return Err(siem_err(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        ));
    }
    let (f, expires) = parse_storage_url(ctx.inner, &ctx.req.path, ctx.req.query.as_deref())
        .ok_or_else(|| siem_err(403, "AccessDenied", "Request signature does not match"))?;
    if ctx.inner.now_ms() >= expires {
        return Err(siem_err(403, "AccessDenied", "Request has expired"));
    }
    let t = ctx
        .inner
        .tenant_by_name(&f.n)
        .and_then(|t| ctx.inner.tenants.get(t))
        .ok_or_else(|| siem_err(404, "NoSuchKey", "The specified key does not exist."))?;
    let kind = KINDS
        .get(f.k)
        .ok_or_else(|| siem_err(404, "NoSuchKey", "The specified key does not exist."))?;
    let ty = kind
        .types
        .get(f.y)
        .ok_or_else(|| siem_err(404, "NoSuchKey", "The specified key does not exist."))?;
    let stream_key = format!("{}:{ty}", kind.stream);
    let corrupt_gzip = matches!(ctx.fault, Some(FaultKind::CorruptGzip));
    let end = f.b.min(ctx.inner.cfg.records_per_stream);
    // `bad-utf8`: the middle line of the file.
    let poison = matches!(ctx.fault, Some(FaultKind::BadUtf8))
        .then(|| f.a + end.saturating_sub(f.a) / 2)
        .filter(|i| *i < end);
    // Damaged answers are neither read from nor kept in the cache.
    let cache = ctx.inner.cfg.cache_bodies && !corrupt_gzip && poison.is_none();
    // The file's identity, not its URL (which carries an expiry).
    let cache_key = format!("{}:{}:{}:{}:{}", f.n, f.k, f.y, f.a, f.b);
    if cache {
        if let Some(b) = crate::server::lock(&ctx.inner.file_cache).get(&cache_key) {
            return Ok(gzip_response(Body::from(b.clone())));
        }
    }
    let mut gen = FileGen {
        kind,
        seed: ctx.inner.cfg.seed,
        tenant: t.info.clone(),
        ty,
        tl: ctx.inner.timeline(&stream_key),
        next: f.a,
        end,
        poison,
        enc: Some(GzEncoder::new(Vec::new(), Compression::fast())),
    };
    if corrupt_gzip {
        let mut file = Vec::new();
        while let Some(chunk) = gen.next_chunk() {
            file.extend_from_slice(&chunk);
        }
        return Ok(gzip_response(Body::from(corrupt::garble_gzip(file))));
    }
    if cache {
        let mut file = Vec::new();
        while let Some(chunk) = gen.next_chunk() {
            file.extend_from_slice(&chunk);
        }
        let file = Bytes::from(file);
        crate::server::lock(&ctx.inner.file_cache).insert(cache_key, file.clone());
        return Ok(gzip_response(Body::from(file)));
    }
    let stream = futures_util::stream::unfold(gen, |mut g| async move {
        let chunk = g.next_chunk()?;
        Some((Ok::<Bytes, std::io::Error>(chunk), g))
    });
    Ok(gzip_response(Body::from_stream(stream)))
}

fn gzip_response(body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    r
}

/// Streaming gzip NDJSON generator for one file.
struct FileGen {
    kind: &'static BatchKind,
    seed: u64,
    tenant: TenantInfo,
    ty: &'static str,
    tl: Timeline,
    next: u64,
    end: u64,
    /// Index of the record whose line gets a raw 0xFF (`bad-utf8`).
    poison: Option<u64>,
    enc: Option<GzEncoder<Vec<u8>>>,
}

impl FileGen {
    /// The next non-empty compressed chunk; `None` when the file is complete.
    fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            let enc = self.enc.as_mut()?;
            if self.next >= self.end {
                let rest = self.enc.take()?.finish().ok()?;
                return (!rest.is_empty()).then(|| Bytes::from(rest));
            }
            let stop = (self.next + CHUNK_RECORDS).min(self.end);
            let mut line = Vec::with_capacity(1024);
            for i in self.next..stop {
                line.clear();
                let mut v: Value =
                    self.kind
                        .record(self.seed, &self.tenant, self.ty, i, self.tl.time_ms(i));
                let poisoned = self.poison == Some(i) && corrupt::mark_value(&mut v);
                if serde_json::to_writer(&mut line, &v).is_err() {
                    continue;
                }
                if poisoned {
                    line = corrupt::unmark(std::mem::take(&mut line));
                }
                line.push(b'\n');
                if enc.write_all(&line).is_err() {
                    self.enc = None;
                    return None;
                }
            }
            self.next = stop;
            let out = std::mem::take(enc.get_mut());
            if !out.is_empty() {
                return Some(Bytes::from(out));
            }
        }
    }
}
