//! Standard output: buffered, flushed before each checkpoint commit. At-least-once: lines
//! written before a crash but after the last commit are emitted again on restart (at most the
//! pages in flight).

use super::SinkError;
use std::io::{ErrorKind, Write};

pub struct StdoutSink {
    out: std::io::BufWriter<std::io::Stdout>,
}

impl Default for StdoutSink {
    fn default() -> Self {
        Self::new()
    }
}

impl StdoutSink {
    pub fn new() -> StdoutSink {
        StdoutSink {
            out: std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout()),
        }
    }

    fn map(e: std::io::Error) -> SinkError {
        if e.kind() == ErrorKind::BrokenPipe {
            SinkError::StdoutClosed
        } else {
            SinkError::Stdout(e)
        }
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        self.out.write_all(bytes).map_err(Self::map)
    }

    pub fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(Self::map)
    }
}
