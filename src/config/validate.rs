//! Raw config -> typed [`Config`](super::Config), reporting every mistake with its key path.

use super::duration::parse_duration;
use super::raw::{RawConfig, RawSink, RawStreamSettings, RawTenant};
use super::secret::{self, EnvLookup};
use super::*;
use crate::catalog::hosts;
use crate::catalog::THREAT_FEED_TYPES;
use base64::Engine;
use secrecy::ExposeSecret;
use std::collections::{BTreeMap, HashSet};

/// Default page size: a safe value every endpoint accepts (docs/mimecast-api.md#pagination: 100
/// default, 500 practical max).
pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 500;
/// Default client-side request rate per tenant. Mimecast publishes no numbers
/// (docs/mimecast-api.md#rate-limits); this is low enough that a dozen streams of one tenant stay
/// far from any observed quota.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 240;
/// SIEM files downloaded at once per tenant: enough to hide Mimecast's per-file latency (tens
/// to hundreds of ms) behind the writing of the file before, few enough to bound memory (each
/// file in flight holds at most its decoder's queue).
pub const DEFAULT_FILE_DOWNLOADS: usize = 4;
/// The SIEM batch listing's own budget per tenant: 50 calls per 15 minutes, the number a peer
/// enforces for `/siem/v1/batch/events/cg` (Sekoia's Mimecast connector; Mimecast publishes no
/// figure: docs/mimecast-api.md#rate-limits). A caught-up type needs about one call per new
/// batch, and a backlog page lists up to 100 files, so it slows idle polls, not drains.
pub const DEFAULT_SIEM_LISTING_BUDGET: &str = "50/15m";
/// No setting needs more than a year; larger values only risk overflow in time arithmetic.
const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

struct Errors {
    list: Vec<KeyError>,
    secrets: Secrets,
}

/// Whether secrets are read. Commands that only read the state database (`status`, `reset`,
/// `permissions`) skip them: an on-call shell has no credentials, and needs none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    Resolve,
    /// Every secret is empty and nothing names one as missing.
    Skip,
}

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.list.push(KeyError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn duration(
        &mut self,
        path: &str,
        value: Option<&str>,
        default: Duration,
        min: Duration,
    ) -> Duration {
        let Some(text) = value else { return default };
        match parse_duration(text) {
            Ok(d) if d > MAX_DURATION => {
                self.push(
                    path,
                    format!(
                        "{text:?} is too long: the maximum is {}",
                        super::duration::format_duration(MAX_DURATION)
                    ),
                );
                default
            }
            Ok(d) if d < min => {
                self.push(
                    path,
                    format!(
                        "{text:?} is too short: the minimum is {}",
                        super::duration::format_duration(min)
                    ),
                );
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.push(path, e);
                default
            }
        }
    }

    /// A secret that must be present; the message says how to provide it. `file` is the
    /// `*_file` path as written (see [`secret_path`]).
    fn secret(
        &mut self,
        key: &str,
        inline: Option<&str>,
        file: Option<&Path>,
        base_dir: &Path,
        env: EnvLookup<'_>,
        required: bool,
    ) -> Option<SecretString> {
        if self.secrets == Secrets::Skip {
            return Some(SecretString::from(String::new()));
        }
        let file = match file.map(|p| secret_path(p, base_dir, env)) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(message)) => {
                self.push(format!("{key}_file"), message);
                return None;
            }
        };
        match secret::resolve(key, inline, file.as_deref(), env) {
            Ok(Some(s)) => Some(s),
            Ok(None) => {
                if required {
                    self.push(
                        key,
                        format!("is required: set {key} (inline or \"${{VAR}}\") or {key}_file"),
                    );
                }
                None
            }
            Err(e) => {
                // `resolve` already prefixes the key; split it back into path and message.
                let (path, message) = e.split_once(": ").unwrap_or((key, e.as_str()));
                self.push(path, message);
                None
            }
        }
    }
}

/// Where a `*_file` secret is read: a `${VAR}` at the start of the path comes from the
/// environment, for systemd's `${CREDENTIALS_DIRECTORY}`, which is another directory for each
/// instance of a template unit (`/run/credentials/mimecast-collector@2-4.service`), so one
/// config serves every shard; a relative path is taken from the config file's directory.
fn secret_path(path: &Path, base_dir: &Path, env: EnvLookup<'_>) -> Result<PathBuf, String> {
    let text = path.to_string_lossy();
    let Some(rest) = text.strip_prefix("${") else {
        return Ok(if path.is_relative() {
            base_dir.join(path)
        } else {
            path.to_path_buf()
        });
    };
    let (var, tail) = rest.split_once('}').unwrap_or((rest, ""));
    if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "{text:?}: \"${{{var}}}\" is not a valid environment variable reference"
        ));
    }
    match env(var) {
        Some(dir) if !dir.is_empty() => {
            Ok(PathBuf::from(dir).join(tail.trim_start_matches('/')))
        }
        _ if var == "CREDENTIALS_DIRECTORY" => Err(format!(
            "{text:?}: CREDENTIALS_DIRECTORY is not set: systemd sets it for a service with LoadCredential= (outside systemd, write the path itself)"
        )),
        _ => Err(format!(
            "{text:?}: environment variable {var} is not set"
        )),
    }
}

