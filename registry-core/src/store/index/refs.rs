//! References: tags in `index.json` as `org.opencontainers.image.ref.name` annotations, in the
//! repositories `repository.rs` describes. Every change is a read-modify-write under `index.lock`
//! and lands by atomic rename, so readers (ours or other OCI tools) always see a complete file.
//! Unknown fields in `index.json` are preserved.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::store::Store;
use crate::store::digest::Digest;
use crate::store::error::{IoContext, Result, StoreError};
use crate::store::index::manifest::{self, REF_NAME};
use crate::store::index::repository::{REPOSITORY_ANNOTATION, Repository};
use crate::store::layout;
use crate::store::lock::LockName;

/// Annotation (value `"true"`) pinning an untagged `index.json` entry of the root repository, so
/// GC keeps it. Tagged entries and entries with a repository annotation are GC roots anyway; a
/// plain untagged entry (as `oras copy` or `crane pull` write) is not: GC collects its manifest
/// once the grace period is over and drops the entry.
pub const PIN_ANNOTATION: &str = "io.deckhouse.registry.pinned";

/// Whether an `index.json` entry keeps what it references alive (see [`PIN_ANNOTATION`]).
pub(crate) fn is_gc_root(v: &Value) -> bool {
    ref_name_of(v).is_some()
        || repository_of(v).is_some()
        || v.get("annotations")
            .and_then(|a| a.get(PIN_ANNOTATION))
            .and_then(Value::as_str)
            == Some("true")
}

