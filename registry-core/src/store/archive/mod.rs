//! Archives: moving images in and out of the store as files. OCI image layouts (folder or tar)
//! in and out, and `d8 mirror` image bundles in and out.

pub(crate) mod bundle;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod staging;
