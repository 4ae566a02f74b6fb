//! Export of chosen tags (and everything they reference) as an OCI image layout, to a folder or
//! a tar stream. Blobs are verified while they are copied; tar output is deterministic (sorted
//! entries, zero times and owners), so the same tags give the same bytes.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::store::digest::Digest;
use crate::store::error::{IoContext, Result, StoreError};
use crate::store::index::manifest::Descriptor;
use crate::store::index::refs::{IndexDoc, TagEntry};
use crate::store::layout::OCI_LAYOUT_CONTENT;
use crate::store::progress::{Operation, ProgressFn, Reporter, WithProgress};
use crate::store::sync::closure;

/// What to export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportOptions {
    /// Tags to export; empty means every tag.
    pub tags: Vec<String>,
    /// Compress the tar with gzip.
    pub gzip: bool,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportReport {
    /// Tags written.
    pub tags: Vec<String>,
    /// Blobs written.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
}

struct Plan {
    index: Vec<u8>,
    blobs: Vec<(Digest, u64)>,
    tags: Vec<String>,
}

impl Store {
    fn export_plan(&self, opts: &ExportOptions) -> Result<Plan> {
        let all = self.tags()?;
        let chosen: Vec<_> = if opts.tags.is_empty() {
            all
        } else {
            let mut v = Vec::new();
            for t in &opts.tags {
                let e = all.iter().find(|e| &e.reference() == t).ok_or_else(|| {
                    StoreError::NotFound {
                        what: format!("tag {:?}", crate::store::message::printable(t)),
                    }
                })?;
                v.push(e.clone());
            }
            v
        };
        let mut doc = IndexDoc::empty();
        let mut missing = BTreeSet::new();
        let mut problems = Vec::new();
        let mut blobs = BTreeSet::new();
        for t in &chosen {
            let desc = Descriptor {
                media_type: Some(t.media_type.clone()),
                digest: t.digest.clone(),
                size: t.size,
                ref_name: None,
                platform: None,
            };
            doc.set_tag_in(&t.repository, &t.name, &desc)?;
            blobs.extend(closure(self, desc, &mut missing, &mut problems)?);
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
        Ok(Plan {
            index: doc.to_bytes()?,
            blobs: blobs.into_iter().collect(),
            tags: chosen.iter().map(TagEntry::reference).collect(),
        })
    }

    /// Exports to a new (or empty) folder. On failure or cancellation the folder's new content
    /// is removed again.
    pub fn export_dir<'a>(
        &self,
        dest: &Path,
        run: impl Into<WithProgress<'a, ExportOptions>>,
    ) -> Result<ExportReport> {
        let WithProgress { options, progress } = run.into();
        let opts = &options;

        let plan = self.export_plan(opts)?;
        if dest.exists() && fs::read_dir(dest).at(dest)?.next().is_some() {
            return Err(StoreError::InvalidLayout {
                path: dest.to_path_buf(),
                reason: "export target folder is not empty".into(),
            });
        }
        let res = self.export_dir_inner(dest, &plan, progress);
        if res.is_err() {
            for name in ["blobs", "oci-layout", "index.json"] {
                let p = dest.join(name);
                let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
            }
        }
        res
    }

