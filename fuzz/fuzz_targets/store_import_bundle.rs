//! Fuzz the one-pass bundle import of a hostile stream (tar, gzip, anything): no input may
//! panic, exceed the expansion limit, write outside the store root or leave staging behind; a
//! refused import leaves `index.json` as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_core::store::BundleOptions;

fuzz_target!(|data: &[u8]| {
    let opts = BundleOptions {
        max_expanded_bytes: 32 << 20,
        ..Default::default()
    };
    registry_fuzz::check_import("bundle", |store| {
        store
            .import_bundle_stream(&mut &data[..], "module-fuzz.tar", &opts)
            .map(drop)
    });
});
