//! The file sink: exactly-once across crashes.
//!
//! Bytes are appended through a buffer; `flush` writes them out and `fdatasync`s before the
//! writer commits the new offset with the checkpoint. At open, a tail beyond the committed
//! offset (written, never committed: a crash came between) is truncated away, so the pages it
//! held are fetched and written again exactly once. The offset belongs to one file (inode and
//! device are stored with it): after logrotate moves the file, the new file is never cut to an
//! offset that was not its own. The file is created 0600, and held under an exclusive lock
//! (`flock`) while it is ours: a second daemon with its own state database pointed at the same
//! file refuses to start instead of interleaving its lines with ours.

use super::SinkError;
use crate::state::{SinkPosition, State};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct FileSink {
    path: PathBuf,
    out: std::io::BufWriter<File>,
    /// Bytes in the file plus the buffer.
    written: u64,
    committed: SinkPosition,
    inode: u64,
    device: u64,
    /// Group given read access to the file (and to every file reopened after rotation).
    group: Option<u32>,
}

fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.ino(), meta.dev())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        (0, 0)
    }
}

/// Takes the output's exclusive lock for this process (released when the file is closed).
fn lock(file: &File, path: &Path) -> Result<(), SinkError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(SinkError::Locked {
            path: path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(SinkError::File {
            path: path.display().to_string(),
            action: "cannot lock",
            source,
        }),
    }
}

