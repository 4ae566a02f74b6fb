//! The checked-in JSON Schema of the wire shapes is the one the code generates, so renaming a
//! field fails CI here (and in the Go and Python suites, which read the checked-in file).
//! `REGEN_WIRE_SCHEMA=1 cargo test -p registry-core --test wire_schema` rewrites it.

use std::path::PathBuf;

use registry_core::wire::{ErrorCode, schema, schema_json};

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("wire-schema.json")
}

#[test]
fn the_checked_in_schema_is_current() {
    let generated = schema_json();
    let path = checked_in();
    if std::env::var_os("REGEN_WIRE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write the schema");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} is stale: run `REGEN_WIRE_SCHEMA=1 cargo test -p registry-core --test wire_schema` \
         and commit it",
        path.display()
    );
}

#[test]
fn the_schema_lists_every_error_code_by_name() {
    let s = schema();
    let listed: Vec<String> = s["$defs"]["ErrorCode"]
        .to_string()
        .split('"')
        .map(String::from)
        .collect();
    for code in ErrorCode::ALL {
        assert!(
            listed.iter().any(|w| w == code.name()),
            "{code:?} missing from the schema"
        );
    }
}
