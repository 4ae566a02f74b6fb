//! Resumable uploads: `uploads/<id>.data` plus `uploads/<id>.json` (the saved hash state), so an
//! upload survives a process restart and resuming hashes only bytes written after the last save.
//! The data file is `flock`ed by the writer that owns it; expiry skips locked uploads.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::store::content::resume::{UploadId, UploadState};
use crate::store::content::writer::BlobWriter;
use crate::store::digest::{Algorithm, Hasher};
use crate::store::error::{IoContext, Result, StoreError};
use crate::store::layout::{self, now_ms};
use crate::store::lock::try_lock_file;

/// An upload as listed by [`Store::uploads`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadInfo {
    /// Its id.
    pub id: UploadId,
    /// Bytes written (and saved).
    pub size: u64,
    /// When it began, milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// When it was last saved, milliseconds since the Unix epoch.
    pub updated_ms: u64,
    /// True if a writer currently holds it.
    pub active: bool,
}

impl Store {
    /// Starts a resumable upload. Write to it, call [`BlobWriter::save`] at chunk boundaries (or
    /// just drop/close it), and later [`Store::resume_upload`] it by id, even from another
    /// process, or commit it.
    ///
    /// ```
    /// use registry_core::store::{Algorithm, Digest, Store};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let mut up = store.begin_upload(Algorithm::Sha256)?;
    /// up.write_bytes(b"hello ")?;
    /// let id = up.upload_id().cloned().expect("an upload has an id");
    /// up.close()?;
    /// let mut up = store.resume_upload(&id)?;
    /// up.write_bytes(b"world")?;
    /// let d = up.commit(Some(&Digest::of(Algorithm::Sha256, b"hello world")), Some(11))?.digest;
    /// assert!(store.has(&d)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn begin_upload(&self, algorithm: Algorithm) -> Result<BlobWriter> {
        self.begin_upload_in(algorithm, None)
    }

    /// Starts an upload that belongs to `scope` (registryd: the repository a client started it
    /// in), which is saved with it, so a later request can check that it continues the upload
    /// where it began ([`Store::upload_scope`], [`BlobWriter::upload_scope`]).
    ///
    /// ```
    /// use registry_core::store::{Algorithm, Store};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path())?;
    /// let up = store.begin_upload_in(Algorithm::Sha256, Some("system/deckhouse/install"))?;
    /// let id = up.upload_id().cloned().expect("an id");
    /// up.close()?;
    /// assert_eq!(store.upload_scope(&id)?.as_deref(), Some("system/deckhouse/install"));
    /// assert_eq!(store.resume_upload(&id)?.upload_scope(), Some("system/deckhouse/install"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn begin_upload_in(&self, algorithm: Algorithm, scope: Option<&str>) -> Result<BlobWriter> {
        let id = UploadId::random();
        let dir = self.layout().uploads();
        let path = dir.join(id.data_file());
        let now = now_ms();
        let state = UploadState {
            id: id.clone(),
            algorithm,
            started_ms: now,
            updated_ms: now,
            hash: None,
            scope: scope.map(str::to_owned),
        };
        // State first: a data file never exists without the state that says how to hash it.
        state.save(self, false)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .at(&path)?;
        if !try_lock_file(&file, &path)? {
            return Err(StoreError::Locked {
                what: format!("upload {id}"),
            });
        }
        Ok(BlobWriter::from_parts(
            self,
            file,
            path,
            Hasher::new(algorithm),
            0,
            Some(state),
        ))
    }

    /// Reopens an upload. Fails with [`StoreError::Locked`] if a writer holds it, and with
    /// [`StoreError::NotFound`] if it does not exist (or expired).
    pub fn resume_upload(&self, id: &UploadId) -> Result<BlobWriter> {
        let dir = self.layout().uploads();
        let path = dir.join(id.data_file());
        let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    what: format!("upload {id}"),
                });
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        if !try_lock_file(&file, &path)? {
            return Err(StoreError::Locked {
                what: format!("upload {id}"),
            });
        }
        let state = read_state(self, id)?;
        let len = file.metadata().at(&path)?.len();
        let mut hasher = state
            .hash
            .as_ref()
            .and_then(Hasher::from_state)
            .filter(|h| h.algorithm() == state.algorithm && h.len() <= len)
            .unwrap_or_else(|| Hasher::new(state.algorithm));
        // Only the bytes written after the last save are read again.
        let from = hasher.len();
        file.seek(SeekFrom::Start(from)).at(&path)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut reader = (&file).take(len - from);
        loop {
            let n = reader.read(&mut buf).at(&path)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        if hasher.len() != len {
            return Err(StoreError::InvalidUpload {
                id: id.to_string(),
                reason: format!(
                    "data changed while resuming ({} of {len} bytes read)",
                    hasher.len()
                ),
            });
        }
        file.seek(SeekFrom::End(0)).at(&path)?;
        Ok(BlobWriter::from_parts(
            self,
            file,
            path,
            hasher,
            len,
            Some(state),
        ))
    }

    /// The scope an upload was started in ([`Store::begin_upload_in`]); `None` for an upload
    /// without one. Reads the upload's saved state without taking it, so it works while a
    /// writer holds the upload.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown upload.
    pub fn upload_scope(&self, id: &UploadId) -> Result<Option<String>> {
        if !self.layout().uploads().join(id.data_file()).exists() {
            return Err(StoreError::NotFound {
                what: format!("upload {id}"),
            });
        }
        Ok(read_state(self, id)?.scope)
    }

    /// Removes an upload and its data. Refused while a writer holds it.
    pub fn abort_upload(&self, id: &UploadId) -> Result<()> {
        let w = self.resume_upload(id);
        match w {
            Ok(w) => {
                w.abort();
                Ok(())
            }
            Err(StoreError::InvalidUpload { .. }) => {
                let dir = self.layout().uploads();
                let _ = fs::remove_file(dir.join(id.state_file()));
                fs::remove_file(dir.join(id.data_file())).at(&dir)?;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Lists uploads.
    pub fn uploads(&self) -> Result<Vec<UploadInfo>> {
        let dir = self.layout().uploads();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).at(&dir)? {
            let entry = entry.at(&dir)?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".data")) else {
                continue;
            };
            let Ok(id) = UploadId::parse(id) else {
                continue;
            };
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            let active = match OpenOptions::new().read(true).open(&path) {
                Ok(f) => {
                    let free = try_lock_file(&f, &path)?;
                    if free {
                        let _ = f.unlock();
                    }
                    !free
                }
                Err(_) => continue,
            };
            let (started_ms, updated_ms) = match read_state(self, &id) {
                Ok(s) => (s.started_ms, s.updated_ms),
                Err(_) => {
                    let m = meta.modified().map(layout::time_ms).unwrap_or(0);
                    (m, m)
                }
            };
            out.push(UploadInfo {
                id,
                size: meta.len(),
                started_ms,
                updated_ms: updated_ms.max(meta.modified().map(layout::time_ms).unwrap_or(0)),
                active,
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Removes uploads that no writer holds and that were not touched for `max_age`; orphan state
    /// files go too. Returns how many uploads were removed.
    pub fn expire_uploads(&self, max_age: Duration) -> Result<usize> {
        let cutoff = now_ms().saturating_sub(max_age.as_millis() as u64);
        let dir = self.layout().uploads();
        let mut removed = 0;
        for up in self.uploads()? {
            if !up.active && up.updated_ms <= cutoff {
                let data = dir.join(up.id.data_file());
                let Ok(f) = OpenOptions::new().read(true).open(&data) else {
                    continue;
                };
                if try_lock_file(&f, &data)? {
                    let _ = fs::remove_file(dir.join(up.id.state_file()));
                    match fs::remove_file(&data) {
                        Ok(()) => removed += 1,
                        // Expired by another process at the same moment.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(StoreError::io(&data, e)),
                    }
                }
            }
        }
        for entry in fs::read_dir(&dir).at(&dir)? {
            let entry = entry.at(&dir)?;
            let name = entry.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json"))
                && !dir.join(format!("{id}.data")).exists()
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(layout::time_ms)
                    .unwrap_or(0)
                    <= cutoff
            {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(removed)
    }
}

fn read_state(store: &Store, id: &UploadId) -> Result<UploadState> {
    let path: PathBuf = store.layout().uploads().join(id.state_file());
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StoreError::InvalidUpload {
                id: id.to_string(),
                reason: format!("state file {} is missing", path.display()),
            });
        }
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| StoreError::InvalidUpload {
        id: id.to_string(),
        reason: format!("state file {} unreadable: {e}", path.display()),
    })
}
