//! Shared helpers of the store integration tests: independent digests (sha2 crate, not the
//! store's hasher) and builders for OCI images and layouts.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use registry_core::store::{Digest, Store};
use sha2::{Digest as _, Sha256, Sha512};

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn sha512_hex(bytes: &[u8]) -> String {
    Sha512::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The sha256 digest of `bytes`, computed independently of the store.
pub fn d256(bytes: &[u8]) -> Digest {
    format!("sha256:{}", sha256_hex(bytes))
        .parse()
        .expect("valid digest")
}

pub fn d512(bytes: &[u8]) -> Digest {
    format!("sha512:{}", sha512_hex(bytes))
        .parse()
        .expect("valid digest")
}

/// Deterministic pseudo-random bytes.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// An image as a set of blobs plus the descriptor of its top manifest.
pub struct Image {
    pub blobs: BTreeMap<String, Vec<u8>>,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    pub layer_digests: Vec<Digest>,
}

fn desc(media: &str, b: &[u8]) -> serde_json::Value {
    serde_json::json!({"mediaType": media, "digest": d256(b).to_string(), "size": b.len()})
}

/// A single-platform OCI image with `layers` layers of `layer_size` bytes.
pub fn image(seed: u64, layers: usize, layer_size: usize) -> Image {
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
        "config": {"Labels": {"seed": seed.to_string()}}
    }))
    .expect("json");
    let layer_blobs: Vec<Vec<u8>> = (0..layers)
        .map(|i| bytes(seed * 100 + i as u64, layer_size))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", &config),
        "layers": layer_blobs.iter().map(|l| desc("application/vnd.oci.image.layer.v1.tar+gzip", l)).collect::<Vec<_>>(),
    }))
    .expect("json");
    let mut blobs = BTreeMap::new();
    blobs.insert(d256(&config).to_string(), config.clone());
    for l in &layer_blobs {
        blobs.insert(d256(l).to_string(), l.clone());
    }
    blobs.insert(d256(&manifest).to_string(), manifest.clone());
    Image {
        manifest_digest: d256(&manifest),
        config_digest: d256(&config),
        layer_digests: layer_blobs.iter().map(|l| d256(l)).collect(),
        blobs,
        manifest,
    }
}

/// Puts every blob of `img` into the store and tags it.
pub fn store_image(store: &Store, img: &Image, tag: &str) {
    for (d, b) in &img.blobs {
        let d: Digest = d.parse().expect("digest");
        store.put_bytes(b, Some(&d)).expect("put");
    }
    store.tag(tag, &img.manifest_digest).expect("tag");
}

/// Writes an OCI image layout folder holding `images` (tag, image).
pub fn write_layout(dir: &Path, images: &[(&str, &Image)]) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("write");
    let mut manifests = Vec::new();
    for (tag, img) in images {
        for (d, b) in &img.blobs {
            let hex = d.strip_prefix("sha256:").expect("sha256");
            std::fs::write(dir.join("blobs/sha256").join(hex), b).expect("write blob");
        }
        let mut m = desc("application/vnd.oci.image.manifest.v1+json", &img.manifest);
        m["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
        manifests.push(m);
    }
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("write");
}

/// Writes a tar of the files under `dir` (sorted) with the `tar` crate.
pub fn tar_of(dir: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", dir).expect("tar");
    b.into_inner().expect("tar")
}

/// Every file under the store's `blobs/` hashes to its name.
pub fn all_blobs_valid(root: &Path) -> Result<usize, String> {
    let mut n = 0;
    for alg in ["sha256", "sha512"] {
        let dir = root.join("blobs").join(alg);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd {
            let e = e.map_err(|e| e.to_string())?;
            let name = e.file_name().to_string_lossy().into_owned();
            let content = std::fs::read(e.path()).map_err(|e| e.to_string())?;
            let actual = if alg == "sha256" {
                sha256_hex(&content)
            } else {
                sha512_hex(&content)
            };
            if actual != name {
                return Err(format!(
                    "{alg}/{name} hashes to {actual} ({} bytes)",
                    content.len()
                ));
            }
            n += 1;
        }
    }
    Ok(n)
}

/// The names of the files in a store's private tmp folder.
pub fn tmp_files(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join(".registry-store/tmp"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Commits `w` against the independent digest and the size of `data`, and checks that the store
/// reads the blob back as `data`; returns its digest.
pub fn commit_as(w: registry_core::store::BlobWriter, store: &Store, data: &[u8]) -> Digest {
    let d = w
        .commit(Some(&d256(data)), Some(data.len() as u64))
        .expect("the blob commits against its digest and size")
        .digest;
    assert_eq!(store.read(&d).expect("the blob reads back"), data);
    d
}
