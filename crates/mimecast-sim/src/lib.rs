//! A faithful Mimecast API 1.0 / 2.0 simulator, for tests, demos and benchmarks.
//!
//! The real Mimecast is not reachable from CI, so `mimecast-collector` is tested against this
//! crate, and users run it with `mimecast-collector sim`. It follows docs/mimecast-api.md (the
//! documented API, with sources): same paths, envelopes, field names, headers and error shapes.
//! It shares **no code** with the collector: it verifies HMAC signatures and builds envelopes
//! with its own code, so a bug on one side cannot hide a bug on the other.
//!
//! # Served endpoints (one base URL for everything)
//!
//! | path | auth | stream |
//! |---|---|---|
//! | `POST /oauth/token` | form `client_id`, `client_secret`, `grant_type=client_credentials` | |
//! | `POST /api/login/discover-authentication`, `POST /api/login/login` | none / `Basic-Cloud` | |
//! | `POST /api/audit/get-audit-events` | v1 or v2 | `audit` |
//! | `POST /api/ttp/url/get-logs` (`clickLogs`) | v1 or v2 | `ttp_url` |
//! | `POST /api/ttp/attachment/get-logs` (`attachmentLogs`) | v1 or v2 | `ttp_attachment` |
//! | `POST /api/ttp/impersonation/get-logs` (`impersonationLogs`) | v1 or v2 | `ttp_impersonation` |
//! | `POST /api/dlp/get-logs` (`dlpLogs`; `from`/`to` default today, `oldestFirst`; no `id`) | v1 or v2 | `dlp` |
//! | `POST /api/gateway/get-held-release-logs` (`heldReleaseLogs`; optional `start`/`end`, Mimecast or RFC 3339 dates; newest first) | v1 or v2 | `message_release` |
//! | `POST /api/ttp/threat-intel/get-feed` (STIX/CSV + `x-mc-threat-feed-next-token`) | v1 or v2 | `threat_intel` |
//! | `POST /api/archive/search` (`items`) | v1 or v2 | `archive_search` |
//! | `POST /api/archive/get-archive-search-logs`, `get-search-logs` (`logs`) | v1 or v2 | `archive_search_logs` |
//! | `POST /api/message-finder/search` (`trackedEmails`) | v1 or v2 | `message_tracking` |
//! | `POST /api/account/get-dashboard-notifications` (`notifications`), `get-account` | v1 or v2 | `dashboard` |
//! | `POST /api/domain/get-internal-domain`, `/api/user/get-internal-users` (`users`) | v1 or v2 | `directory` |
//! | `POST /api/audit/get-siem-logs` (zip + `mc-siem-token`) | v1 only | `siem_mta` |
//! | `GET /siem/v1/batch/events/cg` | v2 only | `siem_cg` |
//! | `GET /siem/v1/batch/events/ci` (types `entities`, `mailflow`, `urlclick`; same parameters and paging as cg) | v2 only | `siem_ci` |
//! | `GET /storage/<file-id>/file.json.gz?expires=…&signature=…` (gzip NDJSON) | none (expires) | `siem_cg`, `siem_ci` |
//! | `GET /threats/v1/events` (`timestampRangeStartsAt` required, `timestampRangeEndsAt`, `pageSize` 1–100, `limit` 1–1000 (default 5), `pageToken`, `orderBy=timestamp:asc\|desc`) | v2 only | `threats` |
//! | `GET /threats/v1/events/{id}/details` (`source=EMAIL`, `pageSize` 1–100, both required) | v2 only | `threats` |
//! | `GET /threat-reporting/v1/reported-emails` (`dateRangeStartsAt`/`EndsAt`, `pageSize` ∈ {25,50,100,250,500}, `offset`; `meta.nextPage` is a full URI) | v2 only | `reported_emails` |
//!
//! Every tenant is served every route (unless its `products`, `granted` or `denied` say
//! otherwise, see below).
//!
//! # Pipeline
//!
//! Every request is recorded ([`Simulator::requests`]), attributed to a tenant by its
//! credentials, then: auth-kind faults → authentication → per-tenant quota (429) → other faults →
//! product check (API 2.0 only, 403) → permission check (403) → handler → body faults. See
//! `server.rs`.
//!
//! # Permissions and products ([`SimTenant`])
//!
//! - `denied`: permissions the tenant lacks; `granted: Some(list)`: the ONLY permissions it holds.
//!   Either way a guarded path answers 403 `err_xdk_permission_denied`, "The application or user
//!   lacks the permission '`<perm>`'" (table: [`permissions::PERMISSIONS`]; `{id}` segments match
//!   any one segment).
//! - `products: Some(list)`: the API 2.0 products the app is subscribed to
//!   (docs/mimecast-api.md#api-20-products). A bearer request to a path of another product answers
//!   403 `err_product_not_subscribed`, "The application is not subscribed to the product
//!   '`<product>`'" (table: [`permissions::PRODUCTS`]). API 1.0 requests are not affected. `None` =
//!   every product.
//!
//! # Data
//!
//! Each tenant has `records_per_stream` records per stream (per event type for `siem_cg`, per
//! feed for `threat_intel`), spread evenly over `[end - span, end)`. Record `i` is generated on
//! demand from (seed, tenant, stream, i), so pages cost O(page) even for 1,000,000-record
//! backlogs, and [`Simulator::expected_records`] returns exactly what is served.
//!
//! # Semantics worth knowing
//!
//! - Windows are `[from, to)`; body dates have whole seconds, so records have whole-second
//!   times (SIEM batch and STIX: milliseconds). Log endpoints answer newest first unless
//!   `oldestFirst: true`; `next` is absent on the last page; a page token alone (no `data`) or
//!   with `data` resent both work; `pageSize` may be a number or a string (clamped to 500).
//! - The quota counts authenticated `/api/...`, `/siem/...`, `/threats/...` and
//!   `/threat-reporting/...` requests per tenant (details calls included; not
//!   `/oauth/token`, login or storage downloads); a refused request is not executed.
//! - `siem_cg`: `dateRangeEndsAt` is inclusive (the whole day); `pageSize` counts files;
//!   `size` is approximate (files are compressed while streaming); URLs need no auth and answer
//!   403 (S3-style XML) once `file_url_ttl` has passed.
//! - `siem_ci`: as `siem_cg` (same parameters, `pageSize` in files, `isCaughtUp`, storage URLs);
//!   records have docs/mimecast-api.md#siem-batch-cloud-integrated field names (`recipients` is
//!   an array, plus `_offset` and `_partition`); `urlclick` records are invented (no public
//!   sample). Cursors and files of one route are refused by the other.
//! - API 2.0 REST routes (`/threats`, `/threat-reporting`) answer errors as
//!   `{"error":{"code","message"}}` with HTTP 400 (bad or missing parameter: `invalid_page_size`,
//!   `invalid_limit`, `missing_timestamp_range_starts_at`, `invalid_date`, `invalid_order_by`, `missing_source`,
//!   `invalid_source`, `missing_page_size`, `invalid_offset`, `invalid_date_range`,
//!   `err_validation_invalid_page_token`) or 404 (`not_found`: unknown threat id). Dates are
//!   ISO-8601 with a mandatory zone (`Z`, `+00:00`, `+0000`, optional fraction, optional
//!   trailing `[Region/City]`, ignored); a `+` must be sent as `%2B`. Window ends are exclusive.
//! - `threats`: `{"value":[…],"@nextPage":"<token>"}`, `@nextPage` absent on the last page; the
//!   token alone continues the walk (window, order, page size and what is left of `limit`
//!   included). Default order `timestamp:desc`. `limit` is the most events one query returns
//!   across all its pages (1–1000, **default 5**, docs/mimecast-api.md#threats-api): the page that
//!   reaches it is cut to it and has no `@nextPage`, so a client that does not send a large `limit`
//!   silently gets only the first 5 events of its window (a continuation's own `limit` parameter is
//!   checked, not used: the token's remainder rules). `rest_shape` ([`SimConfig`], [`RestShape`]) changes the list and details
//!   bodies: records under `data`/`events`, next page under `meta.nextPage` or
//!   `meta.pagination.next`, next page as a full URI on the request's `Host`, a bare detail object,
//!   or an unrecognisable `{"items":[…]}`. Details: `{"value":[detail]}`, sub-collections
//!   (`recipients`, `threats`, `files`, `urls`) cut to `pageSize`, totals in `*Count`.
//! - `reported_emails`: newest `lastReportedDate` first; the window filters on it;
//!   `{"value":[…],"meta":{"nextPage":"http://<Host>/threat-reporting/v1/reported-emails?…&offset=N+1"}}`
//!   (the default window bounds are written into the URI, so a walk keeps its window);
//!   `meta` is `{}` on the last page.
//! - `siem_mta`: `compress` defaults to true (zip); the caught-up answer is a JSON envelope with
//!   the unchanged `mc-siem-token`.
//! - `threat_intel`: every file carries `x-mc-threat-feed-next-token`; a token with nothing left
//!   (or an empty window) answers HTTP 200 + `err_threat_intel_feed_no_result_found`.
//! - API 1.0 validation errors come with HTTP 200 and a non-empty `fail[]`.
//! - Storage URLs: the path names the file (tenant, event type, record range) and is the same in
//!   every listing; the query (`expires`, `signature`) is new each time. A wrong or missing
//!   signature answers 403.
//! - Records exist only once their time is <= the server's now. With the default `end` (the
//!   server's now at start) or any past `end` the whole backlog is there from the start; with a
//!   future `end`, records "arrive" live as the clock passes their times. A walk's window is
//!   fixed by its first request (later pages never grow it); get-siem-logs publishes a file once
//!   all its records exist. [`Simulator::expected_records`] is always the whole backlog.
//! - `clock_offset_secs` ([`SimConfig`]): the server's clock is the real one plus this offset.
//!   It dates every response (`Date`, RFC 7231 IMF-fixdate, replacing the HTTP stack's own), and
//!   is the "now" of default windows, of record visibility, of URL expiry and of the API 1.0
//!   `x-mc-date` check. With the server 600 s behind (`-600`) and a future `end`, a record
//!   stamped with the server's now reaches a client 600 s "late" by the client's clock, so a
//!   client that ends its windows at its own now and never looks back loses those records.
//! - `page_token_ttl` ([`SimConfig`]): every token issued (`meta.pagination.next`/`previous`,
//!   `mc-siem-token`, `x-mc-threat-feed-next-token`, `@nextPage`, threats' `pageToken`) carries its issue time; a
//!   request whose token is older than the TTL gets HTTP 400 `err_validation_invalid_page_token`
//!   (envelope on `/api`, `{"error":{…}}` on `/siem`), as a token kept through a long rate-limit
//!   pause would. A request without a token starts a new walk as usual. The `bad-page-token`
//!   fault gives the same refusal on demand; the other server misbehaviours are faults too (see
//!   [`faults`]), among them `foreign-next-page` (a next-page URI on `https://attacker.example`,
//!   for reported emails and URI-shaped threats pages) and `wrong-shape` (HTTP 200 whose records
//!   sit where no client looks: log endpoints `data[0].<records>` as an object keyed by index,
//!   audit `data` = `{"records":[…]}`; SIEM batch `"value":{"files":[…]}`; threats, details and
//!   reported emails `{"results":[…],"next":"…"}`).
//!
//! # Demo tenant ([`SimTenant::demo`])
//!
//! | | |
//! |---|---|
//! | name | `demo` (domains `demo.example`, `demo-corp.example`) |
//! | API 1.0 | app id `demo-app-id`, app key `demo-app-key`, access key `demo-access-key`, secret key `ZGVtby1zZWNyZXQta2V5LWZvci10aGUtbWltZWNhc3Qtc2ltdWxhdG9y` |
//! | API 2.0 | client id `demo-client-id`, client secret `demo-client-secret` |
//! | login | `collector@demo.example` / `demo-password` |
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mimecast_sim::{SimConfig, Simulator};
//! let sim = Simulator::bind(SimConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("Mimecast simulator at {}", sim.base_url());
//! let expected = sim.expected_records("demo", "ttp_url");
//! assert_eq!(expected.len(), 200);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod auth_v1;
pub mod config;
mod corrupt;
pub mod data;
pub mod dates;
pub mod envelope;
pub mod faults;
mod oauth;
pub mod pagination;
pub mod permissions;
mod ratelimit;
pub mod record;
mod routes;
mod server;
mod siem;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    LoginUser, RestItems, RestNext, RestShape, SimConfig, SimTenant, V1Creds, V2Creds,
};
pub use faults::{parse_fault_specs, FaultKind, FaultRule, ResetForm};
pub use record::RecordedRequest;

