//! A stream's hold on its checkpoint. Every stream commits through here: the cursor is
//! serialized, the commit names the version it starts from, and the version moves only when
//! the writer confirms the lines are written and the checkpoint stored.

use super::StreamError;
use crate::sink::writer::{Batch, SinkHandle};
use crate::state::{Commit, StreamKey};
use serde::Serialize;
use time::OffsetDateTime;

/// What a commit writes and records besides the cursor.
#[derive(Debug, Default)]
pub struct Progress {
    pub lines: Vec<u8>,
    pub events: u64,
    pub pages: u64,
    pub seen: Vec<(i64, i64)>,
    pub forget_seen_before: Option<i64>,
    pub covered_until: Option<OffsetDateTime>,
}

pub struct Checkpointer {
    pub key: StreamKey,
    pub sink: SinkHandle,
    /// The stored checkpoint's version this stream believes current.
    pub version: u64,
}

/// A commit handed to the writer and not yet confirmed.
pub struct InFlight(tokio::sync::oneshot::Receiver<Result<u64, crate::sink::writer::WriteError>>);

impl Checkpointer {
    pub async fn commit(
        &mut self,
        cursor: &impl Serialize,
        p: Progress,
    ) -> Result<(), StreamError> {
        let in_flight = self.send(cursor, p).await?;
        self.confirm(in_flight).await
    }

    /// Hands the commit to the writer. Until [`Checkpointer::confirm`], no other commit may be
    /// sent: each names the version the previous one produced.
    pub async fn send(
        &mut self,
        cursor: &impl Serialize,
        p: Progress,
    ) -> Result<InFlight, StreamError> {
        let commit = Commit {
            key: self.key.clone(),
            expected_version: self.version,
            cursor: serde_json::to_string(cursor).map_err(|e| StreamError::Shape(e.to_string()))?,
            covered_until: p.covered_until,
            events: p.events,
            pages: p.pages,
            seen: p.seen,
            forget_seen_before: p.forget_seen_before,
        };
        let rx = self
            .sink
            .send(Batch {
                commit,
                lines: p.lines,
            })
            .await?;
        Ok(InFlight(rx))
    }

    /// Waits until the commit is written and stored; the stream's version moves only then.
    pub async fn confirm(&mut self, in_flight: InFlight) -> Result<(), StreamError> {
        self.version = in_flight
            .0
            .await
            .map_err(|_| crate::sink::writer::WriteError::closed())??;
        Ok(())
    }
}
