//! Sample settings for each mode, shared by the transition tests.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.
#![allow(dead_code, unreachable_pub)]

use registry_core::settings::{Credentials, Mode, RegistrySettings, Scheme, Secret, Ttl, Upstream};

/// An HTTPS upstream from an `imagesRepo`.
pub fn upstream(repo: &str) -> Upstream {
    Upstream::from_images_repo(repo, Scheme::Https).unwrap()
}

/// One settings value per mode.
pub fn sample(mode: Mode) -> RegistrySettings {
    match mode {
        Mode::Direct => RegistrySettings::Direct {
            upstream: upstream("registry.deckhouse.io/deckhouse/ee"),
        },
        Mode::Proxy => RegistrySettings::Proxy {
            upstream: upstream("nexus.example.com/dkp/ee"),
            ttl: Ttl::DEFAULT,
        },
        Mode::Local => RegistrySettings::Local,
        Mode::Unmanaged => RegistrySettings::Unmanaged {
            upstream: upstream("harbor.example.com/deckhouse/ee"),
        },
        Mode::UnmanagedLegacy => RegistrySettings::UnmanagedLegacy { upstream: None },
    }
}

/// Another settings value of the same mode, different where the mode has parameters.
pub fn variant(mode: Mode) -> RegistrySettings {
    let with_password = |repo: &str| {
        upstream(repo)
            .with_credentials(Credentials::UserPassword {
                username: "svc".into(),
                password: Secret::new("new"),
            })
            .unwrap()
    };
    match mode {
        Mode::Direct => RegistrySettings::Direct {
            upstream: with_password("registry.deckhouse.io/deckhouse/ee"),
        },
        Mode::Proxy => RegistrySettings::Proxy {
            upstream: upstream("nexus.example.com/dkp/ee"),
            ttl: "1h".parse().unwrap(),
        },
        Mode::Unmanaged => RegistrySettings::Unmanaged {
            upstream: with_password("harbor.example.com/deckhouse/ee"),
        },
        Mode::Local | Mode::UnmanagedLegacy => sample(mode),
    }
}
