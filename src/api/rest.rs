//! The shapes of Mimecast's API 2.0 REST routes that are not documented well enough to trust
//! one form: the Threats route (`/threats/v1/events` and its details) and user-reported emails
//! (`/threat-reporting/v1/reported-emails`). Every guess about them lives here.
//!
//! What is known, and from where:
//! - The developer portal's route list (scraped 2025-12-12 in the public repository
//!   `ecpunk/Mimecast-API-Action-Pack`, `api-reference.json`) gives the parameters of both
//!   routes, that the threat statistics routes answer `value[]`, and that reported emails page
//!   by `meta.nextPage`, a full URI (docs/mimecast-api.md#reported-emails).
//! - The Threats list's answer is not documented. Third-party action code reads `data` or
//!   `events`; Mimecast's other 2.0 REST routes answer `value[]` with `@nextPage` (the SIEM
//!   batch route, docs/mimecast-api.md#siem-batch-cloud-gateway), so that is the form expected
//!   first.
//!
//! So a page is accepted when it has its records under `value`, `data` or `events`, and its
//! continuation under `@nextPage`, `meta.nextPage` or `meta.pagination.next`; a continuation is
//! either a token (sent back as `pageToken`) or an absolute URI (followed, on the tenant's own
//! host only). A 200 answer with none of those array keys is an unrecognised shape: an error
//! that names the keys it had, never an empty page.

use super::envelope::{self, error_detail, Envelope, FailEntry};
use super::ApiError;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Where a page's records may be, in the order they are looked for.
pub const ARRAY_KEYS: [&str; 3] = ["value", "data", "events"];

/// The query parameter that carries a bare continuation token back (UNCONFIRMED: the portal's
/// parameter lists in the scrape do not include one for `/threats/v1/events`; `pageToken` is
/// what Mimecast's 1.0 routes call it).
pub const TOKEN_PARAM: &str = "pageToken";

/// A page's continuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Sent back as [`TOKEN_PARAM`].
    Token(String),
    /// Followed as it is, once its host is checked.
    Uri(url::Url),
}

impl Next {
    fn read(text: &str) -> Option<Next> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        match url::Url::parse(text) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Some(Next::Uri(u)),
            _ => Some(Next::Token(text.to_string())),
        }
    }

    /// The form kept in a cursor.
    pub fn as_str(&self) -> &str {
        match self {
            Next::Token(t) => t,
            Next::Uri(u) => u.as_str(),
        }
    }

    /// A continuation as a cursor stored it.
    pub fn parse(text: &str) -> Option<Next> {
        Next::read(text)
    }
}

/// One page of a REST route.
#[derive(Debug)]
pub struct RestPage {
    /// The records: a JSON array, unparsed.
    pub items: Box<RawValue>,
    pub next: Option<Next>,
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    events: Option<&'a RawValue>,
    #[serde(rename = "@nextPage", default)]
    at_next_page: Option<String>,
    #[serde(borrow, default)]
    meta: Option<&'a RawValue>,
    #[serde(default)]
    fail: Vec<FailEntry>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(rename = "nextPage", default)]
    next_page: Option<String>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Deserialize, Default)]
struct Pagination {
    #[serde(default)]
    next: Option<String>,
}

fn unrecognised(body: &[u8], why: &str) -> ApiError {
    let keys = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body)
        .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "not a JSON object".into());
    ApiError::Shape(format!(
        "unrecognised answer ({why}; it has: {keys}); expected records under one of {}",
        ARRAY_KEYS.join(", ")
    ))
}

/// An error the body reports in either of Mimecast's forms: `fail[]` means what it means on
/// the 1.0 routes (a refused page token, expired keys, retryable or not); an `error` object
/// without `fail[]` is taken as a server error and retried.
fn reported_error(body: &[u8], fail: Vec<FailEntry>, error: bool, path: &str) -> Option<ApiError> {
    if !fail.is_empty() {
        let env = Envelope {
            meta: envelope::Meta::default(),
            data: None,
            fail,
        };
        return env.check(path).err();
    }
    error.then(|| ApiError::Server {
        status: 200,
        detail: error_detail(body),
    })
}

/// The body read as a page's probe. A body that is not JSON at all was cut short or garbled on
/// the way (transient, retried); JSON that is not an object is a shape this client does not know.
fn probe(body: &Bytes) -> Result<Probe<'_>, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
            ApiError::Decode(format!("not JSON ({e}); body starts: {}", snippet(body)))
        } else {
            unrecognised(body, &format!("not a JSON object: {e}"))
        }
    })
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned()
}

impl RestPage {
    pub fn parse(body: &Bytes, path: &str) -> Result<RestPage, ApiError> {
        let mut probe = probe(body)?;
        let fail = std::mem::take(&mut probe.fail);
        if let Some(e) = reported_error(body, fail, probe.error.is_some(), path) {
            return Err(e);
        }
        let items = [probe.value, probe.data, probe.events]
            .into_iter()
            .flatten()
            .find(|v| v.get() != "null")
            .ok_or_else(|| unrecognised(body, "no record array"))?;
        if !items.get().trim_start().starts_with('[') {
            return Err(unrecognised(body, "the records are not an array"));
        }
        let meta: Meta = match probe.meta {
            Some(m) => serde_json::from_str(m.get()).unwrap_or_default(),
            None => Meta::default(),
        };
        let next = probe
            .at_next_page
            .or(meta.next_page)
            .or(meta.pagination.and_then(|p| p.next))
            .as_deref()
            .and_then(Next::read);
        Ok(RestPage {
            items: items.to_owned(),
            next,
        })
    }
}