pub(super) fn validate(
    raw: RawConfig,
    base_dir: &Path,
    env: EnvLookup<'_>,
    secrets: Secrets,
) -> Result<Config, Vec<KeyError>> {
    let mut errs = Errors {
        list: Vec::new(),
        secrets,
    };
    let c = &raw.collector;
    let collector = CollectorConfig {
        state_path: c
            .state_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("/var/lib/mimecast-collector/state.db")),
        file_group: c
            .file_group
            .as_deref()
            .and_then(|name| match group_id(name) {
                Some(gid) => Some(gid),
                None => {
                    errs.push(
                        "collector.file_group",
                        format!("{name:?} is not a group on this machine (see /etc/group)"),
                    );
                    None
                }
            }),
        poll_interval: errs.duration(
            "collector.poll_interval",
            c.poll_interval.as_deref(),
            Duration::from_secs(60),
            Duration::from_secs(1),
        ),
        initial_lookback: errs.duration(
            "collector.initial_lookback",
            c.initial_lookback.as_deref(),
            Duration::from_secs(86_400),
            // Shorter than the settle delay, a new stream would never have a window to read.
            Duration::from_secs(5 * 60),
        ),
        max_lag: errs.duration(
            "collector.max_lag",
            c.max_lag.as_deref(),
            Duration::from_secs(300),
            Duration::from_secs(1),
        ),
    };

    let shard = c
        .shard
        .as_deref()
        .and_then(|text| match text.parse::<Shard>() {
            Ok(s) => Some(s),
            Err(e) => {
                errs.push("collector.shard", e.to_string());
                None
            }
        });

    let h = &raw.http;
    let defaults = RetryConfig::default();
    let retry = RetryConfig {
        initial_delay: errs.duration(
            "http.retry_initial_delay",
            h.retry_initial_delay.as_deref(),
            defaults.initial_delay,
            Duration::from_millis(10),
        ),
        max_delay: errs.duration(
            "http.retry_max_delay",
            h.retry_max_delay.as_deref(),
            defaults.max_delay,
            Duration::from_millis(10),
        ),
        max_attempts: match h.retry_max_attempts {
            None => defaults.max_attempts,
            Some(n @ 1..=100) => n,
            Some(n) => {
                errs.push(
                    "http.retry_max_attempts",
                    format!("{n} is out of range: use 1 to 100"),
                );
                defaults.max_attempts
            }
        },
    };
    if retry.max_delay < retry.initial_delay {
        errs.push(
            "http.retry_max_delay",
            "must not be shorter than http.retry_initial_delay",
        );
    }
    let default_rpm = rate(
        &mut errs,
        "http.requests_per_minute",
        h.requests_per_minute,
        DEFAULT_REQUESTS_PER_MINUTE,
    );
    let http = HttpConfig {
        connect_timeout: errs.duration(
            "http.connect_timeout",
            h.connect_timeout.as_deref(),
            Duration::from_secs(10),
            Duration::from_millis(100),
        ),
        request_timeout: errs.duration(
            "http.request_timeout",
            h.request_timeout.as_deref(),
            Duration::from_secs(120),
            Duration::from_millis(100),
        ),
        retry,
        requests_per_minute: default_rpm,
        siem_listing_budget: budget(
            &mut errs,
            "http.siem_listing_budget",
            h.siem_listing_budget
                .as_deref()
                .unwrap_or(DEFAULT_SIEM_LISTING_BUDGET),
        ),
        file_downloads: match h.file_downloads {
            None => DEFAULT_FILE_DOWNLOADS,
            Some(n @ 1..=32) => n as usize,
            Some(n) => {
                errs.push(
                    "http.file_downloads",
                    format!("{n} is out of range: use 1 to 32"),
                );
                DEFAULT_FILE_DOWNLOADS
            }
        },
        extra_ca_pem: h
            .ca_file
            .as_ref()
            .and_then(|path| ca_bundle(&mut errs, "http.ca_file", base_dir, path)),
    };

    let sink = SinkConfig {
        include_raw: raw.sink.include_raw.unwrap_or(true),
        format: match raw.sink.format.as_deref() {
            None => Format::Native,
            Some(name) => Format::from_name(name).unwrap_or_else(|| {
                errs.push(
                    "sink.format",
                    format!("{name:?} is not one of native, ocsf, ecs"),
                );
                Format::Native
            }),
        },
        kind: sink_kind(&raw.sink, base_dir, &mut errs, env),
    };

    if raw.tenant.is_empty() {
        errs.push(
            "tenant",
            "no tenant is configured: add at least one [[tenant]] table",
        );
    }
    let mut names = HashSet::new();
    let mut tenants = Vec::new();
    for (i, t) in raw.tenant.iter().enumerate() {
        let prefix = format!("tenant[{i}]");
        if let Some(name) = &t.name {
            if !names.insert(name.clone()) {
                errs.push(
                    format!("{prefix}.name"),
                    format!("{name:?} is used by another tenant: names must be unique"),
                );
            }
        }
        if let Some(tenant) = tenant(
            &mut errs,
            &prefix,
            t,
            default_rpm,
            &collector,
            base_dir,
            env,
        ) {
            tenants.push(tenant);
        }
    }

    let metrics = MetricsConfig {
        listen: match raw.metrics.listen.as_deref() {
            None => None,
            Some(text) => match text.parse::<std::net::SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    errs.push(
                        "metrics.listen",
                        format!("{text:?} is not an address such as \"127.0.0.1:9464\""),
                    );
                    None
                }
            },
        },
    };
    if errs.list.is_empty() {
        Ok(Config {
            metrics,
            collector,
            http,
            sink,
            tenants,
            shard,
        })
    } else {
        Err(errs.list)
    }
}

