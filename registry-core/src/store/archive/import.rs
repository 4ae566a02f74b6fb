//! Import of an OCI image layout from a folder or a tar (plain or gzip). Every blob is hashed
//! while it is copied into a private staging folder; entries that could escape (absolute paths,
//! `..`), links, device files and digest or size mismatches refuse the whole import. Only after
//! everything checked out are the blobs published (one fsync round) and the tags merged into
//! `index.json`, so a failed or cancelled import leaves the store as it was.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::store::archive::staging::{StagingDir, refuse};
use crate::store::digest::{Algorithm, Digest, Hasher};
use crate::store::error::{IoContext, Result, StoreError};
use crate::store::index::manifest::{Descriptor, MAX_MANIFEST};
use crate::store::index::refs::{IndexDoc, IndexEntry, Placement};
use crate::store::lock::LockName;
use crate::store::progress::{Operation, ProgressFn, Reporter, WithProgress};
use crate::store::sync::{Source, closure};

/// How to import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ImportOptions {
    /// Refuse the import unless every image in its `index.json` is complete (counting blobs the
    /// store already has). Default true.
    pub require_complete: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            require_complete: true,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// Blobs newly stored.
    pub blobs_added: u64,
    /// Blobs the store already had.
    pub blobs_present: u64,
    /// Bytes newly stored.
    pub bytes_added: u64,
    /// Tags set (sorted).
    pub tags: Vec<String>,
    /// Untagged `index.json` entries added.
    pub untagged: u64,
    /// Entries that are not part of an OCI layout and were skipped.
    pub ignored: Vec<String>,
}

const MAX_SMALL_FILE: u64 = MAX_MANIFEST;

/// What a path inside the layout is.
enum Entry {
    OciLayout,
    Index,
    Blob(Digest),
    Dir,
    Other,
}

/// Normalises a relative entry path, refusing anything that could leave the layout.
fn classify(raw: &Path) -> Result<(String, Entry)> {
    let mut parts: Vec<&str> = Vec::new();
    for c in raw.components() {
        match c {
            Component::Normal(s) => parts.push(
                s.to_str()
                    .ok_or_else(|| refuse(raw.to_string_lossy(), "path is not UTF-8"))?,
            ),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(refuse(raw.to_string_lossy(), "path contains '..'"));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse(raw.to_string_lossy(), "absolute path"));
            }
        }
    }
    let rel = parts.join("/");
    if rel.contains('\0') {
        return Err(refuse(
            crate::store::message::printable(&rel),
            "path contains NUL",
        ));
    }
    let kind = match parts.as_slice() {
        [] => Entry::Dir,
        ["oci-layout"] => Entry::OciLayout,
        ["index.json"] => Entry::Index,
        ["blobs"] => Entry::Dir,
        ["blobs", alg] if Algorithm::from_name(alg).is_some() => Entry::Dir,
        ["blobs", alg, hex] if Algorithm::from_name(alg).is_some() => Entry::Blob(
            Digest::parse(&format!("{alg}:{hex}")).map_err(|e| refuse(&rel, e.to_string()))?,
        ),
        _ => Entry::Other,
    };
    Ok((rel, kind))
}

/// An import in progress: a staging folder plus what was read so far.
struct Staging<'s> {
    store: &'s Store,
    dir: StagingDir<'s>,
    present: BTreeSet<Digest>,
    oci_layout: bool,
    index: Option<(IndexDoc, Vec<serde_json::Value>)>,
    ignored: Vec<String>,
}

impl Source for Staging<'_> {
    fn size_of(&self, d: &Digest) -> Result<Option<u64>> {
        if let Some(s) = self.dir.staged.get(d) {
            return Ok(Some(*s));
        }
        self.store.size_of(d)
    }
    fn manifest_bytes(&self, d: &Digest) -> Result<Vec<u8>> {
        if self.dir.staged.contains_key(d) {
            let p = self.dir.path_of(d);
            return fs::read(&p).at(&p);
        }
        self.store.manifest_bytes(d)
    }
}

