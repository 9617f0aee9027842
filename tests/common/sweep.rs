//! The secret sweep: does any output (a log, a message, a file) show a secret, whole or in part?
//!
//! A [`SecretSet`] holds each secret with the forms it could take on the way out: as written,
//! form-urlencoded (a token request's body), base64 (a Basic header), JSON- and `Debug`-escaped.
//! Any 8-byte run of any form counts as a leak, so a secret cut short, wrapped across lines
//! or quoted with a prefix is still caught. Secrets must be distinctive enough that no 8-byte
//! run of them occurs in ordinary output (random-looking letters and digits are); a value that
//! is not, such as a number, is added with [`SecretSet::add_exact`] and matched whole.

use base64::Engine;
use std::collections::HashMap;
use std::fmt::Write as _;

/// How long a run of a secret counts as showing it.
pub const FRAGMENT: usize = 8;

#[derive(Clone, Default)]
pub struct SecretSet {
    /// Each secret's label, as the failure names it.
    labels: Vec<String>,
    /// Every 8-byte run of every form, to the secret (and form) it comes from.
    fragments: HashMap<[u8; FRAGMENT], (usize, &'static str)>,
    /// Forms shorter than a fragment, and exact-only secrets: matched whole.
    whole: Vec<(usize, &'static str, Vec<u8>)>,
}

/// Where a secret showed.
#[derive(Debug)]
pub struct Finding {
    pub secret: String,
    pub form: &'static str,
    pub offset: usize,
    /// The text around it, the matched bytes between `»` and `«`.
    pub context: String,
}

impl SecretSet {
    pub fn new() -> SecretSet {
        SecretSet::default()
    }

    /// Adds `value` under `label`, in every form it could be shown in.
    pub fn add(&mut self, label: &str, value: &str) -> &mut SecretSet {
        let id = self.label(label);
        let b64 = base64::engine::general_purpose::STANDARD;
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let json = serde_json::to_string(value).unwrap();
        let forms: [(&'static str, String); 6] = [
            ("as written", value.to_string()),
            (
                "form-urlencoded",
                url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
            ),
            ("JSON-escaped", json[1..json.len() - 1].to_string()),
            ("Debug-escaped", {
                let d = format!("{value:?}");
                d[1..d.len() - 1].to_string()
            }),
            ("base64", b64.encode(value)),
            ("base64url", b64url.encode(value)),
        ];
        for (form, text) in forms {
            self.add_form(id, form, text.as_bytes());
        }
        self
    }

    /// Adds `value` matched whole only (no fragments), for values whose parts are common text.
    pub fn add_exact(&mut self, label: &str, value: &str) -> &mut SecretSet {
        let id = self.label(label);
        self.whole
            .push((id, "whole value", value.as_bytes().to_vec()));
        self
    }

    fn label(&mut self, label: &str) -> usize {
        self.labels.push(label.to_string());
        self.labels.len() - 1
    }

    fn add_form(&mut self, id: usize, form: &'static str, bytes: &[u8]) {
        if bytes.len() < FRAGMENT {
            self.whole.push((id, form, bytes.to_vec()));
            return;
        }
        for run in bytes.windows(FRAGMENT) {
            self.fragments
                .entry(run.try_into().unwrap())
                .or_insert((id, form));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The first place `text` shows a secret, if any.
    pub fn find(&self, text: &[u8]) -> Option<Finding> {
        let found = text
            .windows(FRAGMENT)
            .enumerate()
            .find_map(|(at, run)| {
                let key: &[u8; FRAGMENT] = run.try_into().unwrap();
                self.fragments
                    .get(key)
                    .map(|&(id, form)| (at, FRAGMENT, id, form))
            })
            .or_else(|| {
                self.whole.iter().find_map(|(id, form, value)| {
                    find_bytes(text, value).map(|at| (at, value.len(), *id, *form))
                })
            })?;
        let (at, len, id, form) = found;
        Some(Finding {
            secret: self.labels[id].clone(),
            form,
            offset: at,
            context: context(text, at, len),
        })
    }
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// 120 bytes either side of the match, on one line.
fn context(text: &[u8], at: usize, len: usize) -> String {
    let start = at.saturating_sub(120);
    let end = (at + len + 120).min(text.len());
    let mut out = String::new();
    let _ = write!(
        out,
        "{}»{}«{}",
        String::from_utf8_lossy(&text[start..at]),
        String::from_utf8_lossy(&text[at..at + len]),
        String::from_utf8_lossy(&text[at + len..end])
    );
    out.replace('\n', "⏎")
}

/// Fails, naming the secret, the output and the text around it, when `text` shows any of
/// `secrets` (whole, in part, or encoded). `what` says which output this is.
#[track_caller]
pub fn assert_no_secret(what: &str, text: impl AsRef<[u8]>, secrets: &SecretSet) {
    assert!(!secrets.is_empty(), "{what}: no secrets to look for");
    if let Some(f) = secrets.find(text.as_ref()) {
        panic!(
            "{what} shows the secret {} ({}) at byte {}: …{}…",
            f.secret, f.form, f.offset, f.context
        );
    }
}
