//! Rendered hosts.toml files loaded by containerd's own parser: the Go harness in
//! `conformance/hostscheck` (containerd v2.4 and v1.7) resolves each rendered `registry.d` and
//! prints what containerd would use. Every mode, phase, dialect and release line is rendered
//! and checked: no decode error, the mirrors in the expected order with the expected scheme,
//! host, path and capabilities, the CA loaded, http mirrors plain (or with the TLS fallback when
//! asked), and for the Deckhouse dialect the `auth` and `rewrite` tables as Deckhouse's build
//! reads them. The expected mirrors come from the settings, not from the rendered files.
//!
//! Needs Go (and the Go module proxy, or a warm module cache) to build the harness.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use registry_core::containerd::{
    ContainerdMajor, ContainerdVersion, Dialect, RenderOptions, node_config, render,
};
use registry_core::facts::ClusterFacts;
use registry_core::settings::{CaBundle, LoadOptions, RegistrySettings, Secret, load};
use serde_json::{Value, json};

const CA: &str = include_str!("fixtures/ca.pem");
const MODULE_CA: &str = include_str!("fixtures/ca2.pem");
const VHOST: &str = "registry.d8-system.svc:5001";

/// Builds one harness binary once per test run.
fn harness(version: &str) -> &'static Path {
    static V2: OnceLock<PathBuf> = OnceLock::new();
    static V17: OnceLock<PathBuf> = OnceLock::new();
    let cell = if version == "v2" { &V2 } else { &V17 };
    cell.get_or_init(|| {
        let module = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../conformance/hostscheck")
            .join(version);
        // In cargo's per-target scratch folder, not /tmp: nothing is left outside target/.
        // `go build` replaces the file atomically, so concurrent test runs share it safely.
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hostscheck-{version}"));
        let status = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg(".")
            .current_dir(&module)
            .status()
            .unwrap_or_else(|e| panic!("these tests need Go to build {}: {e}", module.display()));
        assert!(status.success(), "go build in {} failed", module.display());
        out
    })
}

/// One expected mirror: what containerd must resolve, and what Deckhouse's build must read.
#[derive(Debug, Clone)]
struct Expect {
    scheme: &'static str,
    host: String,
    custom_ca: bool,
    user: Option<String>,
    rewrite: Option<(String, String)>,
}

fn https(host: &str) -> Expect {
    Expect {
        scheme: "https",
        host: host.into(),
        custom_ca: false,
        user: None,
        rewrite: None,
    }
}

impl Expect {
    fn ca(mut self) -> Self {
        self.custom_ca = true;
        self
    }
    fn user(mut self, u: &str) -> Self {
        self.user = Some(u.into());
        self
    }
    fn rewrite(mut self, from: &str, to: &str) -> Self {
        self.rewrite = Some((from.into(), to.into()));
        self
    }
    fn http(mut self) -> Self {
        self.scheme = "http";
        self
    }
}

