//! The settings rules of DOMAIN.md §2.1–2.2 and the issue's hardening rules, as a table of
//! accepted and refused inputs. Expected values come from the rules, not from the program.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use registry_core::input::DocumentError;
use registry_core::settings::{
    AddressError, CaBundle, CaError, CheckMode, CredentialError, Credentials, LoadError,
    LoadOptions, Mode, ProblemCode, RegistrySettings, Scheme, Secret, Upstream, UpstreamError,
    load,
};
use serde_json::{Value, json};

const CA: &str = include_str!("fixtures/ca.pem");
const CA2: &str = include_str!("fixtures/ca2.pem");

fn module_config(registry: Value) -> Vec<u8> {
    let doc = json!({
        "apiVersion": "deckhouse.io/v1alpha1",
        "kind": "ModuleConfig",
        "metadata": {"name": "deckhouse"},
        "spec": {"version": 1, "settings": {"registry": registry}},
    });
    serde_json::to_vec(&doc).unwrap()
}

fn ok(registry: Value) -> RegistrySettings {
    match load(&module_config(registry.clone()), &LoadOptions::default()) {
        Ok(s) => s,
        Err(e) => panic!("expected {registry} to be valid, got {e}"),
    }
}

/// The (path, code) pairs of every problem, in order.
fn problems(registry: Value) -> Vec<(String, ProblemCode)> {
    problems_of(&module_config(registry), &LoadOptions::default())
}

fn problems_of(input: &[u8], options: &LoadOptions) -> Vec<(String, ProblemCode)> {
    match load(input, options) {
        Err(LoadError::Invalid(p)) => p.0.into_iter().map(|p| (p.path, p.code)).collect(),
        other => panic!("expected problems, got {other:?}"),
    }
}

fn at(field: &str, code: ProblemCode) -> (String, ProblemCode) {
    (format!("spec.settings.registry.{field}"), code)
}

#[test]
fn absent_registry_or_section_means_legacy_unmanaged() {
    let legacy = RegistrySettings::UnmanagedLegacy { upstream: None };
    assert_eq!(ok(json!({})), legacy);
    assert_eq!(ok(json!({"mode": "Unmanaged"})), legacy);
    assert_eq!(ok(json!({"mode": "Unmanaged", "unmanaged": null})), legacy);
    let doc = br#"{"apiVersion":"deckhouse.io/v1alpha1","kind":"ModuleConfig","metadata":{"name":"deckhouse"},"spec":{"settings":{}}}"#;
    assert_eq!(load(doc, &LoadOptions::default()), Ok(legacy.clone()));
    let no_spec = br#"{"apiVersion":"deckhouse.io/v1alpha1","kind":"ModuleConfig","metadata":{"name":"deckhouse"}}"#;
    assert_eq!(load(no_spec, &LoadOptions::default()), Ok(legacy));
}

#[test]
fn unmanaged_section_makes_it_configurable_with_defaults() {
    let s = ok(json!({"unmanaged": {"imagesRepo": "nexus.example.com:8443/dkp/ee"}}));
    assert_eq!(s.mode(), Mode::Unmanaged);
    let u = s.upstream().unwrap();
    assert_eq!(
        (u.host(), u.port(), u.path()),
        ("nexus.example.com", Some(8443), "/dkp/ee")
    );
    assert_eq!(u.scheme(), Scheme::Https);
    assert_eq!(u.check_mode(), CheckMode::Default);
    assert_eq!(u.credentials(), None);
    assert_eq!(
        s.images_base().as_deref(),
        Some("nexus.example.com:8443/dkp/ee")
    );
}

