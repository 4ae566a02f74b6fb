//! containerd rendering checked against DOMAIN.md §7–§8 and CONTAINERD-HOSTS.md §0, §5, §7:
//! the worked examples, the transition merge, both dialects and generations, the legacy inline
//! form, file modes and the version hash. Files are parsed back with a TOML parser and checked
//! structurally; expected values come from the documents' rules.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine as _;
use registry_core::containerd::{
    CONFIG_PART, ContainerdMajor, ContainerdVersion, ContainerdVersionError, Dialect, HOSTS_STATE,
    Mirror, NGINX_CONF, NodeConfig, REGISTRY_D, RenderError, RenderOptions, Rendered, node_config,
    render,
};
use registry_core::facts::{ClusterFacts, NodeFacts, NodeRole, ReadOnlyUser};
use registry_core::settings::{
    CaBundle, LoadOptions, Mode, RegistrySettings, Scheme, Secret, load,
};
use serde_json::{Value, json};
use toml::Table;

const CA: &str = include_str!("fixtures/ca.pem");
const MODULE_CA: &str = include_str!("fixtures/ca2.pem");
const VHOST: &str = "registry.d8-system.svc:5001";

fn settings(registry: Value) -> RegistrySettings {
    let doc = json!({"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "deckhouse"},
        "spec": {"settings": {"registry": registry}}});
    load(&serde_json::to_vec(&doc).unwrap(), &LoadOptions::default()).unwrap()
}

fn legacy(repo: &str) -> RegistrySettings {
    let doc = json!({"apiVersion": "deckhouse.io/v1", "kind": "InitConfiguration", "deckhouse": {"imagesRepo": repo}});
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
            password: Secret::new("Abcdefgh12345678"),
        }),
        ..ClusterFacts::default()
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn rendered(
    desired: &RegistrySettings,
    previous: Option<&RegistrySettings>,
    options: &RenderOptions,
) -> Rendered {
    render(&node_config(desired, previous, &facts()).unwrap(), options).unwrap()
}

fn file<'a>(r: &'a Rendered, path: &str) -> &'a str {
    match r.files.iter().find(|f| f.path == path) {
        Some(f) => &f.contents,
        None => panic!(
            "{path} not rendered; have {:?}",
            r.files.iter().map(|f| &f.path).collect::<Vec<_>>()
        ),
    }
}

fn mode_of(r: &Rendered, path: &str) -> u32 {
    r.files.iter().find(|f| f.path == path).unwrap().mode.bits()
}

fn hosts_path(host: &str) -> String {
    format!("{REGISTRY_D}/{host}/hosts.toml")
}

/// The `[host."…"]` tables of a hosts.toml, in file order, with their bodies.
fn mirrors(text: &str) -> Vec<(String, Table)> {
    let table: Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(
        table.contains_key("host"),
        "[host] must always be written:\n{text}"
    );
    let hosts = table["host"].as_table().unwrap();
    // toml keeps keys sorted; take the order from the headers instead.
    let order: Vec<String> = text
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("[host.\"")
                .and_then(|r| r.strip_suffix("\"]"))
        })
        .map(str::to_owned)
        .collect();
    assert_eq!(order.len(), hosts.len(), "{text}");
    order
        .into_iter()
        .map(|url| (url.clone(), hosts[&url].as_table().unwrap().clone()))
        .collect()
}

fn strings(v: &toml::Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect()
}

#[test]
fn unmanaged_example_with_ca_and_credentials() {
    let s = settings(json!({"mode": "Unmanaged", "unmanaged": {
        "imagesRepo": "nexus.example.com:8443/dkp/ee", "ca": CA, "username": "svc", "password": "pw"}}));
    let r = rendered(&s, None, &RenderOptions::default());
    let host = "nexus.example.com:8443";
    let m = mirrors(file(&r, &hosts_path(host)));
    assert_eq!(m.len(), 1);
    let (url, body) = &m[0];
    assert_eq!(url, "https://nexus.example.com:8443");
    assert_eq!(strings(&body["capabilities"]), ["pull", "resolve"]);
    let ca_file = format!("{REGISTRY_D}/{host}/https-{host}-ca.crt");
    assert_eq!(strings(&body["ca"]), [ca_file.as_str()]);
    assert_eq!(body["auth"]["auth"].as_str(), Some("c3ZjOnB3"));
    assert!(body.get("skip_verify").is_none() && body.get("rewrite").is_none());
    assert_eq!(file(&r, &ca_file), CA.trim().to_owned() + "\n");
    assert_eq!(mode_of(&r, &hosts_path(host)), 0o600);
    assert_eq!(mode_of(&r, &ca_file), 0o644);
    assert_eq!(r.host_dirs, [host]);
    let state: Vec<String> = serde_json::from_str(file(&r, HOSTS_STATE)).unwrap();
    assert_eq!(state, [host]);
    assert!(r.files.iter().all(|f| f.path != NGINX_CONF));
}

