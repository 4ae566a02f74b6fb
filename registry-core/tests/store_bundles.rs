//! Import of image bundles as `d8 mirror pull` writes them (GNU tars of nested OCI layouts, long
//! names, chunks, short_tag annotations), and refusal of hostile bundles with the store unchanged.
#![allow(clippy::unwrap_used, missing_docs)]

mod store_common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use registry_core::store::*;
use registry_core::wire::ErrorCode;
use serde_json::{Value, json};
use store_common::*;

const REF: &str = "org.opencontainers.image.ref.name";

/// One image of a layout: the image and the annotations of its index.json descriptor.
struct Entry<'a> {
    image: &'a Image,
    annotations: Value,
}

fn d8<'a>(image: &'a Image, repo: &str, tag: &str) -> Entry<'a> {
    Entry {
        image,
        annotations: json!({
            REF: format!("registry.deckhouse.ru/deckhouse/ee{repo}:{tag}"),
            SHORT_TAG: tag,
            "org.opencontainers.image.created": "2025-01-01T00:00:00Z",
        }),
    }
}

/// The files of one OCI layout under `prefix` (`""` or `install/`), as `d8 mirror` writes them.
fn layout(files: &mut BTreeMap<String, Vec<u8>>, prefix: &str, entries: &[Entry<'_>]) {
    files.insert(
        format!("{prefix}oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    );
    let mut manifests = Vec::new();
    for e in entries {
        for (d, b) in &e.image.blobs {
            files.insert(
                format!(
                    "{prefix}blobs/sha256/{}",
                    d.strip_prefix("sha256:").unwrap()
                ),
                b.clone(),
            );
        }
        manifests.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": e.image.manifest_digest.to_string(),
            "size": e.image.manifest.len(),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": e.annotations,
        }));
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests, "annotations": {"io.deckhouse.test": prefix}});
    files.insert(
        format!("{prefix}index.json"),
        serde_json::to_vec(&index).unwrap(),
    );
}

/// A tar the way deckhouse-cli writes one: GNU headers (long names as GNU longname entries),
/// regular files only, mode 0777, mtime 0, no directory entries.
fn gnu_tar(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o777);
        h.set_mtime(0);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// Splits `bytes` into `<name>.NNNN.chunk` files of `size` bytes in `dir`.
fn write_chunks(dir: &Path, name: &str, bytes: &[u8], size: usize) -> usize {
    let mut n = 0;
    for (i, part) in bytes.chunks(size).enumerate() {
        std::fs::write(dir.join(format!("{name}.{i:04}.chunk")), part).unwrap();
        n += 1;
    }
    n
}

/// Every file under the store root except the private folder, with its bytes.
fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(base).unwrap().display().to_string();
            if rel.starts_with(".registry-store") {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                out.push((format!("{rel}/"), Vec::new()));
                walk(base, &e.path(), out);
            } else {
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn staging_left(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join(".registry-store/tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

struct Fixture {
    dir: tempfile::TempDir,
    store: Store,
    deckhouse: Image,
    installer: Image,
    module: Image,
    release: Image,
    trivy: Image,
    extra: Image,
}

const LONG_MODULE: &str =
    "a-module-with-a-name-long-enough-that-its-blob-paths-pass-the-hundred-byte-ustar-limit";

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    Fixture {
        store,
        deckhouse: image(1, 2, 3000),
        installer: image(2, 1, 2000),
        module: image(3, 2, 1500),
        release: image(4, 1, 100),
        trivy: image(5, 1, 4000),
        extra: image(6, 1, 700),
        dir,
    }
}

impl Fixture {
    fn bundle_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("bundle")
    }

    /// platform.tar (root layout, install/, release-channel/), module-console.tar (legacy,
    /// no modules/ prefix), module-<long>.tar (modules/<long>/ prefix, release/, extra/),
    /// security.tar split in chunks, and a .gostsum file.
    fn write_bundle(&self) {
        let b = self.bundle_dir();
        std::fs::create_dir_all(&b).unwrap();
        let mut platform = BTreeMap::new();
        layout(&mut platform, "", &[d8(&self.deckhouse, "", "v1.69.0")]);
        layout(
            &mut platform,
            "install/",
            &[d8(&self.installer, "/install", "v1.69.0")],
        );
        layout(
            &mut platform,
            "release-channel/",
            &[d8(&self.release, "/release-channel", "stable")],
        );
        std::fs::write(b.join("platform.tar"), gnu_tar(&platform)).unwrap();
        std::fs::write(b.join("platform.tar.gostsum"), b"not checked").unwrap();

        let mut legacy = BTreeMap::new();
        layout(
            &mut legacy,
            "",
            &[d8(&self.module, "/modules/console", "v1.2.3")],
        );
        layout(
            &mut legacy,
            "release/",
            &[d8(&self.release, "/modules/console/release", "v1.2.3")],
        );
        std::fs::write(b.join("module-console.tar"), gnu_tar(&legacy)).unwrap();

        let mut long = BTreeMap::new();
        let p = format!("modules/{LONG_MODULE}/");
        layout(&mut long, &p, &[d8(&self.module, "", "v0.1.0")]);
        layout(
            &mut long,
            &format!("{p}release/"),
            &[d8(&self.release, "", "alpha")],
        );
        layout(
            &mut long,
            &format!("{p}extra/"),
            &[Entry {
                image: &self.extra,
                annotations: json!({SHORT_TAG: "scanner:v2", REF: "registry.deckhouse.ru/x/extra/scanner:v2"}),
            }],
        );
        std::fs::write(b.join(format!("module-{LONG_MODULE}.tar")), gnu_tar(&long)).unwrap();

        let mut security = BTreeMap::new();
        layout(
            &mut security,
            "security/trivy-db/",
            &[d8(&self.trivy, "/security/trivy-db", "2")],
        );
        let tar = gnu_tar(&security);
        assert!(write_chunks(&b, "security.tar", &tar, 3000) >= 3);
    }

    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("store")
    }
}

