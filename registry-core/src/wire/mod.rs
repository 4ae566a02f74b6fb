//! The wire layer: every request, option and result shape the C, Go and Python bindings carry,
//! the one [`ErrorCode`] list, the one error shape [`Failure`], and the composite operations
//! bindings would otherwise write themselves.
//!
//! A binding translates types, errors and ownership, nothing else: if it needs a shape or an
//! operation, it is added here. [`schema()`] generates the JSON Schema of every shape; the
//! checked-in copy (`registry-core/wire-schema.json`) is diffed in CI like the C header, and the
//! Go and Python types are tested against it field by field.

mod codes;
mod error_code;
mod failure;
mod reconcile;
mod render;
mod schema;
mod store_ops;
mod views;

pub use error_code::ErrorCode;
pub use failure::{Detail, Failure};
pub use reconcile::{ReconcileOptions, reconcile};
pub use render::render;
pub use schema::{SCHEMA_PATH, schema, schema_json};
pub use store_ops::{ExportRequest, export, read_range};
pub use views::{PreflightView, ScrubView, SettingsView};
