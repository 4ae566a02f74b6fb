//! The plan of a bundle import, made before anything is staged: which layouts there are, which
//! repository each goes to, the tag of every `index.json` descriptor, and every blob a descriptor
//! reaches with its declared size. Blob entries outside that set are dropped (and reported);
//! entries whose size differs from their descriptor's refuse the import before they are staged.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;

use serde_json::Value;

use super::input::TarSource;
use super::scan::{Item, Kind, data_error};
use super::{BundleOptions, LayoutReport, SkippedEntry, refuse};
use crate::store::Store;
use crate::store::digest::{Digest, Hasher};
use crate::store::error::{Result, StoreError};
use crate::store::index::manifest::REF_NAME;
use crate::store::index::manifest::{Descriptor, MAX_MANIFEST};
use crate::store::index::refs::{IndexDoc, Placement};
use crate::store::index::repository::{REPOSITORY_ANNOTATION, Repository};
use crate::store::message::printable;
use crate::store::sync::{Source, closure};

/// The `d8 mirror` annotation holding an image's tag.
pub const SHORT_TAG: &str = "io.deckhouse.image.short_tag";

/// Where a layout was found: which tar (index into the sources) and which folder in it.
pub(crate) type LayoutKey = (usize, String);

#[derive(Debug, Default)]
struct Seen {
    oci_layout: bool,
    index: Option<(String, Vec<u8>)>,
}

/// A blob entry as found in the bundle.
#[derive(Debug, Clone)]
struct BlobEntry {
    key: LayoutKey,
    path: String,
    digest: Digest,
}

/// What the first pass collects.
#[derive(Debug, Default)]
pub(crate) struct Survey {
    seen: BTreeMap<LayoutKey, Seen>,
    blobs: Vec<BlobEntry>,
    /// Size of each blob in the bundle (first entry wins; a second, different size refuses).
    sizes: HashMap<Digest, u64>,
    /// Small JSON blobs (manifests, indexes), verified against their digest.
    manifests: HashMap<Digest, Vec<u8>>,
    manifest_bytes: u64,
    skipped: Vec<SkippedEntry>,
    docker_markers: BTreeSet<String>,
}

fn read_small(item: &Item, r: &mut dyn Read, max: u64) -> Result<Vec<u8>> {
    if item.size > max {
        return Err(refuse(&item.path, format!("larger than {max} bytes")));
    }
    let mut v = Vec::with_capacity(item.size as usize);
    r.take(max + 1)
        .read_to_end(&mut v)
        .map_err(|e| data_error(item, e))?;
    Ok(v)
}

impl Survey {
    /// Records one entry of source `src`. For a blob, `r` is read only if it may be a manifest.
    pub(crate) fn visit(
        &mut self,
        src: usize,
        item: &Item,
        r: &mut dyn Read,
        opts: &BundleOptions,
    ) -> Result<()> {
        let key = (src, item.layout.clone());
        match &item.kind {
            Kind::OciLayout => {
                let b = read_small(item, r, 64 << 10)?;
                crate::store::check_oci_layout(std::path::Path::new(&item.path), &b)
                    .map_err(|e| refuse(&item.path, e.to_string()))?;
                let seen = self.seen.entry(key).or_default();
                if seen.oci_layout {
                    return Err(refuse(&item.path, "duplicate entry"));
                }
                seen.oci_layout = true;
            }
            Kind::Index => {
                let b = read_small(item, r, MAX_MANIFEST)?;
                let seen = self.seen.entry(key).or_default();
                if seen.index.is_some() {
                    return Err(refuse(&item.path, "duplicate entry"));
                }
                seen.index = Some((item.path.clone(), b));
            }
            Kind::Blob(d) => {
                match self.sizes.get(d) {
                    Some(s) if *s != item.size => {
                        return Err(refuse(
                            &item.path,
                            format!("{} bytes, but another entry of {d} has {s}", item.size),
                        ));
                    }
                    _ => {}
                }
                self.sizes.insert(d.clone(), item.size);
                self.blobs.push(BlobEntry {
                    key,
                    path: item.path.clone(),
                    digest: d.clone(),
                });
                if item.size <= MAX_MANIFEST && !self.manifests.contains_key(d) {
                    self.maybe_manifest(item, d, r, opts)?;
                }
            }
            Kind::Other => {
                if src_top_level(&item.path) {
                    self.docker_markers.insert(item.path.clone());
                }
                self.skipped.push(SkippedEntry::new(
                    item.path.clone(),
                    "not part of an OCI image layout (no oci-layout, index.json or blobs/<alg>/<hex> name)",
                ));
            }
        }
        Ok(())
    }

