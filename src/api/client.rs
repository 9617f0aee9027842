//! One tenant's connection to Mimecast.
//!
//! Every request goes through the same steps: wait for the tenant's limiter, authenticate
//! (re-sign for 1.0, current token for 2.0), send with timeouts, map the status and the
//! envelope to a typed result, and retry transient failures with backoff. On a 401 a 2.0 token
//! is refreshed once before the error counts; on a 429 the tenant's requests of that endpoint
//! family pause for as long as Mimecast asked (`X-RateLimit-Reset`), or for the backoff delay
//! when it did not say (see `limiter`).

use super::auth::{v1, TokenSource, V1Signer};
use super::envelope::{Envelope, SiemPage};
use super::error::ApiError;
use super::limiter::{Family, Priority, TenantLimiter};
use super::response::status_error;
use super::rest::RestPage;
use super::retry::FullJitter;
use crate::catalog::ApiVersion;
use crate::config::{Credentials, HttpConfig, RetryConfig, TenantConfig};
use backon::Retryable;
use bytes::Bytes;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upper bound for streaming one pre-signed file; stalls are caught by the idle read timeout.
pub const FILE_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// HTTP settings shared by every tenant's client.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry: RetryConfig,
    /// Extra CA certificates (PEM) trusted besides the bundled web roots.
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl From<&HttpConfig> for HttpSettings {
    fn from(h: &HttpConfig) -> Self {
        HttpSettings {
            connect_timeout: h.connect_timeout,
            request_timeout: h.request_timeout,
            retry: h.retry,
            extra_ca_pem: h.extra_ca_pem.clone(),
        }
    }
}

impl HttpSettings {
    /// One connection pool for the whole process. rustls with the bundled web PKI roots: no
    /// OpenSSL, and certificate validation is always on.
    pub fn build_http(&self) -> Result<reqwest::Client, reqwest::Error> {
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = &self.extra_ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder
            .user_agent(concat!("mimecast-collector/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            // Also an idle limit per read, which is what bounds long file downloads (below).
            .read_timeout(self.request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            // Tenants share a regional host: hundreds of streams polling at once would otherwise
            // each leave a connection (and its buffers) idle in the pool until the next poll.
            .pool_max_idle_per_host(32)
            .https_only(false) // config allows http only for loopback hosts
            // No request follows a redirect on its own: the token request, signed calls and
            // bearer calls carry credentials that a redirect would hand to its location (an
            // error names the host instead); pre-signed file downloads, which carry none,
            // follow theirs in `fetch_unsigned`, under the same rules as `base_url`.
            .redirect(reqwest::redirect::Policy::none())
            .build()
    }
}

/// Counters for logs, `status` and metrics.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
    /// Answers by HTTP status (0: no answer: timeout, reset, refused).
    statuses: std::sync::Mutex<std::collections::BTreeMap<u16, u64>>,
}

impl ClientStats {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }
    pub fn by_status(&self) -> Vec<(u16, u64)> {
        self.statuses
            .lock()
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }
    fn count_status(&self, status: u16) {
        if let Ok(mut m) = self.statuses.lock() {
            *m.entry(status).or_default() += 1;
        }
    }
}

enum Auth {
    V1(V1Signer),
    V2(TokenSource),
}

/// A response whose status was 2xx, body read in full.
#[derive(Debug)]
pub struct RawResponse {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What a file-returning function (`get-siem-logs`, `get-feed`) answered: a file, or an envelope
/// (no file: caught up, or an error already checked).
#[derive(Debug)]
pub enum Download {
    File { headers: HeaderMap, body: Bytes },
    Envelope(Envelope),
}

/// What a file-returning function answered, the file unread.
#[derive(Debug)]
pub enum Streamed {
    File(reqwest::Response),
    /// A JSON body that is not an envelope: already read (small), kept with its headers.
    Read {
        headers: HeaderMap,
        body: Bytes,
    },
    Envelope(Envelope),
}

/// Redirects a pre-signed file download follows before giving up.
const MAX_FILE_REDIRECTS: u32 = 5;

/// Where a file download's redirect leads, if it may be followed: an absolute or relative
/// location resolving to https, or to http on a loopback address.
fn file_redirect(from: &url::Url, headers: &HeaderMap) -> Option<url::Url> {
    let location = headers.get(reqwest::header::LOCATION)?.to_str().ok()?;
    let next = from.join(location).ok()?;
    let loopback = match next.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match next.scheme() {
        "https" => Some(next),
        "http" if loopback => Some(next),
        _ => None,
    }
}

#[derive(Clone)]
pub struct MimecastClient {
    inner: Arc<Inner>,
    /// Whose requests these are for the tenant's limiter: a stream behind goes first.
    priority: Priority,
}

struct Inner {
    tenant: String,
    base_url: url::Url,
    http: reqwest::Client,
    auth: Auth,
    limiter: Arc<TenantLimiter>,
    retry: RetryConfig,
    jitter_seed: Option<u64>,
    stats: ClientStats,
    /// SIEM file downloads in flight for this tenant, at most `[http] file_downloads`.
    downloads: Arc<tokio::sync::Semaphore>,
    /// How many files a stream starts ahead of the one it is writing.
    download_ahead: usize,
    /// The server's clock minus ours, in ms, from the newest `Date` header (0 until measured).
    skew_ms: AtomicI64,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("tenant {tenant}: the secret key is not valid base64")]
    SecretKey { tenant: String },
    #[error("tenant {tenant}: base URL {url} cannot take a path: {source}")]
    Url {
        tenant: String,
        url: String,
        source: url::ParseError,
    },
}

impl MimecastClient {
    pub fn new(
        tenant: &TenantConfig,
        http: reqwest::Client,
        retry: RetryConfig,
    ) -> Result<MimecastClient, ClientBuildError> {
        let limiter = Arc::new(TenantLimiter::new(tenant.requests_per_minute, None));
        Self::with_limiter(tenant, http, retry, limiter)
    }

