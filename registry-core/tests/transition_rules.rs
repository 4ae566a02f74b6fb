//! The switch rules of the seed, checked over every from × to pair under each cluster
//! condition. The expected outcomes are written out from the seed's rules, independently of
//! the implementation.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

mod common;

use std::collections::BTreeSet;

use common::{sample, upstream, variant};
use registry_core::facts::{ClusterFacts, ClusterType, Cri, NodeFacts, NodeRole};
use registry_core::settings::{Mode, Problem, ProblemCode, Problems, RegistrySettings};
use registry_core::transition::{Decision, RefusalCode, Restart, Stage, decide, plan};
use serde_json::json;

use Mode::*;

fn node(name: &str, role: NodeRole, cri: Cri, custom: bool) -> NodeFacts {
    NodeFacts {
        name: name.into(),
        role,
        ip: None,
        cri,
        custom_registry_config: custom,
    }
}

fn facts(f: impl FnOnce(&mut ClusterFacts)) -> ClusterFacts {
    let mut facts = ClusterFacts {
        nodes: vec![
            node("master-0", NodeRole::Master, Cri::Containerd, false),
            node("worker-0", NodeRole::Worker, Cri::ContainerdV2, false),
        ],
        ..ClusterFacts::default()
    };
    f(&mut facts);
    facts
}

/// The seed's mode graph: Local⇄Proxy only through Direct or Unmanaged; legacy Unmanaged only
/// from Unmanaged (either form); everything else, including a parameter change, is allowed.
fn graph_allows(from: Mode, to: Mode) -> Option<RefusalCode> {
    match (from, to) {
        (Local, Proxy) | (Proxy, Local) => Some(RefusalCode::TransitionNotSupported),
        (Direct | Proxy | Local, UnmanagedLegacy) => {
            Some(RefusalCode::LegacyUnmanagedOnlyFromUnmanaged)
        }
        _ => None,
    }
}

/// Whether the request changes anything: Local has no parameters and legacy settings are not
/// the module's, so those two never change within their mode.
fn changes(from: Mode, to: Mode) -> bool {
    from != to || matches!(from, Direct | Proxy | Unmanaged)
}

fn codes(d: &Decision) -> BTreeSet<String> {
    match d {
        Decision::Allowed(_) => BTreeSet::new(),
        Decision::Refused(r) => r.reasons.iter().map(|r| format!("{:?}", r.code)).collect(),
    }
}

fn set(codes: &[RefusalCode]) -> BTreeSet<String> {
    codes.iter().map(|c| format!("{c:?}")).collect()
}

/// For every from × to pair, the refusal codes must be exactly `expected(from, to)`.
fn check_matrix(facts: &ClusterFacts, expected: impl Fn(Mode, Mode) -> Vec<RefusalCode>) {
    for from in Mode::ALL {
        for to in Mode::ALL {
            let desired = if from == to { variant(to) } else { sample(to) };
            let decision = plan(&sample(from), &desired, facts);
            assert_eq!(
                codes(&decision),
                set(&expected(from, to)),
                "{from} → {to}: {decision:?}"
            );
        }
    }
}

#[test]
fn matrix_on_a_ready_static_cluster() {
    check_matrix(&facts(|_| {}), |from, to| {
        graph_allows(from, to).into_iter().collect()
    });
}

#[test]
fn matrix_on_a_cloud_cluster() {
    let cloud = facts(|f| f.cluster_type = ClusterType::Cloud);
    check_matrix(&cloud, |from, to| {
        let mut c: Vec<RefusalCode> = graph_allows(from, to).into_iter().collect();
        if matches!(to, Proxy | Local) && changes(from, to) {
            c.push(RefusalCode::ClusterNotStatic);
        }
        c
    });
}

#[test]
fn matrix_during_bootstrap() {
    let booting = facts(|f| f.bootstrapped = false);
    check_matrix(&booting, |from, to| {
        let mut c = Vec::new();
        if changes(from, to) {
            c.push(RefusalCode::BootstrapInProgress);
            c.extend(graph_allows(from, to));
        }
        if matches!(to, Proxy | Local) {
            c.push(RefusalCode::ModeNotAllowedAtBootstrap);
        }
        c
    });
}

