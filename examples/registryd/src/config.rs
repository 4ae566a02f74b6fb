//! Settings: the command line (a stable contract, see the README) and `--config FILE`, the
//! core's `orchestrator::RegistrydConfig` as YAML or JSON (the file the orchestrator writes);
//! a flag given on the command line wins over the file. Every problem names the flag or key
//! and what is wrong.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use registry_core::orchestrator::RegistrydConfig;

/// `registryd`: the OCI distribution API over a deckhouse-registry store.
#[derive(Debug, Parser)]
#[command(name = "registryd", version, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    /// One-off commands instead of serving.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// The store root (an OCI image layout; created if missing).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:5001.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// PEM certificate chain; with --tls-key, serve HTTPS.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// bcrypt htpasswd file; without it access is open.
    #[arg(long, value_name = "FILE")]
    htpasswd: Option<PathBuf>,
    /// Users allowed to push and delete (default: every user in --htpasswd).
    #[arg(long, value_name = "NAME[,NAME…]", value_delimiter = ',')]
    writers: Option<Vec<String>>,
    /// The repository path the store's root repository is served at.
    #[arg(long, value_name = "PATH")]
    namespace: Option<String>,
    /// Proxy mode: the upstream registry (`https://host[:port]/path`).
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// CA bundle for the upstream.
    #[arg(long, value_name = "FILE")]
    upstream_ca: Option<PathBuf>,
    /// Upstream user.
    #[arg(long, value_name = "NAME")]
    upstream_user: Option<String>,
    /// File holding the upstream password.
    #[arg(long, value_name = "FILE")]
    upstream_password_file: Option<PathBuf>,
    /// Proxy cache expiry since last use, e.g. 72h.
    #[arg(long, value_name = "DURATION")]
    ttl: Option<String>,
    /// Another master to fetch missing content from (repeatable).
    #[arg(long, value_name = "URL")]
    peer: Vec<String>,
    /// User for --peer.
    #[arg(long, value_name = "NAME")]
    peer_user: Option<String>,
    /// File holding the --peer user's password.
    #[arg(long, value_name = "FILE")]
    peer_password_file: Option<PathBuf>,
    /// CA bundle for the peers (default: the system roots).
    #[arg(long, value_name = "FILE")]
    peer_ca: Option<PathBuf>,
    /// YAML file with the same settings (camelCase keys); flags win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// One pass of fetching from another registryd what this store lacks.
    Sync {
        /// The store root.
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// The registryd to copy from.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The namespace both serve.
        #[arg(long, value_name = "PATH", default_value = DEFAULT_NAMESPACE)]
        namespace: String,
        /// CA bundle for --from (default: the system roots).
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// User for --from.
        #[arg(long, value_name = "NAME", requires = "password_file")]
        user: Option<String>,
        /// File holding the --from user's password.
        #[arg(long, value_name = "FILE", requires = "user")]
        password_file: Option<PathBuf>,
    },
}

/// The resolved settings of a serving registryd.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) root: PathBuf,
    pub(crate) listen: SocketAddr,
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) htpasswd: Option<PathBuf>,
    pub(crate) writers: Option<Vec<String>>,
    pub(crate) namespace: String,
    pub(crate) upstream: Option<UpstreamSettings>,
    pub(crate) peers: PeerSettings,
    pub(crate) max_connections: usize,
    pub(crate) max_manifest: u64,
    pub(crate) header_timeout: Duration,
    pub(crate) body_timeout: Duration,
}

/// Proxy mode's settings.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamSettings {
    pub(crate) url: String,
    pub(crate) ca: Option<PathBuf>,
    /// User and password file.
    pub(crate) credentials: Option<(String, PathBuf)>,
    pub(crate) ttl: Option<Duration>,
}

/// The other masters (`--peer`).
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerSettings {
    pub(crate) urls: Vec<String>,
    pub(crate) ca: Option<PathBuf>,
    /// User and password file.
    pub(crate) credentials: Option<(String, PathBuf)>,
}

/// The default namespace.
pub(crate) const DEFAULT_NAMESPACE: &str = "system/deckhouse";

/// The config file: the core's [`RegistrydConfig`], the shape the orchestrator writes.
fn load(path: &PathBuf) -> Result<RegistrydConfig, String> {
    let text = std::fs::read(path).map_err(|e| format!("--config {}: {e}", path.display()))?;
    let config =
        RegistrydConfig::parse(&text).map_err(|e| format!("--config {}: {e}", path.display()))?;
    for (key, value) in [
        ("maxConnections", config.max_connections),
        ("maxManifestBytes", config.max_manifest_bytes),
        ("headerTimeoutSeconds", config.header_timeout_seconds),
        ("bodyTimeoutSeconds", config.body_timeout_seconds),
    ] {
        if value == Some(0) {
            return Err(format!(
                "--config {}: {key} must be a positive integer",
                path.display()
            ));
        }
    }
    Ok(config)
}

