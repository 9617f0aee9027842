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
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes gathered before they are written to the file.
const BUFFER: usize = 256 * 1024;

pub struct FileSink {
    path: PathBuf,
    file: File,
    /// Written but not yet handed to the file. Kept by hand rather than in a `BufWriter`: a
    /// rollback must be able to drop it unwritten without any call that can fail.
    buf: Vec<u8>,
    /// Bytes in the file plus the buffer.
    written: u64,
    committed: SinkPosition,
    inode: u64,
    device: u64,
    /// Group given read access to the file (and to every file reopened after rotation).
    group: Option<u32>,
    /// The path no longer names the open file (found at the last flush): renamed or removed.
    moved: bool,
    /// A rollback failed half-way (why): the file may hold bytes no checkpoint covers, so
    /// nothing is written until a rollback succeeds.
    poisoned: Option<String>,
    #[cfg(test)]
    pub(crate) faults: Faults,
}

/// Failures injected into the rollback's file calls (tests of the writer's recovery).
#[cfg(test)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Faults {
    /// This many following calls to `set_len` during a rollback fail.
    pub set_len: u32,
    /// This many following calls to `seek` during a rollback fail.
    pub seek: u32,
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

/// The file in the output's directory that is the one `pos` belongs to, when a rotation
/// renamed it there (and did not compress or remove it yet).
fn find_renamed(path: &Path, pos: SinkPosition) -> Option<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.as_path() != path)
        .find(|p| {
            std::fs::symlink_metadata(p)
                .is_ok_and(|m| m.is_file() && identity(&m) == (pos.inode, pos.device))
        })
}

