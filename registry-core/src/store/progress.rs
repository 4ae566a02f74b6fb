//! Progress events of long operations, and the callback type that receives them (and can cancel).

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::store::error::{Result, StoreError};

/// Which long operation is reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Operation {
    /// Import of an OCI layout (folder or tar).
    Import,
    /// Export of tags to a folder or tar.
    Export,
    /// Re-hashing every blob.
    Scrub,
    /// Garbage collection.
    Gc,
    /// Copying blobs between stores.
    Sync,
}

/// A progress event. Totals are `None` when unknown (e.g. a streamed tar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The operation.
    pub operation: Operation,
    /// Bytes processed so far.
    pub bytes_done: u64,
    /// Bytes to process in total, if known.
    pub bytes_total: Option<u64>,
    /// Items (blobs, entries) processed so far.
    pub items_done: u64,
    /// Items in total, if known.
    pub items_total: Option<u64>,
    /// The item being processed, if any.
    pub current: Option<String>,
}

/// A progress callback: return `ControlFlow::Break(())` to cancel. Cancellation leaves the store
/// consistent and without the operation's partial effects.
pub type ProgressFn<'a> = &'a mut dyn FnMut(&Progress) -> ControlFlow<()>;

/// An operation's options together with an optional progress callback: what the long
/// operations ([`Store::gc`](crate::store::Store::gc), [`Store::scrub`](crate::store::Store::scrub),
/// imports and exports) take. Options convert into it on their own (`store.gc(&opts)`), so only
/// a call that wants progress names it.
///
/// ```
/// use std::ops::ControlFlow;
/// use registry_core::store::{GcOptions, Store, WithProgress};
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path())?;
/// assert_eq!(store.gc(&GcOptions::default())?.examined, 0);
/// let mut events = 0;
/// let mut count = |_: &registry_core::store::Progress| {
///     events += 1;
///     ControlFlow::Continue(())
/// };
/// store.gc(WithProgress::new(GcOptions::default(), Some(&mut count)))?;
/// assert!(events > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WithProgress<'a, O> {
    /// The options.
    pub options: O,
    /// Called with progress events; `None` for none.
    pub progress: Option<ProgressFn<'a>>,
}

impl<'a, O> WithProgress<'a, O> {
    /// Options with a progress callback (or `None`).
    pub fn new(options: O, progress: Option<ProgressFn<'a>>) -> WithProgress<'a, O> {
        WithProgress { options, progress }
    }
}

impl<O: std::fmt::Debug> std::fmt::Debug for WithProgress<'_, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithProgress")
            .field("options", &self.options)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl<O> From<O> for WithProgress<'_, O> {
    fn from(options: O) -> Self {
        WithProgress {
            options,
            progress: None,
        }
    }
}

impl<O: Clone> From<&O> for WithProgress<'_, O> {
    fn from(options: &O) -> Self {
        WithProgress {
            options: options.clone(),
            progress: None,
        }
    }
}

/// Tracks counters and throttles callback calls to about every 4 MiB or item.
pub(crate) struct Reporter<'a> {
    pub(crate) p: Progress,
    cb: Option<ProgressFn<'a>>,
    last_bytes: u64,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(operation: Operation, cb: Option<ProgressFn<'a>>) -> Reporter<'a> {
        Reporter {
            p: Progress {
                operation,
                bytes_done: 0,
                bytes_total: None,
                items_done: 0,
                items_total: None,
                current: None,
            },
            cb,
            last_bytes: 0,
        }
    }

    pub(crate) fn emit(&mut self) -> Result<()> {
        self.last_bytes = self.p.bytes_done;
        if let Some(cb) = self.cb.as_mut()
            && cb(&self.p).is_break()
        {
            return Err(StoreError::Cancelled);
        }
        Ok(())
    }

    pub(crate) fn bytes(&mut self, n: u64) -> Result<()> {
        self.p.bytes_done += n;
        if self.p.bytes_done - self.last_bytes >= 4 << 20 {
            self.emit()?;
        }
        Ok(())
    }

    pub(crate) fn item(&mut self, current: Option<String>) -> Result<()> {
        self.p.items_done += 1;
        self.p.current = current;
        self.emit()
    }
}
