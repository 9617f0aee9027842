//! Fault injection: the failures a real Mimecast (and the proxies in front of it) produce.
//!
//! WHY: a collector's retry, backoff and checkpoint logic is only tested if the server can
//! misbehave on demand, deterministically: rate limits (docs/mimecast-api.md#rate-limits), 5xx and
//! HTML proxy pages, resets, truncated or malformed JSON, `fail[]` codes with HTTP 200
//! (docs/mimecast-api.md#errors), 403 permissions, 418 expired bindings
//! (docs/mimecast-api.md#key-expiry-and-binding-refresh) and expired tokens
//! (docs/mimecast-api.md#api-20-oauth2).
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
//! | `429:reset-s=30`, `429:reset-epoch-s=30`, `429:reset-epoch-ms=30` | [`FaultKind::RateLimitReset`] |
//! | `not-a-page`, `not-a-page=CODE` | [`FaultKind::NotAPage`] |
//! | `bad-page-token` | [`FaultKind::BadPageToken`] |
//! | `same-token` | [`FaultKind::SameToken`] |
//! | `overlap=N` | [`FaultKind::Overlap`] |
//! | `empty-next` | [`FaultKind::EmptyNext`] |
//! | `bad-utf8` | [`FaultKind::BadUtf8`] |
//! | `corrupt-gzip` | [`FaultKind::CorruptGzip`] |
//! | `reorder` | [`FaultKind::Reorder`] |
//! | `new-file` | [`FaultKind::NewFile`] |
//! | `foreign-next-page` | [`FaultKind::ForeignNextPage`] |
//! | `wrong-shape` | [`FaultKind::WrongShape`] |
//!
//! Examples: `500x3`, `reset@/api/ttp/url/get-logs`, `429:reset=2000x2+5#acme`,
//! `fail=err_x:retryable`, `same-tokenx*@/siem`, `overlap=5x*`, `corrupt-gzipx*`,
//! `wrong-shapex*@/api/ttp`.
//!
//! # Misbehaving servers: what each newer kind puts on the wire
//!
//! Most of these model a server that answers "successfully" but wrongly, so they only make
//! sense on some requests (column "applies to"). A rule **only counts requests its kind applies
//! to** (for `AFTER` and `TIMES` alike) and leaves the others alone; e.g. `bad-page-token+1`
//! refuses the second request that carries a page token, however many first-page requests come
//! in between. As for every kind, a request gets at most one fault: the first live rule that
//! matches (path, tenant) and applies. "Paged endpoints" are the POST
//! endpoints paged by `meta.pagination`: the "log endpoints" of the log table (audit events,
//! TTP URL/attachment/impersonation, DLP, held/release, message finder, archive search logs,
//! get-search-logs, dashboard notifications), `/api/archive/search` and
//! `/api/user/get-internal-users`; "a page token" is `meta.pagination.pageToken` there,
//! `data[0].token` on `/api/audit/get-siem-logs` and `/api/ttp/threat-intel/get-feed`,
//! `nextPage` on `/siem/v1/batch/events/{cg,ci}` ("SIEM batch"), and `pageToken` on
//! `GET /threats/v1/events` ("threats", whose next page is `@nextPage` or where
//! [`crate::SimConfig::rest_shape`] puts it).
//!
//! | kind | applies to | the client sees |
//! |---|---|---|
//! | `429:reset-s=N` | any | the 429 of `429:reset=MS` (same body, `X-RateLimit-Limit`, `X-RateLimit-Remaining: 0`), but `X-RateLimit-Reset: N` meant as **seconds** (a server that does not follow the documented milliseconds) |
//! | `429:reset-epoch-s=N` | any | 429 with `X-RateLimit-Reset` = the server's clock in epoch **seconds** + N (an absolute time) |
//! | `429:reset-epoch-ms=N` | any | 429 with `X-RateLimit-Reset` = the server's clock in epoch **milliseconds** + N s |
//! | `not-a-page[=CODE]` | `/siem/...` | HTTP **200** whose body is an envelope with one retryable `fail[]` entry (default code `err_service_unavailable`) and none of `value`, `@nextPage`, `isCaughtUp`. (`fail=CODE:retryable` on `/siem` paths is different: HTTP 503 with `{"error":{…}}`.) |
//! | `bad-page-token` | requests with a page token | HTTP 400 `err_validation_invalid_page_token`: envelope `{"meta":{"status":400},"data":[],"fail":[{…,"errors":[{"code":"err_validation_invalid_page_token",…,"retryable":false}]}]}` on `/api`, `{"error":{"code":"err_validation_invalid_page_token",…}}` on `/siem` |
//! | `same-token` | paged endpoints, get-siem-logs, threat feed, SIEM batch and threats, with a page token | the page the token names, whose continuation token is **the request's token**: `meta.pagination.next` = `pageToken` (added even on the last page); `mc-siem-token` = `token` (so the next request gets the same file); `x-mc-threat-feed-next-token` = `token`; `@nextPage` = `nextPage` with `isCaughtUp: false`; threats: next page = `pageToken` (as a URI carrying it, if the shape gives URIs; present even on the last page). With `x*` the walk never advances. |
//! | `overlap=N` | paged endpoints and threats, with a page token | the page starts N records before the token's position, so it repeats the previous page's last N records; its `next` continues from there (no record is lost). With `x*` and N ≥ page size the walk stops advancing. |
//! | `empty-next` | paged endpoints, threats | a page with **no records** (`data[0].<records>: []`, `data: []` for audit; threats: an empty records array) that still has a next page; that token (never equal to the request's) yields the page that was due. |
//! | `bad-utf8` | paged endpoints; `/storage/...` files | JSON page: the middle record of the page has a raw `0xFF` byte inside its first string field (in key order), the rest of the body is intact. SIEM file: valid gzip, and the middle NDJSON line has a raw `0xFF` inside its first string field. |
//! | `corrupt-gzip` | `/storage/...` files | 200, `application/gzip`, a gzip header and the first half of the real stream intact, the second half garbled: decompression fails (bad data or CRC). Every request while the rule lasts (`x*`: forever). |
//! | `reorder` | SIEM batch listings | the page's files listed in reverse order (newest first). |
//! | `new-file` | SIEM batch listings | the first file the next page would have listed appears first on this page, before the usual ones; `@nextPage` moves past it. Nothing is inserted on the last page. |
//! | `foreign-next-page` | `GET /threat-reporting/v1/reported-emails`; threats when `rest_shape` gives the next page as a URI | the page is correct, but its next-page URI points to another host: `https://attacker.example/<same path>?<same query>` (a client must not send its bearer token there). Nothing changes on the last page (there is no next page). |
//! | `wrong-shape` | log endpoints; SIEM batch; threats, `GET /threats/v1/events/{id}/details`, reported emails | HTTP **200**, `application/json`, the right records in a shape no client knows (an unannounced API change). Log endpoints: the usual envelope (`meta` with `pagination`, `fail: []`), but `data[0].<records>` is an **object** keyed by index, `{"0":{…},"1":{…}}` (other `data[0]` fields, e.g. `resultCount`, stay); audit events (records directly in `data[]`): `data` is the object `{"records":[…]}`. SIEM batch: `{"value":{"files":[…]},"@nextPage":…,"isCaughtUp":…}` (`value` an object). Threats, details and reported emails (whatever `rest_shape`): `{"results":[…],"next":"…"}`, none of `value`, `data`, `events`, `items`, `meta`; `next` is the next page as the route would give it (token or URI) and is absent on the last page and on details. A client must fail loudly, not read an empty page. |
//!
//! File URLs keep one path per file (tenant, type, record range) across listings; only the
//! signed query (`expires`, `signature`) changes, as with pre-signed object-store URLs. So a
//! client that resumes a page "from file index k" after `reorder` or `new-file` re-reads or
//! skips files, while one that remembers file paths does not.

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
    /// 429 + `X-RateLimit-*` headers whose `Reset` is not the documented milliseconds-to-wait.
    RateLimitReset(ResetForm),
    /// HTTP 200 with an envelope carrying one retryable `fail[]` entry with this code, and
    /// nothing of a SIEM batch page (`/siem/...` only).
    NotAPage { code: String },
    /// HTTP 400 `err_validation_invalid_page_token` (requests carrying a page token only).
    BadPageToken,
    /// The continuation token of the answer is the request's own token.
    SameToken,
    /// The page starts this many records before the token's position.
    Overlap(u64),
    /// An empty page whose `next` leads to the page that was due.
    EmptyNext,
    /// One record (JSON page) or line (SIEM file) carries a raw 0xFF byte in a string value.
    BadUtf8,
    /// A SIEM file download whose gzip stream is garbled half-way.
    CorruptGzip,
    /// A SIEM batch listing with its files in reverse order.
    Reorder,
    /// A SIEM batch listing with the next page's first file inserted before its own files.
    NewFile,
    /// A next-page URI on another host (`https://attacker.example/...`).
    ForeignNextPage,
    /// HTTP 200 with the page's records in an unrecognisable shape (see the module docs).
    WrongShape,
    /// `307 Temporary Redirect` to this URL (which keeps the method and body: a token request
    /// followed there would post its client secret). Rules only; no spec form, since a URL
    /// holds the spec's separators.
    Redirect(String),
}

