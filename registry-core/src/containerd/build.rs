//! Building the node configuration model per mode (DOMAIN.md §7.2): the final phase from the
//! desired settings, the transition phase from the previous settings merged with the desired.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::RenderError;
use super::model::{Mirror, MirrorAuth, NodeConfig, Rewrite};
use crate::facts::ClusterFacts;
use crate::settings::{Mode, RegistrySettings, Scheme, Upstream, VIRTUAL_HOST, VIRTUAL_PATH};

/// Where the node load balancer listens, and where the masters' registry listens.
pub const REGISTRY_PORT: u16 = 5001;
/// The node-local load balancer in Proxy and Local modes.
pub const LOCAL_ENDPOINT: &str = "127.0.0.1:5001";

/// Builds the model for `desired`; with `previous`, the transition phase (previous mirrors first,
/// a mirror with the same host and scheme replaced in place).
///
/// # Errors
/// [`RenderError::MissingInput`] when Proxy or Local lack the module CA, the read-only user or a
/// master with an IP address, or legacy settings name no registry.
pub fn node_config(
    desired: &RegistrySettings,
    previous: Option<&RegistrySettings>,
    facts: &ClusterFacts,
) -> Result<NodeConfig, RenderError> {
    let mut hosts = BTreeMap::new();
    if let Some(previous) = previous {
        merge(&mut hosts, mirrors_for(previous, facts)?);
    }
    merge(&mut hosts, mirrors_for(desired, facts)?);
    let uses_proxy = |s: &RegistrySettings| s.mode().needs_static_cluster();
    let proxy_endpoints = if uses_proxy(desired) || previous.is_some_and(uses_proxy) {
        master_endpoints(facts)?
    } else {
        Vec::new()
    };
    let images_base = desired.images_base().ok_or_else(unknown_legacy)?;
    Ok(NodeConfig {
        mode: desired.mode(),
        transition: previous.is_some(),
        images_base,
        proxy_endpoints,
        hosts,
    })
}

/// Appends mirrors per host; a mirror with an existing (host, scheme) replaces it in place.
fn merge(hosts: &mut BTreeMap<String, Vec<Mirror>>, add: (String, Mirror)) {
    let (host, mirror) = add;
    let mirrors = hosts.entry(host).or_default();
    match mirrors.iter_mut().find(|m| m.key() == mirror.key()) {
        Some(existing) => *existing = mirror,
        None => mirrors.push(mirror),
    }
}

/// The registry host and its mirror for one settings value.
fn mirrors_for(
    settings: &RegistrySettings,
    facts: &ClusterFacts,
) -> Result<(String, Mirror), RenderError> {
    match settings {
        RegistrySettings::Unmanaged { upstream }
        | RegistrySettings::UnmanagedLegacy {
            upstream: Some(upstream),
        } => Ok((upstream.address(), upstream_mirror(upstream, Vec::new()))),
        RegistrySettings::UnmanagedLegacy { upstream: None } => Err(unknown_legacy()),
        RegistrySettings::Direct { upstream } => Ok((
            VIRTUAL_HOST.to_owned(),
            upstream_mirror(upstream, direct_rewrites(upstream)),
        )),
        RegistrySettings::Proxy { .. } | RegistrySettings::Local => {
            let ca = facts
                .module_ca
                .clone()
                .ok_or_else(|| missing("moduleCA", settings.mode()))?;
            let user = facts
                .read_only_user
                .as_ref()
                .ok_or_else(|| missing("readOnlyUser", settings.mode()))?;
            let mirror = Mirror {
                host: LOCAL_ENDPOINT.to_owned(),
                scheme: Scheme::Https,
                ca: Some(ca),
                auth: Some(MirrorAuth {
                    username: user.name.clone(),
                    password: user.password.clone(),
                }),
                rewrites: Vec::new(),
            };
            Ok((VIRTUAL_HOST.to_owned(), mirror))
        }
    }
}

fn upstream_mirror(upstream: &Upstream, rewrites: Vec<Rewrite>) -> Mirror {
    Mirror {
        host: upstream.address(),
        scheme: upstream.scheme(),
        ca: upstream.ca().cloned(),
        auth: upstream.credentials().map(|c| {
            let (username, password) = c.basic_auth();
            MirrorAuth {
                username: username.to_owned(),
                password: password.clone(),
            }
        }),
        rewrites,
    }
}

/// Direct maps `system/deckhouse/...` on the fixed address to the upstream's own path. No rewrite
/// is needed when the upstream path is the fixed one.
fn direct_rewrites(upstream: &Upstream) -> Vec<Rewrite> {
    let fixed = VIRTUAL_PATH.trim_start_matches('/');
    let target = upstream.path().trim_start_matches('/');
    if target == fixed {
        return Vec::new();
    }
    // An upstream at the registry root: drop the prefix together with its slash.
    let from = if target.is_empty() {
        format!("^{fixed}/?")
    } else {
        format!("^{fixed}")
    };
    vec![Rewrite {
        from,
        to: target.to_owned(),
    }]
}

fn master_endpoints(facts: &ClusterFacts) -> Result<Vec<SocketAddr>, RenderError> {
    let mut endpoints: Vec<SocketAddr> = facts
        .masters()
        .filter_map(|n| n.ip)
        .map(|ip| SocketAddr::new(ip, REGISTRY_PORT))
        .collect();
    endpoints.sort();
    endpoints.dedup();
    if endpoints.is_empty() {
        return Err(RenderError::MissingInput(
            "Proxy and Local need at least one master with an ip in the cluster facts (nodes[].role: master, nodes[].ip)"
                .into(),
        ));
    }
    Ok(endpoints)
}

fn missing(field: &str, mode: Mode) -> RenderError {
    RenderError::MissingInput(format!("{mode} mode needs {field} in the cluster facts"))
}

fn unknown_legacy() -> RenderError {
    RenderError::MissingInput(
        "legacy Unmanaged settings from a ModuleConfig name no registry; give the InitConfiguration (deckhouse.imagesRepo …)"
            .into(),
    )
}
