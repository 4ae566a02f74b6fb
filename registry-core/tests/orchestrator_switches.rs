//! Every switch (from × to, legacy and bootstrap included), step by step, against the
//! simulated cluster. Expectations come from the rules (DOMAIN.md §6.3 pipelines, the seed's
//! switch matrix, §7.2 skip rules, §7.3 messages), not from the program's output.
#![allow(clippy::unwrap_used)]

#[path = "support/orch.rs"]
mod orch;

use registry_core::orchestrator::simulator::{Recorded, simulate_steps};
use registry_core::orchestrator::{
    ERR_TRANSITION, InitSecret, Output, READY, ServiceMode, State, Status, reconcile,
};
use registry_core::settings::{Mode, VIRTUAL_HOST};

/// The seed's matrix: Local and Proxy never switch into each other; legacy Unmanaged only from
/// an Unmanaged form.
fn refused(from: Mode, to: Mode) -> bool {
    matches!(
        (from, to),
        (Mode::Local, Mode::Proxy) | (Mode::Proxy, Mode::Local)
    ) || (from.is_managed() && to == Mode::UnmanagedLegacy)
}

/// DOMAIN.md §6.3: the conditions of each target mode, in order.
fn pipeline(to: Mode) -> Vec<&'static str> {
    match to {
        Mode::Direct => vec![
            "RegistryContainsRequiredImages",
            "ContainerdConfigPreflightReady",
            "TransitionContainerdConfigReady",
            "InClusterProxyReady",
            "DeckhouseRegistrySwitchReady",
            "FinalContainerdConfigReady",
            "CleanupNodeServices",
        ],
        Mode::Proxy => vec![
            "RegistryContainsRequiredImages",
            "ContainerdConfigPreflightReady",
            "NodeServicesReady",
            "TransitionContainerdConfigReady",
            "DeckhouseRegistrySwitchReady",
            "FinalContainerdConfigReady",
            "CleanupInClusterProxy",
        ],
        Mode::Local => vec![
            "ContainerdConfigPreflightReady",
            "NodeServicesReady",
            "RegistryContainsRequiredImages",
            "TransitionContainerdConfigReady",
            "DeckhouseRegistrySwitchReady",
            "FinalContainerdConfigReady",
            "CleanupInClusterProxy",
        ],
        Mode::Unmanaged => vec![
            "RegistryContainsRequiredImages",
            "ContainerdConfigPreflightReady",
            "TransitionContainerdConfigReady",
            "DeckhouseRegistrySwitchReady",
            "FinalContainerdConfigReady",
            "CleanupNodeServices",
            "CleanupInClusterProxy",
        ],
        Mode::UnmanagedLegacy => vec![
            "FinalizeUnmanagedTransition",
            "CleanupNodeServices",
            "CleanupInClusterProxy",
        ],
    }
}

/// The pending (False) stage of each step, in order.
fn pending(steps: &[Recorded]) -> Vec<String> {
    steps
        .iter()
        .filter_map(|r| {
            r.step
                .conditions()
                .iter()
                .find(|c| c.kind != READY && c.status == Status::False)
                .map(|c| c.kind.clone())
        })
        .collect()
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.dedup();
    v
}

fn run(from: Mode, to: Mode) -> (State, Vec<Recorded>) {
    let mut env = orch::env(from as u64 * 7 + to as u64);
    simulate_steps(
        &orch::settings(from),
        &orch::settings(to),
        orch::cluster(3, 1),
        &mut env,
    )
    .unwrap()
}

