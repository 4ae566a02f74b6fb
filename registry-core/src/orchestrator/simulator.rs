//! A simulated cluster that answers the orchestrator's outputs the way a real one would, for
//! tests, demos and `registryctl simulate`: nodes adopt a new bashible config one step after it
//! is published (one node lags two more), registry pods come up Ready one step after their
//! configuration is written and go away one step after it is deleted, the checker reports
//! progress and then finishes, deckhouse picks up a new `deckhouse-registry` and restarts.

use std::collections::BTreeMap;

use serde::Serialize;

use super::conditions::Status;
use super::inputs::{CheckerStatus, Inputs, LeaderPod, NodeStatus, PodStatus};
use super::pipeline::reconcile;
use super::secrets::RegistrySecret;
use super::state::State;
use super::step::{Output, Step};
use super::{Env, ReconcileError};
use crate::facts::ClusterFacts;
use crate::settings::{Mode, RegistrySettings};

/// Steps after which a simulation gives up.
pub const MAX_STEPS: usize = 60;

/// One line of the timeline: a condition after a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineCondition {
    /// The condition type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `True` or `False`.
    pub status: Status,
    /// Its message.
    pub message: String,
}

/// What the orchestrator reported after one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    /// 1-based step number.
    pub step: usize,
    /// The mode after the step.
    pub mode: Mode,
    /// The target mode.
    pub target: Mode,
    /// Ready or not.
    pub ready: bool,
    /// The Ready message.
    pub message: String,
    /// Every condition other than Ready, in order.
    pub conditions: Vec<TimelineCondition>,
}

/// A cluster that reacts to steps.
#[derive(Debug, Clone)]
pub struct SimulatedCluster {
    /// What the orchestrator observes next.
    pub inputs: Inputs,
    /// The node that adopts configurations two steps later than the others.
    pub lagging: Option<String>,
    /// Per node: (version, steps left) of a configuration it has not applied yet.
    pending: BTreeMap<String, (String, u32)>,
    checker_seen: Option<String>,
    leader_pending: Option<String>,
}

impl SimulatedCluster {
    /// A healthy cluster: every node Ready with the default containerd configuration; the
    /// current `deckhouse-registry` is `registry_secret`. The last node lags.
    pub fn new(cluster: ClusterFacts, registry_secret: Option<RegistrySecret>) -> Self {
        let nodes = cluster
            .nodes
            .iter()
            .map(|n| {
                let status = NodeStatus {
                    ready: true,
                    registry_version: None,
                    containerd_config_registry: Some("default".into()),
                };
                (n.name.clone(), status)
            })
            .collect();
        let lagging = cluster.nodes.last().map(|n| n.name.clone());
        let leader = registry_secret.as_ref().map(|s| LeaderPod {
            ready: true,
            registry_version: Some(s.hash()),
        });
        SimulatedCluster {
            inputs: Inputs {
                settings: None,
                cluster,
                nodes,
                bashible_config_exists: false,
                node_services_pods: BTreeMap::new(),
                in_cluster_proxy: None,
                checker: None,
                deckhouse_leader: leader,
                init_secret: None,
                registry_secret,
                user_secrets: BTreeMap::new(),
            },
            lagging,
            pending: BTreeMap::new(),
            checker_seen: None,
            leader_pending: None,
        }
    }

