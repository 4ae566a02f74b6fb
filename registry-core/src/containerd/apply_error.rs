//! Why [`super::apply`] stopped: a refusal of its input (a set it will not write, a root it will
//! not write under, a link on the way), decided before that path is touched, or an I/O failure
//! naming the path.

use std::io;
use std::path::PathBuf;

use crate::settings::AddressError;

/// Why applying a rendered set failed. Every variant names the path it is about.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The root is an empty path, which would put every node path under the current directory.
    #[error(
        "apply: the root is an empty path; name the folder to write under (\"/\" for the node \
         itself)"
    )]
    EmptyRoot,
    /// The set's `configPath` is not absolute and normalised, or not in `/etc/containerd/`.
    #[error("refused: config path {path:?} {reason}")]
    ConfigPath {
        /// The config path of the set.
        path: String,
        /// Why it is refused, as a sentence fragment.
        reason: String,
    },
    /// A host folder of the set is not a `host[:port]` name.
    #[error("refused: host folder {name:?} is not a host[:port] folder name: {reason}")]
    HostDir {
        /// The folder name.
        name: String,
        /// What is wrong with it.
        reason: AddressError,
    },
    /// A file of the set is not at a path the renderer writes.
    #[error("refused: file path {path:?} {reason}")]
    FilePath {
        /// The node path of the file.
        path: String,
        /// Why it is refused, as a sentence fragment.
        reason: String,
    },
    /// The set names the same file twice.
    #[error("refused: file path {path:?} appears twice in the set")]
    DuplicateFile {
        /// The node path named twice.
        path: String,
    },
    /// A component of a path to touch under the root is a symbolic link.
    #[error(
        "{}: is a symbolic link; apply never follows links under the root {}",
        path.display(),
        root.display()
    )]
    SymbolicLink {
        /// The link.
        path: PathBuf,
        /// The root apply writes under.
        root: PathBuf,
    },
    /// A file to read or replace exists and is not a regular file.
    #[error("{}: exists and is not a regular file", path.display())]
    NotAFile {
        /// The path under the root.
        path: PathBuf,
    },
    /// A component that must be a folder is something else.
    #[error("{}: is not a folder", path.display())]
    NotAFolder {
        /// The path under the root.
        path: PathBuf,
    },
    /// Reading, writing or removing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path under the root.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

impl ApplyError {
    /// Whether apply refused its input (the set, the root, a link under it) rather than failed
    /// at I/O; a refused path was not touched.
    pub fn is_refusal(&self) -> bool {
        match self {
            ApplyError::EmptyRoot
            | ApplyError::ConfigPath { .. }
            | ApplyError::HostDir { .. }
            | ApplyError::FilePath { .. }
            | ApplyError::DuplicateFile { .. }
            | ApplyError::SymbolicLink { .. }
            | ApplyError::NotAFile { .. } => true,
            ApplyError::NotAFolder { .. } | ApplyError::Io { .. } => false,
        }
    }

    /// An I/O error about `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        ApplyError::Io {
            path: path.into(),
            source,
        }
    }
}
