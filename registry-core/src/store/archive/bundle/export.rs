//! Export of chosen repositories and tags as a bundle `d8 mirror push` accepts: the same layout
//! tree (a repository is a layout folder; `<layout>/extra/<image>` goes back to the `extra/`
//! layout with an `<image>:<tag>` short tag), grouped into tars the way `d8 mirror pull` names
//! them (`platform.tar` for the root, `install`, `install-standalone` and `release-channel`;
//! `module-<name>.tar` for `modules/<name>/…`; `security.tar`; `<first folder>.tar` otherwise),
//! with GNU headers, regular files only, mode 0777, mtime 0 and no directory entries. Every
//! descriptor keeps its fields and annotations; `short_tag` is set and the original full
//! `ref.name` is restored. Optionally the OCI 1.1 referrers listed in `index.json` whose subject
//! is exported go along. With `unpacked`, the layout tree is written as folders instead, blobs
//! hard-linked from the store where the file system allows (copied otherwise).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::plan::SHORT_TAG;
use crate::store::Store;
use crate::store::digest::Digest;
use crate::store::error::{IoContext, Result, StoreError};
use crate::store::index::manifest::REF_NAME;
use crate::store::index::manifest::{self, MAX_MANIFEST};
use crate::store::index::refs::{IndexEntry, ORIGINAL_REF_NAME, PIN_ANNOTATION};
use crate::store::index::repository::{REPOSITORY_ANNOTATION, Repository};
use crate::store::layout::OCI_LAYOUT_CONTENT;
use crate::store::sync::closure;

/// What to export as a bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct BundleExportOptions {
    /// Repositories to export (with every tagged and untagged entry); empty means all.
    pub repositories: Vec<Repository>,
    /// Only these tags (references `repository:tag`, or `tag` in the root); empty means all
    /// entries of the chosen repositories.
    pub tags: Vec<String>,
    /// Also export the referrers (signatures, SBOMs, attestations) listed in `index.json` whose
    /// `subject` is an exported manifest.
    pub referrers: bool,
    /// Write the layout folders instead of tars (blobs hard-linked where possible).
    pub unpacked: bool,
}

/// What a bundle export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleExportReport {
    /// Tars written (file names), or layout folders with `unpacked`, sorted.
    pub files: Vec<String>,
    /// Layout folders written (`""` for the root layout), sorted.
    pub layouts: Vec<String>,
    /// Descriptors written into the layouts' `index.json` files.
    pub images: u64,
    /// Blob files written (a blob shared by two layouts counts twice).
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Blob files hard-linked instead of copied (`unpacked` only).
    pub linked: u64,
}

/// One layout of the export: its descriptors and the blobs they need.
#[derive(Default)]
struct Out {
    descriptors: Vec<Value>,
    blobs: BTreeSet<Digest>,
}

/// The layout folder and short tag of a store entry.
fn layout_of(repo: &Repository, tag: Option<&str>) -> (String, Option<String>) {
    let name = repo.as_str();
    if let Some((base, image)) = name.rsplit_once('/')
        && (base == "extra" || base.ends_with("/extra"))
        && let Some(t) = tag
    {
        return (base.to_owned(), Some(format!("{image}:{t}")));
    }
    (name.to_owned(), tag.map(str::to_owned))
}

/// The tar a layout folder goes to, by `d8 mirror pull`'s names.
fn tar_of(layout: &str) -> String {
    let mut parts = layout.split('/');
    match (parts.next().unwrap_or(""), parts.next()) {
        ("" | "install" | "install-standalone" | "release-channel", _) => "platform.tar".into(),
        ("modules", Some(m)) => format!("module-{m}.tar"),
        (first, _) => format!("{first}.tar"),
    }
}

/// The descriptor as a bundle carries it: no repository annotation, the original ref name
/// back, the short tag set.
fn bundle_descriptor(raw: &Value, short: Option<&str>) -> Value {
    let mut d = raw.as_object().cloned().unwrap_or_default();
    let mut ann: Map<String, Value> = match d.remove("annotations") {
        Some(Value::Object(a)) => a,
        _ => Map::new(),
    };
    ann.remove(REPOSITORY_ANNOTATION);
    ann.remove(PIN_ANNOTATION);
    match ann.remove(ORIGINAL_REF_NAME) {
        Some(orig) => {
            ann.insert(REF_NAME.into(), orig);
        }
        None => match short {
            Some(s) => {
                ann.insert(REF_NAME.into(), json!(s));
            }
            None => {
                ann.remove(REF_NAME);
            }
        },
    }
    if let Some(s) = short {
        ann.entry(SHORT_TAG).or_insert_with(|| json!(s));
    }
    if !ann.is_empty() {
        d.insert("annotations".into(), Value::Object(ann));
    }
    Value::Object(d)
}