use server::{lock, Inner, TenantState};

/// Computes an API 1.0 signature (`Base64(HMAC-SHA1(base64decode(secret), date:reqid:path:appKey))`),
/// for tests and tools that need to craft requests by hand. `None` if the secret is not base64.
pub fn sign_v1(
    secret_b64: &str,
    date: &str,
    req_id: &str,
    path: &str,
    app_key: &str,
) -> Option<String> {
    auth_v1::sign(secret_b64, date, req_id, path, app_key)
}

/// Formats an `x-mc-date` header value (`Tue, 24 Nov 2015 12:50:11 UTC`).
pub fn format_mc_header_date(t: OffsetDateTime) -> String {
    dates::format_http_date(t)
}

/// A running simulator. Dropping it stops the server task; prefer [`Simulator::shutdown`].
pub struct Simulator {
    inner: Arc<Inner>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Serves `config` on an already-bound listener.
    pub async fn start(
        config: SimConfig,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<Simulator> {
        let addr = listener.local_addr()?;
        let host = if addr.ip().is_unspecified() {
            match addr {
                SocketAddr::V4(_) => "127.0.0.1".to_string(),
                SocketAddr::V6(_) => "[::1]".to_string(),
            }
        } else if addr.is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        let base_url = format!("http://{host}:{}", addr.port());
        let mut names = HashSet::new();
        for t in &config.tenants {
            if !names.insert(t.name.clone()) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("duplicate simulator tenant name {:?}", t.name),
                ));
            }
        }
        let now = server::server_clock(config.clock_offset_secs);
        let end = config
            .end
            .unwrap_or(now)
            .replace_nanosecond(0)
            .unwrap_or(now);
        let tenants = config
            .tenants
            .iter()
            .map(|t| TenantState {
                cfg: t.clone(),
                info: data::TenantInfo::new(&t.name, config.seed),
            })
            .collect();
        let inner = Arc::new(Inner {
            tenants,
            end,
            base_url,
            url_key: server::url_key(config.seed),
            tokens: Mutex::new(oauth::TokenStore::new(config.seed)),
            faults: Mutex::new(faults::FaultPlan::new(config.faults.clone())),
            limiter: Mutex::new(ratelimit::RateLimiter::default()),
            journal: Mutex::new(record::Journal::new(config.max_recorded_requests)),
            expired_bindings: Mutex::new(HashSet::new()),
            record_cache: Mutex::new(HashMap::new()),
            file_cache: Mutex::new(HashMap::new()),
            cfg: config,
        });
        // JSON answers are gzipped for clients that ask (`Accept-Encoding: gzip`), as HTTP
        // gateways do; SIEM files are gzip already and go as they are.
        let json_only = |_: axum::http::StatusCode,
                         _: axum::http::Version,
                         headers: &axum::http::HeaderMap,
                         _: &axum::http::Extensions| {
            headers
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.starts_with("application/json"))
        };
        // The fastest level: the simulator shares the machine with the collector it serves.
        let gzip = tower_http::compression::CompressionLayer::new()
            .gzip(true)
            .quality(tower_http::CompressionLevel::Fastest)
            .compress_when(tower_http::compression::Predicate::and(
                tower_http::compression::predicate::SizeAbove::new(256),
                json_only,
            ));
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(inner.clone())
            .layer(gzip);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "mimecast simulator server stopped with an error");
            }
        });
        tracing::info!(base_url = %inner.base_url, tenants = inner.tenants.len(), "mimecast simulator listening");
        Ok(Simulator {
            inner,
            addr,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }

    /// Binds `addr` (port 0 picks a free port) and serves `config`.
    pub async fn bind(config: SimConfig, addr: SocketAddr) -> std::io::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Self::start(config, listener).await
    }

    /// `http://127.0.0.1:PORT`: the base URL for API 1.0, API 2.0, `/oauth/token` and storage.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration in use (faults as initially configured).
    pub fn config(&self) -> &SimConfig {
        &self.inner.cfg
    }

    /// End of the backlog (`end`, resolved at start): every record is older.
    pub fn end(&self) -> OffsetDateTime {
        self.inner.end
    }

    /// The server's clock now (the real one shifted by `clock_offset_secs`), as its `Date`
    /// headers show it.
    pub fn server_now(&self) -> OffsetDateTime {
        self.inner.now()
    }

    /// Every request seen, in order (bounded by `max_recorded_requests`).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.journal).snapshot()
    }

    pub fn clear_requests(&self) {
        lock(&self.inner.journal).clear();
    }

    /// Adds a fault rule at runtime (after the existing ones).
    pub fn inject(&self, rule: FaultRule) {
        lock(&self.inner.faults).push(rule);
    }

    /// Every bearer token issued so far answers 401 `token_expired` from now on.
    pub fn expire_tokens(&self) {
        lock(&self.inner.tokens).expire_all();
    }

    /// How many OAuth tokens have been issued.
    pub fn tokens_issued(&self) -> u64 {
        lock(&self.inner.tokens).issued()
    }

    /// That tenant's API 1.0 keys answer 418 `err_xdk_binding_expired` until it logs in again
    /// (`/api/login/login`). Unknown tenants are ignored.
    pub fn expire_binding(&self, tenant: &str) {
        if let Some(t) = self.inner.tenant_by_name(tenant) {
            lock(&self.inner.expired_bindings).insert(t);
        }
    }

    /// The exact records served for `stream` over the whole backlog, oldest first (including
    /// records whose time the server's clock has not reached yet).
    ///
    /// Stream names as in DESIGN.md. `siem_cg` concatenates all event types (in
    /// [`data::siem_cg::TYPES`] order; `siem_cg:<type>` selects one), `siem_ci` likewise
    /// ([`data::siem_ci::TYPES`]); `threats` yields the list records; `reported_emails` the
    /// items (with `threatReports` on the base URL); `threat_intel` yields the
    /// STIX objects of both feeds (`threat_intel:<feed>` selects one); `dashboard` yields the
    /// notifications; `directory` the users (domain by domain). Unknown tenant or stream: empty.
    pub fn expected_records(&self, tenant: &str, stream: &str) -> Vec<Value> {
        let Some(t) = self
            .inner
            .tenant_by_name(tenant)
            .and_then(|t| self.inner.tenants.get(t))
        else {
            return Vec::new();
        };
        let keys: Vec<String> = match stream {
            "siem_cg" => data::siem_cg::TYPES
                .iter()
                .map(|t| format!("siem_cg:{t}"))
                .collect(),
            "siem_ci" => data::siem_ci::TYPES
                .iter()
                .map(|t| format!("siem_ci:{t}"))
                .collect(),
            "threat_intel" => data::threat_intel::FEEDS
                .iter()
                .map(|f| format!("threat_intel:{f}"))
                .collect(),
            s if data::STREAMS.contains(&s)
                || s.starts_with("siem_cg:")
                || s.starts_with("siem_ci:")
                || s.starts_with("threat_intel:") =>
            {
                vec![s.to_string()]
            }
            _ => return Vec::new(),
        };
        let n = self.inner.cfg.records_per_stream;
        let mut out = Vec::new();
        for key in keys {
            for i in 0..n {
                match self.inner.record(t, &key, i) {
                    Value::Array(objs) => out.extend(objs),
                    Value::Null => return Vec::new(),
                    v if key == "reported_emails" => {
                        out.push(routes::reported::absolutise(v, &self.inner.base_url))
                    }
                    v => out.push(v),
                }
            }
        }
        out
    }

    /// Stops accepting connections and waits (up to 5 s) for in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
