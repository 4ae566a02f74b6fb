//! The command-line contract of `registryctl reconcile` and `registryctl simulate`.
#![allow(clippy::unwrap_used)]

mod common;

use common::{config, run, stdout};
use std::path::PathBuf;
use std::process::Output;

/// `registryctl simulate` from one bundled config to another on the bundled cluster, plus `extra`.
fn simulate(from: &str, to: &str, extra: &[&str]) -> Output {
    let (from, to, cluster) = (config(from), config(to), config("cluster.yaml"));
    let mut args = vec![
        "simulate",
        "--from",
        &from,
        "--to",
        &to,
        "--cluster",
        &cluster,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn simulate_direct_to_proxy_on_three_masters_finishes_ready() {
    let out = simulate("direct.yaml", "proxy.yaml", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = stdout(&out);
    assert!(t.starts_with("step  1  mode Direct  target Proxy  not Ready: Transitioning to Proxy\n  ✗ RegistryContainsRequiredImages: Initializing\n"), "{t}");
    assert!(
        t.contains("  ✗ NodeServicesReady: 0/3 node(s) ready. Waiting:\n"),
        "{t}"
    );
    assert!(
        t.contains("      3/4 node(s) ready. Waiting:\n      - worker-0: \""),
        "the lagging node: {t}"
    );
    let last = t.rsplit("step ").next().unwrap();
    assert!(last.contains("mode Proxy  target Proxy  Ready\n"), "{last}");
    assert!(
        !t.contains("example-license-key"),
        "no secret in the timeline"
    );
    // Same input, same timeline.
    let again = simulate("direct.yaml", "proxy.yaml", &[]);
    assert_eq!(stdout(&again), t);
}

#[test]
fn simulate_writes_what_the_masters_run_and_render_takes_its_facts() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("nodes");
    let out = simulate(
        "direct.yaml",
        "local.yaml",
        &["--write-nodes", out_dir.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["mode"], "Local");
    // The facts render reads: the cluster's, with the state's CA and read-only user.
    let facts = out_dir.join("cluster.yaml");
    for secret in [out_dir.join("state.json"), facts.clone()] {
        assert_eq!(mode(&secret), 0o600, "{secret:?}");
    }
    let f: serde_json::Value = serde_json::from_slice(&std::fs::read(&facts).unwrap()).unwrap();
    assert_eq!(
        f["readOnlyUser"]["password"],
        state["users"]["ro"]["password"]
    );
    assert_eq!(f["moduleCA"], state["pki"]["ca"]["cert"]);
    // One folder per master (the worker runs no registry), each config naming its own files.
    for (i, ip) in ["10.0.0.10", "10.0.0.11", "10.0.0.12"].iter().enumerate() {
        let node = out_dir.join(format!("master-{i}"));
        let config = node.join("etc/kubernetes/registry/config.yaml");
        let c: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        assert_eq!(c["listen"], format!("{ip}:5001"));
        for key in [
            "root",
            "tlsCert",
            "tlsKey",
            "htpasswd",
            "peerCa",
            "peerPasswordFile",
        ] {
            let p = c[key].as_str().unwrap();
            assert!(p.starts_with(node.to_str().unwrap()), "{key}: {p}");
        }
        assert!(std::path::Path::new(c["tlsKey"].as_str().unwrap()).is_file());
    }
    assert!(!out_dir.join("worker-0").exists());
    let render_dir = dir.path().join("node");
    let rendered = run(&[
        "render",
        "--desired",
        &config("local.yaml"),
        "--cluster",
        facts.to_str().unwrap(),
        "--out",
        render_dir.to_str().unwrap(),
    ]);
    assert_eq!(
        rendered.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );

    // A folder that is not empty is refused, and left as it is.
    let before = std::fs::read(out_dir.join("state.json")).unwrap();
    let again = simulate(
        "direct.yaml",
        "local.yaml",
        &["--seed", "2", "--write-nodes", out_dir.to_str().unwrap()],
    );
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("is not empty") && err.contains(out_dir.to_str().unwrap()),
        "{err}"
    );
    assert_eq!(std::fs::read(out_dir.join("state.json")).unwrap(), before);

    // A switch that does not finish writes nothing.
    let refused = dir.path().join("refused");
    let out = simulate(
        "local.yaml",
        "proxy.yaml",
        &["--write-nodes", refused.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!refused.exists());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was written"));
}

#[test]
fn simulate_refused_local_to_proxy_prints_the_route_and_exits_1() {
    let out = simulate("local.yaml", "proxy.yaml", &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &v[0]["conditions"][0];
    assert_eq!(c["type"], "ErrTransitionNotSupported");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .ends_with("route: Local → Direct → Proxy")
    );
}

#[test]
fn reconcile_prints_the_step_and_names_bad_fields() {
    let dir = tempfile::tempdir().unwrap();
    let state: PathBuf = dir.path().join("state.json");
    let inputs: PathBuf = dir.path().join("inputs.yaml");
    std::fs::write(&state, "{}").unwrap();
    std::fs::write(&inputs, "settings: {mode: UnmanagedLegacy}\n").unwrap();
    let (s, i) = (state.to_str().unwrap(), inputs.to_str().unwrap());
    let out = run(&[
        "reconcile",
        "--state",
        s,
        "--inputs",
        i,
        "--seed",
        "1",
        "--now",
        "2026-12-01T10:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ready"], true);
    assert_eq!(v["state"]["mode"], "UnmanagedLegacy");
    assert_eq!(
        v["state"]["conditions"][0]["lastTransitionTime"],
        "2026-12-01T10:00:00Z"
    );

    std::fs::write(&inputs, "nodes: {n1: {ready: maybe}}\n").unwrap();
    let out = run(&["reconcile", "--state", s, "--inputs", i]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("inputs.yaml: orchestrator inputs: nodes.n1.ready"),
        "{err}"
    );
    let out = run(&[
        "reconcile",
        "--state",
        s,
        "--inputs",
        i,
        "--now",
        "yesterday",
    ]);
    assert_eq!(out.status.code(), Some(2));
}
