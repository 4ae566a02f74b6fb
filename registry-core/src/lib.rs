//! The Deckhouse registry module's logic, as one embeddable library.
//!
//! * [`settings`]: read and validate `spec.settings.registry` of ModuleConfig `deckhouse`
//!   (and the legacy InitConfiguration parameters) into typed [`settings::RegistrySettings`].
//! * [`input`]: the bounded YAML/JSON reader every document goes through.
//! * [`facts`]: what the library needs to know about the cluster ([`facts::ClusterFacts`]), an
//!   input of both [`transition`] and [`containerd`].
//! * [`transition`]: decide whether a switch between two settings is allowed under the
//!   cluster's facts, and plan its stages.
//! * [`containerd`]: the node configuration model and the files containerd 1.x and 2.x read,
//!   plus preflight, cleanup and atomic apply.
//! * [`store`]: content-addressed blob storage laid out as an OCI image layout.
//! * [`orchestrator`]: one pure reconcile step of an automatic mode switch.
//! * [`wire`]: every shape the bindings carry (requests, options, results, [`wire::ErrorCode`],
//!   [`wire::Failure`]) and the JSON Schema generated from them.
//! * [`utc`]: calendar arithmetic for the timestamps the library and its front ends print.
//!
//! Everything except `store` and `containerd::apply`/`preflight` is pure and deterministic; nothing opens a network connection.
#![forbid(unsafe_code)]

pub mod containerd;
pub mod facts;
pub mod fsutil;
pub mod input;
pub mod orchestrator;
pub mod settings;
pub mod store;
pub mod transition;
pub mod utc;
pub mod wire;
