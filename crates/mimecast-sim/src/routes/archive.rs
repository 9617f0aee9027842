//! `/api/archive/search` (docs/mimecast-api.md#archive-search): XML query over a received-date
//! window.
//!
//! WHY custom: the window is inside the XML `query` (`<date select="between" from=… to=…/>`),
//! and results are nested as `data[0].items` (the form XSOAR reads in production).

use axum::body::Body;
use axum::http::Response;
use serde_json::{json, Value};

use super::logs::{cut, page_response};
use super::{first_item, str_field};
use crate::envelope::ApiError;
use crate::pagination::{self, Cursor};
use crate::server::Ctx;

const STREAM: &str = "archive_search";

/// Value of attribute `name` in the first `<tag …>` element of `xml`.
fn attr(xml: &str, tag: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}"))?;
    let rest = &xml[start..];
    let end = rest.find('>')?;
    let elem = &rest[..end];
    for quote in ['"', '\''] {
        let pat = format!("{name}={quote}");
        if let Some(i) = elem.find(&pat) {
            let v = &elem[i + pat.len()..];
            let j = v.find(quote)?;
            return Some(v[..j].to_string());
        }
    }
    None
}

pub(crate) fn search(ctx: &Ctx<'_>, body: &Value) -> Result<Response<Body>, ApiError> {
    let tenant = ctx.tenant()?;
    let tl = ctx.inner.timeline(STREAM);
    let cursor = match pagination::requested_token(body) {
        Some(tok) => Cursor::decode(&tok, STREAM)?,
        None => {
            let item = first_item(body)?;
            let query = str_field(&item, "query")?
                .filter(|q| !q.trim().is_empty())
                .ok_or_else(|| {
                    ApiError::validation("err_validation_null", "query is required")
                        .with_key(Some(item.clone()))
                })?;
            if !query.contains("<xmlquery") {
                return Err(ApiError::validation(
                    "err_validation_invalid_xml_query",
                    "query must be an <xmlquery> document",
                )
                .with_key(Some(item.clone())));
            }
            let (mut from, mut to) = (tl.start_ms, tl.end_ms());
            if attr(query, "date", "select").as_deref() == Some("between") {
                let parse = |name: &str| -> Result<Option<i64>, ApiError> {
                    match attr(query, "date", name) {
                        None => Ok(None),
                        Some(s) => crate::dates::parse_mc_date(&s)
                            .map(|t| Some(crate::dates::to_ms(t)))
                            .map_err(|e| {
                                ApiError::validation(
                                    "err_validation_invalid_date",
                                    format!("<date {name}>: {e}"),
                                )
                                .with_key(Some(item.clone()))
                            }),
                    }
                };
                from = parse("from")?.unwrap_or(from);
                to = parse("to")?.unwrap_or(to);
            }
            let (lo, hi) = ctx.inner.visible_window(&tl, from, to.max(from));
            let mut c = Cursor::new(STREAM, lo, hi, false);
            if let Some(ps) =
                attr(query, "metadata", "page-size").and_then(|s| s.parse::<u64>().ok())
            {
                c.ps = ps.clamp(1, pagination::MAX_PAGE_SIZE);
            }
            c
        }
    };
    let (page, size) = cut(ctx, body, &cursor)?;
    let items: Vec<Value> = page
        .indices
        .iter()
        .map(|i| ctx.inner.record(tenant, STREAM, *i))
        .collect();
    Ok(page_response(
        ctx,
        vec![json!({ "items": items })],
        &page,
        size,
        true,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_between_dates() {
        let q = r#"<?xml version="1.0"?><xmlquery trace="iql,muse"><metadata query-type="emailarchive" page-size="25"/><muse><date select="between" from="2026-01-01T00:00:00+0000" to='2026-01-02T00:00:00+0000' /></muse></xmlquery>"#;
        assert_eq!(attr(q, "date", "select").as_deref(), Some("between"));
        assert_eq!(
            attr(q, "date", "from").as_deref(),
            Some("2026-01-01T00:00:00+0000")
        );
        assert_eq!(
            attr(q, "date", "to").as_deref(),
            Some("2026-01-02T00:00:00+0000")
        );
        assert_eq!(attr(q, "metadata", "page-size").as_deref(), Some("25"));
        assert_eq!(attr(q, "nope", "x"), None);
    }
}
