//! The daemon: one task per tenant x stream, each polling on its interval, all feeding one
//! writer.
//!
//! `run(config, options, shutdown)` takes its stop signal as an argument (as mini-redis does), so
//! tests start and stop the real thing. On shutdown every stream finishes or abandons the page
//! in flight (only complete, written pages are committed), the writer drains, and `run`
//! returns. One failing tenant or stream never stops the others.

mod notify;
mod task;

use crate::api::limiter::TenantLimiter;
use crate::api::{HttpSettings, MimecastClient};
use crate::config::{Config, StreamKind};
use crate::sink::writer;
use crate::sink::{Sink, SinkError};
use crate::state::{State, StateError};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot open the state database: {0}")]
    State(#[from] StateError),
    #[error("{0}")]
    Locked(#[from] crate::state::lock::LockError),
    #[error("cannot open the output: {0}")]
    Sink(#[from] SinkError),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    #[error("tenant {tenant}: {message}")]
    Tenant { tenant: String, message: String },
    #[error("cannot listen for metrics on {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Knobs for callers other than `run` from the command line (demo, tests).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Poll every stream once, then stop (tests, one-shot exports).
    pub once: bool,
    /// How long streams get to finish the page in flight after shutdown is requested
    /// (default 5 s); then they are stopped where they are.
    pub grace: Option<Duration>,
    /// Stdout sink only: stop after this many events (`demo --events N`).
    pub max_events: Option<u64>,
}

/// A running daemon's handles that outlive `run`'s setup: for SIGHUP.
#[derive(Clone)]
pub struct Control {
    /// Weak: a signal handler holding it must not keep the writer (and so `run`) alive.
    sink: writer::WeakSinkHandle,
}

impl Control {
    /// Reopens the output file (logrotate).
    pub async fn reopen_sink(&self) {
        let Some(sink) = self.sink.upgrade() else {
            tracing::info!("SIGHUP after the output closed; nothing to reopen");
            return;
        };
        match sink.reopen().await {
            Ok(()) => tracing::info!("output reopened"),
            Err(e) => tracing::error!(error = %e, "cannot reopen the output"),
        }
    }
}

/// Waits for every stream task. Tasks catch their own panics (see `task.rs`), so a join error
/// here is an abort at shutdown, or a bug worth an error line.
async fn drain(tasks: &mut JoinSet<()>) {
    while let Some(result) = tasks.join_next().await {
        if let Err(e) = result {
            if !e.is_cancelled() {
                tracing::error!(error = %e, "a stream task ended abnormally");
            }
        }
    }
}

/// Runs until `shutdown` is cancelled (or, with `once`, until every stream polled once).
pub async fn run(
    config: Config,
    options: RunOptions,
    shutdown: CancellationToken,
    on_start: impl FnOnce(Control),
) -> Result<(), DaemonError> {
    let state_path = config.collector.state_path.clone();
    // Held until `run` returns: one daemon per state database.
    let _lock = crate::state::lock::StateLock::acquire(&state_path)?;
    let sink_cfg = config.sink.clone();
    let max_events = options.max_events;
    let (state, sink) =
        tokio::task::spawn_blocking(move || -> Result<(State, Sink), DaemonError> {
            let mut state = State::open(&state_path)?;
            let mut sink = Sink::open(&sink_cfg, &mut state)?;
            if let (Sink::Stdout(s), Some(n)) = (&mut sink, max_events) {
                s.set_limit(n);
            }
            Ok((state, sink))
        })
        .await
        .map_err(|e| DaemonError::Http(format!("start-up task failed: {e}")))??;
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let (sink, writer) = writer::spawn(
        sink,
        state,
        16,
        Some(shutdown.clone()),
        Some(metrics.clone()),
    );
    on_start(Control {
        sink: sink.downgrade(),
    });

    let http = HttpSettings::from(&config.http)
        .build_http()
        .map_err(|e| DaemonError::Http(e.to_string()))?;
    let mut tasks = JoinSet::new();
    let stop = shutdown.child_token();
    let mut streams = 0;
    for tenant in &config.tenants {
        let limiter = Arc::new(TenantLimiter::new(tenant.requests_per_minute));
        let client = MimecastClient::with_limiter(tenant, http.clone(), config.http.retry, limiter)
            .map_err(|e| DaemonError::Tenant {
                tenant: tenant.name.clone(),
                message: e.to_string(),
            })?;
        metrics.register_client(&client);
        for stream in &tenant.streams {
            // siem_cg keeps one cursor per event type, threat_intel per feed type: one task each.
            let parts = match stream.kind {
                StreamKind::SiemCg => stream.types.clone(),
                StreamKind::ThreatIntel => stream.feed_types.clone(),
                _ => vec![String::new()],
            };
            for part in parts {
                let span = if part.is_empty() {
                    tracing::info_span!("stream", tenant = %tenant.name, stream = %stream.kind)
                } else {
                    tracing::info_span!("stream", tenant = %tenant.name, stream = %stream.kind, part = %part)
                };
                let task = task::StreamTask {
                    tenant: tenant.name.clone(),
                    part,
                    settings: stream.clone(),
                    client: client.clone(),
                    sink: sink.clone(),
                    collector: config.collector.clone(),
                    include_raw: config.sink.include_raw,
                    once: options.once,
                    metrics: metrics.clone(),
                };
                metrics.register_stream(&task.key());
                tasks.spawn(tracing::Instrument::instrument(
                    task.run(stop.clone()),
                    span,
                ));
                streams += 1;
            }
        }
    }
    if let Some(addr) = config.metrics.listen {
        let listener = crate::metrics::bind(addr)
            .await
            .map_err(|source| DaemonError::Metrics { addr, source })?;
        tracing::info!(%addr, "serving /metrics and /healthz");
        tokio::spawn(crate::metrics::serve(
            listener,
            metrics.clone(),
            stop.clone(),
        ));
    }
    let beat = tokio::spawn(notify::heartbeat(metrics.clone(), stop.clone()));
    notify::ready(&metrics);
    tracing::info!(tenants = config.tenants.len(), streams, "collector started");

    let grace = options.grace.unwrap_or(Duration::from_secs(5));
    tokio::select! {
        _ = drain(&mut tasks) => {}
        _ = shutdown.cancelled() => {
            tracing::info!("shutting down: finishing the pages in flight");
            notify::stopping();
            if tokio::time::timeout(grace, drain(&mut tasks)).await.is_err() {
                // Streams still waiting (a long 429 pause, a retry backoff, a slow request)
                // are stopped where they are: what they had not committed is read again later.
                tracing::warn!(grace_s = grace.as_secs(), streams = tasks.len(), "streams did not stop in time; their pages in flight are abandoned (not committed)");
                tasks.shutdown().await;
            }
        }
    }
    drop(sink);
    let joined = tokio::task::spawn_blocking(move || writer.join()).await;
    if !matches!(joined, Ok(Ok(_))) {
        tracing::error!("the output writer ended abnormally");
    }
    stop.cancel();
    let _ = beat.await;
    tracing::info!("collector stopped");
    Ok(())
}
