//! Property tests for the switch rules: no input panics, and every suggested route starts at
//! the current mode, ends at the desired one, is made of allowed steps, and is the shortest.
//! The shortest length is found by a breadth-first search that uses `plan` itself as the
//! oracle for single steps, so the property ties routes to the step rules.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

mod common;

use std::collections::{HashMap, VecDeque};

use common::{sample, variant};
use proptest::prelude::*;
use registry_core::facts::{ClusterFacts, ClusterType, Cri, NodeFacts, NodeRole};
use registry_core::settings::Mode;
use registry_core::transition::{Decision, plan};

fn mode() -> impl Strategy<Value = Mode> {
    prop::sample::select(Mode::ALL.to_vec())
}

fn facts() -> impl Strategy<Value = ClusterFacts> {
    let node = (
        prop::sample::select(vec![
            Cri::Containerd,
            Cri::ContainerdV2,
            Cri::Docker,
            Cri::NotManaged,
        ]),
        prop::sample::select(vec![NodeRole::Master, NodeRole::Worker]),
        prop::bool::weighted(0.2),
    );
    (
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.1),
        prop::collection::vec(node, 0..4),
    )
        .prop_map(|(is_static, bootstrapped, managed, nodes)| ClusterFacts {
            cluster_type: if is_static {
                ClusterType::Static
            } else {
                ClusterType::Cloud
            },
            bootstrapped,
            managed_kubernetes: managed,
            nodes: nodes
                .into_iter()
                .enumerate()
                .map(|(i, (cri, role, custom))| NodeFacts {
                    name: format!("node-{i}"),
                    role,
                    ip: None,
                    cri,
                    custom_registry_config: custom,
                })
                .collect(),
            ..ClusterFacts::default()
        })
}

fn step_allowed(a: Mode, b: Mode, facts: &ClusterFacts) -> bool {
    plan(&sample(a), &sample(b), facts).is_allowed()
}

/// Distance from `from` to every mode over allowed single steps.
fn distances(from: Mode, facts: &ClusterFacts) -> HashMap<Mode, usize> {
    let mut dist = HashMap::from([(from, 0)]);
    let mut queue = VecDeque::from([from]);
    while let Some(at) = queue.pop_front() {
        for next in Mode::ALL {
            if next != at && !dist.contains_key(&next) && step_allowed(at, next, facts) {
                dist.insert(next, dist[&at] + 1);
                queue.push_back(next);
            }
        }
    }
    dist
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn routes_are_legal_and_shortest(from in mode(), to in mode(), same_params in any::<bool>(), facts in facts()) {
        let desired = if from == to && !same_params { variant(to) } else { sample(to) };
        match plan(&sample(from), &desired, &facts) {
            Decision::Allowed(p) => {
                prop_assert_eq!((p.from, p.to), (from, to));
                prop_assert_eq!(p.stages.is_empty(), sample(from) == desired || (from == to && from == Mode::UnmanagedLegacy));
            }
            Decision::Refused(r) => {
                prop_assert!(!r.reasons.is_empty());
                let reachable = distances(from, &facts);
                if r.route.is_empty() {
                    prop_assert!(from == to || !reachable.contains_key(&to), "a route exists: {:?}", reachable);
                } else {
                    prop_assert_eq!(r.route.first(), Some(&from));
                    prop_assert_eq!(r.route.last(), Some(&to));
                    for step in r.route.windows(2) {
                        prop_assert!(step_allowed(step[0], step[1], &facts), "step {:?} is refused", step);
                    }
                    prop_assert_eq!(Some(&(r.route.len() - 1)), reachable.get(&to));
                    // Refused means the direct step is not allowed, so any route has a stop between.
                    prop_assert!(r.route.len() >= 3);
                }
            }
        }
    }
}
