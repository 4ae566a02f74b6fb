//! The one-call entry points of ingest: [`Store::put`] and friends, and their [`PutOutcome`].

use std::io::Read;

use serde::{Deserialize, Serialize};

use super::writer::BlobWriter;
use crate::store::Store;
use crate::store::digest::{Algorithm, Digest};
use crate::store::error::Result;

/// The result of a `put` or a [`BlobWriter::commit`]: stored now, or already present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PutOutcome {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// False if the blob was already stored (by an earlier or concurrent writer).
    pub created: bool,
}

impl Store {
    /// A writer for a new blob hashed with `algorithm`.
    pub fn writer(&self, algorithm: Algorithm) -> Result<BlobWriter> {
        BlobWriter::create(self, algorithm)
    }

    /// Stores everything `reader` yields. With `expected`, the content must hash to it (else
    /// [`StoreError::DigestMismatch`](crate::store::StoreError::DigestMismatch), nothing
    /// stored). A blob that is already present is not an error: the outcome says
    /// `created: false`.
    ///
    /// ```
    /// use registry_core::store::{Store, Digest};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let empty: Digest =
    ///     "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse()?;
    /// let out = store.put(&mut std::io::empty(), Some(&empty))?;
    /// assert!(out.created && out.size == 0);
    /// assert!(!store.put(&mut std::io::empty(), Some(&empty))?.created);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put(&self, reader: &mut dyn Read, expected: Option<&Digest>) -> Result<PutOutcome> {
        self.put_sized(reader, expected, None)
    }

    /// [`Store::put`] with an expected size as well (checked, and used for the quota up front).
    pub fn put_sized(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<PutOutcome> {
        let alg = expected.map_or(Algorithm::Sha256, |d| d.algorithm());
        let mut w = self.writer(alg)?;
        if let Some(s) = expected_size {
            w.check_quota(s)?;
        }
        w.write_from(reader)?;
        w.commit(expected, expected_size)
    }

    /// Stores a byte slice (see [`Store::put`]).
    pub fn put_bytes(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<PutOutcome> {
        let mut r = bytes;
        self.put_sized(&mut r, expected, None)
    }
}
