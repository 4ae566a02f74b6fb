//! What a reconcile step observes in the cluster: the desired settings, the cluster facts, the
//! nodes' feedback, the registry pods, the checker, the deckhouse leader pod and the secrets
//! the module reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::secrets::RegistrySecret;
use super::state::{CertKey, User};
use crate::facts::ClusterFacts;
use crate::settings::RegistrySettings;

/// A node's feedback to the module.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeStatus {
    /// Whether the node is Ready.
    #[serde(default)]
    pub ready: bool,
    /// The `registry.deckhouse.io/version` annotation: the bashible config version applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_version: Option<String>,
    /// The `node.deckhouse.io/containerd-config-registry` label (`default` or `custom`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containerd_config_registry: Option<String>,
}

/// A registry pod (node services on a master, or the in-cluster proxy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodStatus {
    /// Whether the pod is Ready.
    #[serde(default)]
    pub ready: bool,
    /// The configuration version the pod runs with.
    #[serde(default)]
    pub config_version: String,
}

/// The image checker's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckerStatus {
    /// The parameters version the status is for.
    pub version: String,
    /// Whether every image was found.
    pub ready: bool,
    /// Progress, for people.
    #[serde(default)]
    pub message: String,
}

/// The deckhouse leader pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaderPod {
    /// Whether the pod is Ready.
    #[serde(default)]
    pub ready: bool,
    /// Its `checksum/registry-version` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_version: Option<String>,
}

/// The `registry-init` secret dhctl writes at bootstrap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InitSecret {
    /// The CA to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<CertKey>,
    /// The read-only user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ro_user: Option<User>,
    /// The read-write user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rw_user: Option<User>,
}

/// Everything one reconcile step observes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inputs {
    /// The desired settings (from `registry-config`); `None` when that secret is absent, and
    /// then the step does nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<RegistrySettings>,
    /// The cluster: type, bootstrap, nodes with roles, IPs and runtimes.
    #[serde(default)]
    pub cluster: ClusterFacts,
    /// Per node name: its feedback. A node of the cluster facts missing here has sent none.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeStatus>,
    /// Whether `registry-bashible-config` exists in the cluster.
    #[serde(default)]
    pub bashible_config_exists: bool,
    /// Per master node name: the node-services pod on it.
    #[serde(default)]
    pub node_services_pods: BTreeMap<String, PodStatus>,
    /// The in-cluster proxy's deployment, when it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_cluster_proxy: Option<PodStatus>,
    /// The image checker's status, when it reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checker: Option<CheckerStatus>,
    /// The deckhouse leader pod, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deckhouse_leader: Option<LeaderPod>,
    /// `registry-init`, at bootstrap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_secret: Option<InitSecret>,
    /// The current `deckhouse-registry` secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_secret: Option<RegistrySecret>,
    /// The `registry-user-<name>` secrets, by user name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_secrets: BTreeMap<String, User>,
}

impl Inputs {
    /// sha256 (hex) of the inputs in their wire form: equal inputs, equal hash; any change of
    /// an observation, a setting or a secret changes it.
    ///
    /// ```
    /// use registry_core::orchestrator::Inputs;
    /// let mut inputs = Inputs::default();
    /// let before = inputs.hash();
    /// assert_eq!(before.len(), 64);
    /// inputs.bashible_config_exists = true;
    /// assert_ne!(inputs.hash(), before);
    /// ```
    pub fn hash(&self) -> String {
        crate::containerd::sha256_hex(&serde_json::to_vec(self).unwrap_or_default())
    }
}
