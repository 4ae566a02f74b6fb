//! One reconcile step (DOMAIN.md §6.2–§6.3): restore the state, ask the switch rules, ensure
//! what the target mode needs (PKI, users, secrets), walk the stage pipeline from the top until
//! the first stage that is not ready, and finish the switch when every stage is.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::ReconcileError;
use super::checker::{CheckerParams, CheckerRegistry};
use super::conditions::{self, ERR_TRANSITION, READY, Reason, Status, stage_type};
use super::env::Env;
use super::feedback::{cut_version, version_line, waiting_message};
use super::inputs::Inputs;
use super::pki::{self, Ca, LeafSpec};
use super::secrets::RegistrySecret;
use super::services::{self, LocalUsers, NodeServicesMode, ServiceMode};
use super::state::{BashibleConfig, State, User, Users};
use super::step::{Output, Outputs, RegistrySecretOutput, Step};
use super::users::{self, HTTP_SECRET_LEN, MIRROR_PULLER, MIRROR_PUSHER, RO, RW};
use crate::containerd::node_config;
use crate::facts::{ClusterFacts, NodeRole};
use crate::settings::{CheckMode, Mode, RegistrySettings, Scheme};
use crate::transition::{self, Decision, RouteDisplay, Stage};

/// DNS names of every registry component's TLS certificate.
const SERVICE_DNS: [&str; 2] = [
    "registry.d8-system.svc",
    "registry.d8-system.svc.cluster.local",
];

/// Computes one reconcile step. Deterministic: the same state, inputs, clock and seed give
/// the same step.
///
/// # Errors
/// [`ReconcileError`] when the node configuration or a certificate cannot be built.
pub fn reconcile(state: &State, inputs: &Inputs, env: &mut Env) -> Result<Step, ReconcileError> {
    let hash = inputs.hash();
    let mut st = state.clone();
    conditions::prune(&mut st.conditions);
    let restored_mode = st.mode.unwrap_or(Mode::Unmanaged);
    st.mode = Some(restored_mode);
    let Some(desired) = inputs.settings.clone() else {
        // No registry-config: nothing to do this time.
        return Ok(Step::summarize(st, Outputs::keep_all(), hash));
    };
    if state.mode.is_none() && st.bashible.actual_params.is_none() {
        initialize_from_bootstrap(&mut st, inputs, &desired);
    }
    let legacy_upstream = inputs
        .registry_secret
        .as_ref()
        .and_then(RegistrySecret::to_upstream);
    let legacy = RegistrySettings::UnmanagedLegacy {
        upstream: legacy_upstream.clone(),
    };
    let current = st
        .bashible
        .actual_params
        .clone()
        .unwrap_or_else(|| legacy.clone());
    let target = desired.mode();
    if st.target_mode != Some(target) {
        st.target_mode = Some(target);
        st.conditions.clear();
    }
    let now = env.now();
    let stages = match transition::plan(&current, &desired, &inputs.cluster) {
        Decision::Refused(refusal) => {
            let reasons: Vec<String> = refusal.reasons.iter().map(|r| r.message.clone()).collect();
            let mut message = format!(
                "mode transition from {} to {target} not supported: {}",
                current.mode(),
                reasons.join("; ")
            );
            if !refusal.route.is_empty() {
                message.push_str(&format!("; route: {}", RouteDisplay(&refusal.route)));
            }
            conditions::set(
                &mut st.conditions,
                ERR_TRANSITION,
                Status::True,
                Reason::Error,
                message,
                now,
            );
            conditions::set(
                &mut st.conditions,
                READY,
                Status::False,
                Reason::Error,
                format!("Transition to {target} is not supported"),
                now,
            );
            let outputs = outputs(&st, None, None, inputs);
            return Ok(Step::summarize(st, outputs, hash));
        }
        Decision::Allowed(plan) => plan.stages,
    };
    conditions::remove(&mut st.conditions, ERR_TRANSITION);
    let stages = if stages.is_empty() && restored_mode != target {
        transition::pipeline(current.mode(), target)
    } else {
        stages
    };
    if !stages.is_empty() && st.bashible.actual_params.is_none() {
        // Pin what the nodes run now: the switch itself rewrites deckhouse-registry, and the
        // transition configuration must keep naming the registry the nodes came from.
        st.bashible.actual_params = legacy_upstream.is_some().then(|| legacy.clone());
    }
    // Legacy Unmanaged reads its registry from the current deckhouse-registry secret.
    let desired = match desired {
        RegistrySettings::UnmanagedLegacy { upstream: None } => legacy.clone(),
        d => d,
    };
    let mut run = Run {
        st,
        inputs,
        env,
        desired,
        target,
        legacy_upstream,
        checker: None,
        switched: false,
    };
    run.ensure_resources()?;
    let mut pending = false;
    for stage in &stages {
        match run.stage(*stage)? {
            None => {
                conditions::set(
                    &mut run.st.conditions,
                    stage_type(*stage),
                    Status::True,
                    Reason::Ready,
                    String::new(),
                    now,
                );
            }
            Some(message) => {
                conditions::set(
                    &mut run.st.conditions,
                    stage_type(*stage),
                    Status::False,
                    Reason::Processing,
                    message,
                    now,
                );
                pending = true;
                break;
            }
        }
    }
    if pending {
        conditions::set(
            &mut run.st.conditions,
            READY,
            Status::False,
            Reason::Processing,
            format!("Transitioning to {target}"),
            now,
        );
    } else {
        run.finish()?;
        conditions::set(
            &mut run.st.conditions,
            READY,
            Status::True,
            Reason::Ready,
            String::new(),
            now,
        );
    }
    let checker = if pending { run.checker.take() } else { None };
    let registry = if run.switched || !pending {
        run.registry_secret()
    } else {
        None
    };
    let outputs = outputs(&run.st, checker, registry, inputs);
    Ok(Step::summarize(run.st, outputs, hash))
}

