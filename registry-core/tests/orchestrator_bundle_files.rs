//! A node-services bundle written below a folder (`RegistrydBundle::write_under`): every file at
//! its node path there with its mode, the config naming only moved paths that exist, the same
//! bytes as the bundle; hostile paths and links refused with nothing written outside.
#![allow(clippy::unwrap_used)]

#[path = "support/orch.rs"]
mod orch;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use registry_core::containerd::ApplyError;
use registry_core::orchestrator::simulator::simulate_steps;
use registry_core::orchestrator::{BundleFile, RegistrydBundle, RegistrydConfig, State};
use registry_core::settings::{Mode, Secret};

fn state(mode: Mode) -> State {
    let mut env = orch::env(5);
    let (_, steps) = simulate_steps(
        &orch::settings(Mode::Direct),
        &orch::settings(mode),
        orch::cluster(2, 0),
        &mut env,
    )
    .unwrap();
    let last = steps.last().unwrap();
    assert!(last.step.ready, "{}", last.step.message);
    last.step.state.clone()
}

fn bundle(state: &State, node: &str) -> RegistrydBundle {
    state.node_services.nodes[node].config.clone()
}

/// Every path a config names, as it names them.
fn paths(c: &RegistrydConfig) -> Vec<String> {
    let up = c.upstream.as_ref();
    [
        c.tls_cert.clone(),
        c.tls_key.clone(),
        c.htpasswd.clone(),
        c.peer_ca.clone(),
        c.peer_password_file.clone(),
        up.and_then(|u| u.ca.clone()),
        up.and_then(|u| u.password_file.clone()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walk(dir) {
        out.push(e.strip_prefix(dir).unwrap().display().to_string());
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            out.push(p.clone());
            if p.is_dir() && !p.is_symlink() {
                out.extend(walk(&p));
            }
        }
    }
    out
}

#[test]
fn every_file_lands_below_the_folder_and_the_config_names_only_moved_files() {
    for mode in [Mode::Local, Mode::Proxy] {
        let st = state(mode);
        let b = bundle(&st, "master-1");
        let dir = tempfile::tempdir().unwrap();
        let config_path = b.write_under(dir.path()).unwrap();
        assert!(config_path.starts_with(dir.path()), "{config_path:?}");
        for (path, file) in &b.files {
            let at = dir.path().join(path.trim_start_matches('/'));
            let meta = std::fs::metadata(&at).unwrap();
            assert_eq!(
                meta.permissions().mode() & 0o777,
                file.mode.bits(),
                "{path}"
            );
            if at != config_path {
                assert_eq!(
                    std::fs::read(&at).unwrap(),
                    file.contents.expose().as_bytes()
                );
            }
        }
        let moved = RegistrydConfig::parse(&std::fs::read(&config_path).unwrap()).unwrap();
        let base = dir.path().display().to_string();
        assert_eq!(moved.root, format!("{base}{}", b.config.root), "{mode}");
        assert_eq!(moved.listen, b.config.listen);
        assert_eq!(moved.peers, b.config.peers);
        let (old, new) = (paths(&b.config), paths(&moved));
        assert!(!old.is_empty(), "{mode}: a bundle names files");
        assert_eq!(old.len(), new.len());
        for (o, n) in old.iter().zip(&new) {
            assert_eq!(n, &format!("{base}{o}"));
            // Each named file is one the bundle carries, now at its moved path.
            assert_eq!(
                std::fs::read(n).unwrap(),
                b.files[o].contents.expose().as_bytes(),
                "{mode}: {o}"
            );
        }
        // Writing the same bundle again changes nothing.
        let before = tree(dir.path());
        b.write_under(dir.path()).unwrap();
        assert_eq!(tree(dir.path()), before);
    }
}

#[test]
fn hostile_paths_and_links_are_refused_and_nothing_is_written_outside() {
    let st = state(Mode::Local);
    let good = bundle(&st, "master-0");
    let outside = tempfile::tempdir().unwrap();
    for bad in [
        "/etc/../../escape",
        "relative/file",
        "/etc//x",
        "/etc/./x",
        "/",
    ] {
        let mut b = good.clone();
        b.files.insert(
            bad.into(),
            BundleFile {
                contents: Secret::new("x"),
                mode: registry_core::containerd::FileMode::PRIVATE,
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("m0");
        let e = b.write_under(&base).unwrap_err();
        assert!(
            matches!(e, ApplyError::FilePath { ref path, .. } if path == bad),
            "{bad}: {e}"
        );
        assert!(e.to_string().contains(bad), "{e}");
        assert!(!base.exists(), "{bad}: nothing written");
    }
    // A link below the folder is never followed.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("etc")).unwrap();
    let e = good.write_under(dir.path()).unwrap_err();
    assert!(matches!(e, ApplyError::SymbolicLink { .. }), "{e}");
    assert!(tree(outside.path()).is_empty());
    // Without its config file a bundle cannot run.
    let mut b = good.clone();
    b.files.retain(|p, _| !p.ends_with("/config.yaml"));
    let e = b.write_under(dir.path()).unwrap_err();
    assert!(e.to_string().contains("config.yaml"), "{e}");
    assert!(matches!(
        good.write_under(Path::new("")),
        Err(ApplyError::EmptyRoot)
    ));
}

#[test]
fn node_facts_carry_the_states_ca_and_read_only_user() {
    let st = state(Mode::Local);
    let facts = st.node_facts(&orch::cluster(2, 0));
    let ro = st.users.ro.as_ref().unwrap();
    let user = facts.read_only_user.unwrap();
    assert_eq!(
        (user.name.as_str(), user.password.expose()),
        (ro.name.as_str(), ro.password.expose())
    );
    let ca = facts.module_ca.unwrap();
    assert_eq!(ca.pem().trim(), st.pki.ca.as_ref().unwrap().cert.trim());
}
