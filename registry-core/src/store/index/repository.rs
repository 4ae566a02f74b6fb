//! Repositories: the store's images live in named repositories, so that a registry serving the
//! store answers `<namespace>/<repository>:<tag>` exactly where `d8 mirror push` would have put
//! the image. The root repository (the empty name) is the root OCI layout of a `d8 mirror`
//! bundle; the others are its layout subfolders (`install`, `modules/<name>/release`,
//! `security/trivy-db`, …).
//!
//! On disk the store stays one valid OCI image layout. A root tag `t` is a descriptor whose
//! `org.opencontainers.image.ref.name` is `t` (as in every store written before repositories
//! existed, so those open unchanged). A tag `t` in repository `r` is a descriptor with ref name
//! `r:t` and the annotation [`REPOSITORY_ANNOTATION`] = `r`: ref names stay unique in the file,
//! and OCI tools address the image as `oci:STORE:r:t`. An untagged manifest kept in `r` carries
//! only the repository annotation. Every other field of a descriptor is kept as it is.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::store::digest::Digest;
use crate::store::error::{Result, StoreError};
use crate::store::index::manifest::{self, MAX_MANIFEST};
use crate::store::index::refs::{TagEntry, validate_tag};
use crate::store::lock::LockName;
use crate::store::message::printable;

/// Annotation on an `index.json` descriptor naming its repository (absent: the root repository).
pub const REPOSITORY_ANNOTATION: &str = "io.deckhouse.registry.repository";

/// Longest repository name accepted, in bytes.
const MAX_REPOSITORY: usize = 255;

/// A repository path inside the store. `""` is the root repository; others are `/`-separated
/// components of the distribution-spec grammar `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
///
/// ```
/// use registry_core::store::Repository;
/// let r = Repository::parse("modules/console/release")?;
/// assert_eq!(r.as_str(), "modules/console/release");
/// assert!(Repository::parse("").unwrap().is_root());
/// assert!(Repository::parse("../etc").is_err());
/// assert!(Repository::parse("Install").is_err());
/// assert_eq!(Repository::root().join("install")?.join("x")?.as_str(), "install/x");
/// # Ok::<(), registry_core::store::StoreError>(())
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct Repository(String);

impl Repository {
    /// The root repository.
    pub fn root() -> Repository {
        Repository(String::new())
    }

    /// Checks `name` against the repository grammar.
    pub fn parse(name: &str) -> Result<Repository> {
        check_name(name).map_err(|reason| StoreError::InvalidRepository {
            name: printable(name),
            reason,
        })?;
        Ok(Repository(name.to_owned()))
    }

    /// The name (`""` for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the root repository.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// `child` below this repository: `a` + `b/c` is `a/b/c`; the root + `x` is `x`.
    pub fn join(&self, child: &str) -> Result<Repository> {
        if self.is_root() {
            Repository::parse(child)
        } else if child.is_empty() {
            Ok(self.clone())
        } else {
            Repository::parse(&format!("{}/{child}", self.0))
        }
    }

    /// The `ref.name` a tag of this repository is stored under.
    pub(crate) fn ref_name(&self, tag: &str) -> String {
        if self.is_root() {
            tag.to_owned()
        } else {
            format!("{}:{tag}", self.0)
        }
    }

