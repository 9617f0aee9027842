//! Fault injection: the failures a real Mimecast (and the proxies in front of it) produce.
//!
//! WHY: a collector's retry, backoff and checkpoint logic is only tested if the server can
//! misbehave on demand, deterministically: rate limits (MIMECAST.md §5), 5xx and HTML proxy pages,
//! resets, truncated or malformed JSON, `fail[]` codes with HTTP 200 (§3), 403 permissions,
//! 418 expired bindings (§1.4) and expired tokens (§6.2).
//!
//! # Spec grammar (CLI `--faults`, [`FaultRule::from_str`], [`parse_fault_specs`])
//!
//! ```text
//! SPECS := SPEC ("," SPEC)*
//! SPEC  := KIND [ ("=" | ":") ARG ] [ "x" TIMES ] [ "+" AFTER ] [ "@" PATH_PREFIX ] [ "#" TENANT ]
//! ```
//! `TIMES` (default 1) is how many matching requests get the fault (`x*` = forever); `AFTER`
//! (default 0) is how many matching requests pass untouched first. `PATH_PREFIX` limits the rule
//! to paths starting with it; `TENANT` to one tenant. Kinds:
//!
//! | spec | fault |
//! |---|---|
//! | `429`, `429:reset=2000`, `429=2000`, `ratelimit` | [`FaultKind::RateLimit`] (with `reset`: `X-RateLimit-*` headers, reset in ms) |
//! | `500`, `502`, `503`, `504`, `status=NNN` | [`FaultKind::Status`] |
//! | `html502`, `html=503` | [`FaultKind::HtmlError`] |
//! | `delay=5s`, `delay=250ms`, `delay=2m` | [`FaultKind::Delay`] |
//! | `reset` | [`FaultKind::Reset`] |
//! | `truncated` | [`FaultKind::TruncatedJson`] |
//! | `malformed` | [`FaultKind::MalformedJson`] |
//! | `fail=CODE`, `fail=CODE:retryable` | [`FaultKind::Fail`] |
//! | `403`, `forbidden` | [`FaultKind::Forbidden`] |
//! | `418`, `expired-keys` | [`FaultKind::KeysExpired`] |
//! | `401`, `expired-token` | [`FaultKind::TokenExpired`] |
//!
//! Examples: `500x3`, `reset@/api/ttp/url/get-logs`, `429:reset=2000x2+5#acme`,
//! `fail=err_x:retryable`.

use std::str::FromStr;
use std::time::Duration;

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// 429 + `fail[0].message`; `Some(ms)` adds `X-RateLimit-Limit/Remaining/Reset` (Reset in ms).
    RateLimit { reset_ms: Option<u64> },
    /// Plain HTTP status (e.g. 500/502/503/504) with a small JSON body.
    Status(u16),
    /// An HTML error page (text/html), as a proxy in front of Mimecast would send.
    HtmlError(u16),
    /// Answer correctly, but only after this delay.
    Delay(Duration),
    /// Declare a Content-Length, then break the connection mid-body.
    Reset,
    /// HTTP 200 with the correct body cut in half.
    TruncatedJson,
    /// HTTP 200, `application/json`, body not JSON.
    MalformedJson,
    /// HTTP 200 with a `fail[]` entry carrying this code.
    Fail { code: String, retryable: bool },
    /// 403 with a permission `fail[]` entry.
    Forbidden,
    /// 418 + `err_xdk_binding_expired`.
    KeysExpired,
    /// 401 + `token_expired`.
    TokenExpired,
}

impl FaultKind {
    /// Auth-kind faults replace authentication (they fire before credentials are checked).
    pub fn is_auth(&self) -> bool {
        matches!(self, FaultKind::KeysExpired | FaultKind::TokenExpired)
    }

