//! The command-line contract of `registryctl load-settings` and `registryctl plan`: exit codes,
//! JSON shapes, one-line reasons for unusable input, and no secret in any output.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

mod common;

use common::{config, json, run, run_stdin, text};
use std::path::Path;
use std::process::Output;

#[test]
fn the_old_command_names_stay_as_aliases() {
    let new = run(&["load-settings", "--format", "json", &config("invalid.yaml")]);
    let old = run(&["validate", "--format", "json", &config("invalid.yaml")]);
    assert_eq!(new.status.code(), Some(1));
    assert_eq!(
        (old.status.code(), &old.stdout),
        (new.status.code(), &new.stdout)
    );
}

#[test]
fn every_bundled_mode_config_is_valid() {
    for (file, mode) in [
        ("direct.yaml", "Direct"),
        ("proxy.yaml", "Proxy"),
        ("local.yaml", "Local"),
        ("unmanaged.yaml", "Unmanaged"),
        ("unmanaged-legacy.yaml", "UnmanagedLegacy"),
        ("bootstrap-legacy.yaml", "UnmanagedLegacy"),
    ] {
        let out = run(&["load-settings", "--format", "json", &config(file)]);
        assert_eq!(out.status.code(), Some(0), "{file}: {}", text(&out));
        let v = json(&out);
        assert_eq!(v["valid"], true);
        assert_eq!(v["mode"], mode);
        assert_eq!(v["settings"]["mode"], mode);
    }
}

#[test]
fn secrets_are_redacted_in_text_and_json() {
    for file in [
        "direct.yaml",
        "proxy.yaml",
        "unmanaged.yaml",
        "bootstrap-legacy.yaml",
    ] {
        for format in ["text", "json"] {
            let out = run(&["load-settings", "--format", format, &config(file)]);
            let all = text(&out);
            for secret in ["example-license-key", "example-password", "secret"] {
                assert!(
                    !all.contains(secret),
                    "{file} {format} shows {secret}: {all}"
                );
            }
            assert!(all.contains("<redacted>"), "{file} {format}: {all}");
        }
    }
}