#[test]
fn http_mirrors_carry_no_tls_keys_unless_asked() {
    let s = settings(
        json!({"mode": "Unmanaged", "unmanaged": {"imagesRepo": "nexus.example.com:8443/dkp/ee", "scheme": "HTTP"}}),
    );
    let r = rendered(&s, None, &RenderOptions::default());
    let m = mirrors(file(&r, &hosts_path("nexus.example.com:8443")));
    assert_eq!(m[0].0, "http://nexus.example.com:8443");
    assert!(
        m[0].1.get("skip_verify").is_none()
            && m[0].1.get("ca").is_none()
            && m[0].1.get("auth").is_none()
    );
    assert_eq!(mode_of(&r, &hosts_path("nexus.example.com:8443")), 0o644);

    let fallback = RenderOptions {
        http_tls_fallback: true,
        ..RenderOptions::default()
    };
    let r = rendered(&s, None, &fallback);
    let m = mirrors(file(&r, &hosts_path("nexus.example.com:8443")));
    assert_eq!(m[0].1["skip_verify"].as_bool(), Some(true));
}

#[test]
fn direct_example_rewrites_to_the_upstream_path() {
    let s = settings(
        json!({"mode": "Direct", "direct": {"imagesRepo": "registry.deckhouse.io/deckhouse/ee", "license": "L"}}),
    );
    let r = rendered(&s, None, &RenderOptions::default());
    let m = mirrors(file(&r, &hosts_path(VHOST)));
    assert_eq!(m.len(), 1);
    let (url, body) = &m[0];
    assert_eq!(url, "https://registry.deckhouse.io");
    assert_eq!(
        body["auth"]["auth"].as_str(),
        Some(b64("license-token:L").as_str())
    );
    let rewrites = body["rewrite"].as_array().unwrap();
    assert_eq!(rewrites.len(), 1);
    assert_eq!(rewrites[0]["regex"].as_str(), Some("^system/deckhouse"));
    assert_eq!(rewrites[0]["replace"].as_str(), Some("deckhouse/ee"));
    assert_eq!(r.host_dirs, [VHOST]);

    // An upstream already at /system/deckhouse needs no rewrite; one at the root drops the prefix.
    let same = settings(
        json!({"mode": "Direct", "direct": {"imagesRepo": "r.example.com/system/deckhouse"}}),
    );
    let m = mirrors(file(
        &rendered(&same, None, &RenderOptions::default()),
        &hosts_path(VHOST),
    ));
    assert!(m[0].1.get("rewrite").is_none());
    let root = settings(json!({"mode": "Direct", "direct": {"imagesRepo": "r.example.com:5000"}}));
    let m = mirrors(file(
        &rendered(&root, None, &RenderOptions::default()),
        &hosts_path(VHOST),
    ));
    assert_eq!(
        m[0].1["rewrite"][0]["regex"].as_str(),
        Some("^system/deckhouse/?")
    );
    assert_eq!(m[0].1["rewrite"][0]["replace"].as_str(), Some(""));
}