#[test]
fn defaults_fill_images_repo_scheme_and_ttl() {
    let s = ok(json!({"mode": "Direct", "direct": {}}));
    assert_eq!(
        s.upstream().unwrap().images_repo(),
        "registry.deckhouse.io/deckhouse/ce"
    );
    assert_eq!(s.upstream().unwrap().scheme(), Scheme::Https);
    let RegistrySettings::Proxy { ttl, .. } =
        ok(json!({"mode": "Proxy", "proxy": {"imagesRepo": "r.example.com/x"}}))
    else {
        panic!("expected Proxy")
    };
    assert_eq!(ttl.as_secs(), 7 * 24 * 3600);
    assert_eq!(ok(json!({"mode": "Local"})), RegistrySettings::Local);
}

#[test]
fn images_repo_is_trimmed_of_whitespace_and_trailing_slashes() {
    let s = ok(json!({"mode": "Direct", "direct": {"imagesRepo": "  reg.example.com/a/b//  "}}));
    assert_eq!(s.upstream().unwrap().images_repo(), "reg.example.com/a/b");
    let s = ok(json!({"mode": "Direct", "direct": {"imagesRepo": "10.0.0.1:5000"}}));
    assert_eq!(
        (s.upstream().unwrap().host(), s.upstream().unwrap().path()),
        ("10.0.0.1", "")
    );
}

#[test]
fn ttl_floor_is_inclusive() {
    let RegistrySettings::Proxy { ttl, .. } = ok(json!({"mode": "Proxy", "proxy": {"ttl": "5m"}}))
    else {
        panic!()
    };
    assert_eq!(ttl.as_secs(), 300);
    let RegistrySettings::Proxy { ttl, .. } =
        ok(json!({"mode": "Proxy", "proxy": {"ttl": "1h30m15s"}}))
    else {
        panic!()
    };
    assert_eq!(ttl.as_secs(), 3600 + 30 * 60 + 15);
    assert_eq!(
        problems(json!({"mode": "Proxy", "proxy": {"ttl": "4m59s"}})),
        [at("proxy.ttl", ProblemCode::TtlTooShort)]
    );
    assert_eq!(
        problems(json!({"mode": "Proxy", "proxy": {"ttl": "1d"}})),
        [at("proxy.ttl", ProblemCode::InvalidTtl)]
    );
    assert_eq!(
        problems(json!({"mode": "Proxy", "proxy": {"ttl": ""}})),
        [at("proxy.ttl", ProblemCode::InvalidTtl)]
    );
    assert_eq!(
        problems(json!({"mode": "Direct", "direct": {"ttl": "1h"}})),
        [at("direct.ttl", ProblemCode::UnknownField)]
    );
}

#[test]
fn credentials_are_a_pair_or_a_license() {
    let s = ok(json!({"mode": "Direct", "direct": {"username": "svc", "password": "p@ss:w\"ord"}}));
    match s.upstream().unwrap().credentials() {
        Some(Credentials::UserPassword { username, password }) => {
            assert_eq!(
                (username.as_str(), password.expose()),
                ("svc", "p@ss:w\"ord")
            )
        }
        other => panic!("{other:?}"),
    }
    let s = ok(json!({"mode": "Direct", "direct": {"license": "L"}}));
    assert_eq!(
        s.upstream().unwrap().credentials().unwrap().basic_auth().0,
        "license-token"
    );
    // Empty strings count as absent, as in the upstream Go validation.
    let s = ok(
        json!({"mode": "Direct", "direct": {"license": "", "username": "", "password": "", "ca": ""}}),
    );
    assert_eq!(s.upstream().unwrap().credentials(), None);

    let d = |v: Value| problems(json!({"mode": "Direct", "direct": v}));
    assert_eq!(
        d(json!({"username": "u"})),
        [at("direct.password", ProblemCode::IncompleteCredentials)]
    );
    assert_eq!(
        d(json!({"password": "p"})),
        [at("direct.username", ProblemCode::IncompleteCredentials)]
    );
    assert_eq!(
        d(json!({"license": "L", "username": "u", "password": "p"})),
        [at("direct.license", ProblemCode::ConflictingCredentials)]
    );
    assert_eq!(
        d(json!({"license": "L", "username": "u"})),
        [
            at("direct.password", ProblemCode::IncompleteCredentials),
            at("direct.license", ProblemCode::ConflictingCredentials)
        ]
    );
    assert_eq!(
        d(json!({"username": "a:b", "password": "p"})),
        [at("direct.username", ProblemCode::InvalidUsername)]
    );
}