    /// Keeps a small blob that starts like JSON, after checking it hashes to its name.
    fn maybe_manifest(
        &mut self,
        item: &Item,
        d: &Digest,
        r: &mut dyn Read,
        opts: &BundleOptions,
    ) -> Result<()> {
        let mut first = [0u8; 1];
        let n = r.read(&mut first).map_err(|e| data_error(item, e))?;
        if n == 0 || first[0] != b'{' {
            return Ok(());
        }
        let mut v = vec![first[0]];
        r.take(MAX_MANIFEST)
            .read_to_end(&mut v)
            .map_err(|e| data_error(item, e))?;
        let mut h = Hasher::new(d.algorithm());
        h.update(&v);
        let actual = h.finish();
        if &actual != d {
            return Err(refuse(
                &item.path,
                format!("content hashes to {actual} ({} bytes), not {d}", v.len()),
            ));
        }
        self.manifest_bytes += v.len() as u64;
        if self.manifest_bytes > opts.max_manifest_bytes {
            return Err(refuse(
                &item.path,
                format!(
                    "the bundle holds more than {} bytes of manifests (the limit)",
                    opts.max_manifest_bytes
                ),
            ));
        }
        self.manifests.insert(d.clone(), v);
        Ok(())
    }

    /// Adds a manifest read back from staging (the one-pass import of a stream).
    pub(crate) fn add_manifest(
        &mut self,
        d: &Digest,
        bytes: Vec<u8>,
        opts: &BundleOptions,
    ) -> Result<()> {
        self.manifest_bytes += bytes.len() as u64;
        if self.manifest_bytes > opts.max_manifest_bytes {
            return Err(refuse(
                d.to_string(),
                format!(
                    "the bundle holds more than {} bytes of manifests (the limit)",
                    opts.max_manifest_bytes
                ),
            ));
        }
        self.manifests.insert(d.clone(), bytes);
        Ok(())
    }
}

fn src_top_level(path: &str) -> bool {
    matches!(path, "manifest.json" | "repositories")
}

/// One layout's part of the plan.
#[derive(Debug)]
pub(crate) struct LayoutPlan {
    pub(crate) report: LayoutReport,
    pub(crate) placements: Vec<Placement>,
}

/// The whole plan.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) layouts: Vec<LayoutPlan>,
    /// Every blob to stage from the bundle, with its declared size.
    pub(crate) expected: HashMap<Digest, u64>,
    /// Blobs needed that the store already has.
    pub(crate) present: BTreeSet<Digest>,
    /// Entries not imported, with the reason.
    pub(crate) skipped: Vec<SkippedEntry>,
    /// Top-level annotations of the layouts' `index.json` files, merged.
    pub(crate) annotations: serde_json::Map<String, Value>,
}

struct PlanSource<'a> {
    survey: &'a Survey,
    store: &'a Store,
}

impl Source for PlanSource<'_> {
    fn size_of(&self, d: &Digest) -> Result<Option<u64>> {
        match self.survey.sizes.get(d) {
            Some(s) => Ok(Some(*s)),
            None => self.store.size_of(d),
        }
    }
    fn manifest_bytes(&self, d: &Digest) -> Result<Vec<u8>> {
        match self.survey.manifests.get(d) {
            Some(b) => Ok(b.clone()),
            None if self.survey.sizes.contains_key(d) => Err(StoreError::InvalidManifest {
                digest: d.clone(),
                reason: "not a JSON manifest or index (or larger than 16 MiB)".into(),
            }),
            None => self.store.manifest_bytes(d),
        }
    }
}

/// Where one `index.json` descriptor goes: its repository and tag (none: kept untagged).
fn target_of(raw: &Value, layout_repo: &Repository) -> Result<(Repository, Option<String>)> {
    let ann = raw.get("annotations");
    let get = |k: &str| ann.and_then(|a| a.get(k)).and_then(Value::as_str);
    // A layout this store exported: its own encoding.
    if let Some(sub) = get(REPOSITORY_ANNOTATION) {
        let repo = layout_repo.join(sub)?;
        let tag = get(REF_NAME).map(|r| r.strip_prefix(&format!("{sub}:")).unwrap_or(r).to_owned());
        return Ok((repo, tag));
    }
    if let Some(short) = get(SHORT_TAG) {
        // `d8 mirror push` sends `<image>:<tag>` short tags of extra images to `<repo>/<image>`.
        return Ok(match short.rsplit_once(':') {
            Some((image, tag)) => (layout_repo.join(image)?, Some(tag.to_owned())),
            None => (layout_repo.clone(), Some(short.to_owned())),
        });
    }
    match get(REF_NAME) {
        // A full image reference: its tag part, or untagged for `…@sha256:<hex>`.
        Some(r) if r.contains('/') || r.contains('@') => {
            let last = r.rsplit('/').next().unwrap_or(r);
            if last.contains('@') {
                Ok((layout_repo.clone(), None))
            } else {
                Ok((
                    layout_repo.clone(),
                    last.split_once(':').map(|(_, t)| t.to_owned()),
                ))
            }
        }
        // A plain OCI layout tag (skopeo, oras, umoci): the ref name is the tag.
        Some(r) => Ok((layout_repo.clone(), Some(r.to_owned()))),
        None => Ok((layout_repo.clone(), None)),
    }
}

