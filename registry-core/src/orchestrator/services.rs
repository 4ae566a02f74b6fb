//! What the registry components run with (DOMAIN.md §11): the configuration `registryd
//! --config FILE` reads, bundled with the files it names (certificates, htpasswd, password
//! files), per master for the node services (Proxy, Local) and once for the in-cluster proxy
//! (Direct); and which of them the `registry` Service points at.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::state::{CertKey, User, Versioned};
use crate::containerd::{FileMode, REGISTRY_PORT, sha256_hex};
use crate::input::{Limits, ShapeError, read_one};
use crate::settings::{Credentials, Secret, Ttl, Upstream, VIRTUAL_PATH};

/// Where the node services keep their configuration on a master.
pub const NODE_SERVICES_DIR: &str = "/etc/kubernetes/registry";
/// Where the Local registry keeps its store on a master.
pub const LOCAL_DATA: &str = "/opt/deckhouse/registry/local_data";
/// Where the Proxy cache keeps its store on a master.
pub const PROXY_DATA: &str = "/opt/deckhouse/registry/proxy_data";
/// Where the in-cluster proxy's configuration is mounted.
pub const IN_CLUSTER_PROXY_DIR: &str = "/etc/registry";
/// The in-cluster proxy's store (an emptyDir: it only passes content through).
pub const IN_CLUSTER_PROXY_DATA: &str = "/var/lib/registry";
/// The file name of the registryd configuration inside a bundle's folder.
pub const CONFIG_FILE: &str = "config.yaml";

/// The upstream of a Proxy registryd (`--upstream` and its companions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrydUpstream {
    /// `--upstream URL`: `https://host[:port]/path`.
    pub url: String,
    /// `--upstream-ca FILE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// `--upstream-user NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `--upstream-password-file FILE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// `--ttl DURATION`: how long cached content lives after its last use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Ttl>,
}

/// The settings `registryd --config FILE` reads: one key per command-line flag, in camelCase
/// (`--tls-cert` → `tlsCert`, `--upstream-password-file` → `upstream.passwordFile`,
/// `--peer` → `peers`). Flags given on the command line win over the file. Without `upstream`
/// it is the Local registry; with it, the Proxy cache. Paths are absolute, on the host (or in
/// the pod) that runs registryd.
///
/// ```
/// use registry_core::orchestrator::RegistrydConfig;
/// let c: RegistrydConfig = serde_json::from_str(
///     r#"{"root":"/data","listen":"127.0.0.1:5001","writers":["rw"],"upstream":{"url":"https://r.example/x","ttl":"24h"}}"#,
/// ).unwrap();
/// assert_eq!(c.upstream.unwrap().ttl.unwrap().as_secs(), 86_400);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrydConfig {
    /// `--root DIR`: the store.
    pub root: String,
    /// `--listen ADDR:PORT`.
    pub listen: String,
    /// `--tls-cert FILE` (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    /// `--tls-key FILE` (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<String>,
    /// `--htpasswd FILE` (bcrypt); without it access is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub htpasswd: Option<String>,
    /// `--writers NAME[,NAME…]`: the users that may push and delete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writers: Vec<String>,
    /// `--namespace PATH` (default `system/deckhouse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `--upstream …`: present for the Proxy cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<RegistrydUpstream>,
    /// `--peer URL …`: the other masters (Local).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    /// `--peer-user NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_user: Option<String>,
    /// `--peer-password-file FILE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_password_file: Option<String>,
    /// `--peer-ca FILE`: the CA the peers' certificates chain to (default: the system roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_ca: Option<String>,
    /// Connections served at once (no flag; default 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,
    /// The largest manifest accepted, in bytes (no flag; default 4 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_manifest_bytes: Option<u64>,
    /// Seconds a client may take to send its request headers (no flag; default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_timeout_seconds: Option<u64>,
    /// Seconds a request body may stall (no flag; default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_timeout_seconds: Option<u64>,
}

impl RegistrydConfig {
    /// Reads a configuration file (YAML or JSON, one document) with the core's bounded reader.
    ///
    /// ```
    /// use registry_core::orchestrator::RegistrydConfig;
    /// let c = RegistrydConfig::parse(b"root: /data\nlisten: 127.0.0.1:5001\npeerCa: /ca.crt\n").unwrap();
    /// assert_eq!(c.peer_ca.as_deref(), Some("/ca.crt"));
    /// let e = RegistrydConfig::parse(b"root: /data\nlisten: 127.0.0.1:5001\nupstreamCa: x\n").unwrap_err();
    /// assert!(e.to_string().contains("upstreamCa"), "{e}");
    /// ```
    ///
    /// # Errors
    /// [`ShapeError`] naming the key that is unknown, missing or of the wrong type.
    pub fn parse(input: &[u8]) -> Result<RegistrydConfig, ShapeError> {
        read_one(input, &Limits::default())
    }
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BundleFile {
    /// The contents (secret for keys, passwords and htpasswd; redacted in `Debug`).
    pub contents: Secret,
    /// Permission bits.
    pub mode: FileMode,
}

/// A registryd configuration and every file it names, keyed by absolute path; the
/// configuration itself is one of them (`<dir>/config.yaml`, JSON, which is YAML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegistrydBundle {
    /// What registryd reads.
    pub config: RegistrydConfig,
    /// Every file to write, the configuration included.
    pub files: BTreeMap<String, BundleFile>,
}