#[test]
fn matrix_on_managed_kubernetes() {
    let managed = facts(|f| f.managed_kubernetes = true);
    check_matrix(&managed, |from, to| {
        let mut c: Vec<RefusalCode> = graph_allows(from, to).into_iter().collect();
        if changes(from, to) {
            c.push(RefusalCode::ManagedKubernetes);
        }
        c
    });
}

#[test]
fn matrix_with_an_unsupported_runtime() {
    for cri in [Cri::Docker, Cri::NotManaged] {
        let docker = facts(|f| f.nodes.push(node("old-0", NodeRole::Worker, cri, false)));
        check_matrix(&docker, |from, to| {
            let mut c: Vec<RefusalCode> = graph_allows(from, to).into_iter().collect();
            if changes(from, to) {
                c.push(RefusalCode::UnsupportedCri);
            }
            c
        });
    }
}

#[test]
fn matrix_with_unmigrated_user_registry_config() {
    let custom = facts(|f| f.nodes[1].custom_registry_config = true);
    check_matrix(&custom, |from, to| {
        let mut c: Vec<RefusalCode> = graph_allows(from, to).into_iter().collect();
        if from == UnmanagedLegacy && to != UnmanagedLegacy {
            c.push(RefusalCode::UserRegistryConfigNotMigrated);
        }
        c
    });
}

fn allowed(d: Decision) -> registry_core::transition::Plan {
    match d {
        Decision::Allowed(p) => p,
        Decision::Refused(r) => panic!("expected allowed, got {r:?}"),
    }
}

fn refused(d: Decision) -> registry_core::transition::Refusal {
    match d {
        Decision::Refused(r) => r,
        Decision::Allowed(p) => panic!("expected refused, got {p:?}"),
    }
}

#[test]
fn stages_follow_each_target_pipeline() {
    use Stage::*;
    let f = facts(|_| {});
    let stages = |from, to| allowed(plan(&sample(from), &sample(to), &f)).stages;
    assert_eq!(
        stages(Unmanaged, Direct),
        [
            RegistryContainsRequiredImages,
            ContainerdConfigPreflightReady,
            TransitionContainerdConfigReady,
            InClusterProxyReady,
            DeckhouseRegistrySwitchReady,
            FinalContainerdConfigReady,
            CleanupNodeServices
        ]
    );
    assert_eq!(
        stages(Direct, Proxy),
        [
            RegistryContainsRequiredImages,
            ContainerdConfigPreflightReady,
            NodeServicesReady,
            TransitionContainerdConfigReady,
            DeckhouseRegistrySwitchReady,
            FinalContainerdConfigReady,
            CleanupInClusterProxy
        ]
    );
    // Local checks its images only after its registry runs: the bundle is pushed into it.
    assert_eq!(
        stages(Direct, Local),
        [
            ContainerdConfigPreflightReady,
            NodeServicesReady,
            RegistryContainsRequiredImages,
            TransitionContainerdConfigReady,
            DeckhouseRegistrySwitchReady,
            FinalContainerdConfigReady,
            CleanupInClusterProxy
        ]
    );
    assert_eq!(
        stages(Local, Unmanaged),
        [
            RegistryContainsRequiredImages,
            ContainerdConfigPreflightReady,
            TransitionContainerdConfigReady,
            DeckhouseRegistrySwitchReady,
            FinalContainerdConfigReady,
            CleanupNodeServices,
            CleanupInClusterProxy
        ]
    );
    assert_eq!(
        stages(Unmanaged, UnmanagedLegacy),
        [
            FinalizeUnmanagedTransition,
            CleanupNodeServices,
            CleanupInClusterProxy
        ]
    );
    // A parameter change re-runs the mode's own pipeline.
    assert_eq!(
        allowed(plan(&sample(Direct), &variant(Direct), &f)).stages,
        stages(Unmanaged, Direct)
    );
}

#[test]
fn unchanged_settings_need_nothing() {
    let f = facts(|_| {});
    for mode in Mode::ALL {
        let p = allowed(plan(&sample(mode), &sample(mode), &f));
        assert!(p.stages.is_empty() && p.restarts.is_empty(), "{mode}");
    }
}

