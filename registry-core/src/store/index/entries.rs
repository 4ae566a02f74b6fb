//! Every repository entry in one read of `index.json`: what a registry builds its cached view of
//! all repositories from, instead of one read per repository.

use crate::store::Store;
use crate::store::error::Result;
use crate::store::index::refs::TagEntry;

impl Store {
    /// Every entry of every repository, tagged (`name` is the tag) or untagged (`name` is
    /// empty), in `index.json` order.
    ///
    /// ```
    /// use registry_core::store::{Repository, Store};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    /// let d = store.put_bytes(m, None)?.digest;
    /// let install = Repository::parse("install")?;
    /// store.tag("v1", &d)?;
    /// store.keep_in(&install, &d)?;
    /// let all = store.entries()?;
    /// assert_eq!(all.len(), 2);
    /// assert!(all.iter().any(|e| e.repository == install && e.name.is_empty()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn entries(&self) -> Result<Vec<TagEntry>> {
        Ok(self
            .load_index()?
            .entries()
            .into_iter()
            .map(|e| e.into_tag_entry())
            .collect())
    }
}
