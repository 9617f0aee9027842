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

impl Checkpointer {
    pub async fn commit(
        &mut self,
        cursor: &impl Serialize,
        p: Progress,
    ) -> Result<(), StreamError> {
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
        self.version = self
            .sink
            .write(Batch {
                commit,
                lines: p.lines,
            })
            .await?;
        Ok(())
    }
}
