//! Conditions of the registry module (DOMAIN.md §6.2): the supported set, updates that keep
//! `lastTransitionTime` unless the status changes, and pruning of anything unsupported.

use serde::{Deserialize, Serialize};

use super::time::Timestamp;
use crate::transition::Stage;

/// The condition types the module reports; anything else found in the state is dropped.
pub const SUPPORTED: [&str; 11] = [
    "Ready",
    "RegistryContainsRequiredImages",
    "ContainerdConfigPreflightReady",
    "NodeServicesReady",
    "InClusterProxyReady",
    "TransitionContainerdConfigReady",
    "DeckhouseRegistrySwitchReady",
    "FinalContainerdConfigReady",
    "CleanupNodeServices",
    "CleanupInClusterProxy",
    "ErrTransitionNotSupported",
];

/// `FinalizeUnmanagedTransition` is a stage, and its condition is reported too.
const FINALIZE: &str = "FinalizeUnmanagedTransition";

/// The `Ready` condition's type.
pub const READY: &str = "Ready";
/// The condition of a refused switch.
pub const ERR_TRANSITION: &str = "ErrTransitionNotSupported";

/// Whether a condition type belongs to the supported set.
pub fn is_supported(kind: &str) -> bool {
    SUPPORTED.contains(&kind) || kind == FINALIZE
}

/// The condition type of a stage (its name).
pub fn stage_type(stage: Stage) -> &'static str {
    match stage {
        Stage::RegistryContainsRequiredImages => "RegistryContainsRequiredImages",
        Stage::ContainerdConfigPreflightReady => "ContainerdConfigPreflightReady",
        Stage::NodeServicesReady => "NodeServicesReady",
        Stage::TransitionContainerdConfigReady => "TransitionContainerdConfigReady",
        Stage::InClusterProxyReady => "InClusterProxyReady",
        Stage::DeckhouseRegistrySwitchReady => "DeckhouseRegistrySwitchReady",
        Stage::FinalContainerdConfigReady => "FinalContainerdConfigReady",
        Stage::CleanupNodeServices => "CleanupNodeServices",
        Stage::CleanupInClusterProxy => "CleanupInClusterProxy",
        Stage::FinalizeUnmanagedTransition => FINALIZE,
    }
}

/// `True` or `False`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "ConditionStatus")]
pub enum Status {
    /// The condition holds.
    True,
    /// The condition does not hold (yet).
    False,
}

/// Why a condition has its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "ConditionReason")]
pub enum Reason {
    /// Done.
    Ready,
    /// In progress.
    Processing,
    /// Failed; needs a person.
    Error,
}

/// One condition, as `metav1.Condition` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition type (one of [`SUPPORTED`]).
    #[serde(rename = "type")]
    pub kind: String,
    /// `True` or `False`.
    pub status: Status,
    /// Why.
    pub reason: Reason,
    /// For people; never holds a secret.
    #[serde(default)]
    pub message: String,
    /// When the status last changed.
    pub last_transition_time: Timestamp,
}

/// Sets a condition by type: the time is kept unless the status changes; new types go last.
pub(crate) fn set(
    conditions: &mut Vec<Condition>,
    kind: &str,
    status: Status,
    reason: Reason,
    message: String,
    now: Timestamp,
) {
    match conditions.iter_mut().find(|c| c.kind == kind) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now;
            }
            c.status = status;
            c.reason = reason;
            c.message = message;
        }
        None => conditions.push(Condition {
            kind: kind.to_owned(),
            status,
            reason,
            message,
            last_transition_time: now,
        }),
    }
}

/// Drops a condition by type.
pub(crate) fn remove(conditions: &mut Vec<Condition>, kind: &str) {
    conditions.retain(|c| c.kind != kind);
}

/// Drops every condition outside the supported set.
pub(crate) fn prune(conditions: &mut Vec<Condition>) {
    conditions.retain(|c| is_supported(&c.kind));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_changes_only_with_the_status() {
        let mut c = Vec::new();
        let (t0, t1, t2) = (
            Timestamp::from_unix(10),
            Timestamp::from_unix(20),
            Timestamp::from_unix(30),
        );
        set(
            &mut c,
            READY,
            Status::False,
            Reason::Processing,
            "a".into(),
            t0,
        );
        set(
            &mut c,
            READY,
            Status::False,
            Reason::Processing,
            "b".into(),
            t1,
        );
        assert_eq!(
            (c[0].last_transition_time, c[0].message.as_str()),
            (t0, "b")
        );
        set(
            &mut c,
            READY,
            Status::True,
            Reason::Ready,
            String::new(),
            t2,
        );
        assert_eq!(c[0].last_transition_time, t2);
        c.push(Condition {
            kind: "Bogus".into(),
            ..c[0].clone()
        });
        prune(&mut c);
        assert_eq!(c.len(), 1);
    }
}
