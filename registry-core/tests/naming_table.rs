//! The README's naming table (concept → Rust → C → Go → Python → CLI) matches the code: every C
//! name is declared in the header, every Go name is an exported Go function or type, every Python
//! name is exported by the package, every CLI command is one `registryctl` has.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The table's rows, as cells, from the line after its header to the first line that is not a row.
fn table() -> Vec<Vec<String>> {
    let readme = read("README.md");
    let mut rows = Vec::new();
    let mut inside = false;
    for line in readme.lines() {
        if line.starts_with("| concept | Rust | C | Go | Python | CLI |") {
            inside = true;
            continue;
        }
        if !inside || line.starts_with("|---") {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        rows.push(
            line.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect(),
        );
    }
    assert!(
        rows.len() > 10,
        "the naming table was not found in README.md"
    );
    rows
}

/// What a cell names in backticks.
fn quoted(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The identifiers in backticks in a cell, each up to its first space or `(`, without a leading
/// `*`; a name ending in `…` is a family (`Err…`) and is skipped.
fn names(cell: &str) -> Vec<String> {
    quoted(cell)
        .iter()
        .map(|n| {
            n.split([' ', '('])
                .next()
                .unwrap_or_default()
                .trim_start_matches('*')
                .to_owned()
        })
        .filter(|n| !n.is_empty() && !n.ends_with('…'))
        .collect()
}

#[test]
fn every_c_name_is_in_the_header() {
    let header = read("bindings/c/include/deckhouse_registry.h");
    for row in table() {
        for name in names(&row[2]).into_iter().filter(|n| n.starts_with("dr_")) {
            assert!(
                header.contains(&format!("{name}(")) || header.contains(&format!("{name} ")),
                "{}: C name {name} is not in the header",
                row[0]
            );
        }
    }
}

#[test]
fn every_go_name_is_exported_by_the_go_package() {
    let dir = repo().join("bindings/go");
    let mut go = String::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.map(|e| e.path()).unwrap_or_default();
        let name = path.to_string_lossy().into_owned();
        if name.ends_with(".go") && !name.ends_with("_test.go") {
            go.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    for row in table() {
        for name in names(&row[3]) {
            let declared = go.contains(&format!("func {name}("))
                || go.contains(&format!(") {name}("))
                || go.contains(&format!("type {name} "))
                || go.contains(&format!("\t{name} "));
            assert!(declared, "{}: Go name {name} is not declared", row[0]);
        }
    }
}

#[test]
fn every_python_name_is_exported_by_the_package() {
    let init = read("bindings/python/python/deckhouse_registry/__init__.py");
    let api = read("bindings/python/python/deckhouse_registry/_api.py");
    for row in table() {
        for name in names(&row[4]) {
            // A package-level name is in `__all__`; a method is a `def` of the API module.
            assert!(
                init.contains(&format!("\"{name}\"")) || api.contains(&format!("    def {name}(")),
                "{}: Python name {name} is neither exported nor a method",
                row[0]
            );
        }
    }
}

#[test]
fn every_cli_command_is_a_registryctl_command() {
    let main = read("examples/registryctl/src/main.rs");
    let store = read("examples/registryctl/src/store_cmd.rs");
    let containerd = read("examples/registryctl/src/containerd_cmd.rs");
    let variant = |kebab: &str| -> String {
        kebab
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect()
    };
    for row in table() {
        for command in quoted(&row[5]) {
            let words: Vec<&str> = command.split(' ').collect();
            let (source, word) = match words.as_slice() {
                ["store", w, ..] => (&store, *w),
                ["containerd", w, ..] => (&containerd, *w),
                [w, ..] => (&main, *w),
                [] => continue,
            };
            if let Some(flag) = word.strip_prefix("--") {
                assert!(
                    main.contains(flag) || source.contains(&flag.replace('-', "_")),
                    "{}: CLI flag {word} not found",
                    row[0]
                );
                continue;
            }
            let v = variant(word);
            assert!(
                source.contains(&format!("    {v}(")) || source.contains(&format!("    {v} {{")),
                "{}: CLI command {command} ({v}) not found",
                row[0]
            );
        }
    }
}
