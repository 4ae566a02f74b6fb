//! References: tags in `index.json` as `org.opencontainers.image.ref.name` annotations. Every
//! change is a read-modify-write under `index.lock` and lands by atomic rename, so readers (ours
//! or other OCI tools) always see a complete file. Unknown fields in `index.json` are preserved.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Store;
use super::digest::Digest;
use super::error::{IoContext, Result, StoreError};
use super::layout;
use super::lock::LockName;
use super::manifest::{self, MAX_MANIFEST};

pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A tag in `index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagEntry {
    /// The tag (`org.opencontainers.image.ref.name`).
    pub name: String,
    /// The manifest or index it points at.
    pub digest: Digest,
    /// The target's size.
    pub size: u64,
    /// The target's media type.
    pub media_type: String,
}

/// Checks a tag against the OCI `ref.name` grammar: components of `[A-Za-z0-9]+` joined by
/// `-._:@+` or `--`, separated by `/`; at most 255 bytes. So `v1.2`, `deckhouse/ee:v1.60` and
/// `sha256-abc.sig` are fine, while `../x`, `a//b`, empty strings and control bytes are not.
pub fn validate_tag(tag: &str) -> Result<()> {
    let bad = |reason| StoreError::InvalidTag {
        tag: super::digest::printable(tag),
        reason,
    };
    if tag.is_empty() {
        return Err(bad("empty"));
    }
    if tag.len() > 255 {
        return Err(bad("longer than 255 bytes"));
    }
    for component in tag.split('/') {
        let b = component.as_bytes();
        if b.is_empty() {
            return Err(bad("empty path component"));
        }
        if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
            return Err(bad("components must start and end with a letter or digit"));
        }
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            if !matches!(b[i], b'-' | b'.' | b'_' | b':' | b'@' | b'+') {
                return Err(bad(
                    "only letters, digits, '/', '-', '.', '_', ':', '@', '+' allowed",
                ));
            }
            let double_dash = b[i] == b'-' && b.get(i + 1) == Some(&b'-');
            i += if double_dash { 2 } else { 1 };
            if i < b.len() && !b[i].is_ascii_alphanumeric() {
                return Err(bad("separators must not repeat"));
            }
        }
    }
    Ok(())
}

/// `index.json` as a JSON document, so fields this module does not know survive rewrites.
#[derive(Debug, Clone)]
pub(crate) struct IndexDoc {
    pub(crate) doc: Map<String, Value>,
}

impl IndexDoc {
    pub(crate) fn empty() -> IndexDoc {
        let mut doc = Map::new();
        doc.insert("schemaVersion".into(), json!(2));
        doc.insert("mediaType".into(), json!(manifest::media_types::OCI_INDEX));
        doc.insert("manifests".into(), json!([]));
        IndexDoc { doc }
    }

    pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<IndexDoc> {
        let bad = |reason: String| StoreError::InvalidLayout {
            path: path.to_path_buf(),
            reason,
        };
        let v: Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let Value::Object(doc) = v else {
            return Err(bad("not a JSON object".into()));
        };
        match doc.get("manifests") {
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    manifest::Descriptor::from_value(item)
                        .map_err(|r| bad(format!("manifests[{i}]: {r}")))?;
                }
            }
            None | Some(Value::Null) => {}
            Some(_) => return Err(bad("\"manifests\" is not an array".into())),
        }
        Ok(IndexDoc { doc })
    }

    pub(crate) fn load(path: &Path) -> Result<IndexDoc> {
        let bytes = fs::read(path).at(path)?;
        IndexDoc::parse(path, &bytes)
    }

    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.doc).map_err(|e| StoreError::InvalidLayout {
            path: "index.json".into(),
            reason: format!("cannot encode: {e}"),
        })
    }

    fn items(&self) -> &[Value] {
        match self.doc.get("manifests") {
            Some(Value::Array(a)) => a,
            _ => &[],
        }
    }

    fn with_items<R>(&mut self, f: impl FnOnce(&mut Vec<Value>) -> R) -> R {
        let mut items = match self.doc.remove("manifests") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let r = f(&mut items);
        self.doc.insert("manifests".into(), Value::Array(items));
        r
    }

    /// Every descriptor (tagged or not).
    pub(crate) fn descriptors(&self) -> Vec<manifest::Descriptor> {
        self.items()
            .iter()
            .filter_map(|v| manifest::Descriptor::from_value(v).ok())
            .collect()
    }

    pub(crate) fn tags(&self) -> Vec<TagEntry> {
        let mut out: Vec<TagEntry> = self
            .descriptors()
            .into_iter()
            .filter_map(|d| {
                Some(TagEntry {
                    name: d.ref_name.clone()?,
                    digest: d.digest,
                    size: d.size,
                    media_type: d.media_type.unwrap_or_default(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Points `name` at `target`, replacing an existing entry with that name.
    pub(crate) fn set_tag(&mut self, name: &str, target: &manifest::Descriptor) {
        self.remove_tag(name);
        let mut entry = Map::new();
        entry.insert(
            "mediaType".into(),
            json!(
                target
                    .media_type
                    .clone()
                    .unwrap_or_else(|| manifest::media_types::OCI_MANIFEST.to_string())
            ),
        );
        entry.insert("digest".into(), json!(target.digest.to_string()));
        entry.insert("size".into(), json!(target.size));
        if let Some(p) = &target.platform {
            entry.insert("platform".into(), p.clone());
        }
        entry.insert("annotations".into(), json!({ REF_NAME: name }));
        self.with_items(|items| items.push(Value::Object(entry)));
    }

    /// Adds an untagged descriptor unless an identical digest is already listed untagged.
    pub(crate) fn add_untagged(&mut self, raw: &Value, digest: &Digest) {
        let exists = self
            .descriptors()
            .iter()
            .any(|d| &d.digest == digest && d.ref_name.is_none());
        if !exists {
            self.with_items(|items| items.push(raw.clone()));
        }
    }

    pub(crate) fn remove_tag(&mut self, name: &str) -> bool {
        self.with_items(|items| {
            let before = items.len();
            items.retain(|v| {
                v.get("annotations")
                    .and_then(|a| a.get(REF_NAME))
                    .and_then(Value::as_str)
                    != Some(name)
            });
            items.len() != before
        })
    }
}

impl Store {
    pub(crate) fn load_index(&self) -> Result<IndexDoc> {
        IndexDoc::load(&self.layout().index())
    }

    /// Rewrites `index.json` under the index lock. The caller must hold the shared GC lock if it
    /// adds references, so a concurrent sweep sees either the old or the new file.
    pub(crate) fn update_index<T>(&self, f: impl FnOnce(&mut IndexDoc) -> Result<T>) -> Result<T> {
        let _g = self.lock(LockName::Index, true)?;
        let path = self.layout().index();
        let mut doc = IndexDoc::load(&path)?;
        let out = f(&mut doc)?;
        let bytes = doc.to_bytes()?;
        layout::write_atomic(&path, &bytes, &self.layout().tmp(), self.durable())?;
        Ok(out)
    }

    /// All tags, sorted by name.
    pub fn tags(&self) -> Result<Vec<TagEntry>> {
        Ok(self.load_index()?.tags())
    }

    /// The digest a tag points at.
    pub fn resolve(&self, tag: &str) -> Result<Digest> {
        self.tags()?
            .into_iter()
            .find(|t| t.name == tag)
            .map(|t| t.digest)
            .ok_or_else(|| StoreError::NotFound {
                what: format!("tag {:?}", super::digest::printable(tag)),
            })
    }

    /// Resolves a reference that is either a digest or a tag.
    pub fn resolve_ref(&self, reference: &str) -> Result<Digest> {
        if reference.contains(':')
            && let Ok(d) = Digest::parse(reference)
        {
            return Ok(d);
        }
        self.resolve(reference)
    }

    /// Points `tag` at a stored manifest or index (its media type is read from the blob).
    /// Atomic: readers see the old or the new `index.json`, never a mix.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let store = registry_core::store::Store::open(dir.path())?;
    /// let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    /// let d = store.put_bytes(m, None)?.digest;
    /// store.tag("v1", &d)?;
    /// assert_eq!(store.resolve("v1")?, d);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tag(&self, tag: &str, digest: &Digest) -> Result<()> {
        validate_tag(tag)?;
        let _gc = self.lock(LockName::Gc, false)?;
        let bytes = self.read_limited(digest, MAX_MANIFEST)?;
        let media_type =
            manifest::sniff_media_type(&bytes).ok_or_else(|| StoreError::InvalidManifest {
                digest: digest.clone(),
                reason: "not an image manifest or index (no recognisable mediaType or structure)"
                    .into(),
            })?;
        let desc = manifest::Descriptor {
            media_type: Some(media_type),
            digest: digest.clone(),
            size: bytes.len() as u64,
            ref_name: None,
            platform: None,
        };
        self.touch(digest)?;
        self.update_index(|doc| {
            doc.set_tag(tag, &desc);
            Ok(())
        })
    }

    /// Removes a tag. `NotFound` if it did not exist. The blobs stay until GC.
    pub fn untag(&self, tag: &str) -> Result<()> {
        let removed = self.update_index(|doc| Ok(doc.remove_tag(tag)))?;
        if removed {
            Ok(())
        } else {
            Err(StoreError::NotFound {
                what: format!("tag {:?}", super::digest::printable(tag)),
            })
        }
    }
}
