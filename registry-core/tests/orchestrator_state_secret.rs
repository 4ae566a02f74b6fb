//! The `registry-state` secret a step hands the operator (DOMAIN.md §6.1): its data keys
//! `state`, `hash`, `conditions`, `mode`, `target_mode`; the state reads back as it was; the
//! hash follows the inputs and nothing else; secrets stay out of `Debug`.
#![allow(clippy::unwrap_used)]

#[path = "support/orch.rs"]
mod orch;

use registry_core::orchestrator::{CONFIG_HASH_ANNOTATION, Inputs, State, reconcile};
use registry_core::settings::Mode;
use sha2::{Digest as _, Sha256};

fn inputs(mode: Mode) -> Inputs {
    Inputs {
        settings: Some(orch::settings(mode)),
        cluster: orch::cluster(3, 1),
        ..Default::default()
    }
}

#[test]
fn the_state_secret_holds_the_step_and_reads_back() {
    let inputs = inputs(Mode::Proxy);
    let step = reconcile(&State::default(), &inputs, &mut orch::env(1)).unwrap();
    let data = &step.registry_state;
    // `state` is the whole state, and it reads back equal (JSON is YAML).
    assert_eq!(
        State::parse(data.state.expose().as_bytes()).unwrap(),
        step.state
    );
    // The conditions, the mode and the target are their own keys.
    let conditions: serde_json::Value = serde_json::from_str(&data.conditions).unwrap();
    assert_eq!(
        conditions,
        serde_json::to_value(&step.state.conditions).unwrap()
    );
    assert!(!step.state.conditions.is_empty());
    // No state yet: restored as Unmanaged, switching to Proxy.
    assert_eq!(
        (data.mode.as_str(), data.target_mode.as_str()),
        ("Unmanaged", "Proxy")
    );
    // The state holds passwords and keys; Debug shows none of them.
    let ro = step
        .state
        .users
        .ro
        .as_ref()
        .unwrap()
        .password
        .expose()
        .to_owned();
    assert!(data.state.expose().contains(&ro));
    assert!(!format!("{data:?}").contains(&ro));
    assert!(!format!("{step:?}").contains(&ro));
}

#[test]
fn the_config_hash_is_the_sha256_of_the_inputs() {
    let a = inputs(Mode::Proxy);
    let step = reconcile(&State::default(), &a, &mut orch::env(1)).unwrap();
    let want: String = Sha256::digest(serde_json::to_vec(&a).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(step.config_hash, want);
    assert_eq!(step.registry_state.hash, want);
    assert_eq!(CONFIG_HASH_ANNOTATION, "registry.deckhouse.io/config-hash");
    // The state and the random source do not enter it; an observation does.
    let again = reconcile(&step.state, &a, &mut orch::env(2)).unwrap();
    assert_eq!(again.config_hash, want);
    let mut b = a.clone();
    b.bashible_config_exists = !b.bashible_config_exists;
    let other = reconcile(&step.state, &b, &mut orch::env(1)).unwrap();
    assert_ne!(other.config_hash, want);
}

#[test]
fn upstream_yaml_state_reads_and_bad_fields_are_named() {
    // The upstream hooks write YAML with the same JSON names.
    let yaml = b"mode: Direct\ntarget_mode: Proxy\ningress_enabled: false\nconditions:\n- type: Ready\n  status: \"False\"\n  reason: Processing\n  message: Transitioning to Proxy\n  lastTransitionTime: \"2026-12-01T10:00:00Z\"\n";
    let s = State::parse(yaml).unwrap();
    assert_eq!(
        (s.mode, s.target_mode),
        (Some(Mode::Direct), Some(Mode::Proxy))
    );
    assert_eq!(s.conditions.len(), 1);
    let e = State::parse(b"mode: Direct\ningress_enabled: sometimes\n").unwrap_err();
    assert!(e.to_string().starts_with("ingress_enabled:"), "{e}");
    assert!(State::parse(b"[1, 2]").is_err());
}
