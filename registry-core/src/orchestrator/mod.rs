//! The orchestrator: automatic mode switching as one pure step function (DOMAIN.md §6–§11).
//!
//! [`reconcile`] takes the persisted [`State`], what the operator observed ([`Inputs`]) and an
//! [`Env`] (clock and random source), and returns a [`Step`]: the new state with its
//! conditions, the Ready summary, and every object to write or delete (the bashible config,
//! `deckhouse-registry`, the registryd configurations, the PKI and user secrets, the checker's
//! parameters, the Service mode, the ingress). The switch rules come from
//! [`crate::transition`], the node configuration from [`crate::containerd::node_config`].
//! Nothing here touches the network or the disk.
//!
//! ```
//! use registry_core::orchestrator::{reconcile, Env, Inputs, State, Timestamp};
//! let inputs: Inputs = serde_json::from_str(r#"{"settings":{"mode":"UnmanagedLegacy"}}"#).unwrap();
//! let mut env = Env::seeded(1, Timestamp::from_unix(1_800_000_000));
//! let step = reconcile(&State::default(), &inputs, &mut env).unwrap();
//! assert!(step.ready);
//! ```

mod bundle_files;
mod checker;
mod conditions;
mod env;
mod feedback;
mod inputs;
mod pipeline;
mod pki;
mod secrets;
mod services;
pub mod simulator;
mod state;
mod step;
mod time;
mod users;

pub use checker::{CheckerParams, CheckerRegistry};
pub use conditions::{
    Condition, ERR_TRANSITION, READY, Reason, SUPPORTED, Status, is_supported, stage_type,
};
pub use env::{BCRYPT_DEFAULT_COST, Env, Memory};
pub use feedback::{MAX_NODES, VERSION_CHARS, cut_version, version_line, waiting_message};
pub use inputs::{CheckerStatus, InitSecret, Inputs, LeaderPod, NodeStatus, PodStatus};
pub use pipeline::reconcile;
pub use pki::{BEFORE_CA_END_SECS, CA_COMMON_NAME, CA_LIFETIME_SECS, PkiError, TOKEN_COMMON_NAME};
pub use secrets::{RegistrySecret, docker_config_json};
pub use services::{
    BundleFile, CONFIG_FILE, IN_CLUSTER_PROXY_DATA, IN_CLUSTER_PROXY_DIR, LOCAL_DATA,
    NODE_SERVICES_DIR, PROXY_DATA, RegistrydBundle, RegistrydConfig, RegistrydUpstream,
    ServiceMode,
};
pub use state::{
    BashibleConfig, BashibleState, CertKey, InClusterProxyState, NodeServicesState, Pki, Secrets,
    State, User, Users, Versioned,
};
pub use step::{
    CONFIG_HASH_ANNOTATION, Output, Outputs, RegistrySecretOutput, RegistryStateData, Step,
};
pub use time::{Timestamp, TimestampError};
pub use users::{HTTP_SECRET_LEN, MIRROR_PULLER, MIRROR_PUSHER, PASSWORD_LEN, RO, RW};

/// Why a step could not be computed. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// The node configuration could not be built (e.g. Proxy without a master IP).
    #[error("node configuration: {0}")]
    NodeConfig(#[from] crate::containerd::RenderError),
    /// A certificate could not be built.
    #[error("PKI: {0}")]
    Pki(#[from] PkiError),
}