#[test]
fn ca_must_be_real_x509_pem_and_never_with_http() {
    let s = ok(json!({"mode": "Direct", "direct": {"ca": CA}}));
    assert_eq!(
        s.upstream().unwrap().ca().unwrap().subjects(),
        ["CN=registry-test-ca"]
    );
    let bundle = format!("{CA}\n{CA2}");
    let s = ok(json!({"mode": "Direct", "direct": {"ca": bundle}}));
    assert_eq!(s.upstream().unwrap().ca().unwrap().subjects().len(), 2);

    let d = |v: Value| problems(json!({"mode": "Direct", "direct": v}));
    assert_eq!(
        d(json!({"ca": CA, "scheme": "HTTP"})),
        [at("direct.ca", ProblemCode::CaWithHttp)]
    );
    assert_eq!(
        d(json!({"ca": "just text"})),
        [at("direct.ca", ProblemCode::InvalidCa)]
    );
    let key_block = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert_eq!(
        d(json!({"ca": key_block})),
        [at("direct.ca", ProblemCode::InvalidCa)]
    );
    let not_der = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
    assert_eq!(
        d(json!({"ca": not_der})),
        [at("direct.ca", ProblemCode::InvalidCa)]
    );
    let truncated = &CA[..CA.len() / 2];
    assert_eq!(
        d(json!({"ca": truncated})),
        [at("direct.ca", ProblemCode::InvalidCa)]
    );
    let trailing = format!("{CA}garbage\n");
    assert_eq!(
        d(json!({"ca": trailing})),
        [at("direct.ca", ProblemCode::InvalidCa)]
    );
}

#[test]
fn enumerations_are_exact() {
    assert_eq!(
        problems(json!({"mode": "direct"})),
        [at("mode", ProblemCode::InvalidEnum)]
    );
    assert_eq!(
        problems(json!({"mode": "UnmanagedLegacy"})),
        [at("mode", ProblemCode::InvalidEnum)]
    );
    let d = |v: Value| problems(json!({"mode": "Direct", "direct": v}));
    assert_eq!(
        d(json!({"scheme": "https"})),
        [at("direct.scheme", ProblemCode::InvalidEnum)]
    );
    assert_eq!(
        d(json!({"checkMode": "relax"})),
        [at("direct.checkMode", ProblemCode::InvalidEnum)]
    );
    assert_eq!(
        d(json!({"scheme": 1})),
        [at("direct.scheme", ProblemCode::InvalidType)]
    );
    let relax = ok(json!({"mode": "Direct", "direct": {"checkMode": "Relax", "scheme": "HTTP"}}));
    assert_eq!(relax.upstream().unwrap().check_mode(), CheckMode::Relax);
    assert_eq!(relax.upstream().unwrap().scheme(), Scheme::Http);
}

#[test]
fn each_mode_takes_exactly_its_section() {
    assert_eq!(
        problems(json!({"mode": "Direct"})),
        [at("direct", ProblemCode::SectionRequired)]
    );
    assert_eq!(
        problems(json!({"mode": "Proxy"})),
        [at("proxy", ProblemCode::SectionRequired)]
    );
    assert_eq!(
        problems(json!({"mode": "Proxy", "proxy": {}, "unmanaged": {}})),
        [at("unmanaged", ProblemCode::SectionNotAllowed)]
    );
    assert_eq!(
        problems(json!({"mode": "Local", "direct": {}, "proxy": {}, "unmanaged": {}})),
        [
            at("direct", ProblemCode::SectionNotAllowed),
            at("unmanaged", ProblemCode::SectionNotAllowed),
            at("proxy", ProblemCode::SectionNotAllowed)
        ]
    );
    assert_eq!(
        problems(json!({"mode": "Unmanaged", "direct": {}})),
        [at("direct", ProblemCode::SectionNotAllowed)]
    );
    assert_eq!(
        problems(json!({"mode": "Direct", "direct": "x"})),
        [at("direct", ProblemCode::InvalidType)]
    );
}

