//! Untagged `index.json` entries and referrers: listing the untagged entries (what `oras copy`,
//! `oras attach` and `crane pull` leave, and manifests kept by digest), pinning one so GC keeps
//! it, and removing an image together with the OCI 1.1 referrers whose `subject` it is.
//!
//! Which entries are GC roots: every tagged entry, every entry with a repository annotation
//! (manifests pushed by digest into a repository, kept with [`Store::keep_in`]) and every entry
//! pinned with [`PIN_ANNOTATION`](crate::store::PIN_ANNOTATION). A plain untagged entry is not: GC
//! collects its manifest after the grace period and drops the entry.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::Store;
use crate::store::digest::Digest;
use crate::store::error::{Result, StoreError};
use crate::store::index::manifest::{self, MAX_MANIFEST};
use crate::store::index::refs::{IndexEntry, TagEntry, is_gc_root, set_pin};
use crate::store::index::repository::Repository;

/// An untagged `index.json` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UntaggedEntry {
    /// Its repository.
    #[serde(default, skip_serializing_if = "Repository::is_root")]
    pub repository: Repository,
    /// The manifest or index.
    pub digest: Digest,
    /// Its media type as the entry says.
    pub media_type: String,
    /// Whether GC keeps it (a repository entry or a pinned one).
    pub gc_root: bool,
}

impl Store {
    /// Every untagged entry of `index.json`, in file order.
    pub fn untagged(&self) -> Result<Vec<UntaggedEntry>> {
        Ok(self
            .load_index()?
            .items()
            .iter()
            .filter_map(|v| {
                let e = IndexEntry::from_value(v)?;
                e.tag.is_none().then(|| UntaggedEntry {
                    gc_root: is_gc_root(v),
                    repository: e.repository,
                    media_type: e.descriptor.media_type.clone().unwrap_or_default(),
                    digest: e.descriptor.digest,
                })
            })
            .collect())
    }

    /// Pins a stored manifest or index in the root repository, so GC keeps it untagged.
    pub fn pin(&self, digest: &Digest) -> Result<()> {
        self.keep_in(&Repository::root(), digest)
    }

    /// Removes the pin of `digest`'s untagged root entries; `NotFound` if none was pinned.
    pub fn unpin(&self, digest: &Digest) -> Result<()> {
        let d = digest.to_string();
        let changed = self.update_index(|doc| {
            let mut n = 0;
            if let Some(Value::Array(items)) = doc.doc.get_mut("manifests") {
                for v in items.iter_mut() {
                    let root_untagged = IndexEntry::from_value(v)
                        .is_some_and(|e| e.repository.is_root() && e.tag.is_none());
                    if root_untagged
                        && is_gc_root(v)
                        && v.get("digest").and_then(Value::as_str) == Some(d.as_str())
                    {
                        set_pin(v, false);
                        n += 1;
                    }
                }
            }
            Ok(n)
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: format!("pinned entry {digest}"),
            });
        }
        Ok(())
    }

    /// The `index.json` entries (any repository, tagged or not) whose manifest names `digest`
    /// as its OCI 1.1 `subject`.
    pub fn referrers(&self, digest: &Digest) -> Result<Vec<TagEntry>> {
        let mut out = Vec::new();
        for e in self.load_index()?.entries() {
            let Ok(bytes) = self.read_limited(&e.descriptor.digest, MAX_MANIFEST) else {
                continue;
            };
            if let Ok(Some(c)) = manifest::children(&e.descriptor.digest, &bytes)
                && c.subject.is_some_and(|s| &s.digest == digest)
            {
                out.push(e.into_tag_entry());
            }
        }
        Ok(out)
    }

    /// Removes every entry of `digest` from `repo` (as [`Store::forget_in`]) and, with
    /// `referrers`, every entry whose manifest's subject it is (in any repository). Returns
    /// how many entries went. Blobs stay until GC.
    pub fn forget(&self, repo: &Repository, digest: &Digest, referrers: bool) -> Result<usize> {
        let others = if referrers {
            self.referrers(digest)?
        } else {
            Vec::new()
        };
        self.update_index(|doc| {
            let mut n = doc.forget_in(repo, digest);
            for r in &others {
                n += doc.forget_in(&r.repository, &r.digest);
            }
            Ok(n)
        })
    }
}