fn repo(s: &str) -> Repository {
    Repository::parse(s).unwrap()
}

#[test]
fn a_d8_bundle_folder_imports_completely() {
    let f = fixture();
    f.write_bundle();
    let r = f
        .store
        .import_bundle(&f.bundle_dir(), BundleOptions::default())
        .unwrap();
    let repos: Vec<String> = r
        .layouts
        .iter()
        .map(|l| l.repository.as_str().to_owned())
        .collect();
    let long = format!("modules/{LONG_MODULE}");
    let mut want = vec![
        "".to_owned(),
        "install".into(),
        "release-channel".into(),
        "modules/console".into(),
        "modules/console/release".into(),
        long.clone(),
        format!("{long}/release"),
        format!("{long}/extra"),
        "security/trivy-db".into(),
    ];
    want.sort();
    let mut got = repos.clone();
    got.sort();
    assert_eq!(got, want);
    let checks: Vec<(String, &str, &Image)> = vec![
        ("".into(), "v1.69.0", &f.deckhouse),
        ("install".into(), "v1.69.0", &f.installer),
        ("release-channel".into(), "stable", &f.release),
        ("modules/console".into(), "v1.2.3", &f.module),
        ("modules/console/release".into(), "v1.2.3", &f.release),
        (long.clone(), "v0.1.0", &f.module),
        (format!("{long}/release"), "alpha", &f.release),
        (format!("{long}/extra/scanner"), "v2", &f.extra),
        ("security/trivy-db".into(), "2", &f.trivy),
    ];
    for (rp, tag, img) in &checks {
        assert_eq!(
            f.store.resolve_in(&repo(rp), tag).unwrap(),
            img.manifest_digest,
            "{rp}:{tag}"
        );
    }
    // An unknown tag is named as such.
    let unknown = f.store.completeness(&["install:v9".into()]).unwrap();
    assert!(!unknown.complete);
    assert!(unknown.images[0].problems[0].starts_with("unknown tag \"install:v9\""));
    // Everything the report names is complete; nothing was skipped silently.
    let refs = r.references();
    assert_eq!(refs.len(), checks.len());
    let c = f.store.completeness(&refs).unwrap();
    assert!(c.complete, "{c:?}");
    assert_eq!(
        r.skipped,
        vec![SkippedEntry {
            path: "platform.tar.gostsum".into(),
            reason: "a GOST checksum file; not verified by this import".into()
        }]
    );
    let images = [
        &f.deckhouse,
        &f.installer,
        &f.module,
        &f.release,
        &f.trivy,
        &f.extra,
    ];
    let distinct: usize = images.iter().map(|i| i.blobs.len()).sum();
    assert_eq!(r.blobs_added as usize, distinct);
    assert_eq!(all_blobs_valid(&f.root()), Ok(distinct));
    // Metadata survives: platform, short_tag, created, the original reference, index annotations.
    let index: Value =
        serde_json::from_slice(&std::fs::read(f.root().join("index.json")).unwrap()).unwrap();
    let install = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"][REF] == "install:v1.69.0")
        .unwrap();
    assert_eq!(install["platform"]["architecture"], "amd64");
    assert_eq!(install["annotations"][SHORT_TAG], "v1.69.0");
    assert_eq!(
        install["annotations"]["org.opencontainers.image.created"],
        "2025-01-01T00:00:00Z"
    );
    assert_eq!(
        install["annotations"]["io.deckhouse.registry.original-ref-name"],
        "registry.deckhouse.ru/deckhouse/ee/install:v1.69.0"
    );
    assert!(index["annotations"]["io.deckhouse.test"].is_string());
    // Re-import is a no-op: same tags, nothing added.
    let before = snapshot(&f.root());
    let again = f
        .store
        .import_bundle(&f.bundle_dir(), BundleOptions::default())
        .unwrap();
    assert_eq!(again.blobs_added, 0);
    assert!(again.moved.is_empty());
    assert_eq!(snapshot(&f.root()), before);
    assert!(staging_left(&f.root()).is_empty());
}

