//! The daemon's claim on a state database: an exclusive lock (`flock`) on the database file
//! itself, held while it runs. A second daemon on the same state refuses to start, and `reset`
//! refuses to change checkpoints under a running daemon unless forced. The lock is released by
//! the kernel when the process ends, however it ends.
//!
//! The lock is on the database, not on a file beside it: a lock file can be deleted while the
//! daemon runs, and the next daemon would then take a fresh one and run beside it. (`flock`
//! and SQLite's own POSIX record locks do not interact on Linux; the locking descriptor stays
//! open until the daemon's database is closed, as closing any descriptor of the file would
//! drop SQLite's record locks.)

use std::fs::File;
use std::path::{Path, PathBuf};

pub struct StateLock {
    _file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{path} is locked: another mimecast-collector is running with this state database")]
    Held { path: PathBuf },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The file that carries the lock: the database itself.
pub fn lock_path(state: &Path) -> PathBuf {
    state.to_path_buf()
}

impl StateLock {
    pub fn acquire(state: &Path) -> Result<StateLock, LockError> {
        let path = lock_path(state);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LockError::Io {
                path: path.clone(),
                source,
            })?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(&path).map_err(|source| LockError::Io {
            path: path.clone(),
            source,
        })?;
        match file.try_lock() {
            Ok(()) => Ok(StateLock { _file: file, path }),
            Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Held { path }),
            Err(std::fs::TryLockError::Error(source)) => Err(LockError::Io { path, source }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing beside the database can be deleted to defeat the lock: the old `<state>.lock`,
    /// removed while a daemon ran, let a second one start.
    #[test]
    fn the_lock_is_on_the_database_itself() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.db");
        let _first = StateLock::acquire(&state).unwrap();
        let _ = std::fs::remove_file(dir.path().join("state.db.lock"));
        assert!(matches!(
            StateLock::acquire(&state),
            Err(LockError::Held { .. })
        ));
        // The database opens and works under the lock.
        let mut db = crate::state::State::open(&state).unwrap();
        db.record_success(&crate::state::StreamKey::new("a", "audit", ""), None)
            .unwrap();
    }

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.db");
        let first = StateLock::acquire(&state).unwrap();
        assert!(matches!(
            StateLock::acquire(&state),
            Err(LockError::Held { .. })
        ));
        drop(first);
        assert!(StateLock::acquire(&state).is_ok());
    }
}
