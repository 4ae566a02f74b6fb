//! Manifests and indexes: descriptors, media types, and the references a manifest holds
//! (parsed with `oci-spec`), which GC marking, completeness and export follow.

use serde_json::Value;

use crate::store::digest::Digest;
use crate::store::error::{Result, StoreError};

/// The OCI image-layout annotation that names a descriptor in `index.json` (a tag).
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Largest manifest or index the store parses (the distribution spec asks registries to accept
/// at least 4 MB).
pub(crate) const MAX_MANIFEST: u64 = 16 << 20;

/// Media types the store recognises.
pub mod media_types {
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// Docker image manifest v2 schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list.
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
}

/// What kind of document a manifest-ish blob is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum MediaKind {
    /// An image manifest (config + layers).
    Manifest,
    /// An index / manifest list (child manifests).
    Index,
}

/// A content descriptor as found in `index.json` and in manifests.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Descriptor {
    pub(crate) media_type: Option<String>,
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    pub(crate) ref_name: Option<String>,
    pub(crate) platform: Option<Value>,
}

impl Descriptor {
    pub(crate) fn from_value(v: &Value) -> std::result::Result<Descriptor, String> {
        let digest = v
            .get("digest")
            .and_then(Value::as_str)
            .ok_or("descriptor has no \"digest\" string")?;
        let digest = Digest::parse(digest).map_err(|e| e.to_string())?;
        let size = v.get("size").and_then(Value::as_u64).ok_or_else(|| {
            format!("descriptor of {digest} has no non-negative integer \"size\"")
        })?;
        Ok(Descriptor {
            media_type: v
                .get("mediaType")
                .and_then(Value::as_str)
                .map(str::to_owned),
            digest,
            size,
            ref_name: v
                .get("annotations")
                .and_then(|a| a.get(REF_NAME))
                .and_then(Value::as_str)
                .map(str::to_owned),
            platform: v.get("platform").cloned(),
        })
    }

    fn from_oci(d: &oci_spec::image::Descriptor, owner: &Digest) -> Result<Descriptor> {
        let digest =
            Digest::parse(d.digest().as_ref()).map_err(|e| StoreError::InvalidManifest {
                digest: owner.clone(),
                reason: format!("references {e}"),
            })?;
        Ok(Descriptor {
            media_type: Some(d.media_type().to_string()),
            digest,
            size: d.size(),
            ref_name: None,
            platform: None,
        })
    }
}

/// The references of a manifest or index.
#[derive(Debug, Default)]
pub(crate) struct Children {
    /// Manifests to follow (an index's entries).
    pub(crate) manifests: Vec<Descriptor>,
    /// Leaves: config and layers.
    pub(crate) blobs: Vec<Descriptor>,
    /// The OCI 1.1 `subject` of a referrer: a weak, backward reference. Closures, GC marking
    /// and imports do not follow it, so a referrer never keeps its subject alive or needs it.
    pub(crate) subject: Option<Descriptor>,
}

/// Guesses what a JSON document is from its `mediaType`, else from its shape.
pub(crate) fn sniff(bytes: &[u8]) -> Option<(MediaKind, String)> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let declared = v.get("mediaType").and_then(Value::as_str);
    let kind = if v.get("manifests").is_some_and(Value::is_array) {
        MediaKind::Index
    } else if v.get("layers").is_some_and(Value::is_array)
        || v.get("config").is_some_and(Value::is_object)
    {
        MediaKind::Manifest
    } else {
        return None;
    };
    let mt = declared.map(str::to_owned).unwrap_or_else(|| {
        match kind {
            MediaKind::Index => media_types::OCI_INDEX,
            MediaKind::Manifest => media_types::OCI_MANIFEST,
        }
        .to_owned()
    });
    Some((kind, mt))
}

pub(crate) fn sniff_media_type(bytes: &[u8]) -> Option<String> {
    sniff(bytes).map(|(_, m)| m)
}

/// Parses a manifest or index and returns what it references. `Ok(None)` if the bytes are not a
/// manifest or index at all (e.g. an artifact blob tagged directly).
pub(crate) fn children(digest: &Digest, bytes: &[u8]) -> Result<Option<Children>> {
    let Some((kind, _)) = sniff(bytes) else {
        return Ok(None);
    };
    let invalid = |e: oci_spec::OciSpecError| StoreError::InvalidManifest {
        digest: digest.clone(),
        reason: e.to_string(),
    };
    let mut out = Children::default();
    match kind {
        MediaKind::Index => {
            let idx = oci_spec::image::ImageIndex::from_reader(bytes).map_err(invalid)?;
            for m in idx.manifests() {
                out.manifests.push(Descriptor::from_oci(m, digest)?);
            }
            if let Some(s) = idx.subject() {
                out.subject = Some(Descriptor::from_oci(s, digest)?);
            }
        }
        MediaKind::Manifest => {
            let m = oci_spec::image::ImageManifest::from_reader(bytes).map_err(invalid)?;
            out.blobs.push(Descriptor::from_oci(m.config(), digest)?);
            for l in m.layers() {
                out.blobs.push(Descriptor::from_oci(l, digest)?);
            }
            if let Some(s) = m.subject() {
                out.subject = Some(Descriptor::from_oci(s, digest)?);
            }
        }
    }
    Ok(Some(out))
}

/// Every `digest` string anywhere in a JSON document: what GC marks when a rooted manifest cannot
/// be parsed strictly, so an odd manifest never gets its blobs deleted.
pub(crate) fn all_digests(bytes: &[u8]) -> Vec<Digest> {
    fn walk(v: &Value, out: &mut Vec<Digest>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "digest"
                        && let Some(d) = v.as_str().and_then(|s| Digest::parse(s).ok())
                    {
                        out.push(d);
                    }
                    walk(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        walk(&v, &mut out);
    }
    out
}
