//! Fuzzes the settings reader: any bytes, read as a ModuleConfig/InitConfiguration stream and
//! as cluster facts, must give a value or an error, never a panic or a hang; valid settings
//! must survive a JSON round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_core::settings::{LoadOptions, RegistrySettings, load};
use registry_core::transition::ClusterFacts;

fuzz_target!(|data: &[u8]| {
    for bootstrap in [false, true] {
        if let Ok(settings) = load(data, &LoadOptions { bootstrap, ..LoadOptions::default() }) {
            let json = serde_json::to_string(&settings).expect("settings serialize");
            let back: RegistrySettings = serde_json::from_str(&json).expect("settings deserialize");
            assert_eq!(back, settings);
        }
    }
    let _ = ClusterFacts::load(data);
});
