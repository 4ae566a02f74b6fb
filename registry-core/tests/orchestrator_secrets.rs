//! The `deckhouse-registry` secret (DOMAIN.md §9): forms, `.dockerconfigjson`, the hash the
//! leader pod reports, and reading credentials back; the checker's version (§10).
#![allow(clippy::unwrap_used)]

#[path = "support/orch.rs"]
mod orch;

use base64::Engine as _;
use registry_core::orchestrator::{CheckerParams, RegistrySecret, docker_config_json};
use registry_core::settings::{CheckMode, Mode, Scheme, Secret, Upstream};
use sha2::{Digest as _, Sha256};

fn hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn managed_and_unmanaged_forms() {
    let m = RegistrySecret::managed("CA-PEM\n", Some(("ro", "p<&>")));
    assert_eq!(
        (m.address.as_str(), m.path.as_str(), m.scheme.as_str()),
        ("registry.d8-system.svc:5001", "/system/deckhouse", "https")
    );
    // Go escapes <, > and & inside JSON strings.
    assert_eq!(
        m.dockerconfigjson.expose(),
        r#"{"auths":{"registry.d8-system.svc:5001":{"username":"ro","password":"p\u003c\u0026\u003e","auth":"cm86cDwmPg=="}}}"#
    );
    let u = RegistrySecret::unmanaged(&orch::upstream("nexus.example.com:8443/dkp/ee"));
    assert_eq!(
        (
            u.address.as_str(),
            u.path.as_str(),
            u.scheme.as_str(),
            u.ca.as_str()
        ),
        ("nexus.example.com:8443", "/dkp/ee", "https", "")
    );
    let anonymous = RegistrySecret::unmanaged(
        &Upstream::from_images_repo("r.example/x", Scheme::Http).unwrap(),
    );
    assert_eq!(
        anonymous.dockerconfigjson.expose(),
        r#"{"auths":{"r.example":{}}}"#
    );
    assert_eq!(anonymous.scheme, "http");
    assert_eq!(
        docker_config_json("h", Some(("u", ""))).expose(),
        r#"{"auths":{"h":{"username":"u"}}}"#
    );
}

#[test]
fn hash_is_sha256_of_the_go_json_with_base64_dockerconfig() {
    let s = RegistrySecret::unmanaged(&orch::upstream("nexus.example.com:8443/dkp/ee"));
    let b64 = base64::engine::general_purpose::STANDARD.encode(s.dockerconfigjson.expose());
    let doc = format!(
        r#"{{"address":"nexus.example.com:8443","path":"/dkp/ee","scheme":"https",".dockerconfigjson":"{b64}"}}"#
    );
    assert_eq!(s.hash(), hex(doc.as_bytes()));
    let with_ca = RegistrySecret {
        ca: "X".into(),
        ..s.clone()
    };
    let doc = format!(
        r#"{{"address":"nexus.example.com:8443","path":"/dkp/ee","scheme":"https","ca":"X",".dockerconfigjson":"{b64}"}}"#
    );
    assert_eq!(with_ca.hash(), hex(doc.as_bytes()));
}

#[test]
fn credentials_are_read_back_from_every_docker_config_form() {
    for config in [
        r#"{"auths":{"nexus.example.com:8443":{"username":"svc","password":"pw"}}}"#,
        r#"{"auths":{"nexus.example.com:8443":{"auth":"c3ZjOnB3"}}}"#,
        r#"{"auths":{"https://NEXUS.example.com:8443/v2/":{"auth":"c3ZjOnB3"}}}"#,
    ] {
        let s = RegistrySecret {
            address: "nexus.example.com:8443".into(),
            path: "/dkp/ee".into(),
            scheme: "https".into(),
            ca: String::new(),
            dockerconfigjson: Secret::new(config),
        };
        let up = s.to_upstream().unwrap();
        assert_eq!(
            up,
            orch::upstream("nexus.example.com:8443/dkp/ee"),
            "{config}"
        );
    }
    // Unpadded base64 of "svc:pwd" is accepted too.
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD.encode("svc:pwd");
    let s = RegistrySecret {
        address: "r.example".into(),
        path: String::new(),
        scheme: "HTTP".into(),
        ca: String::new(),
        dockerconfigjson: Secret::new(format!(r#"{{"auths":{{"r.example":{{"auth":"{raw}"}}}}}}"#)),
    };
    let up = s.to_upstream().unwrap();
    assert_eq!(up.scheme(), Scheme::Http);
    assert_eq!(up.credentials().unwrap().basic_auth().1.expose(), "pwd");
}

#[test]
fn checker_version_changes_with_registries_target_and_mode() {
    let a = CheckerParams::new(Default::default(), Mode::Direct, CheckMode::Default);
    let b = CheckerParams::new(Default::default(), Mode::Proxy, CheckMode::Default);
    let c = CheckerParams::new(Default::default(), Mode::Direct, CheckMode::Relax);
    assert!(a.version != b.version && a.version != c.version && b.version != c.version);
    assert_eq!(
        a,
        CheckerParams::new(Default::default(), Mode::Direct, CheckMode::Default)
    );
}
