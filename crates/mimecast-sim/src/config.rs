//! Simulator configuration: tenants, credentials and the knobs that shape the backlog.
//!
//! WHY a separate module: the same configuration is built by tests (struct literals with
//! `..Default::default()`), by the `sim` CLI, and by benchmarks; keeping it plain data with
//! documented defaults makes every run reproducible from (seed, config).

use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::faults::FaultRule;

/// Everything that shapes a simulator run. Same config (and seed) => byte-identical records.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every generated record; data is a pure function of (seed, tenant, stream, index).
    pub seed: u64,
    /// Tenants served by this simulator (all share one base URL; credentials pick the tenant).
    pub tenants: Vec<SimTenant>,
    /// Backlog per tenant per stream (for `siem_cg`: per event type; for `threat_intel`: per feed).
    pub records_per_stream: u64,
    /// Records are spread evenly over `[end - span, end)`.
    pub span: Duration,
    /// End of the backlog; `None` = the server's "now" when the simulator starts (truncated to
    /// seconds). A future `end` makes records appear live as the server's clock reaches them.
    pub end: Option<OffsetDateTime>,
    /// OAuth2 `expires_in` and the real lifetime of issued bearer tokens.
    pub token_ttl: Duration,
    /// Accepted `|x-mc-date - now|` for API 1.0 signed requests.
    pub max_clock_skew: Duration,
    /// Server-side quota per tenant per sliding minute; 0 = unlimited.
    pub quota_per_minute: u32,
    /// A quota of its own for the SIEM batch listing (`/siem/v1/batch/events/...`): at most
    /// this many calls per tenant in any window of this length, on top of the tenant's. A peer
    /// enforces 50 per 15 minutes on that endpoint (docs/mimecast-api.md#rate-limits,
    /// unconfirmed); `None` (the default) checks only the tenant's quota.
    pub siem_listing_quota: Option<(u32, Duration)>,
    /// `false`: `X-RateLimit-*` only on 429 (what Elastic observed); `true`: on every response.
    pub rate_limit_headers_always: bool,
    /// Page size when a request names none; requests may ask up to 500 (larger is clamped).
    pub default_page_size: u32,
    /// Records per `siem_cg` batch file.
    pub siem_cg_records_per_file: u64,
    /// Records per `siem_mta` (`/api/audit/get-siem-logs`) file.
    pub siem_mta_records_per_file: u64,
    /// Lifetime of `siem_cg` pre-signed file URLs (403 afterwards).
    pub file_url_ttl: Duration,
    /// Initial fault plan (more can be added with [`crate::Simulator::inject`]).
    pub faults: Vec<FaultRule>,
    /// At most this many requests are kept for [`crate::Simulator::requests`] (oldest dropped).
    pub max_recorded_requests: usize,
    /// Keep the JSON text of every record served by the log routes, and every SIEM file's
    /// bytes, so a repeated read costs no generation. For benchmarks, where the simulator shares
    /// the machine with the collector and must cost as little as possible; memory grows with
    /// what is read (about 1 KiB per record).
    pub cache_bodies: bool,
    /// Page tokens older than this are refused with HTTP 400 `err_validation_invalid_page_token`
    /// (e.g. a token kept through a long rate-limit pause). `None` (default): tokens never
    /// expire. When set, every issued token (`meta.pagination.next`/`previous`, `mc-siem-token`,
    /// `x-mc-threat-feed-next-token`, `@nextPage`) carries its issue time on the server's clock.
    pub page_token_ttl: Option<Duration>,
    /// The server's clock minus the real one, in seconds (negative: the server is behind).
    /// It drives the `Date` header of every response, "now" for default windows, URL expiry and
    /// API 1.0 `x-mc-date` checks, and which records exist yet: a record is served only once its
    /// time is <= the server's now (see the crate docs).
    pub clock_offset_secs: i64,
    /// Body shape of the REST threat routes (`/threats/v1/events` and its `/details`); the
    /// default is the documented-style `{"value":[…],"@nextPage":"<token>"}`. The other
    /// variants are what a client must also accept (docs/mimecast-api.md#threats-api: the shape is
    /// UNCONFIRMED), plus one it must refuse loudly ([`RestShape::Unrecognisable`]).
    pub rest_shape: RestShape,
}