impl Store {
    /// Exports repositories and tags as a `d8 mirror` bundle into the folder `dest` (created;
    /// must be empty). On failure what was written is removed again.
    pub fn export_bundle(
        &self,
        dest: &Path,
        opts: &BundleExportOptions,
    ) -> Result<BundleExportReport> {
        if dest.exists() && fs::read_dir(dest).at(dest)?.next().is_some() {
            return Err(StoreError::InvalidLayout {
                path: dest.to_path_buf(),
                reason: "export target folder is not empty".into(),
            });
        }
        let layouts = self.bundle_plan(opts)?;
        fs::create_dir_all(dest).at(dest)?;
        let res = self.write_bundle(dest, &layouts, opts);
        if res.is_err()
            && let Ok(rd) = fs::read_dir(dest)
        {
            for e in rd.flatten() {
                let p = e.path();
                let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
            }
        }
        res
    }

    fn bundle_plan(&self, opts: &BundleExportOptions) -> Result<BTreeMap<String, Out>> {
        let doc = self.load_index()?;
        let items: Vec<(IndexEntry, Value)> = doc
            .items()
            .iter()
            .filter_map(|v| IndexEntry::from_value(v).map(|e| (e, v.clone())))
            .collect();
        for t in &opts.tags {
            if !items
                .iter()
                .any(|(e, _)| e.tag.is_some() && &e.clone().into_tag_entry().reference() == t)
            {
                return Err(StoreError::NotFound {
                    what: format!("tag {:?}", crate::store::message::printable(t)),
                });
            }
        }
        let mut chosen: Vec<bool> = items
            .iter()
            .map(|(e, _)| {
                (opts.repositories.is_empty() || opts.repositories.contains(&e.repository))
                    && (opts.tags.is_empty()
                        || (e.tag.is_some()
                            && opts.tags.contains(&e.clone().into_tag_entry().reference())))
            })
            .collect();
        if opts.referrers {
            loop {
                let exported: HashSet<Digest> = items
                    .iter()
                    .zip(&chosen)
                    .filter(|(_, c)| **c)
                    .map(|((e, _), _)| e.descriptor.digest.clone())
                    .collect();
                let mut more = false;
                for (i, (e, _)) in items.iter().enumerate() {
                    if chosen[i] {
                        continue;
                    }
                    let Ok(bytes) = self.read_limited(&e.descriptor.digest, MAX_MANIFEST) else {
                        continue;
                    };
                    if let Ok(Some(c)) = manifest::children(&e.descriptor.digest, &bytes)
                        && c.subject.is_some_and(|s| exported.contains(&s.digest))
                    {
                        chosen[i] = true;
                        more = true;
                    }
                }
                if !more {
                    break;
                }
            }
        }
        let mut layouts: BTreeMap<String, Out> = BTreeMap::new();
        for ((e, raw), c) in items.iter().zip(&chosen) {
            if !c {
                continue;
            }
            let (layout, short) = layout_of(&e.repository, e.tag.as_deref());
            let out = layouts.entry(layout).or_default();
            out.descriptors
                .push(bundle_descriptor(raw, short.as_deref()));
            let mut missing = BTreeSet::new();
            let mut problems = Vec::new();
            for (d, _) in closure(self, e.descriptor.clone(), &mut missing, &mut problems)? {
                out.blobs.insert(d);
            }
            if let Some(d) = missing.into_iter().next() {
                return Err(StoreError::not_found_blob(&d));
            }
            if let Some(p) = problems.into_iter().next() {
                return Err(StoreError::InvalidLayout {
                    path: self.root().to_path_buf(),
                    reason: p,
                });
            }
        }
        Ok(layouts)
    }

