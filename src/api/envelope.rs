//! The two response shapes Mimecast uses, parsed without touching the records.
//!
//! `/api/...` functions answer `{"meta":…,"data":[…],"fail":[…]}` (docs/mimecast-api.md#envelope)
//! and report function-level failure in `fail[]` even with HTTP 200. The 2.0 SIEM routes answer
//! `{"value":[…],"@nextPage":…,"isCaughtUp":…}` and errors as `{"error":{…}}`
//! (docs/mimecast-api.md#siem-batch-cloud-gateway). Records stay a `RawValue` here: each stream
//! parses them into its own types, once.

use super::error::{snippet, ApiError};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub meta: Meta,
    /// The `data` array, unparsed. `None` when the body had no `data`.
    #[serde(default)]
    pub data: Option<Box<RawValue>>,
    #[serde(default)]
    pub fail: Vec<FailEntry>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub previous: Option<String>,
    /// Sometimes a number, sometimes a string (docs/mimecast-api.md#envelope): kept loose.
    #[serde(default)]
    pub total_count: Option<serde_json::Value>,
}

/// One `fail[]` entry. Two forms exist: `{key, errors:[{code,message,retryable}]}` and a bare
/// `{code?, message}` (OAuth and 401 bodies, docs/mimecast-api.md#envelope,
/// docs/mimecast-api.md#api-20-oauth2).
#[derive(Debug, Default, Deserialize)]
pub struct FailEntry {
    #[serde(default)]
    pub errors: Vec<FailError>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FailError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub retryable: bool,
}

/// Code Mimecast returns in `fail[]` for an expired API 1.0 binding
/// (docs/mimecast-api.md#key-expiry-and-binding-refresh).
pub const BINDING_EXPIRED: &str = "err_xdk_binding_expired";

impl Envelope {
    pub fn parse(body: &[u8]) -> Result<Envelope, ApiError> {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::Decode(format!(
                "expected a Mimecast JSON envelope ({e}); body starts: {}",
                snippet(body, 120)
            ))
        })
    }

    /// Every `(code, message, retryable)` reported in `fail[]`, flattened across both forms.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.fail.iter().flat_map(|f| {
            let bare = (f.errors.is_empty()).then(|| {
                (
                    f.code.as_deref().unwrap_or(""),
                    f.message.as_deref().unwrap_or(""),
                    false,
                )
            });
            f.errors
                .iter()
                .map(|e| (e.code.as_str(), e.message.as_str(), e.retryable))
                .chain(bare)
        })
    }

    pub fn has_failure_code(&self, code: &str) -> bool {
        self.failures().any(|(c, _, _)| c == code)
    }

    /// `Err` when `fail[]` reports anything: an expired binding, a retryable error, or a
    /// permanent rejection, in that order of precedence.
    pub fn check(&self, path: &str) -> Result<(), ApiError> {
        if self.fail.is_empty() {
            return Ok(());
        }
        if self.has_failure_code(BINDING_EXPIRED) {
            return Err(ApiError::KeysExpired);
        }
        let mut first = None;
        for (code, message, retryable) in self.failures() {
            if retryable {
                return Err(ApiError::RetryableFail {
                    code: code.to_string(),
                    message: message.to_string(),
                });
            }
            first.get_or_insert((code, message));
        }
        let (code, message) = first.unwrap_or(("", ""));
        Err(ApiError::Fail {
            path: path.to_string(),
            code: if code.is_empty() {
                "unknown".into()
            } else {
                code.to_string()
            },
            message: if message.is_empty() {
                "(no message)".into()
            } else {
                message.to_string()
            },
        })
    }

    /// The token for the next page, or `None` on the last page. Mimecast omits `next` on the
    /// last page; some responses carry a placeholder `next` with no records
    /// (docs/mimecast-api.md#archive-search-logs), so an empty page also ends the walk. `records`
    /// is what the caller found in this page.
    pub fn next_page_token(&self, records: usize) -> Option<&str> {
        if records == 0 {
            return None;
        }
        self.meta
            .pagination
            .as_ref()
            .and_then(|p| p.next.as_deref())
            .filter(|t| !t.is_empty())
    }
}

/// One page of a 2.0 SIEM route (docs/mimecast-api.md#siem-batch-cloud-gateway).
#[derive(Debug, Deserialize)]
pub struct SiemPage {
    #[serde(default)]
    pub value: Option<Box<RawValue>>,
    #[serde(rename = "@nextPage", default)]
    pub next_page: Option<String>,
    #[serde(rename = "isCaughtUp", default)]
    pub is_caught_up: bool,
}

/// What decides whether a 200 body is a SIEM page: at least one of its own members. A body
/// without them (an error in another shape) must never read as an empty, caught-up page.
#[derive(Debug, Deserialize)]
struct SiemPageProbe<'a> {
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(rename = "@nextPage", borrow, default)]
    next_page: Option<&'a RawValue>,
    #[serde(rename = "isCaughtUp", borrow, default)]
    is_caught_up: Option<&'a RawValue>,
    #[serde(default)]
    fail: Vec<FailEntry>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
struct SiemErrorBody {
    error: SiemErrorDetail,
}

