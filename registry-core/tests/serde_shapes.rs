//! The JSON shapes the bindings carry: settings deserialize only from valid, unambiguous
//! documents, and round-trip unchanged.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use registry_core::settings::{Credentials, LoadOptions, RegistrySettings};
use serde_json::json;

#[test]
fn credentials_are_either_a_pair_or_a_license_never_both() {
    let pair: Credentials =
        serde_json::from_value(json!({"username": "u", "password": "p"})).unwrap();
    assert_eq!(pair.basic_auth().0, "u");
    let license: Credentials = serde_json::from_value(json!({"license": "L"})).unwrap();
    assert_eq!(license.basic_auth().0, "license-token");
    assert!(
        serde_json::from_value::<Credentials>(
            json!({"username": "u", "password": "p", "license": "L"})
        )
        .is_err()
    );
    assert!(serde_json::from_value::<Credentials>(json!({"username": "u"})).is_err());
}

#[test]
fn deserializing_settings_re_runs_the_checks() {
    let base = |upstream: serde_json::Value| json!({"mode": "Direct", "upstream": upstream});
    let ok = base(json!({"host": "r.example.com", "path": "/d8", "scheme": "HTTPS"}));
    let s: RegistrySettings = serde_json::from_value(ok.clone()).unwrap();
    assert_eq!(serde_json::to_value(&s).unwrap()["upstream"]["path"], "/d8");
    for bad in [
        base(json!({"host": "bad_host"})),
        base(json!({"host": "r.example.com", "path": "/a/../b"})),
        base(json!({"host": "r.example.com", "port": 0})),
        base(
            json!({"host": "r.example.com", "scheme": "HTTP", "ca": include_str!("fixtures/ca.pem")}),
        ),
        base(json!({"host": "r.example.com", "ca": "not pem"})),
        base(json!({"host": "r.example.com", "credentials": {"username": "a:b", "password": "p"}})),
        base(json!({"host": "r.example.com", "extra": 1})),
        json!({"mode": "Proxy", "upstream": {"host": "r.example.com"}, "ttl": "1m"}),
        json!({"mode": "Local", "upstream": {"host": "r.example.com"}}),
        json!({"mode": "Nope"}),
    ] {
        assert!(
            serde_json::from_value::<RegistrySettings>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn load_options_have_a_stable_shape() {
    let v = serde_json::to_value(LoadOptions::default()).unwrap();
    assert_eq!(v["bootstrap"], false);
    assert_eq!(v["limits"]["maxBytes"], 4 << 20);
    let o: LoadOptions = serde_json::from_value(json!({"bootstrap": true})).unwrap();
    assert!(o.bootstrap);
    assert_eq!(o.limits, LoadOptions::default().limits);
}
