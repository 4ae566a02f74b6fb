//! Rendering the model into files: `registry.d/<host>/hosts.toml` with CA files beside it, the
//! registry part of config.toml (containerd 1.x and 2.x, or the legacy inline 1.x form), the
//! node load balancer's configuration, and the list of host folders written.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::model::{Mirror, NodeConfig, canonical_json, sha256_hex};
use super::nginx::{NginxOptions, nginx_conf};
use super::node_paths;
use super::options::{ContainerdMajor, ContainerdVersion, Dialect, RenderOptions};
use super::toml::{toml_array, toml_string};
use super::{FileMode, RenderError};
use crate::settings::{Mode, Scheme};

/// containerd's hosts directory on nodes (`config_path`).
pub const REGISTRY_D: &str = "/etc/containerd/registry.d";
/// The registry part of config.toml: a complete config file that `deckhouse.toml` imports.
pub const CONFIG_PART: &str = "/etc/containerd/deckhouse.d/registry.toml";
/// The JSON list of host folders the module wrote, for cleanup (in the hosts directory).
pub const HOSTS_STATE_FILE: &str = "deckhouse_hosts_state.json";
/// [`HOSTS_STATE_FILE`] in the default hosts directory.
pub const HOSTS_STATE: &str = "/etc/containerd/registry.d/deckhouse_hosts_state.json";
/// The node load balancer's configuration (Proxy and Local).
pub const NGINX_CONF: &str = "/etc/kubernetes/registry-proxy/nginx.conf";
/// Where the legacy inline format expects registry CA files.
pub const LEGACY_CA_DIR: &str = "/opt/deckhouse/share/ca-certificates";

/// One file for a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenderedFile {
    /// Absolute path on the node.
    pub path: String,
    /// The file's text.
    pub contents: String,
    /// Permission bits (0600 for files holding credentials).
    pub mode: FileMode,
}

impl RenderedFile {
    /// Lowercase hex sha256 of the contents, as manifests list it.
    pub fn sha256(&self) -> String {
        sha256_hex(self.contents.as_bytes())
    }
}

/// Everything a node needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    /// A hex sha256 over the model and the options.
    pub version: String,
    /// containerd's hosts directory the files were rendered for.
    pub config_path: String,
    /// The files, sorted by path.
    pub files: Vec<RenderedFile>,
    /// The host folders under `registry.d` written this time (what `deckhouse_hosts_state.json` lists).
    pub host_dirs: Vec<String>,
    /// Things worth knowing about the output.
    pub warnings: Vec<String>,
}

/// Renders `config` for a node.
///
/// # Errors
/// [`RenderError::InvalidOptions`] when the generation and the release line disagree;
/// [`RenderError::Refused`] when the upstream dialect cannot express the configuration
/// (a path rewrite, or two credentials for one mirror host).
pub fn render(config: &NodeConfig, options: &RenderOptions) -> Result<Rendered, RenderError> {
    node_paths::check_config_path(&options.config_path).map_err(|reason| {
        RenderError::InvalidOptions(format!("config path {:?} {reason}", options.config_path))
    })?;
    if options.version.generation() != options.containerd {
        return Err(RenderError::InvalidOptions(format!(
            "containerd {} is not a {:?} release",
            options.version, options.containerd
        )));
    }
    let mut out = Output::default();
    let legacy_inline = config.mode == Mode::UnmanagedLegacy
        && !config.transition
        && options.containerd == ContainerdMajor::V1;
    if legacy_inline {
        render_legacy_inline(config, options, &mut out);
    } else {
        if options.dialect == Dialect::Upstream {
            check_upstream_dialect(config)?;
        }
        for (host, mirrors) in &config.hosts {
            render_host_dir(host, mirrors, options, &mut out);
            out.host_dirs.push(host.clone());
        }
        render_config_part(config, options, &mut out);
    }
    let state = serde_json::to_string(&out.host_dirs).unwrap_or_else(|_| "[]".into());
    out.add(
        format!("{}/{HOSTS_STATE_FILE}", options.config_path),
        format!("{state}\n"),
        FileMode::PUBLIC,
    );
    if !config.proxy_endpoints.is_empty() {
        out.add(
            NGINX_CONF,
            nginx_conf(&config.proxy_endpoints, &NginxOptions::default()),
            FileMode::GROUP_READ,
        );
    }
    out.files.sort_by(|a, b| a.path.cmp(&b.path));
    let options_json = serde_json::to_string(options).unwrap_or_default();
    // The phase is hashed too: legacy 1.x renders other files in the final phase.
    let (model, phase) = (canonical_json(config), config.transition);
    let version = sha256_hex(format!("{model}\n{phase}\n{options_json}").as_bytes());
    Ok(Rendered {
        version,
        config_path: options.config_path.clone(),
        files: out.files,
        host_dirs: out.host_dirs,
        warnings: out.warnings,
    })
}