#[test]
fn one_chunk_names_its_whole_set_and_a_gap_is_refused() {
    let f = fixture();
    f.write_bundle();
    let b = f.bundle_dir();
    let r = f
        .store
        .import_bundle(&b.join("security.tar.0001.chunk"), BundleOptions::default())
        .unwrap();
    assert_eq!(r.layouts.len(), 1);
    assert_eq!(r.layouts[0].repository.as_str(), "security/trivy-db");
    assert_eq!(r.layouts[0].source, "security.tar");

    let g = fixture();
    g.write_bundle();
    std::fs::remove_file(g.bundle_dir().join("security.tar.0001.chunk")).unwrap();
    let before = snapshot(&g.root());
    let e = g
        .store
        .import_bundle(&g.bundle_dir(), BundleOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("security.tar.0001.chunk"), "{e}");
    assert!(e.to_string().contains("chunk missing"), "{e}");
    assert_eq!(snapshot(&g.root()), before);
}

#[test]
fn a_stream_imports_in_one_pass() {
    let f = fixture();
    let mut files = BTreeMap::new();
    layout(&mut files, "", &[d8(&f.deckhouse, "", "v1.69.0")]);
    layout(
        &mut files,
        "install/",
        &[d8(&f.installer, "/install", "v1")],
    );
    // A blob nothing reaches: staged while streaming, dropped before publishing, reported.
    let stray = bytes(99, 5000);
    files.insert(
        format!("install/blobs/sha256/{}", sha256_hex(&stray)),
        stray.clone(),
    );
    let tar = gnu_tar(&files);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let r = f
        .store
        .import_bundle_stream(&mut &gz[..], "platform.tar.gz", BundleOptions::default())
        .unwrap();
    assert_eq!(
        f.store.resolve_in(&repo("install"), "v1").unwrap(),
        f.installer.manifest_digest
    );
    assert!(!f.store.has(&d256(&stray)).unwrap());
    assert_eq!(r.skipped.len(), 1);
    assert!(
        r.skipped[0].reason.contains("no descriptor"),
        "{:?}",
        r.skipped
    );
    assert!(staging_left(&f.root()).is_empty());
}

/// Imports `bundle` (a file in the fixture's folder) and expects a refusal mentioning `needle`,
/// with the store byte-identical and no staging left; then the same as a stream.
fn refused(f: &Fixture, name: &str, bundle: &[u8], needle: &str) {
    refused2(f, name, bundle, needle, needle)
}

/// As `refused`, where the one-pass stream import sees the problem differently (`stream_needle`).
fn refused2(f: &Fixture, name: &str, bundle: &[u8], needle: &str, stream_needle: &str) {
    let path = f.dir.path().join(name);
    std::fs::write(&path, bundle).unwrap();
    let before = snapshot(&f.root());
    let e = f
        .store
        .import_bundle(&path, BundleOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains(needle), "{needle:?} not in {e}");
    assert_eq!(e.code(), ErrorCode::ImportRefused);
    assert_eq!(snapshot(&f.root()), before);
    assert!(staging_left(&f.root()).is_empty());
    let e = f
        .store
        .import_bundle_stream(&mut &bundle[..], name, BundleOptions::default())
        .unwrap_err();
    assert!(
        e.to_string().contains(stream_needle),
        "stream: {stream_needle:?} not in {e}"
    );
    assert_eq!(snapshot(&f.root()), before);
    assert!(staging_left(&f.root()).is_empty());
}