#[test]
fn every_switch_follows_its_pipeline_or_is_refused_with_a_route() {
    for from in Mode::ALL {
        for to in Mode::ALL {
            let (start, steps) = run(from, to);
            assert_eq!(
                start.mode,
                Some(from),
                "{from}→{to}: the cluster first reaches {from}"
            );
            let last = &steps.last().unwrap().step;
            if refused(from, to) {
                assert_eq!(steps.len(), 1, "{from}→{to}");
                let err = last.condition(ERR_TRANSITION).unwrap();
                assert_eq!(err.status, Status::True);
                assert!(
                    err.message.contains("route: "),
                    "{from}→{to}: {}",
                    err.message
                );
                assert_eq!(last.state.mode, Some(from));
                assert!(!last.ready);
                assert!(matches!(last.outputs.deckhouse_registry, Output::Keep));
                continue;
            }
            let same = from == to || (from == Mode::UnmanagedLegacy && to == Mode::UnmanagedLegacy);
            if same {
                assert_eq!(
                    steps.len(),
                    1,
                    "{from}→{to}: nothing changes, Ready at once"
                );
                assert!(last.ready);
                continue;
            }
            assert!(last.ready, "{from}→{to} did not finish: {}", last.message);
            assert_eq!(last.state.mode, Some(to));
            // The mode changes only with the last step; Ready says where it goes before that.
            for r in &steps[..steps.len() - 1] {
                assert_eq!(r.step.state.mode, Some(from), "{from}→{to}");
                assert!(!r.step.ready);
                assert_eq!(r.step.message, format!("Transitioning to {to}"));
            }
            // Pending stages walk the pipeline forward, never back.
            let order = pipeline(to);
            let seen = dedup(pending(&steps));
            let positions: Vec<usize> = seen
                .iter()
                .map(|s| {
                    order
                        .iter()
                        .position(|o| o == s)
                        .unwrap_or_else(|| panic!("{from}→{to}: {s} not in the pipeline"))
                })
                .collect();
            assert!(
                positions.windows(2).all(|w| w[0] < w[1]),
                "{from}→{to}: {seen:?}"
            );
            // At the end every stage of the pipeline is True, and nothing else is reported.
            let mut kinds: Vec<&str> = last.conditions().iter().map(|c| c.kind.as_str()).collect();
            kinds.retain(|k| *k != READY);
            assert_eq!(kinds, order, "{from}→{to}");
            assert!(last.conditions().iter().all(|c| c.status == Status::True));
            check_final_outputs(to, last);
        }
    }
}

/// What each mode leaves behind (DOMAIN.md §6.3 final steps, §9 secret forms).
fn check_final_outputs(to: Mode, step: &registry_core::orchestrator::Step) {
    let o = &step.outputs;
    let users: Vec<&str> = o
        .users
        .iter()
        .filter(|(_, u)| matches!(u, Output::Write(_)))
        .map(|(n, _)| n.as_str())
        .collect();
    let (service, want_users, pki, ingress): (ServiceMode, &[&str], bool, bool) = match to {
        Mode::Direct => (ServiceMode::InClusterProxy, &[], true, false),
        Mode::Proxy => (ServiceMode::NodeServices, &["ro"], true, false),
        Mode::Local => (
            ServiceMode::NodeServices,
            &["mirror-puller", "mirror-pusher", "ro", "rw"],
            true,
            true,
        ),
        Mode::Unmanaged | Mode::UnmanagedLegacy => (ServiceMode::Disabled, &[], false, false),
    };
    assert_eq!(o.registry_service, service, "{to}");
    assert_eq!(users, want_users, "{to}");
    assert_eq!(o.pki.written().is_some(), pki, "{to}");
    assert_eq!(o.ingress_enabled, ingress, "{to}");
    assert!(
        matches!(o.checker, Output::Delete),
        "{to}: the checker stops"
    );
    assert_eq!(
        o.in_cluster_proxy.written().is_some(),
        to == Mode::Direct,
        "{to}"
    );
    assert_eq!(
        o.node_services.written().map(|n| n.len()),
        to.needs_static_cluster().then_some(3),
        "{to}"
    );
    let bashible = o.bashible_config.written().unwrap();
    assert_eq!(bashible.config.mode, to);
    assert!(!bashible.config.transition);
    assert_eq!(bashible.version, bashible.config.version());
    match (to, o.deckhouse_registry.written()) {
        (Mode::UnmanagedLegacy, None) => {}
        (Mode::Unmanaged, Some(s)) => assert_eq!(s.secret.address, "nexus.example.com:8443"),
        (_, Some(s)) => {
            assert_eq!(
                (s.secret.address.as_str(), s.secret.path.as_str()),
                (VIRTUAL_HOST, "/system/deckhouse")
            );
            assert_eq!(s.hash, s.secret.hash());
        }
        (m, other) => panic!("{m}: unexpected deckhouse-registry {other:?}"),
    }
}

