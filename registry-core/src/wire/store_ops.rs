//! The store operations every binding offers as one call: a ranged read, and an export to a
//! file or folder that is atomic and never replaces an existing target unless asked.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ErrorCode, Failure};
use crate::store::{
    Digest, ExportOptions, ExportReport, ProgressFn, Store, StoreError, WithProgress,
};

/// Reads up to `length` bytes of a blob from `offset` (fewer at the blob's end; none past it).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use registry_core::store::Store;
/// let store = Store::open(dir.path()).unwrap();
/// let digest = store.put_bytes(b"hello, world", None).unwrap().digest;
/// let part = registry_core::wire::read_range(&store, &digest, 7, 100).unwrap();
/// assert_eq!(part, b"world");
/// ```
///
/// # Errors
/// `NotFound` for a blob that is not stored; `Io` naming the blob's file.
pub fn read_range(
    store: &Store,
    digest: &Digest,
    offset: u64,
    length: u64,
) -> Result<Vec<u8>, Failure> {
    let reader = store.open_blob(digest)?;
    let want = length.min(reader.size().saturating_sub(offset));
    let want = usize::try_from(want).map_err(|_| {
        Failure::invalid_argument(format!("a range of {want} bytes does not fit in memory"))
    })?;
    let mut buf = vec![0u8; want];
    let done = reader
        .read_full_at(&mut buf, offset)
        .map_err(|source| StoreError::Io {
            path: store.blob_path(digest),
            source,
        })?;
    buf.truncate(done);
    Ok(buf)
}

/// What to export, and in which form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ExportRequest {
    /// The tags to export, with everything they reference; empty exports every tag.
    pub tags: Vec<String>,
    /// Write one tar file instead of a folder.
    pub tar: bool,
    /// Compress the tar file with gzip (needs `tar`).
    pub gzip: bool,
    /// Replace an existing tar file. Without it, an existing file is refused before anything is
    /// written. (A folder target must always be new or empty.)
    pub overwrite: bool,
}

/// Exports tags as an OCI image layout to `dest`: a new or empty folder, or a tar file.
///
/// The tar file is written beside `dest` under a temporary name, flushed to disk and then
/// moved into place, so `dest` is either absent (or its old content, with `overwrite`) or
/// complete: never half-written.
///
/// # Errors
/// `AlreadyExists` for an existing tar target without `overwrite`; `InvalidArgument` for
/// `gzip` without `tar`; `InvalidLayout` for a folder target that is not empty; the store's
/// errors (`NotFound` for an unknown tag, `Cancelled`, `Io`).
pub fn export(
    store: &Store,
    dest: &Path,
    request: &ExportRequest,
    progress: Option<ProgressFn<'_>>,
) -> Result<ExportReport, Failure> {
    let opts = ExportOptions {
        tags: request.tags.clone(),
        gzip: request.gzip,
    };
    if !request.tar {
        if request.gzip {
            return Err(Failure::invalid_argument(
                "export: gzip needs tar (a folder is never compressed)",
            ));
        }
        return Ok(store.export_dir(dest, WithProgress::new(opts, progress))?);
    }
    if !request.overwrite && fs::symlink_metadata(dest).is_ok() {
        return Err(exists(dest));
    }
    let tmp = TempFile::beside(dest)?;
    let mut out = BufWriter::new(&tmp.file);
    let report = store.export_tar(&mut out, WithProgress::new(opts, progress))?;
    out.flush()
        .and_then(|()| tmp.file.sync_all())
        .map_err(|e| io_failure(&tmp.path, &e))?;
    drop(out);
    tmp.publish(dest, request.overwrite)?;
    Ok(report)
}

/// A file created beside its target, removed unless published.
struct TempFile {
    path: PathBuf,
    file: File,
    published: bool,
}

impl TempFile {
    fn beside(dest: &Path) -> Result<TempFile, Failure> {
        let name = dest.file_name().ok_or_else(|| {
            Failure::invalid_argument(format!("export: {} names no file", dest.display()))
        })?;
        let dir = dest.parent().unwrap_or(Path::new("."));
        // The crate's one temp naming (pid, time, counter), created exclusively: a name planted
        // there meanwhile makes the open fail instead of being followed.
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}", crate::fsutil::unique_name("partial")));
        let path = dir.join(tmp_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_failure(&path, &e))?;
        Ok(TempFile {
            path,
            file,
            published: false,
        })
    }

    /// Moves the file to `dest`: a rename when replacing is allowed, otherwise a hard link
    /// (which fails on an existing target, atomically) and an unlink.
    fn publish(mut self, dest: &Path, overwrite: bool) -> Result<(), Failure> {
        if overwrite {
            fs::rename(&self.path, dest).map_err(|e| io_failure(dest, &e))?;
        } else {
            fs::hard_link(&self.path, dest).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => exists(dest),
                _ => io_failure(dest, &e),
            })?;
            let _ = fs::remove_file(&self.path);
        }
        self.published = true;
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fsutil::sync_dir(dir).map_err(|e| io_failure(&e.path, &e.source))?;
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn exists(dest: &Path) -> Failure {
    Failure::new(
        ErrorCode::AlreadyExists,
        format!(
            "export target {} already exists (pass overwrite to replace it)",
            dest.display()
        ),
    )
}

fn io_failure(path: &Path, e: &std::io::Error) -> Failure {
    Failure::new(ErrorCode::Io, format!("export to {}: {e}", path.display()))
}
