//! Property tests for rendering: any allowed credentials and host names survive render → TOML
//! parse unchanged, any string survives TOML escaping, and rendering never panics.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use base64::Engine as _;
use proptest::prelude::*;
use registry_core::containerd::{
    CONFIG_PART, ContainerdMajor, Dialect, REGISTRY_D, RenderOptions, node_config, render,
    toml_string,
};
use registry_core::facts::ClusterFacts;
use registry_core::settings::{Credentials, RegistrySettings, Scheme, Secret, Upstream};

fn host() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", 1..4).prop_map(|l| l.join("."))
}

/// Any text a password may hold: everything but control characters.
fn password() -> impl Strategy<Value = String> {
    "[^\\p{Cc}]{1,40}"
}

fn username() -> impl Strategy<Value = String> {
    "[^\\p{Cc}:]{1,20}"
}

fn options() -> impl Strategy<Value = RenderOptions> {
    (prop::bool::ANY, prop::bool::ANY, prop::bool::ANY).prop_map(|(v2, upstream, fallback)| {
        RenderOptions {
            dialect: if upstream {
                Dialect::Upstream
            } else {
                Dialect::Deckhouse
            },
            http_tls_fallback: fallback,
            ..RenderOptions::new(if v2 {
                ContainerdMajor::V2
            } else {
                ContainerdMajor::V1
            })
        }
    })
}

/// `s` as a string value and, in another table, as a key: both must read back as `s`. The two
/// tables keep the key from ever colliding with the value's own key, whatever `s` is.
fn survives_toml_escaping(s: &str) -> Result<(), TestCaseError> {
    let doc = format!(
        "[value]\nv = {}\n[key]\n{} = 1\n",
        toml_string(s),
        toml_string(s)
    );
    let table: toml::Table = doc
        .parse()
        .map_err(|e| TestCaseError::fail(format!("{e}: {doc}")))?;
    prop_assert_eq!(table["value"]["v"].as_str(), Some(s));
    let keys = table["key"].as_table().map(|t| t.len());
    prop_assert_eq!(keys, Some(1));
    prop_assert_eq!(
        table["key"].get(s).and_then(toml::Value::as_integer),
        Some(1)
    );
    Ok(())
}

/// The strings that once collided with the test's own key names (the property found `k`).
#[test]
fn key_names_of_the_escaping_test_survive_too() {
    for s in ["k", "v", "value", "key", ""] {
        survives_toml_escaping(s).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_string_survives_toml_escaping(s in any::<String>()) {
        survives_toml_escaping(&s)?;
    }

    #[test]
    fn credentials_and_hosts_survive_render(
        host in host(),
        port in prop::option::of(1u16..=65535),
        user in username(),
        pass in password(),
        license in prop::bool::ANY,
        http in prop::bool::ANY,
        options in options(),
    ) {
        let scheme = if http { Scheme::Http } else { Scheme::Https };
        let repo = match port { Some(p) => format!("{host}:{p}/d8"), None => format!("{host}/d8") };
        let credentials = if license {
            Credentials::License { license: Secret::new(pass.clone()) }
        } else {
            Credentials::UserPassword { username: user.clone(), password: Secret::new(pass.clone()) }
        };
        let upstream = Upstream::from_images_repo(&repo, scheme).unwrap().with_credentials(credentials).unwrap();
        let address = upstream.address();
        let settings = RegistrySettings::Unmanaged { upstream };
        let rendered = render(&node_config(&settings, None, &ClusterFacts::default()).unwrap(), &options).unwrap();

        let hosts_toml = &rendered.files.iter().find(|f| f.path == format!("{REGISTRY_D}/{address}/hosts.toml")).unwrap().contents;
        let table: toml::Table = hosts_toml.parse().unwrap();
        let url = format!("{}://{address}", scheme.as_url_scheme());
        let mirror = table["host"][&url].as_table().unwrap();
        let expected_user = if license { "license-token".to_owned() } else { user.clone() };
        let token = match options.dialect {
            Dialect::Deckhouse => mirror["auth"]["auth"].as_str().unwrap().to_owned(),
            Dialect::Upstream => {
                prop_assert!(mirror.get("auth").is_none());
                let config: toml::Table = rendered.files.iter().find(|f| f.path == CONFIG_PART).unwrap().contents.parse().unwrap();
                let plugin = match options.containerd {
                    ContainerdMajor::V1 => "io.containerd.grpc.v1.cri",
                    ContainerdMajor::V2 => "io.containerd.cri.v1.images",
                };
                config["plugins"][plugin]["registry"]["configs"][&address]["auth"]["auth"].as_str().unwrap().to_owned()
            }
        };
        let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(token).unwrap()).unwrap();
        prop_assert_eq!(decoded, format!("{expected_user}:{pass}"));
        prop_assert_eq!(mirror.get("skip_verify").is_some(), http && options.http_tls_fallback);
    }
}
