//! Interop: an image imported into the store is read back by go-containerregistry's
//! `pkg/v1/layout` (conformance/store-layout), which re-hashes every blob and checks the config's
//! diff IDs against the layers. Skipped with a note when `go` is not installed.
#![allow(clippy::unwrap_used, missing_docs)]

mod store_common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use registry_core::store::*;
use store_common::*;

/// A real layer: gzip(tar(files)); returns (compressed, uncompressed).
fn layer(seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..3 {
        let data = bytes(seed * 10 + i, 1000 + i as usize * 777);
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, format!("layer{seed}/file{i}"), &data[..])
            .unwrap();
    }
    let plain = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    (gz.finish().unwrap(), plain)
}

fn real_image(dir: &Path, tag: &str) -> Digest {
    let layers: Vec<(Vec<u8>, Vec<u8>)> = (1..=2).map(layer).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|(_, p)| d256(p).to_string()).collect::<Vec<_>>()},
    }))
    .unwrap();
    let desc = |mt: &str, b: &[u8]| serde_json::json!({"mediaType": mt, "digest": d256(b).to_string(), "size": b.len()});
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", &config),
        "layers": layers.iter().map(|(c, _)| desc("application/vnd.oci.image.layer.v1.tar+gzip", c)).collect::<Vec<_>>(),
    }))
    .unwrap();
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    for b in [&config, &manifest]
        .into_iter()
        .chain(layers.iter().map(|(c, _)| c))
    {
        std::fs::write(dir.join("blobs/sha256").join(d256(b).hex()), b).unwrap();
    }
    let mut m = desc("application/vnd.oci.image.manifest.v1+json", &manifest);
    m["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [m]})).unwrap(),
    )
    .unwrap();
    d256(&manifest)
}

#[test]
fn go_containerregistry_reads_the_store() {
    if Command::new("go").arg("version").output().is_err() {
        eprintln!("NOTE: `go` not found; skipping the go-containerregistry interop test");
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let m = real_image(src.path(), "interop:v1");
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    store
        .import_dir(src.path(), ImportOptions::default())
        .unwrap();
    // A second tag set through the API, and an unrelated untagged blob, must not confuse it.
    store.tag("interop:latest", &m).unwrap();
    store.put_bytes(b"unreferenced", None).unwrap();
    let conformance = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/store-layout");
    let out = Command::new("go")
        .args(["test", "-count=1", "-v", "./..."])
        .current_dir(&conformance)
        .env("STORE_ROOT", root.path())
        .env("STORE_EXPECT_TAGS", "interop:v1,interop:latest")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "go test failed:\n{text}");
    assert!(
        text.contains("--- PASS: TestStoreRootIsAnOCILayout"),
        "{text}"
    );
}
