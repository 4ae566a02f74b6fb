//! References: tags in `index.json` as `org.opencontainers.image.ref.name` annotations, in the
//! repositories `repository.rs` describes. Every change is a read-modify-write under `index.lock`
//! and lands by atomic rename, so readers (ours or other OCI tools) always see a complete file.
//! Unknown fields in `index.json` are preserved.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Store;
use super::digest::Digest;
use super::error::{IoContext, Result, StoreError};
use super::layout;
use super::lock::LockName;
use super::manifest;
use super::repository::{REPOSITORY_ANNOTATION, Repository};

pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A tag in `index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagEntry {
    /// The repository the tag is in (omitted in JSON for the root repository).
    #[serde(default, skip_serializing_if = "Repository::is_root")]
    pub repository: Repository,
    /// The tag within its repository (empty for an untagged entry).
    pub name: String,
    /// The manifest or index it points at.
    pub digest: Digest,
    /// The target's size.
    pub size: u64,
    /// The target's media type.
    pub media_type: String,
}

impl TagEntry {
    /// How the entry is named across repositories: `repository:tag`, or just `tag` in the root
    /// repository (the `ref.name` it is stored under).
    pub fn reference(&self) -> String {
        self.repository.ref_name(&self.name)
    }
}

/// One `index.json` descriptor with its repository and tag worked out.
#[derive(Debug, Clone)]
pub(crate) struct IndexEntry {
    pub(crate) repository: Repository,
    pub(crate) tag: Option<String>,
    pub(crate) descriptor: manifest::Descriptor,
}

impl IndexEntry {
    /// Reads an entry; `None` for a descriptor that does not parse or names an invalid
    /// repository (kept in the file, but in no repository).
    pub(crate) fn from_value(v: &Value) -> Option<IndexEntry> {
        let descriptor = manifest::Descriptor::from_value(v).ok()?;
        let repository = match repository_of(v) {
            Some(name) => Repository::parse(name).ok()?,
            None => Repository::root(),
        };
        let tag = descriptor.ref_name.as_deref().map(|name| {
            let prefix = repository.ref_name("");
            match name.strip_prefix(&prefix) {
                Some(tag) if !repository.is_root() => tag.to_owned(),
                _ => name.to_owned(),
            }
        });
        Some(IndexEntry {
            repository,
            tag,
            descriptor,
        })
    }

    pub(crate) fn into_tag_entry(self) -> TagEntry {
        TagEntry {
            repository: self.repository,
            name: self.tag.unwrap_or_default(),
            digest: self.descriptor.digest,
            size: self.descriptor.size,
            media_type: self.descriptor.media_type.unwrap_or_default(),
        }
    }
}

fn repository_of(v: &Value) -> Option<&str> {
    v.get("annotations")?.get(REPOSITORY_ANNOTATION)?.as_str()
}

fn ref_name_of(v: &Value) -> Option<&str> {
    v.get("annotations")?.get(REF_NAME)?.as_str()
}

/// Whether a raw descriptor is in `repo` (an invalid repository annotation is in none).
fn in_repository(v: &Value, repo: &Repository) -> bool {
    match repository_of(v) {
        Some(name) => name == repo.as_str() && !repo.is_root(),
        None => repo.is_root(),
    }
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

    /// Every descriptor that parses, with its repository and tag.
    pub(crate) fn entries(&self) -> Vec<IndexEntry> {
        self.items()
            .iter()
            .filter_map(IndexEntry::from_value)
            .collect()
    }

    /// Every tagged entry in any repository, sorted by reference.
    pub(crate) fn tags(&self) -> Vec<TagEntry> {
        let mut out: Vec<TagEntry> = self
            .entries()
            .into_iter()
            .filter(|e| e.tag.is_some())
            .map(IndexEntry::into_tag_entry)
            .collect();
        out.sort_by_key(TagEntry::reference);
        out
    }

    /// Points `tag` in `repo` at `target`, replacing the entry the tag had there. Refuses a tag
    /// whose `ref.name` another repository's entry already uses (a root tag `a:b` against tag `b`
    /// of repository `a`), so ref names stay unique for OCI tools.
    pub(crate) fn set_tag_in(
        &mut self,
        repo: &Repository,
        tag: &str,
        target: &manifest::Descriptor,
    ) -> Result<()> {
        repo.check_tag(tag)?;
        let ref_name = repo.ref_name(tag);
        let clash = self
            .items()
            .iter()
            .any(|v| ref_name_of(v) == Some(ref_name.as_str()) && !in_repository(v, repo));
        if clash {
            return Err(StoreError::InvalidTag {
                tag: super::digest::printable(tag),
                reason: "its ref.name is already used by a tag of another repository",
            });
        }
        self.remove_tag_in(repo, tag);
        let mut annotations = Map::new();
        annotations.insert(REF_NAME.into(), json!(ref_name));
        if !repo.is_root() {
            annotations.insert(REPOSITORY_ANNOTATION.into(), json!(repo.as_str()));
        }
        let entry = descriptor_value(target, annotations);
        self.with_items(|items| items.push(entry));
        Ok(())
    }

    /// Records `target` in `repo` without a tag, unless `repo` already lists its digest.
    pub(crate) fn keep_in(&mut self, repo: &Repository, target: &manifest::Descriptor) {
        let listed = self
            .entries()
            .iter()
            .any(|e| &e.repository == repo && e.descriptor.digest == target.digest);
        if listed {
            return;
        }
        let mut annotations = Map::new();
        if !repo.is_root() {
            annotations.insert(REPOSITORY_ANNOTATION.into(), json!(repo.as_str()));
        }
        let entry = descriptor_value(target, annotations);
        self.with_items(|items| items.push(entry));
    }

    /// Removes every entry of `digest` in `repo`; returns how many.
    pub(crate) fn forget_in(&mut self, repo: &Repository, digest: &Digest) -> usize {
        let digest = digest.to_string();
        self.with_items(|items| {
            let before = items.len();
            items.retain(|v| {
                !(in_repository(v, repo)
                    && v.get("digest").and_then(Value::as_str) == Some(digest.as_str()))
            });
            before - items.len()
        })
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

    /// Removes `tag` from `repo`.
    pub(crate) fn remove_tag_in(&mut self, repo: &Repository, tag: &str) -> bool {
        let ref_name = repo.ref_name(tag);
        self.with_items(|items| {
            let before = items.len();
            items
                .retain(|v| !(in_repository(v, repo) && ref_name_of(v) == Some(ref_name.as_str())));
            items.len() != before
        })
    }
}

/// An `index.json` entry for `target` with `annotations`.
fn descriptor_value(target: &manifest::Descriptor, annotations: Map<String, Value>) -> Value {
    let mut entry = Map::new();
    let media_type = target
        .media_type
        .clone()
        .unwrap_or_else(|| manifest::media_types::OCI_MANIFEST.to_string());
    entry.insert("mediaType".into(), json!(media_type));
    entry.insert("digest".into(), json!(target.digest.to_string()));
    entry.insert("size".into(), json!(target.size));
    if let Some(p) = &target.platform {
        entry.insert("platform".into(), p.clone());
    }
    if !annotations.is_empty() {
        entry.insert("annotations".into(), Value::Object(annotations));
    }
    Value::Object(entry)
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

    /// Every tag in any repository, sorted by [`TagEntry::reference`].
    pub fn tags(&self) -> Result<Vec<TagEntry>> {
        Ok(self.load_index()?.tags())
    }

    /// The digest a tag of the root repository points at.
    pub fn resolve(&self, tag: &str) -> Result<Digest> {
        self.resolve_in(&Repository::root(), tag)
    }

    /// Resolves a reference that is either a digest or a tag of the root repository.
    pub fn resolve_ref(&self, reference: &str) -> Result<Digest> {
        if reference.contains(':')
            && let Ok(d) = Digest::parse(reference)
        {
            return Ok(d);
        }
        self.resolve(reference)
    }

    /// Points `tag` of the root repository at a stored manifest or index (its media type is
    /// read from the blob). Atomic: readers see the old or the new `index.json`, never a mix.
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
        self.tag_in(&Repository::root(), tag, digest)
    }

    /// Removes a tag of the root repository. `NotFound` if it did not exist. The blobs stay
    /// until GC.
    pub fn untag(&self, tag: &str) -> Result<()> {
        self.untag_in(&Repository::root(), tag)
    }
}
