//! Windowed, paginated log endpoints (audit, TTP URL/attachment/impersonation, DLP, held/release,
//! message finder, archive search logs, dashboard notifications) described by one table.
//!
//! WHY a table: these endpoints differ only in window field names (docs/mimecast-api.md#endpoints:
//! `from`/`to`, `startDateTime`/`endDateTime`, `start`/`end`), in the nesting key of the records
//! (`clickLogs`, `attachmentLogs`, …, or directly in `data[]` for audit) and in ordering; the
//! paging rules (docs/mimecast-api.md#envelope) are shared.

use axum::body::Body;
use axum::http::Response;
use serde_json::{json, Value};

use super::{bool_field, date_field, first_item};
use crate::corrupt;
use crate::envelope::{self, ApiError};
use crate::faults::FaultKind;
use crate::pagination::{self, Cursor, Page};
use crate::server::Ctx;

/// How a request names its window.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Window {
    /// No window: the whole backlog.
    None,
    /// Both fields required (audit: "startDateTime is required… endDateTime is required").
    Required(&'static str, &'static str),
    /// Optional; defaults are the start of the current day and now
    /// (docs/mimecast-api.md#ttp-url-logs).
    DefaultToday(&'static str, &'static str),
    /// Optional; absent means the whole backlog.
    Optional(&'static str, &'static str),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct LogSpec {
    pub stream: &'static str,
    pub window: Window,
    /// `data[0].<nest>` holds the records; `None` = directly in `data[]`.
    pub nest: Option<&'static str>,
    /// Request field choosing oldest-first (default newest first); `None` = fixed order.
    pub oldest_first_param: Option<&'static str>,
    /// Fixed order when there is no parameter.
    pub ascending: bool,
    /// Add `data[0].resultCount` (impersonation logs).
    pub result_count: bool,
    /// Add `meta.pagination.recordStart` (audit, archive search docs).
    pub record_start: bool,
}

pub(crate) const AUDIT: LogSpec = LogSpec {
    stream: "audit",
    window: Window::Required("startDateTime", "endDateTime"),
    nest: None,
    oldest_first_param: None,
    ascending: false,
    result_count: false,
    record_start: true,
};
pub(crate) const TTP_URL: LogSpec = LogSpec {
    stream: "ttp_url",
    window: Window::DefaultToday("from", "to"),
    nest: Some("clickLogs"),
    oldest_first_param: Some("oldestFirst"),
    ascending: false,
    result_count: false,
    record_start: false,
};
pub(crate) const TTP_ATTACHMENT: LogSpec = LogSpec {
    stream: "ttp_attachment",
    nest: Some("attachmentLogs"),
    ..TTP_URL
};
pub(crate) const TTP_IMPERSONATION: LogSpec = LogSpec {
    stream: "ttp_impersonation",
    nest: Some("impersonationLogs"),
    result_count: true,
    ..TTP_URL
};
/// Message finder: `start`/`end`; results newest first (UNCONFIRMED).
pub(crate) const MESSAGE_FINDER: LogSpec = LogSpec {
    stream: "message_tracking",
    window: Window::DefaultToday("start", "end"),
    nest: Some("trackedEmails"),
    oldest_first_param: None,
    ascending: false,
    result_count: false,
    record_start: false,
};
pub(crate) const ARCHIVE_SEARCH_LOGS: LogSpec = LogSpec {
    stream: "archive_search_logs",
    window: Window::Optional("start", "end"),
    nest: Some("logs"),
    oldest_first_param: None,
    ascending: false,
    result_count: false,
    record_start: false,
};
/// get-search-logs: `start`/`end` default to the current day
/// (docs/mimecast-api.md#archive-search-logs).
pub(crate) const SEARCH_LOGS: LogSpec = LogSpec {
    window: Window::DefaultToday("start", "end"),
    ..ARCHIVE_SEARCH_LOGS
};
/// DLP logs: `from`/`to` default to the current day, `oldestFirst` (docs/mimecast-api.md#dlp-logs).
pub(crate) const DLP: LogSpec = LogSpec {
    stream: "dlp",
    nest: Some("dlpLogs"),
    ..TTP_URL
};
/// Held/release logs: `start`/`end` optional (whole backlog when absent), newest first, no order
/// parameter (docs/mimecast-api.md#held-message-release-logs). Dates are parsed by
/// [`super::date_field`], which takes Mimecast's `+0000` form and RFC 3339 (`Z`, `+00:00`) alike,
/// as Elastic sends RFC 3339 here.
pub(crate) const HELD_RELEASE: LogSpec = LogSpec {
    stream: "message_release",
    window: Window::Optional("start", "end"),
    nest: Some("heldReleaseLogs"),
    oldest_first_param: None,
    ascending: false,
    result_count: false,
    record_start: false,
};
pub(crate) const DASHBOARD: LogSpec = LogSpec {
    stream: "dashboard",
    window: Window::None,
    nest: Some("notifications"),
    oldest_first_param: None,
    ascending: true,
    result_count: false,
    record_start: false,
};