/// What a [`FaultKind::RateLimitReset`] puts in `X-RateLimit-Reset` (N = the spec's number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetForm {
    /// `N`, meant as seconds to wait.
    Seconds(u64),
    /// The server's clock in epoch seconds, plus N.
    EpochSeconds(u64),
    /// The server's clock in epoch milliseconds, plus N seconds.
    EpochMillis(u64),
}

/// Which kind of endpoint a request is for, as far as fault applicability goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Endpoint {
    /// The log endpoints of the log table (`routes/logs.rs`), paged by `meta.pagination`.
    Logs,
    /// The other POST endpoints paged by `meta.pagination` (archive search, internal users).
    Paged,
    /// `/api/audit/get-siem-logs`.
    SiemMta,
    /// `/api/ttp/threat-intel/get-feed`.
    ThreatFeed,
    /// `/siem/v1/batch/events/cg` and `/siem/v1/batch/events/ci`.
    SiemBatch,
    /// `GET /threats/v1/events` (page token: the `pageToken` query parameter).
    Threats,
    /// `GET /threats/v1/events/{id}/details`.
    ThreatDetails,
    /// `GET /threat-reporting/v1/reported-emails` (paged by `offset`, no token).
    ReportedEmails,
    /// Any other `/siem/...` path.
    SiemOther,
    /// `/storage/...` file downloads.
    Storage,
    #[default]
    Other,
}

