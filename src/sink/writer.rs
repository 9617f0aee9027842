//! The one task that writes output and commits checkpoints.
//!
//! Streams send finished batches (rendered lines plus the checkpoint they advance to) through
//! a bounded channel, which is the pipeline's backpressure. The writer appends whatever is
//! queued, flushes once, then commits all their checkpoints (and the file offset) in one
//! transaction, and only then acknowledges. If the flush or the commit fails, the output is
//! cut back to the last commit and every batch of the group is retried alone, so one bad batch
//! (a checkpoint conflict) cannot sink the others. It runs on its own thread: file and SQLite
//! calls block.

use super::{Sink, SinkError};
use crate::state::{Checkpoint, Commit, State, StateError, StreamKey};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

/// What a stream hands over: lines to write and the checkpoint they complete.
#[derive(Debug)]
pub struct Batch {
    pub commit: Commit,
    pub lines: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteErrorKind {
    /// The checkpoint moved under us (another process, or a reset): reload it.
    Conflict,
    /// Disk full, permissions, a locked or broken database: retry later.
    Io,
    /// Nobody reads standard output any more: stop.
    StdoutClosed,
    /// The writer has stopped.
    Closed,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct WriteError {
    pub kind: WriteErrorKind,
    pub message: String,
}

impl From<&SinkError> for WriteError {
    fn from(e: &SinkError) -> Self {
        let kind = match e {
            SinkError::StdoutClosed => WriteErrorKind::StdoutClosed,
            SinkError::State(StateError::Conflict { .. } | StateError::Delta { .. }) => {
                WriteErrorKind::Conflict
            }
            _ => WriteErrorKind::Io,
        };
        WriteError {
            kind,
            message: e.to_string(),
        }
    }
}

impl From<&StateError> for WriteError {
    fn from(e: &StateError) -> Self {
        let kind = if matches!(e, StateError::Conflict { .. } | StateError::Delta { .. }) {
            WriteErrorKind::Conflict
        } else {
            WriteErrorKind::Io
        };
        WriteError {
            kind,
            message: e.to_string(),
        }
    }
}

fn closed() -> WriteError {
    WriteError::closed()
}

impl WriteError {
    /// The writer thread is gone (shutdown, or it failed).
    pub fn closed() -> WriteError {
        WriteError {
            kind: WriteErrorKind::Closed,
            message: "the output writer has stopped".into(),
        }
    }
}

/// What a stream needs to resume: its checkpoint and the ids it already emitted.
#[derive(Debug, Clone)]
pub struct Resume {
    pub checkpoint: Checkpoint,
    pub seen: Vec<(i64, i64)>,
}

enum Msg {
    Write(Box<Batch>, oneshot::Sender<Result<u64, WriteError>>),
    Load(StreamKey, oneshot::Sender<Result<Resume, WriteError>>),
    /// A poll ended: its error, or (on success) how far the stream is known complete.
    Health(StreamKey, Option<String>, Option<OffsetDateTime>),
    Reopen(oneshot::Sender<Result<(), WriteError>>),
}

/// A cloneable handle to the writer.
#[derive(Clone)]
pub struct SinkHandle {
    tx: mpsc::Sender<Msg>,
}

/// A handle that does not keep the writer alive (for signal handlers, which outlive the daemon).
#[derive(Clone)]
pub struct WeakSinkHandle {
    tx: mpsc::WeakSender<Msg>,
}

impl WeakSinkHandle {
    /// The live handle, unless the writer has stopped.
    pub fn upgrade(&self) -> Option<SinkHandle> {
        self.tx.upgrade().map(|tx| SinkHandle { tx })
    }
}

impl SinkHandle {
    pub fn downgrade(&self) -> WeakSinkHandle {
        WeakSinkHandle {
            tx: self.tx.downgrade(),
        }
    }

    /// Writes a batch and commits its checkpoint; returns the checkpoint's new version.
    pub async fn write(&self, batch: Batch) -> Result<u64, WriteError> {
        self.send(batch).await?.await.map_err(|_| closed())?
    }

    /// Hands a batch to the writer; the receiver resolves once it is written and committed,
    /// with the checkpoint's new version. The caller may work on while it is made durable.
    pub async fn send(
        &self,
        batch: Batch,
    ) -> Result<oneshot::Receiver<Result<u64, WriteError>>, WriteError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Write(Box::new(batch), tx))
            .await
            .map_err(|_| closed())?;
        Ok(rx)
    }

    pub async fn load(&self, key: StreamKey) -> Result<Resume, WriteError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Load(key, tx))
            .await
            .map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    /// Records the outcome of a poll for `status`: `Some(error)` or `None` for success.
    /// Records how a poll ended, after the commits it made: an error, or success and how far
    /// the stream is known complete (`covered_until`; `None` means "now" for streams whose
    /// cursor has no time).
    pub async fn health(
        &self,
        key: StreamKey,
        error: Option<String>,
        covered_until: Option<OffsetDateTime>,
    ) {
        let _ = self.tx.send(Msg::Health(key, error, covered_until)).await;
    }

    /// Reopens the output file (SIGHUP).
    pub async fn reopen(&self) -> Result<(), WriteError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Reopen(tx)).await.map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }
}

