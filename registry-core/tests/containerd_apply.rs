//! Preflight over a node's drop-in files, cleanup of host folders, and atomic apply.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use registry_core::containerd::{
    ApplyError, CONFIG_PART, ContainerdMajor, HOSTS_STATE, PreflightError, REGISTRY_D,
    RenderOptions, apply, node_config, preflight, render, stale_host_dirs,
};
use registry_core::facts::ClusterFacts;
use registry_core::settings::{AddressError, LoadOptions, RegistrySettings, load};
use serde_json::json;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel.trim_start_matches('/'));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

#[test]
fn preflight_finds_registry_sections_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "conf.d/10-sandbox.toml",
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"pause\"\n",
    );
    write(
        root,
        "conf.d/50-mirror.toml",
        "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n  endpoint = [\"https://m\"]\n",
    );
    write(
        root,
        "conf2.d/20-auth.toml",
        "version = 3\n[plugins]\n  [plugins.\"io.containerd.cri.v1.images\"]\n    [plugins.\"io.containerd.cri.v1.images\".registry]\n      config_path = \"/x\"\n",
    );
    write(root, "conf2.d/30-broken.toml", "version = 3\n[plugins\n");
    write(root, "conf.d/README", "registry = 1\n");
    let report = preflight(root).unwrap();
    let found: Vec<(&str, usize, &str)> = report
        .findings
        .iter()
        .map(|f| (f.file.as_str(), f.line, f.key.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "conf.d/50-mirror.toml",
                3,
                "plugins.\"io.containerd.grpc.v1.cri\".registry"
            ),
            (
                "conf2.d/20-auth.toml",
                4,
                "plugins.\"io.containerd.cri.v1.images\".registry"
            ),
        ]
    );
    assert_eq!(report.unreadable.len(), 1);
    assert_eq!(report.unreadable[0].file, "conf2.d/30-broken.toml");
    assert!(
        report.unreadable[0].message.contains("line 2"),
        "{}",
        report.unreadable[0].message
    );
    assert!(report.has_custom_registry_config());
}

#[test]
fn preflight_of_a_clean_node_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "conf.d/10.toml",
        "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"overlayfs\"\n",
    );
    let report = preflight(dir.path()).unwrap();
    assert!(!report.has_custom_registry_config(), "{report:?}");
    // A folder without drop-in folders is a node without custom configuration.
    let bare = tempfile::tempdir().unwrap();
    assert!(!preflight(bare.path()).unwrap().has_custom_registry_config());
}

