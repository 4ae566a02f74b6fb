//! Import and export of OCI image layouts (folders, tars, gzip) and refusal of hostile input.
#![allow(clippy::unwrap_used, missing_docs)]

mod store_common;

use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;

use registry_core::store::*;
use registry_core::wire::ErrorCode;
use store_common::*;

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    (dir, s)
}

/// A snapshot of everything under the root except the private folder.
fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(base).unwrap().display().to_string();
            if rel.starts_with(".registry-store") {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(base, &e.path(), out);
            } else {
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    walk(root, root, &mut out);
    out.sort();
    out
}

fn raw_tar(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        // Write the name bytes directly so "../" survives (the builder would refuse it).
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn import_folder_then_export_tar_round_trip() {
    let src = tempfile::tempdir().unwrap();
    let a = image(1, 2, 5000);
    let b = image(2, 1, 300);
    write_layout(src.path(), &[("a:v1", &a), ("b:v2", &b)]);
    let (dir, store) = open();
    let mut events = Vec::new();
    let mut cb = |p: &Progress| {
        events.push(p.clone());
        ControlFlow::Continue(())
    };
    let r = store
        .import_path(
            src.path(),
            WithProgress::new(ImportOptions::default(), Some(&mut cb)),
        )
        .unwrap();
    assert_eq!(r.tags, vec!["a:v1".to_string(), "b:v2".to_string()]);
    assert_eq!(r.blobs_added as usize, a.blobs.len() + b.blobs.len());
    assert!(events.iter().all(|e| e.operation == Operation::Import));
    assert_eq!(
        events.last().unwrap().items_done as usize,
        a.blobs.len() + b.blobs.len() + 2
    );
    assert_eq!(store.resolve("a:v1").unwrap(), a.manifest_digest);
    assert_eq!(
        all_blobs_valid(dir.path()),
        Ok(a.blobs.len() + b.blobs.len())
    );
    assert!(
        store
            .completeness(&["a:v1".into(), "b:v2".into()])
            .unwrap()
            .complete
    );

    // Export one tag and import it elsewhere.
    let mut tar = Vec::new();
    let opts = ExportOptions {
        tags: vec!["a:v1".into()],
        gzip: false,
    };
    let er = store.export_tar(&mut tar, &opts).unwrap();
    assert_eq!(er.blobs as usize, a.blobs.len());
    let mut again = Vec::new();
    store.export_tar(&mut again, &opts).unwrap();
    assert_eq!(tar, again, "export is deterministic");
    let (_d2, other) = open();
    let r = other
        .import_tar(&mut &tar[..], ImportOptions::default())
        .unwrap();
    assert_eq!(r.tags, vec!["a:v1".to_string()]);
    assert_eq!(other.list().unwrap().len(), a.blobs.len());

    // Importing the same thing again adds nothing.
    let r = other
        .import_tar(&mut &tar[..], ImportOptions::default())
        .unwrap();
    assert_eq!(
        (r.blobs_added, r.blobs_present as usize),
        (0, a.blobs.len())
    );
    assert_eq!(other.tags().unwrap().len(), 1);
}

#[test]
fn import_gzip_tar_and_export_folder() {
    let src = tempfile::tempdir().unwrap();
    let a = image(3, 3, 70_000);
    write_layout(src.path(), &[("app", &a)]);
    let tar = tar_of(src.path());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let (_d, store) = open();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &gz).unwrap();
    let r = store
        .import_path(file.path(), ImportOptions::default())
        .unwrap();
    assert_eq!(r.tags, vec!["app".to_string()]);
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("exported");
    store.export_dir(&dest, ExportOptions::default()).unwrap();
    assert_eq!(all_blobs_valid(&dest), Ok(a.blobs.len()));
    let idx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dest.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        idx["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "app"
    );
    assert_eq!(idx["manifests"][0]["digest"], a.manifest_digest.to_string());
    // And the gzip export reads back.
    let mut tgz = Vec::new();
    store
        .export_tar(
            &mut tgz,
            &ExportOptions {
                tags: vec![],
                gzip: true,
            },
        )
        .unwrap();
    assert_eq!(&tgz[..2], &[0x1f, 0x8b]);
    let (_d3, third) = open();
    third
        .import_tar(&mut &tgz[..], ImportOptions::default())
        .unwrap();
    assert!(third.completeness(&["app".into()]).unwrap().complete);
}

