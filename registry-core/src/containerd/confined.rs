//! File-system work confined to a root folder (a node's `/`, or a staging folder).
//!
//! Node paths (`/etc/…`) map to `root/etc/…`. Before any read, write, listing or removal,
//! every component below the root is examined with `lstat`: a symbolic link anywhere refuses
//! the operation, and every component but the last must be a real folder. So a symlinked
//! `etc/containerd` or host folder can never send a write or a delete outside the root. The
//! root itself is the caller's choice and may be reached through links.
//!
//! The checks are made right before each operation; they do not guard against a process that
//! swaps folders for links under the root *while* apply runs (that needs `openat`, which std
//! does not offer safely). Whoever can do that already owns the root.

use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::ApplyError;

/// A root folder and the node paths below it.
pub(crate) struct Root<'a> {
    root: &'a Path,
}

impl<'a> Root<'a> {
    pub(crate) fn new(root: &'a Path) -> Self {
        Root { root }
    }

    /// Where a node path is under the root. Node paths are checked absolute and normalised
    /// before they get here.
    pub(crate) fn path(&self, node_path: &str) -> PathBuf {
        self.root.join(node_path.trim_start_matches('/'))
    }

    /// Examines every component of `node_path` below the root. Returns the metadata of the last
    /// one, or `None` when some component does not exist (nor anything below it).
    ///
    /// # Errors
    /// [`ApplyError::SymbolicLink`] when a component is a symbolic link;
    /// [`ApplyError::NotAFolder`] when a component before the last is not a folder;
    /// [`ApplyError::Io`] when one cannot be examined.
    pub(crate) fn examine(&self, node_path: &str) -> Result<Option<Metadata>, ApplyError> {
        let mut current = self.root.to_path_buf();
        let segments: Vec<&str> = node_path.split('/').filter(|s| !s.is_empty()).collect();
        for (i, segment) in segments.iter().enumerate() {
            current.push(segment);
            let meta = match fs::symlink_metadata(&current) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(ApplyError::io(current, e)),
            };
            if meta.file_type().is_symlink() {
                return Err(ApplyError::SymbolicLink {
                    path: current,
                    root: self.root.to_path_buf(),
                });
            }
            let last = i + 1 == segments.len();
            if last {
                return Ok(Some(meta));
            }
            if !meta.is_dir() {
                return Err(ApplyError::NotAFolder { path: current });
            }
        }
        fs::symlink_metadata(self.root)
            .map(Some)
            .map_err(|e| ApplyError::io(self.root, e))
    }

    /// Creates the folder `node_dir` and its missing parents below the root, one component at a
    /// time, refusing links as [`Root::examine`] does.
    fn create_dirs(&self, node_dir: &str) -> Result<(), ApplyError> {
        // The root is the caller's to name: made if missing, links on the way to it allowed.
        fs::create_dir_all(self.root).map_err(|e| ApplyError::io(self.root, e))?;
        let mut prefix = String::new();
        for segment in node_dir.split('/').filter(|s| !s.is_empty()) {
            prefix.push('/');
            prefix.push_str(segment);
            match self.examine(&prefix)? {
                Some(meta) if meta.is_dir() => {}
                Some(_) => {
                    return Err(ApplyError::NotAFolder {
                        path: self.path(&prefix),
                    });
                }
                None => {
                    let path = self.path(&prefix);
                    match fs::create_dir(&path) {
                        Ok(()) => {}
                        // Made by someone else meanwhile: examined again on the next round.
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(ApplyError::io(path, e)),
                    }
                }
            }
        }
        Ok(())
    }

    /// The bytes of a regular file, `None` if it does not exist.
    pub(crate) fn read(&self, node_path: &str) -> Result<Option<Vec<u8>>, ApplyError> {
        match self.examine(node_path)? {
            None => Ok(None),
            Some(meta) if meta.is_file() => {
                let path = self.path(node_path);
                fs::read(&path)
                    .map(Some)
                    .map_err(|e| ApplyError::io(path, e))
            }
            Some(_) => Err(ApplyError::NotAFile {
                path: self.path(node_path),
            }),
        }
    }

    /// Writes a file atomically ([`crate::fsutil::write_atomic`]) unless it already has these
    /// bytes and this mode. Returns whether it wrote.
    pub(crate) fn write_if_changed(
        &self,
        node_path: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<bool, ApplyError> {
        let (dir, _) = node_path
            .rsplit_once('/')
            .ok_or_else(|| ApplyError::FilePath {
                path: node_path.to_owned(),
                reason: "has no parent folder".into(),
            })?;
        self.create_dirs(dir)?;
        let target = self.path(node_path);
        if let Some(meta) = self.examine(node_path)? {
            if !meta.is_file() {
                return Err(ApplyError::NotAFile { path: target });
            }
            let existing = fs::read(&target).map_err(|e| ApplyError::io(&target, e))?;
            if existing == contents && meta.permissions().mode() & 0o7777 == mode {
                return Ok(false);
            }
        }
        // The core's one atomic write: a fresh temp name created exclusively (O_EXCL), so a
        // link planted beside the target makes the open fail instead of being followed.
        crate::fsutil::write_atomic(&target, contents, mode)
            .map(|()| true)
            .map_err(|e| ApplyError::io(e.path, e.source))
    }

    /// The names of the regular files and links directly in a folder; empty if it does not exist.
    pub(crate) fn file_names(&self, node_dir: &str) -> Result<Vec<String>, ApplyError> {
        match self.examine(node_dir)? {
            None => return Ok(Vec::new()),
            Some(meta) if meta.is_dir() => {}
            Some(_) => {
                return Err(ApplyError::NotAFolder {
                    path: self.path(node_dir),
                });
            }
        }
        let path = self.path(node_dir);
        let mut names = Vec::new();
        for entry in fs::read_dir(&path).map_err(|e| ApplyError::io(&path, e))? {
            let entry = entry.map_err(|e| ApplyError::io(&path, e))?;
            let kind = entry
                .file_type()
                .map_err(|e| ApplyError::io(entry.path(), e))?;
            if (kind.is_file() || kind.is_symlink())
                && let Some(name) = entry.file_name().to_str()
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Removes a file (a link itself, never its target) in a folder checked free of links.
    pub(crate) fn remove_file(&self, node_dir: &str, name: &str) -> Result<(), ApplyError> {
        self.examine(node_dir)?;
        let path = self.path(&format!("{node_dir}/{name}"));
        fs::remove_file(&path).map_err(|e| ApplyError::io(path, e))
    }

    /// Removes a folder and everything in it; `false` if it did not exist. The folder itself must
    /// not be a link; std's `remove_dir_all` does not follow links inside it.
    pub(crate) fn remove_dir_all(&self, node_dir: &str) -> Result<bool, ApplyError> {
        match self.examine(node_dir)? {
            None => Ok(false),
            Some(meta) if meta.is_dir() => {
                let path = self.path(node_dir);
                match fs::remove_dir_all(&path) {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(ApplyError::io(path, e)),
                }
            }
            Some(_) => Err(ApplyError::NotAFolder {
                path: self.path(node_dir),
            }),
        }
    }
}
