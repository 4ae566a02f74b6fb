//! The JSON Schema of every wire shape, generated from the Rust types with `schemars`.
//!
//! One document, `$defs` keyed by the type's name; the checked-in copy is at [`SCHEMA_PATH`].
//! `cargo test -p registry-core --test wire_schema` fails when it is stale and rewrites it with
//! `REGEN_WIRE_SCHEMA=1`.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings, json_schema};
use serde_json::{Map, Value};

use super::{ErrorCode, Failure};
use crate::store::Digest;

/// Where the checked-in schema lives, relative to the repository root.
pub const SCHEMA_PATH: &str = "registry-core/wire-schema.json";

/// The schema document: `{"$schema", "title", "$defs": {TypeName: schema, ...}}`.
///
/// ```
/// let schema = registry_core::wire::schema();
/// let codes = &schema["$defs"]["ErrorCode"];
/// assert!(codes.to_string().contains("NotFound"));
/// ```
pub fn schema() -> Value {
    let mut generator = SchemaGenerator::new(SchemaSettings::draft2020_12());
    register(&mut generator);
    let defs: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    let mut root = Map::new();
    root.insert(
        "$schema".into(),
        Value::String("https://json-schema.org/draft/2020-12/schema".into()),
    );
    root.insert(
        "title".into(),
        Value::String("deckhouse-registry wire shapes".into()),
    );
    root.insert("$defs".into(), Value::Object(defs));
    Value::Object(root)
}

/// [`schema()`] as the text that is checked in (pretty, keys sorted, a final newline).
pub fn schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&sorted(schema())).unwrap_or_default();
    text.push('\n');
    text
}

/// Every type a binding carries. A type reached from these (a field's type) is listed by
/// schemars itself.
fn register(g: &mut SchemaGenerator) {
    use crate::{containerd, facts, settings, transition};
    g.subschema_for::<ErrorCode>();
    g.subschema_for::<Failure>();
    g.subschema_for::<settings::LoadOptions>();
    g.subschema_for::<settings::RegistrySettings>();
    g.subschema_for::<facts::ClusterFacts>();
    g.subschema_for::<transition::Decision>();
    g.subschema_for::<containerd::NodeConfig>();
    g.subschema_for::<containerd::RenderOptions>();
    g.subschema_for::<containerd::Rendered>();
    g.subschema_for::<containerd::ApplyReport>();
    g.subschema_for::<containerd::PreflightReport>();
    g.subschema_for::<containerd::CleanupPlan>();
    g.subschema_for::<super::ExportRequest>();
    g.subschema_for::<super::SettingsView>();
    g.subschema_for::<super::PreflightView>();
    g.subschema_for::<super::ScrubView>();
    store_shapes(g);
    orchestrator_shapes(g);
}

/// What one reconcile step reads and returns.
fn orchestrator_shapes(g: &mut SchemaGenerator) {
    use crate::orchestrator;
    g.subschema_for::<orchestrator::State>();
    g.subschema_for::<orchestrator::Inputs>();
    g.subschema_for::<orchestrator::Step>();
    g.subschema_for::<super::ReconcileOptions>();
}

/// The store's options, reports and entries.
fn store_shapes(g: &mut SchemaGenerator) {
    use crate::store;
    g.subschema_for::<store::StoreOptions>();
    g.subschema_for::<store::Usage>();
    g.subschema_for::<store::PutOutcome>();
    g.subschema_for::<store::BlobStat>();
    g.subschema_for::<store::TagEntry>();
    g.subschema_for::<store::UntaggedEntry>();
    g.subschema_for::<store::UploadInfo>();
    g.subschema_for::<store::Progress>();
    g.subschema_for::<store::GcOptions>();
    g.subschema_for::<store::GcReport>();
    g.subschema_for::<store::ScrubOptions>();
    g.subschema_for::<store::ScrubReport>();
    g.subschema_for::<store::ImportOptions>();
    g.subschema_for::<store::ImportReport>();
    g.subschema_for::<store::ExportOptions>();
    g.subschema_for::<store::ExportReport>();
    g.subschema_for::<store::BundleOptions>();
    g.subschema_for::<store::BundleReport>();
    g.subschema_for::<store::BundleExportOptions>();
    g.subschema_for::<store::BundleExportReport>();
    g.subschema_for::<store::CompletenessReport>();
    g.subschema_for::<store::SyncReport>();
}

/// Sorts every object's keys, so the checked-in file does not depend on insertion order.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Types that are a string on the wire, with the pattern (or description) that says which.
macro_rules! string_schema {
    ($($ty:ty => $name:literal, $description:literal $(, $pattern:literal)?;)*) => {$(
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                #[allow(unused_mut)]
                let mut schema = json_schema!({"description": $description, "type": "string"});
                $(schema.insert("pattern".into(), Value::String($pattern.into()));)?
                schema
            }
        }
    )*};
}

string_schema! {
    Digest => "Digest",
        "A content digest: `sha256:` and 64, or `sha512:` and 128, lowercase hex digits.",
        "^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$";
    crate::settings::Ttl => "Ttl",
        "A Go-style duration of hours, minutes and seconds (`72h`, `1h30m`), at least 5 minutes.",
        "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";
    crate::settings::CaBundle => "CaBundle",
        "One or more PEM certificates (`-----BEGIN CERTIFICATE-----`).";
    crate::containerd::ContainerdVersion => "ContainerdVersion",
        "A containerd release line, `MAJOR.MINOR` (`1.7`, `2.2`).",
        "^[0-9]+\\.[0-9]+$";
    crate::orchestrator::Timestamp => "Timestamp",
        "An RFC 3339 UTC time to the second (`2026-12-01T13:03:00Z`).",
        "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$";
    crate::containerd::FileMode => "FileMode",
        "Unix permission bits, four octal digits (`0644`).",
        "^0[0-7]{3}$";
}
