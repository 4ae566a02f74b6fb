//! Local mode on two masters: a registryd asks its `--peer`s for what its store lacks, so an
//! image pushed to one master is served by the other at once, not only after the next sync
//! pass; and a request one master forwards is never forwarded back, so what neither has is a
//! quick 404, not a loop. curl is the client; the masters listen on 127.0.0.41/.42 only.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use registry_core::store::{Algorithm, Digest, Repository, Store};

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

/// An untagged manifest in `root`'s root repository whose `subject` is `subject` (a signature
/// or an SBOM as cosign and oras attach them): its digest and its payload's.
fn referrer(root: &Path, subject: &Digest, subject_size: usize, kind: &str) -> (Digest, Digest) {
    let store = Store::open(root).expect("store");
    let empty = store.put_bytes(b"{}", None).expect("config");
    let payload = store
        .put_bytes(format!("a {kind} of {subject}").as_bytes(), None)
        .expect("payload");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": format!("application/vnd.test.{kind}"),
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.digest.to_string(), "size": empty.size},
        "layers": [{"mediaType": "text/plain", "digest": payload.digest.to_string(), "size": payload.size}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject.to_string(), "size": subject_size},
    }))
    .expect("json");
    let m = store.put_bytes(&manifest, None).expect("manifest");
    store
        .keep_in(&Repository::root(), &m.digest)
        .expect("kept untagged");
    (m.digest, payload.digest)
}

fn sync(root: &Path, from: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_registryd"))
        .args(["sync", "--root"])
        .arg(root)
        .args(["--from", &format!("http://{from}")])
        .output()
        .expect("registryd sync runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_sync_pass_copies_the_referrers_of_what_it_copies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a_root, b_root) = (dir.path().join("a"), dir.path().join("b"));
    let (manifest, _, _) = image(&a_root);
    let image_digest = Digest::of(Algorithm::Sha256, &manifest);
    let (signature, sig_payload) = referrer(&a_root, &image_digest, manifest.len(), "signature");
    let sig_size = Store::open(&a_root)
        .expect("store")
        .stat(&signature)
        .expect("stat")
        .size as usize;
    // A referrer of the referrer (an attestation of the signature), one level further down.
    let (second, second_payload) = referrer(&a_root, &signature, sig_size, "attestation");
    let a = "127.0.0.43:5001";
    let _a = Registryd::start(["--root", a_root.to_str().expect("utf-8"), "--listen", a]);

    let first = sync(&b_root, a);
    assert!(
        first.contains(", 1 tags set, 2 referrers kept, "),
        "{first}"
    );
    let b = Store::open(&b_root).expect("b's store");
    // Kept untagged in the repository they came from (the root one here).
    let names = |d: &Digest| -> Vec<(bool, String, Digest)> {
        b.referrers(d)
            .expect("referrers")
            .into_iter()
            .map(|e| (e.repository.is_root(), e.name, e.digest))
            .collect()
    };
    assert_eq!(
        names(&image_digest),
        [(true, String::new(), signature.clone())]
    );
    assert_eq!(names(&signature), [(true, String::new(), second.clone())]);
    assert!(
        b.completeness(&["v1".into()])
            .expect("completeness")
            .complete,
        "the image itself is complete"
    );
    for d in [&sig_payload, &second_payload] {
        assert!(b.has(d).expect("has"), "{d} copied");
    }
    // A second pass has nothing left to copy.
    let again = sync(&b_root, a);
    assert!(
        again.contains(", 0 tags set, 0 referrers kept, "),
        "{again}"
    );
}