    /// Checks a tag for this repository: the root keeps the wider `ref.name` grammar of stores
    /// written before repositories existed; other repositories take registry tags.
    pub(crate) fn check_tag(&self, tag: &str) -> Result<()> {
        if self.is_root() {
            validate_tag(tag)
        } else {
            validate_repository_tag(tag)
        }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            f.write_str("the root repository")
        } else {
            write!(f, "repository {:?}", self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Repository {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Repository::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn check_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() {
        return Ok(());
    }
    if name.len() > MAX_REPOSITORY {
        return Err("longer than 255 bytes");
    }
    name.split('/').try_for_each(check_component)
}

/// One path component: `[a-z0-9]+` runs joined by `.`, `_`, `__` or any run of `-`.
fn check_component(c: &str) -> std::result::Result<(), &'static str> {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() {
        return Err("empty path component");
    }
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err("components must start and end with a lowercase letter or digit");
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let sep_len = match b[i] {
            b'.' => 1,
            b'_' if b.get(i + 1) == Some(&b'_') => 2,
            b'_' => 1,
            b'-' => b[i..].iter().take_while(|&&x| x == b'-').count(),
            _ => return Err("only lowercase letters, digits, '/', '.', '_', '-' allowed"),
        };
        i += sep_len;
        if !alnum(b[i]) {
            return Err("separators must not repeat");
        }
    }
    Ok(())
}

/// Checks a tag against the distribution-spec tag grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`,
/// which tags in a non-root repository follow.
///
/// ```
/// use registry_core::store::validate_repository_tag;
/// assert!(validate_repository_tag("v1.69.0").is_ok());
/// assert!(validate_repository_tag("sha256-0123abcd.att").is_ok());
/// assert!(validate_repository_tag("-x").is_err());
/// assert!(validate_repository_tag("a:b").is_err());
/// ```
pub fn validate_repository_tag(tag: &str) -> Result<()> {
    let bad = |reason| StoreError::InvalidTag {
        tag: printable(tag),
        reason,
    };
    let word = |x: &u8| x.is_ascii_alphanumeric() || *x == b'_';
    let b = tag.as_bytes();
    match b.first() {
        None => Err(bad("empty")),
        _ if b.len() > 128 => Err(bad("longer than 128 bytes")),
        Some(first) if !word(first) => Err(bad("must start with a letter, digit or '_'")),
        _ if !b.iter().all(|x| word(x) || *x == b'.' || *x == b'-') => {
            Err(bad("only letters, digits, '_', '.', '-' allowed"))
        }
        _ => Ok(()),
    }
}

impl Store {
    /// Every repository with an entry in `index.json` (tagged or untagged), sorted; the root is
    /// listed only if it has one.
    pub fn repositories(&self) -> Result<Vec<Repository>> {
        let mut out: Vec<Repository> = self
            .load_index()?
            .entries()
            .into_iter()
            .map(|e| e.repository)
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The tags of one repository, sorted by tag.
    pub fn repository_tags(&self, repo: &Repository) -> Result<Vec<TagEntry>> {
        Ok(self
            .repository_manifests(repo)?
            .into_iter()
            .filter(|e| !e.name.is_empty())
            .collect())
    }

    /// Every entry of one repository, tagged (`name` is the tag) or untagged (`name` is empty),
    /// sorted by tag then digest.
    pub fn repository_manifests(&self, repo: &Repository) -> Result<Vec<TagEntry>> {
        let mut out: Vec<TagEntry> = self
            .load_index()?
            .entries()
            .into_iter()
            .filter(|e| &e.repository == repo)
            .map(|e| e.into_tag_entry())
            .collect();
        out.sort_by(|a, b| (&a.name, &a.digest).cmp(&(&b.name, &b.digest)));
        Ok(out)
    }

    /// The digest `tag` points at in `repo`.
    pub fn resolve_in(&self, repo: &Repository, tag: &str) -> Result<Digest> {
        self.load_index()?
            .entries()
            .into_iter()
            .find(|e| &e.repository == repo && e.tag.as_deref() == Some(tag))
            .map(|e| e.descriptor.digest)
            .ok_or_else(|| StoreError::NotFound {
                what: format!("tag {:?} in {repo}", printable(tag)),
            })
    }

    /// Points `tag` in `repo` at a stored manifest or index (its media type is read from the
    /// blob), replacing what the tag pointed at before. Atomic.
    ///
    /// ```
    /// use registry_core::store::{Repository, Store};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    /// let d = store.put_bytes(m, None)?.digest;
    /// let install = Repository::parse("install")?;
    /// store.tag_in(&install, "v1.69.0", &d)?;
    /// assert_eq!(store.resolve_in(&install, "v1.69.0")?, d);
    /// assert!(store.resolve("v1.69.0").is_err()); // the root repository has no such tag
    /// assert_eq!(store.repositories()?, vec![install]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tag_in(&self, repo: &Repository, tag: &str, digest: &Digest) -> Result<()> {
        repo.check_tag(tag)?;
        let _gc = self.lock(LockName::Gc, false)?;
        let desc = self.manifest_descriptor(digest)?;
        self.touch(digest)?;
        self.update_index(|doc| doc.set_tag_in(repo, tag, &desc))
    }

