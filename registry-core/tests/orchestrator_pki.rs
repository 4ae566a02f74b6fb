//! PKI, users and secrets of the orchestrator, checked with openssl and bcrypt: certificates
//! are what DOMAIN.md §11 says, valid ones are kept, broken ones replaced; a steady-state step
//! does no bcrypt work; secrets never show in Debug output.
#![allow(clippy::unwrap_used)]

#[path = "support/orch.rs"]
mod orch;

use std::path::Path;
use std::process::Command;

use registry_core::orchestrator::simulator::simulate_steps;
use registry_core::orchestrator::{
    CertKey, Env, Inputs, Output, State, Step, Timestamp, reconcile,
};
use registry_core::settings::{Mode, Secret};

/// A cluster in Local mode (three masters), and the inputs of its last step.
fn local() -> (State, Inputs) {
    let mut env = orch::env(11);
    let (_, steps) = simulate_steps(
        &orch::settings(Mode::Local),
        &orch::settings(Mode::Local),
        orch::cluster(3, 1),
        &mut env,
    )
    .unwrap();
    let last = steps.last().unwrap();
    assert!(last.step.ready);
    (last.step.state.clone(), last.inputs.clone())
}

/// openssl checks validity at the fixed clock (plus an hour), not at the machine's time.
const AT: &str = "1800003600";

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl (Debian package openssl) must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

fn node_cert(state: &State, node: &str) -> String {
    let bundle = &state.node_services.nodes[node].config;
    bundle.files[bundle.config.tls_cert.as_deref().unwrap()]
        .contents
        .expose()
        .to_owned()
}

#[test]
fn certificates_are_what_the_module_needs_and_chain_to_the_ca() {
    let (state, _) = local();
    let dir = tempfile::tempdir().unwrap();
    let ca = state.pki.ca.as_ref().unwrap();
    let ca_path = write(dir.path(), "ca.crt", &ca.cert);
    let text = openssl(&["x509", "-noout", "-text", "-in", &ca_path]);
    assert!(text.contains("Subject: CN = registry-ca"), "{text}");
    assert!(text.contains("ASN1 OID: prime256v1"), "{text}");
    assert!(text.contains("CA:TRUE"), "{text}");
    // Ten years of 365 days from the fixed clock.
    let dates = openssl(&[
        "x509",
        "-noout",
        "-startdate",
        "-enddate",
        "-dateopt",
        "iso_8601",
        "-in",
        &ca_path,
    ]);
    let start = Timestamp::from_unix(orch::T0).to_string().replace('T', " ");
    let end = Timestamp::from_unix(orch::T0 + 3650 * 86_400)
        .to_string()
        .replace('T', " ");
    assert!(
        dates.contains(&format!("notBefore={start}")) && dates.contains(&format!("notAfter={end}")),
        "{dates}"
    );

    let token = state.pki.token.as_ref().unwrap();
    let token_path = write(dir.path(), "token.crt", &token.cert);
    let text = openssl(&["x509", "-noout", "-text", "-in", &token_path]);
    assert!(
        text.contains("Subject: CN = registry-auth-token")
            && text.contains("Public-Key: (2048 bit)"),
        "{text}"
    );
    assert!(text.contains("Issuer: CN = registry-ca"));
    let dates = openssl(&[
        "x509",
        "-noout",
        "-enddate",
        "-dateopt",
        "iso_8601",
        "-in",
        &token_path,
    ]);
    let end = Timestamp::from_unix(orch::T0 + 3650 * 86_400 - 3600)
        .to_string()
        .replace('T', " ");
    assert!(
        dates.contains(&format!("notAfter={end}")),
        "an hour before the CA: {dates}"
    );
    assert_eq!(
        openssl(&["verify", "-attime", AT, "-CAfile", &ca_path, &token_path]).trim(),
        format!("{token_path}: OK")
    );

    for (i, node) in ["master-0", "master-1", "master-2"].iter().enumerate() {
        let path = write(dir.path(), &format!("{node}.crt"), &node_cert(&state, node));
        let text = openssl(&["x509", "-noout", "-ext", "subjectAltName", "-in", &path]);
        assert!(
            text.contains(&format!("IP Address:10.0.0.{}", 10 + i))
                && text.contains("IP Address:127.0.0.1"),
            "{text}"
        );
        assert!(text.contains("DNS:registry.d8-system.svc"), "{text}");
        assert_eq!(
            openssl(&[
                "verify",
                "-attime",
                AT,
                "-CAfile",
                &ca_path,
                "-purpose",
                "sslserver",
                &path
            ])
            .trim(),
            format!("{path}: OK")
        );
    }
    // The keys match their certificates.
    let key_path = write(dir.path(), "ca.key", ca.key.expose());
    let from_key = openssl(&["pkey", "-pubout", "-in", &key_path]);
    let from_cert = openssl(&["x509", "-noout", "-pubkey", "-in", &ca_path]);
    assert_eq!(from_key, from_cert);
}