impl RegistrydBundle {
    fn new(dir: &str, config: RegistrydConfig, mut files: BTreeMap<String, BundleFile>) -> Self {
        let text = serde_json::to_string_pretty(&config).unwrap_or_default();
        files.insert(
            format!("{dir}/{CONFIG_FILE}"),
            BundleFile {
                contents: Secret::new(format!("{text}\n")),
                mode: FileMode::PRIVATE,
            },
        );
        RegistrydBundle { config, files }
    }

    /// The bundle with its version: sha256 over every file's path, mode and contents.
    pub fn versioned(self) -> Versioned<Self> {
        let mut data = Vec::new();
        for (path, f) in &self.files {
            for part in [
                path.as_bytes(),
                f.mode.to_string().as_bytes(),
                f.contents.expose().as_bytes(),
            ] {
                data.extend_from_slice(&(part.len() as u64).to_le_bytes());
                data.extend_from_slice(part);
            }
        }
        Versioned {
            version: sha256_hex(&data),
            config: self,
        }
    }

    /// The TLS certificate and key in the bundle, if any.
    pub(crate) fn tls(&self) -> Option<CertKey> {
        let cert = self.files.get(self.config.tls_cert.as_deref()?)?;
        let key = self.files.get(self.config.tls_key.as_deref()?)?;
        Some(CertKey {
            cert: cert.contents.expose().to_owned(),
            key: key.contents.clone(),
        })
    }
}

/// What the `registry` Service points at.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ServiceMode {
    /// No Service (Unmanaged).
    #[default]
    Disabled,
    /// The in-cluster proxy (Direct).
    InClusterProxy,
    /// The registry on the masters (Proxy, Local).
    NodeServices,
}

fn public(contents: &str) -> BundleFile {
    BundleFile {
        contents: Secret::new(contents),
        mode: FileMode::PUBLIC,
    }
}

fn private(contents: &str) -> BundleFile {
    BundleFile {
        contents: Secret::new(contents),
        mode: FileMode::PRIVATE,
    }
}

/// `name:hash` lines, sorted by name, as `htpasswd -B` writes them.
fn htpasswd<'a>(users: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut lines: Vec<String> = users
        .into_iter()
        .map(|(name, hash)| format!("{name}:{hash}\n"))
        .collect();
    lines.sort();
    lines.concat()
}

fn upstream_url(upstream: &Upstream) -> String {
    format!(
        "{}://{}{}",
        upstream.scheme().as_url_scheme(),
        upstream.address(),
        upstream.path()
    )
}

/// The parts every registryd bundle shares: TLS with the component certificate, the module CA.
fn tls_files(dir: &str, ca_pem: &str, tls: &CertKey) -> BTreeMap<String, BundleFile> {
    BTreeMap::from([
        (format!("{dir}/pki/ca.crt"), public(ca_pem)),
        (format!("{dir}/pki/distribution.crt"), public(&tls.cert)),
        (
            format!("{dir}/pki/distribution.key"),
            private(tls.key.expose()),
        ),
    ])
}

fn base_config(dir: &str, root: &str, listen: String) -> RegistrydConfig {
    RegistrydConfig {
        root: root.to_owned(),
        listen,
        tls_cert: Some(format!("{dir}/pki/distribution.crt")),
        tls_key: Some(format!("{dir}/pki/distribution.key")),
        htpasswd: None,
        writers: Vec::new(),
        namespace: Some(VIRTUAL_PATH.trim_start_matches('/').to_owned()),
        upstream: None,
        peers: Vec::new(),
        peer_user: None,
        peer_password_file: None,
        peer_ca: None,
        max_connections: None,
        max_manifest_bytes: None,
        header_timeout_seconds: None,
        body_timeout_seconds: None,
    }
}

