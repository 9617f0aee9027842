//! Which stream tasks run: started from a configuration, changed by difference on reload.
//!
//! Each task is keyed by tenant, stream and part, and carries a fingerprint of everything that
//! shapes it (the tenant's endpoint and credentials, hashed so no secret is kept in clear, the
//! stream's settings, the collector's). A reload stops tasks whose key is gone or whose
//! fingerprint changed, lets their page in flight finish, and starts the new ones.

use super::task::StreamTask;
use super::DaemonError;
use crate::api::limiter::TenantLimiter;
use crate::api::{HttpSettings, MimecastClient};
use crate::config::{Config, Credentials, TenantConfig};
use crate::metrics::Metrics;
use crate::sink::writer::SinkHandle;
use crate::state::StreamKey;
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

struct Running {
    fingerprint: u64,
    cancel: CancellationToken,
    /// The task's last poll error, if its last poll failed.
    handle: JoinHandle<Option<String>>,
}

pub struct Supervisor {
    sink: SinkHandle,
    metrics: Arc<Metrics>,
    once: bool,
    progress_every: Duration,
    http: reqwest::Client,
    /// One client (and so one limiter and one token) per tenant, kept while its fingerprint holds.
    clients: HashMap<String, (u64, MimecastClient)>,
    running: HashMap<StreamKey, Running>,
}

/// Hashes what defines a tenant's connection; secrets go into the hash, never into memory twice.
fn tenant_fingerprint(t: &TenantConfig, http: &crate::config::HttpConfig) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for part in [
        t.name.as_str(),
        t.base_url.as_str(),
        &t.requests_per_minute.to_string(),
        &format!("{:?}", http),
    ] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    match &t.credentials {
        Credentials::V1(c) => {
            for part in [
                c.app_id.as_str(),
                c.app_key.expose_secret(),
                c.access_key.expose_secret(),
                c.secret_key.expose_secret(),
            ] {
                h.update(part.as_bytes());
                h.update(&[0]);
            }
        }
        Credentials::V2(c) => {
            for part in [c.client_id.as_str(), c.client_secret.expose_secret()] {
                h.update(part.as_bytes());
                h.update(&[0]);
            }
        }
    }
    h.digest()
}

/// Between two streams' first polls (500 tenants x 4 streams start within 10 s).
const STAGGER: Duration = Duration::from_millis(5);

