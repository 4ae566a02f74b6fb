//! The store's repositories as registryd sees them: one adapter between the HTTP layer and the
//! store's repository API, so nothing else in registryd depends on how the store records them.
//!
//! The store's own repository API (`Repository`, `resolve_in`, `tag_in`, `keep_in`, …) is being
//! added to `registry-core`; until it lands this module keeps entries of non-root repositories
//! as root tags named `<repository>:<tag>` (the `ref.name` the store will write for them) and
//! untagged manifests as `<repository>:untagged.<alg>.<hex>`.

use registry_core::store::{Digest, Result, Store, StoreError, validate_tag};

/// A repository inside the store: `""` is the root repository, others are paths such as
/// `install` or `modules/console/release` (the distribution-spec path grammar).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct Repository(String);

impl Repository {
    /// The root repository (what `<namespace>` alone names).
    pub(crate) fn root() -> Repository {
        Repository(String::new())
    }

    /// A repository path; the caller has checked the grammar (see `names`).
    pub(crate) fn from_checked(path: &str) -> Repository {
        Repository(path.to_string())
    }

    /// The path (`""` for the root).
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the root repository.
    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

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

const UNTAGGED: &str = "untagged.";

fn encode(repo: &Repository, tag: &str) -> String {
    if repo.is_root() {
        tag.to_string()
    } else {
        format!("{}:{tag}", repo.as_str())
    }
}

fn untagged_name(repo: &Repository, digest: &Digest) -> String {
    encode(
        repo,
        &format!("{UNTAGGED}{}.{}", digest.algorithm(), digest.hex()),
    )
}

fn decode(name: &str, digest: &Digest) -> Entry {
    let (repository, tag) = match name.rsplit_once(':') {
        Some((r, t)) => (Repository::from_checked(r), t),
        None => (Repository::root(), name),
    };
    let tag = if tag.starts_with(UNTAGGED) {
        None
    } else {
        Some(tag.to_string())
    };
    Entry {
        repository,
        tag,
        digest: digest.clone(),
    }
}

/// Every entry of every repository (one read of `index.json`).
pub(crate) fn all_entries(store: &Store) -> Result<Vec<Entry>> {
    Ok(store
        .tags()?
        .into_iter()
        .map(|t| decode(&t.name, &t.digest))
        .collect())
}

/// Points `tag` in `repo` at a stored manifest or index.
pub(crate) fn tag_in(store: &Store, repo: &Repository, tag: &str, digest: &Digest) -> Result<()> {
    validate_tag(tag)?;
    store.tag(&encode(repo, tag), digest)
}

/// Removes `tag` from `repo` (`NotFound` if absent).
pub(crate) fn untag_in(store: &Store, repo: &Repository, tag: &str) -> Result<()> {
    store.untag(&encode(repo, tag))
}

/// Records an untagged manifest in `repo` (idempotent), so GC keeps it and `repo` lists it.
pub(crate) fn keep_in(store: &Store, repo: &Repository, digest: &Digest) -> Result<()> {
    store.tag(&untagged_name(repo, digest), digest)
}

/// Removes every entry of `digest` in `repo`; returns how many there were.
pub(crate) fn forget_in(store: &Store, repo: &Repository, digest: &Digest) -> Result<usize> {
    let mut removed = 0;
    for e in all_entries(store)? {
        if &e.repository == repo && &e.digest == digest {
            let name = match &e.tag {
                Some(t) => encode(repo, t),
                None => untagged_name(repo, digest),
            };
            match store.untag(&name) {
                Ok(()) => removed += 1,
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}