/// The table entry serving `path`, if it is one of these endpoints.
pub(crate) fn spec_for(path: &str) -> Option<&'static LogSpec> {
    Some(match path {
        "/api/audit/get-audit-events" => &AUDIT,
        "/api/ttp/url/get-logs" => &TTP_URL,
        "/api/ttp/attachment/get-logs" => &TTP_ATTACHMENT,
        "/api/ttp/impersonation/get-logs" => &TTP_IMPERSONATION,
        "/api/message-finder/search" => &MESSAGE_FINDER,
        "/api/archive/get-archive-search-logs" => &ARCHIVE_SEARCH_LOGS,
        "/api/archive/get-search-logs" => &SEARCH_LOGS,
        "/api/account/get-dashboard-notifications" => &DASHBOARD,
        "/api/dlp/get-logs" => &DLP,
        "/api/gateway/get-held-release-logs" => &HELD_RELEASE,
        _ => return None,
    })
}

/// Start of the current UTC day, in ms.
fn start_of_today_ms(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(86_400_000)
}

/// Resolves a `[from, to)` window in ms from `item`.
pub(crate) fn window_ms(
    ctx: &Ctx<'_>,
    item: &Value,
    w: Window,
    lo_default: i64,
    hi_default: i64,
) -> Result<(i64, i64), ApiError> {
    let (from, to) = match w {
        Window::None => return Ok((lo_default, hi_default)),
        Window::Required(f, t) => {
            let from = date_field(item, f)?;
            let to = date_field(item, t)?;
            match (from, to) {
                (Some(a), Some(b)) => (a, b),
                (None, _) => return Err(missing(item, f)),
                (_, None) => return Err(missing(item, t)),
            }
        }
        Window::DefaultToday(f, t) => {
            let now = ctx.inner.now_ms();
            let to = date_field(item, t)?.unwrap_or(now);
            let from = date_field(item, f)?.unwrap_or_else(|| start_of_today_ms(now));
            (from, to)
        }
        Window::Optional(f, t) => (
            date_field(item, f)?.unwrap_or(lo_default),
            date_field(item, t)?.unwrap_or(hi_default),
        ),
    };
    if from > to {
        let (f, t) = match w {
            Window::Required(f, t) | Window::DefaultToday(f, t) | Window::Optional(f, t) => (f, t),
            Window::None => ("from", "to"),
        };
        return Err(ApiError::validation(
            "err_validation_invalid_date_range",
            format!("{f} must not be after {t}"),
        )
        .with_key(Some(item.clone())));
    }
    Ok((from, to))
}

fn missing(item: &Value, field: &str) -> ApiError {
    ApiError::validation("err_validation_null", format!("{field} is required"))
        .with_key(Some(item.clone()))
}

