//! Import of image bundles as `d8 mirror pull` writes them: a folder of tars (`platform.tar`,
//! `security.tar`, `module-<name>.tar`, …), one tar, a chunk set `<name>.tar.NNNN.chunk`, an
//! unpacked tree, or a stream. Every OCI layout at any depth inside goes to its repository:
//! the layout folder is the repository (`install/` → `install`, `modules/<name>/release/` →
//! `modules/<name>/release`, the root layout → the root repository). A legacy module tar
//! `module-<name>.tar` whose layouts lack the `modules/<name>/` prefix gets it from the file name.
//!
//! Tags: `io.deckhouse.image.short_tag` (an `<image>:<tag>` short tag, as extra images have,
//! goes to `<layout>/<image>`); else the tag part of a full `org.opencontainers.image.ref.name`
//! (`registry.deckhouse.ru/deckhouse/ee:v1.69.0` → `v1.69.0`); a `…@sha256:<hex>` reference or
//! no name at all is kept untagged in the layout's repository. A ref name without `/` or `@` is
//! a plain OCI layout tag (skopeo, oras, umoci write those) and is the tag as it is. Every
//! descriptor is stored with all its fields and annotations; a full ref name the store's encoding
//! replaces is kept in `io.deckhouse.registry.original-ref-name`.
//!
//! Safety against a hostile bundle: a file input is read twice. The first pass reads only
//! `index.json` files and small JSON blobs (hashed) and works out every blob a descriptor
//! reaches with its declared size, so the second pass stages exactly those: an entry whose size
//! differs from its descriptor's is refused from its header before a byte is written, and an
//! entry nothing reaches is not staged at all but reported as dropped. gzip input is decoded
//! under an expansion limit (ratio and absolute); zstd, xz and bzip2 are named and refused; a
//! docker-archive is named. A stream is read once: every blob is staged (bounded by the quota
//! and the expansion limit) and unreachable ones are dropped before publishing.
//!
//! Atomicity: nothing is published until every layout checked out; then the blobs are linked
//! into place and `index.json` is rewritten once. A refused import leaves the store as it was
//! and removes its staging. A tag that would move to another digest refuses the import unless
//! [`BundleOptions::overwrite_tags`] is set; the report lists every tag moved.

mod decode;
mod export;
mod input;
mod plan;
mod scan;
mod stage;

use std::collections::BTreeSet;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::store::digest::Digest;
use crate::store::error::{Result, StoreError};
use crate::store::index::manifest::MAX_MANIFEST;
use crate::store::index::repository::Repository;
use crate::store::lock::LockName;
use crate::store::progress::{Operation, Reporter, WithProgress};
use input::{Input, TarSource};
use plan::{Plan, Survey};
use scan::{Item, Kind};
use stage::Staging;

pub use export::{BundleExportOptions, BundleExportReport};
pub use plan::SHORT_TAG;

/// How to import a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct BundleOptions {
    /// Refuse the import unless every image is complete (counting blobs the store already
    /// has). Default true.
    pub require_complete: bool,
    /// Move tags that already point at another digest (default false: such an import is
    /// refused, naming the tag and both digests).
    pub overwrite_tags: bool,
    /// A gzip stream may expand at most this many times (after the first 16 MiB). Default 100.
    pub max_expansion_ratio: u64,
    /// A gzip stream may expand to at most this many bytes. Default 1 TiB.
    pub max_expanded_bytes: u64,
    /// At most this many bytes of manifests are held in memory while planning. Default 256 MiB.
    pub max_manifest_bytes: u64,
}

impl Default for BundleOptions {
    fn default() -> Self {
        BundleOptions {
            require_complete: true,
            overwrite_tags: false,
            max_expansion_ratio: 100,
            max_expanded_bytes: 1 << 40,
            max_manifest_bytes: 256 << 20,
        }
    }
}

/// An entry that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedEntry {
    /// The entry (`<tar>:<path>`, or a file beside the tars).
    pub path: String,
    /// Why it was skipped.
    pub reason: String,
}