    /// Short label recorded in [`crate::RecordedRequest::fault`].
    pub fn label(&self) -> String {
        match self {
            FaultKind::RateLimit { reset_ms: Some(ms) } => format!("429:reset={ms}"),
            FaultKind::RateLimit { reset_ms: None } => "429".into(),
            FaultKind::Status(s) => s.to_string(),
            FaultKind::HtmlError(s) => format!("html{s}"),
            FaultKind::Delay(d) => format!("delay={}ms", d.as_millis()),
            FaultKind::Reset => "reset".into(),
            FaultKind::TruncatedJson => "truncated".into(),
            FaultKind::MalformedJson => "malformed".into(),
            FaultKind::Fail { code, retryable } => {
                if *retryable {
                    format!("fail={code}:retryable")
                } else {
                    format!("fail={code}")
                }
            }
            FaultKind::Forbidden => "403".into(),
            FaultKind::KeysExpired => "expired-keys".into(),
            FaultKind::TokenExpired => "expired-token".into(),
        }
    }
}

/// One entry of the fault plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// Only requests whose path starts with this (None = all paths).
    pub path_prefix: Option<String>,
    /// Only this tenant (None = any, including requests with no identifiable tenant).
    pub tenant: Option<String>,
    /// How many matching requests get the fault; then the rule is spent. `u32::MAX` = forever.
    pub times: u32,
    /// Skip this many matching requests first.
    pub after: u32,
    pub kind: FaultKind,
}

impl FaultRule {
    /// A rule for every path and tenant, once.
    pub fn once(kind: FaultKind) -> Self {
        FaultRule {
            path_prefix: None,
            tenant: None,
            times: 1,
            after: 0,
            kind,
        }
    }

    pub fn matches(&self, path: &str, tenant: Option<&str>) -> bool {
        self.path_prefix
            .as_deref()
            .is_none_or(|p| path.starts_with(p))
            && self.tenant.as_deref().is_none_or(|t| tenant == Some(t))
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "ms"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?}: expected e.g. 250ms, 5s or 2m"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(format!("bad duration unit in {s:?}: use ms, s or m")),
    })
}

fn parse_status(s: &str, what: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(n) if (400..=599).contains(&n) => Ok(n),
        _ => Err(format!(
            "{what}: {s:?} is not an HTTP error status (400-599)"
        )),
    }
}

impl FromStr for FaultRule {
    type Err = String;

