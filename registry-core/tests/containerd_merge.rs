//! Merging the rendered config.toml part into a node's main config.toml (containerd 1.x, where
//! `imports` would replace the whole CRI plugin table): PART's keys win, every other key of MAIN
//! stays, MAIN's comments and order stay. Results are checked against an independent deep merge
//! over parsed tables, and MAIN's comment and key lines are checked to survive in order.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use registry_core::containerd::{
    CONFIG_PART, ContainerdMajor, MergeError, RenderOptions, merge_config, node_config, render,
};
use registry_core::facts::ClusterFacts;
use registry_core::settings::{LoadOptions, load};
use serde_json::json;
use toml::{Table, Value};

/// A containerd 1.x main config as Deckhouse writes it: comments, the pause image, runtimes,
/// and an old registry setting the part must replace.
const MAIN_V1: &str = r#"# Managed by bashible.
version = 2
oom_score = -999

[debug]
  level = "info" # keep quiet

[plugins]
  # The CRI plugin: everything the kubelet needs.
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.example/pause:3.9"
    max_concurrent_downloads = 3
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = true
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "/etc/containerd/certs.d" # the old hosts directory
    [plugins."io.containerd.grpc.v1.cri".registry.mirrors."other.io"]
      endpoint = ["https://mirror.other.io"]

# Trailing notes stay too.
[metrics]
  address = "127.0.0.1:1338"
"#;

fn part(major: ContainerdMajor, mode: serde_json::Value) -> String {
    let doc = json!({"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "deckhouse"},
        "spec": {"settings": {"registry": mode}}});
    let s = load(&serde_json::to_vec(&doc).unwrap(), &LoadOptions::default()).unwrap();
    let r = render(
        &node_config(&s, None, &ClusterFacts::default()).unwrap(),
        &RenderOptions::new(major),
    )
    .unwrap();
    r.files
        .into_iter()
        .find(|f| f.path == CONFIG_PART)
        .unwrap()
        .contents
}

fn unmanaged_part() -> String {
    part(
        ContainerdMajor::V1,
        json!({"mode": "Unmanaged", "unmanaged": {"imagesRepo": "r.example.com/x"}}),
    )
}

