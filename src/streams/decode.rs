//! Pre-signed SIEM files, inflated and split into lines while they stream in.
//!
//! A file can be far larger than memory should hold; the collector's memory must depend on its
//! chunk size, not on what Mimecast puts in one file. Inflating runs on its own task, one chunk
//! ahead of the writing, so the two overlap on two cores.

use crate::api::ApiError;
use futures_util::StreamExt;
use serde_json::value::RawValue;
use std::io::{BufRead, Read, Write};
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

/// Lines per chunk, and the byte bound that cuts a chunk earlier.
const CHUNK_LINES: usize = 1000;
const CHUNK_BYTES: usize = 1024 * 1024;
/// Compressed bytes inflated between two checks of the chunk's bounds. A network read can
/// carry 64 KiB that inflate to ten times that; fed at once, a chunk overshot its megabyte by
/// that much and its doubling buffer reached 2 MiB.
const FEED: usize = 4 * 1024;
/// What a chunk's buffer grows to at most (beyond it only for a single line that long): the
/// byte bound and what one `FEED` can inflate past it. Doubling alone took a chunk cut at just
/// over 1 MiB to 2 MiB of capacity, and the decoders' chunks were the largest part of the heap
/// with ten SIEM types draining (21 of 41 MB, massif).
const CHUNK_CAP: usize = CHUNK_BYTES + 256 * 1024;
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
        if !self.skip_line {
            self.grow(data.len());
        }
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

    /// Room for `more` bytes: doubling, as a `Vec` does, but not past [`CHUNK_CAP`] unless the
    /// bytes need it.
    fn grow(&mut self, more: usize) {
        let need = self.buf.len() + more;
        let cap = self.buf.capacity();
        if need <= cap {
            return;
        }
        let doubled = (cap * 2).max(8 * 1024);
        let target = if need <= CHUNK_CAP {
            doubled.clamp(need, CHUNK_CAP)
        } else {
            doubled.max(need)
        };
        self.buf.reserve_exact(target - self.buf.len());
    }

    /// Takes the complete lines, keeping a partial last line. The next chunk's buffer starts
    /// at this one's size (and 1/8 more), so it is not grown again from a few bytes.
    fn take_complete(&mut self) -> (Vec<u8>, Vec<usize>) {
        let cut = self.ends.last().copied().unwrap_or(0);
        let room = (cut + cut / 8).min(CHUNK_CAP).max(self.buf.len() - cut);
        let mut next = Vec::with_capacity(room);
        next.extend_from_slice(&self.buf[cut..]);
        self.buf.truncate(cut);
        let lines = std::mem::replace(&mut self.buf, next);
        let ends = std::mem::replace(&mut self.ends, Vec::with_capacity(CHUNK_LINES));
        (lines, ends)
    }

    /// At end of file: a last line without a newline still counts.
    fn finish(&mut self) {
        let start = self.ends.last().copied().unwrap_or(0);
        if self.buf.len() > start && !self.skip_line {
            self.ends.push(self.buf.len());
        }
        if self.skip_line {
            // An oversized last line ends here: the next entry starts clean.
            self.oversized += 1;
            self.skip_line = false;
            self.buf.truncate(start);
        }
    }

    /// The complete lines so far, as a chunk to send (the oversized count with the last).
    fn piece(&mut self, finished: bool) -> Piece {
        let (buf, ends) = self.take_complete();
        Piece {
            buf,
            ends,
            finished,
            oversized: if finished { self.oversized } else { 0 },
        }
    }

    fn pending(&self) -> usize {
        self.ends.len()
    }
}

/// How a file's body is read: gzip, as Mimecast stores SIEM files; or JSON lines already
/// inflated, as they arrive when the storage serves the file with `Content-Encoding: gzip` (the
/// HTTP client, which asks for gzip, inflates it on the way). Told apart by the first bytes:
/// gzip's magic number, or a JSON object's `{`. Anything else goes to the gzip decoder, which
/// refuses it loudly (an error page is never read as lines).
enum Inflate {
    Sniffing(Vec<u8>),
    Gzip(Box<flate2::write::MultiGzDecoder<Lines>>),
    Plain(Lines),
}

