//! The orchestrator's registryd bundles run the real registryd: a switch to Local (and to Proxy)
//! on three masters is driven through the simulator, and the node-services bundle each master
//! would get is written to disk as it is (paths moved under a temp folder) and served.
//!
//! What must hold, from DOMAIN.md §11 and the bundle's own config: the TLS certificate chains
//! to the CA in the bundle for the master's IP; the htpasswd holds the state's users with
//! their passwords; only `rw` and `mirror-pusher` may push; another master's bundle reaches
//! this one as a peer with its `peerCa`, `peerUser` and `peerPasswordFile`. skopeo is the
//! client (not ours), `registryd sync` the peer. Masters listen on 127.0.0.x only.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::Registryd;

use registry_core::facts::ClusterFacts;
use registry_core::orchestrator::{
    Env, RegistrydBundle, RegistrydConfig, State, Timestamp, simulator,
};
use registry_core::settings::{self, LoadOptions, RegistrySettings};
use registry_core::store::{Digest, Store};

fn settings(mode: &str) -> RegistrySettings {
    let doc = format!(
        "apiVersion: deckhouse.io/v1alpha1\nkind: ModuleConfig\nmetadata: {{name: deckhouse}}\nspec:\n  version: 1\n  settings:\n    registry:\n      {mode}\n"
    );
    settings::load(doc.as_bytes(), &LoadOptions::default()).expect("settings")
}

fn facts(ips: [&str; 3]) -> ClusterFacts {
    let nodes: Vec<String> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            format!("  - {{name: master-{i}, role: master, ip: {ip}, cri: Containerd}}\n")
        })
        .collect();
    ClusterFacts::load(format!("clusterType: Static\nnodes:\n{}", nodes.concat()).as_bytes())
        .expect("facts")
}

/// Drives Direct → `to` and returns the final state and the last node-services bundles written.
fn switch(to: &str, ips: [&str; 3]) -> (State, Vec<RegistrydBundle>) {
    let now: Timestamp = "2026-12-01T10:00:00Z".parse().expect("time");
    let mut env = Env::seeded(7, now);
    let direct =
        settings("mode: Direct\n      direct: {imagesRepo: registry.example.com/deckhouse/ee}");
    let (_, steps) =
        simulator::simulate_steps(&direct, &settings(to), facts(ips), &mut env).expect("switch");
    let last = steps.last().expect("steps");
    assert!(
        last.step.ready,
        "the switch to {to} finishes: {}",
        last.step.message
    );
    let bundles = steps
        .iter()
        .rev()
        .find_map(|r| r.step.outputs.node_services.written().cloned())
        .expect("node services written");
    let by_ip: Vec<RegistrydBundle> = ips
        .iter()
        .map(|ip| {
            bundles
                .values()
                .find(|b| b.config.config.listen.starts_with(&format!("{ip}:")))
                .unwrap_or_else(|| panic!("a bundle listening on {ip}: {:?}", bundles.keys()))
                .config
                .clone()
        })
        .collect();
    (last.step.state.clone(), by_ip)
}

/// Writes a bundle's files under `base` (`RegistrydBundle::write_under`: its paths, the config's
/// included, moved there); returns the config file's path.
fn materialize(bundle: &RegistrydBundle, base: &Path) -> PathBuf {
    let config_file = bundle.write_under(base).expect("write the bundle");
    // What registryd will read is still the orchestrator's shape.
    let parsed =
        RegistrydConfig::parse(&std::fs::read(&config_file).expect("read")).expect("parse");
    assert_eq!(parsed.listen, bundle.config.listen);
    config_file
}