#[test]
fn valid_material_is_kept_and_broken_material_is_replaced() {
    let (state, inputs) = local();
    // Another process, another seed: valid PKI and users are kept byte for byte.
    let mut env = Env::seeded(999, Timestamp::from_unix(orch::T0 + 600)).with_bcrypt_cost(4);
    let again = reconcile(&state, &inputs, &mut env).unwrap();
    assert_eq!(again.state.pki, state.pki);
    assert_eq!(again.state.users, state.users);
    assert_eq!(again.state.node_services, state.node_services);

    // An undecodable CA: a new one, and every certificate re-signed by it.
    let mut broken = state.clone();
    broken.pki.ca = Some(CertKey {
        cert: "garbage".into(),
        key: Secret::new("garbage"),
    });
    let fixed = reconcile(&broken, &inputs, &mut env).unwrap();
    let new_ca = fixed.state.pki.ca.clone().unwrap();
    assert_ne!(new_ca.cert, state.pki.ca.as_ref().unwrap().cert);
    let dir = tempfile::tempdir().unwrap();
    let ca_path = write(dir.path(), "ca.crt", &new_ca.cert);
    let token_path = write(
        dir.path(),
        "token.crt",
        &fixed.state.pki.token.as_ref().unwrap().cert,
    );
    let leaf_path = write(dir.path(), "leaf.crt", &node_cert(&fixed.state, "master-1"));
    assert!(
        openssl(&[
            "verify",
            "-attime",
            AT,
            "-CAfile",
            &ca_path,
            &token_path,
            &leaf_path
        ])
        .contains(&format!("{leaf_path}: OK"))
    );

    // A component certificate from another CA is not chained: replaced, the rest kept.
    let (other, _) = {
        let mut env = orch::env(12345);
        let (_, steps) = simulate_steps(
            &orch::settings(Mode::Local),
            &orch::settings(Mode::Local),
            orch::cluster(3, 1),
            &mut env,
        )
        .unwrap();
        (steps.last().unwrap().step.state.clone(), ())
    };
    let mut foreign = state.clone();
    foreign.node_services.nodes.insert(
        "master-0".into(),
        other.node_services.nodes["master-0"].clone(),
    );
    let fixed = reconcile(&foreign, &inputs, &mut env).unwrap();
    assert_ne!(
        node_cert(&fixed.state, "master-0"),
        node_cert(&other, "master-0")
    );
    assert_eq!(
        node_cert(&fixed.state, "master-1"),
        node_cert(&state, "master-1")
    );
    let leaf_path = write(dir.path(), "m0.crt", &node_cert(&fixed.state, "master-0"));
    let ca_path = write(dir.path(), "ca0.crt", &state.pki.ca.as_ref().unwrap().cert);
    assert!(openssl(&["verify", "-attime", AT, "-CAfile", &ca_path, &leaf_path]).contains("OK"));

    // Expired (the clock past the CA's end): everything is regenerated.
    let mut late =
        Env::seeded(1, Timestamp::from_unix(orch::T0 + 3651 * 86_400)).with_bcrypt_cost(4);
    let renewed = reconcile(&state, &inputs, &mut late).unwrap();
    assert_ne!(renewed.state.pki.ca, state.pki.ca);
}