/// `"50/15m"`: at most 50 calls in any 15 minutes; `"none"`: no budget but the tenant's.
fn budget(errs: &mut Errors, path: &str, text: &str) -> Option<super::Budget> {
    if text.trim().eq_ignore_ascii_case("none") {
        return None;
    }
    let fallback = || budget_of(DEFAULT_SIEM_LISTING_BUDGET).ok();
    match budget_of(text) {
        Ok(b) => Some(b),
        Err(e) => {
            errs.push(path, format!("{text:?}: {e}"));
            fallback()
        }
    }
}

fn budget_of(text: &str) -> Result<super::Budget, String> {
    let (calls, per) = text
        .split_once('/')
        .ok_or("write calls per duration, like \"50/15m\", or \"none\"")?;
    let calls: u32 = calls
        .trim()
        .parse()
        .map_err(|_| format!("{calls:?} is not a number of calls"))?;
    let calls = NonZeroU32::new(calls)
        .filter(|n| n.get() <= 100_000)
        .ok_or("the number of calls must be 1 to 100000")?;
    let per = parse_duration(per.trim()).map_err(|e| e.to_string())?;
    if per < Duration::from_secs(1) || per > Duration::from_secs(86_400) {
        return Err("the duration must be 1s to 24h".into());
    }
    Ok(super::Budget { calls, per })
}

fn rate(errs: &mut Errors, path: &str, value: Option<u32>, default: u32) -> NonZeroU32 {
    let fallback = NonZeroU32::new(default).unwrap_or(NonZeroU32::MIN);
    match value {
        None => fallback,
        Some(n @ 1..=100_000) => NonZeroU32::new(n).unwrap_or(fallback),
        Some(n) => {
            errs.push(path, format!("{n} is out of range: use 1 to 100000"));
            fallback
        }
    }
}