    /// Parses one spec (see the module docs for the grammar).
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let orig = spec.trim();
        if orig.is_empty() {
            return Err("empty fault spec".into());
        }
        let mut rest = orig;
        let mut tenant = None;
        if let Some(i) = rest.rfind('#') {
            let t = &rest[i + 1..];
            if t.is_empty() {
                return Err(format!("fault spec {orig:?}: empty tenant after '#'"));
            }
            tenant = Some(t.to_string());
            rest = &rest[..i];
        }
        let mut path_prefix = None;
        if let Some(i) = rest.find('@') {
            let p = &rest[i + 1..];
            if !p.starts_with('/') {
                return Err(format!(
                    "fault spec {orig:?}: path prefix after '@' must start with '/'"
                ));
            }
            path_prefix = Some(p.to_string());
            rest = &rest[..i];
        }
        let mut after = 0;
        if let Some(i) = rest.rfind('+') {
            let a = &rest[i + 1..];
            after = a.parse().map_err(|_| {
                format!("fault spec {orig:?}: '+{a}' is not a number of requests to skip")
            })?;
            rest = &rest[..i];
        }
        let mut times = 1;
        if let Some(i) = rest.rfind('x') {
            let t = &rest[i + 1..];
            if t == "*" {
                times = u32::MAX;
                rest = &rest[..i];
            } else if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                times = t
                    .parse()
                    .map_err(|_| format!("fault spec {orig:?}: 'x{t}' is too large"))?;
                if times == 0 {
                    return Err(format!("fault spec {orig:?}: x0 would never fire"));
                }
                rest = &rest[..i];
            }
        }
        let (kind_s, arg) = match rest.find(['=', ':']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let kind_l = kind_s.to_ascii_lowercase();
        let need_arg = |what: &str| -> Result<&str, String> {
            arg.filter(|a| !a.is_empty())
                .ok_or_else(|| format!("fault spec {orig:?}: {kind_s} needs {what}"))
        };
        let no_arg = |k: FaultKind| -> Result<FaultKind, String> {
            match arg {
                None => Ok(k),
                Some(a) => Err(format!(
                    "fault spec {orig:?}: {kind_s} takes no argument (got {a:?})"
                )),
            }
        };
        let kind = match kind_l.as_str() {
            "429" | "ratelimit" | "rate-limit" => {
                let reset_ms = match arg {
                    None => None,
                    Some(a) => {
                        let v = a.strip_prefix("reset=").unwrap_or(a);
                        Some(v.parse().map_err(|_| {
                            format!("fault spec {orig:?}: 429 takes reset=MILLISECONDS, got {a:?}")
                        })?)
                    }
                };
                FaultKind::RateLimit { reset_ms }
            }
            "403" | "forbidden" => no_arg(FaultKind::Forbidden)?,
            "418" | "expired-keys" | "keys-expired" => no_arg(FaultKind::KeysExpired)?,
            "401" | "expired-token" | "token-expired" => no_arg(FaultKind::TokenExpired)?,
            "reset" => no_arg(FaultKind::Reset)?,
            "truncated" => no_arg(FaultKind::TruncatedJson)?,
            "malformed" => no_arg(FaultKind::MalformedJson)?,
            "status" => FaultKind::Status(parse_status(need_arg("a status, e.g. status=503")?, orig)?),
            "html" => FaultKind::HtmlError(parse_status(need_arg("a status, e.g. html=502")?, orig)?),
            "delay" => FaultKind::Delay(
                parse_duration(need_arg("a duration, e.g. delay=5s")?)
                    .map_err(|e| format!("fault spec {orig:?}: {e}"))?,
            ),
            "fail" => {
                let a = need_arg("an error code, e.g. fail=err_x or fail=err_x:retryable")?;
                let (code, retryable) = match a.rsplit_once(':') {
                    Some((c, "retryable")) => (c, true),
                    Some((_, other)) => {
                        return Err(format!(
                            "fault spec {orig:?}: unknown fail flag {other:?} (only 'retryable')"
                        ))
                    }
                    None => (a, false),
                };
                if code.is_empty() {
                    return Err(format!("fault spec {orig:?}: empty error code"));
                }
                FaultKind::Fail {
                    code: code.to_string(),
                    retryable,
                }
            }
            k if k.starts_with("html") => FaultKind::HtmlError(parse_status(&k[4..], orig)?),
            k if k.len() == 3 && k.bytes().all(|b| b.is_ascii_digit()) => {
                let n = parse_status(k, orig)?;
                no_arg(FaultKind::Status(n))?
            }
            _ => {
                return Err(format!(
                    "fault spec {orig:?}: unknown fault kind {kind_s:?}; expected one of 429, 5xx, status=N, \
                     html502, delay=5s, reset, truncated, malformed, fail=CODE[:retryable], 403, \
                     expired-keys, expired-token"
                ))
            }
        };
        Ok(FaultRule {
            path_prefix,
            tenant,
            times,
            after,
            kind,
        })
    }
}

/// Parses a comma-separated list of specs (empty string = no faults).
pub fn parse_fault_specs(spec: &str) -> Result<Vec<FaultRule>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(FaultRule::from_str)
        .collect()
}

/// The live plan: rules with their counters.
#[derive(Debug, Default)]
pub struct FaultPlan {
    rules: Vec<(FaultRule, u32, u32)>, // (rule, matched so far, fired so far)
}

impl FaultPlan {
    pub fn new(rules: Vec<FaultRule>) -> Self {
        FaultPlan {
            rules: rules.into_iter().map(|r| (r, 0, 0)).collect(),
        }
    }

    pub fn push(&mut self, rule: FaultRule) {
        self.rules.push((rule, 0, 0));
    }