#[test]
fn hostile_bundles_are_refused_with_the_store_unchanged() {
    let f = fixture();
    // Something in the store already, so "unchanged" means something.
    let mut files = BTreeMap::new();
    layout(&mut files, "", &[d8(&f.deckhouse, "", "v1")]);
    std::fs::write(f.dir.path().join("ok.tar"), gnu_tar(&files)).unwrap();
    f.store
        .import_bundle(&f.dir.path().join("ok.tar"), BundleOptions::default())
        .unwrap();

    // A layer entry larger than its descriptor says (under its right name).
    let mut big = BTreeMap::new();
    layout(&mut big, "install/", &[d8(&f.installer, "", "v1")]);
    let layer = f.installer.layer_digests[0].to_string();
    let name = format!(
        "install/blobs/sha256/{}",
        layer.strip_prefix("sha256:").unwrap()
    );
    big.insert(name, vec![0u8; 10_000]);
    // The stream meets the layer before its manifest: the hash refuses it.
    refused2(
        &f,
        "big.tar",
        &gnu_tar(&big),
        "but its descriptor says 2000",
        "content hashes to",
    );

    // A gzip bomb: a small file expanding far beyond the ratio.
    let mut bomb = BTreeMap::new();
    layout(&mut bomb, "", &[d8(&f.installer, "", "v2")]);
    bomb.insert("zeros".into(), vec![0u8; 64 << 20]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&gnu_tar(&bomb)).unwrap();
    refused(
        &f,
        "bomb.tar.gz",
        &gz.finish().unwrap(),
        "expands more than 100x",
    );

    // Compressions named, not "corrupt tar".
    refused(&f, "x.tar.zst", &[0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3], "zstd");
    refused(&f, "x.tar.xz", b"\xfd7zXZ\x00rest", "xz-compressed");
    refused(&f, "x.tar.bz2", b"BZh91AY&SY", "bzip2");

    // A docker-archive is named as such.
    let mut docker = BTreeMap::new();
    docker.insert("manifest.json".to_owned(), b"[]".to_vec());
    docker.insert("repositories".to_owned(), b"{}".to_vec());
    docker.insert("abc/layer.tar".to_owned(), b"x".to_vec());
    refused(&f, "docker.tar", &gnu_tar(&docker), "docker-archive");

    // A truncated tar.
    let whole = gnu_tar(&big);
    refused(
        &f,
        "cut.tar",
        &whole[..whole.len() / 2],
        "unexpected end of archive",
    );
    let mut ok = BTreeMap::new();
    layout(&mut ok, "install/", &[d8(&f.installer, "", "v1")]);
    let whole = gnu_tar(&ok);
    // Cut exactly after the last entry: the end-of-archive blocks are missing.
    let last_end = whole.len() - 1024;
    refused(
        &f,
        "cut2.tar",
        &whole[..last_end],
        "unexpected end of archive",
    );

    // A blob with the wrong content.
    let mut wrong = ok.clone();
    let name = format!(
        "install/blobs/sha256/{}",
        layer.strip_prefix("sha256:").unwrap()
    );
    wrong.insert(name, bytes(7, 2000));
    refused(&f, "wrong.tar", &gnu_tar(&wrong), "content hashes to");

    // Escaping paths and links.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_link_name("/etc/passwd").unwrap();
    b.append_data(&mut h, "install/oci-layout", std::io::empty())
        .unwrap();
    refused(
        &f,
        "link.tar",
        &b.into_inner().unwrap(),
        "links are not allowed",
    );

    // Over quota: refused before anything is staged.
    let q = Store::open_with(
        f.root(),
        StoreOptions {
            quota: Some(f.store.refresh_usage().unwrap() + 100),
            ..Default::default()
        },
    )
    .unwrap();
    let path = f.dir.path().join("quota.tar");
    std::fs::write(&path, gnu_tar(&ok)).unwrap();
    let before = snapshot(&f.root());
    let e = q
        .import_bundle(&path, BundleOptions::default())
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::QuotaExceeded, "{e}");
    assert_eq!(snapshot(&f.root()), before);
    assert!(staging_left(&f.root()).is_empty());
}

#[test]
fn unreachable_blobs_in_a_file_are_never_staged_and_are_reported() {
    let f = fixture();
    let mut files = BTreeMap::new();
    layout(&mut files, "install/", &[d8(&f.installer, "", "v1")]);
    let stray = bytes(42, 100_000);
    files.insert(
        format!("install/blobs/sha256/{}", sha256_hex(&stray)),
        stray.clone(),
    );
    files.insert("README".into(), b"hello".to_vec());
    let path = f.dir.path().join("b.tar");
    std::fs::write(&path, gnu_tar(&files)).unwrap();
    let r = f
        .store
        .import_bundle(&path, BundleOptions::default())
        .unwrap();
    assert!(!f.store.has(&d256(&stray)).unwrap());
    let reasons: Vec<(&str, &str)> = r
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|(p, why)| *p == "README" && why.contains("not part of an OCI"))
    );
    assert!(
        reasons
            .iter()
            .any(|(p, why)| p.ends_with(&sha256_hex(&stray)) && why.contains("no descriptor"))
    );
}