impl Supervisor {
    pub fn new(
        sink: SinkHandle,
        metrics: Arc<Metrics>,
        once: bool,
        progress_every: Duration,
        config: &Config,
    ) -> Result<Supervisor, DaemonError> {
        let http = HttpSettings::from(&config.http)
            .build_http()
            .map_err(|e| DaemonError::Http(e.to_string()))?;
        Ok(Supervisor {
            sink,
            metrics,
            once,
            progress_every,
            http,
            clients: HashMap::new(),
            running: HashMap::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Brings the running tasks in line with `config`.
    pub fn apply(&mut self, config: &Config, stop: &CancellationToken) {
        let mut wanted: HashMap<StreamKey, (u64, StreamTask)> = HashMap::new();
        let mut clients = HashMap::new();
        // Another shard's tenants are not started here, and stop here when a reload moves them.
        for tenant in config.owned_tenants() {
            let tfp = tenant_fingerprint(tenant, &config.http);
            let client = match self.clients.get(&tenant.name) {
                Some((fp, c)) if *fp == tfp => c.clone(),
                _ => {
                    let limiter = Arc::new(TenantLimiter::new(
                        tenant.requests_per_minute,
                        config.http.siem_listing_budget,
                    ));
                    match MimecastClient::with_limiter(
                        tenant,
                        self.http.clone(),
                        config.http.retry,
                        limiter,
                    ) {
                        Ok(c) => {
                            let c = c.with_file_downloads(config.http.file_downloads);
                            self.metrics.register_client(&c);
                            c
                        }
                        Err(e) => {
                            tracing::error!(tenant = %tenant.name, error = %e, "tenant not started");
                            continue;
                        }
                    }
                }
            };
            clients.insert(tenant.name.clone(), (tfp, client.clone()));
            for stream in &tenant.streams {
                let parts = stream.parts();
                for part in parts {
                    let task = StreamTask {
                        tenant: tenant.name.clone(),
                        part,
                        settings: stream.clone(),
                        client: client.clone(),
                        sink: self.sink.clone(),
                        collector: config.collector.clone(),
                        output: config.sink.output(),
                        once: self.once,
                        progress_every: self.progress_every,
                        metrics: self.metrics.clone(),
                    };
                    let fp = {
                        let mut h = xxhash_rust::xxh3::Xxh3::new();
                        h.update(&tfp.to_le_bytes());
                        h.update(
                            format!(
                                "{:?}{:?}{:?}",
                                stream,
                                config.collector,
                                config.sink.output()
                            )
                            .as_bytes(),
                        );
                        h.digest()
                    };
                    wanted.insert(task.key(), (fp, task));
                }
            }
        }
        for gone in self.clients.keys().filter(|t| !clients.contains_key(*t)) {
            self.metrics.forget_tenant(gone);
        }
        self.clients = clients;
        // Stop what is gone or changed; the changed ones restart below once stopped.
        let stale: Vec<StreamKey> = self
            .running
            .iter()
            .filter(|(k, r)| wanted.get(*k).is_none_or(|(fp, _)| *fp != r.fingerprint))
            .map(|(k, _)| k.clone())
            .collect();
        let mut stopping = Vec::new();
        for key in stale {
            if let Some(r) = self.running.remove(&key) {
                tracing::info!(tenant = %key.tenant, stream = %key.stream, part = %key.part, "stream stopping (configuration changed)");
                r.cancel.cancel();
                if !wanted.contains_key(&key) {
                    self.metrics.forget_stream(&key);
                }
                stopping.push((key, r.handle));
            }
        }
        let mut started = 0u32;
        for (key, (fp, task)) in wanted {
            if self.running.contains_key(&key) {
                continue;
            }
            // First polls are spread out (STAGGER apart, within the poll interval): hundreds of
            // streams starting in the same instant would hold all their first pages at once,
            // a memory peak glibc keeps for the life of the process, and a burst at Mimecast.
            // `--once` drains everything at once, as asked.
            let delay = if self.once {
                Duration::ZERO
            } else {
                (STAGGER * started).min(task.settings.poll_interval)
            };
            started = started.saturating_add(1);
            // A restarted stream waits for its old task to commit and stop first, so two tasks
            // never hold the same checkpoint.
            let previous = stopping
                .iter()
                .position(|(k, _)| *k == key)
                .map(|i| stopping.swap_remove(i).1);
            let cancel = stop.child_token();
            let span = if key.part.is_empty() {
                tracing::info_span!("stream", tenant = %key.tenant, stream = %key.stream)
            } else {
                tracing::info_span!("stream", tenant = %key.tenant, stream = %key.stream, part = %key.part)
            };
            self.metrics.register_stream(&key);
            let run_cancel = cancel.clone();
            let handle = tokio::spawn(tracing::Instrument::instrument(
                async move {
                    if let Some(old) = previous {
                        let _ = old.await;
                    }
                    tokio::select! {
                        _ = run_cancel.cancelled() => return None,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    task.run(run_cancel).await
                },
                span,
            ));
            self.running.insert(
                key,
                Running {
                    fingerprint: fp,
                    cancel,
                    handle,
                },
            );
        }
    }

    /// Resolves when every task has ended (once mode). The handles stay here, so `shutdown`
    /// still joins them (and reports a task that failed) whichever way the daemon stops.
    pub async fn all_done(&self) {
        while !self.running.values().all(|r| r.handle.is_finished()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Asks every task to stop after its page; after `grace`, stops the rest where they are.
    ///
    /// Returns the streams whose last poll failed, with the error.
    pub async fn shutdown(&mut self, grace: Duration) -> Vec<(StreamKey, String)> {
        let mut failed = Vec::new();
        for r in self.running.values() {
            r.cancel.cancel();
        }
        let running: Vec<_> = self.running.drain().collect();
        let keys: Vec<StreamKey> = running.iter().map(|(k, _)| k.clone()).collect();
        let aborts: Vec<_> = running
            .iter()
            .map(|(_, r)| r.handle.abort_handle())
            .collect();
        let all = futures_util::future::join_all(running.into_iter().map(|(_, r)| r.handle));
        match tokio::time::timeout(grace, all).await {
            Ok(results) => {
                for (key, r) in keys.into_iter().zip(results) {
                    match r {
                        Ok(Some(error)) => failed.push((key, error)),
                        Ok(None) => {}
                        Err(e) if e.is_cancelled() => {}
                        Err(e) => {
                            tracing::error!(error = %e, "a stream task ended abnormally");
                            failed.push((key, format!("the stream's task ended abnormally: {e}")));
                        }
                    }
                }
            }
            Err(_) => {
                tracing::warn!(grace_s = grace.as_secs(), "streams did not stop in time; their pages in flight are abandoned (not committed)");
                for a in aborts {
                    a.abort();
                }
            }
        }
        failed
    }
}
