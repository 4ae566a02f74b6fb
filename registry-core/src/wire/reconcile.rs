//! One orchestrator step as every binding offers it: the state and observations as they are
//! stored, and the environment as a request ([`ReconcileOptions`]: the clock and, for tests
//! only, a seed), so that a binding builds no [`Env`] and reads no clock of its own.

use serde::{Deserialize, Serialize};

use std::sync::Mutex;

use crate::orchestrator::{self, Env, Inputs, Memory, State, Step, Timestamp};

use super::Failure;

/// The environment of one step, as a request.
///
/// Both keys are optional: without `now` the step runs at the system clock's time, without
/// `seed` its keys and passwords come from the operating system's CSPRNG ([`Env::from_os`]).
///
/// ```
/// use registry_core::wire::ReconcileOptions;
/// let o: ReconcileOptions = serde_json::from_str(r#"{"now": "2026-12-01T10:00:00Z"}"#).unwrap();
/// assert_eq!(o.now.unwrap().unix(), 1_796_119_200);
/// assert!(o.seed.is_none());
/// assert!(serde_json::from_str::<ReconcileOptions>(r#"{"clock": 1}"#).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ReconcileOptions {
    /// The step's time (conditions' `lastTransitionTime`, certificate validity); the system
    /// clock when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now: Option<Timestamp>,
    /// FOR DETERMINISTIC TESTS ONLY: seeds the random source, so the same seed gives the same
    /// keys, passwords and salts, which anyone who knows the seed can recompute. Absent (as it
    /// must be in production), secrets come from the operating system's CSPRNG.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl ReconcileOptions {
    /// The environment these options describe.
    ///
    /// # Errors
    /// `Io` when the system clock is before 1970 or the operating system's random source
    /// fails.
    pub fn env(&self) -> Result<Env, Failure> {
        let now = match self.now {
            Some(now) => now,
            None => system_now()?,
        };
        match self.seed {
            Some(seed) => Ok(Env::seeded(seed, now)),
            None => Env::from_os(now).map_err(|e| {
                Failure::new(
                    super::ErrorCode::Io,
                    format!("the operating system's random source failed: {e}"),
                )
            }),
        }
    }
}

/// The system clock, to the second.
fn system_now() -> Result<Timestamp, Failure> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| {
            Failure::new(
                super::ErrorCode::Io,
                format!("the system clock is before 1970: {e}"),
            )
        })?
        .as_secs();
    Ok(Timestamp::from_unix(
        i64::try_from(secs).unwrap_or(i64::MAX),
    ))
}

/// One reconcile step ([`orchestrator::reconcile`]) in the environment `options` describe.
/// Pass [`State::default()`] (`{}` on the wire) when there is no state yet.
///
/// Each call builds a new [`Env`] from `options`, and hands it what the previous calls of this
/// process remembered ([`orchestrator::Memory`]: digests of the bcrypt pairs and certificates
/// already checked, never a secret), so an operator calling it every few seconds pays the
/// bcrypt and signature checks once per process, not once per step. What a step returns does
/// not depend on that memory.
///
/// ```
/// use registry_core::orchestrator::{Inputs, State};
/// use registry_core::wire::{self, ReconcileOptions};
/// let inputs: Inputs = serde_json::from_str(r#"{"settings":{"mode":"UnmanagedLegacy"}}"#).unwrap();
/// let options = ReconcileOptions { now: None, seed: Some(1) };
/// let step = wire::reconcile(&State::default(), &inputs, &options).unwrap();
/// assert!(step.ready);
/// ```
///
/// # Errors
/// The codes of [`orchestrator::ReconcileError`] (render codes, `PkiFailed`), and `Io` from
/// [`ReconcileOptions::env`].
pub fn reconcile(
    state: &State,
    inputs: &Inputs,
    options: &ReconcileOptions,
) -> Result<Step, Failure> {
    // Taken, not shared: two steps running at once each work with a memory (one of them an
    // empty one), and the last to finish leaves its own.
    let memory = lock_memory().take().unwrap_or_default();
    let mut env = options.env()?.with_memory(memory);
    let step = orchestrator::reconcile(state, inputs, &mut env);
    let mut memory = env.into_memory();
    memory.bound();
    *lock_memory() = Some(memory);
    Ok(step?)
}

/// The memory of checked material the calls of this process share.
static MEMORY: Mutex<Option<Memory>> = Mutex::new(None);

fn lock_memory() -> std::sync::MutexGuard<'static, Option<Memory>> {
    MEMORY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