    /// A client sharing `limiter` (every stream of a tenant must draw from the same one).
    pub fn with_limiter(
        tenant: &TenantConfig,
        http: reqwest::Client,
        retry: RetryConfig,
        limiter: Arc<TenantLimiter>,
    ) -> Result<MimecastClient, ClientBuildError> {
        let auth = match &tenant.credentials {
            Credentials::V1(c) => {
                Auth::V1(V1Signer::new(c).map_err(|_| ClientBuildError::SecretKey {
                    tenant: tenant.name.clone(),
                })?)
            }
            Credentials::V2(c) => Auth::V2(
                TokenSource::new(&tenant.base_url, c, http.clone()).map_err(|source| {
                    ClientBuildError::Url {
                        tenant: tenant.name.clone(),
                        url: tenant.base_url.to_string(),
                        source,
                    }
                })?,
            ),
        };
        Ok(MimecastClient {
            inner: Arc::new(Inner {
                tenant: tenant.name.clone(),
                base_url: tenant.base_url.clone(),
                http,
                auth,
                limiter,
                retry,
                jitter_seed: None,
                stats: ClientStats::default(),
                downloads: Arc::new(tokio::sync::Semaphore::new(
                    crate::config::DEFAULT_FILE_DOWNLOADS,
                )),
                download_ahead: crate::config::DEFAULT_FILE_DOWNLOADS,
                skew_ms: AtomicI64::new(0),
            }),
            priority: Priority::default(),
        })
    }

    /// The same client, its requests waiting for the limiter with `priority`.
    pub fn with_priority(&self, priority: Priority) -> MimecastClient {
        MimecastClient {
            inner: self.inner.clone(),
            priority,
        }
    }

    /// Allows `n` SIEM file downloads at once for this tenant (`[http] file_downloads`; at
    /// least 1). Call before cloning.
    pub fn with_file_downloads(mut self, n: usize) -> MimecastClient {
        let n = n.max(1);
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.downloads = Arc::new(tokio::sync::Semaphore::new(n));
            inner.download_ahead = n;
        }
        self
    }

    /// How many of a page's files to have in flight at once.
    pub fn download_ahead(&self) -> usize {
        self.inner.download_ahead
    }

    /// The tenant's download slots, shared by its streams (see [`crate::streams::prefetch`]);
    /// a slot is free again when its permit is dropped (the file written, or given up).
    pub fn download_slots(&self) -> Arc<tokio::sync::Semaphore> {
        self.inner.downloads.clone()
    }

