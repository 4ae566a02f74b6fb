//! containerd configuration for every mode: the node configuration model built from the
//! settings (final phase, or transition phase with the previous settings), the files rendered
//! from it for containerd 1.x and 2.x in the Deckhouse and stock dialects, the preflight scan of
//! a node's own registry sections, the cleanup of host folders written earlier, applying
//! the files to a directory atomically, and merging the config.toml part into a main config.toml.
//!
//! ```
//! use registry_core::containerd::{node_config, render, RenderOptions, ContainerdMajor};
//! use registry_core::settings::{load, LoadOptions};
//! use registry_core::facts::ClusterFacts;
//! let mc = br#"{"apiVersion":"deckhouse.io/v1alpha1","kind":"ModuleConfig","metadata":{"name":"deckhouse"},
//!   "spec":{"settings":{"registry":{"mode":"Direct","direct":{"imagesRepo":"registry.deckhouse.io/deckhouse/ee","license":"L"}}}}}"#;
//! let desired = load(mc, &LoadOptions::default()).unwrap();
//! let config = node_config(&desired, None, &ClusterFacts::default()).unwrap();
//! let files = render(&config, &RenderOptions::new(ContainerdMajor::V2)).unwrap();
//! let hosts = files.files.iter().find(|f| f.path.ends_with("registry.d8-system.svc:5001/hosts.toml")).unwrap();
//! assert!(hosts.contents.contains("[host.\"https://registry.deckhouse.io\"]"));
//! assert!(hosts.contents.contains("replace = \"deckhouse/ee\""));
//! assert_eq!(hosts.mode.bits(), 0o600);
//! ```

mod apply;
mod apply_error;
mod build;
pub(crate) mod confined;
mod merge;
mod model;
mod nginx;
pub(crate) mod node_paths;
mod options;
mod preflight;
mod render;
mod toml;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use apply::{ApplyReport, CleanupPlan, apply, stale_host_dirs};
pub use apply_error::ApplyError;
pub use build::{LOCAL_ENDPOINT, REGISTRY_PORT, node_config};
pub use merge::{MergeError, merge_config};
pub use model::{Mirror, MirrorAuth, NodeConfig, Rewrite};
pub(crate) use model::{go_escape, sha256_hex};
pub use nginx::{NGINX_MODULES_INCLUDE, NGINX_PID, NginxOptions, nginx_conf};
pub use node_paths::check_host_dir;
pub use options::{
    ContainerdMajor, ContainerdVersion, ContainerdVersionError, Dialect, RenderOptions, SwitchCheck,
};
pub use preflight::{PreflightError, PreflightFinding, PreflightReport, UnreadableFile, preflight};
pub use render::{
    CONFIG_PART, HOSTS_STATE, HOSTS_STATE_FILE, LEGACY_CA_DIR, NGINX_CONF, REGISTRY_D, Rendered,
    RenderedFile, render,
};
pub use toml::toml_string;

/// Why node configuration could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The input lacks something the mode needs (module CA, read-only user, masters, a legacy registry).
    #[error("{0}")]
    MissingInput(String),
    /// The render options contradict each other.
    #[error("{0}")]
    InvalidOptions(String),
    /// The requested dialect cannot express this configuration.
    #[error("{0}")]
    Refused(String),
}

/// Unix permission bits of a rendered file, written as octal (`"0644"`) in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileMode(u32);

impl FileMode {
    /// `0644`: readable by everyone.
    pub const PUBLIC: FileMode = FileMode(0o644);
    /// `0640`: readable by the owner's group.
    pub const GROUP_READ: FileMode = FileMode(0o640);
    /// `0600`: credentials, readable by the owner only.
    pub const PRIVATE: FileMode = FileMode(0o600);

    /// [`FileMode::PRIVATE`] for a file holding credentials, [`FileMode::PUBLIC`] otherwise.
    pub fn holding_secrets(secret: bool) -> FileMode {
        if secret {
            FileMode::PRIVATE
        } else {
            FileMode::PUBLIC
        }
    }

    /// The permission bits.
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl fmt::Display for FileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl fmt::Debug for FileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileMode({self})")
    }
}

impl Serialize for FileMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match u32::from_str_radix(&s, 8) {
            Ok(bits) if bits <= 0o7777 => Ok(FileMode(bits)),
            _ => Err(serde::de::Error::custom(format!(
                "{s:?} is not an octal file mode"
            ))),
        }
    }
}
