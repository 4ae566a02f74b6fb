//! Settings: the command line (a stable contract, see the README) and `--config FILE`, a YAML
//! mapping of the same settings in camelCase; a flag given on the command line wins over the
//! file. Every problem names the flag or key and what is wrong.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use yaml_rust2::{Yaml, YamlLoader};

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

/// Keys a config file may hold (the flags, plus limits that have no flag).
const KEYS: [&str; 21] = [
    "root",
    "listen",
    "tlsCert",
    "tlsKey",
    "htpasswd",
    "writers",
    "namespace",
    "upstream",
    "upstreamCa",
    "upstreamUser",
    "upstreamPasswordFile",
    "ttl",
    "peers",
    "peerUser",
    "peerPasswordFile",
    "peerCa",
    "maxConnections",
    "maxManifestBytes",
    "headerTimeoutSeconds",
    "bodyTimeoutSeconds",
    "config",
];

/// A config file's mapping, checked for unknown keys and value types.
struct File {
    path: PathBuf,
    map: yaml_rust2::yaml::Hash,
}

impl File {
    fn load(path: &PathBuf) -> Result<File, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--config {}: {e}", path.display()))?;
        let docs = YamlLoader::load_from_str(&text)
            .map_err(|e| format!("--config {}: not YAML: {e}", path.display()))?;
        let map = match docs.into_iter().next() {
            None | Some(Yaml::Null) => Default::default(),
            Some(Yaml::Hash(h)) => h,
            Some(_) => return Err(format!("--config {}: not a mapping", path.display())),
        };
        for k in map.keys() {
            match k.as_str() {
                Some(s) if KEYS.contains(&s) && s != "config" => {}
                _ => {
                    return Err(format!(
                        "--config {}: unknown key {k:?} (known: {})",
                        path.display(),
                        KEYS[..KEYS.len() - 1].join(", ")
                    ));
                }
            }
        }
        Ok(File {
            path: path.clone(),
            map,
        })
    }

    fn get(&self, key: &str) -> Option<&Yaml> {
        self.map.get(&Yaml::String(key.to_string()))
    }

    fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None | Some(Yaml::Null) => Ok(None),
            Some(Yaml::String(s)) => Ok(Some(s.clone())),
            Some(Yaml::Integer(i)) => Ok(Some(i.to_string())),
            Some(_) => Err(format!(
                "--config {}: {key} must be a string",
                self.path.display()
            )),
        }
    }

    fn list(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        match self.get(key) {
            None | Some(Yaml::Null) => Ok(None),
            Some(Yaml::String(s)) => Ok(Some(s.split(',').map(|s| s.trim().to_string()).collect())),
            Some(Yaml::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        format!("--config {}: {key} must list strings", self.path.display())
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!(
                "--config {}: {key} must be a list",
                self.path.display()
            )),
        }
    }

    fn number(&self, key: &str) -> Result<Option<u64>, String> {
        match self.get(key) {
            None | Some(Yaml::Null) => Ok(None),
            Some(Yaml::Integer(i)) if *i > 0 => Ok(Some(*i as u64)),
            Some(_) => Err(format!(
                "--config {}: {key} must be a positive integer",
                self.path.display()
            )),
        }
    }
}

impl Cli {
    /// Merges the flags over the config file (if any) into settings.
    pub(crate) fn settings(self) -> Result<Settings, String> {
        let file = self.config.as_ref().map(File::load).transpose()?;
        let f_str = |k: &str| -> Result<Option<String>, String> {
            file.as_ref().map_or(Ok(None), |f| f.string(k))
        };
        let f_path = |k: &str| f_str(k).map(|o| o.map(PathBuf::from));
        let f_num = |k: &str| file.as_ref().map_or(Ok(None), |f| f.number(k));
        let f_list = |k: &str| file.as_ref().map_or(Ok(None), |f| f.list(k));

        let root = self
            .root
            .or(f_path("root")?)
            .ok_or("--root DIR is required (or root: in --config)")?;
        let listen_s = self
            .listen
            .or(f_str("listen")?)
            .ok_or("--listen ADDR:PORT is required (or listen: in --config)")?;
        let listen: SocketAddr = listen_s
            .parse()
            .map_err(|e| format!("--listen {listen_s:?}: not ADDR:PORT ({e})"))?;
        let cert = self.tls_cert.or(f_path("tlsCert")?);
        let key = self.tls_key.or(f_path("tlsKey")?);
        let tls = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        let htpasswd = self.htpasswd.or(f_path("htpasswd")?);
        let writers = match self.writers.or(f_list("writers")?) {
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
            .or(f_str("namespace")?)
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        let upstream = match self.upstream.or(f_str("upstream")?) {
            None => {
                let stray = self.upstream_ca.is_some()
                    || self.upstream_user.is_some()
                    || self.upstream_password_file.is_some()
                    || self.ttl.is_some()
                    || ["upstreamCa", "upstreamUser", "upstreamPasswordFile", "ttl"]
                        .iter()
                        .any(|k| file.as_ref().is_some_and(|f| f.get(k).is_some()));
                if stray {
                    return Err("--upstream-ca, --upstream-user, --upstream-password-file and --ttl need --upstream".into());
                }
                None
            }
            Some(url) => {
                let user = self.upstream_user.or(f_str("upstreamUser")?);
                let password_file = self
                    .upstream_password_file
                    .or(f_path("upstreamPasswordFile")?);
                if user.is_some() != password_file.is_some() {
                    return Err("--upstream-user and --upstream-password-file go together".into());
                }
                let ttl = self
                    .ttl
                    .or(f_str("ttl")?)
                    .map(|t| crate::upstream::parse_duration(&t))
                    .transpose()?;
                Some(UpstreamSettings {
                    url,
                    ca: self.upstream_ca.or(f_path("upstreamCa")?),
                    credentials: user.zip(password_file),
                    ttl,
                })
            }
        };
        let mut peers = self.peer;
        if peers.is_empty() {
            peers = f_list("peers")?.unwrap_or_default();
        }
        let peer_user = self.peer_user.or(f_str("peerUser")?);
        let peer_password_file = self.peer_password_file.or(f_path("peerPasswordFile")?);
        if peer_user.is_some() != peer_password_file.is_some() {
            return Err("--peer-user and --peer-password-file go together".into());
        }
        let peer_ca = self.peer_ca.or(f_path("peerCa")?);
        if peers.is_empty() && (peer_user.is_some() || peer_ca.is_some()) {
            return Err("--peer-user, --peer-password-file and --peer-ca need --peer".into());
        }
        let peers = PeerSettings {
            urls: peers,
            ca: peer_ca,
            credentials: peer_user.zip(peer_password_file),
        };
        let secs = |k: &str, d: u64| f_num(k).map(|o| Duration::from_secs(o.unwrap_or(d)));
        Ok(Settings {
            root,
            listen,
            tls,
            htpasswd,
            writers,
            namespace,
            upstream,
            peers,
            max_connections: f_num("maxConnections")?.unwrap_or(1024) as usize,
            max_manifest: f_num("maxManifestBytes")?.unwrap_or(4 << 20),
            header_timeout: secs("headerTimeoutSeconds", 30)?,
            body_timeout: secs("bodyTimeoutSeconds", 60)?,
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
    }
}