/// Bootstrap: the first run takes the CA and users dhctl wrote and records the bootstrap
/// settings as already applied, so nodes that have the final configuration skip the transition.
fn initialize_from_bootstrap(st: &mut State, inputs: &Inputs, desired: &RegistrySettings) {
    let Some(init) = &inputs.init_secret else {
        return;
    };
    st.pki.ca = init.ca.clone();
    st.users.ro = init.ro_user.clone();
    st.users.rw = init.rw_user.clone();
    st.bashible.actual_params = Some(desired.clone());
    st.bashible.unmanaged_params = desired.upstream().cloned();
}

/// The state of one step while it runs.
struct Run<'a> {
    st: State,
    inputs: &'a Inputs,
    env: &'a mut Env,
    desired: RegistrySettings,
    target: Mode,
    legacy_upstream: Option<crate::settings::Upstream>,
    checker: Option<CheckerParams>,
    switched: bool,
}

impl Run<'_> {
    /// What the target mode needs before any stage: the PKI and HTTP secret in the managed
    /// modes, and the users the mode's registry knows. Users of other modes stay until the
    /// switch is done (nodes may still pull with them).
    fn ensure_resources(&mut self) -> Result<(), ReconcileError> {
        if !self.target.is_managed() {
            return Ok(());
        }
        let ca = pki::ensure_ca(self.st.pki.ca.as_ref(), self.env)?;
        let token = pki::ensure_token(self.st.pki.token.as_ref(), &ca, self.env)?;
        self.st.pki.ca = ca.cert_key();
        self.st.pki.token = Some(token);
        if self
            .st
            .secrets
            .http
            .as_ref()
            .is_none_or(|s| s.expose().len() != HTTP_SECRET_LEN)
        {
            self.st.secrets.http = Some(self.env.random_string(HTTP_SECRET_LEN));
        }
        let wanted: &[&str] = match self.target {
            Mode::Proxy => &[RO],
            Mode::Local => &[RO, RW, MIRROR_PULLER, MIRROR_PUSHER],
            _ => &[],
        };
        for name in wanted {
            let secret = self.inputs.user_secrets.get(*name);
            let slot = user_slot(&mut self.st.users, name);
            let user = users::ensure_user(name, slot.as_ref(), secret, self.env);
            *user_slot(&mut self.st.users, name) = Some(user);
        }
        if self.target == Mode::Local {
            self.st.ingress_enabled = true;
        }
        Ok(())
    }

    fn ca(&mut self) -> Result<Ca, ReconcileError> {
        Ok(pki::ensure_ca(self.st.pki.ca.as_ref(), self.env)?)
    }

    /// Cluster facts with the module CA and the read-only user, for the node configuration.
    fn facts(&self) -> ClusterFacts {
        self.st.node_facts(&self.inputs.cluster)
    }

    /// Evaluates one stage: `None` when it is ready, the progress message otherwise.
    fn stage(&mut self, stage: Stage) -> Result<Option<String>, ReconcileError> {
        Ok(match stage {
            Stage::RegistryContainsRequiredImages => self.checker_stage(),
            Stage::ContainerdConfigPreflightReady => self.preflight(),
            Stage::NodeServicesReady => self.node_services_stage()?,
            Stage::TransitionContainerdConfigReady => self.transition_config()?,
            Stage::InClusterProxyReady => self.in_cluster_proxy_stage()?,
            Stage::DeckhouseRegistrySwitchReady => self.switch_stage(),
            Stage::FinalContainerdConfigReady => self.final_config()?,
            Stage::CleanupNodeServices => self.cleanup_node_services(),
            Stage::CleanupInClusterProxy => self.cleanup_in_cluster_proxy(),
            Stage::FinalizeUnmanagedTransition => self.finalize_unmanaged()?,
        })
    }

    fn checker_stage(&mut self) -> Option<String> {
        let params = self.checker_params();
        let result = match &self.inputs.checker {
            Some(s) if s.version == params.version && s.ready => None,
            Some(s) if s.version == params.version => Some(s.message.clone()),
            _ => Some("Initializing".to_owned()),
        };
        self.checker = Some(params);
        result
    }

    fn checker_params(&self) -> CheckerParams {
        let mut registries = BTreeMap::new();
        let mut check_mode = CheckMode::Default;
        if let Some(up) = self
            .desired
            .upstream()
            .filter(|_| self.target != Mode::Local)
        {
            check_mode = up.check_mode();
            let (username, password) = up
                .credentials()
                .map(|c| {
                    let (u, p) = c.basic_auth();
                    (u.to_owned(), p.clone())
                })
                .unwrap_or_default();
            registries.insert(
                up.host().to_owned(),
                CheckerRegistry {
                    address: up.images_repo(),
                    scheme: up.scheme(),
                    ca: up.ca().map(|c| c.pem().to_owned()).unwrap_or_default(),
                    username,
                    password,
                },
            );
        } else if self.target == Mode::Local {
            let ca = self
                .st
                .pki
                .ca
                .as_ref()
                .map(|c| c.cert.clone())
                .unwrap_or_default();
            let ro = self.st.users.ro.clone();
            for (name, ip) in masters(&self.inputs.cluster) {
                let Some(ip) = ip else { continue };
                registries.insert(
                    name,
                    CheckerRegistry {
                        address: format!(
                            "{}/system/deckhouse",
                            std::net::SocketAddr::new(ip, crate::containerd::REGISTRY_PORT)
                        ),
                        scheme: Scheme::Https,
                        ca: ca.clone(),
                        username: ro.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
                        password: ro.as_ref().map(|u| u.password.clone()).unwrap_or_default(),
                    },
                );
            }
        }
        CheckerParams::new(registries, self.target, check_mode)
    }

    fn preflight(&self) -> Option<String> {
        if self.inputs.bashible_config_exists || self.st.bashible.config.is_some() {
            return None;
        }
        let mut waiting = Vec::new();
        for node in &self.inputs.cluster.nodes {
            let label = self
                .inputs
                .nodes
                .get(&node.name)
                .and_then(|n| n.containerd_config_registry.as_deref());
            match label {
                Some("default") => {}
                Some("custom") => waiting.push(format!(
                    "{}: has custom toml merge containerd configuration",
                    node.name
                )),
                _ => waiting.push(format!(
                    "{}: unknown containerd configuration, waiting...",
                    node.name
                )),
            }
        }
        waiting_message(self.inputs.cluster.nodes.len(), &waiting)
    }

    /// Whether every node reports `version`; the message naming those that do not.
    fn nodes_at(&self, version: &str) -> Option<String> {
        let waiting: Vec<String> = self
            .inputs
            .cluster
            .nodes
            .iter()
            .filter_map(|n| {
                let applied = self
                    .inputs
                    .nodes
                    .get(&n.name)
                    .and_then(|s| s.registry_version.as_deref());
                (applied != Some(version)).then(|| version_line(&n.name, applied, version))
            })
            .collect();
        waiting_message(self.inputs.cluster.nodes.len(), &waiting)
            .map(|m| format!("Applying configuration to nodes\n{m}"))
    }

    /// Publishes `config` and waits until every node reports its version.
    fn publish_and_wait(&mut self, config: BashibleConfig) -> Option<String> {
        let version = config.version.clone();
        self.st.bashible.config = Some(config);
        if !self.inputs.bashible_config_exists {
            return Some("Creating Managed configuration...".to_owned());
        }
        self.nodes_at(&version)
    }

    fn final_bashible(&self) -> Result<BashibleConfig, ReconcileError> {
        Ok(BashibleConfig::new(node_config(
            &self.desired,
            None,
            &self.facts(),
        )?))
    }

    fn transition_config(&mut self) -> Result<Option<String>, ReconcileError> {
        if self.st.bashible.actual_params.as_ref() == Some(&self.desired) {
            return Ok(None);
        }
        let final_config = self.final_bashible()?;
        let published = self.st.bashible.config.as_ref().map(|c| c.version.as_str());
        // Past this stage already: the final configuration is out (a later stage published it).
        if published == Some(final_config.version.as_str()) {
            return Ok(None);
        }
        if published.is_none() && self.nodes_at(&final_config.version).is_none() {
            return Ok(None);
        }
        let previous = self.st.bashible.actual_params.clone().or_else(|| {
            self.legacy_upstream
                .clone()
                .map(|u| RegistrySettings::UnmanagedLegacy { upstream: Some(u) })
        });
        let config = BashibleConfig::new(node_config(
            &self.desired,
            previous.as_ref(),
            &self.facts(),
        )?);
        let waiting = self.publish_and_wait(config);
        if waiting.is_none() && self.target.needs_static_cluster() {
            self.st.registry_service = ServiceMode::NodeServices;
        }
        Ok(waiting)
    }

    fn final_config(&mut self) -> Result<Option<String>, ReconcileError> {
        let config = self.final_bashible()?;
        let waiting = self.publish_and_wait(config);
        if waiting.is_none() {
            self.st.bashible.actual_params = Some(self.desired.clone());
        }
        Ok(waiting)
    }

    fn finalize_unmanaged(&mut self) -> Result<Option<String>, ReconcileError> {
        if self.legacy_upstream.is_none() {
            // deckhouse-registry is gone: hand the nodes back to the legacy rendering.
            self.st.bashible.config = None;
            return Ok(None);
        }
        let config = self.final_bashible()?;
        if !self.inputs.bashible_config_exists {
            self.st.bashible.config = Some(config);
            return Ok(Some("Cleaning Managed configuration...".to_owned()));
        }
        Ok(self.publish_and_wait(config))
    }

    fn node_services_stage(&mut self) -> Result<Option<String>, ReconcileError> {
        self.st.node_services.run = true;
        self.refresh_node_services()?;
        let masters = masters(&self.inputs.cluster);
        let mut waiting = Vec::new();
        for (name, _) in &masters {
            let node_ready = self.inputs.nodes.get(name).is_some_and(|n| n.ready);
            let expected = self
                .st
                .node_services
                .nodes
                .get(name)
                .map(|v| v.version.clone());
            let pod = self.inputs.node_services_pods.get(name);
            if !node_ready {
                waiting.push(format!("{name}: node is not Ready"));
            } else if let Some(expected) = expected {
                if !pod.is_some_and(|p| p.ready && p.config_version == expected) {
                    waiting.push(format!(
                        "{name}: services pod(s) is not Ready or config version mismatch (!= \"{}\")",
                        cut_version(&expected)
                    ));
                }
            } else {
                waiting.push(format!("{name}: node has no internal IP"));
            }
        }
        if masters.is_empty() {
            return Ok(Some(
                "0/0 node(s) ready. Waiting: no master nodes".to_owned(),
            ));
        }
        Ok(waiting_message(masters.len(), &waiting))
    }

    /// The node-services bundle of every master with an IP, keeping valid certificates.
    fn refresh_node_services(&mut self) -> Result<(), ReconcileError> {
        let ca = self.ca()?;
        let masters = masters(&self.inputs.cluster);
        let ips: Vec<IpAddr> = masters.iter().filter_map(|(_, ip)| *ip).collect();
        let mut nodes = BTreeMap::new();
        for (name, ip) in &masters {
            let Some(ip) = *ip else { continue };
            let spec = LeafSpec {
                common_name: format!("registry-nodeservices-{name}"),
                dns: SERVICE_DNS.iter().map(|s| (*s).to_owned()).collect(),
                ips: vec![ip, IpAddr::from([127, 0, 0, 1])],
            };
            let existing = self
                .st
                .node_services
                .nodes
                .get(name)
                .and_then(|v| v.config.tls());
            let tls = pki::ensure_leaf(existing.as_ref(), &spec, &ca, self.env)?;
            let users = &self.st.users;
            let bundle = match (&self.desired, users) {
                (RegistrySettings::Proxy { upstream, ttl }, Users { ro: Some(ro), .. }) => {
                    services::node_services(
                        ip,
                        &NodeServicesMode::Proxy {
                            upstream,
                            ttl: *ttl,
                            ro,
                        },
                        ca.cert_pem(),
                        &tls,
                    )
                }
                (
                    RegistrySettings::Local,
                    Users {
                        ro: Some(ro),
                        rw: Some(rw),
                        mirror_puller: Some(puller),
                        mirror_pusher: Some(pusher),
                    },
                ) => {
                    let peers = ips.iter().copied().filter(|p| *p != ip).collect();
                    let users = LocalUsers {
                        ro,
                        rw,
                        puller,
                        pusher,
                    };
                    services::node_services(
                        ip,
                        &NodeServicesMode::Local { users, peers },
                        ca.cert_pem(),
                        &tls,
                    )
                }
                _ => continue,
            };
            nodes.insert(name.clone(), bundle.versioned());
        }
        self.st.node_services.nodes = nodes;
        Ok(())
    }

    fn in_cluster_proxy_stage(&mut self) -> Result<Option<String>, ReconcileError> {
        let version = self.refresh_in_cluster_proxy()?;
        let waiting = match &self.inputs.in_cluster_proxy {
            Some(p) if p.ready && p.config_version == version => None,
            Some(_) => Some(format!(
                "in-cluster proxy is not Ready or config version mismatch (!= \"{}\")",
                cut_version(&version)
            )),
            None => Some("Waiting for the in-cluster proxy to be deployed".to_owned()),
        };
        if waiting.is_none() {
            self.st.registry_service = ServiceMode::InClusterProxy;
        }
        Ok(waiting)
    }

    /// The in-cluster proxy's bundle for the Direct upstream; returns its version.
    fn refresh_in_cluster_proxy(&mut self) -> Result<String, ReconcileError> {
        let RegistrySettings::Direct { upstream } = self.desired.clone() else {
            return Ok(String::new());
        };
        let ca = self.ca()?;
        let existing = self.st.in_cluster_proxy.as_ref().map(|p| &p.config.config);
        let spec = LeafSpec {
            common_name: "registry-incluster-proxy".to_owned(),
            dns: SERVICE_DNS.iter().map(|s| (*s).to_owned()).collect(),
            ips: Vec::new(),
        };
        let tls = pki::ensure_leaf(
            existing.and_then(|b| b.tls()).as_ref(),
            &spec,
            &ca,
            self.env,
        )?;
        let user = services::upstream_credentials(&upstream).map(|(name, password)| {
            let stored_hash = existing.and_then(|b| {
                let path = b.config.htpasswd.as_deref()?;
                let text = b.files.get(path)?.contents.expose().to_owned();
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_owned))
            });
            let stored = stored_hash.map(|h| User {
                name: name.clone(),
                password: password.clone(),
                password_hash: crate::settings::Secret::new(h),
            });
            users::ensure_user(&name, stored.as_ref(), None, self.env)
        });
        let bundle =
            services::in_cluster_proxy(&upstream, user.as_ref(), ca.cert_pem(), &tls).versioned();
        let version = bundle.version.clone();
        self.st.in_cluster_proxy = Some(super::state::InClusterProxyState { config: bundle });
        Ok(version)
    }

    /// The `deckhouse-registry` secret of the target settings (none for legacy Unmanaged,
    /// which leaves it to the user).
    fn registry_secret(&self) -> Option<RegistrySecret> {
        match &self.desired {
            RegistrySettings::Direct { upstream } => {
                let ca = self.st.pki.ca.as_ref()?;
                let creds = upstream.credentials().map(|c| c.basic_auth());
                Some(RegistrySecret::managed(
                    &ca.cert,
                    creds.map(|(u, p)| (u, p.expose())),
                ))
            }
            RegistrySettings::Proxy { .. } | RegistrySettings::Local => {
                let ca = self.st.pki.ca.as_ref()?;
                let ro = self.st.users.ro.as_ref()?;
                Some(RegistrySecret::managed(
                    &ca.cert,
                    Some((&ro.name, ro.password.expose())),
                ))
            }
            RegistrySettings::Unmanaged { upstream } => Some(RegistrySecret::unmanaged(upstream)),
            RegistrySettings::UnmanagedLegacy { .. } => None,
        }
    }

    fn switch_stage(&mut self) -> Option<String> {
        self.switched = true;
        let Some(secret) = self.registry_secret() else {
            return Some("Updating registry for deckhouse components".to_owned());
        };
        let hash = secret.hash();
        if self
            .inputs
            .registry_secret
            .as_ref()
            .map(RegistrySecret::hash)
            != Some(hash.clone())
        {
            return Some("Updating registry for deckhouse components".to_owned());
        }
        match &self.inputs.deckhouse_leader {
            None => Some("Waiting for deckhouse-controller pod".to_owned()),
            Some(p) if p.registry_version.as_deref() != Some(hash.as_str()) => {
                Some("Applying new registry to deckhouse-controller".to_owned())
            }
            Some(p) if !p.ready => {
                Some("Waiting for deckhouse-controller to become ready".to_owned())
            }
            Some(_) => None,
        }
    }

    fn cleanup_node_services(&mut self) -> Option<String> {
        self.st.node_services = Default::default();
        let left = self.inputs.node_services_pods.len();
        (left > 0).then(|| format!("Waiting for {left} node-services pod(s) to stop"))
    }

    fn cleanup_in_cluster_proxy(&mut self) -> Option<String> {
        self.st.in_cluster_proxy = None;
        self.inputs
            .in_cluster_proxy
            .is_some()
            .then(|| "Waiting for the in-cluster proxy to stop".to_owned())
    }

    /// Every stage is ready: keep what the target mode uses (refreshed), drop the rest, and
    /// record the mode.
    fn finish(&mut self) -> Result<(), ReconcileError> {
        let target = self.target;
        match target {
            Mode::Direct => {
                self.st.users = Users::default();
                self.st.node_services = Default::default();
                self.st.ingress_enabled = false;
                self.refresh_in_cluster_proxy()?;
                self.st.registry_service = ServiceMode::InClusterProxy;
            }
            Mode::Proxy | Mode::Local => {
                if target == Mode::Proxy {
                    let ro = self.st.users.ro.take();
                    self.st.users = Users {
                        ro,
                        ..Users::default()
                    };
                }
                self.st.ingress_enabled = target == Mode::Local;
                self.st.in_cluster_proxy = None;
                self.st.node_services.run = true;
                self.refresh_node_services()?;
                self.st.registry_service = ServiceMode::NodeServices;
            }
            Mode::Unmanaged | Mode::UnmanagedLegacy => {
                self.st.pki = Default::default();
                self.st.secrets = Default::default();
                self.st.users = Users::default();
                self.st.node_services = Default::default();
                self.st.in_cluster_proxy = None;
                self.st.ingress_enabled = false;
                self.st.registry_service = ServiceMode::Disabled;
            }
        }
        self.st.bashible.unmanaged_params = match target {
            Mode::Direct | Mode::Proxy | Mode::Unmanaged => self.desired.upstream().cloned(),
            Mode::Local | Mode::UnmanagedLegacy => None,
        };
        if target == Mode::UnmanagedLegacy {
            self.st.bashible.actual_params = None;
            if self.legacy_upstream.is_some() {
                self.st.bashible.config = Some(self.final_bashible()?);
            }
        } else {
            self.st.bashible.actual_params = Some(self.desired.clone());
            self.st.bashible.config = Some(self.final_bashible()?);
        }
        self.st.mode = Some(target);
        Ok(())
    }
}