fn tenant(
    errs: &mut Errors,
    prefix: &str,
    t: &RawTenant,
    default_rpm: NonZeroU32,
    collector: &CollectorConfig,
    base_dir: &Path,
    env: EnvLookup<'_>,
) -> Option<TenantConfig> {
    let before = errs.list.len();
    let name = match &t.name {
        None => {
            errs.push(format!("{prefix}.name"), "is required");
            String::new()
        }
        Some(n)
            if n.is_empty()
                || n.len() > 64
                || !n.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                }) =>
        {
            errs.push(
                format!("{prefix}.name"),
                format!("{n:?} must be 1 to 64 characters of a-z, 0-9, _ and -"),
            );
            String::new()
        }
        Some(n) => n.clone(),
    };
    let api = match t.api.as_deref().unwrap_or("v2") {
        "v2" | "2" | "2.0" => ApiVersion::V2,
        "v1" | "1" | "1.0" => ApiVersion::V1,
        other => {
            errs.push(
                format!("{prefix}.api"),
                format!("{other:?} is not one of v1, v2"),
            );
            return None;
        }
    };

    let base_url = match (&t.base_url, &t.region) {
        (Some(u), _) => match parse_base_url(u) {
            Ok(url) => Some(url),
            Err(e) => {
                errs.push(format!("{prefix}.base_url"), e);
                None
            }
        },
        (None, region) => {
            let region = region.as_deref().or(match api {
                ApiVersion::V2 => Some("global"),
                ApiVersion::V1 => None,
            });
            match region {
                None => {
                    errs.push(
                        format!("{prefix}.region"),
                        format!(
                            "is required for API 1.0 tenants: one of {} (or set base_url)",
                            hosts::regions(api).join(", ")
                        ),
                    );
                    None
                }
                Some(r) => match hosts::base_url(api, r) {
                    Some(u) => url::Url::parse(u).ok(),
                    None => {
                        errs.push(
                            format!("{prefix}.region"),
                            format!(
                                "{r:?} is not one of {} (API {api})",
                                hosts::regions(api).join(", ")
                            ),
                        );
                        None
                    }
                },
            }
        }
    };

    let wrong_api = |errs: &mut Errors, key: &str, set: bool, api_name: &str| {
        if set {
            errs.push(
                format!("{prefix}.{key}"),
                format!("belongs to API {api_name} tenants, but this tenant has api = \"{api}\""),
            );
        }
    };
    let credentials = match api {
        ApiVersion::V1 => {
            wrong_api(errs, "client_id", t.client_id.is_some(), "2.0");
            wrong_api(
                errs,
                "client_secret",
                t.client_secret.is_some() || t.client_secret_file.is_some(),
                "2.0",
            );
            let app_id = t.app_id.clone().filter(|s| !s.trim().is_empty());
            if app_id.is_none() {
                errs.push(
                    format!("{prefix}.app_id"),
                    "is required for API 1.0 tenants (the registered application's id)",
                );
            }
            let app_key = errs.secret(
                &format!("{prefix}.app_key"),
                t.app_key.as_deref(),
                t.app_key_file.as_deref(),
                base_dir,
                env,
                true,
            );
            let access_key = errs.secret(
                &format!("{prefix}.access_key"),
                t.access_key.as_deref(),
                t.access_key_file.as_deref(),
                base_dir,
                env,
                true,
            );
            let secret_key = errs.secret(
                &format!("{prefix}.secret_key"),
                t.secret_key.as_deref(),
                t.secret_key_file.as_deref(),
                base_dir,
                env,
                true,
            );
            if let Some(sk) = &secret_key {
                if base64::engine::general_purpose::STANDARD
                    .decode(sk.expose_secret().as_bytes())
                    .is_err()
                {
                    errs.push(format!("{prefix}.secret_key"), "is not valid base64: paste the secret key exactly as Mimecast issued it (or run `mimecast-collector login`)");
                }
            }
            match (app_id, app_key, access_key, secret_key) {
                (Some(app_id), Some(app_key), Some(access_key), Some(secret_key)) => {
                    Some(Credentials::V1(V1Credentials {
                        app_id,
                        app_key,
                        access_key,
                        secret_key,
                    }))
                }
                _ => None,
            }
        }
        ApiVersion::V2 => {
            for (key, set) in [
                ("app_id", t.app_id.is_some()),
                ("app_key", t.app_key.is_some() || t.app_key_file.is_some()),
                (
                    "access_key",
                    t.access_key.is_some() || t.access_key_file.is_some(),
                ),
                (
                    "secret_key",
                    t.secret_key.is_some() || t.secret_key_file.is_some(),
                ),
            ] {
                wrong_api(errs, key, set, "1.0");
            }
            let client_id = t.client_id.clone().filter(|s| !s.trim().is_empty());
            if client_id.is_none() {
                errs.push(format!("{prefix}.client_id"), "is required for API 2.0 tenants (Admin Console > API and Platform Integrations)");
            }
            let client_secret = errs.secret(
                &format!("{prefix}.client_secret"),
                t.client_secret.as_deref(),
                t.client_secret_file.as_deref(),
                base_dir,
                env,
                true,
            );
            match (client_id, client_secret) {
                (Some(client_id), Some(client_secret)) => Some(Credentials::V2(V2Credentials {
                    client_id,
                    client_secret,
                })),
                _ => None,
            }
        }
    };

    let requests_per_minute = match t.requests_per_minute {
        None => default_rpm,
        some => rate(
            errs,
            &format!("{prefix}.requests_per_minute"),
            some,
            default_rpm.get(),
        ),
    };
    let streams = streams(errs, prefix, t, api, collector);

    if errs.list.len() > before {
        return None;
    }
    Some(TenantConfig {
        name,
        region: t.region.clone(),
        base_url: base_url?,
        credentials: credentials?,
        requests_per_minute,
        streams,
    })
}

