//! `apply` with hostile input: file paths, host folder names and config paths from a JSON set,
//! entries of the state file on disk, and symbolic links under the root. Every test keeps a
//! sentinel tree beside the root and compares a full snapshot of everything outside the root
//! (and, when the set is refused, of the root too) before and after.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};

use registry_core::containerd::{
    FileMode, HOSTS_STATE, REGISTRY_D, RenderOptions, Rendered, RenderedFile, apply, node_config,
    render,
};
use registry_core::facts::ClusterFacts;
use registry_core::settings::{LoadOptions, load};
use serde_json::json;

const CA: &str = include_str!("fixtures/ca.pem");
const HOST: &str = "a.example.com:8443";

/// A temp folder holding `root/` (what apply is given) and `outside/` with sentinels.
struct Scene {
    _dir: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
    outside: PathBuf,
}

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_path_buf();
        let root = base.join("root");
        let outside = base.join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(outside.join("etc/containerd/registry.d/victim")).unwrap();
        fs::write(outside.join("sentinel"), "keep me\n").unwrap();
        fs::write(outside.join("x"), "outside x\n").unwrap();
        fs::write(outside.join("victim-ca.crt"), "outside CA\n").unwrap();
        fs::write(
            outside.join("etc/containerd/registry.d/victim/hosts.toml"),
            "[host]\n",
        )
        .unwrap();
        fs::write(outside.join("state.json"), "[\"victim\"]\n").unwrap();
        Scene {
            _dir: dir,
            base,
            root,
            outside,
        }
    }

    /// Everything under the temp folder except the root: path → what it is.
    fn outside_snapshot(&self) -> BTreeMap<PathBuf, String> {
        let mut all = snapshot(&self.base);
        all.retain(|p, _| !p.starts_with("root/") && p != Path::new("root"));
        all
    }

    fn root_snapshot(&self) -> BTreeMap<PathBuf, String> {
        snapshot(&self.root)
    }

    fn node(&self, node_path: &str) -> PathBuf {
        self.root.join(node_path.trim_start_matches('/'))
    }
}

/// Every entry below `dir` (links not followed): kind, mode, and contents or link target.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let what = if meta.file_type().is_symlink() {
                format!("link -> {}", fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                format!("dir {mode:o}")
            } else {
                format!("file {mode:o} {:?}", fs::read(&path).unwrap())
            };
            out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), what);
        }
    }
    out
}

/// A real rendered set with a CA file and credentials: Unmanaged over `HOST`.
fn rendered() -> Rendered {
    let doc = json!({"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "deckhouse"},
        "spec": {"settings": {"registry": {"mode": "Unmanaged", "unmanaged": {
            "imagesRepo": format!("{HOST}/x"), "ca": CA, "username": "u", "password": "p"}}}}});
    let settings = load(&serde_json::to_vec(&doc).unwrap(), &LoadOptions::default()).unwrap();
    let config = node_config(&settings, None, &ClusterFacts::default()).unwrap();
    let r = render(&config, &RenderOptions::default()).unwrap();
    assert_eq!(r.host_dirs, [HOST], "the scene assumes one host folder");
    r
}

fn file(path: &str) -> RenderedFile {
    RenderedFile {
        path: path.into(),
        contents: "owned\n".into(),
        mode: FileMode::PUBLIC,
    }
}

/// Applies `set` and expects a refusal naming `named` and `reason`, with nothing changed
/// anywhere, inside the root or out.
fn assert_refused(scene: &Scene, set: &Rendered, named: &str, reason: &str) {
    let outside = scene.outside_snapshot();
    let inside = scene.root_snapshot();
    let err = apply(set, &scene.root).expect_err(named);
    assert!(err.is_refusal(), "{err}");
    let message = err.to_string();
    assert!(message.contains(named), "{named:?} not in: {message}");
    assert!(message.contains(reason), "{reason:?} not in: {message}");
    assert_eq!(
        scene.outside_snapshot(),
        outside,
        "outside the root changed"
    );
    assert_eq!(
        scene.root_snapshot(),
        inside,
        "a refused set wrote under the root"
    );
}

