//! `NodeConfig::version` against Go itself: `conformance/versionhash` marshals the registry
//! module's `Config` struct with `encoding/json` and hashes it (DOMAIN.md §7.2). Models from
//! real settings in every mode and phase, and hand-made models whose strings need every escape
//! Go makes (`<`, `>`, `&`, U+2028, U+2029, quotes, backslashes, control characters) or none
//! (non-ASCII), must hash the same on both sides.
//!
//! Needs Go to build the harness.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use registry_core::containerd::{Mirror, MirrorAuth, NodeConfig, Rewrite, node_config};
use registry_core::facts::{ClusterFacts, NodeFacts, NodeRole, ReadOnlyUser};
use registry_core::settings::{
    CaBundle, LoadOptions, Mode, RegistrySettings, Scheme, Secret, load,
};
use serde_json::{Value, json};

const CA: &str = include_str!("fixtures/ca.pem");
const MODULE_CA: &str = include_str!("fixtures/ca2.pem");

fn harness() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/versionhash");
        // In cargo's per-target scratch folder, not /tmp: nothing is left outside target/.
        // `go build` replaces the file atomically, so concurrent test runs share it safely.
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("versionhash");
        let status = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg(".")
            .current_dir(&module)
            .status()
            .unwrap_or_else(|e| panic!("this test needs Go to build {}: {e}", module.display()));
        assert!(status.success(), "go build in {} failed", module.display());
        out
    })
}

/// The version Go computes for `config`.
fn go_version(config: &NodeConfig) -> String {
    let mut child = Command::new(harness())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(config).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "versionhash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn settings(registry: Value) -> RegistrySettings {
    let doc = json!({"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "deckhouse"},
        "spec": {"settings": {"registry": registry}}});
    load(&serde_json::to_vec(&doc).unwrap(), &LoadOptions::default()).unwrap()
}

fn facts() -> ClusterFacts {
    let master = |name: &str, ip: [u8; 4]| NodeFacts {
        name: name.into(),
        role: NodeRole::Master,
        ip: Some(IpAddr::from(ip)),
        cri: Default::default(),
        custom_registry_config: false,
    };
    ClusterFacts {
        nodes: vec![master("m1", [10, 0, 0, 11]), master("m0", [10, 0, 0, 10])],
        module_ca: Some(CaBundle::parse(MODULE_CA).unwrap()),
        read_only_user: Some(ReadOnlyUser {
            name: "ro".into(),
            password: Secret::new("p<a>&ss\"w\\rd"),
        }),
        ..ClusterFacts::default()
    }
}

fn check(what: &str, config: &NodeConfig) {
    let rust = config.version();
    assert_eq!(rust.len(), 64, "{what}");
    assert_eq!(go_version(config), rust, "{what}: {config:?}");
}

#[test]
fn versions_of_rendered_settings_match_go() {
    let direct = settings(json!({"mode": "Direct", "direct": {
        "imagesRepo": "r.example.com/a/b-c", "username": "u<1>", "password": "pä&ss\u{2028}", "ca": CA}}));
    let proxy = settings(json!({"mode": "Proxy", "proxy": {
        "imagesRepo": "r.example.com:5000/x", "scheme": "HTTP", "license": "lic<>&"}}));
    let local = settings(json!({"mode": "Local"}));
    let unmanaged = settings(json!({"mode": "Unmanaged", "unmanaged": {
        "imagesRepo": "mirror.corp/deckhouse/ee", "username": "ü\"ser", "password": "p\\w"}}));
    let all = [&direct, &proxy, &local, &unmanaged];
    for desired in all {
        check(
            &format!("final {:?}", desired.mode()),
            &node_config(desired, None, &facts()).unwrap(),
        );
        for previous in all {
            if let Ok(config) = node_config(desired, Some(previous), &facts()) {
                check(
                    &format!("{:?} -> {:?}", previous.mode(), desired.mode()),
                    &config,
                );
            }
        }
    }
}

fn mirror(
    host: &str,
    scheme: Scheme,
    user: Option<(&str, &str)>,
    rewrites: &[(&str, &str)],
) -> Mirror {
    Mirror {
        host: host.into(),
        scheme,
        ca: None,
        auth: user.map(|(u, p)| MirrorAuth {
            username: u.into(),
            password: Secret::new(p),
        }),
        rewrites: rewrites
            .iter()
            .map(|(from, to)| Rewrite {
                from: (*from).into(),
                to: (*to).into(),
            })
            .collect(),
    }
}

#[test]
fn strings_that_need_escaping_hash_like_go() {
    let odd = [
        "<script>&amp;</script>",
        "line\u{2028}para\u{2029}end",
        "quote \" backslash \\ slash /",
        "tab\tnl\ncr\rbs\u{8}ff\u{c}bell\u{7}nul\u{0}us\u{1f}del\u{7f}",
        "non-ASCII: ü 日本 😀 \u{feff}",
        "",
    ];
    for (i, s) in odd.iter().enumerate() {
        let mut hosts = BTreeMap::new();
        // Keys that sort differently by bytes and by case or locale.
        hosts.insert(
            format!("Z{s}"),
            vec![mirror(s, Scheme::Http, Some((s, s)), &[(s, s)])],
        );
        hosts.insert(
            "a.example".to_owned(),
            vec![
                mirror("m1.example", Scheme::Https, None, &[]),
                Mirror {
                    ca: Some(CaBundle::parse(CA).unwrap()),
                    ..mirror("m2.example:8443", Scheme::Https, Some(("u", s)), &[])
                },
            ],
        );
        hosts.insert(
            "ü.example".to_owned(),
            vec![mirror("x", Scheme::Https, None, &[])],
        );
        let config = NodeConfig {
            mode: [Mode::Direct, Mode::Proxy, Mode::Unmanaged][i % 3],
            transition: i % 2 == 0,
            images_base: format!("base/{s}"),
            proxy_endpoints: if i % 2 == 0 {
                vec![
                    "10.0.0.1:5001".parse().unwrap(),
                    "[fd00::1]:5001".parse().unwrap(),
                ]
            } else {
                vec![]
            },
            hosts,
        };
        check(&format!("{s:?}"), &config);
    }
}

/// The phase flag is not part of the Go struct: a transition config with the final config's
/// mirrors is the same config, with the same version.
#[test]
fn the_phase_is_not_hashed() {
    let s = settings(json!({"mode": "Direct", "direct": {"imagesRepo": "r.example.com/a"}}));
    let last = node_config(&s, None, &facts()).unwrap();
    let mut transition = last.clone();
    transition.transition = true;
    assert_eq!(transition.version(), last.version());
    assert_eq!(go_version(&transition), last.version());
}