/// The id of a group by name (or a numeric id), from /etc/group.
fn group_id(name: &str) -> Option<u32> {
    if let Ok(gid) = name.parse() {
        return Some(gid);
    }
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// `https://` anywhere; plain `http://` only to this machine (the simulator, a local proxy),
/// so keys and tokens never cross a network in clear text. No user or password: Mimecast takes
/// none there, the HTTP client would send them to the host, and errors would show them.
fn parse_base_url(text: &str) -> Result<url::Url, String> {
    let shown = hide_userinfo(text);
    let url = url::Url::parse(text).map_err(|e| format!("{shown:?} is not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{shown:?} carries a user name or password: remove it (a tenant's credentials are its own keys)"));
    }
    let text = shown;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(format!("{text:?} uses plain http to a remote host: use https (http is allowed only for localhost)")),
        other => return Err(format!("{text:?} has scheme {other:?}: use https")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must not have a query or fragment"));
    }
    Ok(url)
}

/// `text` with the user information of its authority (`user:password@`) replaced, so that an
/// error quoting a URL never shows a password, whether or not the URL parses.
fn hide_userinfo(text: &str) -> String {
    let start = text.find("://").map_or(0, |i| i + 3);
    let end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| start + i);
    match text[start..end].rfind('@') {
        Some(at) => format!("{}[redacted]{}", &text[..start], &text[start + at..]),
        None => text.to_string(),
    }
}

fn streams(
    errs: &mut Errors,
    prefix: &str,
    t: &RawTenant,
    api: ApiVersion,
    collector: &CollectorConfig,
) -> Vec<StreamConfig> {
    let names = match &t.streams {
        Some(s) if !s.is_empty() => s.clone(),
        _ => {
            errs.push(
                format!("{prefix}.streams"),
                "is required: list the streams to collect, e.g. [\"ttp_url\", \"audit\"]",
            );
            return Vec::new();
        }
    };
    let valid = StreamKind::ALL
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ");
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (j, name) in names.iter().enumerate() {
        let path = format!("{prefix}.streams[{j}]");
        let Some(kind) = StreamKind::from_name(name) else {
            errs.push(
                path,
                format!("{name:?} is not a stream: use one of {valid}"),
            );
            continue;
        };
        if !kind.supports(api) {
            let needs = if kind.supports(ApiVersion::V1) {
                "API 1.0"
            } else {
                "API 2.0"
            };
            errs.push(
                path,
                format!("{name:?} is served only by {needs}, but this tenant uses api = \"{api}\""),
            );
            continue;
        }
        if !seen.insert(kind) {
            errs.push(path, format!("{name:?} is listed twice"));
            continue;
        }
        let settings = t.stream.get(name).cloned().unwrap_or_default();
        out.push(stream(
            errs,
            &format!("{prefix}.stream.{name}"),
            kind,
            &settings,
            collector,
        ));
    }
    for key in t.stream.keys() {
        if !names.contains(key) {
            let msg = if StreamKind::from_name(key).is_some() {
                format!("settings for {key:?}, which is not in {prefix}.streams: add it there or remove this table")
            } else {
                format!("{key:?} is not a stream: use one of {valid}")
            };
            errs.push(format!("{prefix}.stream.{key}"), msg);
        }
    }
    out
}

