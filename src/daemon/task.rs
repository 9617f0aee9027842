//! One tenant x stream: load the checkpoint, poll, log, wait, repeat.

use crate::api::MimecastClient;
use crate::config::{CollectorConfig, StreamConfig};
use crate::sink::writer::{SinkHandle, WriteErrorKind};
use crate::state::StreamKey;
use crate::streams::checkpoint::Checkpointer;
use crate::streams::emit::Emitter;
use crate::streams::siem_cg::{CgCursor, SiemCgStream};
use crate::streams::snapshot::{SnapshotCursor, SnapshotStream};
use crate::streams::token_files::{TokenCursor, TokenFileStream};
use crate::streams::window::{self, WindowCursor, WindowStream};
use crate::streams::StreamKind;
use crate::streams::{PollReport, StreamError};
use futures_util::FutureExt;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct StreamTask {
    pub tenant: String,
    /// The checkpoint part: the SIEM event type for `siem_cg`, empty for most streams.
    pub part: String,
    pub settings: StreamConfig,
    pub client: MimecastClient,
    pub sink: SinkHandle,
    pub collector: CollectorConfig,
    pub include_raw: bool,
    pub once: bool,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// A stream ready to poll.
enum Poller {
    Window(Box<WindowStream>),
    SiemCg(Box<SiemCgStream>),
    TokenFiles(Box<TokenFileStream>),
    Snapshot(Box<SnapshotStream>),
}

impl Poller {
    async fn poll(&mut self, cancel: &CancellationToken) -> Result<PollReport, StreamError> {
        match self {
            Poller::Window(w) => w.poll(cancel).await,
            Poller::SiemCg(s) => s.poll(cancel).await,
            Poller::TokenFiles(s) => s.poll(cancel).await,
            Poller::Snapshot(s) => s.poll(cancel).await,
        }
    }

    /// The newest time the checkpoint covers, where the stream has one (for lag).
    fn covered_until(&self) -> Option<time::OffsetDateTime> {
        match self {
            Poller::Window(w) => w.cursor.covered_until,
            Poller::SiemCg(_) => None,
            Poller::TokenFiles(s) => s.cursor.covered_until,
            Poller::Snapshot(s) => s.cursor.polled_at,
        }
    }

    fn describe_cursor(&self) -> String {
        match self {
            Poller::Window(w) => match (&w.cursor.covered_until, &w.cursor.window) {
                (_, Some(open)) => format!(
                    "in window ending {}",
                    crate::event::rfc3339::format(open.to)
                ),
                (Some(c), None) => crate::event::rfc3339::format(*c),
                (None, None) => "none".into(),
            },
            Poller::SiemCg(s) => match &s.cursor.page {
                Some(crate::streams::siem_cg::PageRequest::Token(t)) => format!("nextPage {t}"),
                Some(crate::streams::siem_cg::PageRequest::Dates { start, .. }) => {
                    format!("first page from {start}")
                }
                None => "none".into(),
            },
            Poller::TokenFiles(s) => match (&s.cursor.token, &s.cursor.covered_until) {
                (Some(t), _) => format!("token {}", t.chars().take(24).collect::<String>()),
                (None, Some(c)) => crate::event::rfc3339::format(*c),
                (None, None) => "none".into(),
            },
            Poller::Snapshot(s) => s
                .cursor
                .polled_at
                .map(crate::event::rfc3339::format)
                .unwrap_or_else(|| "none".into()),
        }
    }
}

impl StreamTask {
    fn checkpointer(&self, version: u64) -> Checkpointer {
        Checkpointer {
            key: self.key(),
            sink: self.sink.clone(),
            version,
        }
    }

    pub fn key(&self) -> StreamKey {
        StreamKey::new(&self.tenant, self.settings.kind.name(), &self.part)
    }

    /// Builds the poller from the stored checkpoint.
    async fn load(&self) -> Result<Poller, StreamError> {
        let kind = self.settings.kind;
        let resume = self.sink.load(self.key()).await?;
        let emitter = Emitter::new(&self.tenant, kind, self.include_raw, resume.seen);
        let unreadable = |e: serde_json::Error| {
            StreamError::Shape(format!(
                "stored checkpoint is unreadable ({e}); reset it with `mimecast-collector reset`"
            ))
        };
        if kind == StreamKind::SiemCg {
            let cursor: CgCursor = match &resume.checkpoint.cursor {
                Some(text) => serde_json::from_str(text).map_err(unreadable)?,
                None => CgCursor::default(),
            };
            return Ok(Poller::SiemCg(Box::new(SiemCgStream {
                event_type: self.part.clone(),
                client: self.client.clone(),
                emitter,
                page_size: self.settings.page_size,
                initial_lookback: self.collector.initial_lookback,
                ckpt: self.checkpointer(resume.checkpoint.version),
                cursor,
            })));
        }
        match kind {
            StreamKind::SiemMta | StreamKind::ThreatIntel => {
                let cursor: TokenCursor = match &resume.checkpoint.cursor {
                    Some(text) => serde_json::from_str(text).map_err(unreadable)?,
                    None => TokenCursor::default(),
                };
                return Ok(Poller::TokenFiles(Box::new(TokenFileStream {
                    kind,
                    feed_type: self.part.clone(),
                    client: self.client.clone(),
                    emitter,
                    initial_lookback: self.collector.initial_lookback,
                    ckpt: self.checkpointer(resume.checkpoint.version),
                    cursor,
                })));
            }
            StreamKind::Dashboard | StreamKind::Directory => {
                let cursor: SnapshotCursor = match &resume.checkpoint.cursor {
                    Some(text) => serde_json::from_str(text).map_err(unreadable)?,
                    None => SnapshotCursor::default(),
                };
                return Ok(Poller::Snapshot(Box::new(SnapshotStream {
                    kind,
                    client: self.client.clone(),
                    emitter,
                    page_size: self.settings.page_size,
                    domains: self.settings.domains.clone(),
                    include_raw: self.include_raw,
                    ckpt: self.checkpointer(resume.checkpoint.version),
                    cursor,
                })));
            }
            _ => {}
        }
        match window::spec(kind) {
            Some(spec) => {
                let cursor: WindowCursor = match &resume.checkpoint.cursor {
                    Some(text) => serde_json::from_str(text).map_err(unreadable)?,
                    None => WindowCursor::default(),
                };
                Ok(Poller::Window(Box::new(WindowStream {
                    spec,
                    client: self.client.clone(),
                    emitter,
                    page_size: self.settings.page_size,
                    initial_lookback: self.collector.initial_lookback,
                    max_lag: self.collector.max_lag,
                    ckpt: self.checkpointer(resume.checkpoint.version),
                    cursor,
                })))
            }
            None => Err(StreamError::Shape(format!(
                "the {kind} stream is not yet available in this version"
            ))),
        }
    }

    pub async fn run(self, cancel: CancellationToken) {
        let interval = self.settings.poll_interval;
        tracing::info!(
            interval_s = interval.as_secs(),
            page_size = self.settings.page_size,
            "stream starting"
        );
        let mut poller: Option<Poller> = None;
        loop {
            if cancel.is_cancelled() {
                break;
            }
            let started = Instant::now();
            // A panic in a poll (a bug, or input nobody foresaw) must not end the stream
            // silently: it is caught, logged, recorded for `status`, and the stream starts
            // again from its checkpoint at the next interval.
            let poll = async {
                match poller.as_mut() {
                    Some(p) => p.poll(&cancel).await,
                    None => match self.load().await {
                        Ok(p) => poller.insert(p).poll(&cancel).await,
                        Err(e) => Err(e),
                    },
                }
            };
            let result = match std::panic::AssertUnwindSafe(poll).catch_unwind().await {
                Ok(result) => result,
                Err(panic) => {
                    poller = None;
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(StreamError::Shape(format!("internal error (please report it): {what}; the stream restarts from its checkpoint")))
                }
            };
            let elapsed = started.elapsed();
            match result {
                Ok(report) => {
                    let covered = poller.as_ref().and_then(Poller::covered_until);
                    self.metrics.poll_succeeded(
                        &self.key(),
                        &report,
                        elapsed.as_secs_f64(),
                        covered,
                    );
                    let cursor = poller
                        .as_ref()
                        .map(Poller::describe_cursor)
                        .unwrap_or_default();
                    tracing::info!(
                        records = report.records,
                        duplicates = report.duplicates,
                        pages = report.pages,
                        requests = report.requests,
                        duration_ms = elapsed.as_millis() as u64,
                        cursor = %cursor,
                        cancelled = report.cancelled,
                        "poll complete"
                    );
                    self.sink.health(self.key(), None).await;
                }
                Err(e) => {
                    self.metrics.poll_failed(&self.key(), elapsed.as_secs_f64());
                    let message = e.to_string();
                    if matches!(&e, StreamError::Write(w) if w.kind == WriteErrorKind::StdoutClosed)
                    {
                        tracing::info!("standard output closed; stream stopping");
                        break;
                    }
                    if matches!(&e, StreamError::Write(w) if w.kind == WriteErrorKind::Conflict) {
                        // Someone moved the checkpoint (reset): reload it before the next poll.
                        poller = None;
                    }
                    if e.is_permanent() {
                        tracing::error!(error = %message, next_try_s = interval.as_secs(), "poll failed and needs an operator");
                    } else {
                        tracing::warn!(error = %message, next_try_s = interval.as_secs(), "poll failed; will retry");
                    }
                    self.sink.health(self.key(), Some(message)).await;
                }
            }
            if self.once {
                break;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(jittered(interval)) => {}
            }
        }
        tracing::info!("stream stopped");
    }
}

/// The interval with +-10% jitter, so many streams do not poll in lockstep.
fn jittered(interval: Duration) -> Duration {
    let ms = interval.as_millis() as u64;
    let spread = ms / 10;
    Duration::from_millis(ms - spread + fastrand::u64(0..=2 * spread))
}
