//! The store's repositories as registryd uses them: the one place the HTTP layer meets the
//! store's repository API (`registry_core::store::Repository` and `Store::*_in`).

use registry_core::store::{Digest, Result, Store, TagEntry};

pub(crate) use registry_core::store::Repository;

/// One manifest recorded in a repository: tagged (`tag` is `Some`) or kept untagged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The repository it belongs to.
    pub(crate) repository: Repository,
    /// The tag, if any.
    pub(crate) tag: Option<String>,
    /// The manifest or index.
    pub(crate) digest: Digest,
}

impl From<TagEntry> for Entry {
    fn from(t: TagEntry) -> Entry {
        Entry {
            repository: t.repository,
            tag: (!t.name.is_empty()).then_some(t.name),
            digest: t.digest,
        }
    }
}

/// Every entry of every repository (one read of `index.json`).
pub(crate) fn all_entries(store: &Store) -> Result<Vec<Entry>> {
    Ok(store.entries()?.into_iter().map(Entry::from).collect())
}

/// Points `tag` in `repo` at a stored manifest or index.
pub(crate) fn tag_in(store: &Store, repo: &Repository, tag: &str, digest: &Digest) -> Result<()> {
    store.tag_in(repo, tag, digest)
}

/// Removes `tag` from `repo` (`NotFound` if absent).
pub(crate) fn untag_in(store: &Store, repo: &Repository, tag: &str) -> Result<()> {
    store.untag_in(repo, tag)
}

/// Records an untagged manifest in `repo` (idempotent), so GC keeps it and `repo` lists it.
pub(crate) fn keep_in(store: &Store, repo: &Repository, digest: &Digest) -> Result<()> {
    store.keep_in(repo, digest)
}

/// Removes every entry of `digest` in `repo`; returns how many there were.
pub(crate) fn forget_in(store: &Store, repo: &Repository, digest: &Digest) -> Result<usize> {
    store.forget_in(repo, digest)
}
