//! Properties of reconcile over random observations, starting from every step of real switches.
#![allow(clippy::unwrap_used)]

#[path = "support/orch.rs"]
mod orch;

use std::sync::OnceLock;

use proptest::prelude::*;
use registry_core::orchestrator::simulator::{Recorded, simulate_steps};
use registry_core::orchestrator::{
    CheckerStatus, ERR_TRANSITION, Inputs, LeaderPod, Output, PodStatus, READY, State, Status,
    Timestamp, is_supported, reconcile,
};
use registry_core::settings::Mode;

/// The steps of a few switches, computed once (key generation is the slow part).
fn corpus() -> &'static Vec<Recorded> {
    static C: OnceLock<Vec<Recorded>> = OnceLock::new();
    C.get_or_init(|| {
        let mut all = Vec::new();
        for (from, to) in [
            (Mode::Direct, Mode::Proxy),
            (Mode::Unmanaged, Mode::Local),
            (Mode::Proxy, Mode::Direct),
        ] {
            let mut env = orch::env(from as u64 + 10 * to as u64);
            let (_, steps) = simulate_steps(
                &orch::settings(from),
                &orch::settings(to),
                orch::cluster(3, 1),
                &mut env,
            )
            .unwrap();
            all.extend(steps);
        }
        all
    })
}

#[derive(Debug, Clone)]
struct Noise {
    pick: usize,
    nodes: Vec<(bool, u8)>,
    pods: Vec<(bool, bool, u8)>,
    proxy: Option<(bool, bool)>,
    checker: Option<(bool, bool)>,
    leader: Option<(bool, bool)>,
    bashible_exists: bool,
    target: Option<u8>,
}

fn noise() -> impl Strategy<Value = Noise> {
    (
        any::<usize>(),
        proptest::collection::vec((any::<bool>(), 0u8..4), 4),
        proptest::collection::vec((any::<bool>(), any::<bool>(), 0u8..3), 0..4),
        proptest::option::of((any::<bool>(), any::<bool>())),
        proptest::option::of((any::<bool>(), any::<bool>())),
        proptest::option::of((any::<bool>(), any::<bool>())),
        any::<bool>(),
        proptest::option::weighted(0.3, 0u8..5),
    )
        .prop_map(
            |(pick, nodes, pods, proxy, checker, leader, bashible_exists, target)| Noise {
                pick,
                nodes,
                pods,
                proxy,
                checker,
                leader,
                bashible_exists,
                target,
            },
        )
}

