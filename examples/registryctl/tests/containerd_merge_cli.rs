//! `registryctl containerd merge MAIN PART [-o OUT]`: the merged file on stdout or written
//! atomically, and the exit codes of the command-line contract.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

mod common;

use common::run;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

const MAIN: &str = "# node config\nversion = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"pause:3.9\" # pinned\n";
const PART: &str = "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/registry.d\"\n";

fn files(dir: &Path) -> (String, String) {
    let (main, part) = (dir.join("config.toml"), dir.join("registry.toml"));
    fs::write(&main, MAIN).unwrap();
    fs::write(&part, PART).unwrap();
    (main.display().to_string(), part.display().to_string())
}

fn check_merged(text: &str) {
    let t: toml::Table = text.parse().unwrap();
    let cri = &t["plugins"]["io.containerd.grpc.v1.cri"];
    assert_eq!(cri["sandbox_image"].as_str(), Some("pause:3.9"));
    assert_eq!(
        cri["registry"]["config_path"].as_str(),
        Some("/etc/containerd/registry.d")
    );
    assert!(
        text.starts_with("# node config\n") && text.contains("# pinned"),
        "{text}"
    );
}

#[test]
fn merge_prints_to_stdout_or_replaces_the_output_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let (main, part) = files(dir.path());
    let out = run(&["containerd", "merge", &main, &part]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_merged(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(
        fs::read_to_string(&main).unwrap(),
        MAIN,
        "MAIN untouched without -o"
    );

    // MAIN itself as the output: replaced, keeping its mode, no temp file left.
    fs::set_permissions(&main, fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(&["containerd", "merge", &main, &part, "-o", &main]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    check_merged(&fs::read_to_string(&main).unwrap());
    assert_eq!(
        fs::metadata(&main).unwrap().permissions().mode() & 0o777,
        0o640
    );
    // A new output is owner-only (the part may hold credentials).
    let new = dir.path().join("new.toml");
    let out = run(&[
        "containerd",
        "merge",
        &main,
        &part,
        "--output",
        new.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        fs::metadata(&new).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
}

#[test]
fn merge_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (main, part) = files(dir.path());
    let v3 = dir.path().join("v3.toml");
    fs::write(&v3, "version = 3\n").unwrap();
    let out = run(&["containerd", "merge", v3.to_str().unwrap(), &part]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("version 3") && err.contains("version 2"),
        "{err}"
    );

    let broken = dir.path().join("broken.toml");
    fs::write(&broken, "version = 2\n[plugins\n").unwrap();
    for (args, named) in [
        (
            vec![broken.to_str().unwrap(), part.as_str()],
            broken.to_str().unwrap(),
        ),
        (
            vec![main.as_str(), broken.to_str().unwrap()],
            broken.to_str().unwrap(),
        ),
        (
            vec![main.as_str(), "/nonexistent/part.toml"],
            "/nonexistent/part.toml",
        ),
    ] {
        let mut all = vec!["containerd", "merge"];
        all.extend(args);
        let out = run(&all);
        assert_eq!(out.status.code(), Some(2), "{all:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("registryctl: ") && err.contains(named),
            "{err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    let out = run(&[
        "containerd",
        "merge",
        &main,
        &part,
        "-o",
        "/nonexistent/dir/out.toml",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(fs::read_to_string(&main).unwrap(), MAIN);
}
