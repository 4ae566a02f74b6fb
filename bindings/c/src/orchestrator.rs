//! The orchestrator: one reconcile step over JSON documents (`registry_core::wire::reconcile`).

use std::ffi::c_char;

use registry_core::orchestrator::{Inputs, State};
use registry_core::wire::{self, ReconcileOptions};

use crate::ffi::{Json, Opts, entry, json};
use crate::{dr_error, dr_status};

/// Runs one reconcile step of the registry module's orchestrator: from the persisted state
/// (`state_json`: the `registry-state` secret's `state` document; NULL or `{}` when there is
/// none yet) and what the operator observed (`inputs_json`: `{"settings", "cluster", "nodes",
/// "bashibleConfigExists", "nodeServicesPods", "inClusterProxy", "checker",
/// "deckhouseLeader", "initSecret", "registrySecret", "userSecrets"}`, any subset), it
/// computes the next step.
///
/// `options_json` (may be NULL): `{"now": "2026-12-01T10:00:00Z", "seed": 1}`, any subset.
/// Without `now` the step runs at the system clock's time. `seed` exists ONLY for
/// deterministic tests: it makes every generated key and password reproducible by anyone who
/// knows it; without it (as in production) they come from the operating system's CSPRNG.
///
/// On success `*step_json` receives `{"state", "ready", "message", "outputs"}`: the state to
/// persist (with its conditions), the Ready condition's status and message, and every object
/// to write (`{"action": "write", "value": ...}`), keep or delete. It holds keys, passwords
/// and their hashes: treat it as a secret; free it with `dr_string_free`. A refused switch is
/// a step (the `ErrTransitionNotSupported` condition), not an error.
///
/// Errors: `DR_STATUS_INVALID_ARGUMENT` for NULL `inputs_json` or `step_json`, and for a
/// document that does not fit its schema (the message names the argument and the field;
/// values are masked); the render codes when the node configuration cannot be built;
/// `DR_STATUS_PKI_FAILED`; `DR_STATUS_IO` when the system clock or random source fails.
#[unsafe(no_mangle)]
pub extern "C" fn dr_reconcile(
    state_json: *const c_char,
    inputs_json: *const c_char,
    options_json: *const c_char,
    step_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        state_json => state: Option<Json<State>>;
        inputs_json => inputs: Json<Inputs>;
        options_json => options: Opts<ReconcileOptions>;
        -> step_json;
        {
            let state = state.map(|s| s.0).unwrap_or_default();
            json(&wire::reconcile(&state, &inputs.0, &options.0)?)
        }
    )
}
