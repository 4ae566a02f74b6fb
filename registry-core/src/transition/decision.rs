//! The outcome of a switch request: a plan, or a refusal with its reasons and a legal route.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::settings::Mode;

/// A stage of a switch: the name of the orchestrator condition that tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Stage {
    /// The target registry holds the images the cluster runs.
    RegistryContainsRequiredImages,
    /// No node has registry settings of its own that would conflict.
    ContainerdConfigPreflightReady,
    /// The registry static pods run on every master with the expected configuration.
    NodeServicesReady,
    /// Every node has the transition containerd configuration (old and new mirrors).
    TransitionContainerdConfigReady,
    /// The in-cluster proxy runs with the new upstream.
    InClusterProxyReady,
    /// The `deckhouse-registry` secret points at the new registry and deckhouse runs with it.
    DeckhouseRegistrySwitchReady,
    /// Every node has the final containerd configuration (new mirrors only).
    FinalContainerdConfigReady,
    /// The registry static pods are removed.
    CleanupNodeServices,
    /// The in-cluster proxy is removed.
    CleanupInClusterProxy,
    /// The module hands the registry back to the legacy (non-configurable) rendering.
    FinalizeUnmanagedTransition,
}

/// A component that restarts during a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Restart {
    /// deckhouse itself (any change of registry parameters).
    Deckhouse,
    /// Every platform component, because image references change.
    AllPlatformComponents,
    /// containerd 1.x on its nodes (config.toml moves from inline mirrors to `registry.d`).
    ContainerdV1,
}

/// Why a switch is refused. The names are a stable contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum RefusalCode {
    /// Registry settings cannot change before bootstrap is complete.
    BootstrapInProgress,
    /// The cluster is being bootstrapped, and the mode is not one a bootstrap may use.
    ModeNotAllowedAtBootstrap,
    /// Local and Proxy do not switch into each other directly.
    TransitionNotSupported,
    /// Legacy Unmanaged is reachable only from Unmanaged.
    LegacyUnmanagedOnlyFromUnmanaged,
    /// Local and Proxy need a static cluster.
    ClusterNotStatic,
    /// The module does not work on managed Kubernetes.
    ManagedKubernetes,
    /// A node runs a runtime other than containerd 1.x or 2.x.
    UnsupportedCri,
    /// Nodes still carry registry sections in conf.d / conf2.d.
    UserRegistryConfigNotMigrated,
    /// The current or desired settings are invalid.
    InvalidSettings,
}

/// One reason a switch is refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reason {
    /// The stable kind of the reason.
    pub code: RefusalCode,
    /// What blocks the switch and what to do, for people.
    pub message: String,
}

/// An allowed switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The current mode.
    pub from: Mode,
    /// The desired mode.
    pub to: Mode,
    /// The stages the switch goes through, in order (empty when nothing changes).
    pub stages: Vec<Stage>,
    /// What restarts.
    pub restarts: Vec<Restart>,
    /// Things to know before switching.
    pub warnings: Vec<String>,
}

/// A refused switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The current mode, when the current settings are valid.
    pub from: Option<Mode>,
    /// The desired mode, when the desired settings are valid.
    pub to: Option<Mode>,
    /// Every reason, in a fixed order.
    pub reasons: Vec<Reason>,
    /// The shortest sequence of modes, starting with the current one and ending with the
    /// desired one, whose every step is allowed now; empty when no such route exists.
    pub route: Vec<Mode>,
}

/// The answer to a switch request.
///
/// JSON: `{"allowed":true,"from":…,"to":…,"stages":[…],"restarts":[…],"warnings":[…]}` or
/// `{"allowed":false,"from":…,"to":…,"reasons":[{"code":…,"message":…}],"route":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The switch may go ahead.
    Allowed(Plan),
    /// The switch is refused.
    Refused(Refusal),
}

impl Decision {
    /// Whether the switch is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }
}

/// The answer to a switch request: allowed (with `from`, `to`, `stages`, `restarts`,
/// `warnings`) or refused (with `from`/`to` when that side is valid, `reasons`, `route`).
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Decision")]
struct Wire {
    /// Whether the switch is allowed.
    allowed: bool,
    /// The current mode (absent on a refusal whose current settings are invalid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<Mode>,
    /// The desired mode (absent on a refusal whose desired settings are invalid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<Mode>,
    /// Allowed: the condition pipeline, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stages: Option<Vec<Stage>>,
    /// Allowed: what restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    restarts: Option<Vec<Restart>>,
    /// Allowed: things to know before switching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    warnings: Option<Vec<String>>,
    /// Refused: every reason, in a fixed order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reasons: Option<Vec<Reason>>,
    /// Refused: the shortest legal route (empty when there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    route: Option<Vec<Mode>>,
}

impl schemars::JsonSchema for Decision {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        Wire::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Wire::json_schema(generator)
    }
}

impl Serialize for Decision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let wire = match self.clone() {
            Decision::Allowed(p) => Wire {
                allowed: true,
                from: Some(p.from),
                to: Some(p.to),
                stages: Some(p.stages),
                restarts: Some(p.restarts),
                warnings: Some(p.warnings),
                reasons: None,
                route: None,
            },
            Decision::Refused(r) => Wire {
                allowed: false,
                from: r.from,
                to: r.to,
                stages: None,
                restarts: None,
                warnings: None,
                reasons: Some(r.reasons),
                route: Some(r.route),
            },
        };
        wire.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Decision {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let w = Wire::deserialize(d)?;
        if w.allowed {
            if w.reasons.is_some() || w.route.is_some() {
                return Err(D::Error::custom(
                    "an allowed decision has no reasons or route",
                ));
            }
            Ok(Decision::Allowed(Plan {
                from: w.from.ok_or_else(|| D::Error::missing_field("from"))?,
                to: w.to.ok_or_else(|| D::Error::missing_field("to"))?,
                stages: w.stages.unwrap_or_default(),
                restarts: w.restarts.unwrap_or_default(),
                warnings: w.warnings.unwrap_or_default(),
            }))
        } else {
            if w.stages.is_some() || w.restarts.is_some() || w.warnings.is_some() {
                return Err(D::Error::custom(
                    "a refused decision has no stages, restarts or warnings",
                ));
            }
            Ok(Decision::Refused(Refusal {
                from: w.from,
                to: w.to,
                reasons: w
                    .reasons
                    .ok_or_else(|| D::Error::missing_field("reasons"))?,
                route: w.route.unwrap_or_default(),
            }))
        }
    }
}

/// A route as people read it: `Local → Direct → Proxy`.
pub struct RouteDisplay<'a>(pub &'a [Mode]);

impl fmt::Display for RouteDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" → ")?;
            }
            write!(f, "{m}")?;
        }
        Ok(())
    }
}
