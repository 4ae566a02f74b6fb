//! Local mode on two masters: a registryd asks its `--peer`s for what its store lacks, so an
//! image pushed to one master is served by the other at once, not only after the next sync
//! pass; and a request one master forwards is never forwarded back, so what neither has is a
//! quick 404, not a loop. curl is the client; the masters listen on 127.0.0.41/.42 only.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use registry_core::store::{Algorithm, Digest, Store};

mod common;
use common::Registryd;

const NS: &str = "system/deckhouse";

fn start(root: &Path, listen: &str, peer: &str) -> Registryd {
    let root = root.to_str().expect("utf-8 path");
    let peer = format!("http://{peer}");
    Registryd::start(["--root", root, "--listen", listen, "--peer", &peer])
}

/// `GET` with curl: the status and the body.
fn get(url: &str) -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = dir.path().join("body");
    let out = Command::new("curl")
        .args(["-s", "-o"])
        .arg(&body)
        .args(["-w", "%{http_code}", "-H"])
        .arg("Accept: application/vnd.oci.image.manifest.v1+json")
        .arg(url)
        .output()
        .expect("curl is installed (make deps installs it)");
    let status = String::from_utf8_lossy(&out.stdout).into_owned();
    (status, std::fs::read(&body).unwrap_or_default())
}

/// One image tagged `v1` in `root`'s store: its manifest bytes and its layer.
fn image(root: &Path) -> (Vec<u8>, Digest, Vec<u8>) {
    let store = Store::open(root).expect("store");
    let config = store.put_bytes(b"{}", None).expect("config");
    let layer_bytes = b"a layer that only the first master has".to_vec();
    let layer = store.put_bytes(&layer_bytes, None).expect("layer");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest.to_string(), "size": config.size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.digest.to_string(), "size": layer.size}],
    }))
    .expect("json");
    let m = store.put_bytes(&manifest, None).expect("manifest");
    store.tag("v1", &m.digest).expect("tag");
    (manifest, layer.digest, layer_bytes)
}

#[test]
fn a_master_serves_what_only_its_peer_has_and_misses_do_not_loop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a_root, b_root) = (dir.path().join("a"), dir.path().join("b"));
    let (manifest, layer, layer_bytes) = image(&a_root);
    let (a, b) = ("127.0.0.41:5001", "127.0.0.42:5001");
    let _a = start(&a_root, a, b);
    let _b = start(&b_root, b, a);

    // b has nothing; it answers from a, byte for byte, and keeps what it fetched.
    let (status, body) = get(&format!("http://{b}/v2/{NS}/manifests/v1"));
    assert_eq!(status, "200");
    assert_eq!(body, manifest);
    let (status, body) = get(&format!("http://{b}/v2/{NS}/blobs/{layer}"));
    assert_eq!(status, "200");
    assert_eq!(body, layer_bytes);
    let kept = Store::open(&b_root).expect("b's store");
    assert!(kept.has(&layer).expect("has"));
    assert_eq!(
        kept.resolve("v1").expect("tag kept"),
        Digest::of(Algorithm::Sha256, &manifest)
    );

    // Neither has it: a quick 404 from each, in either direction (no forwarding back).
    let missing = Digest::of(Algorithm::Sha256, b"on no master");
    for host in [a, b] {
        let t = Instant::now();
        let (status, _) = get(&format!("http://{host}/v2/{NS}/blobs/{missing}"));
        assert_eq!(status, "404", "{host}");
        let (status, _) = get(&format!("http://{host}/v2/{NS}/manifests/nope"));
        assert_eq!(status, "404", "{host}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{host}: {:?}",
            t.elapsed()
        );
    }
}