    /// Makes retry delays reproducible (tests and benchmarks). Call before cloning.
    pub fn with_jitter_seed(mut self, seed: u64) -> MimecastClient {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.jitter_seed = Some(seed);
        }
        self
    }

    pub fn tenant(&self) -> &str {
        &self.inner.tenant
    }

    pub fn api(&self) -> ApiVersion {
        match self.inner.auth {
            Auth::V1(_) => ApiVersion::V1,
            Auth::V2(_) => ApiVersion::V2,
        }
    }

    pub fn stats(&self) -> &ClientStats {
        &self.inner.stats
    }

    /// Whether `self` and `other` are the same client (clones of one), not merely alike.
    pub fn ptr_eq(&self, other: &MimecastClient) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub fn limiter(&self) -> &Arc<TenantLimiter> {
        &self.inner.limiter
    }

    /// Mimecast's clock minus ours, measured from the `Date` header of its last answer. Windows
    /// are cut on the server's time: events are stamped and indexed by Mimecast's clock, so a
    /// window closed on a local clock that runs ahead would be re-read too late to see them.
    pub fn clock_skew(&self) -> time::Duration {
        time::Duration::milliseconds(self.inner.skew_ms.load(Ordering::Relaxed))
    }

    /// The backoff before retry number `attempt` (0-based) of something the client could not
    /// judge itself (a file that turned out unreadable): the same caps as its own retries.
    pub fn backoff(&self, attempt: u32) -> Duration {
        FullJitter::cap(
            self.inner.retry.initial_delay,
            self.inner.retry.max_delay,
            attempt,
        )
    }

    /// Now, on Mimecast's clock (see [`MimecastClient::clock_skew`]).
    pub fn server_now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() + self.clock_skew()
    }

    /// API 2.0 tokens fetched so far (0 for 1.0 tenants).
    pub fn token_fetches(&self) -> u64 {
        match &self.inner.auth {
            Auth::V2(t) => t.fetch_count(),
            Auth::V1(_) => 0,
        }
    }

    /// POSTs a JSON body to an `/api/...` function and returns its envelope, `fail[]` checked.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> Result<Envelope, ApiError> {
        let body =
            Bytes::from(serde_json::to_vec(body).map_err(|e| ApiError::Decode(e.to_string()))?);
        self.retrying(path, || async {
            let raw = self
                .attempt(Method::POST, path, None, Some(body.clone()))
                .await?;
            let env = Envelope::parse(&valid_utf8(raw.body, self.tenant(), path))?;
            env.check(path)?;
            Ok(env)
        })
        .await
    }

    /// POSTs to a function that answers with a file (`application/octet-stream` and friends) or,
    /// when there is nothing to send, a JSON envelope. `fail[]` in the envelope is left to the
    /// caller, since some codes mean "nothing new" (e.g. `err_threat_intel_feed_no_result_found`).
    pub async fn post_download(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Download, ApiError> {
        let body =
            Bytes::from(serde_json::to_vec(body).map_err(|e| ApiError::Decode(e.to_string()))?);
        self.retrying(path, || async {
            let raw = self
                .attempt(Method::POST, path, None, Some(body.clone()))
                .await?;
            let is_json = raw
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/json"));
            // A STIX bundle is JSON too: only a body with the envelope's own keys is an envelope.
            if is_json && looks_like_envelope(&raw.body) {
                Ok(Download::Envelope(Envelope::parse(&raw.body)?))
            } else {
                Ok(Download::File {
                    headers: raw.headers,
                    body: raw.body,
                })
            }
        })
        .await
    }

    /// Like [`MimecastClient::post_download`], but a file is handed back unread, to be streamed:
    /// its size is then bounded by nothing the collector holds in memory.
    pub async fn post_stream(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Streamed, ApiError> {
        let body =
            Bytes::from(serde_json::to_vec(body).map_err(|e| ApiError::Decode(e.to_string()))?);
        self.retrying(path, || async {
            // A file may take longer than any API call to stream; the client's idle read
            // timeout still ends a stalled transfer.
            let resp = self
                .send(
                    Method::POST,
                    path,
                    None,
                    Some(body.clone()),
                    Some(FILE_DOWNLOAD_TIMEOUT),
                )
                .await?;
            let is_json = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/json"));
            if is_json {
                let headers = resp.headers().clone();
                let bytes = resp.bytes().await.map_err(ApiError::from_reqwest)?;
                if looks_like_envelope(&bytes) {
                    return Ok(Streamed::Envelope(Envelope::parse(&bytes)?));
                }
                return Ok(Streamed::Read {
                    headers,
                    body: bytes,
                });
            }
            Ok(Streamed::File(resp))
        })
        .await
    }

    /// GETs a 2.0 route with query parameters and reads the answer with `parse`, retrying
    /// what is transient (an answer `parse` finds unreadable included).
    async fn get_parsed<T>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        parse: impl Fn(&Bytes, &str) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        self.retrying(path, || async {
            let raw = self.attempt(Method::GET, path, Some(&query), None).await?;
            parse(&valid_utf8(raw.body, self.tenant(), path), path)
        })
        .await
    }

    /// GETs a 2.0 SIEM route (`/siem/v1/...`) with query parameters.
    pub async fn get_siem(&self, path: &str, query: &[(&str, &str)]) -> Result<SiemPage, ApiError> {
        self.get_parsed(path, query, |body, _| SiemPage::parse(body))
            .await
    }

    /// GETs a 2.0 REST route (`/threats/...`, `/threat-reporting/...`) and reads its page in any
    /// of the shapes [`super::rest`] accepts.
    pub async fn get_rest(&self, path: &str, query: &[(&str, &str)]) -> Result<RestPage, ApiError> {
        self.get_parsed(path, query, RestPage::parse).await
    }

    /// Follows a next-page URI a REST route answered with. It carries the tenant's credentials,
    /// so it is followed only on the tenant's own API host (scheme, host and port).
    pub async fn get_rest_url(&self, url: &url::Url) -> Result<RestPage, ApiError> {
        let (path, query) = self.own_link(url)?;
        self.retrying(&path, || async {
            let raw = self
                .attempt(Method::GET, &path, query.as_deref(), None)
                .await?;
            RestPage::parse(&valid_utf8(raw.body, self.tenant(), &path), &path)
        })
        .await
    }

    /// GETs a 2.0 REST route that answers one object (a threat's details).
    pub async fn get_rest_one(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Box<serde_json::value::RawValue>, ApiError> {
        self.get_parsed(path, query, super::rest::parse_one).await
    }

    /// The path and query of a link on the tenant's own API host, or why it is not one.
    fn own_link(&self, url: &url::Url) -> Result<(String, Option<String>), ApiError> {
        own_link(&self.inner.base_url, url)
    }

    /// GETs a pre-signed file URL (no Authorization header,
    /// docs/mimecast-api.md#siem-batch-cloud-gateway) and returns the response for streaming. Not
    /// retried here: the caller decides (an expired URL means re-reading the page).
    pub async fn fetch_unsigned(&self, url: &url::Url) -> Result<reqwest::Response, ApiError> {
        let mut url = url.clone();
        let mut hops = 0;
        let resp = loop {
            let resp = self
                .inner
                .http
                .get(url.clone())
                // A SIEM file may take longer than any API call to stream; the client's idle
                // read timeout still ends a stalled transfer.
                .timeout(FILE_DOWNLOAD_TIMEOUT)
                .send()
                .await
                .map_err(ApiError::from_reqwest)?;
            self.inner.stats.requests.fetch_add(1, Ordering::Relaxed);
            // A pre-signed URL carries no credentials, so its redirects are followed, a few
            // hops, to https or to http on loopback only (the rules of `base_url`).
            if resp.status().is_redirection() && hops < MAX_FILE_REDIRECTS {
                if let Some(next) = file_redirect(&url, resp.headers()) {
                    hops += 1;
                    url = next;
                    continue;
                }
            }
            break resp;
        };
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap_or_default();
        Err(status_error(
            status,
            &headers,
            &body,
            url.path(),
            self.api(),
        ))
    }

    async fn retrying<T, F, Fut>(&self, path: &str, op: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let inner = &self.inner;
        let rate_limited = std::sync::atomic::AtomicU32::new(0);
        op.retry(FullJitter::new(&inner.retry, inner.jitter_seed))
            .sleep(tokio::time::sleep)
            .when(ApiError::is_transient)
            .adjust(|e, next| match (e, next) {
                (_, None) => None,
                // A 429 is never retried sooner than the backoff's own cap for that attempt
                // (by default 1 s, 2 s, 4 s, ...): a reset header in seconds, read as the
                // documented milliseconds, would otherwise spend every attempt within a second.
                (ApiError::RateLimited { reset }, Some(d)) => {
                    let n = rate_limited.fetch_add(1, Ordering::Relaxed);
                    let floor =
                        FullJitter::cap(inner.retry.initial_delay, inner.retry.max_delay, n);
                    // Mimecast said how long: wait that (plus a little for clock granularity).
                    let said = reset.map(|r| r + Duration::from_millis(20)).unwrap_or(d);
                    Some(said.max(floor))
                }
                (_, Some(d)) => Some(d),
            })
            .notify(|e, delay| {
                inner.stats.retries.fetch_add(1, Ordering::Relaxed);
                if let ApiError::RateLimited { .. } = e {
                    inner.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                    inner.limiter.pause_for(Family::of(path), delay);
                }
                tracing::warn!(
                    tenant = %inner.tenant,
                    path,
                    error.kind = e.kind(),
                    error = %e,
                    delay_ms = delay.as_millis() as u64,
                    "transient error, retrying"
                );
            })
            .await
    }

    /// One request, with at most one token refresh; errors are typed, nothing is retried.
    async fn attempt(
        &self,
        method: Method,
        path: &str,
        query: Option<&str>,
        body: Option<Bytes>,
    ) -> Result<RawResponse, ApiError> {
        let resp = self.send(method, path, query, body, None).await?;
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(ApiError::from_reqwest)?;
        Ok(RawResponse { headers, body })
    }

    /// One request whose 2xx answer is handed back unread (for streaming); any other status is
    /// read and mapped to its error. At most one token refresh; nothing is retried.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: Option<&str>,
        body: Option<Bytes>,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, ApiError> {
        let inner = &self.inner;
        let mut url = format!("{}{}", inner.base_url.as_str().trim_end_matches('/'), path);
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(q);
        }
        let mut refreshed = false;
        loop {
            inner.limiter.acquire(Family::of(path), self.priority).await;
            let mut req = inner
                .http
                .request(method.clone(), &url)
                .header(ACCEPT, "application/json");
            if let Some(b) = &body {
                req = req.header(CONTENT_TYPE, "application/json").body(b.clone());
            }
            if let Some(t) = timeout {
                req = req.timeout(t);
            }
            let generation = match &inner.auth {
                Auth::V1(signer) => {
                    req = req.headers(signer.headers(
                        path,
                        time::OffsetDateTime::now_utc(),
                        &v1::new_request_id(),
                    ));
                    None
                }
                Auth::V2(tokens) => {
                    let bearer = tokens.bearer().await?;
                    req = req.bearer_auth(secrecy::ExposeSecret::expose_secret(&bearer.token));
                    Some(bearer.generation)
                }
            };
            inner.stats.requests.fetch_add(1, Ordering::Relaxed);
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    inner.stats.count_status(0);
                    return Err(ApiError::from_reqwest(e));
                }
            };
            let status = resp.status().as_u16();
            inner.stats.count_status(status);
            if (200..300).contains(&status) {
                self.measure_skew(resp.headers());
                return Ok(resp);
            }
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.map_err(ApiError::from_reqwest)?;
            if let (401, Some(generation), Auth::V2(tokens), false) =
                (status, generation, &inner.auth, refreshed)
            {
                // The token may have expired or been revoked early: one fresh token, one retry.
                tracing::info!(tenant = %inner.tenant, path, "access token refused (HTTP 401), fetching a new one");
                tokens.invalidate(generation).await;
                refreshed = true;
                continue;
            }
            return Err(status_error(status, &headers, &bytes, path, self.api()));
        }
    }
}

