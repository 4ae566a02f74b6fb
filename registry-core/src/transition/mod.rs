//! Switch rules: whether the registry may move from the current settings to the desired ones
//! under the cluster's facts, and if so, through which stages and with which restarts; if not,
//! every reason and the shortest legal route.
//!
//! ```
//! use registry_core::settings::RegistrySettings;
//! use registry_core::facts::ClusterFacts;
//! use registry_core::transition::{plan, Decision};
//! use registry_core::settings::Mode;
//! # use registry_core::settings::{Scheme, Upstream};
//! # let upstream = Upstream::from_images_repo("registry.example.com/deckhouse/ee", Scheme::Https).unwrap();
//! let current = RegistrySettings::Local;
//! let desired = RegistrySettings::Proxy { upstream, ttl: Default::default() };
//! match plan(&current, &desired, &ClusterFacts::default()) {
//!     Decision::Refused(r) => assert_eq!(r.route, [Mode::Local, Mode::Direct, Mode::Proxy]),
//!     Decision::Allowed(_) => unreachable!(),
//! }
//! ```

mod decision;
mod rules;

pub use decision::{Decision, Plan, Reason, Refusal, RefusalCode, Restart, RouteDisplay, Stage};

use crate::facts::{ClusterFacts, Cri};
use crate::settings::{CheckMode, Mode, Problems, RegistrySettings};

/// Decides a switch from `current` to `desired` settings under `facts`.
pub fn plan(
    current: &RegistrySettings,
    desired: &RegistrySettings,
    facts: &ClusterFacts,
) -> Decision {
    let (from, to) = (current.mode(), desired.mode());
    let changed = is_change(current, desired);
    let reasons = rules::blockers(from, to, changed, facts);
    if !reasons.is_empty() {
        let route = if changed && from != to {
            rules::shortest_route(from, to, facts)
        } else {
            Vec::new()
        };
        return Decision::Refused(Refusal {
            from: Some(from),
            to: Some(to),
            reasons,
            route,
        });
    }
    if !changed {
        return Decision::Allowed(Plan {
            from,
            to,
            stages: Vec::new(),
            restarts: Vec::new(),
            warnings: vec!["the registry settings do not change; nothing to do".into()],
        });
    }
    Decision::Allowed(Plan {
        from,
        to,
        stages: stages(from, to),
        restarts: restarts(current, desired, facts),
        warnings: warnings(current, desired, facts),
    })
}

/// Like [`plan`], for settings that may have failed validation: invalid settings refuse the
/// switch with one `InvalidSettings` reason per problem, naming which side it is on.
pub fn decide(
    current: Result<&RegistrySettings, &Problems>,
    desired: Result<&RegistrySettings, &Problems>,
    facts: &ClusterFacts,
) -> Decision {
    match (current, desired) {
        (Ok(c), Ok(d)) => plan(c, d, facts),
        (c, d) => {
            let mut reasons = Vec::new();
            for (side, result) in [("current", &c), ("desired", &d)] {
                if let Err(problems) = result {
                    reasons.extend(problems.0.iter().map(|p| Reason {
                        code: RefusalCode::InvalidSettings,
                        message: format!("{side} settings: {p}"),
                    }));
                }
            }
            Decision::Refused(Refusal {
                from: c.ok().map(RegistrySettings::mode),
                to: d.ok().map(RegistrySettings::mode),
                reasons,
                route: Vec::new(),
            })
        }
    }
}

/// The condition pipeline of a switch from `from` to `to` (DOMAIN.md §6.3), the same list an
/// allowed [`plan`] carries; the orchestrator asks for it again when it resumes a switch whose
/// settings have already reached the nodes, or initializes a bootstrapped cluster.
///
/// ```
/// use registry_core::settings::Mode;
/// use registry_core::transition::{pipeline, Stage};
/// assert_eq!(pipeline(Mode::Direct, Mode::Proxy)[2], Stage::NodeServicesReady);
/// assert!(pipeline(Mode::UnmanagedLegacy, Mode::UnmanagedLegacy).is_empty());
/// ```
pub fn pipeline(from: Mode, to: Mode) -> Vec<Stage> {
    stages(from, to)
}

/// Legacy settings are not managed by the module, so two legacy settings never make a change.
fn is_change(current: &RegistrySettings, desired: &RegistrySettings) -> bool {
    current != desired
        && !(current.mode() == Mode::UnmanagedLegacy && desired.mode() == Mode::UnmanagedLegacy)
}