/// One object answered by a details route: `value[0]`, `data[0]`, or the object itself when it
/// carries an `id`.
pub fn parse_one(body: &Bytes, path: &str) -> Result<Box<RawValue>, ApiError> {
    let mut probe = probe(body)?;
    let fail = std::mem::take(&mut probe.fail);
    if let Some(e) = reported_error(body, fail, probe.error.is_some(), path) {
        return Err(e);
    }
    if let Some(items) = [probe.value, probe.data, probe.events]
        .into_iter()
        .flatten()
        .find(|v| v.get() != "null")
    {
        if items.get().trim_start().starts_with('{') {
            return Ok(items.to_owned());
        }
        let list: Vec<&RawValue> = serde_json::from_str(items.get())
            .map_err(|e| unrecognised(body, &format!("records are not an array: {e}")))?;
        return list
            .first()
            .map(|r| (*r).to_owned())
            .ok_or_else(|| unrecognised(body, "an empty record array"));
    }
    #[derive(Deserialize)]
    struct HasId<'a> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
    }
    match serde_json::from_slice::<HasId>(body) {
        Ok(HasId { id: Some(_) }) => {
            RawValue::from_string(String::from_utf8_lossy(body).into_owned())
                .map_err(|e| unrecognised(body, &e.to_string()))
        }
        _ => Err(unrecognised(body, "no record and no id")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(text: &str) -> Result<RestPage, ApiError> {
        RestPage::parse(&Bytes::from(text.to_string()), "/t")
    }

    #[test]
    fn every_accepted_array_and_continuation_form() {
        for key in ARRAY_KEYS {
            let p = page(&format!(r#"{{"{key}":[{{"id":"a"}}],"@nextPage":"t1"}}"#)).unwrap();
            assert_eq!(p.items.get(), r#"[{"id":"a"}]"#);
            assert_eq!(p.next, Some(Next::Token("t1".into())));
        }
        let p =
            page(r#"{"value":[],"meta":{"nextPage":"https://api.example/x?offset=2"}}"#).unwrap();
        assert!(matches!(p.next, Some(Next::Uri(u)) if u.query() == Some("offset=2")));
        let p = page(r#"{"data":[],"meta":{"pagination":{"next":"t2"}}}"#).unwrap();
        assert_eq!(p.next, Some(Next::Token("t2".into())));
        let p = page(r#"{"value":[],"@nextPage":""}"#).unwrap();
        assert_eq!(p.next, None);
    }

    #[test]
    fn an_unrecognised_shape_is_an_error_that_names_what_it_saw() {
        for body in [
            r#"{}"#,
            r#"{"items":[1]}"#,
            r#"{"value":null}"#,
            r#"[1]"#,
            r#"{"value":{"a":1}}"#,
        ] {
            let e = page(body).unwrap_err();
            assert!(matches!(e, ApiError::Shape(_)), "{body}: {e}");
            assert!(e.to_string().contains("value, data, events"), "{e}");
        }
        assert!(page(r#"{"items":[1]}"#)
            .unwrap_err()
            .to_string()
            .contains("it has: items"));
        // Cut short on the way: retried, not reported as a new shape.
        for body in [r#"{"value":[{"id":"a"#, "<html>502</html>", ""] {
            let e = page(body).unwrap_err();
            assert!(
                matches!(e, ApiError::Decode(_)) && e.is_transient(),
                "{body}: {e}"
            );
        }
        // fail[] means what it means on the 1.0 routes: a refused token restarts the window.
        let e = page(
            r#"{"fail":[{"errors":[{"code":"err_validation_invalid_page_token","message":"m"}]}]}"#,
        )
        .unwrap_err();
        assert!(e.is_request_refusal(), "{e}");
        let e =
            page(r#"{"fail":[{"errors":[{"code":"err_busy","message":"m","retryable":true}]}]}"#)
                .unwrap_err();
        assert!(e.is_transient(), "{e}");
        let e = page(r#"{"error":{"code":"x","message":"m"}}"#).unwrap_err();
        assert!(matches!(e, ApiError::Server { .. }), "{e}");
    }

    #[test]
    fn one_object_in_each_form() {
        let one = |t: &str| parse_one(&Bytes::from(t.to_string()), "/t");
        assert_eq!(
            one(r#"{"value":[{"id":"a"}]}"#).unwrap().get(),
            r#"{"id":"a"}"#
        );
        assert_eq!(
            one(r#"{"data":[{"id":"b"}]}"#).unwrap().get(),
            r#"{"id":"b"}"#
        );
        assert_eq!(
            one(r#"{"id":"c","x":1}"#).unwrap().get(),
            r#"{"id":"c","x":1}"#
        );
        assert!(one(r#"{"value":[]}"#).is_err());
        assert!(one(r#"{"x":1}"#).is_err());
    }
}
