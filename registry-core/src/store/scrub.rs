//! Scrub: re-hash every blob (manifests and configs included) on all cores, report corrupt blobs
//! and foreign files under `blobs/`, and move them to quarantine. Nothing is ever deleted here.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use serde::{Deserialize, Serialize};

use crate::fsutil::sync_dir;
use crate::store::Store;
use crate::store::digest::{Algorithm, Digest, Hasher};
use crate::store::error::{IoContext, Result, StoreError};
use crate::store::layout;
use crate::store::progress::{Operation, Reporter, WithProgress};

/// How to scrub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ScrubOptions {
    /// Move corrupt and foreign files to `.registry-store/quarantine/` (default true).
    pub quarantine: bool,
    /// Hashing threads; `None` uses every core.
    pub threads: Option<usize>,
}

impl Default for ScrubOptions {
    fn default() -> Self {
        ScrubOptions {
            quarantine: true,
            threads: None,
        }
    }
}

/// A blob whose content does not match its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CorruptBlob {
    /// The digest it is stored under.
    pub digest: Digest,
    /// What its content hashes to (if it could be read).
    pub actual: Option<Digest>,
    /// Why it is corrupt.
    pub reason: String,
    /// Where it was moved, if quarantined.
    pub quarantined_to: Option<String>,
}

/// A file under `blobs/` that is not a blob (wrong name, link, folder, unknown algorithm).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForeignFile {
    /// Its path relative to the root.
    pub path: String,
    /// Why it does not belong.
    pub reason: String,
    /// Where it was moved, if quarantined.
    pub quarantined_to: Option<String>,
}

/// The result of a scrub.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScrubReport {
    /// Blobs re-hashed.
    pub checked: u64,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Corrupt blobs.
    pub corrupt: Vec<CorruptBlob>,
    /// Foreign files.
    pub foreign: Vec<ForeignFile>,
    /// Problems with `index.json` or `oci-layout`, if any.
    pub layout_problems: Vec<String>,
}

impl ScrubReport {
    /// True if nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty() && self.foreign.is_empty() && self.layout_problems.is_empty()
    }
}

/// Moves `path` into quarantine with a note of why; returns the new path.
pub(crate) fn quarantine(store: &Store, path: &Path, reason: &str) -> Result<PathBuf> {
    let qdir = store.layout().quarantine();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "unnamed".into());
    let dest = qdir.join(format!("{}-{}", layout::unique_name("q"), name));
    fs::rename(path, &dest).at(path)?;
    let _ = fs::write(
        dest.with_extension("reason"),
        format!("{}\n{reason}\n", path.display()),
    );
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    sync_dir(&qdir)?;
    Ok(dest)
}

fn hash_file(
    path: &Path,
    alg: Algorithm,
    stop: &AtomicBool,
) -> std::io::Result<Option<(Digest, u64)>> {
    let mut f = File::open(path)?;
    let mut h = Hasher::new(alg);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let len = h.len();
    Ok(Some((h.finish(), len)))
}

