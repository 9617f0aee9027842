//! The Mimecast response envelope and the error shapes of each route family.
//!
//! WHY one place: docs/mimecast-api.md#envelope defines
//! `{"meta":{"status",…,"pagination"},"data":[…],"fail":[…]}` with `fail[].key` +
//! `fail[].errors[]{code,message,retryable}` for function errors and `fail[0].{code,message}` for
//! auth/quota errors; docs/mimecast-api.md#api-20-oauth2 gives the OAuth failure shape and
//! docs/mimecast-api.md#siem-batch-cloud-gateway the SIEM `{"error":{"code","message"}}` shape.
//! Every handler returns [`ApiError`] and the router renders it in the family's style, so shapes
//! cannot drift between endpoints.

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

/// Which error/body shape a route family uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `/api/...` (both API versions): meta/data/fail envelope.
    Envelope,
    /// `/oauth/token`: `{"fail":[{"code","message"}]}`.
    OAuth,
    /// `/siem/v1/...`: `{"error":{"code","message"}}`.
    Siem,
    /// Pre-signed file storage (S3-like): XML error document.
    Storage,
}

/// A failure a handler wants to report. `http` 200 means "function-level failure": HTTP 200 with
/// a non-empty `fail[]`, exactly how Mimecast reports validation errors
/// (docs/mimecast-api.md#envelope).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub http: u16,
    pub code: String,
    pub message: String,
    pub retryable: bool,
    /// Echo of the request item (`fail[].key`), when there is one.
    pub key: Option<Value>,
}

impl ApiError {
    pub fn new(http: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            http,
            code: code.into(),
            message: message.into(),
            retryable: false,
            key: None,
        }
    }

    /// HTTP 200 + fail[] validation error (`err_validation_*`).
    pub fn validation(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(200, code, message)
    }

    pub fn with_key(mut self, key: Option<Value>) -> Self {
        self.key = key;
        self
    }

    pub fn retryable(mut self, r: bool) -> Self {
        self.retryable = r;
        self
    }

    /// Renders the body for `style`, as (HTTP status, content type, bytes).
    pub fn render(&self, style: Style) -> (u16, &'static str, Vec<u8>) {
        let err = json!({"code": self.code, "message": self.message, "retryable": self.retryable});
        match style {
            Style::Envelope => {
                let mut entry = serde_json::Map::new();
                if let Some(k) = &self.key {
                    entry.insert("key".into(), k.clone());
                }
                entry.insert("code".into(), json!(self.code));
                entry.insert("message".into(), json!(self.message));
                entry.insert("errors".into(), json!([err]));
                let body = Envelope {
                    meta: json!({"status": self.http}),
                    data: Vec::new(),
                    fail: vec![Value::Object(entry)],
                };
                (self.http, "application/json", to_vec(&body))
            }
            Style::OAuth => {
                let body = json!({"fail": [{"code": self.code, "message": self.message}]});
                (self.http, "application/json", to_vec(&body))
            }
            Style::Siem => {
                let body = json!({"error": {"code": self.code, "message": self.message}});
                (self.http, "application/json", to_vec(&body))
            }
            Style::Storage => {
                let body = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
                    self.code, self.message
                );
                (self.http, "application/xml", body.into_bytes())
            }
        }
    }
}

fn to_vec<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// `meta.pagination` (docs/mimecast-api.md#pagination): `next`/`previous` only when such a page
/// exists.
pub fn pagination(
    page_size: u64,
    total: u64,
    next: Option<String>,
    previous: Option<String>,
    record_start: Option<u64>,
) -> Value {
    let mut p = serde_json::Map::new();
    p.insert("pageSize".into(), json!(page_size));
    p.insert("totalCount".into(), json!(total));
    if let Some(n) = next {
        p.insert("next".into(), json!(n));
    }
    if let Some(pr) = previous {
        p.insert("previous".into(), json!(pr));
    }
    if let Some(rs) = record_start {
        p.insert("recordStart".into(), json!(rs));
    }
    Value::Object(p)
}

/// The envelope, serialized in Mimecast's order: `meta`, `data`, `fail`.
#[derive(Debug, Clone, Serialize)]
pub struct Envelope {
    pub meta: Value,
    pub data: Vec<Value>,
    pub fail: Vec<Value>,
}

/// A successful envelope: `meta.status` 200, `fail: []`.
pub fn success(data: Vec<Value>, pagination: Option<Value>) -> Envelope {
    let mut meta = serde_json::Map::new();
    meta.insert("status".into(), json!(200));
    if let Some(p) = pagination {
        meta.insert("pagination".into(), p);
    }
    Envelope {
        meta: Value::Object(meta),
        data,
        fail: Vec::new(),
    }
}

/// A complete HTTP response from status, content type and bytes.
pub fn bytes_response(status: u16, content_type: &str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// A JSON response.
pub fn json_response<T: Serialize + ?Sized>(status: u16, v: &T) -> Response<Body> {
    bytes_response(status, "application/json", to_vec(v))
}

/// Renders an [`ApiError`] as a response.
pub fn error_response(style: Style, e: &ApiError) -> Response<Body> {
    let (status, ct, body) = e.render(style);
    bytes_response(status, ct, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_error_has_both_documented_shapes() {
        let e = ApiError::validation("err_validation_blank", "from is blank")
            .with_key(Some(json!({"from": ""})));
        let (status, _, body) = e.render(Style::Envelope);
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(v["meta"]["status"], 200);
        assert_eq!(v["fail"][0]["message"], "from is blank");
        assert_eq!(v["fail"][0]["errors"][0]["code"], "err_validation_blank");
        assert_eq!(v["fail"][0]["errors"][0]["retryable"], false);
        assert_eq!(v["fail"][0]["key"]["from"], "");
    }

    #[test]
    fn pagination_omits_absent_links() {
        let p = pagination(100, 7, None, None, None);
        assert!(p.get("next").is_none());
        assert!(p.get("previous").is_none());
        assert_eq!(p["totalCount"], 7);
    }
}