impl MimecastClient {
    fn measure_skew(&self, headers: &HeaderMap) {
        let Some(date) = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
        else {
            return;
        };
        let server_ms = date
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let local_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        // `Date` has whole seconds: differences under two seconds are its rounding, not skew.
        let skew = server_ms - local_ms;
        let skew = if skew.abs() < 2_000 { 0 } else { skew };
        let before = self.inner.skew_ms.swap(skew, Ordering::Relaxed);
        if (skew - before).abs() >= 60_000 {
            tracing::warn!(
                tenant = %self.inner.tenant,
                skew_s = skew / 1000,
                "Mimecast's clock differs from this host's; time windows follow Mimecast's clock"
            );
        }
    }
}

/// A JSON body must be UTF-8; one stray byte in one record must not make a whole page, and
/// with it the stream, unreadable forever. Invalid sequences become U+FFFD, and the position is
/// logged at ERROR, so the record is kept with the damage visible.
fn valid_utf8(body: Bytes, tenant: &str, path: &str) -> Bytes {
    match std::str::from_utf8(&body) {
        Ok(_) => body,
        Err(e) => {
            tracing::error!(
                tenant,
                path,
                byte = e.valid_up_to(),
                "response has invalid UTF-8; the damaged bytes are replaced with U+FFFD"
            );
            Bytes::from(String::from_utf8_lossy(&body).into_owned())
        }
    }
}