/// A request as fault rules see it: its endpoint and whether it carries a page token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub endpoint: Endpoint,
    /// The page token the request carries (trimmed, non-empty), if any.
    pub token: Option<String>,
    /// The answer's next page is a full URI (reported emails; threats with such a
    /// [`crate::SimConfig::rest_shape`]).
    pub next_is_uri: bool,
}

impl FaultKind {
    /// Auth-kind faults replace authentication (they fire before credentials are checked).
    pub fn is_auth(&self) -> bool {
        matches!(self, FaultKind::KeysExpired | FaultKind::TokenExpired)
    }

    /// Faults applied by the endpoint handler to an otherwise correct answer.
    pub(crate) fn is_handler(&self) -> bool {
        matches!(
            self,
            FaultKind::SameToken
                | FaultKind::Overlap(_)
                | FaultKind::EmptyNext
                | FaultKind::BadUtf8
                | FaultKind::CorruptGzip
                | FaultKind::Reorder
                | FaultKind::NewFile
                | FaultKind::ForeignNextPage
                | FaultKind::WrongShape
        )
    }

    /// Whether this kind can act on a request to `t` (see the module docs); rules never count
    /// requests their kind does not apply to.
    pub fn applies(&self, t: &Target) -> bool {
        use Endpoint::*;
        let has_token = t.token.is_some();
        match self {
            FaultKind::NotAPage { .. } => matches!(t.endpoint, SiemBatch | SiemOther),
            FaultKind::BadPageToken => has_token,
            FaultKind::SameToken => {
                has_token
                    && matches!(
                        t.endpoint,
                        Logs | Paged | SiemMta | ThreatFeed | SiemBatch | Threats
                    )
            }
            FaultKind::Overlap(_) => has_token && matches!(t.endpoint, Logs | Paged | Threats),
            FaultKind::EmptyNext => matches!(t.endpoint, Logs | Paged | Threats),
            FaultKind::ForeignNextPage => {
                t.next_is_uri && matches!(t.endpoint, Threats | ReportedEmails)
            }
            FaultKind::BadUtf8 => matches!(t.endpoint, Logs | Paged | Storage),
            FaultKind::WrongShape => matches!(
                t.endpoint,
                Logs | SiemBatch | Threats | ThreatDetails | ReportedEmails
            ),
            FaultKind::CorruptGzip => t.endpoint == Storage,
            FaultKind::Reorder | FaultKind::NewFile => t.endpoint == SiemBatch,
            _ => true,
        }
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
            FaultKind::RateLimitReset(ResetForm::Seconds(n)) => format!("429:reset-s={n}"),
            FaultKind::RateLimitReset(ResetForm::EpochSeconds(n)) => {
                format!("429:reset-epoch-s={n}")
            }
            FaultKind::RateLimitReset(ResetForm::EpochMillis(n)) => {
                format!("429:reset-epoch-ms={n}")
            }
            FaultKind::NotAPage { code } => format!("not-a-page={code}"),
            FaultKind::BadPageToken => "bad-page-token".into(),
            FaultKind::SameToken => "same-token".into(),
            FaultKind::Overlap(n) => format!("overlap={n}"),
            FaultKind::EmptyNext => "empty-next".into(),
            FaultKind::BadUtf8 => "bad-utf8".into(),
            FaultKind::CorruptGzip => "corrupt-gzip".into(),
            FaultKind::Reorder => "reorder".into(),
            FaultKind::NewFile => "new-file".into(),
            FaultKind::ForeignNextPage => "foreign-next-page".into(),
            FaultKind::WrongShape => "wrong-shape".into(),
            FaultKind::Redirect(_) => "redirect".into(),
        }
    }
}