    /// Lets the cluster react to a step's outputs, as it would before the next reconcile.
    pub fn react(&mut self, step: &Step) {
        self.advance_nodes();
        match &step.outputs.bashible_config {
            Output::Write(c) => {
                self.inputs.bashible_config_exists = true;
                for node in &self.inputs.cluster.nodes {
                    let applied = self
                        .inputs
                        .nodes
                        .get(&node.name)
                        .and_then(|n| n.registry_version.clone());
                    let queued = self.pending.get(&node.name).map(|(v, _)| v.clone());
                    if applied.as_deref() != Some(c.version.as_str())
                        && queued.as_deref() != Some(c.version.as_str())
                    {
                        let delay = if self.lagging.as_deref() == Some(node.name.as_str()) {
                            3
                        } else {
                            1
                        };
                        self.pending
                            .insert(node.name.clone(), (c.version.clone(), delay));
                    }
                }
            }
            Output::Delete => self.inputs.bashible_config_exists = false,
            Output::Keep => {}
        }
        self.inputs.node_services_pods = match &step.outputs.node_services {
            Output::Write(nodes) => nodes
                .iter()
                .map(|(name, v)| {
                    (
                        name.clone(),
                        PodStatus {
                            ready: true,
                            config_version: v.version.clone(),
                        },
                    )
                })
                .collect(),
            Output::Delete => BTreeMap::new(),
            Output::Keep => std::mem::take(&mut self.inputs.node_services_pods),
        };
        match &step.outputs.in_cluster_proxy {
            Output::Write(v) => {
                self.inputs.in_cluster_proxy = Some(PodStatus {
                    ready: true,
                    config_version: v.version.clone(),
                })
            }
            Output::Delete => self.inputs.in_cluster_proxy = None,
            Output::Keep => {}
        }
        match &step.outputs.checker {
            Output::Write(params) => {
                let done = self.checker_seen.as_deref() == Some(params.version.as_str());
                let queues: Vec<String> = params.registries.keys().cloned().collect();
                let message = format!(
                    "Mode: {:?}\n{}",
                    params.check_mode,
                    queues
                        .iter()
                        .map(|q| if done {
                            format!("{q}: all 12 items are checked")
                        } else {
                            format!("{q}: 5 of 12 items processed")
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                self.inputs.checker = Some(CheckerStatus {
                    version: params.version.clone(),
                    ready: done,
                    message,
                });
                self.checker_seen = Some(params.version.clone());
            }
            Output::Delete => {
                self.inputs.checker = None;
                self.checker_seen = None;
            }
            Output::Keep => {}
        }
        self.advance_leader();
        if let Output::Write(out) = &step.outputs.deckhouse_registry
            && self.inputs.registry_secret.as_ref() != Some(&out.secret)
        {
            self.inputs.registry_secret = Some(out.secret.clone());
            self.leader_pending = Some(out.hash.clone());
        }
    }

    fn advance_nodes(&mut self) {
        let mut done = Vec::new();
        for (node, (version, left)) in &mut self.pending {
            *left -= 1;
            if *left == 0 {
                done.push((node.clone(), version.clone()));
            }
        }
        for (node, version) in done {
            self.pending.remove(&node);
            if let Some(n) = self.inputs.nodes.get_mut(&node) {
                n.registry_version = Some(version);
            }
        }
    }

    /// deckhouse restarts with the new secret: first the annotation moves (pod not Ready), then
    /// the pod becomes Ready.
    fn advance_leader(&mut self) {
        match (
            &mut self.inputs.deckhouse_leader,
            self.leader_pending.take(),
        ) {
            (Some(p), Some(hash)) => {
                p.registry_version = Some(hash);
                p.ready = false;
            }
            (Some(p), None) => p.ready = true,
            (None, Some(hash)) => {
                self.inputs.deckhouse_leader = Some(LeaderPod {
                    ready: false,
                    registry_version: Some(hash),
                })
            }
            (None, None) => {}
        }
    }
}

/// One recorded step of a simulation: the step and what the cluster looked like before it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// What the orchestrator saw.
    pub inputs: Inputs,
    /// What it returned.
    pub step: Step,
}

/// Drives `state` to `desired` against `cluster` until Ready, a refusal, or [`MAX_STEPS`];
/// returns every step.
///
/// # Errors
/// A step failed.
pub fn drive(
    state: State,
    desired: &RegistrySettings,
    cluster: &mut SimulatedCluster,
    env: &mut Env,
) -> Result<(State, Vec<Recorded>), ReconcileError> {
    cluster.inputs.settings = Some(desired.clone());
    let mut state = state;
    let mut steps = Vec::new();
    for _ in 0..MAX_STEPS {
        let inputs = cluster.inputs.clone();
        let step = reconcile(&state, &inputs, env)?;
        cluster.react(&step);
        env.set_now(env.now().plus(30));
        state = step.state.clone();
        let refused = step.condition(super::ERR_TRANSITION).is_some();
        let ready = step.ready;
        steps.push(Recorded { inputs, step });
        if ready || refused {
            break;
        }
    }
    Ok((state, steps))
}

/// A timeline entry for a step.
pub fn timeline_entry(n: usize, step: &Step) -> TimelineEntry {
    TimelineEntry {
        step: n,
        mode: step.state.mode.unwrap_or(Mode::Unmanaged),
        target: step.state.target_mode.unwrap_or(Mode::Unmanaged),
        ready: step.ready,
        message: step.message.clone(),
        conditions: step
            .conditions()
            .iter()
            .filter(|c| c.kind != super::READY)
            .map(|c| TimelineCondition {
                kind: c.kind.clone(),
                status: c.status,
                message: c.message.clone(),
            })
            .collect(),
    }
}

/// Brings a simulated cluster into `from` (silently, from the legacy registry `from`'s
/// upstream names, or the default one), then switches it to `to`; returns the timeline of the
/// switch.
///
/// # Errors
/// A step failed.
pub fn simulate(
    from: &RegistrySettings,
    to: &RegistrySettings,
    facts: ClusterFacts,
    env: &mut Env,
) -> Result<Vec<TimelineEntry>, ReconcileError> {
    let (_, steps) = simulate_steps(from, to, facts, env)?;
    Ok(timeline(&steps))
}

/// The timeline of recorded steps (what [`simulate`] returns for the steps of
/// [`simulate_steps`]).
pub fn timeline(steps: &[Recorded]) -> Vec<TimelineEntry> {
    steps
        .iter()
        .enumerate()
        .map(|(i, r)| timeline_entry(i + 1, &r.step))
        .collect()
}

/// Like [`simulate`], returning the state reached in `from` and every recorded step of the switch.
///
/// # Errors
/// A step failed.
pub fn simulate_steps(
    from: &RegistrySettings,
    to: &RegistrySettings,
    facts: ClusterFacts,
    env: &mut Env,
) -> Result<(State, Vec<Recorded>), ReconcileError> {
    let legacy = from
        .upstream()
        .or(to.upstream())
        .cloned()
        .or_else(default_upstream);
    let secret = legacy.as_ref().map(RegistrySecret::unmanaged);
    let mut cluster = SimulatedCluster::new(facts, secret);
    let (state, _) = drive(State::default(), from, &mut cluster, env)?;
    let start = state.clone();
    let (_, steps) = drive(state, to, &mut cluster, env)?;
    Ok((start, steps))
}

fn default_upstream() -> Option<crate::settings::Upstream> {
    crate::settings::Upstream::from_images_repo(
        crate::settings::DEFAULT_IMAGES_REPO,
        crate::settings::Scheme::Https,
    )
    .ok()
}