#[test]
fn moving_a_tag_is_refused_unless_asked() {
    let f = fixture();
    let one = |img: &Image, name: &str| {
        let mut files = BTreeMap::new();
        layout(&mut files, "install/", &[d8(img, "", "v1")]);
        let p = f.dir.path().join(name);
        std::fs::write(&p, gnu_tar(&files)).unwrap();
        p
    };
    let a = one(&f.installer, "a.tar");
    let b = one(&f.module, "b.tar");
    f.store.import_bundle(&a, BundleOptions::default()).unwrap();
    let before = snapshot(&f.root());
    let e = f
        .store
        .import_bundle(&b, BundleOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("install:v1"), "{e}");
    assert!(e.contains(&f.installer.manifest_digest.to_string()), "{e}");
    assert!(e.contains(&f.module.manifest_digest.to_string()), "{e}");
    assert_eq!(snapshot(&f.root()), before);
    let r = f
        .store
        .import_bundle(
            &b,
            &BundleOptions {
                overwrite_tags: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        r.moved,
        vec![TagMove {
            reference: "install:v1".into(),
            from: f.installer.manifest_digest.clone(),
            to: f.module.manifest_digest.clone(),
        }]
    );
    assert_eq!(
        f.store.resolve_in(&repo("install"), "v1").unwrap(),
        f.module.manifest_digest
    );
}

#[test]
fn digest_references_are_kept_untagged_in_their_repository() {
    let f = fixture();
    let mut files = BTreeMap::new();
    layout(
        &mut files,
        "install/",
        &[Entry {
            image: &f.installer,
            annotations: json!({REF: format!("registry.deckhouse.ru/deckhouse/ee/install@{}", f.installer.manifest_digest)}),
        }],
    );
    let p = f.dir.path().join("u.tar");
    std::fs::write(&p, gnu_tar(&files)).unwrap();
    let r = f.store.import_bundle(&p, BundleOptions::default()).unwrap();
    assert_eq!(
        r.layouts[0].untagged,
        vec![f.installer.manifest_digest.clone()]
    );
    let m = f.store.repository_manifests(&repo("install")).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].name, "");
    assert_eq!(m[0].digest, f.installer.manifest_digest);
    assert!(f.store.completeness(&r.references()).unwrap().complete);
}

/// A referrer (an OCI 1.1 manifest with a `subject`) whose manifest `subject` names `subject`.
fn referrer(seed: u64, subject: &Image) -> Image {
    let mut img = image(seed, 1, 50);
    let mut m: Value = serde_json::from_slice(&img.manifest).unwrap();
    m["artifactType"] = json!("application/vnd.example.sbom");
    m["subject"] = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": subject.manifest_digest.to_string(),
        "size": subject.manifest.len(),
    });
    let bytes = serde_json::to_vec(&m).unwrap();
    img.blobs.remove(&img.manifest_digest.to_string());
    img.manifest_digest = d256(&bytes);
    img.blobs
        .insert(img.manifest_digest.to_string(), bytes.clone());
    img.manifest = bytes;
    img
}

#[test]
fn subject_is_a_weak_reference() {
    let f = fixture();
    let sbom = referrer(50, &f.installer);
    // The referrer imports although its subject is neither in the bundle nor in the store;
    // its artifactType on the descriptor survives.
    let mut files = BTreeMap::new();
    let mut e = d8(&sbom, "", "sha256-abc.sbom");
    e.annotations["x"] = json!("y");
    layout(&mut files, "install/", &[e]);
    let mut index: Value = serde_json::from_slice(&files["install/index.json"]).unwrap();
    index["manifests"][0]["artifactType"] = json!("application/vnd.example.sbom");
    files.insert(
        "install/index.json".into(),
        serde_json::to_vec(&index).unwrap(),
    );
    let p = f.dir.path().join("r.tar");
    std::fs::write(&p, gnu_tar(&files)).unwrap();
    let r = f.store.import_bundle(&p, BundleOptions::default()).unwrap();
    assert_eq!(
        r.layouts[0].tags,
        vec!["install:sha256-abc.sbom".to_string()]
    );
    assert!(f.store.completeness(&r.references()).unwrap().complete);
    let stored: Value =
        serde_json::from_slice(&std::fs::read(f.root().join("index.json")).unwrap()).unwrap();
    assert_eq!(
        stored["manifests"][0]["artifactType"],
        "application/vnd.example.sbom"
    );
    // GC does not keep a subject alive through its referrer.
    for (d, b) in &f.installer.blobs {
        f.store.put_bytes(b, Some(&d.parse().unwrap())).unwrap();
    }
    let gc = f
        .store
        .gc(&GcOptions {
            grace: Some(std::time::Duration::ZERO),
            dry_run: false,
        })
        .unwrap();
    assert!(
        !f.store.has(&f.installer.manifest_digest).unwrap(),
        "{gc:?}"
    );
    assert!(f.store.has(&sbom.manifest_digest).unwrap());
}