impl Cli {
    /// Merges the flags over the config file (if any) into settings.
    pub(crate) fn settings(self) -> Result<Settings, String> {
        let file = self.config.as_ref().map(load).transpose()?;
        let (f_root, f_listen) = match &file {
            Some(f) => (Some(PathBuf::from(&f.root)), Some(f.listen.clone())),
            None => (None, None),
        };
        let f = file.as_ref();
        let f_path =
            |get: fn(&RegistrydConfig) -> Option<&String>| f.and_then(get).map(PathBuf::from);

        let root = self
            .root
            .or(f_root)
            .ok_or("--root DIR is required (or root: in --config)")?;
        let listen_s = self
            .listen
            .or(f_listen)
            .ok_or("--listen ADDR:PORT is required (or listen: in --config)")?;
        let listen: SocketAddr = listen_s
            .parse()
            .map_err(|e| format!("--listen {listen_s:?}: not ADDR:PORT ({e})"))?;
        let cert = self.tls_cert.or(f_path(|f| f.tls_cert.as_ref()));
        let key = self.tls_key.or(f_path(|f| f.tls_key.as_ref()));
        let tls = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        let htpasswd = self.htpasswd.or(f_path(|f| f.htpasswd.as_ref()));
        let file_writers = f.map(|f| f.writers.clone()).filter(|w| !w.is_empty());
        let writers = match self.writers.or(file_writers) {
            Some(w) => {
                let w: Vec<String> = w.into_iter().filter(|s| !s.is_empty()).collect();
                if htpasswd.is_none() {
                    return Err("--writers needs --htpasswd (without it access is open)".into());
                }
                Some(w)
            }
            None => None,
        };
        let namespace = self
            .namespace
            .or(f.and_then(|f| f.namespace.clone()))
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        let f_up = f.and_then(|f| f.upstream.as_ref());
        let upstream = match self.upstream.or(f_up.map(|u| u.url.clone())) {
            None => {
                let stray = self.upstream_ca.is_some()
                    || self.upstream_user.is_some()
                    || self.upstream_password_file.is_some()
                    || self.ttl.is_some();
                if stray {
                    return Err("--upstream-ca, --upstream-user, --upstream-password-file and --ttl need --upstream".into());
                }
                None
            }
            Some(url) => {
                let user = self.upstream_user.or(f_up.and_then(|u| u.user.clone()));
                let password_file = self.upstream_password_file.or(f_up
                    .and_then(|u| u.password_file.as_ref())
                    .map(PathBuf::from));
                if user.is_some() != password_file.is_some() {
                    return Err("--upstream-user and --upstream-password-file go together".into());
                }
                let ttl = match self.ttl {
                    Some(t) => Some(crate::upstream::parse_duration(&t)?),
                    None => f_up
                        .and_then(|u| u.ttl)
                        .map(|t| Duration::from_secs(t.as_secs())),
                };
                Some(UpstreamSettings {
                    url,
                    ca: self
                        .upstream_ca
                        .or(f_up.and_then(|u| u.ca.as_ref()).map(PathBuf::from)),
                    credentials: user.zip(password_file),
                    ttl,
                })
            }
        };
        let mut peers = self.peer;
        if peers.is_empty() {
            peers = f.map(|f| f.peers.clone()).unwrap_or_default();
        }
        let peer_user = self.peer_user.or(f.and_then(|f| f.peer_user.clone()));
        let peer_password_file = self
            .peer_password_file
            .or(f_path(|f| f.peer_password_file.as_ref()));
        if peer_user.is_some() != peer_password_file.is_some() {
            return Err("--peer-user and --peer-password-file go together".into());
        }
        let peer_ca = self.peer_ca.or(f_path(|f| f.peer_ca.as_ref()));
        if peers.is_empty() && (peer_user.is_some() || peer_ca.is_some()) {
            return Err("--peer-user, --peer-password-file and --peer-ca need --peer".into());
        }
        let peers = PeerSettings {
            urls: peers,
            ca: peer_ca,
            credentials: peer_user.zip(peer_password_file),
        };
        // Limits have no flags; load() refused zeros.
        let limit = |v: Option<u64>, default: u64| v.unwrap_or(default);
        Ok(Settings {
            root,
            listen,
            tls,
            htpasswd,
            writers,
            namespace,
            upstream,
            peers,
            max_connections: limit(f.and_then(|f| f.max_connections), 1024) as usize,
            max_manifest: limit(f.and_then(|f| f.max_manifest_bytes), 4 << 20),
            header_timeout: Duration::from_secs(limit(
                f.and_then(|f| f.header_timeout_seconds),
                30,
            )),
            body_timeout: Duration::from_secs(limit(f.and_then(|f| f.body_timeout_seconds), 60)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("registryd").chain(args.iter().copied()))
            .expect("parses")
    }

    #[test]
    fn flags_win_over_the_config_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("c.yaml");
        std::fs::write(
            &f,
            "root: /from/file\nlisten: 127.0.0.1:1\nnamespace: a/b\nmaxConnections: 7\n",
        )
        .expect("write");
        let s = cli(&[
            "--config",
            f.to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:2",
        ])
        .settings()
        .expect("valid");
        assert_eq!(s.root, PathBuf::from("/from/file"));
        assert_eq!(s.listen.port(), 2);
        assert_eq!(s.namespace, "a/b");
        assert_eq!(s.max_connections, 7);
    }

    #[test]
    fn problems_name_the_flag_or_key() {
        let e = cli(&["--listen", "127.0.0.1:1"])
            .settings()
            .expect_err("no root");
        assert!(e.contains("--root"), "{e}");
        let e = cli(&["--root", "/x", "--listen", "nowhere"])
            .settings()
            .expect_err("bad listen");
        assert!(e.contains("--listen"), "{e}");
        let e = cli(&["--root", "/x", "--listen", "127.0.0.1:1", "--tls-cert", "c"])
            .settings()
            .expect_err("cert alone");
        assert!(e.contains("--tls-key"), "{e}");
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("c.yaml");
        std::fs::write(&f, "root: /x\nlistn: 1\n").expect("write");
        let e = cli(&["--config", f.to_str().expect("utf-8")])
            .settings()
            .expect_err("typo");
        assert!(e.contains("listn"), "{e}");
        std::fs::write(&f, "root: /x\nlisten: 127.0.0.1:1\nmaxConnections: 0\n").expect("write");
        let e = cli(&["--config", f.to_str().expect("utf-8")])
            .settings()
            .expect_err("zero limit");
        assert!(e.contains("c.yaml") && e.contains("maxConnections"), "{e}");
    }
}