/// A simulated crash of the commit path: the tests that prove exactly-once whatever the moment
/// a process dies use it to stop the writer between the steps of one commit, leaving the file
/// and the database exactly as a `kill -9` there would. Not reachable from the configuration.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashPlan {
    /// The commit (counting the writer's transactions from 1) during which the process dies.
    pub at_commit: u64,
    pub stage: CrashStage,
}

#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashStage {
    /// Before any line of the commit is written.
    BeforeWrite,
    /// The lines are written, not yet synced.
    AfterWrite,
    /// The lines are synced, the checkpoint not yet stored.
    AfterSync,
    /// The checkpoint is stored, its confirmation not yet sent.
    AfterCommit,
}

/// Most batches written under one flush and one transaction.
const GROUP_MAX: usize = 64;
const GROUP_MAX_BYTES: usize = 8 * 1024 * 1024;

/// Starts the writer thread. It ends when every handle is dropped; joining returns the state.
/// `on_closed` is cancelled when the output can take no more (stdout closed), so the daemon
/// stops instead of polling for nobody.
pub fn spawn(
    sink: Sink,
    state: State,
    capacity: usize,
    on_closed: Option<tokio_util::sync::CancellationToken>,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
) -> (SinkHandle, std::thread::JoinHandle<State>) {
    spawn_with(sink, state, capacity, on_closed, metrics, None)
}

/// [`spawn`], with a simulated crash (tests).
#[doc(hidden)]
pub fn spawn_with(
    sink: Sink,
    state: State,
    capacity: usize,
    on_closed: Option<tokio_util::sync::CancellationToken>,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    crash: Option<CrashPlan>,
) -> (SinkHandle, std::thread::JoinHandle<State>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let thread = std::thread::Builder::new()
        .name("sink-writer".into())
        .spawn(move || {
            Writer {
                sink,
                state,
                on_closed,
                metrics,
                crash,
                commits: 0,
                dead: false,
            }
            .run(rx)
        })
        .expect("spawning the writer thread");
    (SinkHandle { tx }, thread)
}