#[derive(Default)]
struct Output {
    files: Vec<RenderedFile>,
    host_dirs: Vec<String>,
    warnings: Vec<String>,
}

impl Output {
    fn add(&mut self, path: impl Into<String>, contents: String, mode: FileMode) {
        self.files.push(RenderedFile {
            path: path.into(),
            contents,
            mode,
        });
    }
}

/// Stock containerd has no rewrite and takes credentials per mirror host from config.toml.
fn check_upstream_dialect(config: &NodeConfig) -> Result<(), RenderError> {
    let mut creds: BTreeMap<String, String> = BTreeMap::new();
    for (host, mirrors) in &config.hosts {
        for m in mirrors {
            if !m.rewrites.is_empty() {
                return Err(RenderError::Refused(format!(
                    "stock containerd cannot rewrite repository paths, which {host} → {} needs (upstream path \
                     differs from /system/deckhouse); use the deckhouse dialect, or an upstream whose path is /system/deckhouse",
                    m.host
                )));
            }
            if let Some(auth) = &m.auth {
                let token = auth.basic_token().expose().to_owned();
                if creds
                    .insert(m.host.to_ascii_lowercase(), token.clone())
                    .is_some_and(|t| t != token)
                {
                    return Err(RenderError::Refused(format!(
                        "stock containerd keeps one credential per mirror host, and {} has two",
                        m.host
                    )));
                }
            }
        }
    }
    Ok(())
}

fn ca_path(config_path: &str, host: &str, m: &Mirror) -> String {
    format!(
        "{config_path}/{host}/{}-{}-ca.crt",
        m.scheme.as_url_scheme(),
        m.host
    )
}

fn render_host_dir(host: &str, mirrors: &[Mirror], options: &RenderOptions, out: &mut Output) {
    let mut toml =
        String::from("# Written by deckhouse-registry. Changes are overwritten.\n[host]\n");
    let mut secret = false;
    for m in mirrors {
        let key = format!("host.{}", toml_string(&m.url()));
        let _ = write!(
            toml,
            "\n[{key}]\n  capabilities = {}\n",
            toml_array(&["pull", "resolve"])
        );
        match m.scheme {
            // Any TLS key on an http mirror makes containerd try HTTPS first (CONTAINERD-HOSTS.md §3).
            Scheme::Http if options.http_tls_fallback => toml.push_str("  skip_verify = true\n"),
            Scheme::Http => {}
            Scheme::Https => {
                if let Some(ca) = &m.ca {
                    let path = ca_path(&options.config_path, host, m);
                    let _ = writeln!(toml, "  ca = {}", toml_array(&[&path]));
                    out.add(path, ca.pem().to_owned(), FileMode::PUBLIC);
                }
            }
        }
        if options.dialect == Dialect::Deckhouse {
            if let Some(auth) = &m.auth {
                secret = true;
                let _ = write!(
                    toml,
                    "  [{key}.auth]\n    auth = {}\n",
                    toml_string(auth.basic_token().expose())
                );
            }
            for r in &m.rewrites {
                let _ = write!(
                    toml,
                    "  [[{key}.rewrite]]\n    regex = {}\n    replace = {}\n",
                    toml_string(&r.from),
                    toml_string(&r.to)
                );
            }
        }
    }
    let mode = FileMode::holding_secrets(secret);
    out.add(
        format!("{}/{host}/hosts.toml", options.config_path),
        toml,
        mode,
    );
}