/// Starts registryd with `--config` (and `extra` flags, which win).
fn serve(config: &Path, extra: &[&str]) -> Registryd {
    let mut args = vec!["--config", config.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    Registryd::start(args)
}

fn skopeo(args: &[&str]) -> std::process::Output {
    Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is installed (make deps installs it)")
}

/// An OCI layout with one image tagged `v1`; returns its manifest digest.
fn source_image(dir: &Path) -> Digest {
    let store = Store::open(dir).expect("store");
    let config = store.put_bytes(b"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", None).expect("config");
    // An empty gzip stream: skopeo leaves compressed layers as they are (it compresses plain
    // ones on the way to a registry, which would change the manifest).
    const EMPTY_GZIP: [u8; 20] = [
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let layer = store.put_bytes(&EMPTY_GZIP, None).expect("layer");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest.to_string(), "size": config.size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer.digest.to_string(), "size": layer.size}],
    });
    let bytes = serde_json::to_vec(&manifest).expect("json");
    let m = store.put_bytes(&bytes, None).expect("manifest");
    store.tag("v1", &m.digest).expect("tag");
    m.digest
}

/// A cert dir for skopeo holding only the bundle's CA (a `.key` without a `.cert` is refused).
fn ca_dir(config: &RegistrydConfig, base: &Path, into: &Path) -> String {
    let tls_cert = config.under(base).tls_cert.expect("TLS");
    let ca = tls_cert.replace("distribution.crt", "ca.crt");
    std::fs::create_dir_all(into).expect("mkdir");
    std::fs::copy(&ca, into.join("ca.crt")).expect("copy the CA");
    into.display().to_string()
}

#[test]
fn local_bundles_serve_their_users_and_replicate_between_masters() {
    let ips = ["127.0.0.11", "127.0.0.12", "127.0.0.13"];
    let (state, bundles) = switch("mode: Local", ips);
    let dir = tempfile::tempdir().expect("tempdir");
    let m0 = dir.path().join("master-0");
    let m1 = dir.path().join("master-1");
    let _registry = serve(&materialize(&bundles[0], &m0), &[]);
    materialize(&bundles[1], &m1);

    let src = dir.path().join("src");
    let digest = source_image(&src);
    let certs = ca_dir(&bundles[0].config, &m0, &dir.path().join("certs"));
    let target = format!("docker://{}:5001/system/deckhouse:v1", ips[0]);
    let source = format!("oci:{}:v1", src.display());
    let creds = |u: Option<&registry_core::orchestrator::User>| {
        let u = u.expect("user in state");
        format!("{}:{}", u.name, u.password.expose())
    };
    let (ro, rw) = (
        creds(state.users.ro.as_ref()),
        creds(state.users.rw.as_ref()),
    );

    // ro may not push; rw may.
    let denied = skopeo(&[
        "copy",
        "-q",
        "--dest-cert-dir",
        &certs,
        "--dest-creds",
        &ro,
        &source,
        &target,
    ]);
    assert!(!denied.status.success(), "ro pushed");
    let pushed = skopeo(&[
        "copy",
        "-q",
        "--dest-cert-dir",
        &certs,
        "--dest-creds",
        &rw,
        &source,
        &target,
    ]);
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );

    // ro pulls the same manifest; no credentials, no access; a wrong password, none either.
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--cert-dir",
        &certs,
        "--creds",
        &ro,
        &target,
    ]);
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(
        Digest::of(registry_core::store::Algorithm::Sha256, &raw.stdout),
        digest
    );
    let anonymous = skopeo(&[
        "inspect",
        "--raw",
        "--cert-dir",
        &certs,
        "--no-creds",
        &target,
    ]);
    assert!(!anonymous.status.success(), "anonymous pull allowed");
    let wrong = format!("{}x", ro);
    let wrong = skopeo(&[
        "inspect",
        "--raw",
        "--cert-dir",
        &certs,
        "--creds",
        &wrong,
        &target,
    ]);
    assert!(!wrong.status.success(), "a wrong password pulled");

    // master-1 copies from master-0 with what its own bundle holds for its peers.
    let peer = &bundles[1].config;
    assert_eq!(peer.peers.len(), 2, "the two other masters");
    assert!(
        peer.peers.contains(&format!("https://{}:5001", ips[0])),
        "{:?}",
        peer.peers
    );
    // Its paths where materialize wrote them.
    let moved = peer.under(&m1);
    let set = |p: &Option<String>| p.clone().expect("set");
    let sync = Command::new(env!("CARGO_BIN_EXE_registryd"))
        .args(["sync", "--root", &moved.root])
        .args(["--from", &format!("https://{}:5001", ips[0])])
        .args(["--ca", &set(&moved.peer_ca)])
        .args(["--user", peer.peer_user.as_deref().expect("peer user")])
        .args(["--password-file", &set(&moved.peer_password_file)])
        .output()
        .expect("sync runs");
    assert!(
        sync.status.success(),
        "{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    let copied = Store::open(&moved.root).expect("master-1 store");
    assert_eq!(copied.resolve("v1").expect("tag copied"), digest);
}

