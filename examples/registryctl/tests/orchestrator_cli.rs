//! The command-line contract of `registryctl reconcile` and `registryctl simulate`.
#![allow(clippy::unwrap_used)]

mod common;

use common::{config, run, stdout};
use std::path::PathBuf;

#[test]
fn simulate_direct_to_proxy_on_three_masters_finishes_ready() {
    let out = run(&[
        "simulate",
        "--from",
        &config("direct.yaml"),
        "--to",
        &config("proxy.yaml"),
        "--cluster",
        &config("cluster.yaml"),
    ]);
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
    let again = run(&[
        "simulate",
        "--from",
        &config("direct.yaml"),
        "--to",
        &config("proxy.yaml"),
        "--cluster",
        &config("cluster.yaml"),
    ]);
    assert_eq!(stdout(&again), t);
}

#[test]
fn simulate_refused_local_to_proxy_prints_the_route_and_exits_1() {
    let out = run(&[
        "simulate",
        "--from",
        &config("local.yaml"),
        "--to",
        &config("proxy.yaml"),
        "--cluster",
        &config("cluster.yaml"),
        "--format",
        "json",
    ]);
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