    fn export_dir_inner(
        &self,
        dest: &Path,
        plan: &Plan,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<ExportReport> {
        let mut rep = Reporter::new(Operation::Export, progress);
        rep.p.items_total = Some(plan.blobs.len() as u64);
        rep.p.bytes_total = Some(plan.blobs.iter().map(|b| b.1).sum());
        let mut report = ExportReport {
            tags: plan.tags.clone(),
            ..Default::default()
        };
        for (d, _) in &plan.blobs {
            let dir = dest.join("blobs").join(d.algorithm().name());
            fs::create_dir_all(&dir).at(&dir)?;
            let p = dir.join(d.hex());
            let mut f = File::create(&p).at(&p)?;
            let n = self.get(d, &mut f)?;
            f.sync_all().at(&p)?;
            report.blobs += 1;
            report.bytes += n;
            rep.p.bytes_done += n;
            rep.item(Some(d.to_string()))?;
        }
        fs::create_dir_all(dest.join("blobs")).at(dest)?;
        for alg in crate::store::digest::Algorithm::ALL {
            let d = dest.join("blobs").join(alg.name());
            if d.is_dir() {
                crate::fsutil::sync_dir(&d)?;
            }
        }
        // index.json last: a folder without it is recognisably incomplete.
        for (name, bytes) in [
            ("oci-layout", OCI_LAYOUT_CONTENT.as_bytes()),
            ("index.json", &plan.index[..]),
        ] {
            let p = dest.join(name);
            let mut f = File::create(&p).at(&p)?;
            f.write_all(bytes).at(&p)?;
            f.sync_all().at(&p)?;
        }
        crate::fsutil::sync_dir(dest)?;
        Ok(report)
    }

    /// Exports as a tar (optionally gzip) stream.
    pub fn export_tar<'a>(
        &self,
        out: &mut dyn Write,
        run: impl Into<WithProgress<'a, ExportOptions>>,
    ) -> Result<ExportReport> {
        let WithProgress { options, progress } = run.into();
        let opts = &options;

        let plan = self.export_plan(opts)?;
        let mut rep = Reporter::new(Operation::Export, progress);
        rep.p.items_total = Some(plan.blobs.len() as u64);
        rep.p.bytes_total = Some(plan.blobs.iter().map(|b| b.1).sum());
        if opts.gzip {
            let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            let report = self.write_tar(&mut gz, &plan, &mut rep)?;
            gz.try_finish()
                .map_err(|e| StoreError::io(Path::new("<output>"), e))?;
            Ok(report)
        } else {
            self.write_tar(out, &plan, &mut rep)
        }
    }

    fn write_tar(
        &self,
        sink: &mut dyn Write,
        plan: &Plan,
        rep: &mut Reporter<'_>,
    ) -> Result<ExportReport> {
        let mut tar = tar::Builder::new(sink);
        tar.mode(tar::HeaderMode::Deterministic);
        let outp = Path::new("<output>");
        let tio = |e: io::Error| StoreError::io(outp, e);
        let mut report = ExportReport {
            tags: plan.tags.clone(),
            ..Default::default()
        };
        let file_header = |size: u64| {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(size);
            h.set_mode(0o644);
            h.set_mtime(0);
            h
        };
        let dir_header = || {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            h.set_mode(0o755);
            h.set_mtime(0);
            h
        };
        let mut h = file_header(OCI_LAYOUT_CONTENT.len() as u64);
        tar.append_data(&mut h, "oci-layout", OCI_LAYOUT_CONTENT.as_bytes())
            .map_err(tio)?;
        let mut h = file_header(plan.index.len() as u64);
        tar.append_data(&mut h, "index.json", &plan.index[..])
            .map_err(tio)?;
        let mut h = dir_header();
        tar.append_data(&mut h, "blobs/", io::empty())
            .map_err(tio)?;
        let mut algs_done = BTreeSet::new();
        for (d, _) in &plan.blobs {
            if algs_done.insert(d.algorithm()) {
                let mut h = dir_header();
                tar.append_data(&mut h, format!("blobs/{}/", d.algorithm()), io::empty())
                    .map_err(tio)?;
            }
            let st = self.stat(d)?;
            let mut h = file_header(st.size);
            let path = self.blob_path(d);
            let reader = self.open_blob(d)?;
            tar.append_data(
                &mut h,
                format!("blobs/{}/{}", d.algorithm(), d.hex()),
                reader,
            )
            .map_err(|e| crate::store::content::read::unwrap_corrupt(e, &path))?;
            report.blobs += 1;
            report.bytes += st.size;
            rep.p.bytes_done += st.size;
            rep.item(Some(d.to_string()))?;
        }
        let sink = tar.into_inner().map_err(tio)?;
        sink.flush().map_err(tio)?;
        Ok(report)
    }
}
