//! Links the C ABI of `deckhouse-registry-ffi` into `libdeckhouse_registry.a` and
//! `libdeckhouse_registry.so`. All code and documentation live in `bindings/c/src`.

pub use deckhouse_registry_ffi::*;