impl Survey {
    /// The repository of layout `key`.
    fn repository(&self, key: &LayoutKey, sources: &[TarSource]) -> Result<Repository> {
        let (src, prefix) = key;
        let legacy = sources.get(*src).and_then(|s| s.legacy_module());
        let has_modules_prefix = self
            .seen
            .keys()
            .any(|(s, p)| s == src && (p == "modules" || p.starts_with("modules/")));
        let name = match legacy {
            Some(m) if !has_modules_prefix => {
                if prefix.is_empty() {
                    format!("modules/{m}")
                } else {
                    format!("modules/{m}/{prefix}")
                }
            }
            _ => prefix.clone(),
        };
        Repository::parse(&name).map_err(|e| {
            refuse(
                if prefix.is_empty() {
                    "<root layout>".to_owned()
                } else {
                    format!("{prefix}/")
                },
                format!("the layout folder does not name a repository: {e}"),
            )
        })
    }

    /// Works out the plan (see the module documentation).
    pub(crate) fn plan(
        self,
        store: &Store,
        sources: &[TarSource],
        source_names: &[String],
        opts: &BundleOptions,
    ) -> Result<Plan> {
        let layouts: Vec<LayoutKey> = self
            .seen
            .iter()
            .filter(|(_, s)| s.oci_layout)
            .map(|(k, _)| k.clone())
            .collect();
        if layouts.is_empty() {
            let src = source_names.first().cloned().unwrap_or_default();
            if self.docker_markers.len() == 2 {
                return Err(refuse(
                    src,
                    "this is a docker-archive (`docker save`: manifest.json and repositories, no \
                     oci-layout), not an OCI image layout; convert it, e.g. `skopeo copy \
                     docker-archive:FILE oci-archive:OUT.tar`",
                ));
            }
            return Err(refuse(
                src,
                "no OCI image layout (no oci-layout file) anywhere in the bundle",
            ));
        }
        let mut skipped = self.skipped.clone();
        for (k, s) in &self.seen {
            if !s.oci_layout
                && let Some((path, _)) = &s.index
            {
                let _ = k;
                skipped.push(SkippedEntry::new(
                    path.clone(),
                    "index.json without an oci-layout beside it: not an OCI image layout",
                ));
            }
        }
        let src = PlanSource {
            survey: &self,
            store,
        };
        let mut plans = Vec::new();
        let mut expected: HashMap<Digest, u64> = HashMap::new();
        let mut present = BTreeSet::new();
        let mut annotations = serde_json::Map::new();
        let mut tags_seen: HashMap<(Repository, String), Digest> = HashMap::new();
        for key in &layouts {
            let repo = self.repository(key, sources)?;
            let shown = layout_name(&source_names[key.0], &key.1);
            let Some((index_path, bytes)) = &self.seen[key].index else {
                return Err(refuse(
                    format!("{shown}index.json"),
                    "missing: the layout has oci-layout but no index.json",
                ));
            };
            let doc = IndexDoc::parse(std::path::Path::new(index_path), bytes)
                .map_err(|e| refuse(index_path, e.to_string()))?;
            if let Some(Value::Object(a)) = doc.doc.get("annotations") {
                for (k, v) in a {
                    annotations.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            let raws: Vec<Value> = match doc.doc.get("manifests") {
                Some(Value::Array(a)) => a.clone(),
                _ => Vec::new(),
            };
            let mut report = LayoutReport {
                source: source_names[key.0].clone(),
                path: key.1.clone(),
                repository: repo.clone(),
                images: raws.len() as u64,
                ..Default::default()
            };
            let mut needed_all = BTreeMap::new();
            let mut missing = BTreeSet::new();
            let mut placements = Vec::new();
            for raw in &raws {
                let desc = Descriptor::from_value(raw).map_err(|e| refuse(index_path, e))?;
                let (trepo, tag) =
                    target_of(raw, &repo).map_err(|e| refuse(index_path, e.to_string()))?;
                if let Some(t) = &tag {
                    trepo
                        .check_tag(t)
                        .map_err(|e| refuse(index_path, e.to_string()))?;
                    if let Some(prev) =
                        tags_seen.insert((trepo.clone(), t.clone()), desc.digest.clone())
                        && prev != desc.digest
                    {
                        return Err(refuse(
                            index_path,
                            format!(
                                "the bundle gives tag {:?} in {trepo} twice: {prev} and {}",
                                printable(t),
                                desc.digest
                            ),
                        ));
                    }
                    report.tags.push(trepo.ref_name(t));
                } else {
                    report.untagged.push(desc.digest.clone());
                }
                let mut problems = Vec::new();
                for (d, s) in closure(&src, desc.clone(), &mut missing, &mut problems)? {
                    needed_all.insert(d, s);
                }
                if let Some(p) = problems.first() {
                    return Err(refuse(index_path, p.clone()));
                }
                placements.push(Placement {
                    repository: trepo,
                    tag,
                    raw: raw.clone(),
                    pin: true,
                });
            }
            if opts.require_complete && !missing.is_empty() {
                let list: Vec<String> = missing.iter().take(5).map(|d| d.to_string()).collect();
                return Err(refuse(
                    index_path,
                    format!(
                        "{} referenced blob(s) are neither in the bundle nor in the store: {}",
                        missing.len(),
                        list.join(", ")
                    ),
                ));
            }
            for (d, s) in &needed_all {
                if missing.contains(d) {
                    continue;
                }
                if store.has(d)? {
                    present.insert(d.clone());
                } else {
                    expected.insert(d.clone(), *s);
                }
            }
            report.tags.sort();
            report.untagged.sort();
            report.blobs = needed_all.len() as u64;
            report.bytes = needed_all.values().sum();
            report.missing = missing.into_iter().collect();
            plans.push(LayoutPlan { report, placements });
        }
        let mut dropped = BTreeSet::new();
        for b in &self.blobs {
            let in_layout = self.seen.get(&b.key).is_some_and(|s| s.oci_layout);
            let reason = if !in_layout {
                "not in an OCI image layout (no oci-layout in its folder)"
            } else if expected.contains_key(&b.digest) || present.contains(&b.digest) {
                continue;
            } else {
                "no descriptor in the bundle reaches this blob; dropped"
            };
            if dropped.insert(b.path.clone()) {
                skipped.push(SkippedEntry::new(
                    format!("{}:{}", source_names[b.key.0], b.path),
                    reason,
                ));
            }
        }
        Ok(Plan {
            layouts: plans,
            expected,
            present,
            skipped,
            annotations,
        })
    }
}

fn layout_name(source: &str, prefix: &str) -> String {
    if prefix.is_empty() {
        format!("{source}:")
    } else {
        format!("{source}:{prefix}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(raw: Value, repo: &str) -> (String, Option<String>) {
        let (r, t) = target_of(&raw, &Repository::parse(repo).unwrap()).unwrap();
        (r.as_str().to_owned(), t)
    }

    #[test]
    fn tags_from_annotations() {
        let short = json!({"annotations": {SHORT_TAG: "v1.69.0", REF_NAME: "registry.deckhouse.ru/deckhouse/ee:other"}});
        assert_eq!(
            t(short, "install"),
            ("install".into(), Some("v1.69.0".into()))
        );
        let full = json!({"annotations": {REF_NAME: "registry.deckhouse.ru/deckhouse/ee:v1.69.0"}});
        assert_eq!(t(full, ""), ("".into(), Some("v1.69.0".into())));
        let port = json!({"annotations": {REF_NAME: "localhost:5000/deckhouse/ee:v1"}});
        assert_eq!(t(port, ""), ("".into(), Some("v1".into())));
        let by_digest =
            json!({"annotations": {REF_NAME: "registry.deckhouse.ru/deckhouse/ee@sha256:0123"}});
        assert_eq!(t(by_digest, "install"), ("install".into(), None));
        let plain = json!({"annotations": {REF_NAME: "a:v1"}});
        assert_eq!(t(plain, ""), ("".into(), Some("a:v1".into())));
        let extra = json!({"annotations": {SHORT_TAG: "scanner:v2"}});
        assert_eq!(
            t(extra, "modules/x/extra"),
            ("modules/x/extra/scanner".into(), Some("v2".into()))
        );
        let ours =
            json!({"annotations": {REF_NAME: "install:v1", REPOSITORY_ANNOTATION: "install"}});
        assert_eq!(t(ours, ""), ("install".into(), Some("v1".into())));
        assert_eq!(t(json!({}), "install"), ("install".into(), None));
    }
}