/// Serves one page of a table-described stream.
pub(crate) fn serve(
    ctx: &Ctx<'_>,
    body: &Value,
    spec: &LogSpec,
) -> Result<Response<Body>, ApiError> {
    let tenant = ctx.tenant()?;
    let stream = spec.stream;
    let cursor = match pagination::requested_token(body) {
        Some(tok) => Cursor::decode(&tok, stream)?,
        None => {
            let item = first_item(body)?;
            let tl = ctx.inner.timeline(stream);
            let (from, to) = window_ms(ctx, &item, spec.window, tl.start_ms, tl.end_ms())?;
            let (lo, hi) = ctx.inner.visible_window(&tl, from, to);
            let asc = match spec.oldest_first_param {
                Some(p) => bool_field(&item, p)?.unwrap_or(false),
                None => spec.ascending,
            };
            Cursor::new(stream, lo, hi, asc)
        }
    };
    let (page, size) = cut(ctx, body, &cursor)?;
    if ctx.inner.cfg.cache_bodies
        && !matches!(ctx.fault, Some(FaultKind::BadUtf8 | FaultKind::WrongShape))
    {
        return Ok(serve_cached(ctx, tenant, spec, &page, size));
    }
    let records: Vec<Value> = page
        .indices
        .iter()
        .map(|i| ctx.inner.record(tenant, stream, *i))
        .collect();
    if matches!(ctx.fault, Some(FaultKind::WrongShape)) {
        return Ok(wrong_shape_response(ctx, records, spec, &page, size));
    }
    let data = match spec.nest {
        None => records,
        Some(nest) => {
            let mut o = serde_json::Map::new();
            let n = records.len();
            o.insert(nest.to_string(), Value::Array(records));
            if spec.result_count {
                o.insert("resultCount".into(), json!(n));
            }
            vec![Value::Object(o)]
        }
    };
    Ok(page_response(ctx, data, &page, size, spec.record_start))
}

/// The `wrong-shape` page: the usual envelope and `meta.pagination`, but the records in an object
/// where an array is documented: `data[0].<nest>` = `{"0":{…},"1":{…}}`, or (records directly
/// in `data[]`, audit) `data` = `{"records":[…]}`.
fn wrong_shape_response(
    ctx: &Ctx<'_>,
    records: Vec<Value>,
    spec: &LogSpec,
    page: &Page,
    size: u64,
) -> Response<Body> {
    use serde::ser::SerializeMap;
    /// Records as an object keyed by index, in index order (whatever serde_json's map order).
    struct Keyed<'a>(&'a [Value]);
    impl serde::Serialize for Keyed<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for (i, r) in self.0.iter().enumerate() {
                m.serialize_entry(&i.to_string(), r)?;
            }
            m.end()
        }
    }
    /// `data`: `{"records":[…]}` or `[{"<nest>":{"0":…}, "resultCount"?}]`.
    struct Data {
        records: Vec<Value>,
        nest: Option<&'static str>,
        result_count: bool,
    }
    impl serde::Serialize for Data {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let Some(nest) = self.nest else {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("records", &self.records)?;
                return m.end();
            };
            struct Item<'a>(&'a Data, &'static str);
            impl serde::Serialize for Item<'_> {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    let mut m = s.serialize_map(None)?;
                    m.serialize_entry(self.1, &Keyed(&self.0.records))?;
                    if self.0.result_count {
                        m.serialize_entry("resultCount", &self.0.records.len())?;
                    }
                    m.end()
                }
            }
            [Item(self, nest)].serialize(s)
        }
    }
    #[derive(serde::Serialize)]
    struct Envelope {
        meta: Value,
        data: Data,
        fail: [u8; 0],
    }
    let (next, previous) = links(ctx, page);
    let p = envelope::pagination(
        size,
        page.total,
        next,
        previous,
        spec.record_start.then_some(page.record_start),
    );
    envelope::json_response(
        200,
        &Envelope {
            meta: json!({"status": 200, "pagination": p}),
            data: Data {
                records,
                nest: spec.nest,
                result_count: spec.result_count,
            },
            fail: [],
        },
    )
}