    /// Picks the first live rule of the requested family (`auth` or not) matching the request,
    /// advancing counters. Rules of the other family are not touched.
    pub fn pick(&mut self, path: &str, tenant: Option<&str>, auth: bool) -> Option<FaultKind> {
        for (rule, matched, fired) in self.rules.iter_mut() {
            if rule.kind.is_auth() != auth || *fired >= rule.times || !rule.matches(path, tenant) {
                continue;
            }
            *matched = matched.saturating_add(1);
            if *matched <= rule.after {
                continue;
            }
            *fired = fired.saturating_add(1);
            return Some(rule.kind.clone());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> FaultRule {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn grammar_examples() {
        assert_eq!(p("429").kind, FaultKind::RateLimit { reset_ms: None });
        assert_eq!(
            p("429:reset=2000").kind,
            FaultKind::RateLimit {
                reset_ms: Some(2000)
            }
        );
        let r = p("500x3");
        assert_eq!((r.kind.clone(), r.times), (FaultKind::Status(500), 3));
        let r = p("reset@/api/ttp/url/get-logs");
        assert_eq!(r.kind, FaultKind::Reset);
        assert_eq!(r.path_prefix.as_deref(), Some("/api/ttp/url/get-logs"));
        assert_eq!(p("delay=5s").kind, FaultKind::Delay(Duration::from_secs(5)));
        assert_eq!(p("truncated").kind, FaultKind::TruncatedJson);
        assert_eq!(p("malformed").kind, FaultKind::MalformedJson);
        assert_eq!(p("html502").kind, FaultKind::HtmlError(502));
        assert_eq!(
            p("fail=err_x:retryable").kind,
            FaultKind::Fail {
                code: "err_x".into(),
                retryable: true
            }
        );
        assert_eq!(p("expired-keys").kind, FaultKind::KeysExpired);
        assert_eq!(p("expired-token").kind, FaultKind::TokenExpired);
        assert_eq!(p("403").kind, FaultKind::Forbidden);
        let r = p("429:reset=10x2+5@/api#acme");
        assert_eq!(
            (
                r.times,
                r.after,
                r.path_prefix.as_deref(),
                r.tenant.as_deref()
            ),
            (2, 5, Some("/api"), Some("acme"))
        );
        assert_eq!(p("503x*").times, u32::MAX);
        assert_eq!(parse_fault_specs("500x2, reset ,").map(|v| v.len()), Ok(2));
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        for (spec, needle) in [
            ("teapot", "unknown fault kind"),
            ("delay=5h", "unit"),
            ("delay", "needs a duration"),
            ("429:reset=soon", "reset=MILLISECONDS"),
            ("500@api", "must start with '/'"),
            ("200", "not an HTTP error status"),
            ("fail=err:maybe", "unknown fail flag"),
            ("500x0", "never fire"),
            ("reset=1", "takes no argument"),
            ("", "empty"),
        ] {
            match spec.parse::<FaultRule>() {
                Ok(r) => panic!("{spec} parsed as {r:?}"),
                Err(e) => assert!(e.contains(needle), "{spec}: {e}"),
            }
        }
    }

    #[test]
    fn plan_honours_after_times_and_family() {
        let mut plan = FaultPlan::new(vec![p("500x2+1@/api"), p("expired-keys")]);
        assert_eq!(plan.pick("/api/a", None, false), None); // skipped (after=1)
        assert_eq!(plan.pick("/oauth/token", None, false), None); // no match
        assert_eq!(
            plan.pick("/api/a", None, false),
            Some(FaultKind::Status(500))
        );
        assert_eq!(
            plan.pick("/api/a", None, false),
            Some(FaultKind::Status(500))
        );
        assert_eq!(plan.pick("/api/a", None, false), None); // spent
        assert_eq!(
            plan.pick("/api/a", None, true),
            Some(FaultKind::KeysExpired)
        );
        assert_eq!(plan.pick("/api/a", None, true), None);
    }
}
