//! Finishing a resumable upload under a digest of another algorithm than the one it was hashed
//! with: a registry learns the digest only when the client finishes the upload (`PUT
//! ?digest=sha512:…`), after the bytes were hashed as sha256 while they arrived.

use std::fs::File;

use super::put::PutOutcome;
use crate::store::Store;
use crate::store::content::resume::UploadId;
use crate::store::digest::Digest;
use crate::store::error::{IoContext, Result};

impl Store {
    /// Commits upload `id` as the blob `expected` (checked against it, and against
    /// `expected_size` when given). If the upload was hashed with `expected`'s algorithm this is
    /// [`BlobWriter::commit`](crate::store::BlobWriter::commit); otherwise its data is re-read once
    /// into a writer of the right algorithm. Either way the upload is gone afterwards (also on a
    /// digest mismatch, as with `commit`), and nothing unverified is published.
    ///
    /// ```
    /// use registry_core::store::{Algorithm, Digest, Store};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let mut up = store.begin_upload(Algorithm::Sha256)?;
    /// up.write_bytes(b"hello")?;
    /// let id = up.upload_id().cloned().expect("an upload has an id");
    /// up.close()?;
    /// let want = Digest::of(Algorithm::Sha512, b"hello");
    /// assert_eq!(store.commit_upload_as(&id, &want, Some(5))?.digest, want);
    /// assert!(store.has(&want)? && store.uploads()?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit_upload_as(
        &self,
        id: &UploadId,
        expected: &Digest,
        expected_size: Option<u64>,
    ) -> Result<PutOutcome> {
        // Holding the upload's writer keeps its lock, so nobody appends while it is re-read.
        let held = self.resume_upload(id)?;
        if held.current_digest().algorithm() == expected.algorithm() {
            return held.commit(Some(expected), expected_size);
        }
        let path = self.layout().uploads().join(id.data_file());
        let copied = (|| {
            let mut data = File::open(&path).at(&path)?;
            let mut w = self.writer(expected.algorithm())?;
            w.write_from(&mut data)?;
            w.commit(Some(expected), expected_size)
        })();
        held.abort();
        copied
    }
}