/// Body shape of `GET /threats/v1/events` and `GET /threats/v1/events/{id}/details`
/// ([`SimConfig::rest_shape`]).
///
/// | variant | list body | details body |
/// |---|---|---|
/// | `Documented` (default) | `{"value":[…],"@nextPage":"<token>"}` | `{"value":[detail]}` |
/// | `Shaped{items, next, next_as_uri, bare_detail}` | records under `value`/`data`/`events`; next page at `@nextPage`, `meta.nextPage` or `meta.pagination.next`, as the bare token or (`next_as_uri`) a full URI `http://<Host>/threats/v1/events?<query>&pageToken=<token>` | `{"<items>":[detail]}`, or the bare detail object with `bare_detail` |
/// | `Unrecognisable` | `{"items":[…],"continuation":"<token>"}` | `{"items":[detail]}` |
///
/// The next page is absent on the last page in every variant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestShape {
    #[default]
    Documented,
    Shaped {
        items: RestItems,
        next: RestNext,
        next_as_uri: bool,
        bare_detail: bool,
    },
    Unrecognisable,
}

impl RestShape {
    /// Key of the records array.
    pub fn items_key(self) -> &'static str {
        match self {
            RestShape::Documented => "value",
            RestShape::Shaped { items, .. } => items.key(),
            RestShape::Unrecognisable => "items",
        }
    }

    /// Whether the next page is a full URI rather than a bare token.
    pub fn next_is_uri(self) -> bool {
        matches!(
            self,
            RestShape::Shaped {
                next_as_uri: true,
                ..
            }
        )
    }
}

/// Where [`RestShape::Shaped`] puts the records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestItems {
    /// `value`
    #[default]
    Value,
    /// `data`
    Data,
    /// `events`
    Events,
}

impl RestItems {
    pub fn key(self) -> &'static str {
        match self {
            RestItems::Value => "value",
            RestItems::Data => "data",
            RestItems::Events => "events",
        }
    }
}

/// Where [`RestShape::Shaped`] puts the next page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestNext {
    /// `@nextPage`
    #[default]
    AtNextPage,
    /// `meta.nextPage`
    MetaNextPage,
    /// `meta.pagination.next`
    MetaPaginationNext,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            tenants: vec![SimTenant::demo()],
            records_per_stream: 200,
            span: Duration::from_secs(2 * 3600),
            end: None,
            token_ttl: Duration::from_secs(1799),
            max_clock_skew: Duration::from_secs(15 * 60),
            quota_per_minute: 600,
            siem_listing_quota: None,
            rate_limit_headers_always: false,
            default_page_size: 100,
            siem_cg_records_per_file: 100,
            siem_mta_records_per_file: 100,
            file_url_ttl: Duration::from_secs(15 * 60),
            faults: Vec::new(),
            max_recorded_requests: 100_000,
            cache_bodies: false,
            page_token_ttl: None,
            clock_offset_secs: 0,
            rest_shape: RestShape::Documented,
        }
    }
}

/// API 1.0 credentials: a registered application plus a user's key binding.
#[derive(Clone, PartialEq, Eq)]
pub struct V1Creds {
    pub app_id: String,
    pub app_key: String,
    pub access_key: String,
    /// Base64 text, exactly as Mimecast hands it out; decoded before use as the HMAC key.
    pub secret_key: String,
}

impl std::fmt::Debug for V1Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V1Creds")
            .field("app_id", &self.app_id)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// API 2.0 OAuth2 client credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct V2Creds {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for V2Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V2Creds")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A service user that may call `/api/login/login` to obtain the tenant's v1 keys.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginUser {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for LoginUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginUser")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// One simulated Mimecast account.