    fn write_bundle(
        &self,
        dest: &Path,
        layouts: &BTreeMap<String, Out>,
        opts: &BundleExportOptions,
    ) -> Result<BundleExportReport> {
        let mut report = BundleExportReport::default();
        let top = self.load_index()?.doc.get("annotations").cloned();
        let mut tars: BTreeMap<String, Vec<(String, FileData)>> = BTreeMap::new();
        for (layout, out) in layouts {
            let prefix = if layout.is_empty() {
                String::new()
            } else {
                format!("{layout}/")
            };
            let mut index = json!({
                "schemaVersion": 2,
                "mediaType": manifest::media_types::OCI_INDEX,
                "manifests": out.descriptors,
            });
            if let Some(a) = &top {
                index["annotations"] = a.clone();
            }
            let index = serde_json::to_vec(&index).map_err(|e| StoreError::InvalidLayout {
                path: dest.to_path_buf(),
                reason: format!("cannot encode index.json: {e}"),
            })?;
            let files = tars.entry(tar_of(layout)).or_default();
            files.push((format!("{prefix}index.json"), FileData::Bytes(index)));
            files.push((
                format!("{prefix}oci-layout"),
                FileData::Bytes(OCI_LAYOUT_CONTENT.as_bytes().to_vec()),
            ));
            for d in &out.blobs {
                files.push((
                    format!("{prefix}blobs/{}/{}", d.algorithm().name(), d.hex()),
                    FileData::Blob(d.clone()),
                ));
            }
            report.layouts.push(layout.clone());
            report.images += out.descriptors.len() as u64;
        }
        for (tar, mut files) in tars {
            // `d8 mirror pull` walks its folder in lexical order.
            files.sort_by(|a, b| a.0.cmp(&b.0));
            if opts.unpacked {
                self.write_tree(dest, &files, &mut report)?;
            } else {
                let p = dest.join(&tar);
                let f = File::create(&p).at(&p)?;
                self.write_gnu_tar(io::BufWriter::new(f), &p, &files, &mut report)?;
                report.files.push(tar);
            }
        }
        if opts.unpacked {
            report.files = report.layouts.clone();
        }
        crate::fsutil::sync_dir(dest)?;
        Ok(report)
    }

    fn write_tree(
        &self,
        dest: &Path,
        files: &[(String, FileData)],
        report: &mut BundleExportReport,
    ) -> Result<()> {
        for (name, data) in files {
            let p = dest.join(name);
            if let Some(dir) = p.parent() {
                fs::create_dir_all(dir).at(dir)?;
            }
            match data {
                FileData::Bytes(b) => fs::write(&p, b).at(&p)?,
                FileData::Blob(d) => {
                    let src = self.blob_path(d);
                    report.blobs += 1;
                    report.bytes += fs::metadata(&src).at(&src)?.len();
                    if fs::hard_link(&src, &p).is_ok() {
                        report.linked += 1;
                    } else {
                        let mut out = File::create(&p).at(&p)?;
                        self.get(d, &mut out)?;
                        out.sync_all().at(&p)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn write_gnu_tar(
        &self,
        sink: impl Write,
        path: &Path,
        files: &[(String, FileData)],
        report: &mut BundleExportReport,
    ) -> Result<()> {
        let tio = |e: io::Error| StoreError::io(path, e);
        let mut tar = tar::Builder::new(sink);
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o777);
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            match data {
                FileData::Bytes(b) => {
                    h.set_size(b.len() as u64);
                    tar.append_data(&mut h, name, &b[..]).map_err(tio)?;
                }
                FileData::Blob(d) => {
                    let r = self.open_blob(d)?;
                    let size = r.size();
                    h.set_size(size);
                    let bp = self.blob_path(d);
                    tar.append_data(&mut h, name, r)
                        .map_err(|e| crate::store::content::read::unwrap_corrupt(e, &bp))?;
                    report.blobs += 1;
                    report.bytes += size;
                }
            }
        }
        let mut sink = tar.into_inner().map_err(tio)?;
        sink.flush().map_err(tio)?;
        Ok(())
    }
}

/// A file of the export: bytes built here, or a stored blob.
enum FileData {
    Bytes(Vec<u8>),
    Blob(Digest),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_tree_and_tar_names() {
        let r = |s: &str| Repository::parse(s).unwrap();
        assert_eq!(
            layout_of(&r("install"), Some("v1")),
            ("install".into(), Some("v1".into()))
        );
        assert_eq!(
            layout_of(&r("modules/x/extra/scanner"), Some("v2")),
            ("modules/x/extra".into(), Some("scanner:v2".into()))
        );
        assert_eq!(tar_of(""), "platform.tar");
        assert_eq!(tar_of("release-channel"), "platform.tar");
        assert_eq!(tar_of("modules/console/release"), "module-console.tar");
        assert_eq!(tar_of("security/trivy-db"), "security.tar");
    }
}
