//! Applying rendered files to a directory (a node's root, or a staging folder): check the whole
//! set, then write only what changed, each file atomically (temp file, fsync, rename, fsync the
//! folder), then remove the host folders the module wrote last time and no longer needs.
//!
//! The set is untrusted input. Before anything is written, every path must be one the renderer
//! produces ([`super::node_paths`]), every host folder name a `host[:port]`, and no component
//! of any path touched may be a symbolic link ([`super::confined`]); otherwise the whole set is
//! refused. Folders the user made are never touched: only valid names listed in
//! `deckhouse_hosts_state.json` are candidates for removal, and a bad name there is reported
//! as a warning and left alone.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ApplyError;
use super::confined::Root;
use super::node_paths::{self, CA_SUFFIX, check_host_dir};
use super::render::{CONFIG_PART, HOSTS_STATE_FILE, Rendered, RenderedFile};

/// Which host folders to remove.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CleanupPlan {
    /// Folders the module wrote before and does not write now.
    pub remove: Vec<String>,
    /// Names in the old list that are not valid host folder names (never removed).
    pub ignored: Vec<String>,
}

/// The host folders to delete: listed in the previous state, not written now.
///
/// ```
/// use registry_core::containerd::stale_host_dirs;
/// let plan = stale_host_dirs(&["a".into(), "b".into(), "../etc".into()], &["b".into()]);
/// assert_eq!(plan.remove, ["a"]);
/// assert_eq!(plan.ignored, ["../etc"]);
/// ```
pub fn stale_host_dirs(previous: &[String], current: &[String]) -> CleanupPlan {
    let current: BTreeSet<&str> = current.iter().map(String::as_str).collect();
    let mut plan = CleanupPlan::default();
    for name in previous {
        if check_host_dir(name).is_err() {
            plan.ignored.push(name.clone());
        } else if !current.contains(name.as_str()) && !plan.remove.contains(name) {
            plan.remove.push(name.clone());
        }
    }
    plan
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    /// Node paths of files written because they were new or different.
    pub changed: Vec<String>,
    /// Node paths removed (stale host folders and stale CA files).
    pub removed: Vec<String>,
    /// Whether containerd must restart: its config.toml part changed (hosts.toml is re-read on
    /// every pull, so changes there need no restart).
    pub restart_containerd: bool,
    /// Things left alone that need a look: entries of the state file that are not valid host
    /// folder names, a state file that cannot be read.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Writes `rendered` under `root` (node paths become `root/etc/…`).
///
/// # Errors
/// A refusal ([`ApplyError::is_refusal`]), before anything is written, when the root is empty,
/// when a path in the set is not one the renderer produces (not absolute and normalised, or outside
/// `/etc/containerd/deckhouse.d/registry.toml`, `/etc/kubernetes/registry-proxy/nginx.conf`,
/// `/opt/deckhouse/share/ca-certificates/` and the set's `configPath`, which must itself be in
/// `/etc/containerd/`), when a host folder name
/// is not `host[:port]`, or when a path to touch under `root` goes through a symbolic link; the
/// message names the path and the reason. Otherwise the first I/O error
/// ([`ApplyError::Io`], [`ApplyError::NotAFolder`]), naming the path. Files
/// already renamed into place stay (each is complete); the state file is written last, so a
/// retry cleans up what a failed run left.
pub fn apply(rendered: &Rendered, root: &Path) -> Result<ApplyReport, ApplyError> {
    refuse_empty_root(root)?;
    check_set(rendered)?;
    let root = Root::new(root);
    let mut report = ApplyReport::default();
    let hosts_dir = rendered.config_path.as_str();
    let state_path = format!("{hosts_dir}/{HOSTS_STATE_FILE}");
    let previous_dirs = read_state(&root, &state_path, &mut report.warnings)?;
    let plan = stale_host_dirs(&previous_dirs, &rendered.host_dirs);
    for name in &plan.ignored {
        report.warnings.push(format!(
            "{state_path} lists {name:?}, which is not a host[:port] folder name; left alone"
        ));
    }
    let stale: Vec<String> = plan
        .remove
        .iter()
        .map(|d| format!("{hosts_dir}/{d}"))
        .collect();
    let host_dirs: Vec<String> = rendered
        .host_dirs
        .iter()
        .map(|d| format!("{hosts_dir}/{d}"))
        .collect();
    // Every path this run touches is examined before the first write.
    for path in rendered
        .files
        .iter()
        .map(|f| &f.path)
        .chain(&host_dirs)
        .chain(&stale)
    {
        root.examine(path)?;
    }
    let (state, files): (Vec<&RenderedFile>, Vec<&RenderedFile>) =
        rendered.files.iter().partition(|f| f.path == state_path);
    for file in files.into_iter().chain(state) {
        if root.write_if_changed(&file.path, file.contents.as_bytes(), file.mode.bits())? {
            report.changed.push(file.path.clone());
        }
    }
    let written: BTreeSet<&str> = rendered.files.iter().map(|f| f.path.as_str()).collect();
    for dir in &host_dirs {
        remove_stale_ca_files(&root, dir, &written, &mut report)?;
    }
    for dir in stale {
        if root.remove_dir_all(&dir)? {
            report.removed.push(dir);
        }
    }
    report.restart_containerd = report.changed.iter().any(|p| p == CONFIG_PART);
    Ok(report)
}

/// Refuses a set with any path the renderer does not produce, a bad host folder name, or one
/// path twice.
fn check_set(rendered: &Rendered) -> Result<(), ApplyError> {
    let config_path = rendered.config_path.as_str();
    node_paths::check_applied_config_path(config_path).map_err(|reason| {
        ApplyError::ConfigPath {
            path: config_path.to_owned(),
            reason,
        }
    })?;
    for dir in &rendered.host_dirs {
        check_host_dir(dir).map_err(|reason| ApplyError::HostDir {
            name: dir.clone(),
            reason,
        })?;
    }
    let mut seen = BTreeSet::new();
    for file in &rendered.files {
        node_paths::check_file_path(&file.path, config_path).map_err(|reason| {
            ApplyError::FilePath {
                path: file.path.clone(),
                reason,
            }
        })?;
        if !seen.insert(file.path.as_str()) {
            return Err(ApplyError::DuplicateFile {
                path: file.path.clone(),
            });
        }
    }
    Ok(())
}

/// The previous list of host folders. A missing file means none; a damaged one means none too
/// (nothing removed), with a warning.
fn read_state(
    root: &Root<'_>,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, ApplyError> {
    let Some(bytes) = root.read(path)? else {
        return Ok(Vec::new());
    };
    match serde_json::from_slice(&bytes) {
        Ok(names) => Ok(names),
        Err(e) => {
            warnings.push(format!(
                "{path} is not a JSON list of folder names ({e}); no host folder removed"
            ));
            Ok(Vec::new())
        }
    }
}

/// Removes CA files in a host folder (its node path) that this render did not write.
fn remove_stale_ca_files(
    root: &Root<'_>,
    dir: &str,
    written: &BTreeSet<&str>,
    report: &mut ApplyReport,
) -> Result<(), ApplyError> {
    for name in root.file_names(dir)? {
        let node_path = format!("{dir}/{name}");
        if name.ends_with(CA_SUFFIX) && !written.contains(node_path.as_str()) {
            root.remove_file(dir, &name)?;
            report.removed.push(node_path);
        }
    }
    Ok(())
}

/// An empty root would put every node path under the current directory: refused, so a caller
/// that lost its root value never writes into wherever the process happens to run.
fn refuse_empty_root(root: &Path) -> Result<(), ApplyError> {
    if root.as_os_str().is_empty() {
        return Err(ApplyError::EmptyRoot);
    }
    Ok(())
}
