//! The daemon: one task per tenant x stream, each polling on its interval, all feeding one
//! writer.
//!
//! `run(config, options, shutdown)` takes its stop signal as an argument (as mini-redis does), so
//! tests start and stop the real thing. On shutdown every stream finishes or abandons the page
//! in flight (only complete, written pages are committed), the writer drains, and `run`
//! returns. One failing tenant or stream never stops the others.
//!
//! A new configuration (SIGHUP) is applied by difference: streams that are gone stop after
//! their page, new ones start, changed ones restart, untouched ones keep running. Checkpoints
//! live in the state database, so nothing is lost across any of this.

mod notify;
mod supervisor;
mod task;

use crate::config::Config;
use crate::sink::writer;
use crate::sink::{Sink, SinkError};
use crate::state::{State, StateError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot open the state database: {0}")]
    State(#[from] StateError),
    #[error("{0}")]
    Locked(#[from] crate::state::lock::LockError),
    #[error("cannot open the output: {0}")]
    Sink(#[from] SinkError),
    /// Running, then stopped by an error no retry can fix.
    #[error("{0}")]
    Stopped(String),
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
    /// A simulated crash of the commit path (tests only; see `sink::writer::CrashPlan`).
    #[doc(hidden)]
    pub crash: Option<writer::CrashPlan>,
    /// How often a long poll logs "backlog draining" (default [`PROGRESS_EVERY`]; tests only).
    #[doc(hidden)]
    pub progress_every: Option<Duration>,
}

/// At most one progress line per stream this often while a backlog drains.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// A running daemon's handles for signal handlers: reopen the output, apply a new config.
#[derive(Clone)]
pub struct Control {
    /// Weak: a signal handler holding it must not keep the writer (and so `run`) alive.
    sink: writer::WeakSinkHandle,
    reload: mpsc::Sender<Config>,
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

    /// Hands a new, already validated configuration to the daemon.
    pub async fn reload(&self, config: Config) {
        if self.reload.send(config).await.is_err() {
            tracing::info!("configuration reload after shutdown; ignored");
        }
    }
}

/// Runs until `shutdown` is cancelled (or, with `once`, until every stream polled once).
pub async fn run(
    config: Config,
    options: RunOptions,
    shutdown: CancellationToken,
    on_start: impl FnOnce(Control),
) -> Result<Summary, DaemonError> {
    let state_path = config.collector.state_path.clone();
    // Held until `run` returns: one daemon per state database.
    let _lock = crate::state::lock::StateLock::acquire(&state_path)?;
    let sink_cfg = config.sink.clone();
    let max_events = options.max_events;
    let group = config.collector.file_group;
    let (state, sink) =
        tokio::task::spawn_blocking(move || -> Result<(State, Sink), DaemonError> {
            let mut state = State::open(&state_path)?;
            let mut sink = Sink::open(&sink_cfg, &mut state)?;
            if let (Sink::Stdout(s), Some(n)) = (&mut sink, max_events) {
                s.set_limit(n);
            }
            if group.is_some() {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = state_path.as_os_str().to_owned();
                    p.push(suffix);
                    crate::state::share_with_group(std::path::Path::new(&p), group).map_err(
                        |source| StateError::Create {
                            path: state_path.clone(),
                            source,
                        },
                    )?;
                }
            }
            if let (Sink::File(f), Some(gid)) = (&mut sink, group) {
                f.set_group(gid)?;
            }
            // The group must be able to enter the directories too.
            let mut dirs = vec![state_path.parent().map(std::path::Path::to_path_buf)];
            if let crate::config::SinkKind::File { path } = &sink_cfg.kind {
                dirs.push(path.parent().map(std::path::Path::to_path_buf));
            }
            for dir in dirs
                .into_iter()
                .flatten()
                .filter(|d| !d.as_os_str().is_empty())
            {
                crate::state::share_dir_with_group(&dir, group).map_err(|source| {
                    StateError::Create {
                        path: dir.clone(),
                        source,
                    }
                })?;
            }
            Ok((state, sink))
        })
        .await
        .map_err(|e| DaemonError::Http(format!("start-up task failed: {e}")))??;
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let (sink, writer) = writer::spawn_with(
        sink,
        state,
        16,
        Some(shutdown.clone()),
        Some(metrics.clone()),
        options.crash,
    );
    let (reload_tx, mut reload_rx) = mpsc::channel::<Config>(4);
    on_start(Control {
        sink: sink.downgrade(),
        reload: reload_tx,
    });

    let stop = shutdown.child_token();
    let mut streams = supervisor::Supervisor::new(
        sink,
        metrics.clone(),
        options.once,
        options.progress_every.unwrap_or(PROGRESS_EVERY),
        &config,
    )?;
    streams.apply(&config, &stop);
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
    log_shard(&config);
    tracing::info!(
        tenants = config.owned_tenants().count(),
        streams = streams.len(),
        "collector started"
    );

    let grace = options.grace.unwrap_or(Duration::from_secs(5));
    let mut current = config;
    loop {
        tokio::select! {
            _ = streams.all_done(), if options.once => break,
            Some(mut next) = reload_rx.recv() => {
                if next.sink != current.sink || next.collector.state_path != current.collector.state_path || next.metrics != current.metrics {
                    tracing::warn!("sink, state_path and metrics changes take effect at the next restart; the rest of the new configuration is applied");
                }
                // The open sink, state and metrics stay as started, and so does the rendering:
                // one output holds one format, whatever a reload says until the restart.
                next.sink = current.sink.clone();
                next.collector.state_path = current.collector.state_path.clone();
                next.metrics = current.metrics.clone();
                notify::reloading();
                streams.apply(&next, &stop);
                log_shard(&next);
                tracing::info!(tenants = next.owned_tenants().count(), streams = streams.len(), "configuration reloaded");
                notify::ready(&metrics);
                current = next;
            }
            _ = shutdown.cancelled() => {
                tracing::info!("shutting down: finishing the pages in flight");
                notify::stopping();
                break;
            }
        }
    }
    let mut failed = streams.shutdown(grace).await;
    failed.sort();
    // The writer ends when the last handle to it is gone: the supervisor holds one.
    drop(streams);
    stop.cancel();
    let _ = beat.await;
    let joined = tokio::task::spawn_blocking(move || writer.join()).await;
    let fatal = match joined {
        Ok(Ok(finished)) => finished.fatal,
        _ => {
            tracing::error!("the output writer ended abnormally");
            None
        }
    };
    if let Some(e) = fatal {
        return Err(DaemonError::Stopped(e.message));
    }
    tracing::info!("collector stopped");
    Ok(Summary { failed })
}

/// One line saying which shard this is and how many tenants it collects. A shard with none is
/// legitimate (more shards than tenants, for now) and runs idle, but says so loudly.
fn log_shard(config: &Config) {
    let Some(shard) = config.shard else { return };
    let owned = config.owned_tenants().count();
    let configured = config.tenants.len();
    if owned == 0 {
        tracing::warn!(%shard, tenants = 0, configured, "this shard owns none of the configured tenants: it runs idle");
    } else {
        tracing::info!(%shard, tenants = owned, configured, "this shard collects its own tenants; the others are left to the other shards");
    }
}

/// How a run ended, for the exit status of `run --once`.
#[derive(Debug, Default)]
pub struct Summary {
    /// The streams whose last poll failed, with the error (sorted by stream).
    pub failed: Vec<(crate::state::StreamKey, String)>,
}