#[test]
fn file_paths_outside_the_renderers_shapes_refuse_the_whole_set() {
    let cases: &[(&str, &str)] = &[
        ("/../x", "'..' segment"),
        ("/../outside/x", "'..' segment"),
        ("/etc/containerd/registry.d/../../../../x", "'..' segment"),
        ("/etc/containerd/registry.d/./x/hosts.toml", "'.' segment"),
        (
            "/etc/containerd//deckhouse.d/registry.toml",
            "empty segment",
        ),
        ("etc/containerd/deckhouse.d/registry.toml", "not absolute"),
        ("", "not absolute"),
        ("/", "root folder"),
        ("/etc/containerd/registry.d/a\0b/hosts.toml", "NUL"),
        ("/etc/passwd", "not a path the renderer writes"),
        (
            "/etc/containerd/config.toml",
            "not a path the renderer writes",
        ),
        (
            "/root/.ssh/authorized_keys",
            "not a path the renderer writes",
        ),
        (
            "/etc/containerd/registry.d/not_a.host/hosts.toml",
            "is in host folder",
        ),
        (
            "/etc/containerd/registry.d/a.example.com:8443/sub/hosts.toml",
            "directly in its host folder",
        ),
        (
            "/opt/deckhouse/share/ca-certificates/run.sh",
            "not a CA file",
        ),
    ];
    for (path, reason) in cases {
        let scene = Scene::new();
        let mut set = rendered();
        // Valid files come first: a checker that wrote as it went would have written them.
        set.files.push(file(path));
        assert_refused(&scene, &set, &format!("{path:?}"), reason);
    }
}

#[test]
fn a_path_twice_is_refused() {
    let scene = Scene::new();
    let mut set = rendered();
    let first = set.files[0].clone();
    set.files.push(RenderedFile {
        contents: "other".into(),
        ..first.clone()
    });
    assert_refused(&scene, &set, &format!("{:?}", first.path), "appears twice");
}

#[test]
fn hostile_host_folder_names_in_the_set_are_refused() {
    for name in [
        "..",
        ".",
        "",
        "../../../../outside",
        "a/b",
        "a\0",
        "not a host",
    ] {
        let scene = Scene::new();
        let mut set = rendered();
        set.host_dirs.push(name.into());
        assert_refused(&scene, &set, &format!("{name:?}"), "not a host[:port]");
    }
}

#[test]
fn a_host_folder_up_the_tree_cannot_delete_ca_files_outside() {
    // Before the check, CA cleanup listed `registry.d/../../../..` and deleted `*-ca.crt` there.
    let scene = Scene::new();
    let mut set = rendered();
    set.host_dirs.push("../../../../../outside".into());
    assert_refused(&scene, &set, "outside", "not a host[:port]");
    assert!(scene.outside.join("victim-ca.crt").exists());
}

#[test]
fn hostile_config_paths_are_refused() {
    // Normal paths outside /etc/containerd/: a host folder named `logrotate.d` under `/etc`
    // would put a hosts.toml where logrotate runs it as root.
    for config_path in ["/etc", "/var/lib", "/etc/containerd", "/etc/containerdx"] {
        let scene = Scene::new();
        let mut set = rendered();
        set.config_path = config_path.into();
        set.host_dirs.push("logrotate.d".into());
        set.files
            .push(file(&format!("{config_path}/logrotate.d/hosts.toml")));
        assert_refused(
            &scene,
            &set,
            &format!("{config_path:?}"),
            "/etc/containerd/",
        );
    }
    for config_path in [
        "/etc/containerd/../../outside",
        "/etc/containerd/registry.d/",
        "relative",
        "/",
        "",
    ] {
        let scene = Scene::new();
        let mut set = rendered();
        set.config_path = config_path.into();
        assert_refused(&scene, &set, &format!("{config_path:?}"), "config path");
    }
}