/// Adds the upstream of a Proxy registryd (URL, CA file, user and password file, TTL).
fn with_upstream(
    dir: &str,
    config: &mut RegistrydConfig,
    files: &mut BTreeMap<String, BundleFile>,
    upstream: &Upstream,
    ttl: Option<Ttl>,
) {
    let mut up = RegistrydUpstream {
        url: upstream_url(upstream),
        ca: None,
        user: None,
        password_file: None,
        ttl,
    };
    if let Some(ca) = upstream.ca() {
        let path = format!("{dir}/upstream-ca.crt");
        files.insert(path.clone(), public(ca.pem()));
        up.ca = Some(path);
    }
    if let Some(c) = upstream.credentials() {
        let (user, password) = c.basic_auth();
        let path = format!("{dir}/upstream-password");
        files.insert(path.clone(), private(password.expose()));
        up.user = Some(user.to_owned());
        up.password_file = Some(path);
    }
    config.upstream = Some(up);
}

/// The users a Local registry knows.
pub(crate) struct LocalUsers<'a> {
    pub(crate) ro: &'a User,
    pub(crate) rw: &'a User,
    pub(crate) puller: &'a User,
    pub(crate) pusher: &'a User,
}

/// What runs on one master.
pub(crate) enum NodeServicesMode<'a> {
    /// The Proxy cache of `upstream`.
    Proxy {
        upstream: &'a Upstream,
        ttl: Ttl,
        ro: &'a User,
    },
    /// The Local registry, replicating with `peers` (the other masters' IPs).
    Local {
        users: LocalUsers<'a>,
        peers: Vec<IpAddr>,
    },
}

/// The node-services bundle of the master at `ip`.
pub(crate) fn node_services(
    ip: IpAddr,
    mode: &NodeServicesMode<'_>,
    ca_pem: &str,
    tls: &CertKey,
) -> RegistrydBundle {
    let dir = NODE_SERVICES_DIR;
    let mut files = tls_files(dir, ca_pem, tls);
    let listen = std::net::SocketAddr::new(ip, REGISTRY_PORT).to_string();
    let htpasswd_path = format!("{dir}/htpasswd");
    let mut config;
    match mode {
        NodeServicesMode::Proxy { upstream, ttl, ro } => {
            config = base_config(dir, PROXY_DATA, listen);
            with_upstream(dir, &mut config, &mut files, upstream, Some(*ttl));
            let list = htpasswd([(ro.name.as_str(), ro.password_hash.expose())]);
            files.insert(htpasswd_path.clone(), private(&list));
        }
        NodeServicesMode::Local { users, peers } => {
            config = base_config(dir, LOCAL_DATA, listen);
            let all = [users.ro, users.rw, users.puller, users.pusher];
            let list = htpasswd(
                all.iter()
                    .map(|u| (u.name.as_str(), u.password_hash.expose())),
            );
            files.insert(htpasswd_path.clone(), private(&list));
            config.writers = vec![users.rw.name.clone(), users.pusher.name.clone()];
            config.peers = peers
                .iter()
                .map(|p| format!("https://{}", std::net::SocketAddr::new(*p, REGISTRY_PORT)))
                .collect();
            if !config.peers.is_empty() {
                let path = format!("{dir}/peer-password");
                files.insert(path.clone(), private(users.puller.password.expose()));
                config.peer_user = Some(users.puller.name.clone());
                config.peer_password_file = Some(path);
                // The peers serve certificates of the module CA, not of a public root.
                config.peer_ca = Some(format!("{dir}/pki/ca.crt"));
            }
        }
    }
    config.htpasswd = Some(htpasswd_path);
    RegistrydBundle::new(dir, config, files)
}

/// The in-cluster proxy bundle (Direct): a registryd in front of `upstream` that accepts the
/// upstream's own credentials (`upstream_user` carries their bcrypt hash), or anyone when the
/// upstream is anonymous.
pub(crate) fn in_cluster_proxy(
    upstream: &Upstream,
    upstream_user: Option<&User>,
    ca_pem: &str,
    tls: &CertKey,
) -> RegistrydBundle {
    let dir = IN_CLUSTER_PROXY_DIR;
    let mut files = tls_files(dir, ca_pem, tls);
    let mut config = base_config(
        dir,
        IN_CLUSTER_PROXY_DATA,
        format!("0.0.0.0:{REGISTRY_PORT}"),
    );
    with_upstream(dir, &mut config, &mut files, upstream, None);
    if let Some(user) = upstream_user {
        let path = format!("{dir}/htpasswd");
        files.insert(
            path.clone(),
            private(&htpasswd([(
                user.name.as_str(),
                user.password_hash.expose(),
            )])),
        );
        config.htpasswd = Some(path);
    }
    RegistrydBundle::new(dir, config, files)
}

/// The upstream's credentials as a user whose hash the in-cluster proxy's htpasswd holds.
pub(crate) fn upstream_credentials(upstream: &Upstream) -> Option<(String, Secret)> {
    upstream.credentials().map(|c: &Credentials| {
        let (u, p) = c.basic_auth();
        (u.to_owned(), p.clone())
    })
}
