//! Preflight: which of a node's own containerd drop-in files hold registry sections. Such a
//! node counts as having custom registry configuration, which blocks the first switch until it
//! is moved to `registry.d` (DOMAIN.md §7.3, §13).

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The drop-in folders: `conf.d` (containerd 1.x) and `conf2.d` (2.x).
const DROP_IN_DIRS: [&str; 2] = ["conf.d", "conf2.d"];
/// The registry tables of the CRI plugin in 1.x and 2.x.
const PLUGINS: [&str; 2] = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images"];

/// A registry section found in a drop-in file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreflightFinding {
    /// The file, relative to the scanned folder (`conf.d/50-mirror.toml`).
    pub file: String,
    /// 1-based line of the section's `registry` key.
    pub line: usize,
    /// The key found (`plugins."io.containerd.grpc.v1.cri".registry`).
    pub key: String,
}

/// A drop-in file that could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnreadableFile {
    /// The file, relative to the scanned folder.
    pub file: String,
    /// Why.
    pub message: String,
}

/// The result of a preflight scan.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreflightReport {
    /// Registry sections found.
    pub findings: Vec<PreflightFinding>,
    /// Files that could not be checked; they count as custom configuration, since containerd
    /// would not merge them either.
    pub unreadable: Vec<UnreadableFile>,
}

impl PreflightReport {
    /// Whether the node has custom registry configuration (or files that could hide some).
    pub fn has_custom_registry_config(&self) -> bool {
        !self.findings.is_empty() || !self.unreadable.is_empty()
    }
}

/// Why a preflight scan could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The folder is an empty path.
    #[error("preflight: the folder is an empty path; name a node's /etc/containerd (or a copy)")]
    EmptyPath,
    /// The folder is missing or cannot be read as a folder.
    #[error("{}: cannot read the folder: {source}", path.display())]
    Unreadable {
        /// The folder.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// Scans a copy of a node's `/etc/containerd` for registry sections in `conf.d/*.toml` and
/// `conf2.d/*.toml`. Missing drop-in folders are fine; unreadable or unparseable files are
/// reported.
///
/// # Errors
/// [`PreflightError`] when `etc_containerd` itself is empty, missing or not a readable folder:
/// a node without it is not "a node without custom configuration", so the scan refuses to
/// guess (the CLI exits 2).
pub fn preflight(etc_containerd: &Path) -> Result<PreflightReport, PreflightError> {
    if etc_containerd.as_os_str().is_empty() {
        return Err(PreflightError::EmptyPath);
    }
    if let Err(source) = std::fs::read_dir(etc_containerd) {
        return Err(PreflightError::Unreadable {
            path: etc_containerd.to_path_buf(),
            source,
        });
    }
    let mut report = PreflightReport::default();
    for dir in DROP_IN_DIRS {
        let Ok(entries) = std::fs::read_dir(etc_containerd.join(dir)) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        names.sort();
        for name in names {
            let rel = format!("{dir}/{name}");
            match std::fs::read_to_string(etc_containerd.join(&rel)) {
                Ok(text) => scan(&rel, &text, &mut report),
                Err(e) => report.unreadable.push(UnreadableFile {
                    file: rel,
                    message: e.to_string(),
                }),
            }
        }
    }
    Ok(report)
}

fn scan(file: &str, text: &str, report: &mut PreflightReport) {
    let doc = match toml_edit::Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let message = e
                .to_string()
                .lines()
                .next()
                .unwrap_or("not valid TOML")
                .to_owned();
            let line = e.span().map(|s| line_of(text, s.start));
            let message = match line {
                Some(l) => format!("not valid TOML at line {l}: {message}"),
                None => format!("not valid TOML: {message}"),
            };
            report.unreadable.push(UnreadableFile {
                file: file.to_owned(),
                message,
            });
            return;
        }
    };
    let Some(plugins) = doc
        .as_table()
        .get("plugins")
        .and_then(|p| p.as_table_like())
    else {
        return;
    };
    for plugin in PLUGINS {
        let Some(table) = plugins.get(plugin).and_then(|t| t.as_table_like()) else {
            continue;
        };
        if table.get("registry").is_some() {
            let offset = table
                .key("registry")
                .and_then(|k| k.span())
                .map_or(0, |s| s.start);
            report.findings.push(PreflightFinding {
                file: file.to_owned(),
                line: line_of(text, offset),
                key: format!("plugins.\"{plugin}\".registry"),
            });
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}