/// Runs a tool, returning its stdout; `None` if it is not installed (and the environment does
/// not demand it: `make test` sets REGISTRY_REQUIRE_OCI_TOOLS=1).
fn tool(cmd: &str, args: &[&str]) -> Option<String> {
    match std::process::Command::new(cmd).args(args).output() {
        Ok(o) => {
            assert!(
                o.status.success(),
                "{cmd} {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            Some(String::from_utf8_lossy(&o.stdout).into_owned())
        }
        Err(e) => {
            assert!(
                std::env::var_os("REGISTRY_REQUIRE_OCI_TOOLS").is_none(),
                "{cmd} is required: {e}"
            );
            eprintln!("note: {cmd} not installed; skipped");
            None
        }
    }
}

#[test]
fn skopeo_and_umoci_read_the_store_after_a_bundle_import() {
    let f = fixture();
    f.write_bundle();
    f.store
        .import_bundle(&f.bundle_dir(), BundleOptions::default())
        .unwrap();
    let root = f.root();
    let root = root.to_str().unwrap();
    for (reference, img) in [
        ("v1.69.0", &f.deckhouse),
        ("install:v1.69.0", &f.installer),
        ("security/trivy-db:2", &f.trivy),
    ] {
        let target = format!("oci:{root}:{reference}");
        if let Some(raw) = tool("skopeo", &["inspect", "--raw", &target]) {
            assert_eq!(d256(raw.as_bytes()), img.manifest_digest, "{reference}");
            // A full copy re-reads and verifies every blob.
            let out = f
                .dir
                .path()
                .join(format!("copy-{}", reference.replace(['/', ':'], "-")));
            let dest = format!("dir:{}", out.display());
            tool("skopeo", &["copy", "--quiet", &target, &dest]);
        }
    }
    if let Some(list) = tool("umoci", &["ls", "--layout", root]) {
        let mut got: Vec<&str> = list.lines().collect();
        got.sort();
        assert!(got.contains(&"install:v1.69.0"), "{got:?}");
        assert!(got.contains(&"v1.69.0"), "{got:?}");
        assert_eq!(got.len(), 9, "{got:?}");
    }
}

/// Every (repository, entry) of a store: what a round trip must preserve.
fn contents(store: &Store) -> Vec<(String, String, Digest)> {
    let mut out = Vec::new();
    for r in store.repositories().unwrap() {
        for e in store.repository_manifests(&r).unwrap() {
            out.push((r.as_str().to_owned(), e.name.clone(), e.digest.clone()));
        }
    }
    out
}

/// The tar headers of an exported bundle file: (name, mode, mtime, type).
fn headers(tar_bytes: &[u8]) -> Vec<(String, u32, u64, tar::EntryType)> {
    let mut a = tar::Archive::new(tar_bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().display().to_string(),
                h.mode().unwrap(),
                h.mtime().unwrap(),
                h.entry_type(),
            )
        })
        .collect()
}

