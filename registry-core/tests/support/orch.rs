//! Shared helpers for the orchestrator tests.
#![allow(dead_code, clippy::unwrap_used)]

use registry_core::facts::{ClusterFacts, ClusterType, Cri, NodeFacts, NodeRole};
use registry_core::orchestrator::{Env, Timestamp};
use registry_core::settings::{Credentials, Mode, RegistrySettings, Scheme, Secret, Ttl, Upstream};

pub(crate) const T0: i64 = 1_800_000_000;

pub(crate) fn env(seed: u64) -> Env {
    Env::seeded(seed, Timestamp::from_unix(T0)).with_bcrypt_cost(4)
}

pub(crate) fn upstream(repo: &str) -> Upstream {
    Upstream::from_images_repo(repo, Scheme::Https)
        .unwrap()
        .with_credentials(Credentials::UserPassword {
            username: "svc".into(),
            password: Secret::new("pw"),
        })
        .unwrap()
}

pub(crate) fn settings(mode: Mode) -> RegistrySettings {
    match mode {
        Mode::Direct => RegistrySettings::Direct {
            upstream: upstream("registry.example.com/deckhouse/ee"),
        },
        Mode::Proxy => RegistrySettings::Proxy {
            upstream: upstream("proxy-up.example.com/deckhouse/ee"),
            ttl: Ttl::default(),
        },
        Mode::Local => RegistrySettings::Local,
        Mode::Unmanaged => RegistrySettings::Unmanaged {
            upstream: upstream("nexus.example.com:8443/dkp/ee"),
        },
        Mode::UnmanagedLegacy => RegistrySettings::UnmanagedLegacy { upstream: None },
    }
}

/// A static cluster with `masters` masters and `workers` workers, containerd v2.
pub(crate) fn cluster(masters: usize, workers: usize) -> ClusterFacts {
    let mut nodes = Vec::new();
    for i in 0..masters {
        nodes.push(NodeFacts {
            name: format!("master-{i}"),
            role: NodeRole::Master,
            ip: Some(format!("10.0.0.{}", 10 + i).parse().unwrap()),
            cri: Cri::ContainerdV2,
            custom_registry_config: false,
        });
    }
    for i in 0..workers {
        nodes.push(NodeFacts {
            name: format!("worker-{i}"),
            role: NodeRole::Worker,
            ip: Some(format!("10.0.1.{}", 10 + i).parse().unwrap()),
            cri: Cri::ContainerdV2,
            custom_registry_config: false,
        });
    }
    ClusterFacts {
        cluster_type: ClusterType::Static,
        nodes,
        ..ClusterFacts::default()
    }
}