#[test]
fn invalid_settings_list_every_problem_and_exit_1() {
    let out = run(&["load-settings", "--format", "json", &config("invalid.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["valid"], false);
    let problems = v["problems"].as_array().unwrap();
    let codes: Vec<&str> = problems
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    for expected in [
        "InvalidPort",
        "InvalidPath",
        "InvalidCa",
        "CaWithHttp",
        "IncompleteCredentials",
        "ConflictingCredentials",
        "TtlTooShort",
        "SectionNotAllowed",
    ] {
        assert!(
            codes.contains(&expected),
            "{expected} missing from {codes:?}"
        );
    }
    assert!(problems.iter().all(|p| {
        p["path"]
            .as_str()
            .unwrap()
            .starts_with("spec.settings.registry.")
    }));
    assert!(!text(&out).contains("example-license-key"));

    let out = run(&["load-settings", &config("invalid.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("spec.settings.registry.proxy.ttl"));
}

#[test]
fn bootstrap_flag_refuses_proxy_and_local() {
    for (file, code) in [
        ("proxy.yaml", 1),
        ("local.yaml", 1),
        ("direct.yaml", 0),
        ("unmanaged.yaml", 0),
    ] {
        let out = run(&[
            "load-settings",
            "--bootstrap",
            "--format",
            "json",
            &config(file),
        ]);
        assert_eq!(out.status.code(), Some(code), "{file}: {}", text(&out));
        if code == 1 {
            assert_eq!(
                json(&out)["problems"][0]["code"],
                "ModeNotAllowedAtBootstrap"
            );
        }
    }
}

#[test]
fn unusable_input_exits_2_with_one_line() {
    let missing = run(&["load-settings", "/nonexistent/file.yaml"]);
    let not_yaml = run_stdin(&["validate", "-"], b"a: [\n");
    let not_mc = run_stdin(&["validate", "-"], b"apiVersion: v1\nkind: Secret\n");
    let bomb = run_stdin(&["validate", "-"], b"a: &a [x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n");
    let facts = run(&[
        "plan",
        "--current",
        &config("direct.yaml"),
        "--desired",
        &config("proxy.yaml"),
        "--cluster",
        &config("proxy.yaml"),
    ]);
    for (what, out) in [
        ("missing", missing),
        ("not yaml", not_yaml),
        ("not a ModuleConfig", not_mc),
        ("alias bomb", bomb),
        ("bad facts", facts),
    ] {
        assert_eq!(out.status.code(), Some(2), "{what}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(err.starts_with("registryctl: "), "{what}: {err}");
        assert!(out.stdout.is_empty(), "{what}");
    }
}

#[test]
fn stdin_is_read_with_dash() {
    let data = std::fs::read(config("local.yaml")).unwrap();
    let out = run_stdin(&["validate", "--format", "json", "-"], &data);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["mode"], "Local");
}

#[test]
fn plan_allowed_and_refused_shapes() {
    let out = run(&[
        "plan",
        "--current",
        &config("direct.yaml"),
        "--desired",
        &config("proxy.yaml"),
        "--cluster",
        &config("cluster.yaml"),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    assert_eq!(
        (v["allowed"].as_bool(), v["from"].as_str(), v["to"].as_str()),
        (Some(true), Some("Direct"), Some("Proxy"))
    );
    // DOMAIN.md §6.3, the Proxy pipeline's condition names in order.
    assert_eq!(
        v["stages"],
        serde_json::json!([
            "RegistryContainsRequiredImages",
            "ContainerdConfigPreflightReady",
            "NodeServicesReady",
            "TransitionContainerdConfigReady",
            "DeckhouseRegistrySwitchReady",
            "FinalContainerdConfigReady",
            "CleanupInClusterProxy"
        ])
    );
    assert_eq!(v["restarts"], serde_json::json!(["Deckhouse"]));

    let out = run(&[
        "plan",
        "--current",
        &config("local.yaml"),
        "--desired",
        &config("proxy.yaml"),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["allowed"], false);
    assert_eq!(v["reasons"][0]["code"], "TransitionNotSupported");
    assert_eq!(v["route"], serde_json::json!(["Local", "Direct", "Proxy"]));

    let out = run(&[
        "plan",
        "--current",
        &config("local.yaml"),
        "--desired",
        &config("proxy.yaml"),
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Local → Direct → Proxy"));
}

#[test]
fn plan_with_invalid_desired_settings_is_refused_not_unusable() {
    let out = run(&[
        "plan",
        "--current",
        &config("direct.yaml"),
        "--desired",
        &config("invalid.yaml"),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v = json(&out);
    assert!(
        v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["code"] == "InvalidSettings")
    );
    assert_eq!(v["from"], "Direct");
}

#[test]
fn plan_on_a_cloud_cluster_refuses_local() {
    let out = run(&[
        "plan",
        "--current",
        &config("bootstrap-legacy.yaml"),
        "--desired",
        &config("local.yaml"),
        "--cluster",
        &config("cluster-cloud.yaml"),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let codes: Vec<String> = json(&out)["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, ["ClusterNotStatic", "UserRegistryConfigNotMigrated"]);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["plan", "--current", "x"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        run(&["load-settings", "--format", "xml", "x"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(run(&["--help"]).status.code(), Some(0));
}

fn render(args: &[&str], out: &Path) -> Output {
    let mut all = vec!["render", "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    run(&all)
}

#[test]
fn render_writes_files_and_prints_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (desired, previous, cluster) = (
        config("proxy.yaml"),
        config("direct.yaml"),
        config("cluster.yaml"),
    );
    let args = [
        "--desired",
        &desired,
        "--previous",
        &previous,
        "--cluster",
        &cluster,
        "--format",
        "json",
    ];
    let out = render(&args, dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["version"].as_str().unwrap().len(), 64);
    assert_eq!(v["restartContainerd"], true);
    let files = v["files"].as_array().unwrap();
    for f in files {
        let path = f["path"].as_str().unwrap();
        let on_disk = std::fs::read(dir.path().join(path.trim_start_matches('/'))).unwrap();
        let sha: String = <sha2::Sha256 as sha2::Digest>::digest(&on_disk)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(f["sha256"].as_str(), Some(sha.as_str()), "{path}");
        let mode = std::fs::metadata(dir.path().join(path.trim_start_matches('/')))
            .unwrap()
            .permissions();
        assert_eq!(
            format!(
                "{:04o}",
                std::os::unix::fs::PermissionsExt::mode(&mode) & 0o7777
            ),
            f["mode"].as_str().unwrap()
        );
    }
    let hosts = files
        .iter()
        .find(|f| {
            f["path"]
                .as_str()
                .unwrap()
                .ends_with("registry.d8-system.svc:5001/hosts.toml")
        })
        .unwrap();
    assert_eq!(hosts["mode"], "0600");
    assert!(
        !text(&out).contains("example-password") && !text(&out).contains("example-ro-password")
    );

    // The same render again changes nothing.
    let again = render(&args, dir.path());
    let v = json(&again);
    assert_eq!(v["restartContainerd"], false);
    assert_eq!(v["changed"], serde_json::json!([]));
}

#[test]
fn render_refusals_and_unusable_input() {
    let dir = tempfile::tempdir().unwrap();
    // A refused switch writes nothing.
    let out = render(
        &[
            "--desired",
            &config("proxy.yaml"),
            "--previous",
            &config("local.yaml"),
            "--cluster",
            &config("cluster.yaml"),
            "--format",
            "json",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(json(&out)["reasons"][0]["code"], "TransitionNotSupported");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // Stock containerd cannot rewrite paths, which Direct needs here.
    let out = render(
        &[
            "--desired",
            &config("direct.yaml"),
            "--dialect",
            "upstream",
            "--format",
            "json",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(json(&out)["reasons"][0]["code"], "RenderRefused");
    // Proxy without the module CA in the facts is incomplete input.
    let out = render(&["--desired", &config("proxy.yaml")], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("moduleCA"));
    // Generation and release line must agree.
    let out = render(
        &[
            "--desired",
            &config("unmanaged.yaml"),
            "--containerd",
            "v1",
            "--containerd-version",
            "2.1",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // Invalid settings are refused.
    let out = render(&["--desired", &config("invalid.yaml")], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn preflight_reports_custom_registry_sections() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["preflight", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::create_dir_all(dir.path().join("conf.d")).unwrap();
    std::fs::write(
        dir.path().join("conf.d/50-mirror.toml"),
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n  endpoint = [\"https://m\"]\n",
    )
    .unwrap();
    let out = run(&[
        "preflight",
        "--format",
        "json",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["customRegistryConfig"], true);
    assert_eq!(v["findings"][0]["file"], "conf.d/50-mirror.toml");
    assert_eq!(v["findings"][0]["line"], 2);
    assert_eq!(run(&["preflight", "/nonexistent"]).status.code(), Some(2));
}
