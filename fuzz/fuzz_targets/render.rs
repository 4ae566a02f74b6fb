//! Fuzzes rendering: settings read from arbitrary bytes (optionally a previous and a desired
//! document separated by a line `===`), rendered for every generation and dialect; every TOML
//! file produced must parse, and nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_core::containerd::{ContainerdMajor, Dialect, RenderOptions, node_config, render};
use registry_core::settings::{CaBundle, LoadOptions, Secret, load};
use registry_core::transition::{ClusterFacts, ReadOnlyUser};

const CA: &str = include_str!("../../registry-core/tests/fixtures/ca.pem");

fuzz_target!(|data: &[u8]| {
    let (previous, desired) = match data.windows(5).position(|w| w == b"\n===\n") {
        Some(i) => (Some(&data[..i]), &data[i + 5..]),
        None => (None, data),
    };
    let options = LoadOptions::default();
    let Ok(desired) = load(desired, &options) else { return };
    let previous = match previous.map(|p| load(p, &options)) {
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => return,
        None => None,
    };
    let facts = ClusterFacts {
        module_ca: CaBundle::parse(CA).ok(),
        read_only_user: Some(ReadOnlyUser { name: "ro".into(), password: Secret::new("p\"\\ä") }),
        ..ClusterFacts::default()
    };
    let Ok(config) = node_config(&desired, previous.as_ref(), &facts) else { return };
    for containerd in [ContainerdMajor::V1, ContainerdMajor::V2] {
        for dialect in [Dialect::Deckhouse, Dialect::Upstream] {
            let options = RenderOptions { dialect, ..RenderOptions::new(containerd) };
            let Ok(rendered) = render(&config, &options) else { continue };
            for file in rendered.files.iter().filter(|f| f.path.ends_with(".toml")) {
                if let Err(e) = file.contents.parse::<toml::Table>() {
                    panic!("{} does not parse: {e}\n{}", file.path, file.contents);
                }
            }
        }
    }
});