/// Observations mixed from the real ones and random ones.
fn perturb(base: &Recorded, n: &Noise) -> (State, Inputs) {
    let state = base.step.state.clone();
    let mut inputs = base.inputs.clone();
    let versions: Vec<Option<String>> = vec![
        None,
        state.bashible.config.as_ref().map(|c| c.version.clone()),
        Some("0000000000000000000000".into()),
        base.step
            .outputs
            .bashible_config
            .written()
            .map(|c| c.version.clone()),
    ];
    for ((name, status), (ready, v)) in inputs.nodes.iter_mut().zip(&n.nodes) {
        let _ = name;
        status.ready = *ready;
        status.registry_version = versions[usize::from(*v)].clone();
    }
    let expected: Vec<String> = state
        .node_services
        .nodes
        .values()
        .map(|v| v.version.clone())
        .collect();
    inputs.node_services_pods = n
        .pods
        .iter()
        .enumerate()
        .map(|(i, (ready, right, _))| {
            let version = if *right {
                expected.get(i).cloned().unwrap_or_default()
            } else {
                "bogus".into()
            };
            (
                format!("master-{i}"),
                PodStatus {
                    ready: *ready,
                    config_version: version,
                },
            )
        })
        .collect();
    let proxy_version = state
        .in_cluster_proxy
        .as_ref()
        .map(|p| p.config.version.clone())
        .unwrap_or_default();
    inputs.in_cluster_proxy = n.proxy.map(|(ready, right)| PodStatus {
        ready,
        config_version: if right {
            proxy_version.clone()
        } else {
            "bogus".into()
        },
    });
    let checker_version = base
        .step
        .outputs
        .checker
        .written()
        .map(|c| c.version.clone())
        .unwrap_or_default();
    inputs.checker = n.checker.map(|(ready, right)| CheckerStatus {
        version: if right {
            checker_version.clone()
        } else {
            "old".into()
        },
        ready,
        message: "progress".into(),
    });
    let hash = base
        .step
        .outputs
        .deckhouse_registry
        .written()
        .map(|s| s.hash.clone());
    inputs.deckhouse_leader = n.leader.map(|(ready, right)| LeaderPod {
        ready,
        registry_version: if right {
            hash.clone()
        } else {
            Some("old".into())
        },
    });
    inputs.bashible_config_exists = n.bashible_exists;
    if let Some(t) = n.target {
        inputs.settings = Some(orch::settings(Mode::ALL[usize::from(t)]));
    }
    (state, inputs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn reconcile_properties(n in noise()) {
        let corpus = corpus();
        let base = &corpus[n.pick % corpus.len()];
        let (state, inputs) = perturb(base, &n);
        let now = Timestamp::from_unix(orch::T0 + 86_400);
        let mut env_a = registry_core::orchestrator::Env::seeded(42, now).with_bcrypt_cost(4);
        let mut env_b = registry_core::orchestrator::Env::seeded(42, now).with_bcrypt_cost(4);
        let a = reconcile(&state, &inputs, &mut env_a).unwrap();
        let b = reconcile(&state, &inputs, &mut env_b).unwrap();
        // Deterministic.
        prop_assert_eq!(&a, &b);
        // Only supported conditions.
        prop_assert!(a.conditions().iter().all(|c| is_supported(&c.kind)));
        // Ready=True never beside a pending condition or a refusal.
        if a.ready {
            prop_assert!(a.conditions().iter().all(|c| c.status == Status::True));
            prop_assert!(a.condition(ERR_TRANSITION).is_none());
        }
        // The mode changes only when the whole pipeline is done, and then to the target.
        let before = state.mode.unwrap_or(Mode::Unmanaged);
        if a.state.mode != Some(before) {
            prop_assert!(a.ready);
            prop_assert_eq!(a.state.mode, a.state.target_mode);
        }
        // A change of target clears every old condition: each one was set in this step.
        if state.target_mode != a.state.target_mode {
            prop_assert!(a.conditions().iter().all(|c| c.last_transition_time == now));
        }
        // Ready is always reported once.
        prop_assert_eq!(a.conditions().iter().filter(|c| c.kind == READY).count(), 1);
        // Credentials in outputs are the users in the state.
        if let (Some(secret), Some(ro), Some(Mode::Proxy | Mode::Local)) =
            (a.outputs.deckhouse_registry.written(), a.state.users.ro.as_ref(), a.state.target_mode)
        {
            let doc: serde_json::Value = serde_json::from_str(secret.secret.dockerconfigjson.expose()).unwrap();
            let e = &doc["auths"]["registry.d8-system.svc:5001"];
            prop_assert_eq!(e["username"].as_str(), Some(ro.name.as_str()));
            prop_assert_eq!(e["password"].as_str(), Some(ro.password.expose()));
        }
        for (name, out) in &a.outputs.users {
            let in_state = match name.as_str() {
                "ro" => &a.state.users.ro, "rw" => &a.state.users.rw,
                "mirror-puller" => &a.state.users.mirror_puller, _ => &a.state.users.mirror_pusher,
            };
            match out {
                Output::Write(u) => prop_assert_eq!(Some(u), in_state.as_ref()),
                _ => prop_assert!(in_state.is_none()),
            }
        }
        if let Some(bundles) = a.outputs.node_services.written() {
            for v in bundles.values() {
                let cfg = &v.config.config;
                let htpasswd = v.config.files[cfg.htpasswd.as_deref().unwrap()].contents.expose();
                let ro = a.state.users.ro.as_ref().unwrap();
                let line = format!("{}:{}\n", ro.name, ro.password_hash.expose());
                prop_assert!(htpasswd.contains(&line), "ro missing from htpasswd");
            }
        }
    }
}