impl<'s> Staging<'s> {
    fn new(store: &'s Store) -> Result<Staging<'s>> {
        Ok(Staging {
            store,
            dir: StagingDir::new(store, "import")?,
            present: BTreeSet::new(),
            oci_layout: false,
            index: None,
            ignored: Vec::new(),
        })
    }

    fn small_file(rel: &str, r: &mut dyn Read, size: Option<u64>) -> Result<Vec<u8>> {
        if size.is_some_and(|s| s > MAX_SMALL_FILE) {
            return Err(refuse(rel, format!("larger than {MAX_SMALL_FILE} bytes")));
        }
        let mut v = Vec::new();
        r.take(MAX_SMALL_FILE + 1)
            .read_to_end(&mut v)
            .map_err(|e| refuse(rel, format!("read failed: {e}")))?;
        if v.len() as u64 > MAX_SMALL_FILE {
            return Err(refuse(rel, format!("larger than {MAX_SMALL_FILE} bytes")));
        }
        Ok(v)
    }

    fn add(
        &mut self,
        raw: &Path,
        r: &mut dyn Read,
        size: Option<u64>,
        rep: &mut Reporter<'_>,
    ) -> Result<()> {
        let (rel, kind) = classify(raw)?;
        match kind {
            Entry::Dir => {}
            Entry::Other => self.ignored.push(rel),
            Entry::OciLayout => {
                if self.oci_layout {
                    return Err(refuse(rel, "duplicate entry"));
                }
                let b = Self::small_file(&rel, r, size)?;
                crate::store::check_oci_layout(Path::new("oci-layout"), &b)
                    .map_err(|e| refuse(&rel, e.to_string()))?;
                self.oci_layout = true;
            }
            Entry::Index => {
                if self.index.is_some() {
                    return Err(refuse(rel, "duplicate entry"));
                }
                let b = Self::small_file(&rel, r, size)?;
                let doc = IndexDoc::parse(Path::new("index.json"), &b)
                    .map_err(|e| refuse(&rel, e.to_string()))?;
                let raw_items = match doc.doc.get("manifests") {
                    Some(serde_json::Value::Array(a)) => a.clone(),
                    _ => Vec::new(),
                };
                for item in &raw_items {
                    if let Some(Some(name)) = item
                        .get("annotations")
                        .and_then(|a| a.get(crate::store::index::manifest::REF_NAME))
                        .map(|v| v.as_str())
                    {
                        crate::store::index::refs::validate_tag(name)
                            .map_err(|e| refuse(&rel, e.to_string()))?;
                    }
                }
                self.index = Some((doc, raw_items));
            }
            Entry::Blob(d) => {
                if let Some(s) = size
                    && self.store.inner.opts.quota.is_some()
                    && !self.dir.staged.contains_key(&d)
                    && !self.store.has(&d)?
                {
                    self.reserve(s)?;
                }
                self.blob(&rel, d, r, rep)?;
            }
        }
        Ok(())
    }

    fn reserve(&mut self, n: u64) -> Result<()> {
        let inner = &self.store.inner;
        if let Some(quota) = inner.opts.quota {
            let used = inner.usage.load(std::sync::atomic::Ordering::SeqCst)
                + inner.pending.load(std::sync::atomic::Ordering::SeqCst);
            if used + n > quota {
                return Err(StoreError::QuotaExceeded {
                    quota,
                    used,
                    requested: n,
                });
            }
        }
        Ok(())
    }

    fn blob(
        &mut self,
        rel: &str,
        d: Digest,
        r: &mut dyn Read,
        rep: &mut Reporter<'_>,
    ) -> Result<()> {
        let known = self.dir.staged.contains_key(&d) || self.store.has(&d)?;
        if known {
            // Still verified: a bundle with a bad copy of a blob is a bad bundle.
            let mut h = Hasher::new(d.algorithm());
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = r
                    .read(&mut buf)
                    .map_err(|e| refuse(rel, format!("read failed: {e}")))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                rep.bytes(n as u64)?;
            }
            let len = h.len();
            let actual = h.finish();
            if actual != d {
                return Err(refuse(
                    rel,
                    format!("content hashes to {actual} ({len} bytes), not {d}"),
                ));
            }
            if !self.dir.staged.contains_key(&d) {
                self.present.insert(d);
            }
            return Ok(());
        }
        let mut w = self.store.writer(d.algorithm())?;
        w.mark_bulk();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = r
                .read(&mut buf)
                .map_err(|e| refuse(rel, format!("read failed: {e}")))?;
            if n == 0 {
                break;
            }
            w.write_bytes(&buf[..n])?;
            rep.bytes(n as u64)?;
        }
        let size = w.written();
        let staged = w.stage(&d, &self.dir.path_of(&d));
        self.dir.record(rel, &d, size, staged)
    }

    fn finish(mut self, opts: &ImportOptions, rep: &mut Reporter<'_>) -> Result<ImportReport> {
        if !self.oci_layout {
            return Err(refuse("oci-layout", "missing: not an OCI image layout"));
        }
        let Some((_, raw_items)) = self.index.take() else {
            return Err(refuse("index.json", "missing: not an OCI image layout"));
        };
        let mut roots = Vec::new();
        for item in &raw_items {
            let d = Descriptor::from_value(item).map_err(|e| refuse("index.json", e))?;
            roots.push((d, item.clone()));
        }
        let mut missing = BTreeSet::new();
        let mut problems = Vec::new();
        for (d, _) in &roots {
            closure(&self, d.clone(), &mut missing, &mut problems)?;
        }
        if let Some(p) = problems.first() {
            return Err(refuse("index.json", p.clone()));
        }
        if opts.require_complete && !missing.is_empty() {
            let list: Vec<String> = missing.iter().take(5).map(|d| d.to_string()).collect();
            return Err(refuse(
                "index.json",
                format!(
                    "{} referenced blob(s) are neither in the layout nor in the store: {}",
                    missing.len(),
                    list.join(", ")
                ),
            ));
        }
        rep.emit()?;

        let store = self.store;
        let _gc = store.lock(LockName::Gc, false)?;
        let published = self.dir.publish()?;
        for p in &self.present {
            crate::store::content::touch(&store.blob_path(p));
        }
        let mut report = ImportReport {
            ignored: std::mem::take(&mut self.ignored),
            blobs_added: published.added,
            blobs_present: self.present.len() as u64 + published.present,
            bytes_added: published.bytes,
            ..Default::default()
        };
        // One linear merge (hashed lookups), so re-importing many entries is not quadratic.
        // Moving a tag is allowed here: `import_path` replaces tags as it always did.
        let mut tags = Vec::new();
        let mut untagged = 0;
        let mut places = Vec::new();
        for (d, raw) in &roots {
            match (&d.ref_name, IndexEntry::from_value(raw)) {
                (
                    Some(_),
                    Some(IndexEntry {
                        repository,
                        tag: Some(tag),
                        ..
                    }),
                ) => {
                    tags.push(repository.ref_name(&tag));
                    places.push(Placement {
                        repository,
                        tag: Some(tag),
                        raw: raw.clone(),
                        pin: false,
                    });
                }
                (_, entry) => {
                    untagged += 1;
                    places.push(Placement {
                        repository: entry.map(|e| e.repository).unwrap_or_default(),
                        tag: None,
                        raw: raw.clone(),
                        pin: false,
                    });
                }
            }
        }
        store.update_index(|doc| doc.merge(&places, true).map(|_| ()))?;
        tags.sort();
        report.tags = tags;
        report.untagged = untagged;
        Ok(report)
    }
}