#[test]
fn an_exported_bundle_reimports_to_the_same_store() {
    let f = fixture();
    f.write_bundle();
    f.store
        .import_bundle(&f.bundle_dir(), BundleOptions::default())
        .unwrap();
    let out = f.dir.path().join("exported");
    let r = f
        .store
        .export_bundle(&out, &BundleExportOptions::default())
        .unwrap();
    let long = format!("module-{LONG_MODULE}.tar");
    let mut want = vec![
        "platform.tar".to_owned(),
        "module-console.tar".into(),
        long,
        "security.tar".into(),
    ];
    want.sort();
    assert_eq!(r.files, want);
    // d8 mirror's tar headers: GNU, regular files only, 0777, mtime 0, no directories.
    for file in &r.files {
        let bytes = std::fs::read(out.join(file)).unwrap();
        let hs = headers(&bytes);
        assert!(!hs.is_empty());
        for (name, mode, mtime, kind) in &hs {
            assert_eq!(
                (*mode, *mtime, *kind),
                (0o777, 0, tar::EntryType::Regular),
                "{name}"
            );
        }
        let mut names: Vec<&String> = hs.iter().map(|h| &h.0).collect();
        let sorted = {
            let mut s = names.clone();
            s.sort();
            s
        };
        assert_eq!(names, sorted);
        names.dedup();
        assert_eq!(names.len(), hs.len());
        assert!(
            tar::Header::from_byte_slice(&bytes[..512])
                .as_gnu()
                .is_some()
        );
    }
    // The platform tar holds the d8 descriptor as it came: full ref name and short_tag.
    let mut a = tar::Archive::new(std::fs::File::open(out.join("platform.tar")).unwrap());
    let index: Value = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path().unwrap().to_str() == Some("install/index.json"))
        .map(|e| serde_json::from_reader(e).unwrap())
        .unwrap();
    let d = &index["manifests"][0];
    assert_eq!(
        d["annotations"][REF],
        "registry.deckhouse.ru/deckhouse/ee/install:v1.69.0"
    );
    assert_eq!(d["annotations"][SHORT_TAG], "v1.69.0");
    assert!(
        d["annotations"]
            .get("io.deckhouse.registry.repository")
            .is_none()
    );
    // Into a fresh store: the same repositories, tags and digests.
    let fresh = Store::open(f.dir.path().join("fresh")).unwrap();
    fresh.import_bundle(&out, BundleOptions::default()).unwrap();
    assert_eq!(contents(&fresh), contents(&f.store));
    // Into the same store: nothing changes, byte for byte.
    let before = snapshot(&f.root());
    let again = f
        .store
        .import_bundle(&out, BundleOptions::default())
        .unwrap();
    assert_eq!(again.blobs_added, 0);
    assert_eq!(snapshot(&f.root()), before);
    // An unpacked export links the blobs and re-imports the same way.
    let tree = f.dir.path().join("tree");
    let t = f
        .store
        .export_bundle(
            &tree,
            &BundleExportOptions {
                unpacked: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(t.linked, t.blobs);
    let fresh2 = Store::open(f.dir.path().join("fresh2")).unwrap();
    fresh2
        .import_bundle(&tree, BundleOptions::default())
        .unwrap();
    assert_eq!(contents(&fresh2), contents(&f.store));
    if let Some(list) = tool(
        "umoci",
        &["ls", "--layout", fresh2.root().to_str().unwrap()],
    ) {
        assert_eq!(list.lines().count(), 9);
    }
}

#[test]
fn export_of_chosen_tags_can_take_their_referrers() {
    let f = fixture();
    let sbom = referrer(60, &f.installer);
    let mut files = BTreeMap::new();
    layout(
        &mut files,
        "install/",
        &[
            d8(&f.installer, "", "v1"),
            d8(
                &sbom,
                "",
                &format!("sha256-{}.sbom", f.installer.manifest_digest.hex()),
            ),
        ],
    );
    layout(&mut files, "", &[d8(&f.deckhouse, "", "v1")]);
    let p = f.dir.path().join("b.tar");
    std::fs::write(&p, gnu_tar(&files)).unwrap();
    f.store.import_bundle(&p, BundleOptions::default()).unwrap();
    let only = |referrers: bool, name: &str| {
        let out = f.dir.path().join(name);
        let r = f
            .store
            .export_bundle(
                &out,
                &BundleExportOptions {
                    tags: vec!["install:v1".into()],
                    referrers,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(r.layouts, vec!["install".to_string()]);
        r.images
    };
    assert_eq!(only(false, "a"), 1);
    assert_eq!(only(true, "b"), 2);
    let e = f
        .store
        .export_bundle(
            &f.dir.path().join("c"),
            &BundleExportOptions {
                tags: vec!["install:nope".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFound);
    assert!(!f.dir.path().join("c").exists());
}

fn gc_now(store: &Store) -> GcReport {
    store
        .gc(&GcOptions {
            grace: Some(std::time::Duration::ZERO),
            dry_run: false,
        })
        .unwrap()
}

#[test]
fn plain_untagged_entries_are_not_gc_roots_unless_pinned() {
    let f = fixture();
    // What `oras copy` / `crane pull` leave: untagged entries without repository or pin.
    let loose = tempfile::tempdir().unwrap();
    write_layout(loose.path(), &[]);
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(loose.path().join("index.json")).unwrap()).unwrap();
    for img in [&f.installer, &f.module] {
        for (d, b) in &img.blobs {
            std::fs::write(
                loose
                    .path()
                    .join("blobs/sha256")
                    .join(d.strip_prefix("sha256:").unwrap()),
                b,
            )
            .unwrap();
        }
        index["manifests"].as_array_mut().unwrap().push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": img.manifest_digest.to_string(), "size": img.manifest.len()}));
    }
    std::fs::write(
        loose.path().join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    f.store
        .import_path(loose.path(), ImportOptions::default())
        .unwrap();
    // A bundle's untagged (by-digest) entry in the root repository is pinned by the import.
    let mut files = BTreeMap::new();
    layout(
        &mut files,
        "",
        &[Entry {
            image: &f.deckhouse,
            annotations: json!({REF: format!("registry.deckhouse.ru/deckhouse/ee@{}", f.deckhouse.manifest_digest)}),
        }],
    );
    let p = f.dir.path().join("p.tar");
    std::fs::write(&p, gnu_tar(&files)).unwrap();
    f.store.import_bundle(&p, BundleOptions::default()).unwrap();
    let listed: Vec<(Digest, bool)> = f
        .store
        .untagged()
        .unwrap()
        .into_iter()
        .map(|u| (u.digest, u.gc_root))
        .collect();
    assert_eq!(
        listed,
        vec![
            (f.installer.manifest_digest.clone(), false),
            (f.module.manifest_digest.clone(), false),
            (f.deckhouse.manifest_digest.clone(), true),
        ]
    );
    f.store.pin(&f.module.manifest_digest).unwrap();
    let gc = gc_now(&f.store);
    assert_eq!(gc.forgotten, vec![f.installer.manifest_digest.clone()]);
    assert!(!f.store.has(&f.installer.manifest_digest).unwrap());
    assert!(f.store.has(&f.module.manifest_digest).unwrap());
    assert!(f.store.has(&f.deckhouse.manifest_digest).unwrap());
    assert_eq!(f.store.untagged().unwrap().len(), 2);
    // Unpinned, it goes at the next collection, entry and all.
    f.store.unpin(&f.module.manifest_digest).unwrap();
    let gc = gc_now(&f.store);
    assert_eq!(gc.forgotten, vec![f.module.manifest_digest.clone()]);
    assert!(!f.store.has(&f.module.manifest_digest).unwrap());
    assert!(f.store.unpin(&f.module.manifest_digest).is_err());
}

#[test]
fn removing_an_image_can_remove_its_referrers() {
    let f = fixture();
    let sbom = referrer(70, &f.installer);
    let mut files = BTreeMap::new();
    layout(
        &mut files,
        "install/",
        &[d8(&f.installer, "", "v1"), d8(&sbom, "", "sha256-x.sbom")],
    );
    let p = f.dir.path().join("b.tar");
    std::fs::write(&p, gnu_tar(&files)).unwrap();
    f.store.import_bundle(&p, BundleOptions::default()).unwrap();
    let refs = f.store.referrers(&f.installer.manifest_digest).unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].digest, sbom.manifest_digest);
    let install = repo("install");
    assert_eq!(
        f.store
            .forget(&install, &f.installer.manifest_digest, true)
            .unwrap(),
        2
    );
    assert!(f.store.repository_manifests(&install).unwrap().is_empty());
    gc_now(&f.store);
    assert!(!f.store.has(&sbom.manifest_digest).unwrap());
}

#[test]
fn large_layers_hash_on_worker_threads_and_a_bad_one_still_refuses() {
    let f = fixture();
    let big = image(80, 3, 17 << 20);
    let mut files = BTreeMap::new();
    layout(&mut files, "install/", &[d8(&big, "", "v1")]);
    let good = gnu_tar(&files);
    let p = f.dir.path().join("big.tar");
    // The last layer corrupted (same size): a worker finds it.
    let mut bad = files.clone();
    let last = big.layer_digests[2].to_string();
    let name = format!(
        "install/blobs/sha256/{}",
        last.strip_prefix("sha256:").unwrap()
    );
    let mut data = bad[&name].clone();
    data[12345] ^= 1;
    bad.insert(name, data);
    refused(&f, "bad-big.tar", &gnu_tar(&bad), "content hashes to");
    std::fs::write(&p, &good).unwrap();
    let r = f.store.import_bundle(&p, BundleOptions::default()).unwrap();
    assert_eq!(r.blobs_added as usize, big.blobs.len());
    assert_eq!(all_blobs_valid(&f.root()), Ok(big.blobs.len()));
    let fresh = Store::open(f.dir.path().join("s2")).unwrap();
    fresh
        .import_bundle_stream(&mut &good[..], "", BundleOptions::default())
        .unwrap();
    assert!(fresh.completeness(&["install:v1".into()]).unwrap().complete);

    // Read by position from other threads: layers that span chunk files, and files of an
    // unpacked tree; a chunk set cut short inside a layer is truncated, and nothing stays.
    let chunked = f.dir.path().join("chunked");
    std::fs::create_dir_all(&chunked).unwrap();
    assert!(write_chunks(&chunked, "platform.tar", &good, 5 << 20) > 10);
    let from_chunks = Store::open(f.dir.path().join("s3")).unwrap();
    let r = from_chunks
        .import_bundle(&chunked, BundleOptions::default())
        .unwrap();
    assert_eq!(r.blobs_added as usize, big.blobs.len());
    assert_eq!(
        all_blobs_valid(&f.dir.path().join("s3")),
        Ok(big.blobs.len())
    );
    let tree = f.dir.path().join("tree");
    let unpacked = BundleExportOptions {
        unpacked: true,
        ..Default::default()
    };
    f.store.export_bundle(&tree, &unpacked).unwrap();
    let from_tree = Store::open(f.dir.path().join("s4")).unwrap();
    from_tree
        .import_bundle(&tree, BundleOptions::default())
        .unwrap();
    assert!(
        from_tree
            .completeness(&["install:v1".into()])
            .unwrap()
            .complete
    );
    assert_eq!(
        all_blobs_valid(&f.dir.path().join("s4")),
        Ok(big.blobs.len())
    );
    let cut = f.dir.path().join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    let whole = good.len() - 3 * 1024 - 17 * (1 << 20) / 2;
    write_chunks(&cut, "platform.tar", &good[..whole], 5 << 20);
    let empty = Store::open(f.dir.path().join("s5")).unwrap();
    let before = snapshot(&f.dir.path().join("s5"));
    let e = empty
        .import_bundle(&cut, BundleOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("unexpected end of archive"), "{e}");
    assert_eq!(snapshot(&f.dir.path().join("s5")), before);
}
