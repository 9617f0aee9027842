//! Where events go: standard output, a file or Kafka, one JSON object per line (per message),
//! or a syslog server, one message per event.
//!
//! A sink only moves bytes; the writer task (`writer.rs`) decides when a flush is followed by a
//! checkpoint commit. The file sink reports its durable position so the offset can be
//! committed with the checkpoint, which is what makes file output exactly-once across crashes.
//! The Kafka sink's flush returns only once the brokers acknowledged every event: at least
//! once, repeats keyed by the same id.

pub mod file;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod stdout;
pub mod syslog;
pub mod writer;

use crate::config::{SinkConfig, SinkKind};
use crate::state::{SinkPosition, State, StreamKey};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("output file {path}: {action}: {source}")]
    File {
        path: String,
        action: &'static str,
        source: std::io::Error,
    },
    /// Another process holds the output file's lock: two writers would interleave lines.
    #[error("output file {path} is locked by another process (another mimecast-collector writing the same file with a state database of its own?); two writers would interleave their lines: give each daemon its own [sink] path")]
    Locked { path: String },
    /// The state has no record of this output, which already holds events: the state was lost
    /// (or is new) and collecting would write again what the file holds.
    #[error("output file {path} already holds {bytes} bytes, but the state database {state} has no record of writing them: the state database was lost, emptied or replaced (or state_path changed), or the file was written by something else. Starting now would collect again from initial_lookback and repeat events the file already holds. To go on: {remedy}")]
    Unclaimed {
        path: String,
        bytes: u64,
        state: String,
        remedy: String,
    },
    /// A rollback failed half-way: the file may hold bytes no checkpoint covers. Nothing more
    /// is written until the file is cut back to the position the state database holds.
    #[error("output file {path}: an earlier rollback failed ({cause}); nothing is written until the file is cut back to its last checkpoint")]
    Poisoned { path: String, cause: String },
    /// The syslog server could not be reached or did not take the messages: nothing is
    /// committed, and the stream sends them again.
    #[error("syslog server {address}: {action}: {source}")]
    Syslog {
        address: String,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("standard output is closed")]
    StdoutClosed,
    #[error("writing to standard output: {0}")]
    Stdout(std::io::Error),
    /// The brokers did not take a batch (down, unreachable, refusing): the checkpoint stays
    /// and the stream sends its page again at its next poll.
    #[error("kafka (brokers {brokers}): {message}")]
    Kafka { brokers: String, message: String },
    /// `kind = "kafka"` in a build without the `kafka` feature (refused at load already).
    #[error("this build has no Kafka support (built without the `kafka` feature)")]
    NoKafka,
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

impl SinkError {
    /// A closed stdout (the reader went away) ends the daemon normally, as in ripgrep.
    pub fn is_closed_stdout(&self) -> bool {
        matches!(self, SinkError::StdoutClosed)
    }
}

/// The name the file sink's position is stored under in the state database.
pub const FILE_SINK_NAME: &str = "file";

pub enum Sink {
    Stdout(stdout::StdoutSink),
    File(file::FileSink),
    Syslog(Box<syslog::SyslogSink>),
    #[cfg(feature = "kafka")]
    Kafka(kafka::KafkaSink),
}

impl Sink {
    /// Opens the configured sink; a file sink first removes any tail its checkpoint does not cover.
    pub fn open(cfg: &SinkConfig, state: &mut State) -> Result<Sink, SinkError> {
        Ok(match &cfg.kind {
            SinkKind::Stdout => Sink::Stdout(stdout::StdoutSink::new()),
            SinkKind::File { path } => Sink::File(file::FileSink::open(path, state)?),
            SinkKind::Syslog(c) => Sink::Syslog(Box::new(syslog::SyslogSink::new(c)?)),
            #[cfg(feature = "kafka")]
            SinkKind::Kafka(k) => Sink::Kafka(kafka::KafkaSink::open(k, cfg.format)?),
            #[cfg(not(feature = "kafka"))]
            SinkKind::Kafka(_) => return Err(SinkError::NoKafka),
        })
    }

    /// Writes a batch's lines; `origin` is the stream they come from (Kafka headers, syslog
    /// structured data).
    pub fn write(&mut self, bytes: &[u8], origin: &StreamKey) -> Result<(), SinkError> {
        match self {
            Sink::Stdout(s) => s.write(bytes),
            Sink::File(f) => f.write(bytes),
            Sink::Syslog(s) => s.write(origin, bytes),
            #[cfg(feature = "kafka")]
            Sink::Kafka(k) => k.write(bytes, origin),
        }
    }

    /// Makes everything written so far durable; the file sink returns the position to commit.
    pub fn flush(&mut self) -> Result<Option<SinkPosition>, SinkError> {
        match self {
            Sink::Stdout(s) => s.flush().map(|_| None),
            Sink::File(f) => f.flush().map(Some),
            Sink::Syslog(s) => s.flush().map(|_| None),
            #[cfg(feature = "kafka")]
            Sink::Kafka(k) => k.flush().map(|_| None),
        }
    }

    /// Forgets what was written after `stored`, the position the state database holds (after
    /// a failed flush or commit).
    pub fn rollback(&mut self, stored: Option<SinkPosition>) -> Result<(), SinkError> {
        match self {
            Sink::Stdout(_) => Ok(()),
            Sink::File(f) => f.rollback(stored),
            Sink::Syslog(s) => {
                s.rollback();
                Ok(())
            }
            #[cfg(feature = "kafka")]
            Sink::Kafka(k) => {
                k.rollback();
                Ok(())
            }
        }
    }

    /// SIGHUP: reopen the file (logrotate moved it away); returns the new position to record.
    pub fn reopen(&mut self) -> Result<Option<SinkPosition>, SinkError> {
        match self {
            Sink::Stdout(_) | Sink::Syslog(_) => Ok(None),
            Sink::File(f) => f.reopen().map(Some),
            #[cfg(feature = "kafka")]
            Sink::Kafka(_) => Ok(None),
        }
    }

    pub fn committed(&self) -> Option<SinkPosition> {
        match self {
            Sink::Stdout(_) | Sink::Syslog(_) => None,
            Sink::File(f) => Some(f.committed()),
            #[cfg(feature = "kafka")]
            Sink::Kafka(_) => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Sink::Stdout(_) => "stdout",
            Sink::File(_) => FILE_SINK_NAME,
            Sink::Syslog(_) => "syslog",
            #[cfg(feature = "kafka")]
            Sink::Kafka(_) => "kafka",
        }
    }

    /// Whether a failed write means the output is unavailable for every batch alike (a
    /// broker down), so retrying each batch of a group alone would only wait again for each.
    pub fn fails_as_a_whole(&self) -> bool {
        match self {
            #[cfg(feature = "kafka")]
            Sink::Kafka(_) => true,
            _ => false,
        }
    }
}
