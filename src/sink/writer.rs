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

/// Rendered bytes allowed to wait for the writer at once, across every stream and tenant of
/// the process. Each stream keeps a batch at the writer while it renders the next, so without
/// a common bound memory grows with the streams: ten SIEM types draining at once held 28 MiB
/// of rendered lines (massif, 200,000 records). Twice the writer's largest group, so a group
/// can fill while the next one renders.
pub const IN_FLIGHT_BYTES: usize = 2 * GROUP_MAX_BYTES;

/// A share of [`IN_FLIGHT_BYTES`], taken before a SIEM chunk is rendered (after, for a JSON
/// page already in memory) and given back by the writer once the batch is committed (or
/// refused): a stream waiting for a share holds none that only it could give back, so waiting
/// cannot deadlock.
#[derive(Debug)]
pub struct Reservation(tokio::sync::OwnedSemaphorePermit);

impl Reservation {
    /// Keeps only what the rendered lines take (their buffer's capacity) of what was reserved.
    pub fn fit(&mut self, used: usize) {
        let held = self.0.num_permits();
        let keep = used.clamp(1, held);
        if held > keep {
            drop(self.0.split(held - keep));
        }
    }

    pub fn bytes(&self) -> usize {
        self.0.num_permits()
    }
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
    /// The state database is gone from under the daemon: it stops.
    Fatal,
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
        let kind = match e {
            StateError::Conflict { .. } | StateError::Delta { .. } => WriteErrorKind::Conflict,
            StateError::Vanished { .. } => WriteErrorKind::Fatal,
            _ => WriteErrorKind::Io,
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
    Write(
        Box<Batch>,
        oneshot::Sender<Result<u64, WriteError>>,
        Option<Reservation>,
    ),
    Load(StreamKey, oneshot::Sender<Result<Resume, WriteError>>),
    /// A poll ended: its error, or (on success) how far the stream is known complete.
    Health(StreamKey, Option<String>, Option<OffsetDateTime>),
    Reopen(oneshot::Sender<Result<(), WriteError>>),
}

/// A cloneable handle to the writer.
#[derive(Clone)]
pub struct SinkHandle {
    tx: mpsc::Sender<Msg>,
    budget: std::sync::Arc<tokio::sync::Semaphore>,
}

/// A handle that does not keep the writer alive (for signal handlers, which outlive the daemon).
#[derive(Clone)]
pub struct WeakSinkHandle {
    tx: mpsc::WeakSender<Msg>,
    budget: std::sync::Arc<tokio::sync::Semaphore>,
}

impl WeakSinkHandle {
    /// The live handle, unless the writer has stopped.
    pub fn upgrade(&self) -> Option<SinkHandle> {
        self.tx.upgrade().map(|tx| SinkHandle {
            tx,
            budget: self.budget.clone(),
        })
    }
}

impl SinkHandle {
    pub fn downgrade(&self) -> WeakSinkHandle {
        WeakSinkHandle {
            tx: self.tx.downgrade(),
            budget: self.budget.clone(),
        }
    }

    /// Waits until `bytes` more rendered output may wait for the writer (at most all of
    /// [`IN_FLIGHT_BYTES`], so a larger batch waits for the others rather than forever).
    pub async fn reserve(&self, bytes: usize) -> Result<Reservation, WriteError> {
        let want = u32::try_from(bytes.clamp(1, IN_FLIGHT_BYTES)).unwrap_or(u32::MAX);
        self.budget
            .clone()
            .acquire_many_owned(want)
            .await
            .map(Reservation)
            .map_err(|_| closed())
    }

    /// Writes a batch and commits its checkpoint; returns the checkpoint's new version.
    pub async fn write(&self, batch: Batch) -> Result<u64, WriteError> {
        self.send(batch, None).await?.await.map_err(|_| closed())?
    }

