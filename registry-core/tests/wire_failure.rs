//! Every core error becomes the wire's one error shape with the code the rules give it and its
//! structured detail, and the switch check of `wire::render` refuses what `transition::plan`
//! refuses.

#![allow(clippy::unwrap_used)]

use registry_core::containerd::{self, ContainerdMajor, RenderOptions, SwitchCheck};
use registry_core::facts::ClusterFacts;
use registry_core::settings::{self, LoadError, LoadOptions, Mode, RegistrySettings};
use registry_core::store::Store;
use registry_core::wire::{self, Detail, ErrorCode, Failure};

fn config(name: &str) -> RegistrySettings {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/configs/");
    let bytes = std::fs::read(format!("{path}{name}")).unwrap();
    settings::load(&bytes, &LoadOptions::default()).unwrap()
}

#[test]
fn invalid_settings_carry_every_problem() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/configs/invalid.yaml"
    );
    let e = settings::load(&std::fs::read(path).unwrap(), &LoadOptions::default()).unwrap_err();
    let f = Failure::from(&e);
    assert_eq!(f.code, ErrorCode::InvalidSettings);
    let LoadError::Invalid(problems) = &e else {
        panic!("{e}")
    };
    assert_eq!(f.problems(), problems.0.as_slice());
    assert!(!f.problems().is_empty());
}

#[test]
fn a_wrong_facts_field_is_named_in_the_detail() {
    let e =
        ClusterFacts::load(br#"{"nodes": [{"name": "a", "role": "Master", "ip": "300.1.1.1"}]}"#)
            .unwrap_err();
    let f = Failure::from(e);
    assert_eq!(f.code, ErrorCode::InvalidFacts);
    let Some(Detail::Field { path }) = &f.detail else {
        panic!("{f:?}")
    };
    assert!(path.starts_with("nodes[0]"), "{path}");
}

#[test]
fn a_refused_switch_stops_render_unless_skipped() {
    let local = config("local.yaml");
    let proxy = config("proxy.yaml");
    let facts = ClusterFacts::default();
    let mut options = RenderOptions::new(ContainerdMajor::V1);
    let f = wire::render(&proxy, Some(&local), &facts, &options).unwrap_err();
    assert_eq!(f.code, ErrorCode::TransitionRefused);
    let Some(Detail::Refusal {
        from,
        to,
        route,
        reasons,
    }) = &f.detail
    else {
        panic!("{f:?}")
    };
    assert_eq!((*from, *to), (Some(Mode::Local), Some(Mode::Proxy)));
    // The seed: Local⇄Proxy only through Direct or Unmanaged.
    assert_eq!(route.first(), Some(&Mode::Local));
    assert_eq!(route.last(), Some(&Mode::Proxy));
    assert!(route.len() == 3, "{route:?}");
    assert!(!reasons.is_empty());
    options.switch_check = SwitchCheck::Skip;
    let facts_with_ca = ClusterFacts::load(
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/configs/cluster.yaml"
        ))
        .unwrap()
        .as_slice(),
    )
    .unwrap();
    let skipped = wire::render(&proxy, Some(&local), &facts_with_ca, &options).unwrap();
    assert!(!skipped.files.is_empty());
}

#[test]
fn an_allowed_switch_renders_as_containerd_render_does() {
    let direct = config("direct.yaml");
    let unmanaged = config("unmanaged.yaml");
    let facts = ClusterFacts::default();
    let options = RenderOptions::new(ContainerdMajor::V2);
    let via_wire = wire::render(&direct, Some(&unmanaged), &facts, &options).unwrap();
    let model = containerd::node_config(&direct, Some(&unmanaged), &facts).unwrap();
    assert_eq!(via_wire, containerd::render(&model, &options).unwrap());
}

#[test]
fn a_digest_mismatch_says_what_was_promised_and_what_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let promised = store.put_bytes(b"other", None).unwrap().digest;
    let e = store.put_bytes(b"payload", Some(&promised)).unwrap_err();
    let f = Failure::from(&e);
    assert_eq!(f.code, ErrorCode::DigestMismatch);
    let Some(Detail::DigestMismatch {
        expected,
        actual_size,
        ..
    }) = &f.detail
    else {
        panic!("{f:?}")
    };
    assert_eq!((expected, *actual_size), (&promised, 7));
}

#[test]
fn an_apply_refusal_is_its_own_code_and_io_is_io() {
    let dir = tempfile::tempdir().unwrap();
    let rendered: containerd::Rendered = serde_json::from_value(serde_json::json!({
        "version": "v", "configPath": "/etc/containerd/registry.d", "hostDirs": [],
        "warnings": [], "files": [{"path": "/../outside", "contents": "x", "mode": "0644"}]
    }))
    .unwrap();
    let e = containerd::apply(&rendered, dir.path()).unwrap_err();
    assert_eq!(Failure::from(&e).code, ErrorCode::ApplyRefused);
    assert!(!dir.path().join("..").join("outside").exists());
    let e = containerd::preflight(&dir.path().join("missing")).unwrap_err();
    assert_eq!(Failure::from(e).code, ErrorCode::Io);
}

#[test]
fn orchestrator_errors_have_codes() {
    use registry_core::containerd::RenderError;
    use registry_core::orchestrator::{ReconcileError, Timestamp};
    // A step that cannot render a node's configuration fails with the render's own code.
    let render = RenderError::MissingInput("Proxy needs the masters' addresses".into());
    let e = ReconcileError::from(render.clone());
    assert_eq!(e.code(), render.code());
    assert_eq!(e.code(), ErrorCode::RenderMissingInput);
    let f = Failure::from(&e);
    assert_eq!(f.code, ErrorCode::RenderMissingInput);
    assert!(
        f.message.contains("Proxy needs the masters' addresses"),
        "{}",
        f.message
    );
    // A time that is not RFC 3339 UTC is a request that does not fit the schema.
    let bad = "2026-12-01 10:00:00".parse::<Timestamp>().unwrap_err();
    assert_eq!(bad.code(), ErrorCode::InvalidArgument);
    assert_eq!(Failure::from(bad).code, ErrorCode::InvalidArgument);
    assert_eq!(ErrorCode::PkiFailed as i32, 60);
    assert_eq!(ErrorCode::PkiFailed.name(), "PkiFailed");
}
