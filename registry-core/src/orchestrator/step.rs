//! What a reconcile step returns: the new state (with its conditions), the Ready summary, and
//! every object the operator must write, keep or delete.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::checker::CheckerParams;
use super::conditions::{Condition, READY, Status};
use super::secrets::RegistrySecret;
use super::services::{RegistrydBundle, ServiceMode};
use super::state::{BashibleConfig, Pki, State, User, Versioned};
use crate::settings::{Mode, Secret};

/// The annotation the operator sets to [`Step::config_hash`] on every object it writes in a
/// step (DOMAIN.md §6.1), so an object says which inputs it was made from.
pub const CONFIG_HASH_ANNOTATION: &str = "registry.deckhouse.io/config-hash";

/// The `registry-state` secret's data keys (DOMAIN.md §6.1), as the operator writes them.
/// `state` is JSON, which is YAML, so it reads back with [`State::parse`] (as does the YAML the
/// upstream hooks wrote).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegistryStateData {
    /// `state`: the whole state; it holds keys and passwords.
    pub state: Secret,
    /// `hash`: [`Step::config_hash`].
    pub hash: String,
    /// `conditions`: the conditions as a JSON list.
    pub conditions: String,
    /// `mode`: the mode the cluster is in.
    pub mode: String,
    /// `target_mode`: the mode being switched to (empty when none).
    pub target_mode: String,
}

impl RegistryStateData {
    fn new(state: &State, hash: &str) -> RegistryStateData {
        let name = |m: Option<Mode>| m.map_or("", Mode::as_str).to_owned();
        RegistryStateData {
            state: Secret::new(serde_json::to_string(state).unwrap_or_default()),
            hash: hash.to_owned(),
            conditions: serde_json::to_string(&state.conditions).unwrap_or_default(),
            mode: name(state.mode),
            target_mode: name(state.target_mode),
        }
    }
}

/// What to do with one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", content = "value", rename_all = "lowercase")]
#[schemars(rename = "Output_{T}")]
pub enum Output<T> {
    /// Leave it as it is in the cluster.
    Keep,
    /// Write (create or patch to) this value.
    Write(T),
    /// Delete it if it exists.
    Delete,
}

impl<T> Output<T> {
    /// The value to write, if any.
    pub fn written(&self) -> Option<&T> {
        match self {
            Output::Write(v) => Some(v),
            _ => None,
        }
    }
}

/// The `deckhouse-registry` secret and the hash deckhouse must report for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegistrySecretOutput {
    /// The secret's keys.
    pub secret: RegistrySecret,
    /// [`RegistrySecret::hash`].
    pub hash: String,
}

/// Every object the module owns, and what to do with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outputs {
    /// `registry-bashible-config` (key `config`: the node configuration and its version).
    pub bashible_config: Output<BashibleConfig>,
    /// `deckhouse-registry`.
    pub deckhouse_registry: Output<RegistrySecretOutput>,
    /// Node-services configuration per master (Proxy, Local).
    pub node_services: Output<BTreeMap<String, Versioned<RegistrydBundle>>>,
    /// The in-cluster proxy's configuration (Direct).
    pub in_cluster_proxy: Output<Versioned<RegistrydBundle>>,
    /// `registry-pki` (`ca.crt`, `ca.key`, `token.crt`, `token.key`).
    pub pki: Output<Pki>,
    /// `registry-user-<name>` per user name.
    pub users: BTreeMap<String, Output<User>>,
    /// The image checker's parameters.
    pub checker: Output<CheckerParams>,
    /// What the `registry` Service points at (`Disabled`: no Service).
    pub registry_service: ServiceMode,
    /// Whether the Local registry's ingress exists.
    pub ingress_enabled: bool,
}

/// One reconcile step's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// The state to persist in `registry-state` (conditions included).
    pub state: State,
    /// Whether the module is Ready (the `Ready` condition's status).
    pub ready: bool,
    /// The `Ready` condition's message.
    pub message: String,
    /// What to write and delete.
    pub outputs: Outputs,
    /// sha256 (hex) of the inputs this step was computed from: the `hash` key of
    /// `registry-state` and the value of [`CONFIG_HASH_ANNOTATION`].
    pub config_hash: String,
    /// The `registry-state` secret's data, ready to write.
    pub registry_state: RegistryStateData,
}

impl Step {
    /// The conditions to report.
    pub fn conditions(&self) -> &[Condition] {
        &self.state.conditions
    }

    /// A condition by type.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.state.conditions.iter().find(|c| c.kind == kind)
    }

    pub(crate) fn summarize(state: State, outputs: Outputs, config_hash: String) -> Step {
        let (ready, message) = state
            .conditions
            .iter()
            .find(|c| c.kind == READY)
            .map(|c| (c.status == Status::True, c.message.clone()))
            .unwrap_or_default();
        let registry_state = RegistryStateData::new(&state, &config_hash);
        Step {
            state,
            ready,
            message,
            outputs,
            config_hash,
            registry_state,
        }
    }
}