impl SkippedEntry {
    pub(crate) fn new(path: impl Into<String>, reason: impl Into<String>) -> SkippedEntry {
        SkippedEntry {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// What one layout of the bundle held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LayoutReport {
    /// The tar it was in (or `""` for an unpacked tree or a stream).
    pub source: String,
    /// Its folder inside the tar (`""` for the root layout).
    pub path: String,
    /// The repository it went to.
    pub repository: Repository,
    /// Descriptors in its `index.json`.
    pub images: u64,
    /// Tags set, as references (`install:v1.69.0`; just the tag in the root), sorted.
    pub tags: Vec<String>,
    /// Manifests kept untagged in the repository, sorted.
    pub untagged: Vec<Digest>,
    /// Distinct blobs its images need (manifests included).
    pub blobs: u64,
    /// Their bytes per descriptors.
    pub bytes: u64,
    /// Blobs needed that neither the bundle nor the store holds (only without
    /// `require_complete`).
    pub missing: Vec<Digest>,
}

/// A tag the import moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagMove {
    /// The tag as a reference (`install:v1.69.0`).
    pub reference: String,
    /// What it pointed at.
    pub from: Digest,
    /// What it points at now.
    pub to: Digest,
}

/// What a bundle import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleReport {
    /// Every layout, in bundle order.
    pub layouts: Vec<LayoutReport>,
    /// Blobs newly stored.
    pub blobs_added: u64,
    /// Blobs the store already had.
    pub blobs_present: u64,
    /// Bytes newly stored.
    pub bytes_added: u64,
    /// Entries and files not imported, with the reason.
    pub skipped: Vec<SkippedEntry>,
    /// Tags moved (only with `overwrite_tags`).
    pub moved: Vec<TagMove>,
}

impl BundleReport {
    /// Every image imported, as references [`Store::completeness`] takes: tags and the digests
    /// of untagged manifests.
    pub fn references(&self) -> Vec<String> {
        let mut out: BTreeSet<String> = BTreeSet::new();
        for l in &self.layouts {
            out.extend(l.tags.iter().cloned());
            out.extend(l.untagged.iter().map(Digest::to_string));
        }
        out.into_iter().collect()
    }
}

pub(crate) use crate::store::archive::staging::refuse;