#[test]
fn proxy_and_local_pull_through_the_node_load_balancer() {
    for s in [
        settings(json!({"mode": "Proxy", "proxy": {"imagesRepo": "r.example.com/x"}})),
        settings(json!({"mode": "Local"})),
    ] {
        let r = rendered(&s, None, &RenderOptions::default());
        let m = mirrors(file(&r, &hosts_path(VHOST)));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0, "https://127.0.0.1:5001");
        let ca_file = format!("{REGISTRY_D}/{VHOST}/https-127.0.0.1:5001-ca.crt");
        assert_eq!(strings(&m[0].1["ca"]), [ca_file.as_str()]);
        assert_eq!(file(&r, &ca_file), MODULE_CA.trim().to_owned() + "\n");
        assert_eq!(
            m[0].1["auth"]["auth"].as_str(),
            Some(b64("ro:Abcdefgh12345678").as_str())
        );
        let nginx = file(&r, NGINX_CONF);
        let servers: Vec<&str> = nginx
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("server ") && l.ends_with(';'))
            .collect();
        assert_eq!(
            servers,
            [
                "server 10.0.0.10:5001 max_fails=0;",
                "server 10.0.0.11:5001 max_fails=0;"
            ]
        );
        // A complete main configuration: what `nginx -c` needs besides the stream block
        // (nginx_real.rs runs nginx on it).
        for directive in [
            "include /etc/nginx/modules-enabled/*.conf;",
            "pid \"/tmp/registry-proxy-nginx.pid\";",
            "error_log stderr warn;",
            "events {",
            "stream {",
        ] {
            assert!(nginx.contains(directive), "{directive} missing:\n{nginx}");
        }
        assert!(nginx.contains("listen 127.0.0.1:5001;") && nginx.contains("least_conn;"));
        assert_eq!(mode_of(&r, NGINX_CONF), 0o640);
    }
}

#[test]
fn proxy_needs_module_ca_user_and_masters() {
    let s = settings(json!({"mode": "Local"}));
    for strip in 0..3 {
        let mut f = facts();
        match strip {
            0 => f.module_ca = None,
            1 => f.read_only_user = None,
            _ => f.nodes.iter_mut().for_each(|n| n.role = NodeRole::Worker),
        }
        assert!(
            matches!(node_config(&s, None, &f), Err(RenderError::MissingInput(_))),
            "{strip}"
        );
    }
    let unknown = RegistrySettings::UnmanagedLegacy { upstream: None };
    assert!(matches!(
        node_config(&unknown, None, &facts()),
        Err(RenderError::MissingInput(_))
    ));
}

#[test]
fn transition_direct_to_proxy_keeps_old_mirror_first() {
    let old = settings(
        json!({"mode": "Direct", "direct": {"imagesRepo": "old-nexus.example.com/dkp", "username": "u", "password": "p"}}),
    );
    let new = settings(json!({"mode": "Proxy", "proxy": {"imagesRepo": "r.example.com/x"}}));
    let config = node_config(&new, Some(&old), &facts()).unwrap();
    assert!(config.transition);
    assert_eq!(config.proxy_endpoints.len(), 2);
    let r = render(&config, &RenderOptions::default()).unwrap();
    let m = mirrors(file(&r, &hosts_path(VHOST)));
    let urls: Vec<&str> = m.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(
        urls,
        ["https://old-nexus.example.com", "https://127.0.0.1:5001"]
    );
    assert_eq!(m[0].1["rewrite"][0]["replace"].as_str(), Some("dkp"));
    assert_eq!(m[0].1["auth"]["auth"].as_str(), Some(b64("u:p").as_str()));
    assert_eq!(r.host_dirs, [VHOST]);
    // Final phase: the new mirror only.
    let m = mirrors(file(
        &rendered(&new, None, &RenderOptions::default()),
        &hosts_path(VHOST),
    ));
    assert_eq!(m.len(), 1);
}

#[test]
fn transition_from_legacy_and_to_unmanaged_uses_two_folders() {
    let direct = settings(
        json!({"mode": "Direct", "direct": {"imagesRepo": "registry.deckhouse.io/deckhouse/ee"}}),
    );
    let r = rendered(
        &direct,
        Some(&legacy("some-nexus.io/deckhouse")),
        &RenderOptions::default(),
    );
    assert_eq!(
        r.host_dirs,
        ["registry.d8-system.svc:5001", "some-nexus.io"]
    );
    let m = mirrors(file(&r, &hosts_path("some-nexus.io")));
    assert_eq!(m[0].0, "https://some-nexus.io");
    // The transition phase uses config_path, even from legacy.
    assert!(file(&r, CONFIG_PART).contains("config_path"));

    let unmanaged = settings(
        json!({"mode": "Unmanaged", "unmanaged": {"imagesRepo": "harbor.example.com/d8"}}),
    );
    let r = rendered(&unmanaged, Some(&direct), &RenderOptions::default());
    assert_eq!(
        r.host_dirs,
        ["harbor.example.com", "registry.d8-system.svc:5001"]
    );
    let r = rendered(&unmanaged, None, &RenderOptions::default());
    assert_eq!(r.host_dirs, ["harbor.example.com"]);
}

