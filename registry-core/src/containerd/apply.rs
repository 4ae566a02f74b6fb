//! Applying rendered files to a directory (a node's root, or a staging folder): write only what
//! changed, each file atomically (temp file, fsync, rename, fsync the folder), then remove the
//! host folders the module wrote last time and no longer needs. Folders the user made are never
//! touched: only names listed in `deckhouse_hosts_state.json` are candidates.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::render::{CONFIG_PART, HOSTS_STATE_FILE, Rendered};

/// Which host folders to remove.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupPlan {
    /// Folders the module wrote before and does not write now.
    pub remove: Vec<String>,
    /// Names in the old list that are not plain folder names (never removed).
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
        if !is_plain_name(name) {
            plan.ignored.push(name.clone());
        } else if !current.contains(name.as_str()) && !plan.remove.contains(name) {
            plan.remove.push(name.clone());
        }
    }
    plan
}

/// A single path component that cannot leave `registry.d`.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    /// Node paths of files written because they were new or different.
    pub changed: Vec<String>,
    /// Node paths removed (stale host folders and stale CA files).
    pub removed: Vec<String>,
    /// Whether containerd must restart: its config.toml part changed (hosts.toml is re-read on
    /// every pull, so changes there need no restart).
    pub restart_containerd: bool,
}

/// Writes `rendered` under `root` (node paths become `root/etc/…`).
///
/// # Errors
/// The first I/O error, naming the path. Files already renamed into place stay (each is
/// complete); the state file is written last, so a retry cleans up what a failed run left.
pub fn apply(rendered: &Rendered, root: &Path) -> io::Result<ApplyReport> {
    refuse_empty_root(root)?;
    let mut report = ApplyReport::default();
    let hosts_dir = rendered.config_path.as_str();
    let state_path = format!("{hosts_dir}/{HOSTS_STATE_FILE}");
    let previous_dirs = read_state(&root_path(root, &state_path));
    let (state, files): (Vec<_>, Vec<_>) =
        rendered.files.iter().partition(|f| f.path == state_path);
    for file in files.iter().chain(state.iter()) {
        let target = root_path(root, &file.path);
        if write_if_changed(&target, file.contents.as_bytes(), file.mode.bits())? {
            report.changed.push(file.path.clone());
        }
    }
    let written: BTreeSet<&str> = rendered.files.iter().map(|f| f.path.as_str()).collect();
    for dir in &rendered.host_dirs {
        remove_stale_ca_files(root, &format!("{hosts_dir}/{dir}"), &written, &mut report)?;
    }
    for dir in stale_host_dirs(&previous_dirs, &rendered.host_dirs).remove {
        let path = root_path(root, &format!("{hosts_dir}/{dir}"));
        match fs::remove_dir_all(&path) {
            Ok(()) => report.removed.push(format!("{hosts_dir}/{dir}")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(with_path(e, &path)),
        }
    }
    report.restart_containerd = report.changed.iter().any(|p| p == CONFIG_PART);
    Ok(report)
}

fn root_path(root: &Path, node_path: &str) -> PathBuf {
    root.join(node_path.trim_start_matches('/'))
}

/// The previous list of host folders; a missing or damaged file means none (nothing removed).
fn read_state(path: &Path) -> Vec<String> {
    fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Removes CA files in a host folder (its node path) that this render did not write.
fn remove_stale_ca_files(
    root: &Path,
    dir: &str,
    written: &BTreeSet<&str>,
    report: &mut ApplyReport,
) -> io::Result<()> {
    let Ok(entries) = fs::read_dir(root_path(root, dir)) else {
        return Ok(());
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let node_path = format!("{dir}/{name}");
        if name.ends_with("-ca.crt") && !written.contains(node_path.as_str()) {
            fs::remove_file(entry.path()).map_err(|e| with_path(e, &entry.path()))?;
            report.removed.push(node_path);
        }
    }
    Ok(())
}

/// Writes atomically unless the file already has these bytes and this mode.
fn write_if_changed(target: &Path, contents: &[u8], mode: u32) -> io::Result<bool> {
    if let (Ok(existing), Ok(meta)) = (fs::read(target), fs::metadata(target))
        && existing == contents
        && meta.permissions().mode() & 0o7777 == mode
    {
        return Ok(false);
    }
    let dir = target
        .parent()
        .ok_or_else(|| io::Error::other(format!("{} has no parent folder", target.display())))?;
    fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode_0600()
            .open(&temp)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temp, target)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map(|()| true).map_err(|e| with_path(e, target))
}

/// Opens new files owner-only, so a secret is never readable by others even for a moment.
trait OwnerOnly {
    fn mode_0600(&mut self) -> &mut Self;
}

impl OwnerOnly for fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// An empty root would put every node path under the current directory: refused, so a caller
/// that lost its root value never writes into wherever the process happens to run.
fn refuse_empty_root(root: &Path) -> io::Result<()> {
    if root.as_os_str().is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "apply: the root is an empty path; name the folder to write under (\"/\" for the node itself)",
        ));
    }
    Ok(())
}
