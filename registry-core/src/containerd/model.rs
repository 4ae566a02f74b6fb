//! The node configuration model: for each registry host containerd may be asked for, the
//! ordered mirrors it pulls through (DOMAIN.md §7.1).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::settings::{CaBundle, Mode, Scheme, Secret};

/// Credentials a mirror is pulled with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MirrorAuth {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: Secret,
}

impl MirrorAuth {
    /// `base64(username:password)`, the form containerd's `auth` keys take.
    ///
    /// ```
    /// use registry_core::containerd::MirrorAuth;
    /// use registry_core::settings::Secret;
    /// let a = MirrorAuth { username: "svc".into(), password: Secret::new("pw") };
    /// assert_eq!(a.basic_token().expose(), "c3ZjOnB3");
    /// ```
    pub fn basic_token(&self) -> Secret {
        let raw = format!("{}:{}", self.username, self.password.expose());
        Secret::new(base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

/// A rewrite of the repository path (no leading slash), applied by Deckhouse's containerd.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rewrite {
    /// A Go regular expression matched against the repository path.
    pub from: String,
    /// The replacement.
    pub to: String,
}

/// One mirror of a registry host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Mirror {
    /// `host[:port]` of the mirror.
    pub host: String,
    /// How the mirror is reached.
    pub scheme: Scheme,
    /// The CA the mirror's certificate is checked against, if not the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<CaBundle>,
    /// Credentials, if the mirror is not anonymous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<MirrorAuth>,
    /// Path rewrites, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrites: Vec<Rewrite>,
}

impl Mirror {
    /// The identity of a mirror inside a host: two mirrors with the same key replace each other.
    pub fn key(&self) -> (String, Scheme) {
        (self.host.to_ascii_lowercase(), self.scheme)
    }

    /// `scheme://host`, the table key in hosts.toml.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme.as_url_scheme(), self.host)
    }
}

/// Which configuration a node gets: everything needed to render its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeConfig {
    /// The mode the configuration is for (the target mode in the transition phase).
    pub mode: Mode,
    /// Whether this is the transition phase (old mirrors then new) or the final one.
    pub transition: bool,
    /// Where platform image references point.
    pub images_base: String,
    /// The masters' registry endpoints behind the node load balancer (Proxy and Local).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxy_endpoints: Vec<SocketAddr>,
    /// For each registry host (image reference domain), its mirrors in the order tried.
    pub hosts: BTreeMap<String, Vec<Mirror>>,
}

impl NodeConfig {
    /// A hex sha256 over a canonical encoding of the model: identical models give identical
    /// versions, any change of a mirror gives another. The encoding is the JSON Go's
    /// `encoding/json` writes for the registry module's `Config` struct (with `version` empty),
    /// so the Go side computes the same value. The phase is not part of it: a transition config
    /// with the same mirrors as the final one is the same config.
    pub fn version(&self) -> String {
        sha256_hex(canonical_json(self).as_bytes())
    }
}

/// The model as Go's `encoding/json` writes the registry module's `Config` (DOMAIN.md §7.1-7.2):
/// fields `mode`, `version` (empty), `imagesBase`, `proxyEndpoints` (omitted when empty),
/// `hosts`; per mirror `host`, `scheme` (lowercase), `ca` (omitted when empty), `auth`
/// (always, with `username`, `password` and `auth` = base64 of `user:password`), `rewrites`
/// (omitted when empty); map keys sorted; `<`, `>`, `&`, U+2028 and U+2029 escaped.
/// `conformance/versionhash` computes the same with Go itself.
pub(crate) fn canonical_json(config: &NodeConfig) -> String {
    let hosts: BTreeMap<&str, serde_json::Value> = config
        .hosts
        .iter()
        .map(|(host, mirrors)| {
            let mirrors: Vec<serde_json::Value> = mirrors.iter().map(mirror_json).collect();
            (host.as_str(), serde_json::json!({ "mirrors": mirrors }))
        })
        .collect();
    // The Go struct has a `version` field, hashed empty; it has no phase flag (a transition
    // config differs from the final one by its mirrors, or is the same config).
    let mut doc = serde_json::json!({
        "mode": config.mode.as_str(),
        "version": "",
        "imagesBase": config.images_base,
    });
    if !config.proxy_endpoints.is_empty() {
        let endpoints: Vec<String> = config
            .proxy_endpoints
            .iter()
            .map(ToString::to_string)
            .collect();
        doc["proxyEndpoints"] = serde_json::json!(endpoints);
    }
    doc["hosts"] = serde_json::json!(hosts);
    go_escape(&doc.to_string())
}

fn mirror_json(m: &Mirror) -> serde_json::Value {
    let (username, password, auth) = match &m.auth {
        Some(a) => (
            a.username.clone(),
            a.password.expose().to_owned(),
            a.basic_token().expose().to_owned(),
        ),
        None => (String::new(), String::new(), String::new()),
    };
    let mut v = serde_json::json!({ "host": m.host, "scheme": m.scheme.as_url_scheme() });
    if let Some(ca) = &m.ca {
        v["ca"] = serde_json::json!(ca.pem());
    }
    v["auth"] = serde_json::json!({ "username": username, "password": password, "auth": auth });
    if !m.rewrites.is_empty() {
        let rewrites: Vec<serde_json::Value> = m
            .rewrites
            .iter()
            .map(|r| serde_json::json!({ "from": r.from, "to": r.to }))
            .collect();
        v["rewrites"] = serde_json::json!(rewrites);
    }
    v
}

/// Go escapes these characters inside JSON strings; serde_json does not. They never appear
/// outside strings in JSON, so a plain replacement is exact.
pub(crate) fn go_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) use crate::store::sha256_hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_escaping() {
        assert_eq!(
            go_escape(r#"{"a":"<b>&\u2028"}"#.replace("\\u2028", "\u{2028}").as_str()),
            r#"{"a":"\u003cb\u003e\u0026\u2028"}"#
        );
    }

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
