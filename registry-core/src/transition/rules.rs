//! The switch rules of the seed: which steps between modes are legal under which cluster
//! facts, and the shortest legal route between two modes.
//!
//! The rules (the seed wins over upstream code where they differ):
//! * registry settings change only after bootstrap; a bootstrap uses Direct or an Unmanaged form;
//! * Local and Proxy switch into each other only through Direct or Unmanaged;
//! * legacy Unmanaged is reachable only from Unmanaged (configurable or legacy);
//! * Local and Proxy need a static cluster;
//! * every node runs containerd 1.x or 2.x; managed Kubernetes is not supported;
//! * the first switch out of legacy Unmanaged needs user registry sections migrated out of
//!   conf.d / conf2.d.

use std::collections::VecDeque;

use super::decision::{Reason, RefusalCode};
use crate::facts::{ClusterFacts, ClusterType, NodeFacts};
use crate::settings::Mode;

/// Most node names listed in one message.
const MAX_NODES_IN_MESSAGE: usize = 10;

/// Everything that blocks a change from `from` to `to` (the same mode for a parameter change).
/// `changed` says whether the settings differ at all; an unchanged request is blocked only by
/// the bootstrap mode rule.
pub(crate) fn blockers(from: Mode, to: Mode, changed: bool, facts: &ClusterFacts) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let mut add = |code, message: String| reasons.push(Reason { code, message });
    if !facts.bootstrapped {
        if changed {
            add(
                RefusalCode::BootstrapInProgress,
                "registry settings can change only after the bootstrap phase is complete".into(),
            );
        }
        if !to.allowed_at_bootstrap() {
            add(
                RefusalCode::ModeNotAllowedAtBootstrap,
                format!(
                    "a cluster is bootstrapped only in Direct or Unmanaged mode, not {to}; switch to {to} after bootstrap"
                ),
            );
        }
    }
    if !changed {
        return reasons;
    }
    if from != to {
        match (from, to) {
            (Mode::Local, Mode::Proxy) | (Mode::Proxy, Mode::Local) => add(
                RefusalCode::TransitionNotSupported,
                format!(
                    "{from} cannot switch to {to} directly; switch through Direct or Unmanaged first"
                ),
            ),
            (Mode::Direct | Mode::Proxy | Mode::Local, Mode::UnmanagedLegacy) => add(
                RefusalCode::LegacyUnmanagedOnlyFromUnmanaged,
                format!(
                    "legacy Unmanaged mode is reachable only from Unmanaged; switch {from} to configurable Unmanaged first"
                ),
            ),
            _ => {}
        }
    }
    if to.needs_static_cluster() && facts.cluster_type != ClusterType::Static {
        add(
            RefusalCode::ClusterNotStatic,
            format!("{to} mode is supported only on static clusters; this cluster is Cloud"),
        );
    }
    if facts.managed_kubernetes {
        add(
            RefusalCode::ManagedKubernetes,
            "the registry module does not work on managed Kubernetes".into(),
        );
    }
    let unsupported: Vec<&NodeFacts> = facts
        .nodes
        .iter()
        .filter(|n| !n.cri.is_supported())
        .collect();
    if !unsupported.is_empty() {
        add(
            RefusalCode::UnsupportedCri,
            format!(
                "every node must run containerd or containerd v2; these do not: {}",
                node_list(
                    unsupported
                        .iter()
                        .map(|n| format!("{} ({:?})", n.name, n.cri))
                )
            ),
        );
    }
    if from == Mode::UnmanagedLegacy && to != Mode::UnmanagedLegacy {
        let custom: Vec<&NodeFacts> = facts
            .nodes
            .iter()
            .filter(|n| n.custom_registry_config)
            .collect();
        if !custom.is_empty() {
            add(
                RefusalCode::UserRegistryConfigNotMigrated,
                format!(
                    "the first switch needs user registry settings moved from /etc/containerd/conf.d (conf2.d on \
                     containerd v2) to /etc/containerd/registry.d/<host>/hosts.toml; still there on: {}",
                    node_list(custom.iter().map(|n| n.name.clone()))
                ),
            );
        }
    }
    reasons
}

/// Joins node names, cut after [`MAX_NODES_IN_MESSAGE`].
pub(crate) fn node_list(names: impl Iterator<Item = String>) -> String {
    let names: Vec<String> = names.collect();
    let shown = names
        .iter()
        .take(MAX_NODES_IN_MESSAGE)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match names.len().checked_sub(MAX_NODES_IN_MESSAGE) {
        Some(more) if more > 0 => format!("{shown} and {more} more"),
        _ => shown,
    }
}

/// The order in which neighbours are tried, so ties resolve the same way every time and
/// Direct (the seed's suggested intermediate) comes first.
const SEARCH_ORDER: [Mode; 5] = [
    Mode::Direct,
    Mode::Unmanaged,
    Mode::Proxy,
    Mode::Local,
    Mode::UnmanagedLegacy,
];

/// The shortest route from `from` to `to` whose every step between different modes is allowed
/// now; `[from]` when they are equal, empty when no route exists.
pub(crate) fn shortest_route(from: Mode, to: Mode, facts: &ClusterFacts) -> Vec<Mode> {
    let index = |m: Mode| SEARCH_ORDER.iter().position(|x| *x == m).unwrap_or(0);
    let mut previous: [Option<Mode>; 5] = [None; 5];
    let mut visited = [false; 5];
    visited[index(from)] = true;
    let mut queue = VecDeque::from([from]);
    while let Some(at) = queue.pop_front() {
        if at == to {
            let mut route = vec![to];
            let mut cursor = to;
            while let Some(p) = previous[index(cursor)] {
                route.push(p);
                cursor = p;
            }
            route.reverse();
            return route;
        }
        for next in SEARCH_ORDER {
            if !visited[index(next)] && next != at && blockers(at, next, true, facts).is_empty() {
                visited[index(next)] = true;
                previous[index(next)] = Some(at);
                queue.push_back(next);
            }
        }
    }
    Vec::new()
}
