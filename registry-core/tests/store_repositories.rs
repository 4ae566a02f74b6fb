//! Repositories in the store: tags per repository, untagged manifests kept in a repository, the
//! on-disk encoding in `index.json` (so OCI tools still read the root), and stores written
//! before repositories existed.

mod store_common;

use std::path::Path;
use std::time::Duration;

use registry_core::store::{
    ExportOptions, GcOptions, ImportOptions, REPOSITORY_ANNOTATION, Repository, Store, StoreError,
    StoreOptions,
};
use registry_core::wire::ErrorCode;
use serde_json::{Value, json};
use store_common::{Image, image, store_image};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn repo(name: &str) -> Repository {
    Repository::parse(name).expect("valid repository")
}

fn put_image(store: &Store, img: &Image) {
    for (d, b) in &img.blobs {
        store
            .put_bytes(b, Some(&d.parse().expect("digest")))
            .expect("put");
    }
}

fn index(root: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(root.join("index.json")).expect("read")).expect("json")
}

fn no_grace(dir: &Path) -> Store {
    Store::open_with(
        dir,
        StoreOptions {
            gc_grace: Duration::ZERO,
            ..StoreOptions::default()
        },
    )
    .expect("open")
}

#[test]
fn a_tag_belongs_to_one_repository() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let (a, b) = (image(1, 1, 64), image(2, 1, 64));
    put_image(&store, &a);
    put_image(&store, &b);
    let install = repo("install");
    let release = repo("modules/console/release");

    store.tag("v1", &a.manifest_digest).expect("root tag");
    store
        .tag_in(&install, "v1", &b.manifest_digest)
        .expect("install tag");
    store
        .tag_in(&release, "v1", &a.manifest_digest)
        .expect("release tag");

    assert_eq!(store.resolve("v1").expect("root"), a.manifest_digest);
    assert_eq!(
        store.resolve_in(&install, "v1").expect("install"),
        b.manifest_digest
    );
    assert_eq!(
        store.resolve_in(&release, "v1").expect("release"),
        a.manifest_digest
    );
    assert_eq!(
        store.repositories().expect("repos"),
        vec![Repository::root(), install.clone(), release.clone()]
    );
    let refs: Vec<String> = store
        .tags()
        .expect("tags")
        .iter()
        .map(|t| t.reference())
        .collect();
    assert_eq!(refs, ["install:v1", "modules/console/release:v1", "v1"]);

    // Retagging replaces only that repository's entry; untag removes only it.
    store
        .tag_in(&install, "v1", &a.manifest_digest)
        .expect("retag");
    assert_eq!(
        store.resolve_in(&install, "v1").expect("install"),
        a.manifest_digest
    );
    assert_eq!(store.repository_tags(&install).expect("tags").len(), 1);
    store.untag_in(&install, "v1").expect("untag");
    assert!(matches!(
        store.resolve_in(&install, "v1"),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.resolve("v1").expect("root stays"), a.manifest_digest);
    assert!(matches!(
        store.untag_in(&install, "v1"),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn index_json_encoding_is_ref_name_plus_annotation() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let img = image(3, 2, 32);
    store_image(&store, &img, "v1.69.0");
    store
        .tag_in(&repo("install"), "v1.69.0", &img.manifest_digest)
        .expect("tag");
    store
        .keep_in(&repo("security/trivy-db"), &img.manifest_digest)
        .expect("keep");

    let doc = index(dir.path());
    let entries = doc["manifests"].as_array().expect("array");
    assert_eq!(entries.len(), 3);
    let digest = img.manifest_digest.to_string();
    for e in entries {
        assert_eq!(e["digest"], json!(digest));
        assert_eq!(e["size"], json!(img.manifest.len()));
        assert_eq!(
            e["mediaType"],
            json!("application/vnd.oci.image.manifest.v1+json")
        );
    }
    assert_eq!(
        entries[0]["annotations"],
        json!({ REF_NAME: "v1.69.0" }),
        "a root tag is stored as before repositories existed"
    );
    assert_eq!(
        entries[1]["annotations"],
        json!({ REF_NAME: "install:v1.69.0", REPOSITORY_ANNOTATION: "install" })
    );
    assert_eq!(
        entries[2]["annotations"],
        json!({ REPOSITORY_ANNOTATION: "security/trivy-db" })
    );
}

#[test]
fn untagged_manifests_are_kept_per_repository_and_are_gc_roots() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = no_grace(dir.path());
    let img = image(4, 2, 128);
    put_image(&store, &img);
    let r = repo("install");
    store.keep_in(&r, &img.manifest_digest).expect("keep");
    store.keep_in(&r, &img.manifest_digest).expect("keep twice");
    let listed = store.repository_manifests(&r).expect("list");
    assert_eq!(listed.len(), 1, "keep_in is idempotent");
    assert_eq!(listed[0].name, "");
    assert_eq!(listed[0].digest, img.manifest_digest);
    assert!(store.repository_tags(&r).expect("tags").is_empty());
    assert!(store.tags().expect("tags").is_empty());

    let report = store.gc(GcOptions::default()).expect("gc");
    assert!(
        report.deleted.is_empty(),
        "kept manifest and its blobs stay"
    );

    store.tag_in(&r, "v1", &img.manifest_digest).expect("tag");
    assert_eq!(
        store.forget_in(&r, &img.manifest_digest).expect("forget"),
        2
    );
    assert!(store.repositories().expect("repos").is_empty());
    let report = store.gc(GcOptions::default()).expect("gc");
    assert_eq!(report.deleted.len(), img.blobs.len());
}

#[test]
fn a_store_written_before_repositories_opens_unchanged() {
    let dir = tempfile::tempdir().expect("tmp");
    let img = image(5, 1, 16);
    let full = "registry.deckhouse.ru/deckhouse/ee:v1.69.0";
    store_common::write_layout(dir.path(), &[(full, &img), ("v1", &img)]);
    let before = std::fs::read(dir.path().join("index.json")).expect("read");
    let store = Store::open(dir.path()).expect("open");
    assert_eq!(
        std::fs::read(dir.path().join("index.json")).expect("read"),
        before
    );
    assert_eq!(
        store.repositories().expect("repos"),
        vec![Repository::root()]
    );
    assert_eq!(store.resolve(full).expect("full ref"), img.manifest_digest);
    let names: Vec<String> = store
        .repository_tags(&Repository::root())
        .expect("tags")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, [full, "v1"]);
}

