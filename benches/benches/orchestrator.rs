//! One orchestrator reconcile step for a 1,000-node cluster (3 masters, 997 workers) in steady
//! state, Proxy and Direct modes. Target: at most 2 ms per step. The environment is kept between
//! steps as the operator keeps it, so bcrypt checks are paid once (the first step), not per step.
//!
//! `ORCH_BENCH_ITERS` (default 200) sets the number of timed steps; the median and p90 are printed.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use registry_core::facts::{ClusterFacts, Cri, NodeFacts, NodeRole};
use registry_core::orchestrator::simulator::simulate_steps;
use registry_core::orchestrator::{Env, Timestamp, reconcile};
use registry_core::settings::{Credentials, RegistrySettings, Scheme, Secret, Ttl, Upstream};

fn cluster(nodes: usize) -> ClusterFacts {
    let nodes = (0..nodes)
        .map(|i| NodeFacts {
            name: if i < 3 {
                format!("master-{i}")
            } else {
                format!("worker-{i:04}")
            },
            role: if i < 3 {
                NodeRole::Master
            } else {
                NodeRole::Worker
            },
            ip: Some(std::net::IpAddr::from([
                10,
                0,
                (i / 250) as u8,
                (i % 250) as u8 + 1,
            ])),
            cri: Cri::ContainerdV2,
            custom_registry_config: false,
        })
        .collect();
    ClusterFacts {
        nodes,
        ..ClusterFacts::default()
    }
}

fn upstream() -> Upstream {
    Upstream::from_images_repo("registry.example.com/deckhouse/ee", Scheme::Https)
        .unwrap()
        .with_credentials(Credentials::UserPassword {
            username: "svc".into(),
            password: Secret::new("pw"),
        })
        .unwrap()
}

fn measure(name: &str, settings: &RegistrySettings, iters: usize) -> Duration {
    let mut env = Env::seeded(1, Timestamp::from_unix(1_800_000_000));
    let (_, steps) = simulate_steps(settings, settings, cluster(1000), &mut env).unwrap();
    let last = steps.last().unwrap();
    assert!(
        last.step.ready,
        "{name}: the simulated cluster reaches steady state"
    );
    let (state, inputs) = (last.step.state.clone(), last.inputs.clone());
    // The operator's first step after a restart checks the stored users once.
    let first = reconcile(&state, &inputs, &mut env).unwrap();
    let calls = env.bcrypt_calls();
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        let step = reconcile(&first.state, &inputs, &mut env).unwrap();
        times.push(t.elapsed());
        assert!(step.ready);
    }
    assert_eq!(
        env.bcrypt_calls(),
        calls,
        "steady state does no bcrypt work"
    );
    times.sort();
    let median = times[iters / 2];
    let p90 = times[iters * 9 / 10];
    println!(
        "{name:<7} 1000 nodes, steady state: median {:.3} ms, p90 {:.3} ms over {iters} steps (target <= 2 ms: {})",
        median.as_secs_f64() * 1e3,
        p90.as_secs_f64() * 1e3,
        if median <= Duration::from_millis(2) {
            "met"
        } else {
            "MISSED"
        }
    );
    median
}

fn main() {
    let iters: usize = std::env::var("ORCH_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    measure(
        "Proxy",
        &RegistrySettings::Proxy {
            upstream: upstream(),
            ttl: Ttl::default(),
        },
        iters,
    );
    measure(
        "Direct",
        &RegistrySettings::Direct {
            upstream: upstream(),
        },
        iters,
    );
    measure("Local", &RegistrySettings::Local, iters);
}
