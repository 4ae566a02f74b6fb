//! Quota: a writer reserves the bytes it is about to write against the store's quota (published
//! plus in-flight bytes), and hands the reservation back, or turns it into usage, when it ends.
//! The fault-injection hook (a simulated full disk after N bytes) sits here too, because it
//! counts the same bytes.

use std::sync::atomic::Ordering;

use super::writer::BlobWriter;
use crate::store::error::{Result, StoreError};

impl BlobWriter {
    pub(super) fn reserve(&mut self, n: u64) -> Result<()> {
        let inner = &self.store.inner;
        #[cfg(feature = "fault-injection")]
        if let Some(limit) = inner.opts.fail_writes_after {
            let before = inner.written.fetch_add(n, Ordering::SeqCst);
            if before + n > limit {
                return Err(StoreError::NoSpace {
                    path: self.path.clone(),
                });
            }
        }
        if let Some(quota) = inner.opts.quota {
            let pending = inner.pending.fetch_add(n, Ordering::SeqCst) + n;
            let used = inner.usage.load(Ordering::SeqCst);
            if used + pending > quota {
                crate::store::saturating_sub(&inner.pending, n);
                return Err(StoreError::QuotaExceeded {
                    quota,
                    used: used + pending - n,
                    requested: n,
                });
            }
            self.pending_reserved += n;
        }
        Ok(())
    }

    /// Checks up front that `size` more bytes fit in the quota, so a large upload is refused
    /// before it starts rather than when the disk is nearly full.
    pub fn check_quota(&self, size: u64) -> Result<()> {
        let inner = &self.store.inner;
        if let Some(quota) = inner.opts.quota {
            let used = inner.usage.load(Ordering::SeqCst) + inner.pending.load(Ordering::SeqCst);
            if used + size > quota {
                return Err(StoreError::QuotaExceeded {
                    quota,
                    used,
                    requested: size,
                });
            }
        }
        Ok(())
    }

    pub(super) fn release_reservation(&mut self, committed: u64) {
        let inner = &self.store.inner;
        if inner.opts.quota.is_some() {
            crate::store::saturating_sub(&inner.pending, self.pending_reserved);
            inner.usage.fetch_add(committed, Ordering::SeqCst);
        }
        self.pending_reserved = 0;
    }
}
