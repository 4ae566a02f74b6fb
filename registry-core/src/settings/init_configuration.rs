//! The legacy registry parameters of InitConfiguration (`deckhouse.imagesRepo`,
//! `registryDockerCfg`, `registryCA`, `registryScheme`), the way a cluster starts in legacy
//! Unmanaged mode.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::fields::{object, preview, string};
use super::module_config::{has_text, read_ca_field, read_images_repo};
use super::problem::{Collector, ProblemCode};
use super::types::{check_secret, check_username};
use super::{Credentials, Scheme, Secret, Upstream};

/// The InitConfiguration keys that carry registry parameters.
pub(crate) const REGISTRY_KEYS: [&str; 4] = [
    "imagesRepo",
    "registryDockerCfg",
    "registryCA",
    "registryScheme",
];

/// Whether the document sets any registry parameter.
pub(crate) fn sets_registry(doc: &Map<String, Value>) -> bool {
    doc.get("deckhouse")
        .and_then(Value::as_object)
        .is_some_and(|d| {
            REGISTRY_KEYS
                .iter()
                .any(|k| !matches!(d.get(*k), None | Some(Value::Null)))
        })
}

/// Reads the upstream from an InitConfiguration; defaults as dhctl applies them.
pub(crate) fn read(doc: &Map<String, Value>, c: &mut Collector) -> Option<Upstream> {
    let before = c.problems.len();
    let deckhouse = match object(doc, "deckhouse", "deckhouse", c) {
        Ok(Some(d)) => d.clone(),
        Ok(None) => Map::new(),
        Err(()) => return None,
    };
    let scheme = read_scheme(&deckhouse, c);
    let upstream = read_images_repo(
        &deckhouse,
        "deckhouse.imagesRepo",
        scheme.unwrap_or_default(),
        c,
    );
    let ca = read_ca_field(&deckhouse, "registryCA", "deckhouse.registryCA", c);
    if scheme == Ok(Scheme::Http) && has_text(&deckhouse, "registryCA") {
        c.push(
            "deckhouse.registryCA",
            ProblemCode::CaWithHttp,
            "a CA is not allowed when registryScheme is HTTP",
        );
    }
    let mut upstream = upstream.ok()?;
    let credentials = read_docker_cfg(&deckhouse, &upstream.address(), c);
    if c.problems.len() > before {
        return None;
    }
    if let Some(ca) = ca.ok()? {
        upstream = upstream.with_ca(ca).ok()?;
    }
    if let Some(credentials) = credentials.ok()? {
        upstream = upstream.with_credentials(credentials).ok()?;
    }
    Some(upstream)
}

/// `registryScheme`: `HTTP` or `HTTPS`, in any case (dhctl accepts both spellings).
fn read_scheme(deckhouse: &Map<String, Value>, c: &mut Collector) -> Result<Scheme, ()> {
    let path = "deckhouse.registryScheme";
    match string(deckhouse, "registryScheme", path, &[], c)? {
        None => Ok(Scheme::Https),
        Some(s) if s.eq_ignore_ascii_case("https") => Ok(Scheme::Https),
        Some(s) if s.eq_ignore_ascii_case("http") => Ok(Scheme::Http),
        Some(s) => {
            c.push(
                path,
                ProblemCode::InvalidEnum,
                format!("{:?} is not one of HTTP, HTTPS", preview(s)),
            );
            Err(())
        }
    }
}

/// `registryDockerCfg`: base64 of `{"auths": {"<host>": {...}}}`; the entry for `address`
/// gives the credentials (none for an empty entry).
fn read_docker_cfg(
    deckhouse: &Map<String, Value>,
    address: &str,
    c: &mut Collector,
) -> Result<Option<Credentials>, ()> {
    let path = "deckhouse.registryDockerCfg";
    let Some(encoded) =
        string(deckhouse, "registryDockerCfg", path, &[], c)?.filter(|s| !s.trim().is_empty())
    else {
        return Ok(None);
    };
    let mut fail = |m: String| c.push(path, ProblemCode::InvalidDockerConfig, m);
    let Some(decoded) = decode_base64(encoded.trim()) else {
        fail("is not base64".into());
        return Err(());
    };
    let Ok(config) = serde_json::from_slice::<Value>(&decoded) else {
        fail("does not decode to a JSON docker config".into());
        return Err(());
    };
    let Some(auths) = config.get("auths").and_then(Value::as_object) else {
        fail("has no \"auths\" object".into());
        return Err(());
    };
    let Some((_, entry)) = auths.iter().find(|(host, _)| same_registry(host, address)) else {
        let hosts: Vec<String> = auths.keys().map(|h| preview(h)).collect();
        fail(format!(
            "has no entry for {address} (entries: {})",
            hosts.join(", ")
        ));
        return Err(());
    };
    match entry_credentials(entry) {
        Ok(creds) => Ok(creds),
        Err(m) => {
            fail(format!("entry for {address}: {m}"));
            Err(())
        }
    }
}

/// Docker config keys may carry a scheme and a path (`https://host/v1/`); compare hosts only.
fn same_registry(key: &str, address: &str) -> bool {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key);
    host.eq_ignore_ascii_case(address)
}

fn entry_credentials(entry: &Value) -> Result<Option<Credentials>, String> {
    let field = |k: &str| {
        entry
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let (username, password) = match (field("username"), field("password"), field("auth")) {
        (Some(u), Some(p), _) => (u.to_owned(), p.to_owned()),
        (_, _, Some(auth)) => {
            let decoded = decode_base64(auth).ok_or("\"auth\" is not base64")?;
            let text = String::from_utf8(decoded).map_err(|_| "\"auth\" is not UTF-8 text")?;
            let (u, p) = text
                .split_once(':')
                .ok_or("\"auth\" is not of the form user:password")?;
            (u.to_owned(), p.to_owned())
        }
        (None, None, None) => return Ok(None),
        _ => return Err("has only one of username and password".into()),
    };
    check_username(&username).map_err(|m| format!("username {m}"))?;
    check_secret(&password).map_err(|m| format!("password {m}"))?;
    Ok(Some(Credentials::UserPassword {
        username,
        password: Secret::new(password),
    }))
}

/// Standard base64, with or without padding.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_match_without_scheme_or_path() {
        assert!(same_registry(
            "https://Nexus.example.com:8443/v1/",
            "nexus.example.com:8443"
        ));
        assert!(same_registry(
            "nexus.example.com:8443",
            "nexus.example.com:8443"
        ));
        assert!(!same_registry(
            "nexus.example.com",
            "nexus.example.com:8443"
        ));
    }

    #[test]
    fn credentials_from_auth_or_fields() {
        let from_auth = entry_credentials(&serde_json::json!({"auth": "dTpwOng="})).unwrap();
        assert_eq!(
            from_auth,
            Some(Credentials::UserPassword {
                username: "u".into(),
                password: Secret::new("p:x")
            })
        );
        let from_fields =
            entry_credentials(&serde_json::json!({"username": "a", "password": "b", "auth": "x"}))
                .unwrap();
        assert_eq!(
            from_fields,
            Some(Credentials::UserPassword {
                username: "a".into(),
                password: Secret::new("b")
            })
        );
        assert_eq!(entry_credentials(&serde_json::json!({})), Ok(None));
        assert!(entry_credentials(&serde_json::json!({"username": "a"})).is_err());
    }
}
