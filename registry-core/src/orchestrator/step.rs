//! What a reconcile step returns: the new state (with its conditions), the Ready summary, and
//! every object the operator must write, keep or delete.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::checker::CheckerParams;
use super::conditions::{Condition, READY, Status};
use super::secrets::RegistrySecret;
use super::services::{RegistrydBundle, ServiceMode};
use super::state::{BashibleConfig, Pki, State, User, Versioned};

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

    pub(crate) fn summarize(state: State, outputs: Outputs) -> Step {
        let (ready, message) = state
            .conditions
            .iter()
            .find(|c| c.kind == READY)
            .map(|c| (c.status == Status::True, c.message.clone()))
            .unwrap_or_default();
        Step {
            state,
            ready,
            message,
            outputs,
        }
    }
}
