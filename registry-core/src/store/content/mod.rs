//! Content: the blobs themselves. Streaming verified ingest
//! ([`BlobWriter`](crate::store::BlobWriter), `put`, the group commit
//! [`Batch`](crate::store::Batch)), reads, and resumable uploads; nothing here knows about tags
//! or GC roots.
//!
//! * `pipeline`: the background `O_DIRECT` writer thread a large blob's bytes go through;
//! * `writer`: the `BlobWriter` state machine (write → seal → publish, or save/close/abort);
//! * `quota`: byte reservations against the store's quota (and the fault-injection hook);
//! * `publish`: first-writer-wins publication into `blobs/`, and recovery of dead temp files;
//! * `batch`: group commit of many small blobs; `put`: the one-call entry points;
//! * `read`: existence, stat, verified and ranged reads, listing;
//! * `resume`, `upload`, `upload_as`: resumable uploads, composed over a writer.

pub(crate) mod batch;
mod pipeline;
mod publish;
pub(crate) mod put;
mod quota;
pub(crate) mod read;
pub(crate) mod resume;
pub(crate) mod upload;
mod upload_as;
pub(crate) mod writer;

pub(crate) use publish::{link_no_replace, remove_if_unlocked, touch};