/// Default code of `not-a-page`.
pub const NOT_A_PAGE_CODE: &str = "err_service_unavailable";

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
                let bad = |a: &str| {
                    format!(
                        "fault spec {orig:?}: 429 takes reset=MILLISECONDS, reset-s=SECONDS, \
                         reset-epoch-s=SECONDS or reset-epoch-ms=SECONDS, got {a:?}"
                    )
                };
                match arg {
                    None => FaultKind::RateLimit { reset_ms: None },
                    Some(a) => {
                        let num = |v: &str| v.parse::<u64>().map_err(|_| bad(a));
                        if let Some(v) = a.strip_prefix("reset-s=") {
                            FaultKind::RateLimitReset(ResetForm::Seconds(num(v)?))
                        } else if let Some(v) = a.strip_prefix("reset-epoch-s=") {
                            FaultKind::RateLimitReset(ResetForm::EpochSeconds(num(v)?))
                        } else if let Some(v) = a.strip_prefix("reset-epoch-ms=") {
                            FaultKind::RateLimitReset(ResetForm::EpochMillis(num(v)?))
                        } else {
                            let v = a.strip_prefix("reset=").unwrap_or(a);
                            FaultKind::RateLimit {
                                reset_ms: Some(num(v)?),
                            }
                        }
                    }
                }
            }
            "not-a-page" => FaultKind::NotAPage {
                code: match arg {
                    None => NOT_A_PAGE_CODE.to_string(),
                    Some(c) if !c.is_empty() => c.to_string(),
                    Some(_) => return Err(format!("fault spec {orig:?}: empty error code")),
                },
            },
            "bad-page-token" => no_arg(FaultKind::BadPageToken)?,
            "same-token" => no_arg(FaultKind::SameToken)?,
            "overlap" => {
                let a = need_arg("a number of records, e.g. overlap=3")?;
                match a.parse::<u64>() {
                    Ok(n) if n >= 1 => FaultKind::Overlap(n),
                    _ => {
                        return Err(format!(
                            "fault spec {orig:?}: overlap takes a positive number of records, got {a:?}"
                        ))
                    }
                }
            }
            "empty-next" => no_arg(FaultKind::EmptyNext)?,
            "bad-utf8" => no_arg(FaultKind::BadUtf8)?,
            "corrupt-gzip" => no_arg(FaultKind::CorruptGzip)?,
            "reorder" => no_arg(FaultKind::Reorder)?,
            "new-file" => no_arg(FaultKind::NewFile)?,
            "foreign-next-page" => no_arg(FaultKind::ForeignNextPage)?,
            "wrong-shape" => no_arg(FaultKind::WrongShape)?,
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
                     expired-keys, expired-token, not-a-page, bad-page-token, same-token, \
                     overlap=N, empty-next, bad-utf8, corrupt-gzip, reorder, new-file, \
                     foreign-next-page, wrong-shape"
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

    /// Picks the first live rule of the requested family (`auth` or not) matching the request
    /// and applying to `target` ([`FaultKind::applies`]), advancing counters. Rules of the other
    /// family, and rules that do not apply, are not touched.
    pub fn pick(
        &mut self,
        path: &str,
        tenant: Option<&str>,
        auth: bool,
        target: &Target,
    ) -> Option<FaultKind> {
        for (rule, matched, fired) in self.rules.iter_mut() {
            if rule.kind.is_auth() != auth
                || *fired >= rule.times
                || !rule.matches(path, tenant)
                || !rule.kind.applies(target)
            {
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
    fn misbehaviour_kinds_parse_and_label_round_trip() {
        for (spec, kind) in [
            (
                "429:reset-s=30",
                FaultKind::RateLimitReset(ResetForm::Seconds(30)),
            ),
            (
                "429:reset-epoch-s=5",
                FaultKind::RateLimitReset(ResetForm::EpochSeconds(5)),
            ),
            (
                "429:reset-epoch-ms=7",
                FaultKind::RateLimitReset(ResetForm::EpochMillis(7)),
            ),
            (
                "not-a-page=err_busy",
                FaultKind::NotAPage {
                    code: "err_busy".into(),
                },
            ),
            ("bad-page-token", FaultKind::BadPageToken),
            ("same-token", FaultKind::SameToken),
            ("overlap=3", FaultKind::Overlap(3)),
            ("empty-next", FaultKind::EmptyNext),
            ("bad-utf8", FaultKind::BadUtf8),
            ("corrupt-gzip", FaultKind::CorruptGzip),
            ("reorder", FaultKind::Reorder),
            ("new-file", FaultKind::NewFile),
            ("foreign-next-page", FaultKind::ForeignNextPage),
            ("wrong-shape", FaultKind::WrongShape),
        ] {
            assert_eq!(p(spec).kind, kind, "{spec}");
            assert_eq!(p(&kind.label()).kind, kind, "label of {spec}");
        }
        assert_eq!(
            p("not-a-page").kind,
            FaultKind::NotAPage {
                code: NOT_A_PAGE_CODE.into()
            }
        );
        let r = p("same-tokenx*@/siem#acme");
        assert_eq!(
            (
                r.kind,
                r.times,
                r.path_prefix.as_deref(),
                r.tenant.as_deref()
            ),
            (FaultKind::SameToken, u32::MAX, Some("/siem"), Some("acme"))
        );
        let r = p("empty-nextx2+1");
        assert_eq!((r.kind, r.times, r.after), (FaultKind::EmptyNext, 2, 1));
        let r = p("429:reset-epoch-ms=30x2");
        assert_eq!(r.times, 2);
        for (spec, needle) in [
            ("overlap", "needs a number"),
            ("overlap=0", "positive number"),
            ("same-token=1", "takes no argument"),
            ("429:reset-s=soon", "reset-s=SECONDS"),
        ] {
            match spec.parse::<FaultRule>() {
                Ok(r) => panic!("{spec} parsed as {r:?}"),
                Err(e) => assert!(e.contains(needle), "{spec}: {e}"),
            }
        }
    }

    #[test]
    fn rules_only_count_requests_they_apply_to() {
        let first_page = Target {
            endpoint: Endpoint::Paged,
            token: None,
            next_is_uri: false,
        };
        let next_page = Target {
            endpoint: Endpoint::Paged,
            token: Some("tok".into()),
            next_is_uri: false,
        };
        let mut plan = FaultPlan::new(vec![p("bad-page-token+1")]);
        assert_eq!(plan.pick("/api/a", None, false, &first_page), None);
        assert_eq!(plan.pick("/api/a", None, false, &next_page), None); // skipped (after=1)
        assert_eq!(plan.pick("/api/a", None, false, &first_page), None);
        assert_eq!(
            plan.pick("/api/a", None, false, &next_page),
            Some(FaultKind::BadPageToken)
        );
        assert_eq!(plan.pick("/api/a", None, false, &next_page), None); // spent
        let storage = Target {
            endpoint: Endpoint::Storage,
            token: None,
            next_is_uri: false,
        };
        assert!(FaultKind::CorruptGzip.applies(&storage));
        assert!(!FaultKind::CorruptGzip.applies(&next_page));
        assert!(FaultKind::BadUtf8.applies(&storage) && FaultKind::BadUtf8.applies(&first_page));
        assert!(!FaultKind::SameToken.applies(&first_page));
        assert!(FaultKind::EmptyNext.applies(&first_page));
        assert!(FaultKind::Status(500).applies(&Target::default()));
        let reported = Target {
            endpoint: Endpoint::ReportedEmails,
            token: None,
            next_is_uri: true,
        };
        assert!(FaultKind::ForeignNextPage.applies(&reported));
        let threats_token = Target {
            endpoint: Endpoint::Threats,
            token: None,
            next_is_uri: false,
        };
        assert!(!FaultKind::ForeignNextPage.applies(&threats_token));
        assert!(FaultKind::EmptyNext.applies(&threats_token));
        let at = |endpoint| Target {
            endpoint,
            ..Target::default()
        };
        for e in [
            Endpoint::Logs,
            Endpoint::SiemBatch,
            Endpoint::Threats,
            Endpoint::ThreatDetails,
            Endpoint::ReportedEmails,
        ] {
            assert!(FaultKind::WrongShape.applies(&at(e)), "{e:?}");
        }
        for e in [
            Endpoint::Paged,
            Endpoint::SiemMta,
            Endpoint::ThreatFeed,
            Endpoint::SiemOther,
            Endpoint::Storage,
            Endpoint::Other,
        ] {
            assert!(!FaultKind::WrongShape.applies(&at(e)), "{e:?}");
        }
        // Log endpoints are paged endpoints for the older kinds.
        assert!(FaultKind::EmptyNext.applies(&at(Endpoint::Logs)));
        let mut plan = FaultPlan::new(vec![p("wrong-shape+1")]);
        assert_eq!(plan.pick("/api/a", None, false, &at(Endpoint::Paged)), None); // not counted
        assert_eq!(plan.pick("/api/a", None, false, &at(Endpoint::Logs)), None); // skipped
        assert_eq!(
            plan.pick("/api/a", None, false, &at(Endpoint::Logs)),
            Some(FaultKind::WrongShape)
        );
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
        let any = Target::default();
        assert_eq!(plan.pick("/api/a", None, false, &any), None); // skipped (after=1)
        assert_eq!(plan.pick("/oauth/token", None, false, &any), None); // no match
        assert_eq!(
            plan.pick("/api/a", None, false, &any),
            Some(FaultKind::Status(500))
        );
        assert_eq!(
            plan.pick("/api/a", None, false, &any),
            Some(FaultKind::Status(500))
        );
        assert_eq!(plan.pick("/api/a", None, false, &any), None); // spent
        assert_eq!(
            plan.pick("/api/a", None, true, &any),
            Some(FaultKind::KeysExpired)
        );
        assert_eq!(plan.pick("/api/a", None, true, &any), None);
    }
}
