//! Fuzz import of a hostile tar (plain or gzip) into a store: no input may panic, write outside
//! the store root, or leave anything behind when it is refused.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use registry_core::store::{Durability, ImportOptions, Store, StoreOptions};

fn store() -> &'static (PathBuf, Store) {
    static STORE: OnceLock<(PathBuf, Store)> = OnceLock::new();
    STORE.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("store-fuzz-import-{}", std::process::id()));
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
    let result = store.import_tar(&mut &data[..], &ImportOptions::default());
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
    // Nothing may appear next to the root.
    if let Some(parent) = root.parent() {
        assert!(!parent.join("evil").exists());
    }
});