/// Whether a JSON body is a Mimecast envelope (`meta` or `fail` at the top) rather than a file
/// that happens to be JSON (a STIX bundle).
fn looks_like_envelope(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Keys<'a> {
        #[serde(borrow, default)]
        meta: Option<&'a serde_json::value::RawValue>,
        #[serde(borrow, default)]
        fail: Option<&'a serde_json::value::RawValue>,
    }
    serde_json::from_slice::<Keys>(body).is_ok_and(|k| k.meta.is_some() || k.fail.is_some())
}

/// The path and query of `url` when it is on `base`'s scheme, host and port and carries no
/// credentials of its own; else the error that names where it points.
fn own_link(base: &url::Url, url: &url::Url) -> Result<(String, Option<String>), ApiError> {
    let same = url.username().is_empty()
        && url.password().is_none()
        && url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default();
    if !same {
        return Err(ApiError::ForeignLink {
            host: format!(
                "{}://{}",
                url.scheme(),
                url.host_str().unwrap_or("(no host)")
            ),
            expected: format!("{}://{}", base.scheme(), base.host_str().unwrap_or("")),
        });
    }
    // Requests are sent to the base URL plus a path: a base with a path prefix (a proxy)
    // has it removed from the link's path, or it would be sent twice.
    let prefix = base.path().trim_end_matches('/');
    let path = url.path();
    let path = path
        .strip_prefix(prefix)
        .filter(|p| p.starts_with('/'))
        .unwrap_or(path);
    Ok((path.to_string(), url.query().map(str::to_string)))
}