#[test]
fn same_host_and_scheme_is_replaced_in_place() {
    let old = settings(
        json!({"mode": "Direct", "direct": {"imagesRepo": "r.example.com/a", "username": "u", "password": "old"}}),
    );
    let new = settings(
        json!({"mode": "Direct", "direct": {"imagesRepo": "r.example.com/b", "username": "u", "password": "new"}}),
    );
    let m = mirrors(file(
        &rendered(&new, Some(&old), &RenderOptions::default()),
        &hosts_path(VHOST),
    ));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].1["auth"]["auth"].as_str(), Some(b64("u:new").as_str()));
    assert_eq!(m[0].1["rewrite"][0]["replace"].as_str(), Some("b"));
    // Another scheme is another mirror.
    let http = settings(
        json!({"mode": "Direct", "direct": {"imagesRepo": "r.example.com/b", "scheme": "HTTP"}}),
    );
    let m = mirrors(file(
        &rendered(&http, Some(&old), &RenderOptions::default()),
        &hosts_path(VHOST),
    ));
    let urls: Vec<&str> = m.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(urls, ["https://r.example.com", "http://r.example.com"]);
}

#[test]
fn config_part_per_generation() {
    let s = settings(json!({"mode": "Local"}));
    let v1: Table = file(
        &rendered(&s, None, &RenderOptions::new(ContainerdMajor::V1)),
        CONFIG_PART,
    )
    .parse()
    .unwrap();
    assert_eq!(v1["version"].as_integer(), Some(2));
    assert_eq!(
        v1["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["config_path"].as_str(),
        Some(REGISTRY_D)
    );
    let v2: Table = file(
        &rendered(&s, None, &RenderOptions::new(ContainerdMajor::V2)),
        CONFIG_PART,
    )
    .parse()
    .unwrap();
    assert_eq!(v2["version"].as_integer(), Some(3));
    assert_eq!(
        v2["plugins"]["io.containerd.cri.v1.images"]["registry"]["config_path"].as_str(),
        Some(REGISTRY_D)
    );
    assert!(v2["plugins"].get("io.containerd.grpc.v1.cri").is_none());
}

/// containerd's RELEASES.md: config version 2 from 1.3, 3 from 2.0, 4 from 2.3; a release line
/// migrates (and logs it) any older version, and refuses a newer one.
#[test]
fn config_part_version_per_release_line() {
    let s = settings(json!({"mode": "Local"}));
    for (line, want) in [
        ("1.6", 2),
        ("1.7", 2),
        ("2.0", 3),
        ("2.1", 3),
        ("2.2", 3),
        ("2.3", 4),
        ("2.4", 4),
    ] {
        let version: ContainerdVersion = line.parse().unwrap();
        let options = RenderOptions {
            version,
            ..RenderOptions::new(version.generation())
        };
        let part: Table = file(&rendered(&s, None, &options), CONFIG_PART)
            .parse()
            .unwrap();
        assert_eq!(
            part["version"].as_integer(),
            Some(want),
            "containerd {line}"
        );
        let plugin = if want == 2 {
            "io.containerd.grpc.v1.cri"
        } else {
            "io.containerd.cri.v1.images"
        };
        assert_eq!(
            part["plugins"][plugin]["registry"]["config_path"].as_str(),
            Some(REGISTRY_D),
            "containerd {line}"
        );
    }
}

#[test]
fn legacy_inline_format_on_containerd_1() {
    let cfg = b64(&format!(
        r#"{{"auths":{{"some-nexus.io:5000":{{"auth":"{}"}}}}}}"#,
        b64("svc:s3cr\"et")
    ));
    let doc = json!({"apiVersion": "deckhouse.io/v1", "kind": "InitConfiguration", "deckhouse": {
        "imagesRepo": "Some-Nexus.io:5000/deckhouse/ee", "registryDockerCfg": cfg, "registryCA": CA}});
    let s = load(&serde_json::to_vec(&doc).unwrap(), &LoadOptions::default()).unwrap();
    let r = rendered(&s, None, &RenderOptions::new(ContainerdMajor::V1));
    assert!(r.host_dirs.is_empty());
    assert!(r.files.iter().all(|f| !f.path.ends_with("hosts.toml")));
    let t: Table = file(&r, CONFIG_PART).parse().unwrap();
    let registry = &t["plugins"]["io.containerd.grpc.v1.cri"]["registry"];
    assert!(
        registry.get("config_path").is_none(),
        "inline mirrors and config_path exclude each other"
    );
    assert_eq!(
        strings(&registry["mirrors"]["docker.io"]["endpoint"]),
        ["https://registry-1.docker.io"]
    );
    assert_eq!(
        strings(&registry["mirrors"]["Some-Nexus.io:5000"]["endpoint"]),
        ["https://Some-Nexus.io:5000"]
    );
    let configs = &registry["configs"]["Some-Nexus.io:5000"];
    assert_eq!(
        configs["auth"]["auth"].as_str(),
        Some(b64("svc:s3cr\"et").as_str())
    );
    let ca_file = "/opt/deckhouse/share/ca-certificates/registry-some-nexus.io:5000-ca.crt";
    assert_eq!(configs["tls"]["ca_file"].as_str(), Some(ca_file));
    assert_eq!(file(&r, ca_file), CA.trim().to_owned() + "\n");
    assert_eq!(mode_of(&r, CONFIG_PART), 0o600);
    // containerd 2.x never uses the inline form.
    let r2 = rendered(&s, None, &RenderOptions::new(ContainerdMajor::V2));
    assert_eq!(r2.host_dirs, ["Some-Nexus.io:5000"]);
}

#[test]
fn legacy_inline_never_writes_two_tls_tables() {
    // The upstream bug (DOMAIN.md §13): a CA and http on one mirror gave two tls tables. Build
    // that model by hand, since validation forbids it, and check the output stays valid TOML.
    let mirror = Mirror {
        host: "some-nexus.io".into(),
        scheme: Scheme::Http,
        ca: Some(CaBundle::parse(CA).unwrap()),
        auth: None,
        rewrites: vec![],
    };
    let config = NodeConfig {
        mode: Mode::UnmanagedLegacy,
        transition: false,
        images_base: "some-nexus.io/x".into(),
        proxy_endpoints: vec![],
        hosts: BTreeMap::from([("some-nexus.io".to_owned(), vec![mirror])]),
    };
    let r = render(&config, &RenderOptions::new(ContainerdMajor::V1)).unwrap();
    let text = file(&r, CONFIG_PART);
    assert_eq!(text.matches(".tls]").count(), 1, "{text}");
    let t: Table = text.parse().unwrap();
    let tls =
        &t["plugins"]["io.containerd.grpc.v1.cri"]["registry"]["configs"]["some-nexus.io"]["tls"];
    assert_eq!(tls["insecure_skip_verify"].as_bool(), Some(true));
    assert!(tls.get("ca_file").is_none());
}

#[test]
fn upstream_dialect_moves_credentials_and_refuses_rewrites() {
    let upstream = RenderOptions {
        dialect: Dialect::Upstream,
        ..RenderOptions::new(ContainerdMajor::V1)
    };
    let direct = settings(
        json!({"mode": "Direct", "direct": {"imagesRepo": "registry.deckhouse.io/deckhouse/ee"}}),
    );
    let err = render(&node_config(&direct, None, &facts()).unwrap(), &upstream).unwrap_err();
    assert!(
        matches!(&err, RenderError::Refused(m) if m.contains("rewrite")),
        "{err}"
    );

    let s = settings(
        json!({"mode": "Unmanaged", "unmanaged": {"imagesRepo": "harbor.example.com/d8", "username": "robot$ci", "password": "p\\w\"d"}}),
    );
    for generation in [ContainerdMajor::V1, ContainerdMajor::V2] {
        let r = rendered(
            &s,
            None,
            &RenderOptions {
                dialect: Dialect::Upstream,
                ..RenderOptions::new(generation)
            },
        );
        let m = mirrors(file(&r, &hosts_path("harbor.example.com")));
        assert!(m[0].1.get("auth").is_none());
        assert_eq!(mode_of(&r, &hosts_path("harbor.example.com")), 0o644);
        let t: Table = file(&r, CONFIG_PART).parse().unwrap();
        let plugin = if generation == ContainerdMajor::V1 {
            "io.containerd.grpc.v1.cri"
        } else {
            "io.containerd.cri.v1.images"
        };
        let auth =
            &t["plugins"][plugin]["registry"]["configs"]["harbor.example.com"]["auth"]["auth"];
        assert_eq!(auth.as_str(), Some(b64("robot$ci:p\\w\"d").as_str()));
        assert_eq!(mode_of(&r, CONFIG_PART), 0o600);
        assert_eq!(r.warnings.is_empty(), generation == ContainerdMajor::V1);
    }
    // Direct at /system/deckhouse needs no rewrite, so stock containerd can serve it.
    let plain = settings(
        json!({"mode": "Direct", "direct": {"imagesRepo": "r.example.com/system/deckhouse"}}),
    );
    assert!(render(&node_config(&plain, None, &facts()).unwrap(), &upstream).is_ok());
}

#[test]
fn generation_and_release_must_agree() {
    let s = settings(json!({"mode": "Local"}));
    let config = node_config(&s, None, &facts()).unwrap();
    let bad = RenderOptions {
        version: "2.1".parse().unwrap(),
        ..RenderOptions::new(ContainerdMajor::V1)
    };
    assert!(matches!(
        render(&config, &bad),
        Err(RenderError::InvalidOptions(_))
    ));
    for v in ["1.6", "1.7", "2.0", "2.1", "2.2", "2.2+", "2.4"] {
        assert!(v.parse::<ContainerdVersion>().is_ok(), "{v}");
    }
    for v in ["1.5", "3.0", "2", "x.y", ""] {
        assert!(v.parse::<ContainerdVersion>().is_err(), "{v}");
    }
    // A release line outside 1.6–2.x is unsupported; anything not X.Y is malformed.
    for v in ["1.5", "3.0"] {
        assert_eq!(
            v.parse::<ContainerdVersion>(),
            Err(ContainerdVersionError::Unsupported { input: v.into() })
        );
    }
    for v in ["2", "x.y", ""] {
        assert_eq!(
            v.parse::<ContainerdVersion>(),
            Err(ContainerdVersionError::Malformed { input: v.into() })
        );
    }
}

#[test]
fn version_is_stable_and_changes_with_any_input() {
    let s = settings(
        json!({"mode": "Direct", "direct": {"imagesRepo": "r.example.com/a", "username": "u", "password": "p1"}}),
    );
    let a = rendered(&s, None, &RenderOptions::default());
    let b = rendered(&s, None, &RenderOptions::default());
    assert_eq!(a, b, "rendering is deterministic");
    assert_eq!(a.version.len(), 64);
    let other_password = settings(
        json!({"mode": "Direct", "direct": {"imagesRepo": "r.example.com/a", "username": "u", "password": "p2"}}),
    );
    assert_ne!(
        rendered(&other_password, None, &RenderOptions::default()).version,
        a.version
    );
    assert_ne!(
        rendered(&s, None, &RenderOptions::new(ContainerdMajor::V2)).version,
        a.version
    );
    let config = node_config(&s, None, &facts()).unwrap();
    assert_eq!(
        config.version(),
        node_config(&s, None, &facts()).unwrap().version()
    );
    assert_ne!(
        config.version(),
        node_config(&other_password, None, &facts())
            .unwrap()
            .version()
    );
}

#[test]
fn files_are_sorted_and_absolute() {
    let s =
        settings(json!({"mode": "Proxy", "proxy": {"imagesRepo": "r.example.com/x", "ca": CA}}));
    let r = rendered(
        &s,
        Some(&settings(json!({"mode": "Direct", "direct": {}}))),
        &RenderOptions::default(),
    );
    let paths: Vec<&str> = r.files.iter().map(|f| f.path.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert!(
        paths
            .iter()
            .all(|p| p.starts_with('/') && !p.contains(".."))
    );
}