/// The same page as [`serve`] builds, from record texts generated once and kept.
fn serve_cached(
    ctx: &Ctx<'_>,
    tenant: &crate::server::TenantState,
    spec: &LogSpec,
    page: &Page,
    size: u64,
) -> Response<Body> {
    use serde::ser::{SerializeMap, SerializeSeq};
    use serde_json::value::RawValue;
    use std::sync::Arc;
    let key = tenant as *const _ as usize;
    let records: Vec<Arc<RawValue>> = page
        .indices
        .iter()
        .map(|i| {
            let k = (key, spec.stream, *i);
            if let Some(r) = crate::server::lock(&ctx.inner.record_cache).get(&k) {
                return r.clone();
            }
            let text = ctx.inner.record(tenant, spec.stream, *i).to_string();
            let r: Arc<RawValue> = RawValue::from_string(text)
                .map(Arc::from)
                .unwrap_or_else(|_| Arc::from(RawValue::NULL.to_owned()));
            crate::server::lock(&ctx.inner.record_cache).insert(k, r.clone());
            r
        })
        .collect();
    struct Records<'a>(&'a [Arc<RawValue>]);
    impl serde::Serialize for Records<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(self.0.len()))?;
            for r in self.0 {
                seq.serialize_element(&**r)?;
            }
            seq.end()
        }
    }
    struct Data<'a> {
        records: Records<'a>,
        nest: Option<&'static str>,
        result_count: bool,
    }
    impl serde::Serialize for Data<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let Some(nest) = self.nest else {
                return self.records.serialize(s);
            };
            struct Item<'b>(&'b Data<'b>, &'static str);
            impl serde::Serialize for Item<'_> {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    let mut m = s.serialize_map(None)?;
                    m.serialize_entry(self.1, &self.0.records)?;
                    if self.0.result_count {
                        m.serialize_entry("resultCount", &self.0.records.0.len())?;
                    }
                    m.end()
                }
            }
            let mut seq = s.serialize_seq(Some(1))?;
            seq.serialize_element(&Item(self, nest))?;
            seq.end()
        }
    }
    #[derive(serde::Serialize)]
    struct Envelope<'a> {
        meta: Value,
        data: Data<'a>,
        fail: [u8; 0],
    }
    let (next, previous) = links(ctx, page);
    let p = envelope::pagination(
        size,
        page.total,
        next,
        previous,
        spec.record_start.then_some(page.record_start),
    );
    envelope::json_response(
        200,
        &Envelope {
            meta: json!({"status": 200, "pagination": p}),
            data: Data {
                records: Records(&records),
                nest: spec.nest,
                result_count: spec.result_count,
            },
            fail: [],
        },
    )
}

/// Cuts the page for `cursor` with the requested (or remembered, or default) page size.
///
/// Applies the page-shaping faults: `overlap=N` moves the start N records back; `empty-next`
/// answers no records and a `next` that names the page that was due.
pub(crate) fn cut(ctx: &Ctx<'_>, body: &Value, cursor: &Cursor) -> Result<(Page, u64), ApiError> {
    // A forged token cannot reach past the backlog.
    let n = ctx.inner.cfg.records_per_stream;
    let mut c = Cursor {
        lo: cursor.lo.min(n),
        hi: cursor.hi.min(n),
        iat: ctx.inner.token_stamp(),
        d: 0,
        ..cursor.clone()
    };
    if let Some(FaultKind::Overlap(k)) = ctx.fault {
        c.off = c.off.saturating_sub(k);
    }
    let size = pagination::requested_page_size(body)?
        .or((c.ps > 0).then_some(c.ps))
        .unwrap_or(u64::from(ctx.inner.cfg.default_page_size))
        .clamp(1, pagination::MAX_PAGE_SIZE);
    let mut page = pagination::page(&c, size);
    if let Some(FaultKind::EmptyNext) = ctx.fault {
        page.indices.clear();
        page.next = Some(Cursor {
            off: c.off.min(c.total()),
            ps: size,
            d: cursor.d.saturating_add(1),
            ..c
        });
    }
    Ok((page, size))
}

/// `next` and `previous` of a page, encoded; with `same-token`, `next` is the request's token.
fn links(ctx: &Ctx<'_>, page: &Page) -> (Option<String>, Option<String>) {
    let next = match (&ctx.fault, &ctx.token) {
        (Some(FaultKind::SameToken), Some(t)) => Some(t.clone()),
        _ => page.next.as_ref().map(Cursor::encode),
    };
    (next, page.previous.as_ref().map(Cursor::encode))
}

/// The success envelope for a page (`bad-utf8`: with one raw 0xFF in the middle record).
pub(crate) fn page_response(
    ctx: &Ctx<'_>,
    mut data: Vec<Value>,
    page: &Page,
    size: u64,
    record_start: bool,
) -> Response<Body> {
    let (next, previous) = links(ctx, page);
    let p = envelope::pagination(
        size,
        page.total,
        next,
        previous,
        record_start.then_some(page.record_start),
    );
    let poisoned = matches!(ctx.fault, Some(FaultKind::BadUtf8))
        && corrupt::mark_middle(corrupt::records_of(&mut data));
    let env = envelope::success(data, Some(p));
    if poisoned {
        let bytes = corrupt::unmark(serde_json::to_vec(&env).unwrap_or_default());
        return envelope::bytes_response(200, "application/json", bytes);
    }
    envelope::json_response(200, &env)
}
