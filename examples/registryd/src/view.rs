//! A cached view of the store's repositories, so a by-tag `GET` does not re-read `index.json` on
//! every request, plus a cache of parsed manifests (content-addressed, so entries never go stale).
//!
//! The view is keyed by `index.json`'s inode, size and modification time: the store replaces
//! the file by rename on every change (also when another process changes it), so a changed key
//! means a changed index, and one `stat` per request keeps the view exact.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex, PoisonError};

use registry_core::store::{Digest, Result, Store, StoreError};
use serde_json::Value;

use crate::repos::{self, Entry, Repository};

/// Manifests parsed and remembered at most (then the cache starts over).
const MAX_SUMMARIES: usize = 50_000;
/// Nesting depth followed when collecting the children of an index.
const MAX_DEPTH: usize = 4;

/// What registryd needs from a manifest or index, parsed once per digest.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    /// `mediaType` of the document (empty if it has none).
    pub(crate) media_type: String,
    /// Its size in bytes.
    pub(crate) size: u64,
    /// `artifactType`, else an image manifest's `config.mediaType`.
    pub(crate) artifact_type: Option<String>,
    /// The `subject` digest, if any.
    pub(crate) subject: Option<Digest>,
    /// `annotations`, as they are.
    pub(crate) annotations: Option<Value>,
    /// Manifests an index lists.
    pub(crate) children: Vec<Digest>,
}

impl Summary {
    pub(crate) fn parse(bytes: &[u8]) -> Option<Summary> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let media_type = s(v.get("mediaType")).unwrap_or_default();
        let artifact_type = s(v.get("artifactType")).or_else(|| {
            // An image manifest without artifactType: its config media type names the artifact.
            v.get("layers")
                .and(s(v.get("config").and_then(|c| c.get("mediaType"))))
        });
        let subject = v
            .get("subject")
            .and_then(|x| x.get("digest"))
            .and_then(Value::as_str)
            .and_then(|d| Digest::parse(d).ok());
        let children = v
            .get("manifests")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.get("digest").and_then(Value::as_str))
                    .filter_map(|d| Digest::parse(d).ok())
                    .collect()
            })
            .unwrap_or_default();
        Some(Summary {
            media_type,
            size: bytes.len() as u64,
            artifact_type,
            subject,
            annotations: v.get("annotations").cloned(),
            children,
        })
    }
}

/// The repositories as of one `index.json`.
#[derive(Debug, Default)]
pub(crate) struct IndexView {
    /// Entries per repository, in index order.
    pub(crate) repos: BTreeMap<Repository, Vec<Entry>>,
    /// Digests reachable per repository (entries and the manifests their indexes list).
    reachable: Mutex<HashMap<Repository, Arc<HashSet<Digest>>>>,
}

impl IndexView {
    /// The digest `tag` points at in `repo`.
    pub(crate) fn resolve(&self, repo: &Repository, tag: &str) -> Option<Digest> {
        self.repos
            .get(repo)?
            .iter()
            .rev()
            .find(|e| e.tag.as_deref() == Some(tag))
            .map(|e| e.digest.clone())
    }

    /// The tags of `repo`, sorted and unique; `None` if the repository has no entries.
    pub(crate) fn tags(&self, repo: &Repository) -> Option<Vec<String>> {
        let entries = self.repos.get(repo)?;
        let mut tags: Vec<String> = entries.iter().filter_map(|e| e.tag.clone()).collect();
        tags.sort();
        tags.dedup();
        Some(tags)
    }

    /// Every digest with an entry in `repo` (tagged or not), unique.
    pub(crate) fn digests(&self, repo: &Repository) -> Vec<Digest> {
        let mut seen = HashSet::new();
        self.repos
            .get(repo)
            .map(|es| {
                es.iter()
                    .filter(|e| seen.insert(e.digest.clone()))
                    .map(|e| e.digest.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The index view and the manifest cache, shared by all requests.
#[derive(Debug, Default)]
pub(crate) struct Views {
    current: Mutex<Option<(IndexKey, Arc<IndexView>)>>,
    summaries: Mutex<HashMap<Digest, Arc<Summary>>>,
}

type IndexKey = (u64, u64, i64, i64);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Views {
    /// The view of the current `index.json` (blocking: call on a blocking thread).
    pub(crate) fn index(&self, store: &Store) -> Result<Arc<IndexView>> {
        let path = store.root().join("index.json");
        let meta = std::fs::metadata(&path).map_err(|e| StoreError::Io {
            path: path.clone(),
            source: e,
        })?;
        let key = (meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec());
        if let Some((k, v)) = lock(&self.current).as_ref()
            && *k == key
        {
            return Ok(v.clone());
        }
        let mut repos: BTreeMap<Repository, Vec<Entry>> = BTreeMap::new();
        for e in repos::all_entries(store)? {
            repos.entry(e.repository.clone()).or_default().push(e);
        }
        let view = Arc::new(IndexView {
            repos,
            reachable: Mutex::default(),
        });
        *lock(&self.current) = Some((key, view.clone()));
        Ok(view)
    }

    /// The parsed manifest `digest` (blocking). `None` if it is not stored or not JSON.
    pub(crate) fn summary(&self, store: &Store, digest: &Digest) -> Result<Option<Arc<Summary>>> {
        if let Some(s) = lock(&self.summaries).get(digest) {
            return Ok(Some(s.clone()));
        }
        let bytes = match store.read(digest) {
            Ok(b) => b,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(s) = Summary::parse(&bytes) else {
            return Ok(None);
        };
        let s = Arc::new(s);
        let mut cache = lock(&self.summaries);
        if cache.len() >= MAX_SUMMARIES {
            cache.clear();
        }
        cache.insert(digest.clone(), s.clone());
        Ok(Some(s))
    }

    /// Remembers a manifest registryd just stored (saves re-reading it).
    pub(crate) fn remember(&self, digest: &Digest, summary: Summary) {
        let mut cache = lock(&self.summaries);
        if cache.len() >= MAX_SUMMARIES {
            cache.clear();
        }
        cache.insert(digest.clone(), Arc::new(summary));
    }

    /// True if `digest` is a manifest of `repo`: an entry, or listed by an index that is
    /// (what a client pulling a platform image by digest asks for).
    pub(crate) fn reachable(
        &self,
        store: &Store,
        view: &IndexView,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<bool> {
        let known = lock(&view.reachable).get(repo).cloned();
        let set = match known {
            Some(s) => s,
            None => {
                let mut set = HashSet::new();
                let mut frontier = view.digests(repo);
                for _ in 0..MAX_DEPTH {
                    let mut next = Vec::new();
                    for d in frontier {
                        if set.insert(d.clone())
                            && let Some(s) = self.summary(store, &d)?
                        {
                            next.extend(s.children.iter().cloned());
                        }
                    }
                    frontier = next;
                }
                set.extend(frontier);
                let set = Arc::new(set);
                lock(&view.reachable).insert(repo.clone(), set.clone());
                set
            }
        };
        Ok(set.contains(digest))
    }
}
