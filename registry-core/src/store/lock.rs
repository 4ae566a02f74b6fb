//! Cross-process locks (`flock` through std's `File::lock`), released when the guard drops or the
//! process dies, so a killed writer never leaves a lock behind.
//!
//! Deadlock freedom comes from a fixed order: a thread takes at most `gc.lock` (shared or
//! exclusive) and then `index.lock`, never the other way round, and never two of the same kind.
//! Per-writer temp files are locked with `try_lock` only, so they cannot take part in a cycle.
//! Each guard opens its own file description: `flock` locks belong to the description, which makes
//! two threads of one process exclude each other exactly like two processes do.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::store::error::{IoContext, Result, StoreError};

/// The two store-wide locks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LockName {
    /// Shared by everything that publishes or references blobs; exclusive for the GC sweep.
    Gc,
    /// Exclusive around read-modify-write of `index.json`.
    Index,
}

impl LockName {
    fn file(self) -> &'static str {
        match self {
            LockName::Gc => "gc.lock",
            LockName::Index => "index.lock",
        }
    }
}

/// A held lock; dropping it unlocks.
#[derive(Debug)]
pub(crate) struct LockGuard {
    file: File,
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.file.unlock();
        let _ = &self.path;
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .at(path)
}

pub(crate) fn lock(locks_dir: &Path, name: LockName, exclusive: bool) -> Result<LockGuard> {
    let path = locks_dir.join(name.file());
    let file = open_lock_file(&path)?;
    if exclusive {
        file.lock().at(&path)?;
    } else {
        file.lock_shared().at(&path)?;
    }
    Ok(LockGuard { file, path })
}

/// Tries to lock an existing file exclusively without waiting. `Ok(None)` if someone holds it.
pub(crate) fn try_lock_file(file: &File, path: &Path) -> Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io(path, e)),
    }
}

/// Creates a new file at a fresh name from `name` and locks it, so that recovery in another
/// process (which removes unlocked temp files) can never take it from under its writer.
///
/// Between `create` and `flock` another process may lock and unlink the file; the inode check
/// after locking notices that, and the writer simply tries again with a new name.
pub(crate) fn create_locked(mut name: impl FnMut() -> PathBuf) -> Result<(File, PathBuf)> {
    use std::os::unix::fs::MetadataExt;
    let mut last = None;
    for _ in 0..8 {
        let path = name();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .at(&path)?;
        if try_lock_file(&file, &path)? {
            let ours = file.metadata().at(&path)?;
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.ino() == ours.ino() && m.dev() == ours.dev() => return Ok((file, path)),
                _ => {}
            }
        }
        last = Some(path);
    }
    Err(StoreError::Locked {
        what: last.map(|p| p.display().to_string()).unwrap_or_default(),
    })
}