fn open_private(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

impl FileSink {
    pub fn open(path: &Path, state: &mut State) -> Result<FileSink, SinkError> {
        let err = |action, source| SinkError::File {
            path: path.display().to_string(),
            action,
            source,
        };
        let mut file = open_private(path).map_err(|e| err("cannot open", e))?;
        lock(&file, path)?;
        let meta = file.metadata().map_err(|e| err("cannot stat", e))?;
        let (inode, device) = identity(&meta);
        let len = meta.len();
        let stored = state.sink_position(super::FILE_SINK_NAME)?;
        let offset = match stored {
            Some(pos) if pos.inode == inode && pos.device == device => {
                if len > pos.offset {
                    tracing::warn!(path = %path.display(), removed_bytes = len - pos.offset, "removing output written after the last checkpoint (the pages will be fetched again)");
                    file.set_len(pos.offset)
                        .map_err(|e| err("cannot truncate the uncommitted tail", e))?;
                    file.sync_all().map_err(|e| err("cannot sync", e))?;
                    pos.offset
                } else {
                    if len < pos.offset {
                        tracing::warn!(path = %path.display(), committed = pos.offset, length = len, "output file is shorter than its checkpoint (truncated by another program?); continuing at its end");
                    }
                    len
                }
            }
            // No position yet, or a different file (rotated): its content is not ours to cut.
            _ => len,
        };
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| err("cannot seek", e))?;
        let committed = SinkPosition {
            offset,
            inode,
            device,
        };
        if stored != Some(committed) {
            state.set_sink_position(super::FILE_SINK_NAME, committed)?;
        }
        Ok(FileSink {
            path: path.to_path_buf(),
            out: std::io::BufWriter::with_capacity(256 * 1024, file),
            written: offset,
            committed,
            inode,
            device,
            group: None,
        })
    }

    fn err(&self, action: &'static str, source: std::io::Error) -> SinkError {
        SinkError::File {
            path: self.path.display().to_string(),
            action,
            source,
        }
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        self.out
            .write_all(bytes)
            .map_err(|e| self.err("cannot write", e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Writes the buffer out and syncs; returns the position the caller may commit. The caller
    /// must then call [`FileSink::committed_to`] once the commit succeeded.
    pub fn flush(&mut self) -> Result<SinkPosition, SinkError> {
        self.out.flush().map_err(|e| self.err("cannot write", e))?;
        self.out
            .get_ref()
            .sync_data()
            .map_err(|e| self.err("cannot sync", e))?;
        Ok(SinkPosition {
            offset: self.written,
            inode: self.inode,
            device: self.device,
        })
    }

    pub fn committed_to(&mut self, pos: SinkPosition) {
        self.committed = pos;
    }

    /// Makes the file readable by `gid` (0640), now and after every reopen.
    pub fn set_group(&mut self, gid: u32) -> Result<(), SinkError> {
        self.group = Some(gid);
        crate::state::share_with_group(&self.path, self.group)
            .map_err(|e| self.err("cannot give the file to its group", e))
    }

    pub fn committed(&self) -> SinkPosition {
        self.committed
    }

    /// Drops the buffer and cuts the file back to `to` (default: the last committed position).
    pub fn rollback(&mut self, to: Option<SinkPosition>) -> Result<(), SinkError> {
        let to = to.unwrap_or(self.committed);
        let file = self
            .out
            .get_ref()
            .try_clone()
            .map_err(|e| self.err("cannot reopen for rollback", e))?;
        // Discard whatever is still buffered: replacing the writer drops its buffer unwritten.
        let old = std::mem::replace(
            &mut self.out,
            std::io::BufWriter::with_capacity(256 * 1024, file),
        );
        let (_file, _unwritten) = old.into_parts();
        let path = self.path.display().to_string();
        let err = |action, source| SinkError::File {
            path: path.clone(),
            action,
            source,
        };
        let f = self.out.get_mut();
        f.set_len(to.offset)
            .map_err(|e| err("cannot truncate during rollback", e))?;
        f.seek(SeekFrom::Start(to.offset))
            .map_err(|e| err("cannot seek during rollback", e))?;
        self.written = to.offset;
        self.committed = to;
        Ok(())
    }

    /// Reopens the path (after logrotate renamed the file); the caller records the position.
    pub fn reopen(&mut self) -> Result<SinkPosition, SinkError> {
        self.out.flush().map_err(|e| self.err("cannot write", e))?;
        // Still the same file (a SIGHUP for a reload, not a rotation): keep it, and its lock.
        if let Ok(meta) = std::fs::metadata(&self.path) {
            if identity(&meta) == (self.inode, self.device) {
                return Ok(self.committed);
            }
        }
        let mut file = open_private(&self.path).map_err(|e| self.err("cannot reopen", e))?;
        lock(&file, &self.path)?;
        let meta = file.metadata().map_err(|e| self.err("cannot stat", e))?;
        let (inode, device) = identity(&meta);
        let len = file
            .seek(SeekFrom::End(0))
            .map_err(|e| self.err("cannot seek", e))?;
        self.out = std::io::BufWriter::with_capacity(256 * 1024, file);
        self.inode = inode;
        self.device = device;
        self.written = len;
        self.committed = SinkPosition {
            offset: len,
            inode,
            device,
        };
        tracing::info!(path = %self.path.display(), "output file reopened");
        Ok(self.committed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf, State) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("events.jsonl");
        let state = State::open(&dir.path().join("state.db")).unwrap();
        (dir, out, state)
    }

    #[test]
    fn a_crash_tail_beyond_the_checkpoint_is_removed_at_open() {
        let (_dir, out, mut state) = setup();
        let mut sink = FileSink::open(&out, &mut state).unwrap();
        sink.write(b"{\"a\":1}\n").unwrap();
        let pos = sink.flush().unwrap();
        state
            .set_sink_position(crate::sink::FILE_SINK_NAME, pos)
            .unwrap();
        // Written and flushed but never committed: as if killed before the commit.
        sink.write(b"{\"b\":2}\n{\"c\":").unwrap();
        sink.flush().unwrap();
        drop(sink);
        let _sink = FileSink::open(&out, &mut state).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"a\":1}\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn rollback_discards_buffered_and_written_bytes() {
        let (_dir, out, mut state) = setup();
        let mut sink = FileSink::open(&out, &mut state).unwrap();
        sink.write(b"keep\n").unwrap();
        let pos = sink.flush().unwrap();
        sink.committed_to(pos);
        sink.write(b"flushed-but-uncommitted\n").unwrap();
        sink.flush().unwrap();
        sink.write(b"still-buffered\n").unwrap();
        sink.rollback(None).unwrap();
        sink.write(b"next\n").unwrap();
        sink.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep\nnext\n");
    }

    /// Two daemons with their own state databases and one output file would interleave their
    /// lines: the second is refused while the first holds the file, and may take it after.
    #[test]
    fn a_second_writer_of_the_same_output_is_refused() {
        let (dir, out, mut state) = setup();
        let first = FileSink::open(&out, &mut state).unwrap();
        let mut other_state = State::open(&dir.path().join("other.db")).unwrap();
        let second = FileSink::open(&out, &mut other_state);
        assert!(
            matches!(&second, Err(SinkError::Locked { .. })),
            "{:?}",
            second.as_ref().err()
        );
        let msg = second.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("its own [sink] path"), "{msg}");
        // A SIGHUP without a rotation keeps the file (and the lock on it).
        let mut first = first;
        let before = first.committed();
        assert_eq!(first.reopen().unwrap(), before);
        assert!(matches!(
            FileSink::open(&out, &mut other_state),
            Err(SinkError::Locked { .. })
        ));
        drop(first);
        assert!(FileSink::open(&out, &mut other_state).is_ok());
    }

    #[test]
    fn a_rotated_file_is_never_truncated() {
        let (dir, out, mut state) = setup();
        let mut sink = FileSink::open(&out, &mut state).unwrap();
        sink.write(b"old-1\nold-2\n").unwrap();
        let pos = sink.flush().unwrap();
        state
            .set_sink_position(crate::sink::FILE_SINK_NAME, pos)
            .unwrap();
        sink.committed_to(pos);
        // logrotate: rename, then SIGHUP -> reopen creates a fresh file.
        std::fs::rename(&out, dir.path().join("events.jsonl.1")).unwrap();
        let pos = sink.reopen().unwrap();
        assert_eq!(pos.offset, 0);
        state
            .set_sink_position(crate::sink::FILE_SINK_NAME, pos)
            .unwrap();
        sink.write(b"new-1\n").unwrap();
        let pos = sink.flush().unwrap();
        state
            .set_sink_position(crate::sink::FILE_SINK_NAME, pos)
            .unwrap();
        drop(sink);
        // A foreign file appearing at the path (different inode) keeps all its content.
        std::fs::rename(&out, dir.path().join("events.jsonl.2")).unwrap();
        std::fs::write(
            &out,
            b"someone else's data that is longer than the offset\n",
        )
        .unwrap();
        let _sink = FileSink::open(&out, &mut state).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "someone else's data that is longer than the offset\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("events.jsonl.1")).unwrap(),
            "old-1\nold-2\n"
        );
    }
}