#[test]
fn direct_to_proxy_on_three_masters_step_by_step() {
    let (_, steps) = run(Mode::Direct, Mode::Proxy);
    // Preflight passes at once: registry-bashible-config already exists (§7.3).
    assert_eq!(
        dedup(pending(&steps)),
        [
            "RegistryContainsRequiredImages",
            "NodeServicesReady",
            "TransitionContainerdConfigReady",
            "DeckhouseRegistrySwitchReady",
            "FinalContainerdConfigReady",
            "CleanupInClusterProxy",
        ]
    );
    let messages: Vec<(String, String)> = steps
        .iter()
        .filter_map(|r| {
            r.step
                .conditions()
                .iter()
                .find(|c| c.status == Status::False && c.kind != READY)
        })
        .map(|c| (c.kind.clone(), c.message.clone()))
        .collect();
    assert_eq!(
        messages[0],
        (
            "RegistryContainsRequiredImages".into(),
            "Initializing".into()
        )
    );
    assert!(messages.iter().any(|(k, m)| k == "NodeServicesReady" && m.starts_with("0/3 node(s) ready. Waiting:\n- master-0: services pod(s) is not Ready or config version mismatch (!= \"")));
    // The lagging node (worker-0) is the only one left for two steps.
    assert!(
        messages
            .iter()
            .any(|(k, m)| k == "TransitionContainerdConfigReady"
                && m.starts_with(
                    "Applying configuration to nodes\n3/4 node(s) ready. Waiting:\n- worker-0: \""
                ))
    );
    let switch: Vec<&str> = messages
        .iter()
        .filter(|(k, _)| k == "DeckhouseRegistrySwitchReady")
        .map(|(_, m)| m.as_str())
        .collect();
    assert_eq!(
        dedup(switch.iter().map(|s| s.to_string()).collect()),
        [
            "Updating registry for deckhouse components",
            "Applying new registry to deckhouse-controller",
            "Waiting for deckhouse-controller to become ready"
        ]
    );
    // The transition config carries the old Direct mirror first, then the local endpoint.
    let transition = steps
        .iter()
        .find_map(|r| {
            r.step
                .outputs
                .bashible_config
                .written()
                .filter(|c| c.config.transition)
        })
        .unwrap();
    let mirrors = &transition.config.hosts[VIRTUAL_HOST];
    assert_eq!(
        mirrors.iter().map(|m| m.host.as_str()).collect::<Vec<_>>(),
        ["registry.example.com", "127.0.0.1:5001"]
    );
    assert_eq!(transition.config.proxy_endpoints.len(), 3);
}

#[test]
fn target_change_clears_conditions_and_times_are_kept() {
    let (start, steps) = run(Mode::Direct, Mode::Proxy);
    drop(start);
    let mid = &steps[3].step;
    assert!(!mid.ready);
    // The same step again a minute later: nothing changed, so no time moves.
    let mut env = orch::env(99);
    env.set_now(registry_core::orchestrator::Timestamp::from_unix(
        orch::T0 + 10_000,
    ));
    let again = reconcile(&mid.state, &steps[3].inputs, &mut env).unwrap();
    for c in again.conditions() {
        let before = mid.condition(&c.kind).unwrap();
        if before.status == c.status {
            assert_eq!(
                before.last_transition_time, c.last_transition_time,
                "{}",
                c.kind
            );
        }
    }
    // A new target: Unmanaged. Old conditions are gone; the new pipeline starts at its top.
    let mut inputs = steps[3].inputs.clone();
    inputs.settings = Some(orch::settings(Mode::Unmanaged));
    let switched = reconcile(&mid.state, &inputs, &mut env).unwrap();
    assert!(switched.condition("NodeServicesReady").is_none());
    assert_eq!(switched.state.target_mode, Some(Mode::Unmanaged));
    assert_eq!(
        switched
            .condition("RegistryContainsRequiredImages")
            .unwrap()
            .message,
        "Initializing"
    );
}

#[test]
fn refused_local_to_proxy_names_the_route() {
    let (_, steps) = run(Mode::Local, Mode::Proxy);
    let err = steps[0].step.condition(ERR_TRANSITION).unwrap();
    assert!(
        err.message
            .starts_with("mode transition from Local to Proxy not supported"),
        "{}",
        err.message
    );
    assert!(
        err.message.ends_with("route: Local → Direct → Proxy"),
        "{}",
        err.message
    );
}

