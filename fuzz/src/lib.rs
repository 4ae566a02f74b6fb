//! What the fuzz targets share: the import harness, which runs one hostile input through an
//! import into a long-lived store and checks what every import promises whatever the input.

use std::path::PathBuf;
use std::sync::OnceLock;

use registry_core::store::{Durability, Store, StoreOptions};

/// The store every run of one fuzz process imports into (relaxed durability, a 64 MiB quota),
/// under the temp folder and named after the target.
pub fn import_store(target: &str) -> &'static (PathBuf, Store) {
    static STORE: OnceLock<(PathBuf, Store)> = OnceLock::new();
    STORE.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("store-fuzz-{target}-{}", std::process::id()));
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

/// Runs `import` on the target's store and checks, whatever the input: no staging is left
/// behind; a refused import leaves `index.json` as it was; nothing appears beside the root
/// (a tar entry `../evil` must not escape).
pub fn check_import<E>(target: &str, import: impl FnOnce(&Store) -> Result<(), E>) {
    let (root, store) = import_store(target);
    let before = std::fs::read(root.join("index.json")).expect("index.json");
    let result = import(store);
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
    if let Some(parent) = root.parent() {
        assert!(!parent.join("evil").exists());
    }
}