struct Writer {
    sink: Sink,
    state: State,
    on_closed: Option<tokio_util::sync::CancellationToken>,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    crash: Option<CrashPlan>,
    commits: u64,
    /// A simulated crash happened: nothing more is done, not even a final flush.
    dead: bool,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Msg>) -> State {
        while let Some(first) = rx.blocking_recv() {
            let mut group = Vec::new();
            let mut bytes = 0;
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Write(batch, done) => {
                        bytes += batch.lines.len();
                        group.push((*batch, done));
                    }
                    other => {
                        // Keep order: finish the writes queued before a control message.
                        self.write_group(std::mem::take(&mut group));
                        if self.dead {
                            return self.state;
                        }
                        self.control(other);
                    }
                }
                if group.len() < GROUP_MAX && bytes < GROUP_MAX_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            self.write_group(group);
            if self.dead {
                return self.state;
            }
        }
        let _ = self.sink.flush();
        self.state
    }

    /// Whether the simulated crash is due at this stage of the current commit; if so the
    /// writer is dead from here on, and the daemon is told to stop.
    fn crashes_at(&mut self, stage: CrashStage) -> bool {
        let due = self
            .crash
            .is_some_and(|c| c.at_commit == self.commits && c.stage == stage);
        if due {
            self.dead = true;
            if let Some(token) = &self.on_closed {
                token.cancel();
            }
        }
        due
    }

    fn control(&mut self, msg: Msg) {
        match msg {
            Msg::Write(..) => unreachable!("writes are grouped"),
            Msg::Load(key, done) => {
                let result = (|| {
                    Ok(Resume {
                        checkpoint: self.state.checkpoint(&key)?,
                        seen: self.state.seen_ids(&key.tenant, &key.stream)?,
                    })
                })()
                .map_err(|e: StateError| WriteError::from(&e));
                let _ = done.send(result);
            }
            Msg::Health(key, error, covered_until) => {
                let result = match &error {
                    Some(message) => self.state.record_error(&key, message),
                    None => self.state.record_success(&key, covered_until),
                };
                if let Err(e) = result {
                    tracing::warn!(tenant = %key.tenant, stream = %key.stream, error = %e, "cannot record stream health");
                }
            }
            Msg::Reopen(done) => {
                let result = self
                    .sink
                    .reopen()
                    .map_err(|e| WriteError::from(&e))
                    .and_then(|pos| match pos {
                        Some(pos) => self
                            .state
                            .set_sink_position(super::FILE_SINK_NAME, pos)
                            .map_err(|e| WriteError::from(&e)),
                        None => Ok(()),
                    });
                let _ = done.send(result);
            }
        }
    }

    fn write_group(&mut self, group: Vec<(Batch, oneshot::Sender<Result<u64, WriteError>>)>) {
        if group.is_empty() {
            return;
        }
        let before = self.sink.committed();
        let result = self.try_commit(group.iter().map(|(b, _)| b));
        if self.dead {
            // Nothing is undone and nobody is told: the confirmations are dropped unsent.
            return;
        }
        if let (Err(e), Some(token)) = (&result, &self.on_closed) {
            if e.kind == WriteErrorKind::StdoutClosed {
                token.cancel();
            }
        }
        match result {
            Ok(versions) => {
                for ((_, done), v) in group.into_iter().zip(versions) {
                    let _ = done.send(Ok(v));
                }
            }
            Err(e) if group.len() == 1 => {
                self.undo(before);
                for (_, done) in group {
                    let _ = done.send(Err(e.clone()));
                }
            }
            Err(_) => {
                self.undo(before);
                for (batch, done) in group {
                    let before = self.sink.committed();
                    let result = self.try_commit(std::iter::once(&batch)).map(|v| v[0]);
                    if result.is_err() {
                        self.undo(before);
                    }
                    let _ = done.send(result);
                }
            }
        }
    }

    fn undo(&mut self, to: Option<crate::state::SinkPosition>) {
        if let Err(e) = self.sink.rollback(to) {
            tracing::error!(error = %e, "cannot roll the output back to its last checkpoint; it will be cut at the next start");
        }
    }

    fn try_commit<'b>(
        &mut self,
        batches: impl Iterator<Item = &'b Batch> + Clone,
    ) -> Result<Vec<u64>, WriteError> {
        self.commits += 1;
        if self.crashes_at(CrashStage::BeforeWrite) {
            return Err(WriteError::closed());
        }
        let mut bytes = 0;
        for b in batches.clone() {
            self.sink
                .write(&b.lines)
                .map_err(|e| WriteError::from(&e))?;
            bytes += b.lines.len();
        }
        if self.crashes_at(CrashStage::AfterWrite) {
            return Err(WriteError::closed());
        }
        let position = self.sink.flush().map_err(|e| WriteError::from(&e))?;
        if self.crashes_at(CrashStage::AfterSync) {
            return Err(WriteError::closed());
        }
        let commits: Vec<Commit> = batches.map(|b| b.commit.clone()).collect();
        let name = self.sink.name();
        let versions = self
            .state
            .commit(&commits, position.map(|p| (name, p)))
            .map_err(|e| WriteError::from(&e))?;
        if self.crashes_at(CrashStage::AfterCommit) {
            return Err(WriteError::closed());
        }
        if let (Sink::File(f), Some(p)) = (&mut self.sink, position) {
            f.committed_to(p);
        }
        if let Some(m) = &self.metrics {
            m.add_sink_bytes(bytes as u64);
            for _ in commits.iter().filter(|c| c.quarantine.is_some()) {
                m.file_quarantined();
            }
        }
        Ok(versions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SinkConfig, SinkKind};

    fn batch(part: &str, expected: u64, line: &str) -> Batch {
        Batch {
            commit: Commit {
                key: StreamKey::new("acme", "audit", part),
                expected_version: expected,
                from: None,
                quarantine: None,
                cursor: format!("after-{line}"),
                covered_until: None,
                events: 1,
                pages: 1,
                seen: vec![],
                forget_seen_before: None,
            },
            lines: format!("{line}\n").into_bytes(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_conflicting_batch_fails_alone_and_leaves_no_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.jsonl");
        let mut state = State::open(&dir.path().join("s.db")).unwrap();
        let sink = Sink::open(
            &SinkConfig {
                kind: SinkKind::File { path: out.clone() },
                include_raw: true,
                format: crate::render::Format::Native,
            },
            &mut state,
        )
        .unwrap();
        let (handle, thread) = spawn(sink, state, 8, None, None);
        assert_eq!(handle.write(batch("a", 0, "a1")).await.unwrap(), 1);
        // Sent together so they can land in one group: b1 is fine, a-stale names an old version.
        let (good, bad) = tokio::join!(
            handle.write(batch("b", 0, "b1")),
            handle.write(batch("a", 0, "a-stale"))
        );
        assert_eq!(good.unwrap(), 1);
        assert_eq!(bad.unwrap_err().kind, WriteErrorKind::Conflict);
        let resume = handle
            .load(StreamKey::new("acme", "audit", "a"))
            .await
            .unwrap();
        assert_eq!(resume.checkpoint.cursor.as_deref(), Some("after-a1"));
        drop(handle);
        let state = tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort();
        assert_eq!(lines, vec!["a1", "b1"]);
        assert_eq!(
            state
                .sink_position(crate::sink::FILE_SINK_NAME)
                .unwrap()
                .unwrap()
                .offset,
            text.len() as u64
        );
    }
}
