//! Configuration: one TOML file plus `MIMECAST_COLLECTOR__*` environment overrides.
//!
//! Loading is two steps, as in quickwit: the `config` crate merges the sources into a raw tree
//! that is deserialized strictly (`raw`), then `validate` turns it into the typed [`Config`] the
//! rest of the program uses, collecting every mistake with its key path so the operator fixes
//! them all in one go. The environment is passed in, never read globally, so tests need no
//! process state.

pub mod duration;
#[cfg(feature = "kafka")]
pub mod kafka;
mod raw;
pub mod secret;
pub mod shard;
pub mod syslog;
mod validate;

pub use shard::Shard;

pub use validate::{
    Secrets, DEFAULT_FILE_DOWNLOADS, DEFAULT_PAGE_SIZE, DEFAULT_REQUESTS_PER_MINUTE, MAX_PAGE_SIZE,
};

use crate::render::{Format, Output};
use secrecy::SecretString;
use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::catalog::{ApiVersion, StreamKind};

/// Environment variable prefix for overrides (`MIMECAST_COLLECTOR__COLLECTOR__POLL_INTERVAL`).
pub const ENV_PREFIX: &str = "MIMECAST_COLLECTOR";
/// Environment variable naming the config file when `--config` is not given.
pub const CONFIG_PATH_ENV: &str = "MIMECAST_COLLECTOR_CONFIG";
/// Where the config lives when neither `--config` nor the variable is set.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/mimecast-collector/config.toml";

#[derive(Debug, Clone)]
pub struct Config {
    pub collector: CollectorConfig,
    pub http: HttpConfig,
    pub sink: SinkConfig,
    /// Every configured tenant, this shard's or not (`status`, `reset` and `check` name the
    /// others); [`Config::owned_tenants`] are the ones collected.
    pub tenants: Vec<TenantConfig>,
    pub metrics: MetricsConfig,
    /// `collector.shard` (or `--shard`): `None` when not sharded. Kept out of
    /// [`CollectorConfig`], which shapes every stream task: a shard change on reload moves
    /// tenants, it does not restart the streams that stay.
    pub shard: Option<Shard>,
}

impl Config {
    /// The tenants this instance collects: all of them unless sharded.
    pub fn owned_tenants(&self) -> impl Iterator<Item = &TenantConfig> {
        let shard = self.shard.unwrap_or(Shard::ALL);
        self.tenants.iter().filter(move |t| shard.owns(&t.name))
    }

    /// Whether this instance collects the tenant of that name (configured or not).
    pub fn owns(&self, tenant: &str) -> bool {
        self.shard.unwrap_or(Shard::ALL).owns(tenant)
    }
}

/// The optional Prometheus listener (`[metrics] listen = "127.0.0.1:9464"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    pub listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct CollectorConfig {
    pub state_path: PathBuf,
    /// `file_group`: group id that may read the output and the state (files become 0640).
    pub file_group: Option<u32>,
    pub poll_interval: Duration,
    pub initial_lookback: Duration,
    pub max_lag: Duration,
}

/// `calls` requests per `per`, at most, in any window of that length (an endpoint's budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub calls: NonZeroU32,
    pub per: Duration,
}

/// How the collector talks HTTP: timeouts, retry limits and the default request rate.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry: RetryConfig,
    /// Default client-side limit per tenant, overridable per tenant.
    pub requests_per_minute: NonZeroU32,
    /// The SIEM batch listing's own budget per tenant, on top of the tenant's (`None`: none).
    pub siem_listing_budget: Option<Budget>,
    /// SIEM files downloaded at once per tenant (a page's files overlap; they are still
    /// written and committed one after the other, in order).
    pub file_downloads: usize,
    /// `ca_file`: extra trusted CA certificates, PEM, checked at load. Validation stays on.
    pub extra_ca_pem: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy)]
pub struct RetryConfig {
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// Attempts per request, the first included; after that the poll fails and the stream
    /// keeps its checkpoint until its next interval.
    pub max_attempts: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_attempts: 6,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    pub kind: SinkKind,
    pub include_raw: bool,
    /// The rendering every event is written in (`native`, `ocsf`, `ecs`).
    pub format: Format,
}