#[cfg(test)]
mod tests {
    use super::looks_like_envelope;

    #[test]
    fn a_link_is_followed_only_on_the_tenants_own_scheme_host_and_port() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        let base = u("https://api.services.mimecast.com");
        let (path, query) = super::own_link(
            &base,
            &u("https://api.services.mimecast.com/threat-reporting/v1/reported-emails?offset=2"),
        )
        .unwrap();
        assert_eq!(
            (path.as_str(), query.as_deref()),
            ("/threat-reporting/v1/reported-emails", Some("offset=2"))
        );
        for foreign in [
            "https://attacker.example/threat-reporting/v1/reported-emails",
            "http://api.services.mimecast.com/x",
            "https://api.services.mimecast.com:8443/x",
            "https://user:pw@api.services.mimecast.com/x",
            "https://api.services.mimecast.com.attacker.example/x",
        ] {
            let e = super::own_link(&base, &u(foreign)).unwrap_err();
            assert!(
                matches!(e, super::ApiError::ForeignLink { .. }),
                "{foreign}: {e}"
            );
        }
        // A base with a path prefix (a proxy) is not sent twice.
        let proxied = u("https://proxy.example/mimecast/");
        let (path, _) = super::own_link(
            &proxied,
            &u("https://proxy.example/mimecast/threats/v1/events?pageToken=t"),
        )
        .unwrap();
        assert_eq!(path, "/threats/v1/events");
    }

    #[test]
    fn envelopes_and_json_files_are_told_apart() {
        assert!(looks_like_envelope(
            br#"{"meta":{"status":200},"data":[],"fail":[]}"#
        ));
        assert!(looks_like_envelope(br#"{"fail":[{"message":"x"}]}"#));
        assert!(!looks_like_envelope(
            br#"{"type":"bundle","id":"bundle--1","objects":[]}"#
        ));
        assert!(!looks_like_envelope(b"PK\x03\x04"));
    }
}