/// Cuts the uncommitted tail from the file `pos` belongs to when a rotation renamed it while
/// the daemon wrote (no SIGHUP), and the daemon then died before its next commit: those pages
/// are fetched again into the new file, so the tail must go from the old one. The tail is cut
/// only if it starts a line of ours (`{` after a newline): an inode number freed and taken by
/// another file in the directory is never mistaken for our file.
fn cut_renamed_tail(path: &Path, pos: SinkPosition) -> Result<(), SinkError> {
    let Some(renamed) = find_renamed(path, pos) else {
        return Ok(());
    };
    let err = |action, source| SinkError::File {
        path: renamed.display().to_string(),
        action,
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&renamed)
        .map_err(|e| {
            err(
                "cannot open the rotated file to remove its uncommitted tail",
                e,
            )
        })?;
    let len = file.metadata().map_err(|e| err("cannot stat", e))?.len();
    if len <= pos.offset {
        return Ok(());
    }
    let mut edge = [0u8; 2];
    let start = pos.offset.saturating_sub(1);
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.read_exact(&mut edge))
        .map_err(|e| err("cannot read", e))?;
    let ours = if pos.offset == 0 {
        edge[0] == b'{'
    } else {
        edge == *b"\n{"
    };
    if !ours {
        tracing::warn!(path = %renamed.display(), "a file has the identity of the old output but not its content; left as it is");
        return Ok(());
    }
    if file.try_lock().is_err() {
        tracing::warn!(path = %renamed.display(), "the rotated output is locked by another process; its uncommitted tail is left in place");
        return Ok(());
    }
    tracing::warn!(path = %renamed.display(), removed_bytes = len - pos.offset, "removing output written after the last checkpoint from the rotated file (it was renamed while the collector wrote, then the collector stopped before its next checkpoint; the pages will be fetched again)");
    file.set_len(pos.offset)
        .map_err(|e| err("cannot truncate the uncommitted tail", e))?;
    file.sync_all().map_err(|e| err("cannot sync", e))
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
            // A different file: a rotation moved ours away, and the one at the path is not ours
            // to cut. Ours may still hold an uncommitted tail where the rotation put it.
            Some(pos) => {
                cut_renamed_tail(path, pos)?;
                len
            }
            None if len > 0 => {
                return Err(SinkError::Unclaimed {
                    path: path.display().to_string(),
                    bytes: len,
                    state: state.path().display().to_string(),
                    remedy: unclaimed_remedy(state.path()),
                })
            }
            None => len,
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
        Ok(FileSink::with(path, file, committed))
    }

    /// Takes the file at `path` as this state's output as it is (`reset --adopt-output`): the
    /// next run appends after its end. Refused while a daemon writes it.
    pub fn adopt(path: &Path, state: &mut State) -> Result<SinkPosition, SinkError> {
        let err = |action, source| SinkError::File {
            path: path.display().to_string(),
            action,
            source,
        };
        let file = open_private(path).map_err(|e| err("cannot open", e))?;
        lock(&file, path)?;
        let meta = file.metadata().map_err(|e| err("cannot stat", e))?;
        let (inode, device) = identity(&meta);
        let pos = SinkPosition {
            offset: meta.len(),
            inode,
            device,
        };
        state.set_sink_position(super::FILE_SINK_NAME, pos)?;
        Ok(pos)
    }

    fn with(path: &Path, file: File, committed: SinkPosition) -> FileSink {
        FileSink {
            path: path.to_path_buf(),
            file,
            buf: Vec::with_capacity(BUFFER),
            written: committed.offset,
            committed,
            inode: committed.inode,
            device: committed.device,
            group: None,
            moved: false,
            poisoned: None,
            #[cfg(test)]
            faults: Faults::default(),
        }
    }

    fn err(&self, action: &'static str, source: std::io::Error) -> SinkError {
        SinkError::File {
            path: self.path.display().to_string(),
            action,
            source,
        }
    }

    /// Refuses writes until a rollback succeeds (the writer could not tell where to cut).
    pub fn poison(&mut self, cause: String) {
        self.buf.clear();
        self.poisoned = Some(cause);
    }

    pub fn check_poisoned(&self) -> Result<(), SinkError> {
        match &self.poisoned {
            Some(cause) => Err(SinkError::Poisoned {
                path: self.path.display().to_string(),
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        self.check_poisoned()?;
        if self.buf.len() + bytes.len() > BUFFER {
            self.write_buffer()?;
        }
        if bytes.len() >= BUFFER {
            self.file
                .write_all(bytes)
                .map_err(|e| self.err("cannot write", e))?;
        } else {
            self.buf.extend_from_slice(bytes);
        }
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn write_buffer(&mut self) -> Result<(), SinkError> {
        if !self.buf.is_empty() {
            self.file
                .write_all(&self.buf)
                .map_err(|e| self.err("cannot write", e))?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes the buffer out and syncs; returns the position the caller may commit. The caller
    /// must then call [`FileSink::committed_to`] once the commit succeeded.
    pub fn flush(&mut self) -> Result<SinkPosition, SinkError> {
        self.check_poisoned()?;
        self.write_buffer()?;
        self.file
            .sync_data()
            .map_err(|e| self.err("cannot sync", e))?;
        // A rotation that sends no SIGHUP: the bytes just synced went to the renamed file,
        // which is right for this commit; the writer reopens the path after it.
        self.moved =
            !std::fs::metadata(&self.path).is_ok_and(|m| identity(&m) == (self.inode, self.device));
        Ok(SinkPosition {
            offset: self.written,
            inode: self.inode,
            device: self.device,
        })
    }

    /// Whether the last flush found the path naming another file (or none).
    pub fn moved(&self) -> bool {
        self.moved
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

    /// Drops the buffer and cuts the file back to `to` (the position the state database
    /// holds; the last known commit when that belongs to another file or is unknown). If a
    /// step fails the sink is poisoned: it refuses writes until a rollback succeeds.
    pub fn rollback(&mut self, to: Option<SinkPosition>) -> Result<(), SinkError> {
        let to = to
            .filter(|p| (p.inode, p.device) == (self.inode, self.device))
            .unwrap_or(self.committed);
        // Whatever happens next, buffered bytes must never reach the file.
        self.buf.clear();
        match self.cut(to.offset) {
            Ok(()) => {
                if let Some(cause) = self.poisoned.take() {
                    tracing::info!(path = %self.path.display(), earlier = %cause, "output cut back to its last checkpoint; writing again");
                }
                self.written = to.offset;
                self.committed = to;
                Ok(())
            }
            Err(e) => {
                self.poisoned = Some(e.to_string());
                Err(e)
            }
        }
    }

    fn cut(&mut self, offset: u64) -> Result<(), SinkError> {
        #[cfg(test)]
        if self.faults.set_len > 0 {
            self.faults.set_len -= 1;
            return Err(self.err(
                "cannot truncate during rollback",
                std::io::Error::other("injected"),
            ));
        }
        self.file
            .set_len(offset)
            .map_err(|e| self.err("cannot truncate during rollback", e))?;
        #[cfg(test)]
        if self.faults.seek > 0 {
            self.faults.seek -= 1;
            return Err(self.err(
                "cannot seek during rollback",
                std::io::Error::other("injected"),
            ));
        }
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|e| self.err("cannot seek during rollback", e))?;
        Ok(())
    }

    /// Reopens the path (after logrotate renamed the file); the caller records the position.
    pub fn reopen(&mut self) -> Result<SinkPosition, SinkError> {
        self.check_poisoned()?;
        self.write_buffer()?;
        // Still the same file (a SIGHUP for a reload, not a rotation): keep it, and its lock.
        if let Ok(meta) = std::fs::metadata(&self.path) {
            if identity(&meta) == (self.inode, self.device) {
                self.moved = false;
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
        self.file = file;
        self.inode = inode;
        self.device = device;
        self.written = len;
        self.moved = false;
        self.committed = SinkPosition {
            offset: len,
            inode,
            device,
        };
        if self.group.is_some() {
            crate::state::share_with_group(&self.path, self.group)
                .map_err(|e| self.err("cannot give the file to its group", e))?;
        }
        tracing::info!(path = %self.path.display(), "output file reopened");
        Ok(self.committed)
    }
}

impl Drop for FileSink {
    /// A clean stop writes what is buffered (a later start cuts it if it was never
    /// committed); a poisoned sink writes nothing more.
    fn drop(&mut self) {
        if self.poisoned.is_none() {
            let _ = self.write_buffer();
        }
    }
}

/// How to go on when the state has no record of a non-empty output.
fn unclaimed_remedy(state: &Path) -> String {
    let mut recovered = state.as_os_str().to_owned();
    recovered.push(".recovered");
    let recovered = PathBuf::from(recovered);
    let restore = if recovered.exists() {
        format!(
            "move {} (the copy the collector saved when its database was deleted) to {}",
            recovered.display(),
            state.display()
        )
    } else {
        "restore the state database from a backup".to_string()
    };
    format!("{restore}; or move the output file aside, so that a new one is started; or run `mimecast-collector reset --adopt-output` to append to this file as it is (and `reset --since` to choose where each stream starts)")
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

    fn commit(sink: &mut FileSink, state: &mut State, bytes: &[u8]) {
        sink.write(bytes).unwrap();
        let pos = sink.flush().unwrap();
        state
            .set_sink_position(crate::sink::FILE_SINK_NAME, pos)
            .unwrap();
        sink.committed_to(pos);
    }

    /// Renamed by a rotation that sends no SIGHUP, then killed before the next commit: the
    /// uncommitted tail is in the renamed file, and the pages it holds are fetched again into
    /// the new one. It must be cut where it is.
    #[test]
    fn a_tail_left_in_a_file_renamed_before_a_crash_is_cut_there() {
        let (dir, out, mut state) = setup();
        let mut sink = FileSink::open(&out, &mut state).unwrap();
        commit(&mut sink, &mut state, b"{\"a\":1}\n");
        let rotated = dir.path().join("events.jsonl-20261201");
        std::fs::rename(&out, &rotated).unwrap();
        sink.write(b"{\"b\":2}\n").unwrap();
        sink.flush().unwrap();
        drop(sink); // killed before the commit
        let mut sink = FileSink::open(&out, &mut state).unwrap();
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "{\"a\":1}\n");
        commit(&mut sink, &mut state, b"{\"b\":2}\n");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"b\":2}\n");
    }

    /// A file that has the old output's inode but not its lines (the number was freed and
    /// taken again) is never cut.
    #[test]
    fn a_file_with_the_old_identity_but_other_content_is_left_alone() {
        let (dir, out, mut state) = setup();
        let mut sink = FileSink::open(&out, &mut state).unwrap();
        commit(&mut sink, &mut state, b"{\"a\":1}\n");
        drop(sink);
        let rotated = dir.path().join("events.jsonl.1");
        std::fs::rename(&out, &rotated).unwrap();
        // Same inode, rewritten in place by someone else, longer than the offset.
        let other = "binary or foreign content, longer than the stored offset\n";
        std::fs::write(&rotated, other).unwrap();
        let _sink = FileSink::open(&out, &mut state).unwrap();
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), other);
    }

    /// A lost (or new) state database and an output that already holds events: collecting
    /// would write again what the file holds. Refused, naming the way on; adopting the file
    /// appends after its end.
    #[test]
    fn an_output_the_state_has_no_record_of_is_refused_until_adopted() {
        let (dir, out, mut state) = setup();
        let mut sink = FileSink::open(&out, &mut state).unwrap();
        commit(&mut sink, &mut state, b"{\"a\":1}\n");
        drop(sink);
        drop(state);
        std::fs::remove_file(dir.path().join("state.db")).unwrap();
        let mut state = State::open(&dir.path().join("state.db")).unwrap();
        let refused = FileSink::open(&out, &mut state).err().unwrap();
        assert!(
            matches!(refused, SinkError::Unclaimed { bytes: 8, .. }),
            "{refused}"
        );
        let msg = refused.to_string();
        assert!(msg.contains("reset --adopt-output"), "{msg}");
        assert!(msg.contains("state.db"), "{msg}");
        // An empty output is nobody's yet: taken without a word.
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, b"").unwrap();
        let mut other = State::open(&dir.path().join("other.db")).unwrap();
        assert!(FileSink::open(&empty, &mut other).is_ok());
        // Adopted: the next open appends after what is there.
        let pos = FileSink::adopt(&out, &mut state).unwrap();
        assert_eq!(pos.offset, 8);
        let mut sink = FileSink::open(&out, &mut state).unwrap();
        commit(&mut sink, &mut state, b"{\"b\":2}\n");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );
    }

    /// The file group's read access holds for the files opened after a rotation too.
    #[cfg(unix)]
    #[test]
    fn a_reopened_file_keeps_the_group_access() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let (dir, out, mut state) = setup();
        let mut sink = FileSink::open(&out, &mut state).unwrap();
        let gid = std::fs::metadata(dir.path()).unwrap().gid();
        sink.set_group(gid).unwrap();
        std::fs::rename(&out, dir.path().join("events.jsonl.1")).unwrap();
        sink.reopen().unwrap();
        let meta = std::fs::metadata(&out).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    }
}
