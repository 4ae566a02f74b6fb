//! Completeness ("does the store hold every blob these images need?", what Local mode waits for
//! before it switches) and replica sync (which blobs another store lacks, and copying exactly
//! those, verified).

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::store::digest::Digest;
use crate::store::error::{Result, StoreError};
use crate::store::index::manifest::{self, Descriptor, MAX_MANIFEST};
use crate::store::progress::{Operation, ProgressFn, Reporter};

/// Completeness of one requested image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageCompleteness {
    /// The reference as requested (tag or digest).
    pub reference: String,
    /// What it resolved to, if it resolved.
    pub digest: Option<Digest>,
    /// True if every manifest and blob it needs is stored with the right size and parses.
    pub complete: bool,
    /// Blobs it needs that are not stored, sorted.
    pub missing: Vec<Digest>,
    /// Other problems (unresolvable tag, unparseable manifest, size mismatch).
    pub problems: Vec<String>,
    /// Distinct blobs it needs (manifests included).
    pub blobs: u64,
    /// Their total size per descriptors.
    pub bytes: u64,
}

/// Completeness of a set of images.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompletenessReport {
    /// True if every image is complete.
    pub complete: bool,
    /// Per image, in request order.
    pub images: Vec<ImageCompleteness>,
    /// The union of missing blobs, sorted.
    pub missing: Vec<Digest>,
}

/// The result of copying blobs between stores.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// Blobs copied.
    pub copied: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Blobs the target already had.
    pub present: u64,
}

/// Where a closure walk reads from: a store, or an import's staging plus a store.
pub(crate) trait Source {
    /// Size of a blob, or `None` if absent.
    fn size_of(&self, d: &Digest) -> Result<Option<u64>>;
    /// The bytes of a (small) manifest.
    fn manifest_bytes(&self, d: &Digest) -> Result<Vec<u8>>;
}

impl Source for Store {
    fn size_of(&self, d: &Digest) -> Result<Option<u64>> {
        match self.stat(d) {
            Ok(s) => Ok(Some(s.size)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn manifest_bytes(&self, d: &Digest) -> Result<Vec<u8>> {
        self.read_limited(d, MAX_MANIFEST)
    }
}

/// Walks everything `root` references. Fills `missing`, `problems`, and returns the distinct
/// digests needed (with sizes per descriptor).
pub(crate) fn closure(
    src: &dyn Source,
    root: Descriptor,
    missing: &mut BTreeSet<Digest>,
    problems: &mut Vec<String>,
) -> Result<Vec<(Digest, u64)>> {
    let mut seen = HashSet::new();
    let mut needed = Vec::new();
    let mut work = vec![(root, true)];
    while let Some((desc, follow)) = work.pop() {
        if !seen.insert(desc.digest.clone()) {
            continue;
        }
        needed.push((desc.digest.clone(), desc.size));
        let Some(size) = src.size_of(&desc.digest)? else {
            missing.insert(desc.digest.clone());
            continue;
        };
        if size != desc.size {
            problems.push(format!(
                "blob {} is {size} bytes but its descriptor says {}",
                desc.digest, desc.size
            ));
            continue;
        }
        if !follow {
            continue;
        }
        let bytes = match src.manifest_bytes(&desc.digest) {
            Ok(b) => b,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        match manifest::children(&desc.digest, &bytes) {
            Ok(Some(c)) => {
                work.extend(c.manifests.into_iter().map(|d| (d, true)));
                work.extend(c.blobs.into_iter().map(|d| (d, false)));
            }
            Ok(None) => {}
            Err(e) => problems.push(e.to_string()),
        }
    }
    Ok(needed)
}

impl Store {
    /// Reports, for each reference (a tag from `index.json` or a manifest/index digest), whether
    /// every manifest and blob it needs is stored, following every reference.
    pub fn completeness(&self, references: &[String]) -> Result<CompletenessReport> {
        let tags = self.tags()?;
        let mut report = CompletenessReport {
            complete: true,
            ..Default::default()
        };
        let mut all_missing = BTreeSet::new();
        for r in references {
            let mut missing = BTreeSet::new();
            let mut problems = Vec::new();
            let root = if let Some(t) = tags.iter().find(|t| &t.reference() == r) {
                Some(Descriptor {
                    media_type: Some(t.media_type.clone()),
                    digest: t.digest.clone(),
                    size: t.size,
                    ref_name: None,
                    platform: None,
                })
            } else {
                match Digest::parse(r) {
                    Ok(d) => match self.size_of(&d)? {
                        Some(size) => Some(Descriptor {
                            media_type: None,
                            digest: d,
                            size,
                            ref_name: None,
                            platform: None,
                        }),
                        None => {
                            missing.insert(d.clone());
                            problems.push(format!("manifest {d} is not stored"));
                            None
                        }
                    },
                    Err(_) => {
                        problems.push(format!(
                            "unknown tag {:?}: no such tag in index.json (tags are `tag` in the \
                             root repository or `repository:tag`)",
                            crate::store::message::printable(r)
                        ));
                        None
                    }
                }
            };
            let digest = root
                .as_ref()
                .map(|d| d.digest.clone())
                .or_else(|| missing.iter().next().cloned());
            let needed = match root {
                Some(root) => closure(self, root, &mut missing, &mut problems)?,
                None => Vec::new(),
            };
            let complete = missing.is_empty() && problems.is_empty();
            report.complete &= complete;
            all_missing.extend(missing.iter().cloned());
            report.images.push(ImageCompleteness {
                reference: r.clone(),
                digest,
                complete,
                missing: missing.into_iter().collect(),
                problems,
                blobs: needed.len() as u64,
                bytes: needed.iter().map(|(_, s)| s).sum(),
            });
        }
        report.missing = all_missing.into_iter().collect();
        Ok(report)
    }

    /// The digests from `digests` that this store does not hold (sorted, deduplicated).
    pub fn missing(&self, digests: &[Digest]) -> Result<Vec<Digest>> {
        let mut out = BTreeSet::new();
        for d in digests {
            if !self.has(d)? {
                out.insert(d.clone());
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Blobs this store holds that `other` lacks, sorted: what a replica needs.
    pub fn lacking_in(&self, other: &Store) -> Result<Vec<Digest>> {
        other.missing(&self.list()?)
    }

    /// Copies `digests` from this store into `target`, verifying each on the way (a corrupt
    /// source blob fails the copy and is not stored).
    pub fn copy_to(
        &self,
        target: &Store,
        digests: &[Digest],
        progress: Option<ProgressFn<'_>>,
    ) -> Result<SyncReport> {
        let mut rep = Reporter::new(Operation::Sync, progress);
        rep.p.items_total = Some(digests.len() as u64);
        let mut out = SyncReport::default();
        for d in digests {
            if target.has(d)? {
                out.present += 1;
            } else {
                let mut r = self.open_blob(d)?;
                let size = r.size();
                let path = self.blob_path(d);
                let put = target.put_sized(&mut r, Some(d), Some(size));
                let put = match put {
                    Err(StoreError::Io { source, .. })
                        if source.get_ref().is_some_and(|i| i.is::<StoreError>()) =>
                    {
                        Err(crate::store::content::read::unwrap_corrupt(source, &path))
                    }
                    other => other,
                }?;
                if put.created {
                    out.copied += 1;
                    out.bytes += put.size;
                } else {
                    out.present += 1;
                }
                rep.bytes(size)?;
            }
            rep.item(Some(d.to_string()))?;
        }
        Ok(out)
    }
}