impl SinkConfig {
    pub fn output(&self) -> Output {
        Output {
            format: self.format,
            include_raw: self.include_raw,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    Stdout,
    File {
        path: PathBuf,
    },
    /// RFC 5424 over TCP (`sink::syslog`).
    Syslog(SyslogConfig),
    /// Kafka (`sink::kafka`).
    Kafka(KafkaConfig),
}

/// `kind = "syslog"`: where the server is and what the RFC 5424 header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogConfig {
    /// `host:port`, resolved at each connect (a server moved in DNS is followed).
    pub address: String,
    pub tls: Option<SyslogTls>,
    /// APP-NAME: 1 to 48 printable ASCII characters.
    pub app_name: String,
    /// HOSTNAME; `None`: the machine's name, read when the sink opens.
    pub hostname: Option<String>,
    /// The facility code (0 to 23) of every message's PRI.
    pub facility: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogTls {
    /// The name the server's certificate must hold: `server_name`, else the address's host.
    pub server_name: String,
    /// `ca_file`: CA certificates (PEM) trusted besides the web PKI roots, checked at load.
    pub extra_ca_pem: Option<Vec<u8>>,
}

/// The Kafka sink's settings (`[sink] kind = "kafka"` and `[sink.kafka]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `host:port` of the bootstrap brokers, as written.
    pub brokers: Vec<String>,
    pub topic: String,
    /// How long the brokers have to acknowledge an event before its batch fails (and is sent
    /// again at the stream's next poll).
    pub delivery_timeout: Duration,
    /// librdkafka properties from `[sink.kafka]`, over the sink's own defaults.
    pub properties: std::collections::BTreeMap<String, KafkaValue>,
}

/// A `[sink.kafka]` value: secrets (`sasl.password`, `ssl.key.pem`, ...) stay wrapped until
/// they are handed to librdkafka.
#[derive(Debug, Clone)]
pub enum KafkaValue {
    Plain(String),
    Secret(SecretString),
}

impl KafkaValue {
    /// The value as librdkafka takes it.
    pub fn expose(&self) -> &str {
        use secrecy::ExposeSecret;
        match self {
            KafkaValue::Plain(s) => s,
            KafkaValue::Secret(s) => s.expose_secret(),
        }
    }
}

/// Compared on a reload (a changed password is a changed sink), never printed.
impl PartialEq for KafkaValue {
    fn eq(&self, other: &Self) -> bool {
        matches!(
            (self, other),
            (KafkaValue::Plain(_), KafkaValue::Plain(_))
                | (KafkaValue::Secret(_), KafkaValue::Secret(_))
        ) && self.expose() == other.expose()
    }
}

impl Eq for KafkaValue {}

/// The topic events go to when `sink.topic` is not set.
pub const DEFAULT_KAFKA_TOPIC: &str = "mimecast";
/// `sink.delivery_timeout` when not set.
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct TenantConfig {
    pub name: String,
    /// The region as configured (`None` when only `base_url` was given).
    pub region: Option<String>,
    /// Where requests go: the region's host, or the configured `base_url`.
    pub base_url: url::Url,
    pub credentials: Credentials,
    pub requests_per_minute: NonZeroU32,
    pub streams: Vec<StreamConfig>,
}

impl TenantConfig {
    pub fn api(&self) -> ApiVersion {
        match self.credentials {
            Credentials::V1(_) => ApiVersion::V1,
            Credentials::V2(_) => ApiVersion::V2,
        }
    }
}

/// A tenant's keys. Every secret is a `SecretString`: `Debug` prints `[REDACTED]`.
#[derive(Debug, Clone)]
pub enum Credentials {
    V1(V1Credentials),
    V2(V2Credentials),
}

#[derive(Debug, Clone)]
pub struct V1Credentials {
    pub app_id: String,
    pub app_key: SecretString,
    pub access_key: SecretString,
    /// Base64 text as issued by Mimecast; decoded only when signing.
    pub secret_key: SecretString,
}

#[derive(Debug, Clone)]
pub struct V2Credentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamConfig {
    pub kind: StreamKind,
    pub poll_interval: Duration,
    pub page_size: u32,
    /// `siem_cg` / `siem_ci` event types; empty for other streams.
    pub types: Vec<String>,
    /// `threat_intel` feed types; empty for other streams.
    pub feed_types: Vec<String>,
    /// `directory` domains; empty means "all internal domains".
    pub domains: Vec<String>,
}

impl StreamConfig {
    /// The parts a stream is read in, each with its own checkpoint: one per SIEM event type or
    /// threat-intel feed, else one unnamed part.
    pub fn parts(&self) -> Vec<String> {
        if self.kind.siem_types().is_some() {
            self.types.clone()
        } else if self.kind == StreamKind::ThreatIntel {
            self.feed_types.clone()
        } else {
            vec![String::new()]
        }
    }
}

/// One problem with the configuration, tied to the key that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot load configuration from {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("invalid configuration in {path}:\n{}", list(.errors))]
    Invalid {
        path: PathBuf,
        errors: Vec<KeyError>,
    },
}

