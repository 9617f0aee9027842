//! The request journal tests assert against.
//!
//! WHY: integration tests need to see what the collector actually sent (headers, bodies, how
//! often it fetched a token, which fault hit which request), including requests that failed
//! authentication. The journal is bounded so long demos do not grow without limit.

use std::collections::VecDeque;
use std::time::Instant;

/// One request as the simulator saw it, with the status it answered.
///
/// Holds raw headers and bodies, which include credentials (Authorization, client_secret):
/// keep it in tests; use [`RecordedRequest::redacted`] before printing.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Header names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Body as lossy UTF-8.
    pub body: String,
    /// HTTP status answered; `0` while the request is still in flight (e.g. a `Delay` fault),
    /// `499` if the client went away before the answer was ready.
    pub status: u16,
    /// Tenant the request was attributed to (by credentials), if any.
    pub tenant: Option<String>,
    pub at: Instant,
    /// When the answer's head was ready (`None` while in flight): with `at`, how long the
    /// request was open, so tests can tell requests that overlapped.
    pub answered: Option<Instant>,
    /// Label of the injected fault, if one was applied (see [`crate::FaultKind::label`]).
    pub fault: Option<String>,
}

impl RecordedRequest {
    /// Value of the first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (None if it is not JSON).
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// A copy safe to print: Authorization values and `/oauth/token` / login bodies masked.
    pub fn redacted(&self) -> RecordedRequest {
        let mut r = self.clone();
        for (k, v) in r.headers.iter_mut() {
            if k.eq_ignore_ascii_case("authorization") {
                let scheme = v.split(' ').next().unwrap_or("").to_string();
                *v = format!("{scheme} <redacted>");
            }
        }
        if r.path.starts_with("/oauth/") {
            r.body = "<redacted>".into();
        }
        r
    }
}

/// Bounded, ordered journal. Entries are added on arrival and completed in place, so a test
/// sees a request even while its (delayed) answer is pending or after the client gave up.
#[derive(Debug)]
pub struct Journal {
    max: usize,
    next_id: u64,
    items: VecDeque<(u64, RecordedRequest)>,
}

impl Journal {
    pub fn new(max: usize) -> Self {
        Journal {
            max,
            next_id: 0,
            items: VecDeque::new(),
        }
    }

    /// Adds an entry; returns its id for [`Journal::update`].
    pub fn push(&mut self, r: RecordedRequest) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.max == 0 {
            return id;
        }
        while self.items.len() >= self.max {
            self.items.pop_front();
        }
        self.items.push_back((id, r));
        id
    }

    /// Changes entry `id` if it is still kept.
    pub fn update(&mut self, id: u64, f: impl FnOnce(&mut RecordedRequest)) {
        if let Some((_, r)) = self.items.iter_mut().rev().find(|(i, _)| *i == id) {
            f(r);
        }
    }

    pub fn snapshot(&self) -> Vec<RecordedRequest> {
        self.items.iter().map(|(_, r)| r.clone()).collect()
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str) -> RecordedRequest {
        RecordedRequest {
            method: "GET".into(),
            path: path.into(),
            query: None,
            headers: vec![("Authorization".into(), "MC ak:sig".into())],
            body: String::new(),
            status: 0,
            tenant: None,
            at: Instant::now(),
            answered: None,
            fault: None,
        }
    }

    #[test]
    fn bounded_and_updatable() {
        let mut j = Journal::new(2);
        let a = j.push(req("/a"));
        let b = j.push(req("/b"));
        j.update(b, |r| r.status = 200);
        j.push(req("/c"));
        j.update(a, |r| r.status = 500); // dropped already: no effect
        let s = j.snapshot();
        assert_eq!(
            s.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
            ["/b", "/c"]
        );
        assert_eq!(s[0].status, 200);
        assert_eq!(
            s[0].redacted().header("authorization"),
            Some("MC <redacted>")
        );
    }
}
