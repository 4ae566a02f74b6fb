//! The checkpoint of a resumable upload: its id and the record saved next to its data
//! (`uploads/<id>.json`: algorithm, times, hash state). A [`BlobWriter`](super::writer::BlobWriter)
//! carries one when it is an upload; the `upload` module composes the two.

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::store::digest::{Algorithm, HashState};
use crate::store::error::{Result, StoreError};
use crate::store::layout::{self, now_ms};

/// The id of a resumable upload: 32 lowercase hex characters (safe in paths and URLs).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct UploadId(String);

crate::store::id::text_id!(UploadId);

impl UploadId {
    /// Parses an id; anything but 32 lowercase hex characters is refused.
    pub fn parse(s: &str) -> Result<UploadId> {
        if s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(UploadId(s.to_string()))
        } else {
            Err(StoreError::NotFound {
                what: format!("upload {:?}", crate::store::message::printable(s)),
            })
        }
    }

    /// A fresh, hard-to-guess id.
    pub(crate) fn random() -> UploadId {
        UploadId(layout::random_id())
    }

    pub(crate) fn data_file(&self) -> String {
        format!("{}.data", self.0)
    }

    pub(crate) fn state_file(&self) -> String {
        format!("{}.json", self.0)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UploadState {
    pub(crate) id: UploadId,
    pub(crate) algorithm: Algorithm,
    pub(crate) started_ms: u64,
    pub(crate) updated_ms: u64,
    pub(crate) hash: Option<HashState>,
    /// What the upload belongs to (registryd: the repository it was started in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<String>,
}

impl UploadState {
    pub(crate) fn with_state(&self, hash: HashState) -> UploadState {
        UploadState {
            hash: Some(hash),
            updated_ms: now_ms(),
            ..self.clone()
        }
    }

    pub(crate) fn save(&self, store: &Store, durable: bool) -> Result<()> {
        let path = store.layout().uploads().join(self.id.state_file());
        let bytes = serde_json::to_vec(self).map_err(|e| StoreError::InvalidUpload {
            id: self.id.to_string(),
            reason: format!("cannot encode state: {e}"),
        })?;
        layout::write_atomic(&path, &bytes, &store.layout().tmp(), durable)
    }
}
