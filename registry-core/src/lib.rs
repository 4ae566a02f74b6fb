//! The Deckhouse registry module's logic, as one embeddable library.
//!
//! * [`settings`]: read and validate `spec.settings.registry` of ModuleConfig `deckhouse`
//!   (and the legacy InitConfiguration parameters) into typed [`settings::RegistrySettings`].
//! * [`transition`]: decide whether a switch between two settings is allowed under the
//!   cluster's facts, and plan its stages.
//! * [`store`]: content-addressed blob storage laid out as an OCI image layout.
//!
//! Everything except `store` is pure and deterministic; nothing opens a network connection.
#![forbid(unsafe_code)]

pub mod settings;
pub mod store;
pub mod transition;