fn stream(
    errs: &mut Errors,
    path: &str,
    kind: StreamKind,
    s: &RawStreamSettings,
    collector: &CollectorConfig,
) -> StreamConfig {
    let page_size = match (kind, s.page_size) {
        // Reported-email windows that do not fit one page are halved (an offset walk over a
        // list that moves loses entries): the biggest page the route takes.
        (StreamKind::ReportedEmails, None) => 500,
        (_, None) => DEFAULT_PAGE_SIZE,
        // docs/mimecast-api.md#threats-api: the Threats route pages 1 to 100 events.
        (StreamKind::Threats, Some(n @ 1..=100)) => n,
        (StreamKind::Threats, Some(n)) => {
            errs.push(
                format!("{path}.page_size"),
                format!("{n} is out of range: threats pages hold 1 to 100 events"),
            );
            DEFAULT_PAGE_SIZE
        }
        // docs/mimecast-api.md#reported-emails: reported-emails accepts five page sizes only.
        (StreamKind::ReportedEmails, Some(n @ (25 | 50 | 100 | 250 | 500))) => n,
        (StreamKind::ReportedEmails, Some(n)) => {
            errs.push(
                format!("{path}.page_size"),
                format!(
                    "{n} is not a page size reported_emails accepts: use 25, 50, 100, 250 or 500"
                ),
            );
            DEFAULT_PAGE_SIZE
        }
        (_, Some(n @ 1..=MAX_PAGE_SIZE)) => n,
        (_, Some(n)) => {
            errs.push(
                format!("{path}.page_size"),
                format!("{n} is out of range: use 1 to {MAX_PAGE_SIZE}"),
            );
            DEFAULT_PAGE_SIZE
        }
    };
    let mut list = |key: &str,
                    value: &Option<Vec<String>>,
                    owners: &[StreamKind],
                    allowed: Option<&[&str]>|
     -> Vec<String> {
        let Some(items) = value else {
            return Vec::new();
        };
        if !owners.contains(&kind) {
            let names: Vec<&str> = owners.iter().map(|o| o.name()).collect();
            errs.push(
                format!("{path}.{key}"),
                format!("applies only to the {} stream", names.join(" and ")),
            );
            return Vec::new();
        }
        if items.is_empty() {
            errs.push(
                format!("{path}.{key}"),
                "is empty: remove the key to use the default",
            );
        }
        if let Some(allowed) = allowed {
            for (i, item) in items.iter().enumerate() {
                if !allowed.contains(&item.as_str()) {
                    errs.push(
                        format!("{path}.{key}[{i}]"),
                        format!("{item:?} is not one of {}", allowed.join(", ")),
                    );
                }
            }
        }
        items.clone()
    };
    let mut types = list(
        "types",
        &s.types,
        &[StreamKind::SiemCg, StreamKind::SiemCi],
        kind.siem_types(),
    );
    let mut feed_types = list(
        "feed_types",
        &s.feed_types,
        &[StreamKind::ThreatIntel],
        Some(&THREAT_FEED_TYPES),
    );
    let domains = list("domains", &s.domains, &[StreamKind::Directory], None);
    if let (Some(all), true) = (kind.siem_types(), types.is_empty()) {
        types = all.iter().map(|s| s.to_string()).collect();
    }
    if kind == StreamKind::ThreatIntel && feed_types.is_empty() {
        feed_types = vec!["malware_customer".into()];
    }
    StreamConfig {
        kind,
        poll_interval: errs.duration(
            &format!("{path}.poll_interval"),
            s.poll_interval.as_deref(),
            collector.poll_interval,
            Duration::from_secs(1),
        ),
        page_size,
        types,
        feed_types,
        domains,
    }
}

/// `[sink] kind` and the keys that belong to it; a key of another kind is a mistake (the
/// operator meant something by it), named with the kind it belongs to.
fn sink_kind(raw: &RawSink, base_dir: &Path, errs: &mut Errors, env: EnvLookup<'_>) -> SinkKind {
    let kind = raw.kind.as_deref().unwrap_or("stdout");
    if kind != "file" && raw.path.is_some() {
        errs.push("sink.path", "is only used with kind = \"file\"");
    }
    if kind != "kafka" {
        not_kafka(errs, raw);
    }
    if kind != "syslog" {
        let syslog_keys = [
            ("sink.address", raw.address.is_some()),
            ("sink.tls", raw.tls.is_some()),
            ("sink.ca_file", raw.ca_file.is_some()),
            ("sink.server_name", raw.server_name.is_some()),
            ("sink.app_name", raw.app_name.is_some()),
            ("sink.hostname", raw.hostname.is_some()),
            ("sink.facility", raw.facility.is_some()),
        ];
        for (key, _) in syslog_keys.iter().filter(|(_, set)| *set) {
            errs.push(*key, "is only used with kind = \"syslog\"");
        }
    }
    match kind {
        "stdout" => SinkKind::Stdout,
        "file" => match &raw.path {
            Some(p) => SinkKind::File { path: p.clone() },
            None => {
                errs.push("sink.path", "is required when sink.kind = \"file\"");
                SinkKind::Stdout
            }
        },
        "syslog" => syslog(raw, base_dir, errs).map_or(SinkKind::Stdout, SinkKind::Syslog),
        "kafka" if !cfg!(feature = "kafka") => {
            errs.push(
                "sink.kind",
                "\"kafka\": this build has no Kafka support (it was built without the `kafka` feature; the default build has it)",
            );
            SinkKind::Stdout
        }
        "kafka" => kafka_sink(errs, raw, base_dir, env).map_or(SinkKind::Stdout, SinkKind::Kafka),
        other => {
            errs.push(
                "sink.kind",
                format!("{other:?} is not one of stdout, file, syslog, kafka"),
            );
            SinkKind::Stdout
        }
    }
}

/// RFC 5424 §6.2.5: APP-NAME is at most 48 printable US-ASCII characters, HOSTNAME 255.
fn printable_ascii(text: &str, max: usize) -> Result<(), String> {
    if text.is_empty() || text.len() > max {
        return Err(format!("{text:?} must be 1 to {max} characters"));
    }
    if let Some(c) = text.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "{text:?} holds {c:?}: only printable ASCII without spaces (RFC 5424)"
        ));
    }
    Ok(())
}