fn list(errors: &[KeyError]) -> String {
    errors
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    pub fn key_errors(&self) -> &[KeyError] {
        match self {
            ConfigError::Invalid { errors, .. } => errors,
            ConfigError::Load { .. } => &[],
        }
    }
}

/// Loads and validates the config file, with overrides from `env` (usually the process
/// environment: `std::env::vars().collect()`).
pub fn load(path: &Path, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
    load_with(path, env, Secrets::Resolve)
}

/// [`load`], choosing whether secrets are read (see [`Secrets`]).
pub fn load_with(
    path: &Path,
    env: &HashMap<String, String>,
    secrets: Secrets,
) -> Result<Config, ConfigError> {
    // The config crate calls every unreadable file "not found"; say what it is.
    if let Err(e) = std::fs::File::open(path) {
        let reason = match e.kind() {
            std::io::ErrorKind::PermissionDenied => format!(
                "permission denied: this user (uid {}) cannot read it; make it readable to the service's group (e.g. chgrp mimecast-collector and chmod 0640, with the directory g+x)",
                current_uid()
            ),
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        };
        return Err(ConfigError::Load {
            path: path.to_path_buf(),
            reason,
        });
    }
    let merged = config::Config::builder()
        .add_source(
            config::File::from(path)
                .format(config::FileFormat::Toml)
                .required(true),
        )
        .add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env.clone().into_iter().collect())),
        )
        .build()
        .map_err(|e| ConfigError::Load {
            path: path.to_path_buf(),
            reason: redact_secrets(
                &e.to_string(),
                std::fs::read_to_string(path).ok().as_deref(),
            ),
        })?;
    let mut tree: serde_json::Value = merged.try_deserialize().map_err(|e| ConfigError::Load {
        path: path.to_path_buf(),
        reason: redact_secrets(&e.to_string(), None),
    })?;
    let from_env = env_keys(env);
    let invalid = |mut errors: Vec<KeyError>| {
        for e in &mut errors {
            if let Some(var) = from_env.get(&e.path) {
                e.message = format!("{} (set by the environment variable {var})", e.message);
            }
        }
        ConfigError::Invalid {
            path: path.to_path_buf(),
            errors,
        }
    };
    // serde stops at the first mistake. Each one it finds is recorded and its key taken out of
    // the tree, and the rest read again, so every unknown key and wrong type is reported at
    // once, with the validation errors of everything else.
    let mut errors = Vec::new();
    let raw = loop {
        match serde_path_to_error::deserialize::<_, raw::RawConfig>(tree.clone()) {
            Ok(raw) => break Some(raw),
            Err(e) => {
                let key = e.path().to_string();
                let removable = key != "." && errors.len() < 100 && remove_key(&mut tree, e.path());
                let message = if is_secret_key(&key) {
                    // serde quotes the value it could not take ("integer `1234`").
                    "wrong type: expected a string (the value is not shown: this key holds a secret)"
                        .to_string()
                } else {
                    redact_secrets(&shorten_serde_message(&e.into_inner().to_string()), None)
                };
                errors.push(KeyError {
                    path: if key == "." {
                        "(top level)".into()
                    } else {
                        key
                    },
                    message,
                });
                if !removable {
                    break None;
                }
            }
        }
    };
    let Some(raw) = raw else {
        return Err(invalid(errors));
    };
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let lookup = |var: &str| env.get(var).cloned();
    match validate::validate(raw, base_dir, &lookup, secrets) {
        Ok(config) if errors.is_empty() => Ok(config),
        Ok(_) => Err(invalid(errors)),
        Err(more) => {
            // A key taken out for its type is not also "required".
            let reported: Vec<String> = errors.iter().map(|e| e.path.clone()).collect();
            errors.extend(more.into_iter().filter(|e| !reported.contains(&e.path)));
            Err(invalid(errors))
        }
    }
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The config keys that environment variables set, as error paths name them
/// (`collector.poll_interval`), with the variable's name.
fn env_keys(env: &HashMap<String, String>) -> HashMap<String, String> {
    let prefix = format!("{ENV_PREFIX}__");
    env.keys()
        .filter_map(|var| {
            let rest = var.strip_prefix(&prefix)?;
            let key = rest
                .split("__")
                .collect::<Vec<_>>()
                .join(".")
                .to_ascii_lowercase();
            Some((key, var.clone()))
        })
        .collect()
}

