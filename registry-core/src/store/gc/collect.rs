//! Garbage collection and Proxy-mode cache expiry: mark from `index.json`, every manifest and
//! index reachable from it, live leases and young blobs (grace period, counted from last use);
//! sweep the rest. The sweep holds `gc.lock` exclusively, re-reads the roots and re-checks each
//! candidate's age under it, so nothing published, re-pushed, tagged or leased meanwhile is lost.

use std::collections::HashSet;
use std::fs;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fsutil::sync_dir;
use crate::store::Store;
use crate::store::content::read::BlobStat;
use crate::store::digest::{Algorithm, Digest};
use crate::store::error::{Result, StoreError};
use crate::store::index::manifest::{self, MAX_MANIFEST};
use crate::store::layout::now_ms;
use crate::store::lock::LockName;
use crate::store::progress::{Operation, Reporter, WithProgress};

/// How to collect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GcOptions {
    /// Blobs used more recently than this are kept; `None` uses the store's `gc_grace`.
    #[serde(
        rename = "graceSeconds",
        default,
        with = "crate::store::seconds::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<u64>")]
    pub grace: Option<Duration>,
    /// Report what would be deleted, delete nothing.
    pub dry_run: bool,
}

/// What a collection did (or would do, on a dry run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    /// True if nothing was deleted because of `dry_run`.
    pub dry_run: bool,
    /// Blobs examined.
    pub examined: u64,
    /// Blobs kept because they are reachable from `index.json` or a lease.
    pub reachable: u64,
    /// Blobs kept only because they are younger than the grace period (or reachable from one).
    pub young: u64,
    /// Blobs deleted (or that would be), sorted.
    pub deleted: Vec<Digest>,
    /// Their total size.
    pub deleted_bytes: u64,
    /// Blobs referenced from the roots but not stored (an incomplete image; not an error).
    pub missing: Vec<Digest>,
    /// Plain untagged `index.json` entries (no tag, repository or pin) removed because their
    /// manifest was collected (or would be, on a dry run), sorted.
    #[serde(default)]
    pub forgotten: Vec<Digest>,
}

/// Mark state: what is reachable, and what was already followed.
struct Marker<'s> {
    store: &'s Store,
    marked: HashSet<Digest>,
    followed: HashSet<Digest>,
    missing: HashSet<Digest>,
}

impl Marker<'_> {
    fn mark(&mut self, digest: Digest, follow: bool) {
        let mut work = vec![(digest, follow)];
        while let Some((d, follow)) = work.pop() {
            self.marked.insert(d.clone());
            if !follow || !self.followed.insert(d.clone()) {
                continue;
            }
            let path = self.store.blob_path(&d);
            let bytes = match fs::metadata(&path) {
                Ok(m) if m.len() <= MAX_MANIFEST => match fs::read(&path) {
                    Ok(b) => b,
                    Err(_) => continue,
                },
                Ok(_) => continue,
                Err(_) => {
                    self.missing.insert(d);
                    continue;
                }
            };
            // Marking must over-approximate: a manifest that does not parse strictly still keeps
            // every digest it mentions.
            match manifest::children(&d, &bytes) {
                Ok(Some(c)) => {
                    work.extend(c.manifests.into_iter().map(|x| (x.digest, true)));
                    work.extend(c.blobs.into_iter().map(|x| (x.digest, false)));
                }
                Ok(None) => {}
                Err(_) => work.extend(manifest::all_digests(&bytes).into_iter().map(|x| (x, true))),
            }
        }
    }

    /// Marks from the GC roots of `index.json`; returns the digests of the plain untagged
    /// entries, which are not roots (see `refs::PIN_ANNOTATION`).
    fn mark_roots(&mut self) -> Result<HashSet<Digest>> {
        let mut loose = HashSet::new();
        for v in self.store.load_index()?.items() {
            let Ok(desc) = manifest::Descriptor::from_value(v) else {
                continue;
            };
            if crate::store::index::refs::is_gc_root(v) {
                self.mark(desc.digest, true);
            } else {
                loose.insert(desc.digest);
            }
        }
        for d in self.store.leased()? {
            self.mark(d, true);
        }
        Ok(loose)
    }
}

fn looks_like_json(store: &Store, s: &BlobStat) -> bool {
    if s.size > MAX_MANIFEST || s.size < 2 {
        return false;
    }
    let mut first = [0u8; 1];
    fs::File::open(store.blob_path(&s.digest))
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut first))
        .is_ok()
        && first[0] == b'{'
}