#[test]
fn host_port_and_path_grammar() {
    let repo = |r: &str| problems(json!({"mode": "Direct", "direct": {"imagesRepo": r}}));
    let field = "direct.imagesRepo";
    assert_eq!(repo(""), [at(field, ProblemCode::Empty)]);
    assert_eq!(repo(" / "), [at(field, ProblemCode::Empty)]);
    assert_eq!(
        repo("reg.example.com:0/x"),
        [at(field, ProblemCode::InvalidPort)]
    );
    assert_eq!(
        repo("reg.example.com:65536/x"),
        [at(field, ProblemCode::InvalidPort)]
    );
    assert_eq!(
        repo("reg.example.com:/x"),
        [at(field, ProblemCode::InvalidPort)]
    );
    assert_eq!(
        repo("reg_example.com/x"),
        [at(field, ProblemCode::InvalidHost)]
    );
    assert_eq!(
        repo("-reg.example.com"),
        [at(field, ProblemCode::InvalidHost)]
    );
    assert_eq!(
        repo("reg..example.com"),
        [at(field, ProblemCode::InvalidHost)]
    );
    assert_eq!(
        repo("reg.example.com/a/./b"),
        [at(field, ProblemCode::InvalidPath)]
    );
    assert_eq!(
        repo("reg.example.com/a/../b"),
        [at(field, ProblemCode::InvalidPath)]
    );
    assert_eq!(
        repo("reg.example.com/a b"),
        [at(field, ProblemCode::InvalidPath)]
    );
    assert_eq!(
        repo("reg.example.com/a$(id)"),
        [at(field, ProblemCode::InvalidPath)]
    );
    assert_eq!(
        repo("https://reg.example.com"),
        [
            at(field, ProblemCode::InvalidPort),
            at(field, ProblemCode::InvalidPath)
        ]
    );
    assert_eq!(
        ok(json!({"mode": "Direct", "direct": {"imagesRepo": "a:65535/b_c/d.e-f"}})).mode(),
        Mode::Direct
    );
}

#[test]
fn control_characters_are_refused_everywhere() {
    let d = |v: Value| problems(json!({"mode": "Direct", "direct": v}));
    assert_eq!(
        d(json!({"imagesRepo": "reg.example.com/a\nb"})),
        [at("direct.imagesRepo", ProblemCode::ControlCharacter)]
    );
    assert_eq!(
        d(json!({"username": "u", "password": "a\u{7f}b"})),
        [at("direct.password", ProblemCode::ControlCharacter)]
    );
    assert_eq!(
        d(json!({"license": "L\r\n"})),
        [at("direct.license", ProblemCode::ControlCharacter)]
    );
    assert_eq!(
        d(json!({"username": "u\u{0}", "password": "p"})),
        [at("direct.username", ProblemCode::ControlCharacter)]
    );
    assert_eq!(
        d(json!({"ca": format!("{CA}\u{1b}")})),
        [at("direct.ca", ProblemCode::ControlCharacter)]
    );
}