/// A missing folder is not "a node without custom configuration": it is an error naming the
/// folder, as `registryctl preflight` exits 2 for it; an empty path too.
#[test]
fn preflight_refuses_a_missing_folder_and_an_empty_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let e = preflight(&missing).unwrap_err();
    assert!(
        matches!(&e, PreflightError::Unreadable { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    assert!(preflight(&file).is_err());
    let e = preflight(Path::new("")).unwrap_err();
    assert!(matches!(e, PreflightError::EmptyPath), "{e:?}");
    assert!(e.to_string().contains("empty path"), "{e}");
}

/// An empty root would mean the current directory: refused before anything is written.
#[test]
fn apply_refuses_an_empty_root() {
    let s = load(
        br#"{"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "deckhouse"},
             "spec": {"settings": {"registry": {"mode": "Direct", "direct": {}}}}}"#,
        &LoadOptions::default(),
    )
    .unwrap();
    let config = node_config(&s, None, &ClusterFacts::default()).unwrap();
    let rendered = render(&config, &RenderOptions::default()).unwrap();
    let e = apply(&rendered, Path::new("")).unwrap_err();
    assert!(e.is_refusal(), "{e:?}");
    assert!(e.to_string().contains("empty path"), "{e}");
}

/// Refusals of the set are told apart from I/O failures by variant, each naming its path.
#[test]
fn apply_errors_say_refused_or_io_and_name_the_path() {
    let direct = rendered(
        &settings(json!({"mode": "Direct", "direct": {}})),
        &RenderOptions::default(),
    );
    let dir = tempfile::tempdir().unwrap();

    let mut twice = direct.clone();
    twice.files.push(direct.files[0].clone());
    let e = apply(&twice, dir.path()).unwrap_err();
    assert!(
        matches!(&e, ApplyError::DuplicateFile { path } if *path == direct.files[0].path),
        "{e:?}"
    );
    assert!(e.is_refusal());

    let mut bad_dir = direct.clone();
    bad_dir.host_dirs.push("a_b".into());
    let e = apply(&bad_dir, dir.path()).unwrap_err();
    assert!(
        matches!(&e, ApplyError::HostDir { name, reason: AddressError::Host(_) } if name == "a_b"),
        "{e:?}"
    );
    assert!(e.is_refusal());

    // A root that is a regular file fails at I/O, under that root, before anything is written.
    let file = dir.path().join("file");
    fs::write(&file, "").unwrap();
    let e = apply(&direct, &file).unwrap_err();
    assert!(
        matches!(&e, ApplyError::Io { path, .. } if path.starts_with(&file)),
        "{e:?}"
    );
    assert!(!e.is_refusal());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn cleanup_removes_only_what_the_module_wrote_before() {
    let plan = stale_host_dirs(
        &[
            "a".into(),
            "b".into(),
            "b".into(),
            "".into(),
            "..".into(),
            "x/y".into(),
        ],
        &["a".into()],
    );
    assert_eq!(plan.remove, ["b"]);
    assert_eq!(plan.ignored, ["", "..", "x/y"]);
}

fn settings(registry: serde_json::Value) -> RegistrySettings {
    let doc = json!({"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "deckhouse"},
        "spec": {"settings": {"registry": registry}}});
    load(&serde_json::to_vec(&doc).unwrap(), &LoadOptions::default()).unwrap()
}

fn rendered(s: &RegistrySettings, options: &RenderOptions) -> registry_core::containerd::Rendered {
    render(
        &node_config(s, None, &ClusterFacts::default()).unwrap(),
        options,
    )
    .unwrap()
}

#[test]
fn apply_writes_only_changes_and_cleans_stale_folders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let node = |p: &str| root.join(p.trim_start_matches('/'));
    write(
        root,
        &format!("{REGISTRY_D}/user-made.example/hosts.toml"),
        "[host]\n",
    );

    let first = settings(
        json!({"mode": "Unmanaged", "unmanaged": {"imagesRepo": "a.example.com/x", "username": "u", "password": "p"}}),
    );
    let r1 = rendered(&first, &RenderOptions::default());
    let report = apply(&r1, root).unwrap();
    assert_eq!(report.changed.len(), r1.files.len());
    assert!(report.restart_containerd);
    let hosts = node(&format!("{REGISTRY_D}/a.example.com/hosts.toml"));
    assert_eq!(
        fs::metadata(&hosts).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::read_to_string(&hosts).unwrap(),
        r1.files
            .iter()
            .find(|f| f.path.ends_with("a.example.com/hosts.toml"))
            .unwrap()
            .contents
    );

    // The same files again: nothing changes, nothing restarts.
    let again = apply(&r1, root).unwrap();
    assert!(
        again.changed.is_empty() && again.removed.is_empty() && !again.restart_containerd,
        "{again:?}"
    );

    // Another registry: the old folder goes, the user's folder stays, config.toml is unchanged.
    let second =
        settings(json!({"mode": "Unmanaged", "unmanaged": {"imagesRepo": "b.example.com/x"}}));
    let report = apply(&rendered(&second, &RenderOptions::default()), root).unwrap();
    assert_eq!(report.removed, [format!("{REGISTRY_D}/a.example.com")]);
    assert!(!node(&format!("{REGISTRY_D}/a.example.com")).exists());
    assert!(node(&format!("{REGISTRY_D}/user-made.example/hosts.toml")).exists());
    assert!(!report.restart_containerd);
    let state: Vec<String> =
        serde_json::from_str(&fs::read_to_string(node(HOSTS_STATE)).unwrap()).unwrap();
    assert_eq!(state, ["b.example.com"]);

    // A new containerd generation rewrites config.toml's part: containerd restarts.
    let report = apply(
        &rendered(&second, &RenderOptions::new(ContainerdMajor::V2)),
        root,
    )
    .unwrap();
    assert_eq!(report.changed, [CONFIG_PART]);
    assert!(report.restart_containerd);
    // No temp files are left behind.
    let leftovers = walk(root)
        .into_iter()
        .filter(|p| p.contains(".tmp-"))
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn apply_fixes_a_changed_mode_and_a_damaged_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let s = settings(
        json!({"mode": "Unmanaged", "unmanaged": {"imagesRepo": "a.example.com/x", "license": "L"}}),
    );
    let r = rendered(&s, &RenderOptions::default());
    apply(&r, root).unwrap();
    let hosts = root.join(format!("{REGISTRY_D}/a.example.com/hosts.toml").trim_start_matches('/'));
    fs::set_permissions(&hosts, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(root.join(HOSTS_STATE.trim_start_matches('/')), "not json").unwrap();
    let report = apply(&r, root).unwrap();
    assert!(
        report
            .changed
            .iter()
            .any(|p| p.ends_with("a.example.com/hosts.toml"))
    );
    assert!(report.removed.is_empty());
    assert_eq!(
        fs::metadata(&hosts).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn apply_reports_the_path_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    // A file where a folder must go.
    fs::write(dir.path().join("etc"), "").unwrap();
    let s = settings(json!({"mode": "Local"}));
    let facts = ClusterFacts {
        module_ca: Some(
            registry_core::settings::CaBundle::parse(include_str!("fixtures/ca.pem")).unwrap(),
        ),
        read_only_user: Some(registry_core::facts::ReadOnlyUser {
            name: "ro".into(),
            password: registry_core::settings::Secret::new("x"),
        }),
        ..ClusterFacts::default()
    };
    let r = render(
        &node_config(&s, None, &facts).unwrap(),
        &RenderOptions::default(),
    )
    .unwrap();
    let err = apply(&r, dir.path()).unwrap_err();
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}
