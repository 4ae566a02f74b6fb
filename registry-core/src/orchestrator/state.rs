//! The persisted state of the orchestrator: the `registry-state` secret's `state` document
//! (DOMAIN.md §6.1), with the same JSON names, so it reads and writes the real secret.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::conditions::Condition;
use super::services::{RegistrydBundle, ServiceMode};
use crate::containerd::NodeConfig;
use crate::facts::{ClusterFacts, ReadOnlyUser};
use crate::input::{Limits, ShapeError, read_one};
use crate::settings::{CaBundle, Mode, RegistrySettings, Secret, Upstream};

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CertKey {
    /// The certificate (PEM).
    pub cert: String,
    /// The private key (PEM, PKCS#8).
    pub key: Secret,
}

/// The module's PKI: the CA and the token-signing certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Pki {
    /// The CA (ECDSA P-256, CN `registry-ca`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<CertKey>,
    /// The token certificate (RSA 2048, signed by the CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<CertKey>,
}

/// Generated secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Secrets {
    /// The registry's HTTP secret (25 characters of `[a-zA-Z0-9]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<Secret>,
}

/// A registry user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct User {
    /// The account name.
    pub name: String,
    /// The password.
    pub password: Secret,
    /// bcrypt hash of the password.
    pub password_hash: Secret,
}

/// The module's registry users.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Users {
    /// `ro`: nodes and platform components pull with it (Proxy, Local).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ro: Option<User>,
    /// `rw`: `d8 mirror push` into Local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rw: Option<User>,
    /// `mirror-puller`: masters fetch from each other (Local).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_puller: Option<User>,
    /// `mirror-pusher`: masters push to each other (Local).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_pusher: Option<User>,
}

/// A configuration and its version (the hash the running pods report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Versioned_{T}")]
pub struct Versioned<T> {
    /// Lowercase hex sha256 of the configuration's canonical JSON.
    pub version: String,
    /// The configuration.
    pub config: T,
}

/// The in-cluster proxy (Direct mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InClusterProxyState {
    /// What the proxy runs with.
    pub config: Versioned<RegistrydBundle>,
}

/// The registry on the masters (Proxy, Local).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NodeServicesState {
    /// Whether the registry static pods should run.
    #[serde(default)]
    pub run: bool,
    /// Per master node: its configuration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, Versioned<RegistrydBundle>>,
}

/// The `registry-bashible-config` secret's content: the node configuration and its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BashibleConfig {
    /// [`NodeConfig::version`] of `config`; nodes report it in `registry.deckhouse.io/version`.
    pub version: String,
    /// What containerd on every node is configured with.
    pub config: NodeConfig,
}

impl BashibleConfig {
    /// Wraps a node configuration with its version.
    pub fn new(config: NodeConfig) -> Self {
        BashibleConfig {
            version: config.version(),
            config,
        }
    }
}

/// The node configuration side of the state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BashibleState {
    /// The upstream to return to in Unmanaged (saved by Direct, Proxy and Unmanaged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmanaged_params: Option<Upstream>,
    /// The settings every node has in its final configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_params: Option<RegistrySettings>,
    /// The configuration published in `registry-bashible-config`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BashibleConfig>,
}

/// The orchestrator's persisted state.
///
/// ```
/// use registry_core::orchestrator::State;
/// let s: State = serde_json::from_str(r#"{"mode":"Direct","target_mode":"Proxy","ingress_enabled":false}"#).unwrap();
/// assert_eq!(s.target_mode, Some(registry_core::settings::Mode::Proxy));
/// assert!(serde_json::to_string(&s).unwrap().contains("\"target_mode\":\"Proxy\""));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct State {
    /// The mode the cluster is in (restored as `Unmanaged` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// The mode being switched to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_mode: Option<Mode>,
    /// CA and token certificate.
    #[serde(default)]
    pub pki: Pki,
    /// Generated secrets.
    #[serde(default)]
    pub secrets: Secrets,
    /// Generated users.
    #[serde(default)]
    pub users: Users,
    /// The in-cluster proxy, when it should run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_cluster_proxy: Option<InClusterProxyState>,
    /// The registry on the masters.
    #[serde(default)]
    pub node_services: NodeServicesState,
    /// Whether the Local registry's ingress is on.
    #[serde(default)]
    pub ingress_enabled: bool,
    /// What the `registry` Service points at.
    #[serde(default)]
    pub registry_service: ServiceMode,
    /// Node configuration.
    #[serde(default)]
    pub bashible: BashibleState,
    /// The module's conditions.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

impl State {
    /// `cluster` with this state's module CA and read-only user: the facts the nodes'
    /// containerd configuration is rendered from (what `registryctl render --cluster` takes).
    ///
    /// ```
    /// use registry_core::facts::ClusterFacts;
    /// use registry_core::orchestrator::State;
    /// let facts = State::default().node_facts(&ClusterFacts::default());
    /// assert!(facts.module_ca.is_none() && facts.read_only_user.is_none());
    /// ```
    pub fn node_facts(&self, cluster: &ClusterFacts) -> ClusterFacts {
        let mut facts = cluster.clone();
        facts.module_ca = self
            .pki
            .ca
            .as_ref()
            .and_then(|ca| CaBundle::parse(&ca.cert).ok());
        facts.read_only_user = self.users.ro.as_ref().map(|u| ReadOnlyUser {
            name: u.name.clone(),
            password: u.password.clone(),
        });
        facts
    }

    /// Reads the `state` key of `registry-state`: JSON as [`super::RegistryStateData`] writes
    /// it, or the YAML the upstream hooks wrote, with the core's bounded reader.
    ///
    /// ```
    /// use registry_core::orchestrator::State;
    /// let s = State::parse(b"mode: Direct\ntarget_mode: Proxy\n").unwrap();
    /// assert_eq!(s.target_mode, Some(registry_core::settings::Mode::Proxy));
    /// assert!(State::parse(b"mode: Sideways\n").unwrap_err().to_string().contains("mode"));
    /// ```
    ///
    /// # Errors
    /// [`ShapeError`] naming the field that does not fit.
    pub fn parse(input: &[u8]) -> Result<State, ShapeError> {
        read_one(input, &Limits::default())
    }
}