fn user_slot<'u>(users: &'u mut Users, name: &str) -> &'u mut Option<User> {
    match name {
        RO => &mut users.ro,
        RW => &mut users.rw,
        MIRROR_PULLER => &mut users.mirror_puller,
        _ => &mut users.mirror_pusher,
    }
}

/// Master nodes by name, with their IPs.
fn masters(facts: &ClusterFacts) -> Vec<(String, Option<IpAddr>)> {
    let mut m: Vec<(String, Option<IpAddr>)> = facts
        .nodes
        .iter()
        .filter(|n| n.role == NodeRole::Master)
        .map(|n| (n.name.clone(), n.ip))
        .collect();
    m.sort();
    m
}

/// The objects to write from the new state.
fn outputs(
    st: &State,
    checker: Option<CheckerParams>,
    registry: Option<RegistrySecret>,
    inputs: &Inputs,
) -> Outputs {
    let bashible_config = match &st.bashible.config {
        Some(c) => Output::Write(c.clone()),
        None if st.mode == Some(Mode::UnmanagedLegacy) && inputs.registry_secret.is_none() => {
            Output::Delete
        }
        None => Output::Keep,
    };
    let user = |u: &Option<User>| match u {
        Some(u) => Output::Write(u.clone()),
        None => Output::Delete,
    };
    Outputs {
        bashible_config,
        deckhouse_registry: match registry {
            Some(secret) => Output::Write(RegistrySecretOutput {
                hash: secret.hash(),
                secret,
            }),
            None => Output::Keep,
        },
        node_services: if st.node_services.run {
            Output::Write(st.node_services.nodes.clone())
        } else {
            Output::Delete
        },
        in_cluster_proxy: match &st.in_cluster_proxy {
            Some(p) => Output::Write(p.config.clone()),
            None => Output::Delete,
        },
        pki: if st.pki.ca.is_some() {
            Output::Write(st.pki.clone())
        } else {
            Output::Delete
        },
        users: BTreeMap::from([
            (RO.to_owned(), user(&st.users.ro)),
            (RW.to_owned(), user(&st.users.rw)),
            (MIRROR_PULLER.to_owned(), user(&st.users.mirror_puller)),
            (MIRROR_PUSHER.to_owned(), user(&st.users.mirror_pusher)),
        ]),
        checker: match checker {
            Some(c) => Output::Write(c),
            None => Output::Delete,
        },
        registry_service: st.registry_service,
        ingress_enabled: st.ingress_enabled,
    }
}

impl Outputs {
    /// Every object left as it is.
    pub(crate) fn keep_all() -> Self {
        Outputs {
            bashible_config: Output::Keep,
            deckhouse_registry: Output::Keep,
            node_services: Output::Keep,
            in_cluster_proxy: Output::Keep,
            pki: Output::Keep,
            users: BTreeMap::new(),
            checker: Output::Keep,
            registry_service: ServiceMode::Disabled,
            ingress_enabled: false,
        }
    }
}