    /// Removes `tag` from `repo`. `NotFound` if it was not there. Blobs stay until GC.
    pub fn untag_in(&self, repo: &Repository, tag: &str) -> Result<()> {
        if self.update_index(|doc| Ok(doc.remove_tag_in(repo, tag)))? {
            Ok(())
        } else {
            Err(StoreError::NotFound {
                what: format!("tag {:?} in {repo}", printable(tag)),
            })
        }
    }

    /// Records a stored manifest or index in `repo` without a tag (a manifest pushed by
    /// digest), so it is listed there and kept by GC like a tagged one. Does nothing if `repo`
    /// already lists `digest`.
    pub fn keep_in(&self, repo: &Repository, digest: &Digest) -> Result<()> {
        let _gc = self.lock(LockName::Gc, false)?;
        let desc = self.manifest_descriptor(digest)?;
        self.touch(digest)?;
        self.update_index(|doc| {
            doc.keep_in(repo, &desc);
            Ok(())
        })
    }

    /// Removes every entry of `digest` from `repo`, tagged or not; returns how many. Blobs stay
    /// until GC.
    pub fn forget_in(&self, repo: &Repository, digest: &Digest) -> Result<usize> {
        self.update_index(|doc| Ok(doc.forget_in(repo, digest)))
    }

    /// A descriptor for a stored manifest or index, its media type read from the blob.
    fn manifest_descriptor(&self, digest: &Digest) -> Result<manifest::Descriptor> {
        let bytes = self.read_limited(digest, MAX_MANIFEST)?;
        let media_type =
            manifest::sniff_media_type(&bytes).ok_or_else(|| StoreError::InvalidManifest {
                digest: digest.clone(),
                reason: "not an image manifest or index (no recognisable mediaType or structure)"
                    .into(),
            })?;
        Ok(manifest::Descriptor {
            media_type: Some(media_type),
            digest: digest.clone(),
            size: bytes.len() as u64,
            ref_name: None,
            platform: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::store::*;

    #[test]
    fn repository_grammar() {
        for ok in [
            "",
            "install",
            "install-standalone",
            "modules/console/release",
            "security/trivy-db",
            "a__b",
            "a---b",
            "a.b_c",
        ] {
            assert!(Repository::parse(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "/", "a/", "/a", "a//b", "..", "a/../b", ".a", "a.", "A", "a b", "a\0b", "a___b",
            "a..b", "a._b", "%2e%2e",
        ] {
            assert!(Repository::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Repository::parse(&"a".repeat(255)).is_ok());
        assert!(Repository::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn tag_grammar() {
        assert!(validate_repository_tag(&"a".repeat(128)).is_ok());
        assert!(validate_repository_tag(&"a".repeat(129)).is_err());
        for bad in ["", ".a", "a/b", "a:b", "a@b", "a+b", "é"] {
            assert!(validate_repository_tag(bad).is_err(), "{bad:?}");
        }
        for ok in ["_", "latest", "V1.2-rc_3", "sha256-ab.sig"] {
            assert!(validate_repository_tag(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn deserialize_validates() {
        assert!(serde_json::from_str::<Repository>("\"a/b\"").is_ok());
        assert!(serde_json::from_str::<Repository>("\"a/../b\"").is_err());
    }
}
