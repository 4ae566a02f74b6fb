//! What registryd has already verified: the blob files it hashed, once, when it wrote them or on
//! their first whole read since it started. A later whole read of the same file (the same
//! digest, device, inode and size) is served without hashing it again, so a hot layer costs its
//! sha256 once per process instead of once per pull.
//!
//! Why this is safe: a blob file is published only after its content was verified, and the store
//! never changes a published file in place; a file replaced on disk has a new inode and is
//! verified again. What it gives up is noticing bit rot of a file while registryd keeps running;
//! every OCI client checks the digest of what it pulls, and the store's scrub finds such a file.

use std::collections::BTreeSet;
use std::sync::Mutex;

use registry_core::store::{Digest, FileId, Store};

/// Files remembered at most; past this the memory starts over (re-hashing costs only CPU).
const MAX_FILES: usize = 1 << 16;

/// The set of verified blob files.
#[derive(Debug, Default)]
pub(crate) struct Verified {
    files: Mutex<BTreeSet<(Digest, FileId)>>,
}

impl Verified {
    /// True if this file of this blob was verified before.
    pub(crate) fn contains(&self, digest: &Digest, file: FileId) -> bool {
        self.files
            .lock()
            .is_ok_and(|set| set.contains(&(digest.clone(), file)))
    }

    /// Remembers a file whose content was just checked against `digest`.
    pub(crate) fn insert(&self, digest: &Digest, file: FileId) {
        if let Ok(mut set) = self.files.lock() {
            if set.len() >= MAX_FILES {
                set.clear();
            }
            set.insert((digest.clone(), file));
        }
    }

    /// Remembers the stored file of a blob that was verified as it was written (a commit).
    pub(crate) fn committed(&self, store: &Store, digest: &Digest) {
        if let Ok(file) = store.file_id(digest) {
            self.insert(digest, file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ino: u64) -> FileId {
        FileId {
            dev: 1,
            ino,
            size: 5,
        }
    }

    #[test]
    fn a_file_is_known_only_under_its_digest_and_identity() {
        let v = Verified::default();
        let d = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        let other = Digest::parse(&format!("sha256:{}", "b".repeat(64))).unwrap();
        v.insert(&d, id(7));
        assert!(v.contains(&d, id(7)));
        assert!(
            !v.contains(&d, id(8)),
            "a replaced file (new inode) is verified again"
        );
        assert!(!v.contains(&other, id(7)));
    }

    #[test]
    fn the_memory_is_bounded() {
        let v = Verified::default();
        let d = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        for ino in 0..(MAX_FILES as u64 + 1) {
            v.insert(&d, id(ino));
        }
        assert!(v.files.lock().unwrap().len() <= MAX_FILES);
        assert!(
            v.contains(&d, id(MAX_FILES as u64)),
            "the newest entry is kept"
        );
    }

    #[test]
    fn a_commit_remembers_the_stored_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = store.put_bytes(b"hello", None).unwrap().digest;
        let v = Verified::default();
        v.committed(&store, &d);
        let r = store.open_blob(&d).unwrap();
        assert!(v.contains(&d, r.file_id()));
    }
}