/// The `version = N` line for the release line, and the plugin table prefix of its generation.
fn plugin(version: ContainerdVersion) -> (String, &'static str) {
    let prefix = match version.generation() {
        ContainerdMajor::V1 => "plugins.\"io.containerd.grpc.v1.cri\".registry",
        ContainerdMajor::V2 => "plugins.\"io.containerd.cri.v1.images\".registry",
    };
    (format!("version = {}", version.config_version()), prefix)
}

fn render_config_part(config: &NodeConfig, options: &RenderOptions, out: &mut Output) {
    let (version, prefix) = plugin(options.version);
    let mut toml = format!(
        "{version}\n\n[{prefix}]\n  config_path = {}\n",
        toml_string(&options.config_path)
    );
    let mut secret = false;
    if options.dialect == Dialect::Upstream {
        let mut written = std::collections::BTreeSet::new();
        for m in config.hosts.values().flatten() {
            if let Some(auth) = &m.auth
                && written.insert(m.host.to_ascii_lowercase())
            {
                secret = true;
                let _ = write!(
                    toml,
                    "\n[{prefix}.configs.{}.auth]\n  auth = {}\n",
                    toml_string(&m.host),
                    toml_string(auth.basic_token().expose())
                );
            }
        }
        if secret && options.containerd == ContainerdMajor::V2 {
            out.warnings.push(
                "credentials in config.toml (registry.configs.*.auth) are deprecated in containerd 2.x, and from 2.1 \
                 they make CRI pull without the transfer service"
                    .into(),
            );
        }
    }
    let mode = FileMode::holding_secrets(secret);
    out.add(CONFIG_PART, toml, mode);
}

/// The pre-module containerd 1.x form: inline mirrors and per-mirror configs in config.toml,
/// with exactly one `tls` table per mirror (never the duplicate of DOMAIN.md §13).
fn render_legacy_inline(config: &NodeConfig, options: &RenderOptions, out: &mut Output) {
    let (version, prefix) = plugin(options.version);
    let mut toml = format!("{version}\n\n[{prefix}]\n[{prefix}.mirrors]\n");
    let _ = write!(
        toml,
        "[{prefix}.mirrors.\"docker.io\"]\n  endpoint = {}\n",
        toml_array(&["https://registry-1.docker.io"])
    );
    for (host, mirrors) in &config.hosts {
        let urls: Vec<String> = mirrors.iter().map(Mirror::url).collect();
        let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
        let _ = write!(
            toml,
            "[{prefix}.mirrors.{}]\n  endpoint = {}\n",
            toml_string(host),
            toml_array(&refs)
        );
    }
    let mut secret = false;
    let mut configured = std::collections::BTreeSet::new();
    for m in config.hosts.values().flatten() {
        if !configured.insert(m.host.to_ascii_lowercase()) {
            continue;
        }
        let table = format!("{prefix}.configs.{}", toml_string(&m.host));
        if let Some(auth) = &m.auth {
            secret = true;
            let _ = write!(
                toml,
                "[{table}.auth]\n  auth = {}\n",
                toml_string(auth.basic_token().expose())
            );
        }
        let ca = m.ca.as_ref().filter(|_| m.scheme == Scheme::Https);
        if ca.is_some() || m.scheme == Scheme::Http {
            let _ = writeln!(toml, "[{table}.tls]");
            if let Some(ca) = ca {
                let path = format!(
                    "{LEGACY_CA_DIR}/registry-{}-ca.crt",
                    m.host.to_ascii_lowercase()
                );
                let _ = writeln!(toml, "  ca_file = {}", toml_string(&path));
                out.add(path, ca.pem().to_owned(), FileMode::PUBLIC);
            }
            if m.scheme == Scheme::Http {
                toml.push_str("  insecure_skip_verify = true\n");
            }
        }
    }
    let mode = FileMode::holding_secrets(secret);
    out.add(CONFIG_PART, toml, mode);
}
