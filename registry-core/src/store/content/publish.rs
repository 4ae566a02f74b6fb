//! Publication and recovery. A sealed temp file becomes `blobs/<alg>/<hex>` by a hard link,
//! which never replaces an existing name, so "first commit wins" is atomic across processes;
//! the directory is fsynced after. Recovery removes temp files (and import staging folders) whose
//! writer died, recognised by their free `flock`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::SystemTime;

use super::writer::BlobWriter;
use crate::fsutil::sync_dir;
use crate::store::Store;
use crate::store::digest::Digest;
use crate::store::error::{IoContext, Result, StoreError};
use crate::store::lock::{LockName, try_lock_file};

impl BlobWriter {
    /// Links the sealed temp file into `blobs/` (first writer wins), then cleans up. `Ok(false)`
    /// if the blob was already there.
    pub(crate) fn publish(&mut self, digest: &Digest, sync_dirs: bool) -> Result<bool> {
        let store = self.store.clone();
        let target = store.layout().blob(digest);
        let size = self.written;
        let file = self.file.as_ref().ok_or_else(|| self.gone())?;
        // Readers and recovery only ever see immutable, read-only blobs.
        file.set_permissions(fs::Permissions::from_mode(0o444))
            .at(&self.path)?;
        // A resumed upload's data may be old; the grace period counts from publication.
        file.set_modified(SystemTime::now()).at(&self.path)?;
        let outcome = {
            let _gc = store.lock(LockName::Gc, false)?;
            link_no_replace(&self.path, &target, size, &store)?
        };
        self.done = true;
        self.release_reservation(if outcome { size } else { 0 });
        self.discard();
        if outcome && sync_dirs {
            sync_dir(&store.layout().alg_dir(digest.algorithm()))?;
        }
        Ok(outcome)
    }
}

/// Publishes `tmp` at `target` unless something is there. `Ok(true)` if this call created it.
///
/// A hard link never replaces an existing name, which is what makes "first commit wins" atomic
/// across processes without a per-digest lock. An existing file with the wrong size cannot be the
/// blob (a torn write from a crash under relaxed durability, or tampering): it is quarantined and
/// replaced, so a re-push heals it.
pub(crate) fn link_no_replace(tmp: &Path, target: &Path, size: u64, store: &Store) -> Result<bool> {
    for _ in 0..3 {
        match fs::hard_link(tmp, target) {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match fs::metadata(target) {
                Ok(m) if m.len() == size => {
                    touch(target);
                    return Ok(false);
                }
                Ok(_) => {
                    crate::store::scrub::quarantine(
                        store,
                        target,
                        "size differs from a verified re-push",
                    )?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(target, e)),
            },
            Err(e) if matches!(e.raw_os_error(), Some(1) | Some(95) | Some(18) | Some(38)) => {
                // EPERM/EOPNOTSUPP/EXDEV/ENOSYS: no hard links here. Fall back to check-then-rename,
                // under the index lock so two local publishers of one digest cannot both "win".
                let _g = store.lock(LockName::Index, true)?;
                if target.exists() {
                    touch(target);
                    return Ok(false);
                }
                // Rename is atomic too; the lock makes check-then-rename safe.
                fs::rename(tmp, target).at(target)?;
                return Ok(true);
            }
            Err(e) => return Err(StoreError::io(target, e)),
        }
    }
    Err(StoreError::Locked {
        what: target.display().to_string(),
    })
}

/// Refreshes a blob's last-use time; failures are harmless (it only shortens its life in a cache).
pub(crate) fn touch(path: &Path) {
    if let Ok(f) = File::open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Removes a temp file unless a live writer holds its lock. `Ok(true)` if removed.
pub(crate) fn remove_if_unlocked(path: &Path) -> Result<bool> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    if meta.is_dir() {
        // An import staging folder `x` is alive while `x.lock` beside it is locked; the lock
        // file is created first and removed last.
        let lockfile = path.with_extension("lock");
        let free = match OpenOptions::new().read(true).write(true).open(&lockfile) {
            Ok(f) => try_lock_file(&f, &lockfile)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => true,
            Err(e) => return Err(StoreError::io(&lockfile, e)),
        };
        if free {
            // Another process's recovery may be removing it at the same time.
            return match fs::remove_dir_all(path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(StoreError::io(path, e)),
            };
        }
        return Ok(false);
    }
    let f = match OpenOptions::new().read(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    if try_lock_file(&f, path)? {
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(path, e)),
        }
    } else {
        Ok(false)
    }
}
