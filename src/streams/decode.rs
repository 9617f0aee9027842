//! Pre-signed SIEM files, inflated and split into lines while they stream in.
//!
//! A file can be far larger than memory should hold; the collector's memory must depend on its
//! chunk size, not on what Mimecast puts in one file. Inflating runs on its own task, one chunk
//! ahead of the writing, so the two overlap on two cores.

use crate::api::ApiError;
use futures_util::StreamExt;
use std::io::Write;
use tokio_util::task::AbortOnDropHandle;

/// Lines per chunk, and the byte bound that cuts a chunk earlier.
const CHUNK_LINES: usize = 1000;
const CHUNK_BYTES: usize = 1024 * 1024;
/// A single line longer than this is not an event; it is skipped with a warning so a corrupt
/// file cannot exhaust memory.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// Lines collected from the decompressor, waiting to be committed.
struct Lines {
    buf: Vec<u8>,
    /// End offsets of complete lines in `buf`.
    ends: Vec<usize>,
    /// Bytes of an incomplete last line at the end of `buf`.
    skip_line: bool,
    oversized: u64,
}

impl Write for Lines {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut rest = data;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            if !self.skip_line {
                self.buf.extend_from_slice(&rest[..pos]);
                self.ends.push(self.buf.len());
            } else {
                self.oversized += 1;
                self.skip_line = false;
                let start = self.ends.last().copied().unwrap_or(0);
                self.buf.truncate(start);
            }
            rest = &rest[pos + 1..];
        }
        if !self.skip_line {
            self.buf.extend_from_slice(rest);
            let start = self.ends.last().copied().unwrap_or(0);
            if self.buf.len() - start > MAX_LINE {
                self.skip_line = true;
                self.buf.truncate(start);
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn new() -> Lines {
        Lines {
            buf: Vec::new(),
            ends: Vec::new(),
            skip_line: false,
            oversized: 0,
        }
    }

    /// Takes the complete lines, keeping a partial last line.
    fn take_complete(&mut self) -> (Vec<u8>, Vec<usize>) {
        let cut = self.ends.last().copied().unwrap_or(0);
        let tail = self.buf.split_off(cut);
        let lines = std::mem::replace(&mut self.buf, tail);
        (lines, std::mem::take(&mut self.ends))
    }

    /// At end of file: a last line without a newline still counts.
    fn finish(&mut self) {
        let start = self.ends.last().copied().unwrap_or(0);
        if self.buf.len() > start && !self.skip_line {
            self.ends.push(self.buf.len());
        }
    }

    fn pending(&self) -> usize {
        self.ends.len()
    }
}

/// Complete lines of a file, decompressed ahead of the writing.
pub struct Piece {
    pub buf: Vec<u8>,
    /// End offsets of the lines in `buf`.
    pub ends: Vec<usize>,
    pub finished: bool,
    /// Lines skipped for their size (known when the file is finished).
    pub oversized: u64,
}

/// Downloads and decompresses a file on its own task, a chunk of lines at a time, so that
/// inflating the next lines (one core) overlaps rendering and writing these (the other). The
/// channel holds one chunk: memory stays bounded by chunk size, not file size. Dropping the
/// receiver or the handle stops the task.
pub fn spawn_decoder(
    resp: reqwest::Response,
) -> (
    tokio::sync::mpsc::Receiver<Result<Piece, ApiError>>,
    AbortOnDropHandle<()>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(async move {
        let mut decoder = flate2::write::MultiGzDecoder::new(Lines::new());
        let mut body = resp.bytes_stream();
        loop {
            let finished = match body.next().await {
                Some(Ok(bytes)) => {
                    if let Err(e) = decoder.write_all(&bytes) {
                        let e = ApiError::Decode(format!("SIEM file is not valid gzip: {e}"));
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                    false
                }
                Some(Err(e)) => {
                    let _ = tx.send(Err(ApiError::from_reqwest(e))).await;
                    return;
                }
                None => {
                    if let Err(e) = decoder.try_finish() {
                        let e = ApiError::Decode(format!("SIEM file is truncated: {e}"));
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                    decoder.get_mut().finish();
                    true
                }
            };
            let lines = decoder.get_mut();
            if finished || lines.pending() >= CHUNK_LINES || lines.buf.len() >= CHUNK_BYTES {
                let (buf, ends) = lines.take_complete();
                let oversized = if finished { lines.oversized } else { 0 };
                let piece = Piece {
                    buf,
                    ends,
                    finished,
                    oversized,
                };
                if tx.send(Ok(piece)).await.is_err() || finished {
                    return;
                }
            }
        }
    });
    (rx, AbortOnDropHandle::new(task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_writes_and_keep_partial_tails() {
        let mut l = Lines::new();
        l.write_all(b"{\"a\":1}\n{\"b\"").unwrap();
        l.write_all(b":2}\n{\"c\":3}").unwrap();
        let (buf, ends) = l.take_complete();
        assert_eq!(ends.len(), 2);
        assert_eq!(&buf[..ends[0]], b"{\"a\":1}");
        assert_eq!(&buf[ends[0]..ends[1]], b"{\"b\":2}");
        l.finish();
        let (buf, ends) = l.take_complete();
        assert_eq!(&buf[..ends[0]], b"{\"c\":3}");
    }
}
