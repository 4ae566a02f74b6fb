//! Fuzz import of a hostile tar (plain or gzip) into a store: no input may panic, write outside
//! the store root, or leave anything behind when it is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_core::store::ImportOptions;

fuzz_target!(|data: &[u8]| {
    registry_fuzz::check_import("import", |store| {
        store
            .import_tar(&mut &data[..], &ImportOptions::default())
            .map(drop)
    });
});
