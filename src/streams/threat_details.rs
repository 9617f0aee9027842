//! A threat from `/threats/v1/events` says what was caught; who sent it, to whom, which files and
//! which links are in its details (`/threats/v1/events/{id}/details`,
//! docs/mimecast-api.md#threats-api). An analyst wants one event with both, so each threat of a
//! page is completed with its details before the page is written, and the pair is the event's raw
//! record: `{"threat": <as listed>, "details": <as answered, or null>, "detailsError": <why
//! null>}`.
//!
//! Details that cannot be had for one threat (gone: 404, 410; refused or answered oddly for that
//! request: 400, 422, an unknown shape) do not hold the stream back: the threat is written
//! without them and says why. Anything that may pass (5xx, timeouts, rate limits after the
//! client's retries) or that concerns every threat (a missing permission, refused credentials,
//! every threat of a page refused alike) fails the poll instead, and the page is read again at
//! the next one.

use super::{Detail, Record, Request, Response, StreamError};
use crate::api::ApiError;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The details route's path for a threat id, if the id is one it accepts
/// (`^[A-Za-z0-9_-]+$`, "Detection Id" in the portal's route list,
/// docs/mimecast-api.md#threats-api).
pub fn path(id: &str) -> Option<String> {
    let ok = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then(|| format!("/threats/v1/events/{id}/details"))
}

#[derive(Deserialize)]
struct Listed<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
}

fn threat_id(item: &RawValue) -> Option<String> {
    let listed: Listed = serde_json::from_str(item.get()).ok()?;
    serde_json::from_str::<String>(listed.id?.get()).ok()
}

/// One details request per threat of the page (`None` for a threat without a usable id).
pub fn requests(items: &RawValue) -> Result<Vec<Option<Detail>>, StreamError> {
    let list: Vec<&RawValue> = serde_json::from_str(items.get())
        .map_err(|e| StreamError::Shape(format!("threats are not an array: {e}")))?;
    Ok(list
        .iter()
        .map(|item| {
            let id = threat_id(item)?;
            let path = path(&id)?;
            Some(Detail {
                id,
                request: Request::GetOne {
                    path,
                    // docs/mimecast-api.md#threats-api: `source` is required (EMAIL only);
                    // `pageSize` (1-100) bounds the sub-collections (files, URLs, recipients).
                    query: vec![("source", "EMAIL".into()), ("pageSize", "100".into())],
                },
            })
        })
        .collect())
}

/// How a failed details call is taken.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// That one threat is gone (404, 410): written without details.
    Gone,
    /// Refused or answered oddly for this request (400, 422, an answer in an unknown shape):
    /// written without details, unless every threat of the page met the same (then the route
    /// changed for everyone, and the poll fails loudly).
    Refused,
    /// Anything that may pass or concerns every threat (5xx, timeouts, rate limits after
    /// retries, missing permission, refused credentials): the poll fails and the page is read
    /// again at the next one.
    Poll,
}

fn failure(e: &ApiError) -> Failure {
    match e {
        ApiError::Request {
            status: 404 | 410, ..
        } => Failure::Gone,
        ApiError::Request {
            status: 400 | 422, ..
        }
        | ApiError::Fail { .. }
        | ApiError::Shape(_) => Failure::Refused,
        _ => Failure::Poll,
    }
}