#[test]
fn restarts_follow_image_references_and_first_switch() {
    use Restart::*;
    let f = facts(|_| {});
    let restarts = |a: &RegistrySettings, b: &RegistrySettings, f: &ClusterFacts| {
        allowed(plan(a, b, f)).restarts
    };
    // First move from Unmanaged into a managed mode: every component, and containerd v1.
    assert_eq!(
        restarts(&sample(UnmanagedLegacy), &sample(Direct), &f),
        [Deckhouse, AllPlatformComponents, ContainerdV1]
    );
    let v2_only = facts(|f| f.nodes[0].cri = Cri::ContainerdV2);
    assert_eq!(
        restarts(&sample(UnmanagedLegacy), &sample(Direct), &v2_only),
        [Deckhouse, AllPlatformComponents]
    );
    assert_eq!(
        restarts(&sample(Unmanaged), &sample(Proxy), &f),
        [Deckhouse, AllPlatformComponents]
    );
    // Between managed modes only deckhouse restarts: image references stay on the fixed address.
    assert_eq!(restarts(&sample(Direct), &sample(Proxy), &f), [Deckhouse]);
    assert_eq!(restarts(&sample(Proxy), &sample(Direct), &f), [Deckhouse]);
    assert_eq!(restarts(&sample(Local), &sample(Direct), &f), [Deckhouse]);
    assert_eq!(restarts(&sample(Direct), &variant(Direct), &f), [Deckhouse]);
    // Back to Unmanaged moves image references again.
    assert_eq!(
        restarts(&sample(Direct), &sample(Unmanaged), &f),
        [Deckhouse, AllPlatformComponents]
    );
    // Unmanaged to Unmanaged: credentials alone keep references; a new repository moves them.
    assert_eq!(
        restarts(&sample(Unmanaged), &variant(Unmanaged), &f),
        [Deckhouse]
    );
    let elsewhere = RegistrySettings::Unmanaged {
        upstream: upstream("other.example.com/deckhouse/ee"),
    };
    assert_eq!(
        restarts(&sample(Unmanaged), &elsewhere, &f),
        [Deckhouse, AllPlatformComponents]
    );
    // Legacy with a known registry to configurable Unmanaged on the same repository.
    let legacy = RegistrySettings::UnmanagedLegacy {
        upstream: Some(upstream("harbor.example.com/deckhouse/ee")),
    };
    assert_eq!(
        restarts(&legacy, &sample(Unmanaged), &f),
        [Deckhouse, ContainerdV1]
    );
    // Leaving for legacy changes nothing that runs.
    assert!(restarts(&sample(Unmanaged), &sample(UnmanagedLegacy), &f).is_empty());
}

#[test]
fn routes_are_the_shortest_legal_ones() {
    let f = facts(|_| {});
    let route = |from, to, f: &ClusterFacts| refused(plan(&sample(from), &sample(to), f)).route;
    assert_eq!(route(Local, Proxy, &f), [Local, Direct, Proxy]);
    assert_eq!(route(Proxy, Local, &f), [Proxy, Direct, Local]);
    assert_eq!(
        route(Direct, UnmanagedLegacy, &f),
        [Direct, Unmanaged, UnmanagedLegacy]
    );
    assert_eq!(
        route(Local, UnmanagedLegacy, &f),
        [Local, Unmanaged, UnmanagedLegacy]
    );
    assert_eq!(
        route(Proxy, UnmanagedLegacy, &f),
        [Proxy, Unmanaged, UnmanagedLegacy]
    );
    // No route when the target itself is out of reach or every step is blocked.
    let cloud = facts(|f| f.cluster_type = ClusterType::Cloud);
    assert!(route(Local, Proxy, &cloud).is_empty());
    let booting = facts(|f| f.bootstrapped = false);
    assert!(route(Local, Proxy, &booting).is_empty());
    let custom = facts(|f| f.nodes[0].custom_registry_config = true);
    assert!(route(UnmanagedLegacy, Direct, &custom).is_empty());
}

