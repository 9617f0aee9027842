//! `demo`: the daemon against the built-in simulator, events to stdout. Only with the `sim`
//! feature (on by default), like the simulator itself.

use super::run::run;
use super::EXIT_FAILURE;
use crate::config::{
    self, Config, Credentials, SinkConfig, SinkKind, StreamConfig, StreamKind, TenantConfig,
};
use crate::daemon::RunOptions;
use crate::render::Format;
use mimecast_sim::{SimConfig, SimTenant, Simulator};
use secrecy::SecretString;
use std::num::NonZeroU32;
use std::time::Duration;

fn stream(kind: StreamKind, types: &[&str]) -> StreamConfig {
    StreamConfig {
        kind,
        poll_interval: Duration::from_secs(10),
        page_size: 100,
        types: types.iter().map(|s| s.to_string()).collect(),
        feed_types: if kind == StreamKind::ThreatIntel {
            vec!["malware_customer".into()]
        } else {
            vec![]
        },
        domains: vec![],
    }
}

/// The demo: the simulator on a free loopback port, the collector against it with a temporary
/// state database, events to stdout.
pub async fn demo(events: Option<u64>, format: Format) -> u8 {
    let demo = SimTenant::demo();
    let sim_config = SimConfig {
        tenants: vec![demo.clone()],
        records_per_stream: 200,
        // The backlog ends a little in the past, so the collector sees all of it at once.
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(1)),
        ..SimConfig::default()
    };
    let sim =
        match Simulator::bind(sim_config, "127.0.0.1:0".parse().expect("loopback address")).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot start the simulator: {e}");
                return EXIT_FAILURE;
            }
        };
    let dir = match tempfile_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot create a temporary directory: {e}");
            return EXIT_FAILURE;
        }
    };
    let base_url = match url::Url::parse(&sim.base_url()) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: simulator address: {e}");
            return EXIT_FAILURE;
        }
    };
    let rpm = NonZeroU32::new(config::DEFAULT_REQUESTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
    let mut tenants = Vec::new();
    if let Some(v2) = &demo.v2 {
        tenants.push(TenantConfig {
            name: "demo".into(),
            region: None,
            base_url: base_url.clone(),
            credentials: Credentials::V2(config::V2Credentials {
                client_id: v2.client_id.clone(),
                client_secret: SecretString::from(v2.client_secret.clone()),
            }),
            requests_per_minute: rpm,
            streams: vec![
                stream(StreamKind::TtpUrl, &[]),
                stream(StreamKind::TtpAttachment, &[]),
                stream(StreamKind::TtpImpersonation, &[]),
                stream(
                    StreamKind::SiemCg,
                    &["receipt", "url protect", "attachment protect"],
                ),
                stream(StreamKind::Audit, &[]),
                stream(StreamKind::Dashboard, &[]),
                stream(StreamKind::Threats, &[]),
                stream(StreamKind::Dlp, &[]),
                stream(StreamKind::ReportedEmails, &[]),
                stream(StreamKind::SiemCi, &["entities"]),
            ],
        });
    }
    if let Some(v1) = &demo.v1 {
        tenants.push(TenantConfig {
            name: "demo-legacy".into(),
            region: None,
            base_url,
            credentials: Credentials::V1(config::V1Credentials {
                app_id: v1.app_id.clone(),
                app_key: SecretString::from(v1.app_key.clone()),
                access_key: SecretString::from(v1.access_key.clone()),
                secret_key: SecretString::from(v1.secret_key.clone()),
            }),
            requests_per_minute: rpm,
            streams: vec![
                stream(StreamKind::SiemMta, &[]),
                stream(StreamKind::ArchiveSearch, &[]),
                stream(StreamKind::MessageRelease, &[]),
            ],
        });
    }
    let config = Config {
        collector: config::CollectorConfig {
            state_path: dir.join("state.db"),
            file_group: None,
            poll_interval: Duration::from_secs(10),
            initial_lookback: Duration::from_secs(24 * 3600),
            max_lag: Duration::from_secs(300),
        },
        http: config::HttpConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            retry: config::RetryConfig::default(),
            requests_per_minute: rpm,
            siem_listing_budget: None,
            file_downloads: config::DEFAULT_FILE_DOWNLOADS,
            extra_ca_pem: None,
        },
        sink: SinkConfig {
            kind: SinkKind::Stdout,
            include_raw: true,
            format,
        },
        tenants,
        metrics: config::MetricsConfig::default(),
        shard: None,
    };
    eprintln!(
        "demo: simulator on {}; collecting to stdout{}",
        sim.base_url(),
        match events {
            Some(n) => format!(" until {n} events"),
            None => "; Ctrl-C to stop".into(),
        }
    );
    let code = run(
        config,
        RunOptions {
            max_events: events,
            ..RunOptions::default()
        },
        None,
        None,
    )
    .await;
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    code
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "mimecast-collector-demo-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