/// The page's threats, each with its details (answers in the order of [`requests`]).
pub fn merge(
    items: &RawValue,
    answers: Vec<Option<Result<Response, ApiError>>>,
) -> Result<Vec<Record>, StreamError> {
    let list: Vec<&RawValue> = serde_json::from_str(items.get())
        .map_err(|e| StreamError::Shape(format!("threats are not an array: {e}")))?;
    if answers.len() != list.len() {
        return Err(StreamError::Shape(format!(
            "{} details answers for {} threats",
            answers.len(),
            list.len()
        )));
    }
    let asked = answers.iter().flatten().count();
    let refused = answers
        .iter()
        .flatten()
        .filter(|a| a.as_ref().is_err_and(|e| failure(e) == Failure::Refused))
        .count();
    let mut without = 0;
    let mut out = Vec::with_capacity(list.len());
    for (item, answer) in list.into_iter().zip(answers) {
        let refused_call = matches!(answer, Some(Err(_)));
        let (details, error) = match answer {
            None => (
                None,
                Some("the threat has no id the details route accepts".to_string()),
            ),
            Some(Ok(Response::One(d))) => (Some(d), None),
            Some(Ok(_)) => {
                return Err(StreamError::Shape(
                    "a details answer of the wrong kind".into(),
                ))
            }
            Some(Err(e)) => match failure(&e) {
                Failure::Refused if asked > 1 && refused == asked => {
                    return Err(StreamError::Api(e))
                }
                Failure::Gone | Failure::Refused => (None, Some(e.to_string())),
                Failure::Poll => return Err(StreamError::Api(e)),
            },
        };
        // (A threat without a request is one without a usable id, or one already written,
        // which render drops: only refused calls are worth a warning.)
        without += usize::from(details.is_none() && refused_call);
        let mut text = String::with_capacity(item.get().len() + 64);
        text.push_str(r#"{"threat":"#);
        text.push_str(item.get());
        text.push_str(r#","details":"#);
        match &details {
            Some(d) => text.push_str(d.get()),
            None => text.push_str("null"),
        }
        if let Some(e) = error {
            text.push_str(r#","detailsError":"#);
            text.push_str(&serde_json::to_string(&e).unwrap_or_else(|_| "\"?\"".into()));
        }
        text.push('}');
        let raw = RawValue::from_string(text)
            .map_err(|e| StreamError::Shape(format!("building a threat record: {e}")))?;
        out.push(Record::plain(raw));
    }
    if without > 0 {
        tracing::warn!(
            threats = out.len(),
            without_details = without,
            "threats written without their details (each event's detailsError says why)"
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn ids_the_route_refuses_get_no_request() {
        assert_eq!(
            path("ab_C-9").as_deref(),
            Some("/threats/v1/events/ab_C-9/details")
        );
        for bad in ["", "a/b", "a b", "../x", "é"] {
            assert_eq!(path(bad), None, "{bad}");
        }
        let reqs = requests(&raw(r#"[{"id":"t1"},{"id":"x/y"},{"no":1},{"id":7}]"#)).unwrap();
        assert_eq!(reqs.len(), 4);
        assert!(
            matches!(&reqs[0], Some(Detail { id, request: Request::GetOne { path, .. } }) if id == "t1" && path == "/threats/v1/events/t1/details")
        );
        assert!(reqs[1..].iter().all(Option::is_none));
    }

    #[test]
    fn a_threat_refused_its_details_is_written_without_them_and_says_why() {
        let items = raw(r#"[{"id":"a","n":1},{"id":"b"},{"x":1}]"#);
        let answers = vec![
            Some(Ok(Response::One(raw(r#"{"id":"a","files":[]}"#)))),
            Some(Err(ApiError::Request {
                status: 404,
                path: "/threats/v1/events/b/details".into(),
                detail: "not found".into(),
            })),
            None,
        ];
        let merged = merge(&items, answers).unwrap();
        let texts: Vec<serde_json::Value> = merged
            .iter()
            .map(|r| serde_json::from_str(r.raw.get()).unwrap())
            .collect();
        assert_eq!(texts[0]["threat"]["n"], 1);
        assert_eq!(texts[0]["details"]["id"], "a");
        assert!(texts[0].get("detailsError").is_none());
        assert!(texts[1]["details"].is_null());
        assert!(texts[1]["detailsError"].as_str().unwrap().contains("404"));
        assert!(texts[2]["detailsError"].as_str().unwrap().contains("no id"));
    }

    #[test]
    fn a_failure_that_may_pass_or_concerns_every_threat_fails_the_page() {
        let items = raw(r#"[{"id":"a"},{"id":"b"}]"#);
        let ok = || Some(Ok(Response::One(raw(r#"{"id":"b"}"#))));
        for e in [
            ApiError::Server {
                status: 503,
                detail: "x".into(),
            },
            ApiError::RateLimited { reset: None },
            ApiError::Forbidden {
                path: "/threats/v1/events/a/details".into(),
                action: "grant".into(),
            },
        ] {
            assert!(merge(&items, vec![Some(Err(e)), ok()]).is_err());
        }
        // One odd answer costs that threat its details; every answer odd fails the page.
        let odd = || Some(Err(ApiError::Shape("odd".into())));
        let one = merge(&items, vec![odd(), ok()]).unwrap();
        assert!(one[0].raw.get().contains(r#""details":null"#));
        assert!(merge(&items, vec![odd(), odd()]).is_err());
        // Gone is gone, however many.
        let gone = || {
            Some(Err(ApiError::Request {
                status: 404,
                path: "/x".into(),
                detail: "not found".into(),
            }))
        };
        assert_eq!(merge(&items, vec![gone(), gone()]).unwrap().len(), 2);
    }
}