/// Removes the key at `path` from `tree`; false when there is nothing to remove.
fn remove_key(tree: &mut serde_json::Value, path: &serde_path_to_error::Path) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node = tree;
    for seg in parents {
        node = match (seg, node) {
            (Segment::Map { key }, serde_json::Value::Object(m)) => match m.get_mut(key) {
                Some(n) => n,
                None => return false,
            },
            (Segment::Seq { index }, serde_json::Value::Array(a)) => match a.get_mut(*index) {
                Some(n) => n,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, node) {
        (Segment::Map { key }, serde_json::Value::Object(m)) => m.remove(key).is_some(),
        _ => false,
    }
}

/// serde says "unknown field `x`, expected one of `a`, `b`": keep it, but say "key".
/// Whether a config key (or the last part of a key path) names a secret: the tenants' secret
/// keys, and anything named like one, so a mistyped or future secret key is hidden as well.
fn is_secret_key(path: &str) -> bool {
    let key = path
        .rsplit(['.', '['])
        .next()
        .unwrap_or(path)
        .trim_matches(|c| c == '"' || c == '\'' || c == ']')
        .to_ascii_lowercase();
    if key.ends_with("_file") {
        return false; // a path to a secret, not the secret
    }
    ["secret", "password", "passwd", "token", "credential"]
        .iter()
        .any(|w| key.contains(w))
        || key.ends_with("_key")
        || key == "key"
        // A PEM written inline in [sink.kafka] ("ssl.key.pem"): certificates are public, but
        // the private key is not, and hiding both costs nothing.
        || key == "pem"
}

/// Hides the value of every `secret_key = value` in `text`: the TOML parser quotes the
/// offending source line in its errors (a syntax error on a secret's line, a duplicate key),
/// and those errors are printed at start and logged on a reload. A quoted line that continues
/// a secret's value begun on an earlier line (a multi-line string, an array over lines) is
/// hidden whole; `source`, the file, tells which lines those are.
fn redact_secrets(text: &str, source: Option<&str>) -> String {
    let continued = source.map(secret_value_lines).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        // The parser quotes a source line as `NN | text`.
        let quoted = line
            .split_once(" | ")
            .and_then(|(number, text)| Some((number, number.trim().parse().ok()?, text)));
        match quoted {
            Some((number, n, _)) if continued.contains_key(&n) => out.push_str(&format!(
                "{number} | [redacted: part of the value of {}]",
                continued[&n]
            )),
            Some((number, _, text)) => {
                out.push_str(&format!("{number} | {}", redact_source_line(text)))
            }
            None => out.push_str(&redact_line(line)),
        }
    }
    out
}

/// A quoted source line with a secret's value hidden: after its `=`, or after the key alone
/// when the `=` is missing or mistyped (`client_secret: "..."`, which the parser refuses).
fn redact_source_line(text: &str) -> String {
    let redacted = redact_line(text);
    if redacted != text {
        return redacted;
    }
    let trimmed = text.trim_start();
    let key_end = match trimmed.chars().next() {
        Some(q @ ('"' | '\'')) => trimmed[1..].find(q).map_or(trimmed.len(), |i| i + 2),
        _ => trimmed
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .unwrap_or(trimmed.len()),
    };
    let key = &trimmed[..key_end];
    if key.is_empty() || !is_secret_key(key) {
        return text.to_string();
    }
    let end = text.len() - trimmed.len() + key_end;
    format!("{} [redacted]", &text[..end])
}