impl Store {
    /// Imports a bundle from a path: a folder of tars, one tar (plain or gzip), one chunk of a
    /// chunk set (the whole set is read), or a folder holding layouts. See the module
    /// documentation of `bundle` for the rules.
    ///
    /// ```
    /// use registry_core::store::{BundleOptions, Store};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path().join("store"))?;
    /// // An empty layout in a subfolder of a tar: found, imported into repository `install`.
    /// let mut tar = tar::Builder::new(Vec::new());
    /// for (name, data) in [
    ///     ("install/oci-layout", &br#"{"imageLayoutVersion":"1.0.0"}"#[..]),
    ///     ("install/index.json", br#"{"schemaVersion":2,"manifests":[]}"#),
    /// ] {
    ///     let mut h = tar::Header::new_gnu();
    ///     h.set_size(data.len() as u64);
    ///     h.set_mode(0o777);
    ///     tar.append_data(&mut h, name, data)?;
    /// }
    /// let path = dir.path().join("platform.tar");
    /// std::fs::write(&path, tar.into_inner()?)?;
    /// let report = store.import_bundle(&path, &BundleOptions::default())?;
    /// assert_eq!(report.layouts[0].repository.as_str(), "install");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn import_bundle<'a>(
        &self,
        path: &Path,
        run: impl Into<WithProgress<'a, BundleOptions>>,
    ) -> Result<BundleReport> {
        let WithProgress { options, progress } = run.into();
        let opts = &options;

        let mut rep = Reporter::new(Operation::Import, progress);
        match input::resolve(path)? {
            Input::Tars(sources, skipped) => {
                let mut total = 0;
                for s in &sources {
                    total += s.size()?;
                }
                rep.p.bytes_total = Some(total);
                self.import_sources(&sources, skipped, opts, &mut rep)
            }
            Input::Tree(dir) => {
                let mut survey = Survey::default();
                scan::scan_tree(&dir, &mut |item, r| survey.visit(0, item, r, opts))?;
                let names = vec![String::new()];
                let plan = survey.plan(self, &[], &names, opts)?;
                self.preflight(&plan, opts)?;
                let mut staging = Staging::new(self)?;
                scan::scan_tree(&dir, &mut |item, r| {
                    stage_planned(&mut staging, &plan, item, r, &mut rep)
                })?;
                self.finish(staging, plan, opts, &mut rep)
            }
        }
    }

    fn import_sources(
        &self,
        sources: &[TarSource],
        skipped: Vec<SkippedEntry>,
        opts: &BundleOptions,
        rep: &mut Reporter<'_>,
    ) -> Result<BundleReport> {
        let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
        let mut survey = Survey::default();
        for (i, s) in sources.iter().enumerate() {
            scan::scan_tar(s, opts, &mut |item, r| survey.visit(i, item, r, opts))?;
        }
        let mut plan = survey.plan(self, sources, &names, opts)?;
        plan.skipped.splice(0..0, skipped);
        self.preflight(&plan, opts)?;
        let mut staging = Staging::new(self)?;
        for s in sources {
            scan::scan_tar(s, opts, &mut |item, r| {
                stage_planned(&mut staging, &plan, item, r, rep)
            })?;
        }
        self.finish(staging, plan, opts, rep)
    }

    /// Imports a bundle tar (plain or gzip) from a stream, in one pass. `name` is the tar's
    /// file name (`module-<name>.tar` marks a legacy module tar) or empty.
    pub fn import_bundle_stream<'a>(
        &self,
        reader: &mut dyn Read,
        name: &str,
        run: impl Into<WithProgress<'a, BundleOptions>>,
    ) -> Result<BundleReport> {
        let WithProgress { options, progress } = run.into();
        let opts = &options;

        let mut rep = Reporter::new(Operation::Import, progress);
        let shown = if name.is_empty() { "<stream>" } else { name };
        let sources = vec![TarSource {
            name: shown.to_owned(),
            parts: Vec::new(),
        }];
        let mut survey = Survey::default();
        let mut staging = Staging::new(self)?;
        scan::scan_stream(
            Box::new(BufReader::new(reader)),
            shown,
            opts,
            &mut |item, r| match &item.kind {
                Kind::Blob(d) if !staging.has(d) && !self.has(d)? => {
                    staging.stage(item, d, r, None, &mut rep)?;
                    if item.size <= MAX_MANIFEST {
                        let p = staging.path_of(d);
                        let bytes = std::fs::read(&p).map_err(|e| StoreError::io(&p, e))?;
                        if bytes.first() == Some(&b'{') {
                            survey.add_manifest(d, bytes, opts)?;
                        }
                    }
                    survey.visit(0, item, &mut std::io::empty(), opts)
                }
                _ => survey.visit(0, item, r, opts),
            },
        )?;
        staging.settle_all()?;
        let names = vec![shown.to_owned()];
        let plan = survey.plan(self, &sources, &names, opts)?;
        let unneeded: Vec<Digest> = staging
            .dir
            .staged
            .keys()
            .filter(|d| !plan.expected.contains_key(*d))
            .cloned()
            .collect();
        for d in &unneeded {
            staging.discard(d);
        }
        self.finish(staging, plan, opts, &mut rep)
    }

    /// Checks before staging: the quota holds everything the plan stages, and no tag moves
    /// unless allowed.
    fn preflight(&self, plan: &Plan, opts: &BundleOptions) -> Result<()> {
        let need: u64 = plan.expected.values().sum();
        self.writer(crate::store::digest::Algorithm::Sha256)?
            .check_quota(need)?;
        let mut doc = self.load_index()?;
        let places: Vec<_> = plan
            .layouts
            .iter()
            .flat_map(|l| l.placements.iter().cloned())
            .collect();
        doc.merge(&places, opts.overwrite_tags)?;
        Ok(())
    }

    fn finish(
        &self,
        mut staging: Staging<'_>,
        plan: Plan,
        opts: &BundleOptions,
        rep: &mut Reporter<'_>,
    ) -> Result<BundleReport> {
        staging.settle_all()?;
        if let Some((d, _)) = plan
            .expected
            .iter()
            .find(|(d, _)| !staging.dir.staged.contains_key(*d))
        {
            return Err(refuse(
                d.to_string(),
                "a blob the plan found was not there on the second read (the bundle changed meanwhile?)",
            ));
        }
        rep.emit()?;
        let _gc = self.lock(LockName::Gc, false)?;
        let places: Vec<_> = plan
            .layouts
            .iter()
            .flat_map(|l| l.placements.iter().cloned())
            .collect();
        // Checked again under the index lock below; checking here first keeps a refused
        // import from publishing blobs.
        self.load_index()?.merge(&places, opts.overwrite_tags)?;
        let published = staging.publish()?;
        for d in &plan.present {
            crate::store::content::touch(&self.blob_path(d));
        }
        let annotations = plan.annotations.clone();
        let moved = self.update_index(|doc| {
            let moved = doc.merge(&places, opts.overwrite_tags)?;
            if !annotations.is_empty() {
                let entry = doc
                    .doc
                    .entry("annotations")
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                if let serde_json::Value::Object(a) = entry {
                    for (k, v) in &annotations {
                        a.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            Ok(moved)
        })?;
        Ok(BundleReport {
            layouts: plan.layouts.into_iter().map(|l| l.report).collect(),
            blobs_added: published.added,
            blobs_present: published.present + plan.present.len() as u64,
            bytes_added: published.bytes,
            skipped: plan.skipped,
            moved: moved
                .into_iter()
                .map(|m| TagMove {
                    reference: m.reference,
                    from: m.from,
                    to: m.to,
                })
                .collect(),
        })
    }
}

/// The second pass: stage exactly the blobs the plan expects, each once.
fn stage_planned(
    staging: &mut Staging<'_>,
    plan: &Plan,
    item: &Item,
    r: &mut dyn Read,
    rep: &mut Reporter<'_>,
) -> Result<()> {
    if let Kind::Blob(d) = &item.kind
        && let Some(size) = plan.expected.get(d)
        && !staging.has(d)
    {
        staging.stage(item, d, r, Some(*size), rep)?;
        rep.item(Some(item.path.clone()))?;
    }
    Ok(())
}