#[test]
fn bad_state_file_entries_are_reported_and_never_removed() {
    let scene = Scene::new();
    let set = rendered();
    let hosts = scene.node(REGISTRY_D);
    // Folders a bad entry could name inside the root: all must survive.
    for d in ["not a host", "...", "x_y", "stale.example"] {
        fs::create_dir_all(hosts.join(d)).unwrap();
        fs::write(hosts.join(d).join("hosts.toml"), "[host]\n").unwrap();
    }
    let entries = [
        "../../../../outside/etc/containerd/registry.d/victim",
        "..",
        ".",
        "",
        "a/b",
        "not a host",
        "...",
        "x_y",
        "stale.example",
    ];
    fs::write(
        scene.node(HOSTS_STATE),
        serde_json::to_string(&entries).unwrap(),
    )
    .unwrap();
    let outside = scene.outside_snapshot();
    let report = apply(&set, &scene.root).unwrap();
    assert_eq!(scene.outside_snapshot(), outside);
    // The one valid stale name is removed; every bad one is named in a warning and left alone.
    assert_eq!(report.removed, [format!("{REGISTRY_D}/stale.example")]);
    for bad in &entries[..entries.len() - 1] {
        let quoted = format!("{bad:?}");
        assert_eq!(
            report
                .warnings
                .iter()
                .filter(|w| w.contains(&format!("lists {quoted},")))
                .count(),
            1,
            "{bad:?}: {:?}",
            report.warnings
        );
    }
    assert_eq!(report.warnings.len(), entries.len() - 1);
    for d in ["not a host", "...", "x_y"] {
        assert!(hosts.join(d).join("hosts.toml").exists(), "{d} was removed");
    }
    assert!(!hosts.join("stale.example").exists());
}

#[test]
fn a_damaged_state_file_removes_nothing_and_says_so() {
    let scene = Scene::new();
    fs::create_dir_all(scene.node(REGISTRY_D)).unwrap();
    fs::write(scene.node(HOSTS_STATE), "[1, \"a\"").unwrap();
    let report = apply(&rendered(), &scene.root).unwrap();
    assert!(report.removed.is_empty());
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains(HOSTS_STATE),
        "{:?}",
        report.warnings
    );
}

/// Links under the root that point outside, each of which apply must refuse to go through.
#[test]
fn symlinks_under_the_root_are_never_followed() {
    type Plant = fn(&Scene);
    let cases: &[(&str, &str, Plant)] = &[
        ("etc/containerd as a link", "/etc/containerd", |s| {
            fs::create_dir_all(s.root.join("etc")).unwrap();
            symlink(
                s.outside.join("etc/containerd"),
                s.root.join("etc/containerd"),
            )
            .unwrap();
        }),
        ("etc as a link", "/etc", |s| {
            symlink(s.outside.join("etc"), s.root.join("etc")).unwrap();
        }),
        ("the host folder as a link", HOST, |s| {
            fs::create_dir_all(s.node(REGISTRY_D)).unwrap();
            symlink(
                s.outside.join("etc/containerd/registry.d/victim"),
                s.node(REGISTRY_D).join(HOST),
            )
            .unwrap();
        }),
        ("hosts.toml as a link", "hosts.toml", |s| {
            fs::create_dir_all(s.node(REGISTRY_D).join(HOST)).unwrap();
            symlink(
                s.outside.join("sentinel"),
                s.node(REGISTRY_D).join(HOST).join("hosts.toml"),
            )
            .unwrap();
        }),
        (
            "the state file as a link",
            "deckhouse_hosts_state.json",
            |s| {
                fs::create_dir_all(s.node(REGISTRY_D)).unwrap();
                symlink(s.outside.join("state.json"), s.node(HOSTS_STATE)).unwrap();
            },
        ),
        ("a stale host folder as a link", "victim", |s| {
            fs::create_dir_all(s.node(REGISTRY_D)).unwrap();
            fs::write(s.node(HOSTS_STATE), "[\"victim\"]").unwrap();
            symlink(
                s.outside.join("etc/containerd/registry.d/victim"),
                s.node(REGISTRY_D).join("victim"),
            )
            .unwrap();
        }),
    ];
    for (what, named, plant) in cases {
        let scene = Scene::new();
        plant(&scene);
        let outside = scene.outside_snapshot();
        let inside = scene.root_snapshot();
        let err = apply(&rendered(), &scene.root).expect_err(what);
        assert!(err.is_refusal(), "{what}: {err}");
        let message = err.to_string();
        assert!(
            message.contains("symbolic link") && message.contains(named),
            "{what}: {message}"
        );
        assert_eq!(scene.outside_snapshot(), outside, "{what}: outside changed");
        assert_eq!(scene.root_snapshot(), inside, "{what}: root changed");
    }
}

