//! `/api/domain/get-internal-domain` and `/api/user/get-internal-users`
//! (docs/mimecast-api.md#directory).
//!
//! WHY: the directory stream lists domains, then pages users per domain (`data[0].users`,
//! `data[0].userCount`); pagination on get-internal-users is UNCONFIRMED, so it is offered the
//! standard way (`meta.pagination.next`).

use axum::body::Body;
use axum::http::Response;
use serde_json::{json, Value};

use super::logs::{cut, page_response};
use super::{first_item, str_field};
use crate::data::directory;
use crate::envelope::{self, ApiError};
use crate::pagination::{self, Cursor};
use crate::server::Ctx;

pub(crate) fn internal_domains(ctx: &Ctx<'_>, body: &Value) -> Result<Response<Body>, ApiError> {
    let t = ctx.tenant()?;
    let item = first_item(body)?;
    let filter = str_field(&item, "domain")?.map(str::to_ascii_lowercase);
    let domains: Vec<Value> = directory::domains(&t.info)
        .into_iter()
        .filter(|d| {
            filter
                .as_deref()
                .is_none_or(|f| d["domain"].as_str() == Some(f))
        })
        .collect();
    let n = domains.len() as u64;
    let p = envelope::pagination(n.max(1), n, None, None, None);
    Ok(envelope::json_response(
        200,
        &envelope::success(domains, Some(p)),
    ))
}

pub(crate) fn internal_users(ctx: &Ctx<'_>, body: &Value) -> Result<Response<Body>, ApiError> {
    let t = ctx.tenant()?;
    let n = ctx.inner.cfg.records_per_stream;
    let cursor = match pagination::requested_token(body) {
        Some(tok) => Cursor::decode(&tok, "directory")?,
        None => {
            let item = first_item(body)?;
            let domain = str_field(&item, "domain")?
                .filter(|d| !d.trim().is_empty())
                .ok_or_else(|| {
                    ApiError::validation("err_validation_null", "domain is required")
                        .with_key(Some(item.clone()))
                })?;
            let d = t
                .info
                .domains
                .iter()
                .position(|x| x.eq_ignore_ascii_case(domain.trim()))
                .ok_or_else(|| {
                    ApiError::validation(
                        "err_validation_domain_not_found",
                        format!("{domain} is not an internal domain of this account"),
                    )
                    .with_key(Some(item.clone()))
                })?;
            let (lo, hi) = directory::domain_range(n, t.info.domains.len(), d);
            let mut c = Cursor::new("directory", lo, hi, true);
            c.x = Some(t.info.domains[d].clone());
            c
        }
    };
    let (page, size) = cut(ctx, body, &cursor)?;
    let users: Vec<Value> = page
        .indices
        .iter()
        .map(|i| ctx.inner.record(t, "directory", *i))
        .collect();
    Ok(page_response(
        ctx,
        vec![json!({"users": users, "userCount": page.total})],
        &page,
        size,
        false,
    ))
}