struct Case {
    name: &'static str,
    desired: RegistrySettings,
    previous: Option<RegistrySettings>,
    /// Per registry host folder, the mirrors in order.
    expect: Vec<(&'static str, Vec<Expect>)>,
}

fn settings(registry: Value) -> RegistrySettings {
    let doc = json!({"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "deckhouse"},
        "spec": {"settings": {"registry": registry}}});
    load(&serde_json::to_vec(&doc).unwrap(), &LoadOptions::default()).unwrap()
}

fn facts() -> ClusterFacts {
    let mut f = ClusterFacts {
        module_ca: Some(CaBundle::parse(MODULE_CA).unwrap()),
        read_only_user: Some(registry_core::facts::ReadOnlyUser {
            name: "ro".into(),
            password: Secret::new("p\"w\\x"),
        }),
        ..ClusterFacts::default()
    };
    f.nodes[0].ip = Some([10, 0, 0, 10].into());
    f
}

fn cases() -> Vec<Case> {
    let unmanaged = settings(json!({"mode": "Unmanaged", "unmanaged": {
        "imagesRepo": "nexus.example.com:8443/dkp/ee", "ca": CA, "username": "svc", "password": "pw"}}));
    let unmanaged_http = settings(
        json!({"mode": "Unmanaged", "unmanaged": {"imagesRepo": "10.1.2.3:5000/dkp", "scheme": "HTTP"}}),
    );
    let direct = settings(
        json!({"mode": "Direct", "direct": {"imagesRepo": "registry.deckhouse.io/deckhouse/ee", "license": "L"}}),
    );
    let direct_plain = settings(
        json!({"mode": "Direct", "direct": {"imagesRepo": "mirror.example.com/system/deckhouse", "username": "u", "password": "p"}}),
    );
    let proxy = settings(
        json!({"mode": "Proxy", "proxy": {"imagesRepo": "nexus.example.com:8443/dkp/ee", "license": "L"}}),
    );
    let local = settings(json!({"mode": "Local"}));
    let legacy = load(
        &serde_json::to_vec(&json!({"apiVersion": "deckhouse.io/v1", "kind": "InitConfiguration", "deckhouse": {"imagesRepo": "some-nexus.io/d8"}})).unwrap(),
        &LoadOptions::default(),
    )
    .unwrap();
    let node_lb = || https("127.0.0.1:5001").ca().user("ro");
    let deckhouse_io = || {
        https("registry.deckhouse.io")
            .user("license-token")
            .rewrite("^system/deckhouse", "deckhouse/ee")
    };
    vec![
        Case {
            name: "unmanaged with CA and credentials",
            desired: unmanaged.clone(),
            previous: None,
            expect: vec![(
                "nexus.example.com:8443",
                vec![https("nexus.example.com:8443").ca().user("svc")],
            )],
        },
        Case {
            name: "unmanaged over plain http",
            desired: unmanaged_http,
            previous: None,
            expect: vec![("10.1.2.3:5000", vec![https("10.1.2.3:5000").http()])],
        },
        Case {
            name: "direct",
            desired: direct.clone(),
            previous: None,
            expect: vec![(VHOST, vec![deckhouse_io()])],
        },
        Case {
            name: "direct without rewrite",
            desired: direct_plain,
            previous: None,
            expect: vec![(VHOST, vec![https("mirror.example.com").user("u")])],
        },
        Case {
            name: "proxy",
            desired: proxy.clone(),
            previous: None,
            expect: vec![(VHOST, vec![node_lb()])],
        },
        Case {
            name: "local",
            desired: local.clone(),
            previous: None,
            expect: vec![(VHOST, vec![node_lb()])],
        },
        Case {
            name: "transition direct → proxy",
            desired: proxy,
            previous: Some(direct.clone()),
            expect: vec![(VHOST, vec![deckhouse_io(), node_lb()])],
        },
        Case {
            name: "transition legacy → direct",
            desired: direct.clone(),
            previous: Some(legacy),
            expect: vec![
                ("some-nexus.io", vec![https("some-nexus.io")]),
                (VHOST, vec![deckhouse_io()]),
            ],
        },
        Case {
            name: "transition local → unmanaged",
            desired: unmanaged,
            previous: Some(local),
            expect: vec![
                (
                    "nexus.example.com:8443",
                    vec![https("nexus.example.com:8443").ca().user("svc")],
                ),
                (VHOST, vec![node_lb()]),
            ],
        },
    ]
}

const ALL_CAPS_V2: [&str; 4] = ["pull", "resolve", "push", "referrers"];
const ALL_CAPS_V17: [&str; 3] = ["pull", "resolve", "push"];

fn check(case: &Case, options: &RenderOptions, harness_version: &str) {
    let label = format!(
        "{} / {:?} {} {:?} / parser {harness_version}",
        case.name, options.containerd, options.version, options.dialect
    );
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("registry.d").display().to_string();
    let options = RenderOptions {
        config_path: config_path.clone(),
        ..options.clone()
    };
    let config = node_config(&case.desired, case.previous.as_ref(), &facts()).unwrap();
    let rendered = match render(&config, &options) {
        Ok(r) => r,
        // The stock dialect refuses what it cannot express; that is checked elsewhere.
        Err(_) if options.dialect == Dialect::Upstream => return,
        Err(e) => panic!("{label}: {e}"),
    };
    for file in rendered
        .files
        .iter()
        .filter(|f| f.path.starts_with(&config_path))
    {
        std::fs::create_dir_all(Path::new(&file.path).parent().unwrap()).unwrap();
        std::fs::write(&file.path, &file.contents).unwrap();
    }
    // Host folders come out sorted by name.
    let mut expect = case.expect.clone();
    expect.sort_by_key(|(ns, _)| *ns);
    let namespaces: Vec<&str> = expect.iter().map(|(ns, _)| *ns).collect();
    assert_eq!(rendered.host_dirs, namespaces, "{label}");
    let output = Command::new(harness(harness_version))
        .arg("--root")
        .arg(&config_path)
        .args(&namespaces)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{label}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    for ((ns, mirrors), result) in expect.iter().zip(report["results"].as_array().unwrap()) {
        let at = format!("{label} / {ns}");
        assert_eq!(result["dir_found"], true, "{at}");
        assert_eq!(result["decode_error"], "", "{at}: {result}");
        assert_eq!(result["error"], "", "{at}: {result}");
        let hosts = result["hosts"].as_array().unwrap();
        // containerd always appends the namespace itself last, with every capability.
        assert_eq!(hosts.len(), mirrors.len() + 1, "{at}: {result}");
        for (m, h) in mirrors.iter().zip(hosts) {
            let tls_fallback = m.scheme == "http" && options.http_tls_fallback;
            let scheme = if tls_fallback { "https" } else { m.scheme };
            assert_eq!(
                (h["scheme"].as_str(), h["host"].as_str(), h["path"].as_str()),
                (Some(scheme), Some(m.host.as_str()), Some("/v2")),
                "{at}"
            );
            assert_eq!(h["caps"], json!(["pull", "resolve"]), "{at}");
            assert_eq!(h["custom_ca"], m.custom_ca, "{at}");
            assert_eq!(h["http_fallback"], tls_fallback, "{at}");
            assert_eq!(h["skip_verify"], tls_fallback, "{at}");
        }
        let last = hosts.last().unwrap();
        assert_eq!(
            (last["scheme"].as_str(), last["host"].as_str()),
            (Some("https"), Some(*ns)),
            "{at}"
        );
        let all: &[&str] = if harness_version == "v2" {
            &ALL_CAPS_V2
        } else {
            &ALL_CAPS_V17
        };
        assert_eq!(last["caps"], json!(all), "{at}");

        let dh = &result["deckhouse"];
        assert_eq!(dh["strict_error"], "", "{at}: {dh}");
        let dh_hosts = dh["hosts"].as_array().unwrap();
        assert_eq!(dh_hosts.len(), mirrors.len(), "{at}");
        for (m, d) in mirrors.iter().zip(dh_hosts) {
            assert_eq!(
                d["url"].as_str(),
                Some(format!("{}://{}", m.scheme, m.host).as_str()),
                "{at}"
            );
            match (options.dialect, &m.user) {
                (Dialect::Deckhouse, Some(user)) => {
                    assert_eq!(
                        d["auth"]["auth_decoded_user"].as_str(),
                        Some(user.as_str()),
                        "{at}"
                    );
                    assert_eq!(d["auth"]["auth_error"], "", "{at}");
                }
                _ => assert!(d["auth"].is_null(), "{at}: {d}"),
            }
            match (options.dialect, &m.rewrite) {
                (Dialect::Deckhouse, Some((from, to))) => {
                    assert_eq!(
                        d["rewrites"],
                        json!([{"regex": from, "replace": to, "valid_regex": true}]),
                        "{at}"
                    )
                }
                _ => assert_eq!(d["rewrites"], json!([]), "{at}"),
            }
        }
    }
}

fn options_matrix() -> Vec<(RenderOptions, &'static str)> {
    let mut all = Vec::new();
    for version in ["1.6", "1.7", "2.0", "2.1", "2.2"] {
        let version: ContainerdVersion = version.parse().unwrap();
        let generation = version.generation();
        let parser = if generation == ContainerdMajor::V1 {
            "v17"
        } else {
            "v2"
        };
        for dialect in [Dialect::Deckhouse, Dialect::Upstream] {
            for http_tls_fallback in [false, true] {
                let options = RenderOptions {
                    version,
                    dialect,
                    http_tls_fallback,
                    ..RenderOptions::new(generation)
                };
                all.push((options, parser));
            }
        }
    }
    all
}

#[test]
fn every_mode_phase_dialect_and_release_parses_in_containerd() {
    let cases = cases();
    for (options, parser) in options_matrix() {
        for case in &cases {
            check(case, &options, parser);
        }
    }
}

#[test]
fn files_for_containerd_2_also_parse_in_1_7_and_back() {
    // The generator writes one hosts.toml shape for every release; both parsers must agree on it.
    for case in cases() {
        check(&case, &RenderOptions::new(ContainerdMajor::V2), "v17");
        check(&case, &RenderOptions::new(ContainerdMajor::V1), "v2");
    }
}