/// The lines (numbered from 1) that start inside the value of a secret key begun on an earlier
/// line, with that key. A tolerant scan: the file is one the TOML parser refused.
fn secret_value_lines(source: &str) -> HashMap<usize, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Str {
        Basic,
        Literal,
        MultiBasic,
        MultiLiteral,
    }
    let mut lines = HashMap::new();
    let mut line = 1;
    let mut string: Option<Str> = None;
    // Arrays and inline tables open on the way (`true` for a table), each with the secret key
    // its value belongs to.
    let mut open: Vec<(bool, Option<String>)> = Vec::new();
    let mut key = String::new();
    let mut reading_key = true;
    // The secret key whose value is being read, if any.
    let mut owner: Option<String> = None;
    let chars: Vec<char> = source.chars().collect();
    let triple = |i: usize, q: char| {
        chars
            .get(i..i + 3)
            .is_some_and(|s| s.iter().all(|&c| c == q))
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match (string, c) {
            (_, '\n') => {
                if matches!(string, Some(Str::Basic | Str::Literal)) {
                    string = None; // unterminated: the parser stops here
                }
                if open.is_empty() && string.is_none() {
                    reading_key = true;
                    key.clear();
                    owner = None;
                }
                line += 1;
                if string.is_some() || !open.is_empty() {
                    if let Some(k) = &owner {
                        lines.insert(line, k.clone());
                    }
                }
            }
            // An escape; a line-ending backslash still ends the line.
            (Some(Str::Basic | Str::MultiBasic), '\\') if chars.get(i) != Some(&'\n') => i += 1,
            (Some(Str::Basic), '"') | (Some(Str::Literal), '\'') => string = None,
            (Some(Str::MultiBasic), '"') if triple(i - 1, '"') => {
                string = None;
                i += 2;
            }
            (Some(Str::MultiLiteral), '\'') if triple(i - 1, '\'') => {
                string = None;
                i += 2;
            }
            (Some(_), _) => {}
            (None, '#') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            (None, '"' | '\'') if reading_key => {
                // A quoted key.
                while i < chars.len() && chars[i] != c && chars[i] != '\n' {
                    key.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            (None, '"') if triple(i - 1, '"') => {
                string = Some(Str::MultiBasic);
                i += 2;
            }
            (None, '\'') if triple(i - 1, '\'') => {
                string = Some(Str::MultiLiteral);
                i += 2;
            }
            (None, '"') => string = Some(Str::Basic),
            (None, '\'') => string = Some(Str::Literal),
            (None, '=') if reading_key => {
                let name = key.trim();
                if is_secret_key(name) {
                    owner = Some(name.to_string());
                }
                reading_key = false;
                key.clear();
            }
            (None, '[') if reading_key && open.is_empty() => {
                // A table header.
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            (None, '[' | '{') => {
                open.push((c == '{', owner.clone()));
                reading_key = c == '{';
            }
            (None, ']' | '}') => {
                open.pop();
                owner = open.last().and_then(|(_, o)| o.clone());
                reading_key = false;
            }
            (None, ',') if open.last().is_some_and(|(table, _)| *table) => {
                reading_key = true;
                owner = open.last().and_then(|(_, o)| o.clone());
            }
            (None, _) if reading_key => key.push(c),
            (None, _) => {}
        }
    }
    lines
}

fn redact_line(line: &str) -> String {
    let mut search = 0;
    while let Some(eq) = line[search..].find('=').map(|i| i + search) {
        let before = line[..eq].trim_end();
        let key_start = before
            .rfind(|c: char| {
                !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | '\''))
            })
            .map_or(0, |i| i + 1);
        let key = &before[key_start..];
        if !key.is_empty() && is_secret_key(key) {
            return format!("{} [redacted]", &line[..=eq]);
        }
        search = eq + 1;
    }
    line.to_string()
}

fn shorten_serde_message(msg: &str) -> String {
    msg.replace("unknown field", "unknown key")
        .replace("invalid type:", "wrong type:")
}

/// The config path from `--config`, else `$MIMECAST_COLLECTOR_CONFIG`, else the default.
pub fn resolve_path(cli: Option<&Path>, env: &HashMap<String, String>) -> PathBuf {
    cli.map(Path::to_path_buf)
        .or_else(|| env.get(CONFIG_PATH_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

#[cfg(test)]
mod tests;