fn syslog(raw: &RawSink, base_dir: &Path, errs: &mut Errors) -> Option<SyslogConfig> {
    let before = errs.list.len();
    let address = match raw.address.as_deref() {
        None => {
            errs.push(
                "sink.address",
                "is required when sink.kind = \"syslog\" (host:port, e.g. \"siem.example.com:6514\")",
            );
            None
        }
        Some(a) => match super::syslog::split_address(a) {
            Ok(_) => Some(a.to_string()),
            Err(e) => {
                errs.push("sink.address", e);
                None
            }
        },
    };
    let tls = raw.tls.unwrap_or(false);
    if !tls {
        if raw.ca_file.is_some() {
            errs.push("sink.ca_file", "is only used with tls = true");
        }
        if raw.server_name.is_some() {
            errs.push("sink.server_name", "is only used with tls = true");
        }
    }
    let app_name = raw
        .app_name
        .clone()
        .unwrap_or_else(|| "mimecast-collector".into());
    if let Err(e) = printable_ascii(&app_name, 48) {
        errs.push("sink.app_name", e);
    }
    if let Some(Err(e)) = raw.hostname.as_deref().map(|h| printable_ascii(h, 255)) {
        errs.push("sink.hostname", e);
    }
    let facility = match raw.facility.as_deref() {
        None => 16,
        Some(name) => match super::syslog::facility_code(name) {
            Some(code) => code,
            None => {
                errs.push(
                    "sink.facility",
                    format!("{name:?} is not a syslog facility (kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0 to local7)"),
                );
                16
            }
        },
    };
    let tls = match (tls, &address) {
        (true, Some(address)) => {
            let host = super::syslog::split_address(address)
                .map(|(host, _)| host.to_string())
                .unwrap_or_default();
            let server_name = raw.server_name.clone().unwrap_or(host);
            if rustls::pki_types::ServerName::try_from(server_name.as_str()).is_err() {
                errs.push(
                    "sink.server_name",
                    format!("{server_name:?} is not a DNS name or IP address"),
                );
            }
            let extra_ca_pem = raw
                .ca_file
                .as_ref()
                .and_then(|path| ca_bundle(errs, "sink.ca_file", base_dir, path));
            Some(SyslogTls {
                server_name,
                extra_ca_pem,
            })
        }
        _ => None,
    };
    let address = address?;
    (errs.list.len() == before).then_some(SyslogConfig {
        address,
        tls,
        app_name,
        hostname: raw.hostname.clone(),
        facility,
    })
}

/// A `ca_file`: read (relative to the config file) and checked to hold at least one PEM
/// certificate, or an error at `key`.
fn ca_bundle(errs: &mut Errors, key: &str, base_dir: &Path, path: &Path) -> Option<Vec<u8>> {
    let path = if path.is_relative() {
        base_dir.join(path)
    } else {
        path.to_path_buf()
    };
    match std::fs::read(&path) {
        Err(e) => {
            errs.push(key, format!("cannot read {}: {e}", path.display()));
            None
        }
        Ok(pem) => match super::syslog::parse_certificates(&pem) {
            Ok(certs) if !certs.is_empty() => Some(pem),
            _ => {
                errs.push(key, format!("{} holds no PEM certificate", path.display()));
                None
            }
        },
    }
}

/// The Kafka keys set under another sink kind: a half-done switch to Kafka, said at once.
fn not_kafka(errs: &mut Errors, sink: &super::raw::RawSink) {
    for (key, set) in [
        ("sink.brokers", sink.brokers.is_some()),
        ("sink.topic", sink.topic.is_some()),
        ("sink.delivery_timeout", sink.delivery_timeout.is_some()),
        ("sink.kafka", sink.kafka.is_some()),
    ] {
        if set {
            errs.push(key, "is only used with kind = \"kafka\"");
        }
    }
}

/// librdkafka properties the sink sets itself, with why they cannot be set in `[sink.kafka]`.
/// `None`: a value is refused unless it keeps what the sink's guarantee needs.
fn kafka_reserved(name: &str, value: &str) -> Option<String> {
    match name {
        "bootstrap.servers" | "metadata.broker.list" => {
            Some("is set from sink.brokers: list the brokers there".into())
        }
        "message.timeout.ms" | "delivery.timeout.ms" => {
            Some("is set from sink.delivery_timeout: set it there".into())
        }
        "enable.idempotence" if value != "true" => Some(
            "must stay true: without it a retried send can duplicate or reorder events within a batch"
                .into(),
        ),
        "acks" | "request.required.acks" if value != "all" && value != "-1" => Some(
            "must stay \"all\": a checkpoint advances only once every in-sync replica has the events"
                .into(),
        ),
        "transactional.id" => Some(
            "is not supported: the sink is at least once with stable keys, not transactional (README \"Guarantees\")"
                .into(),
        ),
        "debug" if value.split(',').any(|c| matches!(c.trim(), "all" | "conf")) => Some(
            "\"all\" and \"conf\" would log the client's configuration; name the contexts you need (broker, protocol, msg, ...)"
                .into(),
        ),
        _ => None,
    }
}

