//! Garbage collection and what protects content from it: the mark-and-sweep collector (with
//! Proxy-mode cache expiry and explicit delete) and leases, the expiring GC roots writers hold.

pub(crate) mod collect;
pub(crate) mod lease;
