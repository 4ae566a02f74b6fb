//! Group commit: many small blobs made durable together, then published.

use std::fs::File;
use std::path::Path;

use super::publish::touch;
use super::put::PutOutcome;
use super::writer::BlobWriter;
use crate::fsutil::sync_dir;
use crate::store::Store;
use crate::store::digest::{Algorithm, Digest};
use crate::store::error::{IoContext, Result, StoreError};

/// A group commit: blobs are written and verified one by one, then made durable together with
/// one parallel fsync round and one fsync per directory, and only then published. When
/// [`Batch::commit`] returns, every blob is durable.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let store = registry_core::store::Store::open(dir.path())?;
/// let mut batch = store.batch();
/// for i in 0..10u8 {
///     batch.put_bytes(&[i; 4096], None)?;
/// }
/// let outcomes = batch.commit()?;
/// assert_eq!(outcomes.len(), 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Batch {
    store: Store,
    sealed: Vec<(BlobWriter, Digest)>,
    present: Vec<PutOutcome>,
}

impl Batch {
    /// Adds a blob; it is verified now (a mismatch fails this call) and published at `commit`.
    pub fn put_bytes(&mut self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let alg = expected.map_or(Algorithm::Sha256, |d| d.algorithm());
        if let Some(d) = expected
            && self.store.has(d)?
        {
            touch(&self.store.blob_path(d));
            let got = Digest::of(alg, bytes);
            if got != *d {
                return Err(StoreError::DigestMismatch {
                    expected: d.clone(),
                    actual: got,
                    expected_size: None,
                    actual_size: bytes.len() as u64,
                });
            }
            self.present.push(PutOutcome {
                digest: d.clone(),
                size: bytes.len() as u64,
                created: false,
            });
            return Ok(d.clone());
        }
        let mut w = BlobWriter::create(&self.store, alg)?;
        w.write_bytes(bytes)?;
        let d = w.seal(expected, None)?;
        self.sealed.push((w, d.clone()));
        Ok(d)
    }

    /// Number of blobs added.
    pub fn len(&self) -> usize {
        self.sealed.len() + self.present.len()
    }

    /// True if nothing was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes everything durable and publishes it.
    pub fn commit(self) -> Result<Vec<PutOutcome>> {
        let Batch {
            store,
            mut sealed,
            mut present,
        } = self;
        if store.durable() && !sealed.is_empty() {
            // Concurrent fsyncs are merged into few journal commits by the file system.
            let files: Vec<(&File, &Path)> = sealed
                .iter()
                .filter_map(|(w, _)| w.file.as_ref().map(|f| (f, w.path.as_path())))
                .collect();
            crate::fsutil::sync_parallel(&files, |(f, p)| f.sync_data().at(p))?;
        }
        let mut dirs = [false; 2];
        for (w, d) in sealed.iter_mut() {
            let created = w.publish(d, false)?;
            dirs[d.algorithm() as usize] |= created;
            present.push(PutOutcome {
                digest: d.clone(),
                size: w.written,
                created,
            });
        }
        if store.durable() {
            for alg in Algorithm::ALL {
                if dirs[alg as usize] {
                    sync_dir(&store.layout().alg_dir(alg))?;
                }
            }
        }
        Ok(present)
    }
}

impl Store {
    /// Starts a group commit (see [`Batch`]).
    pub fn batch(&self) -> Batch {
        Batch {
            store: self.clone(),
            sealed: Vec::new(),
            present: Vec::new(),
        }
    }
}