#[derive(Debug, Deserialize)]
struct SiemErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl SiemPage {
    /// A page is recognised positively: `fail[]` or `error` is the error it reports (transient
    /// where it says so), and a body with none of `value`, `@nextPage`, `isCaughtUp` is an
    /// unreadable answer (transient: retried, never taken as "caught up").
    pub fn parse(body: &[u8]) -> Result<SiemPage, ApiError> {
        let decode = |e: &dyn std::fmt::Display| {
            ApiError::Decode(format!(
                "expected a SIEM page ({e}); body starts: {}",
                snippet(body, 120)
            ))
        };
        let probe: SiemPageProbe = serde_json::from_slice(body).map_err(|e| decode(&e))?;
        if !probe.fail.is_empty() {
            let env = Envelope {
                meta: Meta::default(),
                data: None,
                fail: probe.fail,
            };
            env.check("SIEM batch listing")?;
        }
        if probe.value.is_none() && probe.next_page.is_none() && probe.is_caught_up.is_none() {
            return Err(match probe.error {
                Some(_) => ApiError::Server {
                    status: 200,
                    detail: error_detail(body),
                },
                None => decode(&"none of value, @nextPage, isCaughtUp"),
            });
        }
        serde_json::from_slice(body).map_err(|e| decode(&e))
    }
}

/// The human part of an error body, whichever shape it has: SIEM `error`, envelope `fail[]`,
/// or raw text.
pub fn error_detail(body: &[u8]) -> String {
    if let Ok(e) = serde_json::from_slice::<SiemErrorBody>(body) {
        let code = e.error.code.unwrap_or_default();
        let message = e.error.message.unwrap_or_default();
        return format!("{code} {message}").trim().to_string();
    }
    if let Ok(env) = serde_json::from_slice::<Envelope>(body) {
        if let Some((code, message, _)) = env.failures().next() {
            return format!("{code} {message}").trim().to_string();
        }
    }
    if body.is_empty() {
        "(empty body)".into()
    } else {
        snippet(body, 200)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_page_and_its_next_token() {
        let body =
            br#"{"meta":{"status":200,"pagination":{"pageSize":2,"totalCount":"7","next":"tok2"}},
            "data":[{"clickLogs":[{"a":1},{"a":2}]}],"fail":[]}"#;
        let env = Envelope::parse(body).unwrap();
        env.check("/p").unwrap();
        assert_eq!(env.next_page_token(2), Some("tok2"));
        assert_eq!(env.next_page_token(0), None, "an empty page ends the walk");
        assert!(env.data.unwrap().get().contains("clickLogs"));
    }

    #[test]
    fn fail_entries_on_http_200_are_errors() {
        let expired = br#"{"meta":{"status":200},"data":[],"fail":[{"key":{},"errors":[{"code":"err_xdk_binding_expired","message":"expired","retryable":false}]}]}"#;
        assert!(matches!(
            Envelope::parse(expired).unwrap().check("/p"),
            Err(ApiError::KeysExpired)
        ));
        let retry = br#"{"meta":{"status":200},"data":[],"fail":[{"errors":[{"code":"err_busy","message":"later","retryable":true}]}]}"#;
        let e = Envelope::parse(retry).unwrap().check("/p").unwrap_err();
        assert!(e.is_transient(), "{e:?}");
        let perm = br#"{"meta":{"status":200},"data":[],"fail":[{"errors":[{"code":"err_validation_blank","message":"from is blank"}]}]}"#;
        let e = Envelope::parse(perm).unwrap().check("/p").unwrap_err();
        assert!(!e.is_transient());
        assert!(e.to_string().contains("err_validation_blank"), "{e}");
        let bare = br#"{"fail":[{"message":"Invalid client credentials"}]}"#;
        assert!(Envelope::parse(bare)
            .unwrap()
            .check("/p")
            .unwrap_err()
            .to_string()
            .contains("Invalid client credentials"));
    }

    #[test]
    fn truncated_or_foreign_bodies_are_decode_errors() {
        let e = Envelope::parse(br#"{"meta":{"status":200},"data":[{"clickLo"#).unwrap_err();
        assert!(matches!(e, ApiError::Decode(_)) && e.is_transient());
        let e = Envelope::parse(b"<html><body>502 Bad Gateway</body></html>").unwrap_err();
        assert!(e.to_string().contains("502 Bad Gateway"), "{e}");
    }

    #[test]
    fn siem_pages_and_errors() {
        let p = SiemPage::parse(
            br#"{"value":[{"url":"u","expiry":"e","size":1}],"@nextPage":"n1","isCaughtUp":false}"#,
        )
        .unwrap();
        assert_eq!(p.next_page.as_deref(), Some("n1"));
        assert!(!p.is_caught_up);
        assert_eq!(
            error_detail(br#"{"error":{"code":"bad_request","message":"type is invalid"}}"#),
            "bad_request type is invalid"
        );
        assert_eq!(error_detail(b""), "(empty body)");
    }

    #[test]
    fn a_siem_answer_that_is_not_a_page_is_an_error_never_caught_up() {
        let retryable = br#"{"meta":{"status":200},"fail":[{"errors":[{"code":"err_busy","message":"later","retryable":true}]}]}"#;
        let e = SiemPage::parse(retryable).unwrap_err();
        assert!(
            matches!(e, ApiError::RetryableFail { .. }) && e.is_transient(),
            "{e:?}"
        );
        let e = SiemPage::parse(br#"{"something":"else"}"#).unwrap_err();
        assert!(matches!(e, ApiError::Decode(_)), "{e:?}");
        let e = SiemPage::parse(br#"{"error":{"code":"x","message":"y"}}"#).unwrap_err();
        assert!(e.is_transient() && e.to_string().contains("x y"), "{e}");
        let p = SiemPage::parse(br#"{"value":[],"isCaughtUp":true}"#).unwrap();
        assert!(p.is_caught_up);
    }
}