    /// Hands a batch to the writer; the receiver resolves once it is written and committed,
    /// with the checkpoint's new version. The caller may work on while it is made durable.
    /// The reservation made for the batch's lines is given back when the writer is done.
    pub async fn send(
        &self,
        batch: Batch,
        reservation: Option<Reservation>,
    ) -> Result<oneshot::Receiver<Result<u64, WriteError>>, WriteError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Write(Box::new(batch), tx, reservation))
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

/// How the writer thread ended: its state, and the error that stopped the daemon, if any.
pub struct Finished {
    pub state: State,
    pub fatal: Option<WriteError>,
}

/// Starts the writer thread. It ends when every handle is dropped; joining returns the state.
/// `on_closed` is cancelled when the output can take no more (stdout closed), so the daemon
/// stops instead of polling for nobody.
pub fn spawn(
    sink: Sink,
    state: State,
    capacity: usize,
    on_closed: Option<tokio_util::sync::CancellationToken>,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
) -> (SinkHandle, std::thread::JoinHandle<Finished>) {
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
) -> (SinkHandle, std::thread::JoinHandle<Finished>) {
    if let Some(m) = &metrics {
        m.sink_ok(sink.name());
    }
    let writer = Writer {
        sink,
        state,
        on_closed,
        metrics,
        crash,
        commits: 0,
        dead: false,
        fatal: None,
        #[cfg(test)]
        faults: Default::default(),
    };
    start(writer, capacity)
}

fn start(writer: Writer, capacity: usize) -> (SinkHandle, std::thread::JoinHandle<Finished>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let thread = std::thread::Builder::new()
        .name("sink-writer".into())
        .spawn(move || writer.run(rx))
        .expect("spawning the writer thread");
    let budget = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT_BYTES));
    (SinkHandle { tx, budget }, thread)
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
    /// The error that stopped the daemon: every later write gets it too.
    fatal: Option<WriteError>,
    #[cfg(test)]
    faults: WriterFaults,
}