#[test]
fn proxy_bundles_start_with_their_upstream_and_users() {
    let ips = ["127.0.0.21", "127.0.0.22", "127.0.0.23"];
    let (state, bundles) = switch(
        "mode: Proxy\n      proxy: {imagesRepo: registry.example.com/deckhouse/ee}",
        ips,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("master-0");
    let config = &bundles[0].config;
    let upstream = config
        .upstream
        .as_ref()
        .expect("a Proxy cache has an upstream");
    assert_eq!(upstream.url, "https://registry.example.com/deckhouse/ee");
    assert!(
        config.peers.is_empty() && config.writers.is_empty(),
        "{config:?}"
    );
    let _registry = serve(&materialize(&bundles[0], &base), &[]);
    // The node user authenticates; the check stops at the upstream, which is not reachable
    // here, so only the answer to /v2/ is asked for.
    let certs = ca_dir(config, &base, &dir.path().join("certs"));
    let ro = state.users.ro.as_ref().expect("ro");
    let ok = curl(
        &certs,
        &format!("{}:{}", ro.name, ro.password.expose()),
        ips[0],
    );
    assert_eq!(ok, "200");
    let denied = curl(&certs, &format!("{}:wrong", ro.name), ips[0]);
    assert_eq!(denied, "401");
}

/// The status code of `GET /v2/` with basic auth, verified against the bundle's CA.
fn curl(certs: &str, userpass: &str, ip: &str) -> String {
    curl_host(certs, userpass, ip, ip)
}

/// As [`curl`], reaching `ip` under the name `host` (the certificate must be for `host`).
fn curl_host(certs: &str, userpass: &str, host: &str, ip: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(format!("{certs}/ca.crt"))
        .args(["--resolve", &format!("{host}:5001:{ip}")])
        .args(["-u", userpass, &format!("https://{host}:5001/v2/")])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_in_cluster_proxy_bundle_serves_the_service_name_with_the_upstream_user() {
    // Direct with upstream credentials: the in-cluster proxy accepts exactly those.
    let now: Timestamp = "2026-12-01T10:00:00Z".parse().expect("time");
    let mut env = Env::seeded(11, now);
    let direct = settings(
        "mode: Direct\n      direct: {imagesRepo: registry.example.com/deckhouse/ee, username: puller, password: pull-secret}",
    );
    let unmanaged = settings(
        "mode: Unmanaged\n      unmanaged: {imagesRepo: registry.example.com/deckhouse/ee}",
    );
    let ips = ["127.0.0.31", "127.0.0.32", "127.0.0.33"];
    let (_, steps) =
        simulator::simulate_steps(&unmanaged, &direct, facts(ips), &mut env).expect("switch");
    assert!(steps.last().expect("steps").step.ready);
    let bundle = steps
        .iter()
        .rev()
        .find_map(|r| r.step.outputs.in_cluster_proxy.written().cloned())
        .expect("the in-cluster proxy written")
        .config;
    assert_eq!(bundle.config.listen, "0.0.0.0:5001");
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("pod");
    // Loopback only here: the flag wins over the pod's 0.0.0.0.
    let _registry = serve(
        &materialize(&bundle, &base),
        &["--listen", "127.0.0.31:5001"],
    );
    let certs = ca_dir(&bundle.config, &base, &dir.path().join("certs"));
    let service = "registry.d8-system.svc";
    assert_eq!(
        curl_host(&certs, "puller:pull-secret", service, ips[0]),
        "200"
    );
    assert_eq!(curl_host(&certs, "puller:wrong", service, ips[0]), "401");
    // The certificate is for the Service, not for the address it was reached at.
    assert_eq!(curl(&certs, "puller:pull-secret", ips[0]), "000");
}
