//! The image index: what `index.json` says. Tags and references ([`TagEntry`](crate::store::TagEntry)),
//! repositories, untagged entries, pins and referrers, plus the manifest parsing (descriptors,
//! media types, children) that GC, completeness and export follow.

mod entries;
pub(crate) mod manifest;
pub(crate) mod refs;
pub(crate) mod repository;
pub(crate) mod untagged;
