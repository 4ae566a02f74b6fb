//! Merging the registry part into a containerd config.toml, as Deckhouse's toml-merge does.
//!
//! containerd 1.x loads an `imports` file by replacing each top-level plugin table it names, so
//! importing `deckhouse.d/registry.toml` (which has `plugins."io.containerd.grpc.v1.cri"`) drops
//! the main file's `sandbox_image`, runtimes and everything else in that table. On 1.x the part
//! is therefore merged into the main file instead: tables are merged key by key, PART's values
//! win, every other key of MAIN stays, and MAIN's comments, formatting and order are kept
//! (`toml_edit`). containerd 2.x merges imported plugin tables itself, so `imports` is enough
//! there, and the merge gives the same result.

use toml_edit::{DocumentMut, Item, TableLike};

/// Why two configurations cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// MAIN is not TOML.
    #[error("main config: {0}")]
    Main(String),
    /// PART is not TOML.
    #[error("part: {0}")]
    Part(String),
    /// The two files are written for different config versions (containerd generations).
    #[error(
        "main config is version {main} and the part is version {part}: render the part for the \
         containerd that reads the main config"
    )]
    VersionMismatch {
        /// MAIN's `version` (1 when absent, as containerd reads it).
        main: i64,
        /// PART's `version`.
        part: i64,
    },
}

/// `part` merged into `main`: PART's keys win, every other key of MAIN is kept, MAIN's comments
/// and order are preserved; tables new to MAIN come after their parent's existing content.
///
/// ```
/// use registry_core::containerd::merge_config;
/// let main = "version = 2\n# the pause image\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"pause:3.9\"\n";
/// let part = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/registry.d\"\n";
/// let merged = merge_config(main, part).unwrap();
/// assert!(merged.contains("# the pause image"));
/// assert!(merged.contains("sandbox_image = \"pause:3.9\""));
/// assert!(merged.contains("config_path = \"/etc/containerd/registry.d\""));
/// ```
///
/// # Errors
/// [`MergeError::Main`] or [`MergeError::Part`] when a file is not TOML (with the line), and
/// [`MergeError::VersionMismatch`] when their `version`s differ.
pub fn merge_config(main: &str, part: &str) -> Result<String, MergeError> {
    let mut main_doc: DocumentMut = main.parse().map_err(|e| MergeError::Main(message(&e)))?;
    let part_doc: DocumentMut = part.parse().map_err(|e| MergeError::Part(message(&e)))?;
    let (main_version, part_version) = (version(&main_doc), version(&part_doc));
    if main_version != part_version {
        return Err(MergeError::VersionMismatch {
            main: main_version,
            part: part_version,
        });
    }
    for (key, item) in part_doc.iter() {
        if key != "version" {
            merge_item(main_doc.as_table_mut(), key, item);
        }
    }
    Ok(main_doc.to_string())
}

/// A TOML error on one line (toml_edit's message spans several, with a source excerpt).
fn message(e: &toml_edit::TomlError) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|') && !l.starts_with('^'))
        .collect::<Vec<_>>()
        .join(": ")
}

/// The config `version`, 1 when absent (containerd reads an unversioned file as version 1).
fn version(doc: &DocumentMut) -> i64 {
    doc.get("version").and_then(Item::as_integer).unwrap_or(1)
}

/// Merges PART's `key = item` into `main`: tables key by key, anything else replaced.
fn merge_item(main: &mut dyn TableLike, key: &str, item: &Item) {
    if let (Some(existing), Some(part_table)) = (main.get_mut(key), item.as_table_like())
        && let Some(main_table) = existing.as_table_like_mut()
    {
        for (k, v) in part_table.iter() {
            merge_item(main_table, k, v);
        }
        return;
    }
    let mut value = item.clone();
    unplace(&mut value);
    match (main.get_mut(key), value) {
        // Keep MAIN's formatting around the value it replaces.
        (Some(Item::Value(old)), Item::Value(mut new)) => {
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        (Some(slot), value) => *slot = value,
        (None, value) => {
            main.insert(key, value);
        }
    }
}

/// Forgets PART's table positions, so new tables go after their parent in MAIN.
fn unplace(item: &mut Item) {
    match item {
        Item::Table(t) => {
            t.set_position(None);
            for (_, child) in t.iter_mut() {
                unplace(child);
            }
        }
        Item::ArrayOfTables(a) => {
            for t in a.iter_mut() {
                t.set_position(None);
                for (_, child) in t.iter_mut() {
                    unplace(child);
                }
            }
        }
        Item::None | Item::Value(_) => {}
    }
}
