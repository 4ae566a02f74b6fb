//! Cluster facts: what the library needs to know about the cluster (its type, bootstrap state,
//! nodes and their runtimes, the module's CA and read-only user), read from one YAML or JSON
//! document. Both the switch rules ([`crate::transition`]) and the node configuration
//! ([`crate::containerd`]) take them.

use std::collections::HashSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::input::{DocumentError, Limits, ShapeError, read_one};
use crate::settings::{CaBundle, Secret};

/// How the cluster's nodes are provisioned.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ClusterType {
    /// Nodes managed by hand (bare metal, pre-made VMs).
    #[default]
    Static,
    /// Nodes ordered from a cloud provider.
    Cloud,
}

/// A node's role.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// A control-plane node; runs the registry in Proxy and Local modes.
    #[default]
    Master,
    /// Any other node.
    Worker,
}

/// The container runtime on a node.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum Cri {
    /// containerd 1.x, configured by Deckhouse.
    #[default]
    Containerd,
    /// containerd 2.x, configured by Deckhouse.
    ContainerdV2,
    /// Docker (not supported by the module).
    Docker,
    /// A runtime Deckhouse does not manage (not supported by the module).
    NotManaged,
}

impl Cri {
    /// Whether the module can configure this runtime.
    pub fn is_supported(self) -> bool {
        matches!(self, Cri::Containerd | Cri::ContainerdV2)
    }
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeFacts {
    /// The node's name.
    pub name: String,
    /// Master or worker (default master).
    #[serde(default)]
    pub role: NodeRole,
    /// The node's internal IP address, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// The node's container runtime (default containerd 1.x).
    #[serde(default)]
    pub cri: Cri,
    /// Whether the node has registry sections in `/etc/containerd/conf.d` (v1) or `conf2.d` (v2).
    #[serde(default)]
    pub custom_registry_config: bool,
}

/// What the switch rules need to know about the cluster.
///
/// Every key is optional in the file; the defaults describe a bootstrapped static cluster with
/// one containerd master:
///
/// ```
/// use registry_core::facts::{ClusterFacts, ClusterType};
/// let facts = ClusterFacts::load(b"{}").unwrap();
/// assert_eq!(facts.cluster_type, ClusterType::Static);
/// assert!(facts.bootstrapped && !facts.managed_kubernetes);
/// assert_eq!(facts.nodes[0].name, "master-0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterFacts {
    /// Static or Cloud.
    #[serde(default)]
    pub cluster_type: ClusterType,
    /// Whether the bootstrap phase is complete.
    #[serde(default = "yes")]
    pub bootstrapped: bool,
    /// Whether this is a managed Kubernetes service (not fully managed by Deckhouse).
    #[serde(default)]
    pub managed_kubernetes: bool,
    /// The cluster's nodes.
    #[serde(default = "default_nodes")]
    pub nodes: Vec<NodeFacts>,
    /// The module's CA (PEM), which signs the certificates of the registry on the masters;
    /// needed to render Proxy and Local configuration.
    #[serde(default, rename = "moduleCA", skip_serializing_if = "Option::is_none")]
    pub module_ca: Option<CaBundle>,
    /// The read-only user nodes pull with in Proxy and Local modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_user: Option<ReadOnlyUser>,
}

/// The module's read-only registry user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadOnlyUser {
    /// The account name (`[0-9A-Za-z]`, inner `._-`, at most 255 characters).
    pub name: String,
    /// The password.
    pub password: Secret,
}

fn yes() -> bool {
    true
}

fn default_nodes() -> Vec<NodeFacts> {
    vec![NodeFacts {
        name: "master-0".into(),
        role: NodeRole::Master,
        ip: Some(IpAddr::from([10, 0, 0, 10])),
        cri: Cri::Containerd,
        custom_registry_config: false,
    }]
}

impl Default for ClusterFacts {
    fn default() -> Self {
        ClusterFacts {
            cluster_type: ClusterType::Static,
            bootstrapped: true,
            managed_kubernetes: false,
            nodes: default_nodes(),
            module_ca: None,
            read_only_user: None,
        }
    }
}

/// Why a cluster facts file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    /// Not readable as YAML or JSON.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// Read, but a field is wrong.
    #[error("{path}: {message}")]
    Field {
        /// JSON path of the field.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl From<ShapeError> for FactsError {
    fn from(e: ShapeError) -> Self {
        match e {
            ShapeError::Document(d) => FactsError::Document(d),
            ShapeError::Field { path, message } => FactsError::Field { path, message },
        }
    }
}

impl ClusterFacts {
    /// Reads cluster facts from one YAML or JSON document.
    ///
    /// # Errors
    /// [`FactsError`] naming the field that is wrong, for unknown keys, wrong types, an invalid
    /// IP address or a node name used twice.
    pub fn load(input: &[u8]) -> Result<Self, FactsError> {
        let facts: ClusterFacts = read_one(input, &Limits::default())?;
        facts.check()?;
        Ok(facts)
    }

    fn check(&self) -> Result<(), FactsError> {
        if let Some(user) = &self.read_only_user {
            if !is_account_name(&user.name) {
                return Err(FactsError::Field {
                    path: "readOnlyUser.name".into(),
                    message: "must be 1–255 characters of [0-9A-Za-z._-], starting and ending with a letter or digit".into(),
                });
            }
            if user.password.expose().is_empty()
                || user.password.expose().chars().any(char::is_control)
            {
                return Err(FactsError::Field {
                    path: "readOnlyUser.password".into(),
                    message: "must be non-empty, without control characters".into(),
                });
            }
        }
        let mut names = HashSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let path = format!("nodes[{i}].name");
            if node.name.is_empty() || node.name.chars().any(char::is_control) {
                return Err(FactsError::Field {
                    path,
                    message: "must be a non-empty name without control characters".into(),
                });
            }
            if !names.insert(node.name.as_str()) {
                return Err(FactsError::Field {
                    path,
                    message: format!("node {:?} is listed twice", node.name),
                });
            }
        }
        Ok(())
    }

    /// The master nodes.
    pub fn masters(&self) -> impl Iterator<Item = &NodeFacts> {
        self.nodes.iter().filter(|n| n.role == NodeRole::Master)
    }
}

/// `^[0-9A-Za-z]([0-9A-Za-z._-]*[0-9A-Za-z])?$`, at most 255 characters: the module's account names.
fn is_account_name(name: &str) -> bool {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    name.len() <= 255
        && edge_ok(name.chars().next())
        && edge_ok(name.chars().last())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