#[derive(Debug, Clone)]
pub struct SimTenant {
    /// Tenant name; also the base of its internal domains (`<name>.example`, `<name>-corp.example`).
    pub name: String,
    pub v1: Option<V1Creds>,
    pub v2: Option<V2Creds>,
    pub login: Option<LoginUser>,
    /// Mimecast permission strings this tenant's user/app LACKS, e.g.
    /// `"Archive | Search | Read"` (see [`crate::permissions::PERMISSIONS`]); such endpoints answer 403.
    pub denied: Vec<String>,
    /// When `Some`, the tenant holds ONLY these permissions (same spelling rules as `denied`):
    /// every other permission-guarded endpoint answers the 403 of `denied`. `None`: all
    /// permissions except `denied`.
    pub granted: Option<Vec<String>>,
    /// API 2.0 products the tenant's application is subscribed to
    /// (docs/mimecast-api.md#api-20-products), e.g. `"Threats, Security Events and Data for CG"`
    /// (see [`crate::permissions::PRODUCTS`]). `None`: every product. When `Some`, a bearer request
    /// to a path of another product answers 403 `err_product_not_subscribed` naming the product.
    /// API 1.0 requests are not affected.
    pub products: Option<Vec<String>>,
}

impl SimTenant {
    /// The demo tenant `demo`, with short memorable credentials (documented in the crate docs).
    pub fn demo() -> Self {
        SimTenant {
            name: "demo".into(),
            v1: Some(V1Creds {
                app_id: "demo-app-id".into(),
                app_key: "demo-app-key".into(),
                access_key: "demo-access-key".into(),
                // base64("demo-secret-key-for-the-mimecast-simulator")
                secret_key: base64::engine::general_purpose::STANDARD
                    .encode(b"demo-secret-key-for-the-mimecast-simulator"),
            }),
            v2: Some(V2Creds {
                client_id: "demo-client-id".into(),
                client_secret: "demo-client-secret".into(),
            }),
            login: Some(LoginUser {
                email: "collector@demo.example".into(),
                password: "demo-password".into(),
            }),
            denied: Vec::new(),
            granted: None,
            products: None,
        }
    }

    /// A tenant with deterministic credentials derived from `name` (distinct per name).
    pub fn named(name: &str) -> Self {
        let h = |label: &str| -> [u8; 32] {
            let mut d = Sha256::new();
            d.update(b"mimecast-sim tenant credentials\0");
            d.update(name.as_bytes());
            d.update([0]);
            d.update(label.as_bytes());
            d.finalize().into()
        };
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let uuid = |b: [u8; 32]| {
            let s = hex(&b[..16]);
            format!(
                "{}-{}-{}-{}-{}",
                &s[..8],
                &s[8..12],
                &s[12..16],
                &s[16..20],
                &s[20..32]
            )
        };
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut secret = h("secret").to_vec();
        secret.extend_from_slice(&h("secret2"));
        SimTenant {
            name: name.to_string(),
            v1: Some(V1Creds {
                app_id: uuid(h("app_id")),
                app_key: uuid(h("app_key")),
                access_key: format!("mYtOL3XZCOwG96BOiFTZRm{}", b64url.encode(h("access"))),
                secret_key: base64::engine::general_purpose::STANDARD.encode(secret),
            }),
            v2: Some(V2Creds {
                client_id: hex(&h("client_id")[..16]),
                client_secret: b64url.encode(h("client_secret")),
            }),
            login: Some(LoginUser {
                email: format!("collector@{name}.example"),
                password: format!("pw-{}", hex(&h("password")[..8])),
            }),
            denied: Vec::new(),
            granted: None,
            products: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_tenants_are_deterministic_and_distinct() {
        let a = SimTenant::named("acme");
        let b = SimTenant::named("acme");
        let c = SimTenant::named("globex");
        assert_eq!(a.v1, b.v1);
        assert_eq!(a.v2, b.v2);
        assert_ne!(a.v1, c.v1);
        assert_ne!(a.v2, c.v2);
        let secret =
            a.v1.as_ref()
                .map(|v| v.secret_key.clone())
                .unwrap_or_default();
        assert!(base64::engine::general_purpose::STANDARD
            .decode(secret)
            .is_ok());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let t = SimTenant::demo();
        let s = format!("{t:?}");
        assert!(!s.contains("demo-client-secret"));
        assert!(!s.contains("demo-password"));
        assert!(!s.contains("demo-app-key"));
    }
}