#[test]
fn a_clean_apply_changes_nothing_outside_the_root() {
    let scene = Scene::new();
    let outside = scene.outside_snapshot();
    let set = rendered();
    let report = apply(&set, &scene.root).unwrap();
    assert_eq!(report.changed.len(), set.files.len());
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(scene.outside_snapshot(), outside);
    for f in &set.files {
        assert_eq!(fs::read_to_string(scene.node(&f.path)).unwrap(), f.contents);
    }
}

#[test]
fn a_set_from_hostile_json_is_refused() {
    // The shape the bindings and a node agent receive.
    let scene = Scene::new();
    let set: Rendered = serde_json::from_value(json!({
        "version": "v", "configPath": REGISTRY_D, "hostDirs": [],
        "files": [{"path": "/etc/containerd/registry.d/../../../../x", "contents": "owned", "mode": "0644"}],
        "warnings": []
    }))
    .unwrap();
    assert_refused(&scene, &set, "../../../../x", "'..' segment");
    assert_eq!(
        fs::read_to_string(scene.outside.join("x")).unwrap(),
        "outside x\n"
    );
}

#[test]
fn a_missing_root_is_made_and_a_refused_set_makes_none() {
    let scene = Scene::new();
    let root = scene.root.join("new/node");
    let mut bad = rendered();
    bad.files.push(file("/../x"));
    assert!(apply(&bad, &root).is_err());
    assert!(
        !scene.root.join("new").exists(),
        "a refused set created the root"
    );
    let set = rendered();
    let report = apply(&set, &root).unwrap();
    assert_eq!(report.changed.len(), set.files.len());
}

/// Path segments a hostile set is made of: the renderer's own, the traversal ones, and junk.
const SEGMENTS: &[&str] = &[
    "..",
    ".",
    "",
    "etc",
    "containerd",
    "registry.d",
    "deckhouse.d",
    "registry.toml",
    "a.example.com:8443",
    "hosts.toml",
    "x-ca.crt",
    "outside",
    "sentinel",
    "opt",
    "deckhouse",
    "share",
    "ca-certificates",
];

fn hostile_path() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    (
        any::<bool>(),
        proptest::collection::vec(proptest::sample::select(SEGMENTS), 0..9),
    )
        .prop_map(|(absolute, segs)| {
            let joined = segs.join("/");
            if absolute {
                format!("/{joined}")
            } else {
                joined
            }
        })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

    /// Whatever paths, host folders and config path a set names, nothing outside the root
    /// changes, and a refused set changes nothing inside it either.
    #[test]
    fn no_set_changes_anything_outside_the_root(
        paths in proptest::collection::vec(hostile_path(), 1..4),
        host_dirs in proptest::collection::vec(proptest::sample::select(SEGMENTS), 0..3),
        config_path in proptest::prop_oneof![
            proptest::strategy::Just(REGISTRY_D.to_owned()),
            hostile_path(),
        ],
    ) {
        let scene = Scene::new();
        let mut set = rendered();
        set.config_path = config_path;
        set.host_dirs.extend(host_dirs.iter().map(|d| (*d).to_owned()));
        set.files.extend(paths.iter().map(|p| file(p)));
        let outside = scene.outside_snapshot();
        let inside = scene.root_snapshot();
        let result = apply(&set, &scene.root);
        proptest::prop_assert_eq!(scene.outside_snapshot(), outside);
        if result.is_err() {
            proptest::prop_assert_eq!(scene.root_snapshot(), inside);
        }
    }
}