#[test]
fn warnings_say_what_to_expect() {
    let f = facts(|_| {});
    let local = allowed(plan(&sample(Direct), &sample(Local), &f));
    assert!(
        local.warnings.iter().any(|w| w.contains("d8 mirror push")),
        "{:?}",
        local.warnings
    );
    assert!(local.warnings.iter().any(|w| w.contains("etcd")));
    let no_masters = facts(|f| f.nodes.retain(|n| n.role == NodeRole::Worker));
    let proxy = allowed(plan(&sample(Direct), &sample(Proxy), &no_masters));
    assert!(
        proxy.warnings.iter().any(|w| w.contains("no master")),
        "{:?}",
        proxy.warnings
    );
    let first = allowed(plan(&sample(UnmanagedLegacy), &sample(Direct), &f));
    assert!(
        first
            .warnings
            .iter()
            .any(|w| w.contains("master-0") && w.contains("containerd"))
    );
}

#[test]
fn invalid_settings_refuse_with_every_problem() {
    let problems = Problems(vec![
        Problem {
            path: "spec.settings.registry.mode".into(),
            code: ProblemCode::InvalidEnum,
            message: "bad".into(),
        },
        Problem {
            path: "spec.settings.registry.x".into(),
            code: ProblemCode::UnknownField,
            message: "bad".into(),
        },
    ]);
    let current = sample(Direct);
    let r = refused(decide(
        Ok(&current),
        Err(&problems),
        &ClusterFacts::default(),
    ));
    assert_eq!((r.from, r.to), (Some(Direct), None));
    assert_eq!(r.reasons.len(), 2);
    assert!(
        r.reasons
            .iter()
            .all(|x| x.code == RefusalCode::InvalidSettings
                && x.message.starts_with("desired settings: "))
    );
    assert!(r.route.is_empty());
}

#[test]
fn decisions_have_the_documented_json_shape() {
    let f = facts(|_| {});
    let ok = serde_json::to_value(plan(&sample(Direct), &sample(Proxy), &f)).unwrap();
    assert_eq!(ok["allowed"], true);
    assert_eq!(
        (ok["from"].as_str(), ok["to"].as_str()),
        (Some("Direct"), Some("Proxy"))
    );
    assert_eq!(ok["stages"][0], "RegistryContainsRequiredImages");
    assert_eq!(ok["restarts"], json!(["Deckhouse"]));
    assert!(ok["warnings"].is_array() && ok.get("reasons").is_none());

    let no = serde_json::to_value(plan(&sample(Local), &sample(Proxy), &f)).unwrap();
    assert_eq!(no["allowed"], false);
    assert_eq!(no["reasons"][0]["code"], "TransitionNotSupported");
    assert!(no["reasons"][0]["message"].is_string());
    assert_eq!(no["route"], json!(["Local", "Direct", "Proxy"]));
    assert!(no.get("stages").is_none());

    for d in [ok, no] {
        let back: Decision = serde_json::from_value(d.clone()).unwrap();
        assert_eq!(serde_json::to_value(back).unwrap(), d);
    }
}

#[test]
fn cluster_facts_file_defaults_and_errors() {
    let f = ClusterFacts::load(
        b"nodes:\n  - name: a\n    role: worker\n  - {name: b, cri: ContainerdV2, ip: 10.0.0.2}\n",
    )
    .unwrap();
    assert_eq!(f.cluster_type, ClusterType::Static);
    assert!(f.bootstrapped);
    assert_eq!(f.nodes[0].cri, Cri::Containerd);
    assert_eq!(f.nodes[1].role, NodeRole::Master);
    assert_eq!(f.masters().count(), 1);

    let err = |s: &str| ClusterFacts::load(s.as_bytes()).unwrap_err().to_string();
    assert!(
        err("clusterType: Hybrid").starts_with("clusterType"),
        "{}",
        err("clusterType: Hybrid")
    );
    assert!(err("nodes: [{name: a, ip: 300.1.1.1}]").starts_with("nodes[0].ip"));
    assert!(err("nodes: [{name: a}, {name: a}]").contains("twice"));
    assert!(err("bootstraped: true").contains("bootstraped"));
    assert!(err("nodes: [{role: master}]").contains("name"));
}