/// Failures injected after a commit was stored (tests of the writer's recovery).
#[cfg(test)]
#[derive(Debug, Default, Clone, Copy)]
struct WriterFaults {
    /// The next this many commits are reported failed although they were stored.
    fail_after_commit: u32,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Msg>) -> Finished {
        while let Some(first) = rx.blocking_recv() {
            let mut group = Vec::new();
            let mut reserved = Vec::new();
            let mut bytes = 0;
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Write(batch, done, reservation) => {
                        bytes += batch.lines.len();
                        group.push((*batch, done));
                        // Given back once the group is committed or refused.
                        reserved.extend(reservation);
                    }
                    other => {
                        // Keep order: finish the writes queued before a control message.
                        self.write_group(std::mem::take(&mut group));
                        reserved.clear();
                        if self.dead {
                            return self.finished();
                        }
                        self.control(other);
                    }
                }
                if group.len() < GROUP_MAX && bytes < GROUP_MAX_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            self.write_group(group);
            drop(reserved);
            if self.dead {
                return self.finished();
            }
        }
        if self.fatal.is_none() {
            let _ = self.sink.flush();
        }
        self.finished()
    }

    fn finished(self) -> Finished {
        Finished {
            state: self.state,
            fatal: self.fatal,
        }
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
        if let Err(e) = self.fatal.clone().map_or_else(|| self.recover(), Err) {
            for (_, done) in group {
                let _ = done.send(Err(e.clone()));
            }
            return;
        }
        let result = self.try_commit(group.iter().map(|(b, _)| b));
        if self.dead {
            // Nothing is undone and nobody is told: the confirmations are dropped unsent.
            return;
        }
        if let Err(e) = &result {
            if e.kind == WriteErrorKind::Fatal {
                tracing::error!(error = %e, "the collector stops");
                self.fatal = Some(e.clone());
            }
            if let (true, Some(token)) = (
                matches!(e.kind, WriteErrorKind::StdoutClosed | WriteErrorKind::Fatal),
                &self.on_closed,
            ) {
                token.cancel();
            }
        }
        match result {
            Ok(versions) => {
                for ((_, done), v) in group.into_iter().zip(versions) {
                    let _ = done.send(Ok(v));
                }
            }
            Err(e)
                if group.len() == 1
                    || e.kind == WriteErrorKind::Fatal
                    || (e.kind == WriteErrorKind::Io && self.sink.fails_as_a_whole()) =>
            {
                self.undo();
                for (_, done) in group {
                    let _ = done.send(Err(e.clone()));
                }
            }
            Err(_) => {
                self.undo();
                for (batch, done) in group {
                    let result = self
                        .recover()
                        .and_then(|()| self.try_commit(std::iter::once(&batch)).map(|v| v[0]));
                    if result.is_err() {
                        self.undo();
                    }
                    let _ = done.send(result);
                }
            }
        }
    }

    /// Cuts the output back to the position the state database holds. The database, not this
    /// process's memory, is the truth: a commit reported failed may still have been stored
    /// (an SQLite error after the transaction was durable), and then nothing must be cut.
    /// If the position cannot be read or the file cannot be cut, the sink stays poisoned and
    /// the next group tries again first.
    fn undo(&mut self) {
        let stored = match self.state.sink_position(super::FILE_SINK_NAME) {
            Ok(stored) => stored,
            Err(e) => {
                if let Sink::File(f) = &mut self.sink {
                    f.poison(format!("cannot read the stored output position: {e}"));
                }
                tracing::error!(error = %e, "cannot read the output's checkpoint to roll back to; nothing is written until it can be read");
                return;
            }
        };
        if let Err(e) = self.sink.rollback(stored) {
            tracing::error!(error = %e, "cannot roll the output back to its last checkpoint; nothing is written until it can (a restart cuts it too)");
        }
    }

    /// The path names another file (or none) since the last flush: a rotation without a
    /// SIGHUP. What was committed stays in the renamed file; writing goes on at the path.
    fn follow_rename(&mut self) {
        tracing::info!("the output file was renamed or removed without a SIGHUP; going on in a new file at its path");
        let result = self
            .sink
            .reopen()
            .map_err(|e| e.to_string())
            .and_then(|pos| match pos {
                Some(pos) => self
                    .state
                    .set_sink_position(super::FILE_SINK_NAME, pos)
                    .map_err(|e| e.to_string()),
                None => Ok(()),
            });
        if let Err(e) = result {
            tracing::error!(error = %e, "cannot open the output file again at its path; writing goes on in the renamed file");
        }
    }

    /// A write or flush failed: counted (`sink_errors`, `sink_up`), and turned into the error
    /// the stream reports.
    fn sink_failed(&self, e: &SinkError) -> WriteError {
        if let Some(m) = &self.metrics {
            m.sink_failed(self.sink.name());
        }
        WriteError::from(e)
    }

    /// Before writing: a poisoned sink is rolled back to the stored position first.
    fn recover(&mut self) -> Result<(), WriteError> {
        if matches!(&self.sink, Sink::File(f) if f.is_poisoned()) {
            self.undo();
            if let Sink::File(f) = &self.sink {
                if let Err(e) = f.check_poisoned() {
                    return Err(WriteError::from(&e));
                }
            }
        }
        Ok(())
    }

    fn try_commit<'b>(
        &mut self,
        batches: impl Iterator<Item = &'b Batch> + Clone,
    ) -> Result<Vec<u64>, WriteError> {
        self.commits += 1;
        if self.crashes_at(CrashStage::BeforeWrite) {
            return Err(WriteError::closed());
        }
        self.state
            .check_in_place()
            .map_err(|e| WriteError::from(&e))?;
        let mut bytes = 0;
        for b in batches.clone() {
            self.sink
                .write(&b.lines, &b.commit.key)
                .map_err(|e| self.sink_failed(&e))?;
            bytes += b.lines.len();
        }
        if self.crashes_at(CrashStage::AfterWrite) {
            return Err(WriteError::closed());
        }
        let position = self.sink.flush().map_err(|e| self.sink_failed(&e))?;
        if let Some(m) = &self.metrics {
            m.sink_ok(self.sink.name());
        }
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
        #[cfg(test)]
        if self.faults.fail_after_commit > 0 {
            self.faults.fail_after_commit -= 1;
            return Err(WriteError {
                kind: WriteErrorKind::Io,
                message: "injected: an error reported after the commit was stored".into(),
            });
        }
        if let (Sink::File(f), Some(p)) = (&mut self.sink, position) {
            f.committed_to(p);
            if f.moved() {
                self.follow_rename();
            }
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
        let state = tokio::task::spawn_blocking(move || thread.join().unwrap().state)
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

    /// Rendered output waiting for the writer is bounded across streams: a stream asking for
    /// more than is left waits until the writer has committed what holds it, and the share it
    /// was given back is what the lines used, not what was first asked for.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reservation_waits_for_the_writer_to_give_bytes_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(&dir.path().join("s.db")).unwrap();
        let sink = Sink::open(
            &SinkConfig {
                kind: SinkKind::File {
                    path: dir.path().join("out.jsonl"),
                },
                include_raw: true,
                format: crate::render::Format::Native,
            },
            &mut state,
        )
        .unwrap();
        let (handle, thread) = spawn(sink, state, 8, None, None);
        let mut most = handle.reserve(IN_FLIGHT_BYTES * 2).await.unwrap();
        assert_eq!(
            most.bytes(),
            IN_FLIGHT_BYTES,
            "asking for more than all waits for all"
        );
        most.fit(IN_FLIGHT_BYTES - 10);
        assert_eq!(
            most.bytes(),
            IN_FLIGHT_BYTES - 10,
            "the rest is given back at once"
        );
        let small = handle.reserve(10).await.unwrap();
        let other = handle.clone();
        let waiting = tokio::spawn(async move { other.reserve(100).await.map(|r| r.bytes()) });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "nothing is left to reserve");
        drop(small);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "10 bytes back are not the 100 asked for"
        );
        let rx = handle.send(batch("a", 0, "a1"), Some(most)).await.unwrap();
        assert_eq!(rx.await.unwrap().unwrap(), 1);
        let given = tokio::time::timeout(std::time::Duration::from_secs(30), waiting)
            .await
            .expect("the commit gives the bytes back");
        assert_eq!(given.unwrap().unwrap(), 100);
        drop(handle);
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
    }

    fn after(part: &str, expected: u64, prev: &str, line: &str) -> Batch {
        let mut b = batch(part, expected, line);
        b.commit.from = Some(format!("after-{prev}"));
        b
    }

    struct Rig {
        _dir: tempfile::TempDir,
        out: std::path::PathBuf,
        state_path: std::path::PathBuf,
        handle: SinkHandle,
        thread: std::thread::JoinHandle<Finished>,
        stopped: tokio_util::sync::CancellationToken,
    }

    /// A writer on a file sink, with faults injected into the sink's rollback and the commit.
    fn rig(file: crate::sink::file::Faults, writer: WriterFaults) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.jsonl");
        let state_path = dir.path().join("s.db");
        let mut state = State::open(&state_path).unwrap();
        let mut sink = Sink::open(
            &SinkConfig {
                kind: SinkKind::File { path: out.clone() },
                include_raw: true,
                format: crate::render::Format::Native,
            },
            &mut state,
        )
        .unwrap();
        if let Sink::File(f) = &mut sink {
            f.faults = file;
        }
        let stopped = tokio_util::sync::CancellationToken::new();
        let (handle, thread) = start(
            Writer {
                sink,
                state,
                on_closed: Some(stopped.clone()),
                metrics: None,
                crash: None,
                commits: 0,
                dead: false,
                fatal: None,
                faults: writer,
            },
            8,
        );
        Rig {
            _dir: dir,
            out,
            state_path,
            handle,
            thread,
            stopped,
        }
    }

    impl Rig {
        /// Stops the writer; returns the output and how it ended (the directory lives on
        /// until the caller drops it).
        async fn finish(self) -> (String, Finished, tempfile::TempDir) {
            drop(self.handle);
            let thread = self.thread;
            let finished = tokio::task::spawn_blocking(move || thread.join().unwrap())
                .await
                .unwrap();
            (
                std::fs::read_to_string(&self.out).unwrap(),
                finished,
                self._dir,
            )
        }
    }

    fn stored_offset(state: &State) -> u64 {
        state
            .sink_position(crate::sink::FILE_SINK_NAME)
            .unwrap()
            .unwrap()
            .offset
    }

    /// A rollback whose truncation fails leaves bytes no checkpoint covers in the file: the
    /// sink must write nothing after them until it has cut them, or the next commit would
    /// cover them (a batch written twice once its pages are fetched again).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_truncation_poisons_the_sink_until_it_is_cut_back() {
        let faults = crate::sink::file::Faults {
            set_len: 2,
            seek: 0,
        };
        let rig = rig(faults, WriterFaults::default());
        rig.handle.write(batch("a", 0, "a1")).await.unwrap();
        // Flushed, then refused by the checkpoint: the rollback cannot truncate.
        let stale = rig.handle.write(batch("a", 0, "a-stale")).await;
        assert_eq!(stale.unwrap_err().kind, WriteErrorKind::Conflict);
        // The next write first tries again to cut, fails again, and writes nothing.
        let refused = rig.handle.write(batch("b", 0, "b1")).await.unwrap_err();
        assert_eq!(refused.kind, WriteErrorKind::Io);
        assert!(
            refused.message.contains("earlier rollback failed"),
            "{refused}"
        );
        assert_eq!(std::fs::read_to_string(&rig.out).unwrap(), "a1\na-stale\n");
        // Then the file can be cut: the tail goes, and writing goes on after the checkpoint.
        assert_eq!(rig.handle.write(batch("b", 0, "b1")).await.unwrap(), 1);
        let (text, finished, _dir) = rig.finish().await;
        assert_eq!(text, "a1\nb1\n");
        assert_eq!(stored_offset(&finished.state), text.len() as u64);
        assert!(finished.fatal.is_none());
    }

    /// Truncated but not repositioned: writing at the old position would leave a hole of
    /// zero bytes in the output.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_seek_in_a_rollback_is_recovered_before_the_next_write() {
        let faults = crate::sink::file::Faults {
            set_len: 0,
            seek: 1,
        };
        let rig = rig(faults, WriterFaults::default());
        rig.handle.write(batch("a", 0, "a1")).await.unwrap();
        let stale = rig.handle.write(batch("a", 0, "a-stale")).await;
        assert_eq!(stale.unwrap_err().kind, WriteErrorKind::Conflict);
        assert_eq!(rig.handle.write(batch("b", 0, "b1")).await.unwrap(), 1);
        let (text, finished, _dir) = rig.finish().await;
        assert_eq!(text, "a1\nb1\n");
        assert_eq!(stored_offset(&finished.state), text.len() as u64);
    }

    /// SQLite reports an error although the transaction was stored: the checkpoint moved past
    /// the lines, so cutting them would lose them. The stored position decides.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_error_after_a_stored_commit_keeps_the_lines_it_covers() {
        let rig = rig(
            crate::sink::file::Faults::default(),
            WriterFaults {
                fail_after_commit: 1,
            },
        );
        let failed = rig.handle.write(batch("a", 0, "a1")).await.unwrap_err();
        assert_eq!(failed.kind, WriteErrorKind::Io);
        // The stream reloads from the database, which holds the commit: it goes on after a1.
        let resume = rig
            .handle
            .load(StreamKey::new("acme", "audit", "a"))
            .await
            .unwrap();
        assert_eq!(resume.checkpoint.cursor.as_deref(), Some("after-a1"));
        assert_eq!(
            rig.handle
                .write(after("a", resume.checkpoint.version, "a1", "a2"))
                .await
                .unwrap(),
            2
        );
        let (text, finished, _dir) = rig.finish().await;
        assert_eq!(text, "a1\na2\n");
        assert_eq!(stored_offset(&finished.state), text.len() as u64);
    }

    /// The database deleted under the running daemon: commits would go to a file the next
    /// start never sees (and that start would collect everything again). The writer stops the
    /// daemon before writing more, and saves what the open database holds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_state_database_deleted_while_running_stops_the_daemon_and_is_saved() {
        let rig = rig(Default::default(), WriterFaults::default());
        rig.handle.write(batch("a", 0, "a1")).await.unwrap();
        std::fs::remove_file(&rig.state_path).unwrap();
        let err = rig
            .handle
            .write(after("a", 1, "a1", "a2"))
            .await
            .unwrap_err();
        assert_eq!(err.kind, WriteErrorKind::Fatal);
        assert!(err.message.contains("deleted or replaced"), "{err}");
        assert!(err.message.contains("were saved to"), "{err}");
        assert!(rig.stopped.is_cancelled());
        let again = rig.handle.write(batch("b", 0, "b1")).await.unwrap_err();
        assert_eq!(again.kind, WriteErrorKind::Fatal);
        let saved = rig.state_path.with_extension("db.recovered");
        assert!(err.message.contains(&saved.display().to_string()), "{err}");
        let (text, finished, _dir) = rig.finish().await;
        assert_eq!(text, "a1\n");
        assert!(finished.fatal.is_some());
        let copy = State::open(&saved).unwrap();
        assert_eq!(
            copy.checkpoint(&StreamKey::new("acme", "audit", "a"))
                .unwrap()
                .cursor
                .as_deref(),
            Some("after-a1")
        );
        assert_eq!(stored_offset(&copy), 3);
    }

    /// A rotation that sends no SIGHUP: the commit that finds the file renamed stays in it,
    /// and the next one goes to a new file at the path.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_renamed_without_a_sighup_is_followed_at_the_next_commit() {
        let rig = rig(Default::default(), WriterFaults::default());
        rig.handle.write(batch("a", 0, "a1")).await.unwrap();
        let rotated = rig.out.with_extension("jsonl.1");
        std::fs::rename(&rig.out, &rotated).unwrap();
        rig.handle.write(after("a", 1, "a1", "a2")).await.unwrap();
        rig.handle.write(after("a", 2, "a2", "a3")).await.unwrap();
        let out = rig.out.clone();
        let (text, finished, _dir) = rig.finish().await;
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "a1\na2\n");
        assert_eq!(text, "a3\n");
        let pos = finished
            .state
            .sink_position(crate::sink::FILE_SINK_NAME)
            .unwrap()
            .unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(pos.inode, std::fs::metadata(&out).unwrap().ino());
        assert_eq!(pos.offset, 3);
    }
}
