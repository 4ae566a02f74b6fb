//! Property tests for the settings reader: no input makes it panic, valid settings survive a
//! JSON round trip, secrets never show in redacted output, and allowed addresses come back
//! normalised.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use proptest::prelude::*;
use registry_core::settings::{LoadError, LoadOptions, RegistrySettings, load};
use serde_json::{Value, json};

fn wrap(registry: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig",
        "metadata": {"name": "deckhouse"}, "spec": {"settings": {"registry": registry}},
    }))
    .unwrap()
}

/// Strings that mix valid values, near misses and hostile characters.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("HTTP")),
        Just(json!("HTTPS")),
        Just(json!("Relax")),
        Just(json!("5m")),
        Just(json!("")),
        Just(json!(null)),
        Just(json!(12)),
        Just(json!([])),
        "[a-z0-9.:/_-]{0,40}".prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "[0-9]{1,3}[hms]{1,3}".prop_map(Value::from),
    ]
}

fn section() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "imagesRepo",
        "scheme",
        "ca",
        "license",
        "username",
        "password",
        "checkMode",
        "ttl",
        "other",
    ]);
    prop::collection::btree_map(keys, field_value(), 0..8)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

fn registry() -> impl Strategy<Value = Value> {
    let mode = prop::sample::select(vec![
        json!("Direct"),
        json!("Proxy"),
        json!("Local"),
        json!("Unmanaged"),
        json!("x"),
        json!(null),
    ]);
    (
        mode,
        prop::option::of(section()),
        prop::option::of(section()),
        prop::option::of(section()),
    )
        .prop_map(|(mode, direct, proxy, unmanaged)| {
            let mut r = serde_json::Map::new();
            r.insert("mode".into(), mode);
            for (k, v) in [
                ("direct", direct),
                ("proxy", proxy),
                ("unmanaged", unmanaged),
            ] {
                if let Some(v) = v {
                    r.insert(k.into(), v);
                }
            }
            Value::Object(r)
        })
}

fn host() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", 1..4)
        .prop_map(|labels| labels.join("."))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = load(&bytes, &LoadOptions::default());
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[-:\\[\\]{}&*!|>'\"%@`#,?a-z0-9 \n]{0,200}") {
        let _ = load(text.as_bytes(), &LoadOptions::default());
    }

    #[test]
    fn arbitrary_settings_never_panic_and_valid_ones_round_trip(registry in registry(), bootstrap in any::<bool>()) {
        let options = LoadOptions { bootstrap, ..LoadOptions::default() };
        match load(&wrap(registry), &options) {
            Ok(settings) => {
                let json = serde_json::to_string(&settings).unwrap();
                let back: RegistrySettings = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(&back, &settings);
                let redacted = settings.redacted();
                if let Some(credentials) = redacted.upstream().and_then(|u| u.credentials()) {
                    prop_assert_eq!(credentials.basic_auth().1.expose(), "<redacted>");
                }
            }
            Err(LoadError::Invalid(problems)) => {
                prop_assert!(!problems.0.is_empty());
                for p in &problems.0 {
                    prop_assert!(p.path.starts_with("spec.settings.registry"), "{}", p.path);
                }
            }
            Err(LoadError::Document(e)) => prop_assert!(false, "a well-formed ModuleConfig is never unusable: {}", e),
        }
    }

    #[test]
    fn allowed_addresses_are_accepted_and_normalised(
        host in host(),
        port in prop::option::of(1u16..=65535),
        segments in prop::collection::vec("[A-Za-z0-9_-][A-Za-z0-9._-]{0,8}", 0..4),
        trailing in "/{0,2}",
        space in " {0,2}",
    ) {
        let address = match port { Some(p) => format!("{host}:{p}"), None => host.clone() };
        let path: String = segments.iter().map(|s| format!("/{s}")).collect();
        let repo = format!("{space}{address}{path}{trailing}{space}");
        let settings = load(&wrap(json!({"mode": "Direct", "direct": {"imagesRepo": repo}})), &LoadOptions::default());
        let settings = settings.map_err(|e| TestCaseError::fail(format!("{repo:?}: {e}")))?;
        let upstream = settings.upstream().unwrap();
        prop_assert_eq!(upstream.host(), host.as_str());
        prop_assert_eq!(upstream.port(), port);
        prop_assert_eq!(upstream.path(), path.as_str());
        prop_assert_eq!(upstream.images_repo(), format!("{address}{path}"));
    }
}
