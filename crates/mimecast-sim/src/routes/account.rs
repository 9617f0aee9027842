//! `/api/account/get-account` (docs/mimecast-api.md#dashboard-notifications): the account snapshot.
//!
//! WHY separate from the notifications table: it is a single object, not a paged stream.

use axum::body::Body;
use axum::http::Response;

use crate::data::dashboard;
use crate::envelope::{self, ApiError};
use crate::server::Ctx;

pub(crate) fn get_account(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let t = ctx.tenant()?;
    let acc = dashboard::account(&t.info, ctx.inner.cfg.records_per_stream);
    Ok(envelope::json_response(
        200,
        &envelope::success(vec![acc], None),
    ))
}