/// The orchestrator's pipeline for the target mode (DOMAIN.md §6.3).
fn stages(from: Mode, to: Mode) -> Vec<Stage> {
    use Stage::*;
    match to {
        Mode::Direct => vec![
            RegistryContainsRequiredImages,
            ContainerdConfigPreflightReady,
            TransitionContainerdConfigReady,
            InClusterProxyReady,
            DeckhouseRegistrySwitchReady,
            FinalContainerdConfigReady,
            CleanupNodeServices,
        ],
        Mode::Proxy => vec![
            RegistryContainsRequiredImages,
            ContainerdConfigPreflightReady,
            NodeServicesReady,
            TransitionContainerdConfigReady,
            DeckhouseRegistrySwitchReady,
            FinalContainerdConfigReady,
            CleanupInClusterProxy,
        ],
        Mode::Local => vec![
            ContainerdConfigPreflightReady,
            NodeServicesReady,
            RegistryContainsRequiredImages,
            TransitionContainerdConfigReady,
            DeckhouseRegistrySwitchReady,
            FinalContainerdConfigReady,
            CleanupInClusterProxy,
        ],
        Mode::Unmanaged => vec![
            RegistryContainsRequiredImages,
            ContainerdConfigPreflightReady,
            TransitionContainerdConfigReady,
            DeckhouseRegistrySwitchReady,
            FinalContainerdConfigReady,
            CleanupNodeServices,
            CleanupInClusterProxy,
        ],
        Mode::UnmanagedLegacy if from == Mode::UnmanagedLegacy => Vec::new(),
        Mode::UnmanagedLegacy => vec![
            FinalizeUnmanagedTransition,
            CleanupNodeServices,
            CleanupInClusterProxy,
        ],
    }
}

/// What restarts: deckhouse when its registry changes, every component when image references
/// change, containerd 1.x on the first switch out of legacy Unmanaged.
fn restarts(
    current: &RegistrySettings,
    desired: &RegistrySettings,
    facts: &ClusterFacts,
) -> Vec<Restart> {
    let mut restarts = Vec::new();
    if desired.mode() != Mode::UnmanagedLegacy {
        restarts.push(Restart::Deckhouse);
    }
    if images_base_changes(current, desired) {
        restarts.push(Restart::AllPlatformComponents);
    }
    if first_switch(current, desired) && facts.nodes.iter().any(|n| n.cri == Cri::Containerd) {
        restarts.push(Restart::ContainerdV1);
    }
    restarts
}

/// Whether image references move: always between a managed and an unmanaged mode; between two
/// unmanaged modes when the repository changes. An unknown legacy registry counts as a move (the
/// worst case), with a warning.
fn images_base_changes(current: &RegistrySettings, desired: &RegistrySettings) -> bool {
    if desired.mode() == Mode::UnmanagedLegacy {
        return false;
    }
    if current.mode().is_managed() != desired.mode().is_managed() {
        return true;
    }
    match (current.images_base(), desired.images_base()) {
        (Some(a), Some(b)) => a != b,
        _ => true,
    }
}

fn first_switch(current: &RegistrySettings, desired: &RegistrySettings) -> bool {
    current.mode() == Mode::UnmanagedLegacy && desired.mode() != Mode::UnmanagedLegacy
}

fn warnings(
    current: &RegistrySettings,
    desired: &RegistrySettings,
    facts: &ClusterFacts,
) -> Vec<String> {
    let mut w = Vec::new();
    let to = desired.mode();
    if images_base_changes(current, desired) {
        match (current.images_base(), desired.images_base()) {
            (Some(a), Some(b)) => w.push(format!(
                "image references move from {a} to {b}: every platform component restarts and pulls its images again"
            )),
            (None, Some(b)) if current.mode().is_managed() != desired.mode().is_managed() => w.push(format!(
                "image references move from the current registry to {b}: every platform component restarts and \
                 pulls its images again"
            )),
            _ => w.push(
                "the current registry is not named in the input (legacy Unmanaged from ModuleConfig); if it differs \
                 from the new image base, every platform component restarts"
                    .into(),
            ),
        }
    }
    if first_switch(current, desired) {
        let v1: Vec<String> = facts
            .nodes
            .iter()
            .filter(|n| n.cri == Cri::Containerd)
            .map(|n| n.name.clone())
            .collect();
        if !v1.is_empty() {
            w.push(format!(
                "first switch: containerd restarts on containerd v1 nodes as config.toml moves to /etc/containerd/registry.d: {}",
                rules::node_list(v1.into_iter())
            ));
        }
    } else {
        let custom: Vec<String> = facts
            .nodes
            .iter()
            .filter(|n| n.custom_registry_config)
            .map(|n| n.name.clone())
            .collect();
        if !custom.is_empty() && to != Mode::UnmanagedLegacy {
            w.push(format!(
                "nodes with registry sections in conf.d/conf2.d stop bashible while the module manages the registry; move them to registry.d: {}",
                rules::node_list(custom.into_iter())
            ));
        }
    }
    if to.needs_static_cluster() {
        w.push("keep /opt/deckhouse/registry on a disk separate from etcd; registry traffic slows etcd down".into());
        if facts.masters().next().is_none() {
            w.push(format!(
                "the cluster facts list no master node; {to} mode runs its registry on the masters"
            ));
        }
    }
    if to == Mode::Local {
        w.push(
            "RegistryContainsRequiredImages stays False until an image bundle of the running Deckhouse version is \
             pushed into the local registry (d8 mirror pull, then d8 mirror push)"
                .into(),
        );
    }
    if desired
        .upstream()
        .is_some_and(|u| u.check_mode() == CheckMode::Relax)
        && to != Mode::UnmanagedLegacy
    {
        w.push("checkMode Relax: only the deckhouse image is checked in the new registry before the switch".into());
    }
    w
}
