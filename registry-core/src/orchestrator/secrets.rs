//! The `deckhouse-registry` secret (DOMAIN.md §9): what every platform component pulls with, in
//! its managed form (the fixed in-cluster address) and its unmanaged form (the upstream), with
//! `.dockerconfigjson` and the hash the deckhouse leader pod reports.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::containerd::{go_escape, sha256_hex};
use crate::settings::{
    CaBundle, Credentials, Scheme, Secret, Upstream, VIRTUAL_HOST, VIRTUAL_PATH,
};

/// The `deckhouse-registry` secret's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrySecret {
    /// `host[:port]`.
    pub address: String,
    /// `/path` or empty.
    #[serde(default)]
    pub path: String,
    /// `http` or `https`.
    pub scheme: String,
    /// The CA (PEM), or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca: String,
    /// The docker config JSON (holds credentials).
    #[serde(rename = ".dockerconfigjson")]
    pub dockerconfigjson: Secret,
}

/// `{"auths":{"<host>":{"username":…,"password":…,"auth":…}}}`, empty fields left out, `auth`
/// only with both a user name and a password.
///
/// ```
/// use registry_core::orchestrator::docker_config_json;
/// assert_eq!(docker_config_json("r.example", None).expose(), r#"{"auths":{"r.example":{}}}"#);
/// assert_eq!(docker_config_json("r.example", Some(("u", "p"))).expose(),
///     r#"{"auths":{"r.example":{"username":"u","password":"p","auth":"dTpw"}}}"#);
/// ```
pub fn docker_config_json(host: &str, credentials: Option<(&str, &str)>) -> Secret {
    let mut entry = serde_json::Map::new();
    if let Some((user, password)) = credentials {
        if !user.is_empty() {
            entry.insert("username".into(), user.into());
        }
        if !password.is_empty() {
            entry.insert("password".into(), password.into());
        }
        if !user.is_empty() && !password.is_empty() {
            let auth =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            entry.insert("auth".into(), auth.into());
        }
    }
    let doc = serde_json::json!({ "auths": { host: entry } });
    Secret::new(go_escape(&doc.to_string()))
}

impl RegistrySecret {
    /// The managed form: the fixed in-cluster address, the module CA, the given credentials.
    pub fn managed(module_ca: &str, credentials: Option<(&str, &str)>) -> Self {
        RegistrySecret {
            address: VIRTUAL_HOST.to_owned(),
            path: VIRTUAL_PATH.to_owned(),
            scheme: "https".to_owned(),
            ca: module_ca.to_owned(),
            dockerconfigjson: docker_config_json(VIRTUAL_HOST, credentials),
        }
    }

    /// The unmanaged form: the upstream itself.
    pub fn unmanaged(upstream: &Upstream) -> Self {
        let creds = upstream.credentials().map(Credentials::basic_auth);
        RegistrySecret {
            address: upstream.address(),
            path: upstream.path().to_owned(),
            scheme: upstream.scheme().as_url_scheme().to_owned(),
            ca: upstream
                .ca()
                .map(|c| c.pem().to_owned())
                .unwrap_or_default(),
            dockerconfigjson: docker_config_json(
                &upstream.address(),
                creds.map(|(u, p)| (u, p.expose())),
            ),
        }
    }

    /// sha256 of `{address,path,scheme,ca (when set),".dockerconfigjson":<base64>}`, as Go
    /// marshals it: the value the leader pod's `checksum/registry-version` must equal.
    pub fn hash(&self) -> String {
        let mut doc = serde_json::json!({
            "address": self.address,
            "path": self.path,
            "scheme": self.scheme,
        });
        if !self.ca.is_empty() {
            doc["ca"] = self.ca.clone().into();
        }
        doc[".dockerconfigjson"] = base64::engine::general_purpose::STANDARD
            .encode(self.dockerconfigjson.expose())
            .into();
        sha256_hex(go_escape(&doc.to_string()).as_bytes())
    }

    /// The upstream this secret describes (its unmanaged reading): the registry a legacy
    /// cluster pulls from. `None` when it cannot be read.
    pub fn to_upstream(&self) -> Option<Upstream> {
        let scheme = match self.scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            _ => Scheme::Https,
        };
        let mut upstream =
            Upstream::from_images_repo(&format!("{}{}", self.address, self.path), scheme).ok()?;
        if !self.ca.trim().is_empty() && scheme == Scheme::Https {
            upstream = upstream.with_ca(CaBundle::parse(&self.ca).ok()?).ok()?;
        }
        if let Some((user, password)) = self.credentials() {
            upstream = upstream
                .with_credentials(Credentials::UserPassword {
                    username: user,
                    password: Secret::new(password),
                })
                .ok()?;
        }
        Some(upstream)
    }

    /// The user name and password for this secret's address, read from `.dockerconfigjson`
    /// (`username`/`password`, or `auth` in standard or unpadded base64).
    fn credentials(&self) -> Option<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(self.dockerconfigjson.expose()).ok()?;
        let auths = doc.get("auths")?.as_object()?;
        let want = normalise_host(&self.address);
        let entry = auths
            .iter()
            .find(|(k, _)| normalise_host(k) == want)
            .map(|(_, v)| v)?;
        let field = |k: &str| {
            entry
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let (user, password) = (field("username"), field("password"));
        if !user.is_empty() && !password.is_empty() {
            return Some((user, password));
        }
        let auth = field("auth");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&auth)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&auth))
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (u, p) = text.split_once(':')?;
        (!u.is_empty() && !p.is_empty()).then(|| (u.to_owned(), p.to_owned()))
    }
}

/// `https://Host:443/x` → `host:443`: the host part of a docker config key, lowercased.
fn normalise_host(key: &str) -> String {
    let rest = key.split_once("://").map_or(key, |(_, r)| r);
    rest.split('/').next().unwrap_or("").to_ascii_lowercase()
}