impl Store {
    /// Imports an OCI image layout from a folder, or from a tar or tar.gz file (detected by its
    /// content). See the module documentation for what is refused.
    pub fn import_path<'a>(
        &self,
        path: &Path,
        run: impl Into<WithProgress<'a, ImportOptions>>,
    ) -> Result<ImportReport> {
        let WithProgress { options, progress } = run.into();
        let opts = &options;

        let meta = fs::metadata(path).at(path)?;
        if meta.is_dir() {
            return self.import_dir(path, WithProgress::new(options.clone(), progress));
        }
        let f = File::open(path).at(path)?;
        self.import_tar_inner(&mut BufReader::new(f), opts, progress, Some(meta.len()))
    }

    /// Imports from a tar stream (plain or gzip, detected by the magic bytes).
    pub fn import_tar<'a>(
        &self,
        reader: &mut dyn Read,
        run: impl Into<WithProgress<'a, ImportOptions>>,
    ) -> Result<ImportReport> {
        let WithProgress { options, progress } = run.into();
        let opts = &options;

        self.import_tar_inner(&mut BufReader::new(reader), opts, progress, None)
    }

    fn import_tar_inner(
        &self,
        reader: &mut dyn BufRead,
        opts: &ImportOptions,
        progress: Option<ProgressFn<'_>>,
        file_size: Option<u64>,
    ) -> Result<ImportReport> {
        let mut rep = Reporter::new(Operation::Import, progress);
        let head = reader
            .fill_buf()
            .map_err(|e| refuse("<tar>", format!("read failed: {e}")))?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        // A plain tar's size is close to its content's; a gzip's says little about it.
        rep.p.bytes_total = if gzip { None } else { file_size };
        let mut plain: Box<dyn Read + '_> = if gzip {
            Box::new(flate2::bufread::MultiGzDecoder::new(reader))
        } else {
            Box::new(reader)
        };
        let mut archive = tar::Archive::new(&mut plain);
        let mut staging = Staging::new(self)?;
        let entries = archive
            .entries()
            .map_err(|e| refuse("<tar>", format!("not a tar archive: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| refuse("<tar>", format!("corrupt tar: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| refuse("<tar>", format!("bad entry name: {e}")))?
                .into_owned();
            let shown = crate::store::message::printable(&path.to_string_lossy());
            let kind = entry.header().entry_type();
            let size = entry.header().size().ok();
            match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    staging.add(&path, &mut entry, size, &mut rep)?;
                    rep.item(Some(shown))?;
                }
                tar::EntryType::Directory => {
                    classify(&path)?;
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    return Err(refuse(shown, "links are not allowed in an image bundle"));
                }
                tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
                other => {
                    return Err(refuse(
                        shown,
                        format!("unsupported tar entry type {other:?}"),
                    ));
                }
            }
        }
        staging.finish(opts, &mut rep)
    }

    /// Imports an OCI image layout folder. Links anywhere in it are refused. Blobs the store
    /// already holds are not read again.
    pub fn import_dir<'a>(
        &self,
        dir: &Path,
        run: impl Into<WithProgress<'a, ImportOptions>>,
    ) -> Result<ImportReport> {
        let WithProgress { options, progress } = run.into();
        let opts = &options;

        let mut rep = Reporter::new(Operation::Import, progress);
        let mut staging = Staging::new(self)?;
        let mut files: Vec<(PathBuf, u64)> = Vec::new();
        for name in ["oci-layout", "index.json"] {
            let p = dir.join(name);
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_file() => files.push((PathBuf::from(name), m.len())),
                Ok(_) => return Err(refuse(name, "not a regular file (links are not allowed)")),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(&p, e)),
            }
        }
        let blobs = dir.join("blobs");
        if let Ok(m) = fs::symlink_metadata(&blobs) {
            if !m.is_dir() {
                return Err(refuse("blobs", "not a folder (links are not allowed)"));
            }
            for alg in fs::read_dir(&blobs).at(&blobs)? {
                let alg = alg.at(&blobs)?;
                let name = alg.file_name().to_string_lossy().into_owned();
                let rel_alg = format!("blobs/{name}");
                let ft = alg.file_type().at(&alg.path())?;
                if ft.is_symlink() {
                    return Err(refuse(rel_alg, "links are not allowed"));
                }
                if Algorithm::from_name(&name).is_none() || !ft.is_dir() {
                    staging.ignored.push(rel_alg);
                    continue;
                }
                for e in fs::read_dir(alg.path()).at(&alg.path())? {
                    let e = e.at(&alg.path())?;
                    let rel = format!("{rel_alg}/{}", e.file_name().to_string_lossy());
                    let m = fs::symlink_metadata(e.path()).at(&e.path())?;
                    if !m.is_file() {
                        return Err(refuse(rel, "not a regular file (links are not allowed)"));
                    }
                    files.push((PathBuf::from(rel), m.len()));
                }
            }
        }
        rep.p.items_total = Some(files.len() as u64);
        rep.p.bytes_total = Some(files.iter().map(|f| f.1).sum());
        for (rel, size) in &files {
            let (_, kind) = classify(rel)?;
            if let Entry::Blob(d) = &kind
                && self.has(d)?
            {
                staging.present.insert(d.clone());
                rep.bytes(*size)?;
                rep.item(Some(rel.display().to_string()))?;
                continue;
            }
            let p = dir.join(rel);
            let mut f = File::open(&p).at(&p)?;
            staging.add(rel, &mut f, Some(*size), &mut rep)?;
            rep.item(Some(rel.display().to_string()))?;
        }
        staging.finish(opts, &mut rep)
    }
}