impl Store {
    /// Collects garbage (see the module documentation). Safe while uploads, puts, tag updates and
    /// reads run in this and other processes.
    pub fn gc<'a>(&self, run: impl Into<WithProgress<'a, GcOptions>>) -> Result<GcReport> {
        let WithProgress { options, progress } = run.into();
        let opts = &options;

        let grace = opts.grace.unwrap_or(self.inner.opts.gc_grace);
        let mut rep = Reporter::new(Operation::Gc, progress);
        let cutoff = now_ms().saturating_sub(grace.as_millis() as u64);
        let mut all: Vec<BlobStat> = Vec::new();
        self.walk(&mut |s| {
            all.push(s);
            std::ops::ControlFlow::Continue(())
        })?;
        rep.p.items_total = Some(all.len() as u64);
        let mut m = Marker {
            store: self,
            marked: HashSet::new(),
            followed: HashSet::new(),
            missing: HashSet::new(),
        };
        m.mark_roots()?;
        let reachable: HashSet<Digest> = m.marked.clone();
        for s in &all {
            if s.last_used_ms > cutoff {
                let follow = looks_like_json(self, s);
                m.mark(s.digest.clone(), follow);
            }
        }
        rep.emit()?;

        let _g = self.lock(LockName::Gc, true)?;
        let loose = m.mark_roots()?;
        let mut report = GcReport {
            dry_run: opts.dry_run,
            examined: all.len() as u64,
            ..GcReport::default()
        };
        let mut dirs = [false; 2];
        for s in &all {
            rep.p.items_done += 1;
            if m.marked.contains(&s.digest) {
                if reachable.contains(&s.digest) {
                    report.reachable += 1;
                } else {
                    report.young += 1;
                }
                continue;
            }
            let path = self.blob_path(&s.digest);
            // Re-check under the lock: a re-push or touch since the walk makes it young again.
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            let now_stat = crate::store::content::read::stat_of(s.digest.clone(), &meta);
            if now_stat.last_used_ms > cutoff {
                report.young += 1;
                continue;
            }
            if !opts.dry_run {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(StoreError::io(&path, e)),
                }
                dirs[s.digest.algorithm() as usize] = true;
                if self.inner.opts.quota.is_some() {
                    crate::store::saturating_sub(&self.inner.usage, now_stat.size);
                }
            }
            report.deleted.push(s.digest.clone());
            report.deleted_bytes += now_stat.size;
        }
        if self.durable() {
            for alg in Algorithm::ALL {
                if dirs[alg as usize] {
                    sync_dir(&self.layout().alg_dir(alg))?;
                }
            }
        }
        report.deleted.sort();
        // Plain untagged entries whose manifest is gone (or was just collected) go too, so
        // index.json never lists what the store does not hold.
        let gone: Vec<Digest> = loose
            .into_iter()
            .filter(|d| !m.marked.contains(d) || report.deleted.binary_search(d).is_ok())
            .collect();
        if !gone.is_empty() {
            report.forgotten = gone.clone();
            report.forgotten.sort();
            if !opts.dry_run {
                self.update_index(|doc| {
                    for d in &gone {
                        doc.forget_loose(d);
                    }
                    Ok(())
                })?;
            }
        }
        report.missing = m.missing.into_iter().collect();
        report.missing.sort();
        rep.p.current = None;
        // Cancelling after the sweep has no effect left to undo.
        let _ = rep.emit();
        Ok(report)
    }

    /// Proxy-mode cache expiry: removes blobs and manifests not used for `ttl` that nothing in
    /// `index.json` or a lease needs. The same as [`Store::gc`] with `grace = ttl`; manifests used
    /// within `ttl` keep the blobs they reference.
    pub fn expire_cache(&self, ttl: Duration, dry_run: bool) -> Result<GcReport> {
        self.gc(GcOptions {
            grace: Some(ttl),
            dry_run,
        })
    }

    /// Deletes one blob now, regardless of references (`registryctl store rm`). Returns
    /// `NotFound` if it was not stored.
    pub fn delete(&self, digest: &Digest) -> Result<()> {
        let _g = self.lock(LockName::Gc, true)?;
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => {
                if self.durable() {
                    sync_dir(&self.layout().alg_dir(digest.algorithm()))?;
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::not_found_blob(digest))
            }
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }
}