#[test]
fn bootstrap_keeps_the_init_ca_and_skips_the_transition() {
    // A cluster that finished bootstrap in Direct: dhctl wrote registry-init, nodes run the
    // final Direct config already.
    let mut env = orch::env(5);
    let (direct_state, _) = simulate_steps(
        &orch::settings(Mode::Direct),
        &orch::settings(Mode::Direct),
        orch::cluster(1, 1),
        &mut env,
    )
    .unwrap();
    let ca = direct_state.pki.ca.clone().unwrap();
    let final_version = direct_state
        .bashible
        .config
        .as_ref()
        .unwrap()
        .version
        .clone();
    let mut cluster =
        registry_core::orchestrator::simulator::SimulatedCluster::new(orch::cluster(1, 1), None);
    for n in cluster.inputs.nodes.values_mut() {
        n.registry_version = Some(final_version.clone());
    }
    cluster.inputs.init_secret = Some(InitSecret {
        ca: Some(ca.clone()),
        ro_user: None,
        rw_user: None,
    });
    let mut env = orch::env(6);
    let (state, steps) = registry_core::orchestrator::simulator::drive(
        State::default(),
        &orch::settings(Mode::Direct),
        &mut cluster,
        &mut env,
    )
    .unwrap();
    assert_eq!(state.mode, Some(Mode::Direct));
    assert_eq!(
        state.pki.ca.as_ref().unwrap().cert,
        ca.cert,
        "the CA from registry-init is kept"
    );
    assert!(
        !pending(&steps)
            .iter()
            .any(|s| s == "TransitionContainerdConfigReady"),
        "{:?}",
        pending(&steps)
    );
    // The final stage waits only for the secret to be created: the nodes have the config.
    for r in &steps {
        if let Some(c) = r
            .step
            .condition("FinalContainerdConfigReady")
            .filter(|c| c.status == Status::False)
        {
            assert_eq!(c.message, "Creating Managed configuration...");
        }
    }
}

#[test]
fn no_registry_config_does_nothing_and_no_state_restores_unmanaged() {
    let step = reconcile(&State::default(), &Default::default(), &mut orch::env(1)).unwrap();
    assert_eq!(step.state.mode, Some(Mode::Unmanaged));
    assert!(matches!(step.outputs.bashible_config, Output::Keep));
    assert!(step.conditions().is_empty());
}

#[test]
fn node_feedback_names_at_most_ten_nodes_with_cut_versions() {
    let mut env = orch::env(8);
    let (_, steps) = simulate_steps(
        &orch::settings(Mode::Unmanaged),
        &orch::settings(Mode::Direct),
        orch::cluster(1, 11),
        &mut env,
    )
    .unwrap();
    let message = steps
        .iter()
        .filter_map(|r| r.step.condition("TransitionContainerdConfigReady"))
        .map(|c| c.message.clone())
        .find(|m| m.contains("0/12 node(s) ready. Waiting:"))
        .unwrap();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines[0], "Applying configuration to nodes");
    assert_eq!(lines[1], "0/12 node(s) ready. Waiting:");
    assert_eq!(lines.len(), 2 + 10 + 1, "{message}");
    assert_eq!(lines[12], "\t...and 2 more");
    // `- <node>: "<old, 15 chars>…" → "<new, 15 chars>…"`
    let line = lines[2];
    let (node, versions) = line.strip_prefix("- ").unwrap().split_once(": ").unwrap();
    assert_eq!(node, "master-0");
    let (old, new) = versions.split_once(" → ").unwrap();
    for v in [old, new] {
        let inner = v.trim_matches('"');
        assert_eq!(inner.chars().count(), 16, "{v}");
        assert!(inner.ends_with('…'));
    }
}

#[test]
fn unsupported_conditions_are_pruned_and_a_param_change_reruns_the_pipeline() {
    let (_, steps) = run(Mode::Direct, Mode::Direct);
    let done = steps.last().unwrap();
    assert!(done.step.ready);
    let mut state = done.step.state.clone();
    let mut bogus = state.conditions[0].clone();
    bogus.kind = "SomethingElse".into();
    state.conditions.push(bogus);
    // Direct → Direct with another upstream: the target mode stays, so the conditions of the
    // last switch are kept (not cleared) while the pipeline runs again from the top.
    let mut inputs = done.inputs.clone();
    inputs.settings = Some(registry_core::settings::RegistrySettings::Direct {
        upstream: orch::upstream("other.example.com/deckhouse/ee"),
    });
    let step = reconcile(&state, &inputs, &mut orch::env(3)).unwrap();
    assert!(step.condition("SomethingElse").is_none());
    assert!(!step.ready);
    assert_eq!(step.message, "Transitioning to Direct");
    assert_eq!(
        step.condition("RegistryContainsRequiredImages")
            .unwrap()
            .message,
        "Initializing"
    );
    let kept = step.condition("FinalContainerdConfigReady").unwrap();
    assert_eq!(kept.status, Status::True, "later stages are untouched");
    assert_eq!(
        kept,
        done.step.condition("FinalContainerdConfigReady").unwrap()
    );
    assert_eq!(step.state.mode, Some(Mode::Direct));
}
