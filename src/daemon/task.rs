//! One tenant x stream: load the checkpoint, poll, log, wait, repeat.

use crate::api::MimecastClient;
use crate::config::{CollectorConfig, StreamConfig};
use crate::render::Output;
use crate::sink::writer::{SinkHandle, WriteErrorKind};
use crate::state::StreamKey;
use crate::streams::batch_files::BatchSource;
use crate::streams::driver::{Driver, Poll, Resume};
use crate::streams::emit::Emitter;
use crate::streams::snapshot::SnapshotSource;
use crate::streams::token_files::TokenFileSource;
use crate::streams::window::{self, WindowSource};
use crate::streams::{family, Family, Source, StreamError};
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
    pub output: Output,
    pub once: bool,
    /// How often a running poll logs its progress ("backlog draining").
    pub progress_every: Duration,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl StreamTask {
    pub fn key(&self) -> StreamKey {
        StreamKey::new(&self.tenant, self.settings.kind.name(), &self.part)
    }

    /// The driver for this stream, from the stored checkpoint.
    async fn load(&self) -> Result<Box<dyn Poll>, StreamError> {
        let kind = self.settings.kind;
        let s = &self.settings;
        let c = &self.collector;
        Ok(match family(kind) {
            Family::Window => {
                let spec = window::spec(kind).ok_or_else(|| {
                    StreamError::Shape(format!("the {kind} stream has no window spec"))
                })?;
                self.driver(WindowSource::new(
                    spec,
                    s.page_size,
                    c.initial_lookback,
                    c.max_lag,
                ))
                .await?
            }
            Family::BatchFiles => {
                self.driver(BatchSource::new(
                    kind.spec().path,
                    self.part.clone(),
                    s.page_size,
                    c.initial_lookback,
                ))
                .await?
            }
            Family::TokenFiles => {
                self.driver(TokenFileSource::new(
                    kind,
                    self.part.clone(),
                    c.initial_lookback,
                ))
                .await?
            }
            Family::Snapshot => {
                self.driver(SnapshotSource::new(
                    kind,
                    s.page_size,
                    s.domains.clone(),
                    self.tenant.clone(),
                    self.output.include_raw,
                ))
                .await?
            }
        })
    }

    async fn driver<S: Source>(&self, source: S) -> Result<Box<dyn Poll>, StreamError> {
        let kind = self.settings.kind;
        let resume = self.sink.load(self.key()).await?;
        let cursor: S::Cursor = match &resume.checkpoint.cursor {
            Some(text) => serde_json::from_str(text).map_err(|e| {
                StreamError::Shape(format!(
                    "stored checkpoint is unreadable ({e}); reset it with `mimecast-collector reset`"
                ))
            })?,
            None => S::Cursor::default(),
        };
        let emitter = Emitter::new(&self.tenant, kind, self.output, resume.seen);
        let mut driver = Driver::new(
            source,
            kind,
            self.key(),
            self.client.clone(),
            self.sink.clone(),
            emitter,
            Resume {
                cursor,
                stored: resume.checkpoint.cursor,
                version: resume.checkpoint.version,
            },
        )
        .with_progress(crate::streams::driver::Progress::new(
            self.metrics.clone(),
            self.progress_every,
        ));
        let carried = driver.source.carried_ids(driver.cursor());
        driver.emitter.remember(&carried);
        Ok(Box::new(driver))
    }

    /// Polls until cancelled (or once, with `--once`); returns the last poll's error, if the
    /// last poll failed, so `run --once` can say which streams did not complete.
    pub async fn run(self, cancel: CancellationToken) -> Option<String> {
        let interval = self.settings.poll_interval;
        tracing::info!(
            interval_s = interval.as_secs(),
            page_size = self.settings.page_size,
            "stream starting"
        );
        let mut poller: Option<Box<dyn Poll>> = None;
        let mut last_error = None;
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
                    let covered = poller.as_ref().and_then(|p| p.complete_until());
                    // The pages were counted as they were committed (the driver's progress).
                    self.metrics.poll_succeeded(
                        &self.key(),
                        &crate::metrics::PollCounts {
                            records: 0,
                            duplicates: 0,
                            pages: 0,
                        },
                        elapsed.as_secs_f64(),
                        covered,
                    );
                    let cursor = poller.as_ref().map(|p| p.describe()).unwrap_or_default();
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
                    self.sink.health(self.key(), None, covered).await;
                    last_error = None;
                }
                Err(e) => {
                    self.metrics.poll_failed(&self.key(), elapsed.as_secs_f64());
                    let message = e.to_string();
                    if matches!(&e, StreamError::Write(w) if w.kind == WriteErrorKind::StdoutClosed)
                    {
                        tracing::info!("standard output closed; stream stopping");
                        break;
                    }
                    if matches!(&e, StreamError::Write(_)) {
                        // The stored state is the truth after any write error (a reset moved
                        // the checkpoint, or ids were remembered for a page never committed):
                        // rebuild from it before the next poll.
                        poller = None;
                    }
                    if e.is_permanent() {
                        tracing::error!(error = %message, next_try_s = interval.as_secs(), "poll failed and needs an operator");
                    } else {
                        tracing::warn!(error = %message, next_try_s = interval.as_secs(), "poll failed; will retry");
                    }
                    self.sink
                        .health(self.key(), Some(message.clone()), None)
                        .await;
                    last_error = Some(message);
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
        last_error
    }
}

/// The interval with +-10% jitter, so many streams do not poll in lockstep.
fn jittered(interval: Duration) -> Duration {
    let ms = interval.as_millis() as u64;
    let spread = ms / 10;
    Duration::from_millis(ms - spread + fastrand::u64(0..=2 * spread))
}