impl Store {
    /// Re-hashes every blob (see the module documentation).
    pub fn scrub<'a>(&self, run: impl Into<WithProgress<'a, ScrubOptions>>) -> Result<ScrubReport> {
        let WithProgress { options, progress } = run.into();
        let opts = &options;

        let mut report = ScrubReport::default();
        let mut rep = Reporter::new(Operation::Scrub, progress);
        let root = self.root().to_path_buf();
        let rel = |p: &Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();

        if let Err(e) = self.load_index() {
            report.layout_problems.push(e.to_string());
        }
        if let Err(e) = fs::read(self.layout().oci_layout())
            .at(&self.layout().oci_layout())
            .and_then(|b| crate::store::check_oci_layout(&self.layout().oci_layout(), &b))
        {
            report.layout_problems.push(e.to_string());
        }

        let mut work: Vec<(Digest, PathBuf, u64)> = Vec::new();
        let mut foreign: Vec<(PathBuf, String)> = Vec::new();
        let blobs = self.layout().blobs();
        for entry in fs::read_dir(&blobs).at(&blobs)? {
            let entry = entry.at(&blobs)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let ft = entry.file_type().at(&entry.path())?;
            let Some(alg) = Algorithm::from_name(&name).filter(|_| ft.is_dir()) else {
                foreign.push((entry.path(), "not a folder of a supported algorithm".into()));
                continue;
            };
            let dir = entry.path();
            for e in fs::read_dir(&dir).at(&dir)? {
                let e = e.at(&dir)?;
                let n = e.file_name().to_string_lossy().into_owned();
                let ft = e.file_type().at(&e.path())?;
                match Digest::parse(&format!("{alg}:{n}")) {
                    Ok(d) if ft.is_file() => {
                        let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                        work.push((d, e.path(), size));
                    }
                    Ok(_) => foreign.push((e.path(), "not a regular file (link or folder)".into())),
                    Err(_) => foreign.push((e.path(), format!("name is not a {alg} digest"))),
                }
            }
        }
        // Largest first, so both cores finish at about the same time.
        work.sort_by_key(|w| std::cmp::Reverse(w.2));
        rep.p.items_total = Some(work.len() as u64);
        rep.p.bytes_total = Some(work.iter().map(|w| w.2).sum());
        rep.emit()?;

        let threads = opts
            .threads
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            })
            .clamp(1, 64);
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel::<(usize, std::io::Result<Option<(Digest, u64)>>)>();
        let corrupt_found: Mutex<Vec<CorruptBlob>> = Mutex::new(Vec::new());
        let mut cancelled = false;
        std::thread::scope(|s| {
            for _ in 0..threads.min(work.len().max(1)) {
                let tx = tx.clone();
                let (work, next, stop) = (&work, &next, &stop);
                s.spawn(move || {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= work.len() || stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let (d, p, _) = &work[i];
                        if tx.send((i, hash_file(p, d.algorithm(), stop))).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            for (i, res) in rx {
                let (d, _, _) = &work[i];
                match res {
                    Ok(Some((actual, len))) => {
                        report.checked += 1;
                        report.bytes += len;
                        if actual != *d
                            && let Ok(mut c) = corrupt_found.lock()
                        {
                            c.push(CorruptBlob {
                                digest: d.clone(),
                                reason: format!("content hashes to {actual}"),
                                actual: Some(actual),
                                quarantined_to: None,
                            });
                        }
                        rep.p.bytes_done += len;
                    }
                    Ok(None) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        if let Ok(mut c) = corrupt_found.lock() {
                            c.push(CorruptBlob {
                                digest: d.clone(),
                                actual: None,
                                reason: format!("unreadable: {e}"),
                                quarantined_to: None,
                            });
                        }
                    }
                }
                rep.p.items_done += 1;
                rep.p.current = Some(d.to_string());
                if !cancelled && rep.emit().is_err() {
                    cancelled = true;
                    stop.store(true, Ordering::Relaxed);
                }
            }
        });
        if cancelled {
            return Err(StoreError::Cancelled);
        }
        let mut corrupt = corrupt_found.into_inner().unwrap_or_default();
        corrupt.sort_by(|a, b| a.digest.cmp(&b.digest));
        for c in &mut corrupt {
            if opts.quarantine {
                let p = self.blob_path(&c.digest);
                // Re-check first: a concurrent re-push may have replaced it with good content.
                let still_bad = match hash_file(&p, c.digest.algorithm(), &AtomicBool::new(false)) {
                    Ok(Some((a, _))) => a != c.digest,
                    Ok(None) => false,
                    Err(e) => e.kind() != std::io::ErrorKind::NotFound,
                };
                if still_bad {
                    let _g = self.lock(crate::store::lock::LockName::Gc, true)?;
                    c.quarantined_to = Some(rel(&quarantine(self, &p, &c.reason)?));
                }
            }
        }
        report.corrupt = corrupt;
        for (p, reason) in foreign {
            let quarantined_to = if opts.quarantine {
                Some(rel(&quarantine(self, &p, &reason)?))
            } else {
                None
            };
            report.foreign.push(ForeignFile {
                path: rel(&p),
                reason,
                quarantined_to,
            });
        }
        report.foreign.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(report)
    }
}