#[test]
fn same_seed_same_certificates() {
    let (a, _) = local();
    let (b, _) = local();
    assert_eq!(a.pki, b.pki);
    assert_eq!(a.node_services, b.node_services);
}

#[test]
fn users_passwords_and_the_steady_state_does_no_bcrypt_work() {
    let (state, inputs) = local();
    for user in [
        &state.users.ro,
        &state.users.rw,
        &state.users.mirror_puller,
        &state.users.mirror_pusher,
    ] {
        let u = user.as_ref().unwrap();
        assert_eq!(u.password.expose().len(), 16);
        assert!(
            u.password
                .expose()
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
        assert!(
            bcrypt::verify(u.password.expose(), u.password_hash.expose()).unwrap(),
            "{}",
            u.name
        );
    }
    let http = state.secrets.http.as_ref().unwrap();
    assert!(http.expose().len() == 25 && http.expose().chars().all(|c| c.is_ascii_alphanumeric()));

    // A new process checks each stored pair once (4 users), and then never again.
    let mut env = Env::seeded(3, Timestamp::from_unix(orch::T0 + 60)).with_bcrypt_cost(4);
    let first = reconcile(&state, &inputs, &mut env).unwrap();
    assert_eq!(env.bcrypt_calls(), 4);
    let before = env.bcrypt_calls();
    let second = reconcile(&first.state, &inputs, &mut env).unwrap();
    assert_eq!(
        env.bcrypt_calls(),
        before,
        "a steady-state step does no bcrypt work"
    );
    assert_eq!(second.state.users, state.users);

    // A hash that does not match its password is recomputed; the password stays.
    let mut bad = state.clone();
    let ro = bad.users.ro.as_mut().unwrap();
    ro.password_hash = bad.users.rw.as_ref().unwrap().password_hash.clone();
    let fixed = reconcile(&bad, &inputs, &mut env).unwrap();
    let ro = fixed.state.users.ro.as_ref().unwrap();
    assert_eq!(ro.password, state.users.ro.as_ref().unwrap().password);
    assert_ne!(
        ro.password_hash,
        bad.users.ro.as_ref().unwrap().password_hash
    );
    assert!(bcrypt::verify(ro.password.expose(), ro.password_hash.expose()).unwrap());

    // A user lost from the state but kept in its secret is taken from the secret.
    let mut lost = state.clone();
    lost.users.rw = None;
    let mut with_secret = inputs.clone();
    with_secret
        .user_secrets
        .insert("rw".into(), state.users.rw.clone().unwrap());
    let restored = reconcile(&lost, &with_secret, &mut env).unwrap();
    assert_eq!(restored.state.users.rw, state.users.rw);
}

#[test]
fn credentials_in_outputs_are_the_users_in_state() {
    let (state, inputs) = local();
    let step = reconcile(&state, &inputs, &mut orch::env(4)).unwrap();
    let ro = step.state.users.ro.as_ref().unwrap();
    let secret = &step.outputs.deckhouse_registry.written().unwrap().secret;
    let doc: serde_json::Value = serde_json::from_str(secret.dockerconfigjson.expose()).unwrap();
    let entry = &doc["auths"]["registry.d8-system.svc:5001"];
    assert_eq!(
        (entry["username"].as_str(), entry["password"].as_str()),
        (Some("ro"), Some(ro.password.expose()))
    );
    let bashible = step.outputs.bashible_config.written().unwrap();
    let auth = bashible.config.hosts["registry.d8-system.svc:5001"][0]
        .auth
        .as_ref()
        .unwrap();
    assert_eq!(
        (auth.username.as_str(), auth.password.expose()),
        ("ro", ro.password.expose())
    );
    // Every master's htpasswd holds the four users' hashes; writers are rw and mirror-pusher.
    let Output::Write(nodes) = &step.outputs.node_services else {
        panic!()
    };
    for v in nodes.values() {
        let cfg = &v.config.config;
        let htpasswd = v.config.files[cfg.htpasswd.as_deref().unwrap()]
            .contents
            .expose();
        for u in [
            &step.state.users.ro,
            &step.state.users.rw,
            &step.state.users.mirror_puller,
            &step.state.users.mirror_pusher,
        ] {
            let u = u.as_ref().unwrap();
            assert!(htpasswd.contains(&format!("{}:{}\n", u.name, u.password_hash.expose())));
        }
        assert_eq!(cfg.writers, ["rw", "mirror-pusher"]);
        assert_eq!(cfg.peers.len(), 2);
        assert_eq!(cfg.peer_user.as_deref(), Some("mirror-puller"));
    }
}

#[test]
fn secrets_never_show_in_debug_output() {
    let (state, inputs) = local();
    let step: Step = reconcile(&state, &inputs, &mut orch::env(4)).unwrap();
    let debug = format!("{step:?} {inputs:?}");
    for u in [
        &state.users.ro,
        &state.users.rw,
        &state.users.mirror_puller,
        &state.users.mirror_pusher,
    ] {
        assert!(!debug.contains(u.as_ref().unwrap().password.expose()));
    }
    assert!(!debug.contains(state.secrets.http.as_ref().unwrap().expose()));
    assert!(!debug.contains("PRIVATE KEY"));
    assert!(!debug.contains("pw\""), "the upstream password");
}

#[test]
fn proxy_node_services_run_registryd_as_a_cache_of_the_upstream() {
    let mut env = orch::env(21);
    let (_, steps) = simulate_steps(
        &orch::settings(Mode::Proxy),
        &orch::settings(Mode::Proxy),
        orch::cluster(3, 0),
        &mut env,
    )
    .unwrap();
    let step = &steps.last().unwrap().step;
    let nodes = step.outputs.node_services.written().unwrap();
    let bundle = &nodes["master-1"].config;
    let cfg = &bundle.config;
    assert_eq!(cfg.listen, "10.0.0.11:5001");
    assert_eq!(cfg.root, registry_core::orchestrator::PROXY_DATA);
    assert_eq!(cfg.namespace.as_deref(), Some("system/deckhouse"));
    assert!(cfg.writers.is_empty() && cfg.peers.is_empty());
    let up = cfg.upstream.as_ref().unwrap();
    assert_eq!(up.url, "https://proxy-up.example.com/deckhouse/ee");
    assert_eq!(up.user.as_deref(), Some("svc"));
    assert_eq!(
        bundle.files[up.password_file.as_deref().unwrap()]
            .contents
            .expose(),
        "pw"
    );
    assert_eq!(up.ttl.unwrap().to_string(), "168h0m0s");
    // Every file the configuration names is in the bundle; secrets are 0600.
    for path in [
        cfg.tls_cert.as_deref(),
        cfg.tls_key.as_deref(),
        cfg.htpasswd.as_deref(),
        up.password_file.as_deref(),
    ] {
        assert!(bundle.files.contains_key(path.unwrap()), "{path:?}");
    }
    for path in [
        cfg.tls_key.as_deref(),
        cfg.htpasswd.as_deref(),
        up.password_file.as_deref(),
    ] {
        assert_eq!(bundle.files[path.unwrap()].mode.bits(), 0o600);
    }
    // The config file in the bundle is the config itself (JSON, which YAML readers accept).
    let text = bundle.files[&format!(
        "{}/config.yaml",
        registry_core::orchestrator::NODE_SERVICES_DIR
    )]
        .contents
        .expose();
    let back: registry_core::orchestrator::RegistrydConfig = serde_json::from_str(text).unwrap();
    assert_eq!(&back, cfg);
    let keys: Vec<String> = serde_json::from_str::<serde_json::Value>(text)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        [
            "root",
            "listen",
            "tlsCert",
            "tlsKey",
            "htpasswd",
            "namespace",
            "upstream"
        ]
    );
    // Versions differ per master (their own certificate), and are what the pods must report.
    assert_ne!(nodes["master-0"].version, nodes["master-1"].version);
}
