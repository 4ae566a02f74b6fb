//! The wire layer's store operations: ranged reads and the atomic export every binding uses.

#![allow(clippy::unwrap_used)]

use std::ops::ControlFlow;

use registry_core::store::Store;
use registry_core::wire::{self, ErrorCode, ExportRequest};

fn store_with_tag() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let config = store.put_bytes(b"{}", None).unwrap().digest;
    let layer = store.put_bytes(&[7u8; 5000], None).unwrap().digest;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":5000}}]}}"#
    );
    let m = store.put_bytes(manifest.as_bytes(), None).unwrap().digest;
    store.tag("v1", &m).unwrap();
    (dir, store)
}

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect()
}

#[test]
fn ranged_reads_clamp_at_the_end_of_the_blob() {
    let (_dir, store) = store_with_tag();
    let d = store.put_bytes(b"0123456789", None).unwrap().digest;
    assert_eq!(wire::read_range(&store, &d, 2, 3).unwrap(), b"234");
    assert_eq!(wire::read_range(&store, &d, 8, 100).unwrap(), b"89");
    assert!(wire::read_range(&store, &d, 10, 5).unwrap().is_empty());
    assert!(
        wire::read_range(&store, &d, u64::MAX, 5)
            .unwrap()
            .is_empty()
    );
    let missing = "sha256:".to_owned() + &"0".repeat(64);
    let e = wire::read_range(&store, &missing.parse().unwrap(), 0, 1).unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
}

#[test]
fn a_tar_export_refuses_an_existing_file_and_leaves_it_alone() {
    let (dir, store) = store_with_tag();
    let dest = dir.path().join("out.tar");
    std::fs::write(&dest, b"precious").unwrap();
    let req = ExportRequest {
        tar: true,
        ..ExportRequest::default()
    };
    let e = wire::export(&store, &dest, &req, None).unwrap_err();
    assert_eq!(e.code, ErrorCode::AlreadyExists);
    assert!(e.message.contains("out.tar"), "{}", e.message);
    assert_eq!(std::fs::read(&dest).unwrap(), b"precious");
    assert!(leftovers(dir.path()).is_empty());

    let req = ExportRequest {
        overwrite: true,
        ..req
    };
    let report = wire::export(&store, &dest, &req, None).unwrap();
    assert_eq!(report.tags, vec!["v1".to_string()]);
    assert_eq!(report.blobs, 3);
    let tar = std::fs::read(&dest).unwrap();
    assert!(tar.len() > 5000 && tar != b"precious");
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn a_new_tar_export_is_complete_and_importable() {
    let (dir, store) = store_with_tag();
    let dest = dir.path().join("fresh.tar.gz");
    let req = ExportRequest {
        tar: true,
        gzip: true,
        ..ExportRequest::default()
    };
    wire::export(&store, &dest, &req, None).unwrap();
    let other = Store::open(dir.path().join("other")).unwrap();
    other
        .import_path(&dest, registry_core::store::ImportOptions::default())
        .unwrap();
    let tags: Vec<String> = other.tags().unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(tags, vec!["v1".to_string()]);
}

#[test]
fn a_cancelled_export_leaves_no_file() {
    let (dir, store) = store_with_tag();
    let dest = dir.path().join("cancelled.tar");
    let req = ExportRequest {
        tar: true,
        ..ExportRequest::default()
    };
    let mut stop = |_: &registry_core::store::Progress| ControlFlow::Break(());
    let e = wire::export(&store, &dest, &req, Some(&mut stop)).unwrap_err();
    assert_eq!(e.code, ErrorCode::Cancelled, "{}", e.message);
    assert!(!dest.exists());
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn gzip_without_tar_is_an_invalid_argument() {
    let (dir, store) = store_with_tag();
    let req = ExportRequest {
        gzip: true,
        ..ExportRequest::default()
    };
    let e = wire::export(&store, &dir.path().join("folder"), &req, None).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    assert!(!dir.path().join("folder").exists());
}