fn assert_refused(store: &Store, root: &Path, tar: &[u8], needle: &str) {
    let before = snapshot(root);
    let e = store
        .import_tar(&mut &tar[..], ImportOptions::default())
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::ImportRefused, "{e}");
    assert!(
        e.to_string().contains(needle),
        "{e} should mention {needle}"
    );
    assert_eq!(snapshot(root), before, "the store must be unchanged");
    assert!(tmp_files(root).is_empty(), "{:?}", tmp_files(root));
}

#[test]
fn hostile_tars_are_refused_and_leave_the_store_unchanged() {
    let (dir, store) = open();
    let prior = image(9, 1, 10);
    store_image(&store, &prior, "prior");
    let a = image(4, 1, 100);
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    let m = a.manifest_digest.hex().to_string();
    let mpath = format!("blobs/sha256/{m}");
    let good_index = {
        let src = tempfile::tempdir().unwrap();
        write_layout(src.path(), &[("x", &a)]);
        std::fs::read(src.path().join("index.json")).unwrap()
    };
    let blob_entries: Vec<(String, Vec<u8>)> = a
        .blobs
        .iter()
        .map(|(d, b)| {
            (
                format!("blobs/sha256/{}", d.strip_prefix("sha256:").unwrap()),
                b.clone(),
            )
        })
        .collect();
    let reg = tar::EntryType::Regular;

    let traversal = raw_tar(&[("../evil", reg, b"x", None)]);
    assert_refused(&store, dir.path(), &traversal, "..");
    let traversal2 = raw_tar(&[("blobs/../../evil", reg, b"x", None)]);
    assert_refused(&store, dir.path(), &traversal2, "..");
    let absolute = raw_tar(&[("/etc/evil", reg, b"x", None)]);
    assert_refused(&store, dir.path(), &absolute, "absolute");
    let symlink = raw_tar(&[
        ("oci-layout", reg, layout, None),
        (
            "blobs/sha256/abc",
            tar::EntryType::Symlink,
            b"",
            Some("/etc/passwd"),
        ),
    ]);
    assert_refused(&store, dir.path(), &symlink, "links");
    let hardlink = raw_tar(&[("index.json", tar::EntryType::Link, b"", Some("/etc/shadow"))]);
    assert_refused(&store, dir.path(), &hardlink, "links");
    let fifo = raw_tar(&[("x", tar::EntryType::Fifo, b"", None)]);
    assert_refused(&store, dir.path(), &fifo, "unsupported");

    // A blob whose content does not match its name, after good blobs were already staged.
    let mut entries: Vec<(&str, tar::EntryType, &[u8], Option<&str>)> =
        vec![("oci-layout", reg, layout, None)];
    for (p, b) in &blob_entries {
        if *p != mpath {
            entries.push((p.as_str(), reg, b.as_slice(), None));
        }
    }
    entries.push((mpath.as_str(), reg, b"tampered manifest", None));
    entries.push(("index.json", reg, &good_index, None));
    assert_refused(
        &store,
        dir.path(),
        &raw_tar(&entries),
        &d256(b"tampered manifest").to_string(),
    );

    // A complete-looking layout that lacks a layer.
    let mut entries: Vec<(&str, tar::EntryType, &[u8], Option<&str>)> =
        vec![("oci-layout", reg, layout, None)];
    let layer = format!("blobs/sha256/{}", a.layer_digests[0].hex());
    for (p, b) in &blob_entries {
        if *p != layer {
            entries.push((p.as_str(), reg, b.as_slice(), None));
        }
    }
    entries.push(("index.json", reg, &good_index, None));
    assert_refused(
        &store,
        dir.path(),
        &raw_tar(&entries),
        &a.layer_digests[0].to_string(),
    );

    // Not a layout at all, a bad digest name, garbage.
    assert_refused(
        &store,
        dir.path(),
        &raw_tar(&[("index.json", reg, &good_index, None)]),
        "oci-layout",
    );
    assert_refused(
        &store,
        dir.path(),
        &raw_tar(&[("blobs/sha256/XYZ", reg, b"x", None)]),
        "blobs/sha256/XYZ",
    );
    assert_refused(&store, dir.path(), b"this is not a tar archive, just some text that is long enough to fill a header block or not", "tar");
    let dup = raw_tar(&[
        ("oci-layout", reg, layout, None),
        ("oci-layout", reg, layout, None),
    ]);
    assert_refused(&store, dir.path(), &dup, "duplicate");
    let bad_tag_index = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1,"annotations":{"org.opencontainers.image.ref.name":"../../x"}}]}"#;
    assert_refused(
        &store,
        dir.path(),
        &raw_tar(&[
            ("oci-layout", reg, layout, None),
            ("index.json", reg, bad_tag_index, None),
        ]),
        "invalid tag",
    );
    assert_eq!(store.resolve("prior").unwrap(), prior.manifest_digest);
}

