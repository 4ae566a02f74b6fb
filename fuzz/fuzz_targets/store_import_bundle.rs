//! Fuzz the one-pass bundle import of a hostile stream (tar, gzip, anything): no input may
//! panic, exceed the expansion limit, or leave staging behind; a refused import leaves
//! `index.json` as it was.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use registry_core::store::{BundleOptions, Durability, Store, StoreOptions};

fn store() -> &'static (PathBuf, Store) {
    static STORE: OnceLock<(PathBuf, Store)> = OnceLock::new();
    STORE.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("store-fuzz-bundle-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let opts = StoreOptions {
            durability: Durability::Relaxed,
            quota: Some(64 << 20),
            ..Default::default()
        };
        let store = Store::open_with(&root, opts).expect("store opens");
        (root, store)
    })
}

fuzz_target!(|data: &[u8]| {
    let (root, store) = store();
    let before = std::fs::read(root.join("index.json")).expect("index.json");
    let opts = BundleOptions {
        max_expanded_bytes: 32 << 20,
        ..Default::default()
    };
    let result = store.import_bundle_stream(&mut &data[..], "module-fuzz.tar", &opts);
    let tmp = root.join(".registry-store/tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).expect("tmp").count(),
        0,
        "staging left behind"
    );
    if result.is_err() {
        assert_eq!(
            std::fs::read(root.join("index.json")).expect("index.json"),
            before
        );
    }
});