#[test]
fn unknown_fields_are_named() {
    assert_eq!(
        problems(json!({"mode": "Local", "extra": 1})),
        [at("extra", ProblemCode::UnknownField)]
    );
    assert_eq!(
        problems(json!({"mode": "Direct", "direct": {"user": "x"}})),
        [at("direct.user", ProblemCode::UnknownField)]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let found = problems(json!({
        "mode": "Proxy",
        "direct": {"imagesRepo": "bad_host"},
        "proxy": {
            "imagesRepo": "reg.example.com:99999/../x",
            "scheme": "HTTP",
            "ca": "nope",
            "username": "u",
            "license": "L",
            "ttl": "1m",
            "checkMode": "Strict",
            "bogus": true,
        },
    }));
    let expected = [
        at("proxy.bogus", ProblemCode::UnknownField),
        at("proxy.checkMode", ProblemCode::InvalidEnum),
        at("proxy.imagesRepo", ProblemCode::InvalidPort),
        at("proxy.imagesRepo", ProblemCode::InvalidPath),
        at("proxy.ca", ProblemCode::InvalidCa),
        at("proxy.ca", ProblemCode::CaWithHttp),
        at("proxy.password", ProblemCode::IncompleteCredentials),
        at("proxy.license", ProblemCode::ConflictingCredentials),
        at("proxy.ttl", ProblemCode::TtlTooShort),
        at("direct.imagesRepo", ProblemCode::InvalidHost),
        at("direct", ProblemCode::SectionNotAllowed),
    ];
    let mut found_sorted = found.clone();
    let mut expected_sorted = expected.to_vec();
    found_sorted.sort_by(|a, b| (&a.0, a.1 as u8).cmp(&(&b.0, b.1 as u8)));
    expected_sorted.sort_by(|a, b| (&a.0, a.1 as u8).cmp(&(&b.0, b.1 as u8)));
    assert_eq!(found_sorted, expected_sorted);
}

#[test]
fn secrets_never_appear_in_messages_or_debug() {
    let secret = "Sup3rSecretValue";
    let input = module_config(json!({"mode": "Direct", "direct": {
        "username": "u", "password": format!("{secret}\n"), "license": secret,
    }}));
    let err = load(&input, &LoadOptions::default()).unwrap_err();
    assert!(!format!("{err} {err:?}").contains(secret));
    let s = ok(json!({"mode": "Direct", "direct": {"username": "u", "password": secret}}));
    assert!(!format!("{s:?}").contains(secret));
    let shown = serde_json::to_string(&s.redacted()).unwrap();
    assert!(!shown.contains(secret) && shown.contains("<redacted>"));
    // The unredacted form carries the secret for the bindings and round-trips.
    let full = serde_json::to_string(&s).unwrap();
    assert!(full.contains(secret));
    assert_eq!(serde_json::from_str::<RegistrySettings>(&full).unwrap(), s);
}

#[test]
fn bootstrap_allows_only_direct_and_unmanaged() {
    let bootstrap = LoadOptions {
        bootstrap: true,
        ..LoadOptions::default()
    };
    for (registry, allowed) in [
        (json!({"mode": "Direct", "direct": {}}), true),
        (json!({"mode": "Unmanaged", "unmanaged": {}}), true),
        (json!({}), true),
        (json!({"mode": "Proxy", "proxy": {}}), false),
        (json!({"mode": "Local"}), false),
    ] {
        let result = load(&module_config(registry.clone()), &bootstrap);
        if allowed {
            assert!(result.is_ok(), "{registry}: {result:?}");
        } else {
            assert_eq!(
                problems_of(&module_config(registry), &bootstrap),
                [at("mode", ProblemCode::ModeNotAllowedAtBootstrap)]
            );
        }
    }
}

fn init_configuration(deckhouse: Value) -> String {
    serde_json::to_string(&json!({"apiVersion": "deckhouse.io/v1", "kind": "InitConfiguration", "deckhouse": deckhouse}))
        .unwrap()
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn init_configuration_gives_legacy_unmanaged_with_its_registry() {
    let cfg = b64(&format!(
        r#"{{"auths":{{"some-nexus.io:5000":{{"auth":"{}"}}}}}}"#,
        b64("svc:pa:ss")
    ));
    let input = init_configuration(json!({
        "imagesRepo": "some-nexus.io:5000/deckhouse/ee", "registryDockerCfg": cfg, "registryScheme": "https", "registryCA": CA,
    }));
    let s = load(input.as_bytes(), &LoadOptions::default()).unwrap();
    assert_eq!(s.mode(), Mode::UnmanagedLegacy);
    let u = s.upstream().unwrap();
    assert_eq!(u.images_repo(), "some-nexus.io:5000/deckhouse/ee");
    assert!(u.ca().is_some());
    let (user, password) = u.credentials().unwrap().basic_auth();
    assert_eq!((user, password.expose()), ("svc", "pa:ss"));

    // Anonymous entry; no InitConfiguration registry keys at all means dhctl's default registry.
    let anon = b64(r#"{"auths":{"r.example.com":{}}}"#);
    let s = load(
        init_configuration(json!({"imagesRepo": "r.example.com/d", "registryDockerCfg": anon}))
            .as_bytes(),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(s.upstream().unwrap().credentials(), None);
    let s = load(
        init_configuration(json!({"releaseChannel": "Stable"})).as_bytes(),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(
        s.upstream().unwrap().images_repo(),
        "registry.deckhouse.io/deckhouse/ce"
    );
}

#[test]
fn init_configuration_problems() {
    let p = |d: Value| problems_of(init_configuration(d).as_bytes(), &LoadOptions::default());
    let code = |path: &str, c| (path.to_owned(), c);
    assert_eq!(
        p(json!({"registryDockerCfg": "%%%"})),
        [code(
            "deckhouse.registryDockerCfg",
            ProblemCode::InvalidDockerConfig
        )]
    );
    let other_host = b64(r#"{"auths":{"other.example.com":{"auth":"dTpw"}}}"#);
    assert_eq!(
        p(json!({"imagesRepo": "r.example.com/x", "registryDockerCfg": other_host})),
        [code(
            "deckhouse.registryDockerCfg",
            ProblemCode::InvalidDockerConfig
        )]
    );
    assert_eq!(
        p(json!({"registryScheme": "ftp"})),
        [code("deckhouse.registryScheme", ProblemCode::InvalidEnum)]
    );
    assert_eq!(
        p(json!({"registryScheme": "HTTP", "registryCA": CA})),
        [code("deckhouse.registryCA", ProblemCode::CaWithHttp)]
    );
}

#[test]
fn settings_in_both_sources_conflict() {
    let mut stream =
        String::from_utf8(module_config(json!({"mode": "Direct", "direct": {}}))).unwrap();
    stream.push_str("\n---\n");
    stream.push_str(&init_configuration(
        json!({"imagesRepo": "r.example.com/x"}),
    ));
    assert_eq!(
        problems_of(stream.as_bytes(), &LoadOptions::default()),
        [at("", ProblemCode::ConflictingSources)]
            .map(|(p, c)| (p.trim_end_matches('.').to_owned(), c))
    );

    // A ModuleConfig without registry settings takes the InitConfiguration's registry.
    let mut stream = String::from_utf8(module_config(Value::Null)).unwrap();
    stream.push_str("\n---\n");
    stream.push_str(&init_configuration(
        json!({"imagesRepo": "r.example.com/x"}),
    ));
    let s = load(stream.as_bytes(), &LoadOptions::default()).unwrap();
    assert_eq!(s.upstream().unwrap().images_repo(), "r.example.com/x");
}

#[test]
fn unusable_documents_are_document_errors() {
    let opts = LoadOptions::default();
    let kind = |input: &str| {
        matches!(
            load(input.as_bytes(), &opts),
            Err(LoadError::Document(DocumentError::WrongKind(_)))
        )
    };
    assert!(kind(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: deckhouse}\n"
    ));
    assert!(kind(
        "apiVersion: deckhouse.io/v1alpha1\nkind: ModuleConfig\nmetadata: {name: global}\n"
    ));
    assert!(kind(
        "apiVersion: deckhouse.io/v1\nkind: ModuleConfig\nmetadata: {name: deckhouse}\n"
    ));
    assert!(kind("just a string"));
    assert!(kind("[1, 2]"));
    assert!(matches!(
        load(b"a: [", &opts),
        Err(LoadError::Document(DocumentError::Syntax { .. }))
    ));
    assert!(matches!(
        load(b"", &opts),
        Err(LoadError::Document(DocumentError::Empty))
    ));
    assert!(matches!(
        load(b"\xff\xfe", &opts),
        Err(LoadError::Document(DocumentError::NotText { .. }))
    ));
    let big = vec![b'#'; 5 << 20];
    assert!(matches!(
        load(&big, &opts),
        Err(LoadError::Document(DocumentError::TooLarge { .. }))
    ));
}

#[test]
fn yaml_and_json_give_the_same_settings() {
    let yaml = format!(
        "apiVersion: deckhouse.io/v1alpha1\nkind: ModuleConfig\nmetadata:\n  name: deckhouse\nspec:\n  settings:\n    registry:\n      mode: Proxy\n      proxy:\n        imagesRepo: r.example.com/x\n        username: u\n        password: \"p#1\"\n        ttl: 2h\n        ca: |\n{}",
        CA.lines()
            .map(|l| format!("          {l}\n"))
            .collect::<String>()
    );
    let from_yaml = load(yaml.as_bytes(), &LoadOptions::default()).unwrap();
    let from_json = ok(
        json!({"mode": "Proxy", "proxy": {"imagesRepo": "r.example.com/x", "username": "u", "password": "p#1", "ttl": "2h", "ca": CA}}),
    );
    assert_eq!(from_yaml, from_json);
}

/// The builder API refuses what validation refuses, with a typed reason whose message names
/// the part; secrets never reach the message or Debug.
#[test]
fn upstream_builder_errors_name_the_part() {
    assert!(matches!(
        Upstream::new("a_b", Scheme::Https),
        Err(UpstreamError::Host(AddressError::Host(_)))
    ));
    // Port 0 and a '..' segment: both parts reported, in the order they appear.
    let e = Upstream::from_images_repo("reg.example:0/x/../y", Scheme::Https).unwrap_err();
    assert!(
        matches!(&e, UpstreamError::ImagesRepo(parts)
            if matches!(parts.as_slice(), [AddressError::Port(_), AddressError::Path(_)])),
        "{e:?}"
    );
    assert!(e.to_string().contains("; "), "{e}");

    let http = Upstream::from_images_repo("reg.example/x", Scheme::Http).unwrap();
    let ca = CaBundle::parse(CA).unwrap();
    assert_eq!(http.with_ca(ca).unwrap_err(), UpstreamError::CaWithHttp);

    let https = Upstream::from_images_repo("reg.example/x", Scheme::Https).unwrap();
    let e = https
        .clone()
        .with_credentials(Credentials::UserPassword {
            username: "a:b".into(),
            password: Secret::new("p"),
        })
        .unwrap_err();
    assert_eq!(e, UpstreamError::Username(CredentialError::ColonInName));
    let e = https
        .with_credentials(Credentials::License {
            license: Secret::new("lic\u{7}key"),
        })
        .unwrap_err();
    assert_eq!(
        e,
        UpstreamError::License(CredentialError::ControlInSecret(7))
    );
    assert_eq!(
        e.to_string(),
        "license: contains a control character (U+0007)"
    );
    assert!(!format!("{e:?}").contains("key"), "{e:?}");
}

/// Each way a PEM bundle is wrong has its own variant, naming the block or line.
#[test]
fn ca_errors_name_the_block_or_line() {
    assert_eq!(CaBundle::parse(""), Err(CaError::NoCertificate));
    assert_eq!(
        CaBundle::parse("junk"),
        Err(CaError::TextOutsideBlock { line: 1 })
    );
    assert!(matches!(
        CaBundle::parse("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"),
        Err(CaError::NotX509 { block: 1, .. })
    ));
    assert_eq!(
        CaBundle::parse(&format!(
            "{CA}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
        )),
        Err(CaError::NotACertificate {
            block: 2,
            label: "PRIVATE KEY".into()
        })
    );
    assert_eq!(
        CaBundle::parse("-----BEGIN CERTIFICATE-----\nAAAA"),
        Err(CaError::Unclosed)
    );
}
