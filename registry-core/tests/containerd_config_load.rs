//! The rendered config.toml part, imported or merged, loaded by containerd's own config loader:
//! `conformance/hostscheck/{v17,v2}/configcheck` (containerd v1.7.35 and v2.4.2) print the
//! plugin tables containerd ends up with and the warnings it logged.
//!
//! What it shows: on 1.7 `imports` replaces the main file's whole CRI table (the reason
//! [`merge_config`] exists) and the merged file keeps it; on 2.4 imports merge; the part for
//! 2.3+ (`version = 4`) loads without the "Configuration migrated" warning that a version 3
//! file logs.
//!
//! Needs Go (and the Go module proxy, or a warm module cache) to build the harness.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use registry_core::containerd::{
    CONFIG_PART, ContainerdVersion, REGISTRY_D, RenderOptions, merge_config, node_config, render,
};
use registry_core::facts::ClusterFacts;
use registry_core::settings::{LoadOptions, load};
use serde_json::{Value, json};

/// Builds one configcheck binary once per test run.
fn configcheck(module: &str) -> &'static Path {
    static V2: OnceLock<PathBuf> = OnceLock::new();
    static V17: OnceLock<PathBuf> = OnceLock::new();
    let cell = if module == "v2" { &V2 } else { &V17 };
    cell.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../conformance/hostscheck")
            .join(module);
        let out = std::env::temp_dir().join(format!(
            "deckhouse-registry-configcheck-{module}-{}",
            std::process::id()
        ));
        let status = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg("./configcheck")
            .current_dir(&dir)
            .status()
            .unwrap_or_else(|e| panic!("these tests need Go to build {}: {e}", dir.display()));
        assert!(status.success(), "go build in {} failed", dir.display());
        out
    })
}

/// What containerd's loader made of `config` (with its imports).
fn loaded(module: &str, config: &Path) -> Value {
    let out = Command::new(configcheck(module))
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "containerd ({module}) refused {}: {}",
        config.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The config part rendered for a containerd release line (Unmanaged over one registry).
fn part(line: &str) -> String {
    let doc = json!({"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "deckhouse"},
        "spec": {"settings": {"registry": {"mode": "Unmanaged", "unmanaged": {"imagesRepo": "r.example.com/x"}}}}});
    let settings = load(&serde_json::to_vec(&doc).unwrap(), &LoadOptions::default()).unwrap();
    let version: ContainerdVersion = line.parse().unwrap();
    let options = RenderOptions {
        version,
        ..RenderOptions::new(version.generation())
    };
    let r = render(
        &node_config(&settings, None, &ClusterFacts::default()).unwrap(),
        &options,
    )
    .unwrap();
    r.files
        .into_iter()
        .find(|f| f.path == CONFIG_PART)
        .unwrap()
        .contents
}

const MAIN_V1: &str = r#"# Written by bashible.
version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.example/pause:3.9"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
"#;

#[test]
fn containerd_1_7_imports_lose_the_cri_table_and_the_merged_file_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let part_path = dir.path().join("registry.toml");
    let part = part("1.7");
    std::fs::write(&part_path, &part).unwrap();

    let imported = dir.path().join("imported.toml");
    let imports = format!("imports = [{:?}]\n", part_path.display().to_string());
    std::fs::write(
        &imported,
        MAIN_V1.replace("version = 2\n", &format!("version = 2\n{imports}")),
    )
    .unwrap();
    let cri = &loaded("v17", &imported)["plugins"]["io.containerd.grpc.v1.cri"];
    assert_eq!(cri["registry"]["config_path"], REGISTRY_D);
    assert!(
        cri.get("sandbox_image").is_none() && cri.get("containerd").is_none(),
        "containerd 1.7 kept the main file's CRI table through imports: {cri}"
    );

    let merged = dir.path().join("merged.toml");
    std::fs::write(&merged, merge_config(MAIN_V1, &part).unwrap()).unwrap();
    let doc = loaded("v17", &merged);
    let cri = &doc["plugins"]["io.containerd.grpc.v1.cri"];
    assert_eq!(cri["registry"]["config_path"], REGISTRY_D);
    assert_eq!(cri["sandbox_image"], "registry.example/pause:3.9");
    assert_eq!(
        cri["containerd"]["runtimes"]["runc"]["runtime_type"],
        "io.containerd.runc.v2"
    );
    assert_eq!(doc["version"], 2);
}

#[test]
fn containerd_2_4_reads_the_part_for_its_line_without_migrating() {
    let dir = tempfile::tempdir().unwrap();
    for (line, version, migrated) in [("2.4", 4, false), ("2.3", 4, false), ("2.2", 3, true)] {
        let path = dir.path().join(format!("registry-{line}.toml"));
        std::fs::write(&path, part(line)).unwrap();
        let doc = loaded("v2", &path);
        assert_eq!(
            doc["plugins"]["io.containerd.cri.v1.images"]["registry"]["config_path"], REGISTRY_D,
            "{line}"
        );
        let warnings: Vec<&str> = doc["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let said_migrated = warnings
            .iter()
            .any(|w| w.contains(&format!("Configuration migrated from version {version}")));
        assert_eq!(said_migrated, migrated, "part for {line}: {warnings:?}");
        if !migrated {
            assert!(warnings.is_empty(), "part for {line}: {warnings:?}");
        }
    }
}

#[test]
fn containerd_2_4_imports_merge_and_the_merged_file_matches() {
    let dir = tempfile::tempdir().unwrap();
    let part = part("2.4");
    let part_path = dir.path().join("registry.toml");
    std::fs::write(&part_path, &part).unwrap();
    let main =
        "version = 4\n[plugins.\"io.containerd.cri.v1.images\"]\n  snapshotter = \"overlayfs\"\n";
    let imported = dir.path().join("imported.toml");
    let imports = format!("imports = [{:?}]\n", part_path.display().to_string());
    std::fs::write(
        &imported,
        main.replace("version = 4\n", &format!("version = 4\n{imports}")),
    )
    .unwrap();
    let merged = dir.path().join("merged.toml");
    std::fs::write(&merged, merge_config(main, &part).unwrap()).unwrap();
    for path in [&imported, &merged] {
        let doc = loaded("v2", path);
        let images = &doc["plugins"]["io.containerd.cri.v1.images"];
        assert_eq!(images["snapshotter"], "overlayfs", "{}", path.display());
        assert_eq!(
            images["registry"]["config_path"],
            REGISTRY_D,
            "{}",
            path.display()
        );
        assert_eq!(doc["warnings"], json!([]), "{}", path.display());
    }
}
