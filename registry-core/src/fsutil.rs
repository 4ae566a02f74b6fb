//! File-system primitives every part of the crate that writes shares: replacing a file
//! atomically, fsyncing a folder, fsyncing many files at once, and the `O_DIRECT` flag.
//!
//! An atomic replace is temp file → write → fsync → rename over the target → fsync the folder,
//! so a reader sees the old content or the new, never a part, and after a power cut the new name
//! survives. The temp file lives in the same folder as the target (or in one the caller names
//! on the same file system, as the store's private `tmp/`), because a rename only replaces
//! atomically within one file system.
//!
//! ```
//! use registry_core::fsutil;
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("config.toml");
//! fsutil::write_atomic(&path, b"version = 3\n", 0o644)?;
//! fsutil::write_atomic(&path, b"version = 4\n", 0o644)?;
//! assert_eq!(std::fs::read(&path)?, b"version = 4\n");
//! // Nothing but the target is left in the folder.
//! assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The `open` flag `O_DIRECT` where its value is known without libc (Linux on the x86 and arm
/// families), `None` elsewhere: writes with it go around the page cache.
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "x86")))]
pub const O_DIRECT: Option<i32> = Some(0o40000);
/// The `open` flag `O_DIRECT` where its value is known without libc (Linux on the x86 and arm
/// families), `None` elsewhere: writes with it go around the page cache.
#[cfg(all(target_os = "linux", any(target_arch = "aarch64", target_arch = "arm")))]
pub const O_DIRECT: Option<i32> = Some(0o200000);
/// The `open` flag `O_DIRECT` where its value is known without libc (Linux on the x86 and arm
/// families), `None` elsewhere: writes with it go around the page cache.
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm"
    )
)))]
pub const O_DIRECT: Option<i32> = None;
/// The alignment [`O_DIRECT`] writes need for buffer addresses, lengths and file offsets.
pub const DIRECT_ALIGN: usize = 4096;

/// An I/O error together with the file or folder it happened on.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct PathError {
    /// The file or folder.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

impl PathError {
    fn at(path: &Path) -> impl FnOnce(io::Error) -> PathError + '_ {
        move |source| PathError {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// fsyncs a folder, so a rename, link or unlink inside it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), PathError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(PathError::at(dir))
}

/// Replaces `path` with `bytes` atomically and durably, with permission bits `mode`. The temp
/// file is created beside `path` under a fresh hidden name, exclusively (a name planted there
/// meanwhile makes the call fail instead of being followed), and removed if anything fails.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PathError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| PathError {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    let temp = dir.join(format!(
        ".{}.{}",
        name.to_string_lossy(),
        unique_name("tmp")
    ));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(PathError::at(&temp))?;
    let set_mode = file
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(PathError::at(&temp));
    if let Err(e) = set_mode {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    replace_with(file, &temp, path, bytes, true)
}

/// The common tail of every atomic replace: writes `bytes` to the already created temp file
/// `temp` (at `temp_path`, on the same file system as `path`), fsyncs it, renames it over `path`
/// and fsyncs `path`'s folder. Without `durable` the two fsyncs are skipped (still safe against
/// a process crash, not against a power cut). The temp file is removed if anything fails.
pub fn replace_with(
    mut temp: File,
    temp_path: &Path,
    path: &Path,
    bytes: &[u8],
    durable: bool,
) -> Result<(), PathError> {
    let res = (|| {
        temp.write_all(bytes).map_err(PathError::at(temp_path))?;
        if durable {
            temp.sync_all().map_err(PathError::at(temp_path))?;
        }
        fs::rename(temp_path, path).map_err(PathError::at(path))?;
        if durable && let Some(parent) = path.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            sync_dir(parent)?;
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = fs::remove_file(temp_path);
    }
    res
}

/// Runs `sync` on every item from up to 16 threads at once and returns the first error. File
/// systems merge concurrent fsyncs into few journal commits, so many small files become durable
/// in about the time of one. A panic in `sync` is passed on to the caller.
pub fn sync_parallel<T, E, F>(items: &[T], sync: F) -> Result<(), E>
where
    T: Sync,
    E: Send,
    F: Fn(&T) -> Result<(), E> + Sync,
{
    if items.is_empty() {
        return Ok(());
    }
    let threads = 16.min(items.len());
    let per = items.len().div_ceil(threads);
    let sync = &sync;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|chunk| s.spawn(move || chunk.iter().try_for_each(sync)))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    })
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique across threads and processes (pid, time, counter), for temp files.
pub(crate) fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{t:x}-{n}", std::process::id())
}
