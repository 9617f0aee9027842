//! `check`: authenticate every tenant and probe every enabled stream, one verdict per line,
//! with what to do when something fails. Exit 0 only when everything passes.

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::api::{ApiError, HttpSettings, MimecastClient};
use crate::config::{Config, RetryConfig};
use crate::streams::probe::probe;
use crate::streams::StreamError;
use serde_json::json;
use std::time::{Duration, Instant};

struct Verdict {
    tenant: String,
    stream: String,
    ok: bool,
    latency: Duration,
    message: String,
}

/// A probe gets one quick retry for a passing glitch, not the daemon's patience.
const CHECK_RETRY: RetryConfig = RetryConfig {
    initial_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(2),
    max_attempts: 2,
};

fn explain(e: &StreamError) -> String {
    match e {
        StreamError::Api(ApiError::Connect(detail)) => format!(
            "cannot connect: {detail} (check DNS, proxy and firewall, and that this host's egress IP is allowed in Mimecast's Administration > Services > API and Platform Integrations)"
        ),
        other => other.to_string(),
    }
}

/// How long `check` waits for the Kafka brokers to describe the topic.
#[cfg(feature = "kafka")]
const BROKER_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The output, when it is a server: the Kafka brokers are asked for the topic's metadata (reached,
/// authenticated, topic known). One verdict, tenant "(sink)".
async fn probe_sink(config: &Config) -> Option<Verdict> {
    #[cfg(feature = "kafka")]
    if let crate::config::SinkKind::Kafka(k) = &config.sink.kind {
        let k = k.clone();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            crate::sink::kafka::probe(&k, BROKER_PROBE_TIMEOUT)
        })
        .await
        .unwrap_or_else(|e| Err(format!("the probe failed: {e}")));
        let latency = started.elapsed();
        let brokers = match &config.sink.kind {
            crate::config::SinkKind::Kafka(k) => k.brokers.join(","),
            _ => String::new(),
        };
        let (ok, message) = match result {
            Ok(partitions) => (
                true,
                format!("ok ({partitions} partitions, {} ms)", latency.as_millis()),
            ),
            Err(e) => (
                false,
                format!(
                    "kafka brokers {brokers}: {e} (check sink.brokers, that this host reaches them, the [sink.kafka] security settings, and that the topic exists or the brokers create topics)"
                ),
            ),
        };
        return Some(Verdict {
            tenant: "(sink)".into(),
            stream: "kafka".into(),
            ok,
            latency,
            message,
        });
    }
    let _ = config;
    None
}

pub async fn run(config: &Config, only_tenant: Option<&str>, as_json: bool) -> u8 {
    if let (Some(name), Some(shard)) = (only_tenant, config.shard) {
        if !config.owns(name) && config.tenants.iter().any(|t| t.name == name) {
            let owner = crate::config::shard::owner(name, shard.count());
            eprintln!(
                "error: tenant {name:?} is collected by shard {owner}/{n}, not by this one ({shard}): check it with --shard {owner}/{n}",
                n = shard.count()
            );
            return EXIT_USAGE;
        }
    }
    let tenants: Vec<_> = config
        .owned_tenants()
        .filter(|t| only_tenant.is_none_or(|n| n == t.name))
        .collect();
    if tenants.is_empty() && only_tenant.is_some() {
        eprintln!(
            "error: no tenant {:?} in the configuration",
            only_tenant.unwrap_or("")
        );
        return EXIT_USAGE;
    }
    let settings = HttpSettings {
        connect_timeout: config.http.connect_timeout,
        request_timeout: config.http.request_timeout.min(Duration::from_secs(60)),
        retry: CHECK_RETRY,
        extra_ca_pem: config.http.extra_ca_pem.clone(),
    };
    let http = match settings.build_http() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: cannot build the HTTP client: {e}");
            return EXIT_FAILURE;
        }
    };
    let mut verdicts = Vec::new();
    for tenant in tenants {
        let client = match MimecastClient::new(tenant, http.clone(), CHECK_RETRY) {
            Ok(c) => c,
            Err(e) => {
                verdicts.push(Verdict {
                    tenant: tenant.name.clone(),
                    stream: "-".into(),
                    ok: false,
                    latency: Duration::ZERO,
                    message: e.to_string(),
                });
                continue;
            }
        };
        // Probe streams in turn: a tenant with bad credentials fails all its streams the same way.
        for stream in &tenant.streams {
            let started = Instant::now();
            let result = probe(&client, stream).await;
            let latency = started.elapsed();
            let (ok, message) = match result {
                Ok(()) => (true, format!("ok ({} ms)", latency.as_millis())),
                Err(e) => (false, explain(&e)),
            };
            verdicts.push(Verdict {
                tenant: tenant.name.clone(),
                stream: stream.kind.name().into(),
                ok,
                latency,
                message,
            });
        }
    }
    if let crate::config::SinkKind::Syslog(cfg) = &config.sink.kind {
        verdicts.push(probe_syslog(cfg.clone()).await);
    }
    if let Some(v) = probe_sink(config).await {
        verdicts.push(v);
    }
    let failed = verdicts.iter().filter(|v| !v.ok).count();
    if as_json {
        let list: Vec<_> = verdicts
            .iter()
            .map(|v| json!({"tenant": v.tenant, "stream": v.stream, "ok": v.ok, "latency_ms": v.latency.as_millis() as u64, "message": v.message}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"ok": failed == 0, "shard": super::shard_json(config), "checks": list})
            )
            .unwrap_or_default()
        );
    } else {
        if let Some(line) = super::shard_line(config) {
            println!("{line}");
        }
        for v in &verdicts {
            println!(
                "{:<16} {:<20} {:<6} {}",
                v.tenant,
                v.stream,
                if v.ok { "ok" } else { "FAILED" },
                if v.ok {
                    format!("{} ms", v.latency.as_millis())
                } else {
                    v.message.clone()
                }
            );
        }
        println!("\n{} check(s), {} failed", verdicts.len(), failed);
    }
    if failed == 0 {
        EXIT_OK
    } else {
        EXIT_FAILURE
    }
}

/// The syslog server: connected to (and the TLS handshake done) as the sink will, so that a
/// firewall, a wrong port or a certificate the collector does not trust shows before `run`.
async fn probe_syslog(cfg: crate::config::SyslogConfig) -> Verdict {
    let started = Instant::now();
    let address = cfg.address.clone();
    let tls = cfg.tls.is_some();
    let result = tokio::task::spawn_blocking(move || crate::sink::syslog::probe(&cfg))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let latency = started.elapsed();
    let (ok, message) = match result {
        Ok(()) => (true, format!("ok ({} ms)", latency.as_millis())),
        Err(e) if tls && e.contains("TLS") => (false, format!("{e} (check [sink] server_name against the server's certificate, and ca_file if the server's CA is a private one)")),
        Err(e) => (false, format!("{e} (check [sink] address, that the server listens on TCP there, and the firewall between)")),
    };
    Verdict {
        tenant: "[sink]".into(),
        stream: format!("syslog {address}"),
        ok,
        latency,
        message,
    }
}
