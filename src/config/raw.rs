//! The configuration exactly as the operator wrote it.
//!
//! Every table rejects unknown keys, so a typo (`clinet_secret`) fails at load instead of being
//! silently ignored. Nothing here is interpreted: values stay strings and options so that
//! `validate` can report every mistake at once, each with its key path.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub collector: RawCollector,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub sink: RawSink,
    #[serde(default)]
    pub tenant: Vec<RawTenant>,
    #[serde(default)]
    pub metrics: RawMetrics,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCollector {
    pub state_path: Option<PathBuf>,
    /// Group that may read the output and state files (made 0640 instead of 0600).
    pub file_group: Option<String>,
    pub poll_interval: Option<String>,
    pub initial_lookback: Option<String>,
    pub max_lag: Option<String>,
    /// `K/N`: collect only the tenants of shard K of N.
    pub shard: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub connect_timeout: Option<String>,
    pub request_timeout: Option<String>,
    pub retry_initial_delay: Option<String>,
    pub retry_max_delay: Option<String>,
    pub retry_max_attempts: Option<u32>,
    pub requests_per_minute: Option<u32>,
    pub file_downloads: Option<u32>,
    /// `"50/15m"` or `"none"`.
    pub siem_listing_budget: Option<String>,
    /// Extra CA certificates (PEM) to trust, e.g. a TLS-inspecting proxy's.
    pub ca_file: Option<PathBuf>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSink {
    pub kind: Option<String>,
    pub path: Option<PathBuf>,
    pub include_raw: Option<bool>,
    pub format: Option<String>,
    // kind = "syslog"
    pub address: Option<String>,
    pub tls: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub server_name: Option<String>,
    pub app_name: Option<String>,
    pub hostname: Option<String>,
    pub facility: Option<String>,
    /// `kind = "kafka"`: `host:port` of the bootstrap brokers.
    pub brokers: Option<Vec<String>>,
    pub topic: Option<String>,
    /// How long the brokers have to acknowledge a batch (librdkafka's `message.timeout.ms`).
    pub delivery_timeout: Option<String>,
    /// librdkafka properties as written: values are checked (and secrets resolved) by
    /// `validate`, so a number or a secret of the wrong type is reported by key, not shown.
    pub kafka: Option<BTreeMap<String, serde_json::Value>>,
}

/// `[sink.kafka]` may hold secrets (`sasl.password`): its keys are shown, never its values.
impl std::fmt::Debug for RawSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSink")
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("include_raw", &self.include_raw)
            .field("format", &self.format)
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("delivery_timeout", &self.delivery_timeout)
            .field("address", &self.address)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("server_name", &self.server_name)
            .field("app_name", &self.app_name)
            .field("hostname", &self.hostname)
            .field("facility", &self.facility)
            .field(
                "kafka",
                &self.kafka.as_ref().map(|m| m.keys().collect::<Vec<_>>()),
            )
            .finish()
    }
}

/// Secrets hold the raw text (possibly `${VAR}`) until validation resolves them into a
/// `SecretString`; the `Debug` impl below keeps even the raw form out of any output.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTenant {
    pub name: Option<String>,
    pub api: Option<String>,
    pub region: Option<String>,
    pub base_url: Option<String>,
    pub requests_per_minute: Option<u32>,
    pub streams: Option<Vec<String>>,
    #[serde(default)]
    pub stream: BTreeMap<String, RawStreamSettings>,
    // API 1.0
    pub app_id: Option<String>,
    pub app_key: Option<String>,
    pub app_key_file: Option<PathBuf>,
    pub access_key: Option<String>,
    pub access_key_file: Option<PathBuf>,
    pub secret_key: Option<String>,
    pub secret_key_file: Option<PathBuf>,
    // API 2.0
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_file: Option<PathBuf>,
}

impl std::fmt::Debug for RawTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawTenant")
            .field("name", &self.name)
            .field("api", &self.api)
            .field("region", &self.region)
            .field("base_url", &self.base_url)
            .field("streams", &self.streams)
            .field("app_id", &self.app_id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStreamSettings {
    pub poll_interval: Option<String>,
    pub page_size: Option<u32>,
    /// `siem_cg`: which SIEM event types to collect.
    pub types: Option<Vec<String>>,
    /// `threat_intel`: `malware_customer` and/or `malware_grid`.
    pub feed_types: Option<Vec<String>>,
    /// `directory`: internal domains to list; default: all from `get-internal-domain`.
    pub domains: Option<Vec<String>>,
}