/// Whether a `[sink.kafka]` property holds a secret: named like one (`sasl.password`,
/// `ssl.key.password`, `ssl.key.pem`, ...), or known to carry one.
pub(crate) fn is_kafka_secret(name: &str) -> bool {
    super::is_secret_key(name) || name == "sasl.oauthbearer.config"
}

fn kafka_sink(
    errs: &mut Errors,
    sink: &super::raw::RawSink,
    base_dir: &Path,
    env: EnvLookup<'_>,
) -> Option<KafkaConfig> {
    let mut ok = true;
    let brokers = sink.brokers.clone().unwrap_or_default();
    if brokers.is_empty() {
        errs.push(
            "sink.brokers",
            "is required when sink.kind = \"kafka\": the bootstrap brokers, e.g. [\"kafka1:9092\", \"kafka2:9092\"]",
        );
        ok = false;
    }
    for (i, b) in brokers.iter().enumerate() {
        let valid = b.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty()
                && !host.contains("://")
                && !host.contains(char::is_whitespace)
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !valid {
            errs.push(
                format!("sink.brokers[{i}]"),
                format!("{b:?} is not host:port, e.g. \"kafka1:9092\""),
            );
            ok = false;
        }
    }
    let topic = sink
        .topic
        .clone()
        .unwrap_or_else(|| DEFAULT_KAFKA_TOPIC.to_string());
    if topic.is_empty()
        || topic.len() > 249
        || topic == "."
        || topic == ".."
        || !topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        errs.push(
            "sink.topic",
            format!("{topic:?} is not a Kafka topic name: 1 to 249 of a-z A-Z 0-9 . _ -"),
        );
        ok = false;
    }
    let delivery_timeout = errs.duration(
        "sink.delivery_timeout",
        sink.delivery_timeout.as_deref(),
        DEFAULT_DELIVERY_TIMEOUT,
        Duration::from_secs(1),
    );
    if delivery_timeout > Duration::from_secs(3600) {
        errs.push("sink.delivery_timeout", "is too long: the maximum is 1h");
        ok = false;
    }
    let mut inline: BTreeMap<String, String> = BTreeMap::new();
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (key, value) in sink.kafka.iter().flatten() {
        let path = format!("sink.kafka.{key}");
        let (name, from_file) = match key.strip_suffix("_file") {
            Some(name) => (name, true),
            None => (key.as_str(), false),
        };
        let secret = is_kafka_secret(name);
        if from_file && !secret {
            errs.push(
                path,
                "only a secret (sasl.password, ssl.key.password, ssl.key.pem, ...) is read from a *_file key; librdkafka reads its own files from the *.location properties",
            );
            ok = false;
            continue;
        }
        let text = match value {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) if !secret => Some(n.to_string()),
            serde_json::Value::Bool(b) if !secret => Some(b.to_string()),
            _ => None,
        };
        let Some(text) = text else {
            errs.push(
                path,
                if secret {
                    "wrong type: expected a string (the value is not shown: this key holds a secret)"
                } else {
                    "wrong type: expected a string, a number or a boolean"
                },
            );
            ok = false;
            continue;
        };
        if from_file {
            files.insert(name.to_string(), PathBuf::from(text));
        } else {
            inline.insert(name.to_string(), text);
        }
    }
    let mut properties = BTreeMap::new();
    let names: std::collections::BTreeSet<String> =
        inline.keys().chain(files.keys()).cloned().collect();
    for name in names {
        let path = format!("sink.kafka.{name}");
        let value = if is_kafka_secret(&name) {
            match errs.secret(
                &path,
                inline.get(&name).map(String::as_str),
                files.get(&name).map(PathBuf::as_path),
                base_dir,
                env,
                false,
            ) {
                Some(s) => KafkaValue::Secret(s),
                None => {
                    ok = false;
                    continue;
                }
            }
        } else {
            KafkaValue::Plain(inline.get(&name).cloned().unwrap_or_default())
        };
        if let Some(why) = kafka_reserved(&name, value.expose()) {
            errs.push(path, why);
            ok = false;
            continue;
        }
        #[cfg(feature = "kafka")]
        if !(errs.secrets == Secrets::Skip && matches!(value, KafkaValue::Secret(_))) {
            if let Err(why) = super::kafka::check_property(
                &name,
                value.expose(),
                matches!(value, KafkaValue::Secret(_)),
            ) {
                errs.push(path, why);
                ok = false;
                continue;
            }
        }
        properties.insert(name, value);
    }
    ok.then_some(KafkaConfig {
        brokers,
        topic,
        delivery_timeout,
        properties,
    })
}