#[test]
fn folder_with_a_symlink_is_refused() {
    let src = tempfile::tempdir().unwrap();
    let a = image(5, 1, 100);
    write_layout(src.path(), &[("x", &a)]);
    std::os::unix::fs::symlink(
        "/etc/passwd",
        src.path().join("blobs/sha256").join("b".repeat(64)),
    )
    .unwrap();
    let (dir, store) = open();
    let before = snapshot(dir.path());
    let e = store
        .import_dir(src.path(), ImportOptions::default())
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::ImportRefused);
    assert!(e.to_string().contains("links"), "{e}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn cancelled_import_leaves_the_store_unchanged() {
    let src = tempfile::tempdir().unwrap();
    let a = image(6, 4, 3 << 20);
    write_layout(src.path(), &[("big", &a)]);
    let tar = tar_of(src.path());
    let (dir, store) = open();
    let before = snapshot(dir.path());
    let mut calls = 0;
    let mut cb = |_: &Progress| {
        calls += 1;
        if calls > 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let e = store
        .import_tar(
            &mut &tar[..],
            WithProgress::new(ImportOptions::default(), Some(&mut cb)),
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Cancelled);
    assert_eq!(snapshot(dir.path()), before);
    assert!(tmp_files(dir.path()).is_empty());
}

#[test]
fn incomplete_layout_can_be_imported_when_asked() {
    let src = tempfile::tempdir().unwrap();
    let a = image(7, 2, 100);
    write_layout(src.path(), &[("partial", &a)]);
    std::fs::remove_file(
        src.path()
            .join("blobs/sha256")
            .join(a.layer_digests[0].hex()),
    )
    .unwrap();
    let (_d, store) = open();
    assert_eq!(
        store
            .import_dir(src.path(), ImportOptions::default())
            .unwrap_err()
            .code(),
        ErrorCode::ImportRefused
    );
    let r = store
        .import_dir(
            src.path(),
            &ImportOptions {
                require_complete: false,
            },
        )
        .unwrap();
    assert_eq!(r.tags, vec!["partial".to_string()]);
    let c = store.completeness(&["partial".into()]).unwrap();
    assert_eq!(c.missing, vec![a.layer_digests[0].clone()]);
}

#[test]
fn an_existing_layout_opens_as_a_store_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let a = image(8, 2, 100);
    write_layout(dir.path(), &[("in-place", &a)]);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.resolve("in-place").unwrap(), a.manifest_digest);
    assert!(store.completeness(&["in-place".into()]).unwrap().complete);
    assert!(store.scrub(ScrubOptions::default()).unwrap().is_clean());
    assert_eq!(store.list().unwrap().len(), a.blobs.len());
}