#[test]
fn a_ref_name_is_never_used_twice() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let img = image(6, 1, 16);
    put_image(&store, &img);
    store
        .tag_in(&repo("install"), "v1", &img.manifest_digest)
        .expect("tag");
    let err = store
        .tag("install:v1", &img.manifest_digest)
        .expect_err("clash");
    assert_eq!(err.code(), ErrorCode::InvalidTag);
    assert!(err.to_string().contains("another repository"), "{err}");
    assert_eq!(
        index(dir.path())["manifests"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn names_and_tags_are_checked() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let img = image(7, 1, 16);
    put_image(&store, &img);
    let err = Repository::parse("a/../b").expect_err("invalid");
    assert_eq!(err.code(), ErrorCode::InvalidRepository);
    assert!(err.to_string().contains("a/../b"), "{err}");
    // A repository tag follows the registry grammar: no ':' or '/'.
    for bad in ["a:b", "a/b", ".x", ""] {
        let err = store
            .tag_in(&repo("install"), bad, &img.manifest_digest)
            .expect_err(bad);
        assert_eq!(err.code(), ErrorCode::InvalidTag, "{bad:?}");
    }
    // A tag must point at a manifest or index.
    let blob = img.layer_digests[0].clone();
    let err = store
        .tag_in(&repo("install"), "v1", &blob)
        .expect_err("layer");
    assert_eq!(err.code(), ErrorCode::InvalidManifest);
    assert!(store.repositories().expect("repos").is_empty());
}

#[test]
fn an_invalid_repository_annotation_is_in_no_repository_but_still_kept() {
    let dir = tempfile::tempdir().expect("tmp");
    let img = image(8, 1, 16);
    store_common::write_layout(dir.path(), &[("v1", &img)]);
    let mut doc = index(dir.path());
    doc["manifests"][0]["annotations"] =
        json!({ REF_NAME: "../x:v1", REPOSITORY_ANNOTATION: "../x" });
    std::fs::write(
        dir.path().join("index.json"),
        serde_json::to_vec(&doc).expect("json"),
    )
    .expect("write");
    let store = no_grace(dir.path());
    assert!(store.repositories().expect("repos").is_empty());
    assert!(store.tags().expect("tags").is_empty());
    let report = store.gc(GcOptions::default()).expect("gc");
    assert!(
        report.deleted.is_empty(),
        "a foreign entry still roots its blobs"
    );
}

#[test]
fn export_and_import_keep_repositories() {
    let src = tempfile::tempdir().expect("tmp");
    let store = Store::open(src.path()).expect("open");
    let (a, b) = (image(9, 2, 64), image(10, 1, 64));
    store_image(&store, &a, "v1");
    put_image(&store, &b);
    store
        .tag_in(&repo("modules/console/release"), "v2", &b.manifest_digest)
        .expect("tag");

    let out = tempfile::tempdir().expect("tmp");
    let dest = out.path().join("bundle");
    let report = store
        .export_dir(
            &dest,
            &ExportOptions {
                tags: vec!["modules/console/release:v2".into(), "v1".into()],
                gzip: false,
            },
        )
        .expect("export");
    assert_eq!(report.tags, ["modules/console/release:v2", "v1"]);

    let other = tempfile::tempdir().expect("tmp");
    let copy = Store::open(other.path()).expect("open");
    copy.import_dir(&dest, ImportOptions::default())
        .expect("import");
    assert_eq!(copy.resolve("v1").expect("root"), a.manifest_digest);
    assert_eq!(
        copy.resolve_in(&repo("modules/console/release"), "v2")
            .expect("repo"),
        b.manifest_digest
    );
    assert_eq!(copy.tags().expect("tags"), store.tags().expect("tags"));
}