/// A tag in `index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
        tag: crate::store::message::printable(tag),
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

    pub(crate) fn items(&self) -> &[Value] {
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
                tag: crate::store::message::printable(tag),
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
    /// In the root repository the entry is pinned (an existing unpinned untagged entry of the
    /// digest gets the pin), so it stays a GC root.
    pub(crate) fn keep_in(&mut self, repo: &Repository, target: &manifest::Descriptor) {
        let digest = target.digest.to_string();
        let pinned = self.with_items(|items| {
            let mut listed = false;
            for v in items.iter_mut() {
                if in_repository(v, repo)
                    && v.get("digest").and_then(Value::as_str) == Some(digest.as_str())
                {
                    listed = true;
                    if repo.is_root() && !is_gc_root(v) {
                        set_pin(v, true);
                    }
                }
            }
            listed
        });
        if pinned {
            return;
        }
        let mut annotations = Map::new();
        if !repo.is_root() {
            annotations.insert(REPOSITORY_ANNOTATION.into(), json!(repo.as_str()));
        } else {
            annotations.insert(PIN_ANNOTATION.into(), json!("true"));
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

    /// Removes the plain untagged entries (not GC roots) of `digest`.
    pub(crate) fn forget_loose(&mut self, digest: &Digest) {
        let digest = digest.to_string();
        self.with_items(|items| {
            items.retain(|v| {
                is_gc_root(v) || v.get("digest").and_then(Value::as_str) != Some(digest.as_str())
            })
        });
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

/// Annotation keeping a descriptor's original `ref.name` (a full reference such as
/// `registry.deckhouse.ru/deckhouse/ee:v1.69.0`) when the store's encoding replaced it.
pub(crate) const ORIGINAL_REF_NAME: &str = "io.deckhouse.registry.original-ref-name";

/// A descriptor to place in `index.json` as it came (every field and annotation kept), in a
/// repository, tagged or untagged.
#[derive(Debug, Clone)]
pub(crate) struct Placement {
    pub(crate) repository: Repository,
    pub(crate) tag: Option<String>,
    pub(crate) raw: Value,
    /// Pin an untagged entry of the root repository (bundle imports do; `import_path` keeps
    /// what the layout said).
    pub(crate) pin: bool,
}

/// A tag that a merge moved (or would move) from one digest to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Moved {
    pub(crate) reference: String,
    pub(crate) from: Digest,
    pub(crate) to: Digest,
}

impl Placement {
    /// The `index.json` entry: the raw descriptor with the store's ref name and repository
    /// annotation; an original ref name that differs is kept under [`ORIGINAL_REF_NAME`].
    fn value(&self) -> Value {
        let mut entry = match &self.raw {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        let mut ann = match entry.remove("annotations") {
            Some(Value::Object(a)) => a,
            _ => Map::new(),
        };
        let wanted = self.tag.as_ref().map(|t| self.repository.ref_name(t));
        if let Some(Value::String(orig)) = ann.remove(REF_NAME)
            && Some(&orig) != wanted.as_ref()
            && !ann.contains_key(ORIGINAL_REF_NAME)
            && repository_of(&self.raw).is_none()
        {
            ann.insert(ORIGINAL_REF_NAME.into(), json!(orig));
        }
        if let Some(r) = wanted {
            ann.insert(REF_NAME.into(), json!(r));
        }
        ann.remove(REPOSITORY_ANNOTATION);
        if !self.repository.is_root() {
            ann.insert(
                REPOSITORY_ANNOTATION.into(),
                json!(self.repository.as_str()),
            );
        } else if self.pin && self.tag.is_none() {
            ann.insert(PIN_ANNOTATION.into(), json!("true"));
        }
        if !ann.is_empty() {
            entry.insert("annotations".into(), Value::Object(ann));
        }
        Value::Object(entry)
    }
}

impl IndexDoc {
    /// Places many descriptors at once, in time linear in the entries (one hashed lookup of
    /// every ref name and untagged digest). A tag that already points elsewhere is moved only
    /// with `overwrite`; otherwise the whole merge is refused and `self` is left as it was.
    /// Returns the tags moved.
    pub(crate) fn merge(&mut self, places: &[Placement], overwrite: bool) -> Result<Vec<Moved>> {
        use std::collections::HashMap;
        let mut items = match self.doc.get("manifests") {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        let mut by_ref: HashMap<String, usize> = HashMap::new();
        let mut untagged: HashMap<(String, String), usize> = HashMap::new();
        let key_of = |v: &Value| {
            (
                repository_of(v).unwrap_or("").to_owned(),
                v.get("digest")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            )
        };
        for (i, v) in items.iter().enumerate() {
            match ref_name_of(v) {
                Some(r) => {
                    by_ref.insert(r.to_owned(), i);
                }
                None => {
                    untagged.insert(key_of(v), i);
                }
            }
        }
        let mut moved = Vec::new();
        for p in places {
            let digest = Digest::parse(p.raw.get("digest").and_then(Value::as_str).unwrap_or(""))?;
            let value = p.value();
            let Some(tag) = &p.tag else {
                let key = key_of(&value);
                if let std::collections::hash_map::Entry::Vacant(slot) = untagged.entry(key) {
                    slot.insert(items.len());
                    items.push(value);
                }
                continue;
            };
            p.repository.check_tag(tag)?;
            let ref_name = p.repository.ref_name(tag);
            match by_ref.get(&ref_name) {
                Some(&i) => {
                    let old = &items[i];
                    if !in_repository(old, &p.repository) {
                        return Err(StoreError::InvalidTag {
                            tag: crate::store::message::printable(tag),
                            reason: "its ref.name is already used by a tag of another repository",
                        });
                    }
                    let from = old.get("digest").and_then(Value::as_str).unwrap_or("");
                    if from != digest.to_string() {
                        moved.push(Moved {
                            reference: ref_name.clone(),
                            from: Digest::parse(from)?,
                            to: digest.clone(),
                        });
                    }
                    items[i] = value;
                }
                None => {
                    by_ref.insert(ref_name, items.len());
                    items.push(value);
                }
            }
        }
        if !moved.is_empty() && !overwrite {
            let m = &moved[0];
            return Err(StoreError::Import {
                path: "index.json".into(),
                reason: format!(
                    "{} tag(s) would move, e.g. {} from {} to {}; pass the overwrite option to move them",
                    moved.len(),
                    m.reference,
                    m.from,
                    m.to
                ),
            });
        }
        self.doc.insert("manifests".into(), Value::Array(items));
        Ok(moved)
    }
}

/// Sets or removes the pin annotation of an entry.
pub(crate) fn set_pin(v: &mut Value, pin: bool) {
    let Value::Object(m) = v else { return };
    let ann = m
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(a) = ann {
        if pin {
            a.insert(PIN_ANNOTATION.into(), json!("true"));
        } else {
            a.remove(PIN_ANNOTATION);
        }
        if a.is_empty() {
            m.remove("annotations");
        }
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