/// The oracle: PART's tables merged into MAIN's key by key, anything else replaced.
fn deep_merge(main: &mut Table, part: &Table) {
    for (k, v) in part {
        match (main.get_mut(k), v) {
            (Some(Value::Table(m)), Value::Table(p)) => deep_merge(m, p),
            _ => {
                main.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The comment lines and the `key =` / `[table]` lines of a file, in order, trimmed.
fn skeleton(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(" = ") {
            Some((key, _)) if !l.starts_with('#') => format!("{key} ="),
            _ => l.to_owned(),
        })
        .collect()
}

fn is_subsequence(small: &[String], big: &[String]) -> bool {
    let mut it = big.iter();
    small.iter().all(|s| it.any(|b| b == s))
}

#[test]
fn the_part_is_merged_into_the_cri_table_and_everything_else_stays() {
    let part = unmanaged_part();
    let merged = merge_config(MAIN_V1, &part).unwrap();
    let got: Table = merged.parse().unwrap();
    let mut want: Table = MAIN_V1.parse().unwrap();
    deep_merge(&mut want, &part.parse().unwrap());
    assert_eq!(got, want, "{merged}");
    let cri = &got["plugins"]["io.containerd.grpc.v1.cri"];
    // What containerd 1.x `imports` would have lost.
    assert_eq!(
        cri["sandbox_image"].as_str(),
        Some("registry.example/pause:3.9")
    );
    assert_eq!(
        cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"].as_bool(),
        Some(true)
    );
    // PART wins where both have a key; MAIN's other registry keys stay.
    assert_eq!(
        cri["registry"]["config_path"].as_str(),
        Some("/etc/containerd/registry.d")
    );
    assert!(cri["registry"]["mirrors"].get("other.io").is_some());
    // Every comment and every key line of MAIN survives, in MAIN's order, and the value PART
    // replaced keeps MAIN's trailing comment.
    let main_lines: Vec<String> = skeleton(MAIN_V1)
        .into_iter()
        .filter(|l| !l.starts_with("config_path"))
        .collect();
    assert!(is_subsequence(&main_lines, &skeleton(&merged)), "{merged}");
    assert!(
        merged.contains("config_path = \"/etc/containerd/registry.d\" # the old hosts directory"),
        "{merged}"
    );
}

#[test]
fn tables_new_to_main_are_added_and_merging_twice_changes_nothing() {
    let main = "version = 2\n# nothing about registries\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"pause\"\n";
    let part = part(
        ContainerdMajor::V1,
        json!({"mode": "Unmanaged", "unmanaged": {"imagesRepo": "r.example.com/x", "username": "u", "password": "p"}}),
    );
    let once = merge_config(main, &part).unwrap();
    let mut want: Table = main.parse().unwrap();
    deep_merge(&mut want, &part.parse().unwrap());
    assert_eq!(once.parse::<Table>().unwrap(), want);
    assert!(
        once.starts_with("version = 2\n# nothing about registries\n"),
        "{once}"
    );
    assert_eq!(merge_config(&once, &part).unwrap(), once);
}

#[test]
fn a_containerd_2_part_merges_into_a_version_3_main() {
    let main = "version = 3\n[plugins.\"io.containerd.cri.v1.images\"]\n  snapshotter = \"overlayfs\"\n[plugins.\"io.containerd.cri.v1.runtime\"]\n  enable_cdi = true\n";
    let part = part(
        ContainerdMajor::V2,
        json!({"mode": "Unmanaged", "unmanaged": {"imagesRepo": "r.example.com/x"}}),
    );
    let got: Table = merge_config(main, &part).unwrap().parse().unwrap();
    let images = &got["plugins"]["io.containerd.cri.v1.images"];
    assert_eq!(images["snapshotter"].as_str(), Some("overlayfs"));
    assert_eq!(
        images["registry"]["config_path"].as_str(),
        Some("/etc/containerd/registry.d")
    );
    assert_eq!(
        got["plugins"]["io.containerd.cri.v1.runtime"]["enable_cdi"].as_bool(),
        Some(true)
    );
}

#[test]
fn different_config_versions_are_refused() {
    let part = unmanaged_part();
    assert_eq!(
        merge_config("version = 3\n", &part),
        Err(MergeError::VersionMismatch { main: 3, part: 2 })
    );
    // No `version` is version 1 to containerd.
    let err = merge_config("[plugins]\n", &part).unwrap_err();
    assert_eq!(err, MergeError::VersionMismatch { main: 1, part: 2 });
    assert!(err.to_string().contains("version 1") && err.to_string().contains("version 2"));
}

#[test]
fn files_that_are_not_toml_are_named_with_the_line() {
    let part = unmanaged_part();
    let err = merge_config("version = 2\n[plugins\n", &part).unwrap_err();
    assert!(matches!(err, MergeError::Main(_)), "{err:?}");
    assert!(
        err.to_string().starts_with("main config: ") && err.to_string().contains("line 2"),
        "{err}"
    );
    let err = merge_config(MAIN_V1, "version = 2\nx = \n").unwrap_err();
    assert!(matches!(err, MergeError::Part(_)), "{err:?}");
    assert!(err.to_string().contains("line 2"), "{err}");
    assert!(!err.to_string().contains('\n'), "one line: {err}");
}

#[test]
fn part_values_replace_tables_and_arrays_wholesale() {
    let main = "version = 2\n[a]\n  list = [1, 2, 3]\n  [a.t]\n    x = 1\n";
    let part = "version = 2\n[a]\n  list = [9]\n  t = \"scalar now\"\n";
    let got: Table = merge_config(main, part).unwrap().parse().unwrap();
    assert_eq!(got["a"]["list"], Value::Array(vec![Value::Integer(9)]));
    assert_eq!(got["a"]["t"].as_str(), Some("scalar now"));
}
