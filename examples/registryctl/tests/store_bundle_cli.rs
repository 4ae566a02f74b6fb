//! `registryctl store import` of a `d8 mirror` bundle: tags on stdout, a line per layout and
//! every skipped entry on stderr, tag moves refused (exit 2) unless `--overwrite-tags`, and
//! `--quota`. The bundle is generated here (GNU tar, nested layouts, short_tag annotations).
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

mod common;

use common::{sha256, store};
use std::process::Command;

use serde_json::json;

/// The files of one layout under `prefix` holding one image whose layer is `layer`, tagged
/// `tag` through `io.deckhouse.image.short_tag`. Returns the manifest digest.
fn layout(files: &mut Vec<(String, Vec<u8>)>, prefix: &str, layer: &[u8], tag: &str) -> String {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let d = |b: &[u8], mt: &str| json!({"mediaType": mt, "digest": sha256(b), "size": b.len()});
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": d(config, "application/vnd.oci.image.config.v1+json"),
        "layers": [d(layer, "application/vnd.oci.image.layer.v1.tar+gzip")],
    }))
    .unwrap();
    let mut entry = d(&manifest, "application/vnd.oci.image.manifest.v1+json");
    entry["annotations"] = json!({
        "org.opencontainers.image.ref.name": format!("registry.example/deckhouse/ee:{tag}"),
        "io.deckhouse.image.short_tag": tag,
    });
    for b in [&config[..], layer, &manifest] {
        let hex = sha256(b).trim_start_matches("sha256:").to_owned();
        files.push((format!("{prefix}blobs/sha256/{hex}"), b.to_vec()));
    }
    files.push((
        format!("{prefix}index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [entry]})).unwrap(),
    ));
    files.push((
        format!("{prefix}oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    ));
    sha256(&manifest)
}

fn gnu_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o777);
        h.set_mtime(0);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn a_bundle_folder_imports_and_reports_every_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let bundle = dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let mut files = Vec::new();
    let dh = layout(&mut files, "", b"deckhouse layer", "v1.69.0");
    let inst = layout(&mut files, "install/", b"installer layer", "v1.69.0");
    std::fs::write(bundle.join("platform.tar"), gnu_tar(&files)).unwrap();
    std::fs::write(bundle.join("platform.tar.gostsum"), b"x").unwrap();

    let o = store(&root, &["import", bundle.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "v1.69.0\ninstall:v1.69.0\n"
    );
    assert!(
        err.contains("(root) from platform.tar: 1 image, 1 tag, 0 untagged, 3 blobs"),
        "{err}"
    );
    assert!(
        err.contains("install from platform.tar:install/: 1 image, 1 tag"),
        "{err}"
    );
    assert!(
        err.contains("skipped platform.tar.gostsum: a GOST checksum file"),
        "{err}"
    );

    // `ls --tags` names each tag with its repository, as `completeness` and `export` take it.
    let o = store(&root, &["ls", "--tags"]);
    let listed: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(listed, ["install:v1.69.0", "v1.69.0"]);

    let o = store(&root, &["completeness", "v1.69.0", "install:v1.69.0"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let o = store(&root, &["completeness", "install:v9"]);
    assert_eq!(o.status.code(), Some(1));

    // Another bundle moving install:v1.69.0: refused (exit 2, both digests named) …
    let mut other = Vec::new();
    let moved = layout(
        &mut other,
        "install/",
        b"another installer layer",
        "v1.69.0",
    );
    let tar2 = dir.path().join("other.tar");
    std::fs::write(&tar2, gnu_tar(&other)).unwrap();
    let o = store(&root, &["import", tar2.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&inst) && err.contains(&moved), "{err}");
    // … and over a quota too small for it, refused with the quota named …
    let o = store(
        &root,
        &[
            "--quota",
            "100",
            "import",
            "--overwrite-tags",
            tar2.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("quota"));
    // … and moved when asked, from stdin.
    let o = Command::new(env!("CARGO_BIN_EXE_registryctl"))
        .args([
            "store",
            "--root",
            root.to_str().unwrap(),
            "import",
            "--overwrite-tags",
            "-",
        ])
        .stdin(std::fs::File::open(&tar2).unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("moved install:v1.69.0 from {inst} to {moved}")),
        "{err}"
    );
    let _ = dh;
}

#[test]
fn export_bundle_reimports_and_untagged_entries_are_managed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let mut files = Vec::new();
    layout(&mut files, "", b"deckhouse layer", "v1.69.0");
    layout(&mut files, "install/", b"installer layer", "v1.69.0");
    let tar = dir.path().join("platform.tar");
    std::fs::write(&tar, gnu_tar(&files)).unwrap();
    assert!(
        store(&root, &["import", tar.to_str().unwrap()])
            .status
            .success()
    );

    let out = dir.path().join("out");
    let o = store(&root, &["export", "--bundle", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "platform.tar\n");
    let fresh = dir.path().join("fresh");
    let o = store(&fresh, &["import", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "v1.69.0\ninstall:v1.69.0\n"
    );

    // An untagged entry: listed, pinned, forgotten.
    let o = store(&fresh, &["--json", "ls", "--tags"]);
    let tags: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = tags
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "v1.69.0" && t.get("repository").is_none())
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        store(&fresh, &["tag", "v1.69.0", "--delete"])
            .status
            .success()
    );
    assert!(store(&fresh, &["pin", &d]).status.success());
    let o = store(&fresh, &["untagged"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("(root) {d} kept\n")
    );
    let o = store(&fresh, &["forget", &d]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("removed 1 index.json entry"));
    assert_eq!(store(&fresh, &["forget", &d]).status.code(), Some(1));
    assert_eq!(
        store(&fresh, &["forget", "--repository", "Bad", &d])
            .status
            .code(),
        Some(2)
    );
}
