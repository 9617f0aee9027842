//! Standard output: buffered, flushed before each checkpoint commit. At-least-once: lines
//! written before a crash but after the last commit are emitted again on restart (at most the
//! pages in flight).

use super::SinkError;
use std::io::{ErrorKind, Write};

pub struct StdoutSink {
    out: std::io::BufWriter<std::io::Stdout>,
    /// Lines still allowed (`demo --events N`); `None`: unlimited.
    remaining: Option<u64>,
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
            remaining: None,
        }
    }

    fn map(e: std::io::Error) -> SinkError {
        if e.kind() == ErrorKind::BrokenPipe {
            SinkError::StdoutClosed
        } else {
            SinkError::Stdout(e)
        }
    }

    /// Stops after `lines` lines, as if the reader had gone away.
    pub fn set_limit(&mut self, lines: u64) {
        self.remaining = Some(lines);
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        let Some(remaining) = self.remaining else {
            return self.out.write_all(bytes).map_err(Self::map);
        };
        // Write whole lines up to the limit, then report the output as closed.
        let mut end = 0;
        let mut left = remaining;
        for (i, b) in bytes.iter().enumerate() {
            if left == 0 {
                break;
            }
            if *b == b'\n' {
                left -= 1;
                end = i + 1;
            }
        }
        self.out.write_all(&bytes[..end]).map_err(Self::map)?;
        self.remaining = Some(left);
        if left == 0 {
            self.out.flush().map_err(Self::map)?;
            return Err(SinkError::StdoutClosed);
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(Self::map)
    }
}