impl Inflate {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Inflate::Gzip(d) => d.write_all(bytes),
            Inflate::Plain(lines) => lines.write_all(bytes),
            Inflate::Sniffing(head) => {
                head.extend_from_slice(bytes);
                if head.len() < 2 {
                    return Ok(());
                }
                let head = std::mem::take(head);
                self.decide(&head);
                self.write_all(&head)
            }
        }
    }

    fn decide(&mut self, head: &[u8]) {
        let plain = head.first() == Some(&b'{');
        *self = if plain {
            Inflate::Plain(Lines::new())
        } else {
            Inflate::Gzip(Box::new(flate2::write::MultiGzDecoder::new(Lines::new())))
        };
    }

    /// At the end of the body: the gzip stream must be complete.
    fn try_finish(&mut self) -> std::io::Result<()> {
        if let Inflate::Sniffing(head) = self {
            // Fewer than two bytes in all: an empty file has no lines; one byte is no gzip.
            let head = std::mem::take(head);
            if head.is_empty() {
                *self = Inflate::Plain(Lines::new());
            } else {
                self.decide(&head);
                self.write_all(&head)?;
            }
        }
        match self {
            Inflate::Gzip(d) => d.try_finish(),
            _ => Ok(()),
        }
    }

    fn lines(&mut self) -> Option<&mut Lines> {
        match self {
            Inflate::Gzip(d) => Some(d.get_mut()),
            Inflate::Plain(lines) => Some(lines),
            Inflate::Sniffing(_) => None,
        }
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
/// inflating the next lines (one core) overlaps rendering and writing these (the other). One
/// chunk is inflated ahead of the one being written, no more: memory stays bounded by chunk
/// size, not file size. Dropping the receiver or the handle stops the task.
pub fn spawn_decoder(
    resp: reqwest::Response,
) -> (
    tokio::sync::mpsc::Receiver<Result<Piece, ApiError>>,
    AbortOnDropHandle<()>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(async move {
        let mut decoder = Inflate::Sniffing(Vec::new());
        let mut body = resp.bytes_stream();
        // Bytes read from the network and not yet inflated.
        let mut held = bytes::Bytes::new();
        loop {
            // The channel's room is taken before the next chunk is inflated, not after: one
            // chunk is inflated ahead of the one being written, not one waiting in the channel
            // and another being filled behind it.
            let Ok(slot) = tx.reserve().await else {
                return;
            };
            loop {
                let finished = if !held.is_empty() {
                    // Fed a little at a time, so a chunk stops close to its bounds.
                    let feed = held.split_to(held.len().min(FEED));
                    if let Err(e) = decoder.write_all(&feed) {
                        let e = ApiError::Decode(format!("SIEM file is not valid gzip: {e}"));
                        slot.send(Err(e));
                        return;
                    }
                    false
                } else {
                    match body.next().await {
                        Some(Ok(bytes)) => {
                            held = bytes;
                            continue;
                        }
                        Some(Err(e)) => {
                            slot.send(Err(ApiError::from_reqwest(e)));
                            return;
                        }
                        None => {
                            if let Err(e) = decoder.try_finish() {
                                let e = ApiError::Decode(format!("SIEM file is truncated: {e}"));
                                slot.send(Err(e));
                                return;
                            }
                            if let Some(lines) = decoder.lines() {
                                lines.finish();
                            }
                            true
                        }
                    }
                };
                let Some(lines) = decoder.lines() else {
                    continue;
                };
                if finished || lines.pending() >= CHUNK_LINES || lines.buf.len() >= CHUNK_BYTES {
                    slot.send(Ok(lines.piece(finished)));
                    if finished {
                        return;
                    }
                    break;
                }
            }
        }
    });
    (rx, AbortOnDropHandle::new(task))
}

/// Reads an API 1.0 SIEM log file (`get-siem-logs`,
/// docs/mimecast-api.md#siem-mta-log-files-api-10): a zip of JSON-lines files, or the JSON lines
/// themselves when Mimecast did not compress them. A zip is spooled to an unnamed temporary file as
/// it arrives and then read entry by entry through its central directory: entries written with data
/// descriptors (sizes after the data, as streaming zip writers do) and empty zips read as they
/// should, and memory holds a chunk, never the file. Chunks of lines go out as for
/// [`spawn_decoder`]. An entry that is one JSON array rather than lines is read whole (it cannot be
/// split before its end).
pub fn spawn_zip_decoder(
    resp: reqwest::Response,
) -> (
    mpsc::Receiver<Result<Piece, ApiError>>,
    AbortOnDropHandle<()>,
) {
    let (tx, rx) = mpsc::channel(1);
    let body = resp
        .bytes_stream()
        .map(|r| r.map_err(std::io::Error::other));
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(body));
    // Dropping the receiver ends the task at its next chunk (the send fails).
    let task = tokio::task::spawn_blocking(move || {
        let mut reader = std::io::BufReader::with_capacity(64 * 1024, reader);
        if let Err(e) = decode_zip(&mut reader, &tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    (rx, AbortOnDropHandle::new(task))
}

/// Why a chunk could not be sent: the reader is gone, stop quietly.
struct Gone;

fn unreadable(e: std::io::Error) -> ApiError {
    match e.into_inner() {
        Some(inner) => match inner.downcast::<reqwest::Error>() {
            Ok(r) => ApiError::from_reqwest(*r),
            Err(other) => ApiError::Decode(format!("SIEM log file: {other}")),
        },
        None => ApiError::Decode("SIEM log file is truncated".into()),
    }
}

/// Sends a chunk, then (unless it was the last) waits until it is taken before the next one is
/// filled: one chunk is held ahead of the one being written, as in [`spawn_decoder`], not one in
/// the channel and another filling behind it. This task is the channel's only sender, so room
/// seen free stays free until its next send.
fn send(
    tx: &mpsc::Sender<Result<Piece, ApiError>>,
    lines: &mut Lines,
    finished: bool,
) -> Result<(), Gone> {
    tx.blocking_send(Ok(lines.piece(finished)))
        .map_err(|_| Gone)?;
    if !finished {
        // On a blocking-pool thread of the runtime (`spawn_blocking`), which may block on it.
        tokio::runtime::Handle::current()
            .block_on(tx.reserve())
            .map_err(|_| Gone)?;
    }
    Ok(())
}

/// Copies one entry's lines into `lines`, sending full chunks as they come.
fn copy_lines(
    entry: &mut impl Read,
    lines: &mut Lines,
    tx: &mpsc::Sender<Result<Piece, ApiError>>,
) -> Result<Result<(), Gone>, ApiError> {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut first = true;
    loop {
        let n = entry.read(&mut chunk).map_err(unreadable)?;
        if n == 0 {
            lines.finish();
            return Ok(Ok(()));
        }
        if first && chunk[..n].trim_ascii_start().starts_with(b"[") {
            // A JSON array: read whole, then one line per element.
            let mut text = chunk[..n].to_vec();
            entry
                .take(MAX_ARRAY)
                .read_to_end(&mut text)
                .map_err(unreadable)?;
            let list: Vec<&RawValue> = serde_json::from_slice(text.trim_ascii())
                .map_err(|e| ApiError::Decode(format!("SIEM log file is not a JSON array: {e}")))?;
            for r in list {
                lines.buf.extend_from_slice(r.get().as_bytes());
                lines.ends.push(lines.buf.len());
            }
            return Ok(Ok(()));
        }
        first = false;
        let _ = lines.write_all(&chunk[..n]);
        if lines.pending() >= CHUNK_LINES || lines.buf.len() >= CHUNK_BYTES {
            if let Err(g) = send(tx, lines, false) {
                return Ok(Err(g));
            }
        }
    }
}

fn decode_zip(
    reader: &mut std::io::BufReader<impl Read>,
    tx: &mpsc::Sender<Result<Piece, ApiError>>,
) -> Result<(), ApiError> {
    let zipped = reader.fill_buf().map_err(unreadable)?.starts_with(b"PK");
    let mut lines = Lines::new();
    if zipped {
        let mut spool = tempfile::tempfile().map_err(|e| {
            ApiError::Decode(format!(
                "no temporary file for the SIEM log zip ({e}); check TMPDIR"
            ))
        })?;
        std::io::copy(reader, &mut spool).map_err(unreadable)?;
        let mut archive = zip::ZipArchive::new(spool)
            .map_err(|e| ApiError::Decode(format!("SIEM log file is not a valid zip: {e}")))?;
        for i in 0..archive.len() {
            let mut entry = archive
                .by_index(i)
                .map_err(|e| ApiError::Decode(format!("SIEM log zip entry {i}: {e}")))?;
            if entry.is_dir() {
                continue;
            }
            if copy_lines(&mut entry, &mut lines, tx)?.is_err() {
                return Ok(());
            }
        }
    } else if copy_lines(reader, &mut lines, tx)?.is_err() {
        return Ok(());
    }
    let _ = send(tx, &mut lines, true);
    Ok(())
}

/// The largest JSON-array entry read whole.
const MAX_ARRAY: u64 = 1024 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

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

    /// 5,000 JSON lines of `line` bytes each (newline included), 10 to a block of the body;
    /// the counter adds each block's bytes as the decoder reads it.
    pub(super) fn counted_lines(line: usize) -> (reqwest::Response, Arc<AtomicUsize>) {
        let read = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&read);
        let blocks = futures_util::stream::iter(0..500).map(move |b| {
            counter.fetch_add(10 * line, Ordering::SeqCst);
            let text: String = (0..10)
                .map(|i| format!("{{\"n\":{:>width$}}}\n", b * 10 + i, width = line - 7))
                .collect();
            Ok::<_, std::io::Error>(bytes::Bytes::from(text))
        });
        let body = reqwest::Body::wrap_stream(blocks);
        (
            reqwest::Response::from(axum::http::Response::new(body)),
            read,
        )
    }

    /// Takes a decoder's chunks of [`counted_lines`], checking that no more than one chunk
    /// (and `slack` bytes of buffering) is read ahead of the chunks taken.
    pub(super) async fn assert_one_chunk_ahead(
        mut rx: mpsc::Receiver<Result<Piece, ApiError>>,
        read: &AtomicUsize,
        line: usize,
        slack: usize,
    ) {
        let chunk = CHUNK_LINES * line;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let before = read.load(Ordering::SeqCst);
        assert!(
            before <= chunk + slack,
            "{before} bytes read with no chunk taken: more than one chunk ahead"
        );
        let first = rx.recv().await.unwrap().unwrap();
        assert_eq!(first.ends.len(), CHUNK_LINES);
        assert_eq!(first.ends[0], line - 1);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let after = read.load(Ordering::SeqCst);
        assert!(after > before, "taking a chunk lets the next one fill");
        assert!(after <= 2 * chunk + slack, "{after} bytes read");
        let mut total = first.ends.len();
        while let Some(p) = rx.recv().await {
            let p = p.unwrap();
            total += p.ends.len();
            if p.finished {
                break;
            }
        }
        assert_eq!(total, 5000);
    }

    /// While the first chunk waits to be taken, the decoder fills no second one behind it:
    /// with ten types of a tenant decoding, each chunk held ahead is a megabyte per stream.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_chunk_is_inflated_ahead_of_the_one_taken() {
        let (resp, read) = counted_lines(100);
        let (rx, _task) = spawn_decoder(resp);
        // The decoder reads the body a block at a time.
        assert_one_chunk_ahead(rx, &read, 100, 10 * 100).await;
    }

    /// A file that arrives in one large read (2 MiB of gzip here; a network read is up to
    /// 64 KiB) is still cut into chunks close to their bounds, each in a buffer that did not
    /// double past them: with ten SIEM types draining, these chunks were half the heap.
    #[tokio::test]
    async fn a_chunk_stays_close_to_its_bounds_whatever_the_reads() {
        // Lines of 2 KiB, mostly pseudo-random hex: they inflate about 2x, like real records,
        // and 1,000 of them are over the byte bound, so chunks are cut by bytes.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut text = Vec::new();
        for n in 0..2000 {
            text.extend_from_slice(format!("{{\"n\":{n:>6},\"x\":\"").as_bytes());
            while text.len() % 2048 < 2046 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                text.extend_from_slice(format!("{:x}", (seed >> 60) & 0xf).as_bytes());
            }
            text.extend_from_slice(b"\"}\n");
        }
        let body = gzip(&text);
        assert!(body.len() > 1024 * 1024, "{} bytes of gzip", body.len());
        let resp = reqwest::Response::from(axum::http::Response::new(body));
        let (mut rx, _task) = spawn_decoder(resp);
        let (mut lines, mut chunks) = (0, 0);
        while let Some(piece) = rx.recv().await {
            let piece = piece.unwrap();
            assert!(
                piece.buf.len() <= CHUNK_BYTES + 64 * 1024,
                "a chunk of {} bytes",
                piece.buf.len()
            );
            assert!(
                piece.buf.capacity() <= CHUNK_CAP,
                "a chunk's buffer of {} bytes",
                piece.buf.capacity()
            );
            lines += piece.ends.len();
            chunks += 1;
            if piece.finished {
                break;
            }
        }
        assert_eq!(lines, 2000);
        assert!(chunks >= 4, "{chunks} chunks");
    }

    /// What `spawn_decoder` makes of `body`: the lines, or the error.
    async fn decode(body: Vec<u8>) -> Result<Vec<String>, ApiError> {
        let resp = reqwest::Response::from(axum::http::Response::new(body));
        let (mut rx, _task) = spawn_decoder(resp);
        let mut lines = Vec::new();
        while let Some(piece) = rx.recv().await {
            let piece = piece?;
            let mut start = 0;
            for end in &piece.ends {
                lines.push(String::from_utf8_lossy(&piece.buf[start..*end]).into_owned());
                start = *end;
            }
            if piece.finished {
                break;
            }
        }
        Ok(lines)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A SIEM file reads the same gzipped (as stored) or already inflated (a storage that
    /// answers with `Content-Encoding: gzip`, inflated by the HTTP client); anything else is
    /// refused, never read as lines.
    #[tokio::test]
    async fn files_read_gzipped_or_inflated_and_nothing_else() {
        let text = b"{\"a\":1}\n{\"b\":2}\n";
        let want = vec!["{\"a\":1}".to_string(), "{\"b\":2}".to_string()];
        assert_eq!(decode(gzip(text)).await.unwrap(), want);
        assert_eq!(decode(text.to_vec()).await.unwrap(), want);
        assert_eq!(decode(Vec::new()).await.unwrap(), Vec::<String>::new());
        for bad in [
            &b"<html>502 Bad Gateway</html>"[..],
            b"x",
            &gzip(text)[..12],
        ] {
            let e = decode(bad.to_vec()).await.unwrap_err();
            assert!(matches!(e, ApiError::Decode(_)), "{e}");
        }
    }
}

#[cfg(test)]
mod zip_tests {
    use super::*;

    /// A zip as a streaming writer makes it: stored entries, flag bit 3, sizes and CRC in a
    /// data descriptor after each entry's data (APPNOTE 4.3.9), then the central directory.
    fn streamed_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in entries {
            let mut crc = flate2::Crc::new();
            crc.update(data);
            let (crc, len, offset) = (crc.sum(), data.len() as u32, out.len() as u32);
            let header = |sig: u32, central: bool| {
                let mut h = sig.to_le_bytes().to_vec();
                if central {
                    h.extend(20u16.to_le_bytes()); // made by
                }
                h.extend(20u16.to_le_bytes()); // version needed
                h.extend(8u16.to_le_bytes()); // flags: data descriptor
                h.extend([0u8; 6]); // stored, time, date
                let (c, n) = if central { (crc, len) } else { (0, 0) };
                h.extend(c.to_le_bytes());
                h.extend(n.to_le_bytes());
                h.extend(n.to_le_bytes());
                h.extend((name.len() as u16).to_le_bytes());
                h.extend(0u16.to_le_bytes()); // extra
                if central {
                    h.extend([0u8; 6]); // comment, disk, internal attributes
                    h.extend(0u32.to_le_bytes()); // external attributes
                    h.extend(offset.to_le_bytes());
                }
                h.extend(name.as_bytes());
                h
            };
            out.extend(header(0x0403_4b50, false));
            out.extend_from_slice(data);
            out.extend(0x0807_4b50u32.to_le_bytes());
            out.extend(crc.to_le_bytes());
            out.extend(len.to_le_bytes());
            out.extend(len.to_le_bytes());
            central.extend(header(0x0201_4b50, true));
        }
        let (at, size) = (out.len() as u32, central.len() as u32);
        out.extend(central);
        out.extend(0x0605_4b50u32.to_le_bytes());
        out.extend([0u8; 4]);
        out.extend((entries.len() as u16).to_le_bytes());
        out.extend((entries.len() as u16).to_le_bytes());
        out.extend(size.to_le_bytes());
        out.extend(at.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out
    }

    /// Runs the zip reader over `body` and collects the lines it sends.
    /// What `spawn_zip_decoder` makes of `body`: the lines, or the error.
    fn lines_of(body: Vec<u8>) -> Result<Vec<String>, ApiError> {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let resp = reqwest::Response::from(axum::http::Response::new(body));
            let (mut rx, _task) = spawn_zip_decoder(resp);
            let mut out = Vec::new();
            while let Some(piece) = rx.recv().await {
                let piece = piece?;
                let mut start = 0;
                for end in piece.ends {
                    out.push(String::from_utf8_lossy(&piece.buf[start..end]).into_owned());
                    start = end;
                }
                if piece.finished {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// The zip decoder holds one chunk ahead too. A body of plain lines is read through a
    /// 64 KiB buffer and 64 KiB reads, so up to 128 KiB beyond the chunk may have been read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_zip_decoder_fills_no_second_chunk_behind_the_first() {
        let (resp, read) = super::tests::counted_lines(256);
        let (rx, _task) = spawn_zip_decoder(resp);
        super::tests::assert_one_chunk_ahead(rx, &read, 256, 2 * 64 * 1024 + 10 * 256).await;
    }

    #[test]
    fn zips_written_as_a_stream_with_data_descriptors_are_read() {
        // A writer that cannot seek puts each entry's sizes after its data (flag bit 3), and
        // leaves zeros in the local header.
        let body = streamed_zip(&[
            ("a.json", b"{\"a\":1}\n{\"a\":2}\n"),
            ("b.json", b"{\"b\":1}"),
        ]);
        assert_eq!(
            lines_of(body).unwrap(),
            vec![r#"{"a":1}"#, r#"{"a":2}"#, r#"{"b":1}"#]
        );
    }

    #[test]
    fn an_empty_zip_plain_lines_and_arrays_are_read() {
        let empty = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()))
            .finish()
            .unwrap()
            .into_inner();
        assert!(lines_of(empty).unwrap().is_empty());
        assert_eq!(
            lines_of(b"{\"x\":1}\n{\"x\":2}".to_vec()).unwrap(),
            vec![r#"{"x":1}"#, r#"{"x":2}"#]
        );
        assert_eq!(
            lines_of(b" [{\"y\":1},{\"y\":2}]".to_vec()).unwrap(),
            vec![r#"{"y":1}"#, r#"{"y":2}"#]
        );
        assert!(matches!(
            lines_of(b"PK\x03\x04 not a zip".to_vec()),
            Err(ApiError::Decode(_))
        ));
    }
}
