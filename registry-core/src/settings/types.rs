//! The typed, normalised registry settings that validation produces.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::grammar::{RepoParts, check_host, check_path, find_control, parse_images_repo};
use super::{CaBundle, CredentialError, Secret, Ttl, UpstreamError};

/// The fixed in-cluster registry host of the managed modes.
pub const VIRTUAL_HOST: &str = "registry.d8-system.svc:5001";
/// The fixed path of platform images on [`VIRTUAL_HOST`].
pub const VIRTUAL_PATH: &str = "/system/deckhouse";
/// `imagesRepo` when the settings leave it out.
pub const DEFAULT_IMAGES_REPO: &str = "registry.deckhouse.io/deckhouse/ce";
/// The user name a license key is sent with.
pub const LICENSE_USERNAME: &str = "license-token";

/// How the nodes and components of a cluster get their images.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum Mode {
    /// Pulls through the fixed in-cluster address, mapped straight to the upstream registry.
    Direct,
    /// A caching proxy registry on the masters.
    Proxy,
    /// A full local copy of the images on the masters.
    Local,
    /// No internal registry; configured through the module.
    Unmanaged,
    /// No internal registry, not configured through the module (registry from InitConfiguration).
    UnmanagedLegacy,
}

impl Mode {
    /// Every mode, in a fixed order.
    pub const ALL: [Mode; 5] = [
        Mode::Direct,
        Mode::Proxy,
        Mode::Local,
        Mode::Unmanaged,
        Mode::UnmanagedLegacy,
    ];

    /// Whether the mode runs an internal registry and uses the fixed in-cluster address.
    ///
    /// ```
    /// use registry_core::settings::Mode;
    /// assert!(Mode::Proxy.is_managed());
    /// assert!(!Mode::UnmanagedLegacy.is_managed());
    /// ```
    pub fn is_managed(self) -> bool {
        matches!(self, Mode::Direct | Mode::Proxy | Mode::Local)
    }

    /// Whether the mode is one of the two Unmanaged forms.
    pub fn is_unmanaged(self) -> bool {
        !self.is_managed()
    }

    /// Whether a cluster may be bootstrapped in this mode (Direct and both Unmanaged forms).
    pub fn allowed_at_bootstrap(self) -> bool {
        matches!(self, Mode::Direct | Mode::Unmanaged | Mode::UnmanagedLegacy)
    }

    /// Whether the mode runs registry pods on the masters and so needs a static cluster.
    pub fn needs_static_cluster(self) -> bool {
        matches!(self, Mode::Proxy | Mode::Local)
    }

    /// The name used in ModuleConfig and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Direct => "Direct",
            Mode::Proxy => "Proxy",
            Mode::Local => "Local",
            Mode::Unmanaged => "Unmanaged",
            Mode::UnmanagedLegacy => "UnmanagedLegacy",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the upstream registry is reached.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum Scheme {
    /// Plain HTTP (no TLS, so no CA).
    #[serde(rename = "HTTP")]
    Http,
    /// HTTPS, verified against the system roots or the given CA.
    #[serde(rename = "HTTPS")]
    #[default]
    Https,
}

impl Scheme {
    /// `http` or `https`, as in URLs and containerd's configuration.
    pub fn as_url_scheme(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Which images the switch checker looks for in the upstream before a switch.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum CheckMode {
    /// Every image of the critical embedded modules and of deckhouse itself.
    #[default]
    Default,
    /// Only the deckhouse image (used when switching editions).
    Relax,
}

/// Credentials for the upstream registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum Credentials {
    /// A user name and password.
    UserPassword {
        /// The user name (never contains `:`, so basic auth can carry it).
        username: String,
        /// The password.
        password: Secret,
    },
    /// A Deckhouse license key, sent as user `license-token`.
    License {
        /// The license key.
        license: Secret,
    },
}

impl Credentials {
    /// The user name and password that go over the wire.
    ///
    /// ```
    /// use registry_core::settings::{Credentials, Secret};
    /// let c = Credentials::License { license: Secret::new("L") };
    /// assert_eq!(c.basic_auth().0, "license-token");
    /// assert_eq!(c.basic_auth().1.expose(), "L");
    /// ```
    pub fn basic_auth(&self) -> (&str, &Secret) {
        match self {
            Credentials::UserPassword { username, password } => (username, password),
            Credentials::License { license } => (LICENSE_USERNAME, license),
        }
    }

    fn redacted(&self) -> Self {
        match self {
            Credentials::UserPassword { username, .. } => Credentials::UserPassword {
                username: username.clone(),
                password: Secret::redacted(),
            },
            Credentials::License { .. } => Credentials::License {
                license: Secret::redacted(),
            },
        }
    }
}

/// The external registry a mode pulls from.
///
/// Built only from checked parts: deserializing re-runs the same checks as validation, so an
/// `Upstream` always holds a valid host, port, path and CA.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "UpstreamWire", into = "UpstreamWire")]
pub struct Upstream {
    host: String,
    port: Option<u16>,
    path: String,
    scheme: Scheme,
    ca: Option<CaBundle>,
    credentials: Option<Credentials>,
    check_mode: CheckMode,
}

/// The JSON shape of [`Upstream`].
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpstreamWire {
    host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(default)]
    path: String,
    #[serde(default)]
    scheme: Scheme,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca: Option<CaBundle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credentials: Option<Credentials>,
    #[serde(default)]
    check_mode: CheckMode,
}

impl TryFrom<UpstreamWire> for Upstream {
    type Error = UpstreamError;

    fn try_from(w: UpstreamWire) -> Result<Self, UpstreamError> {
        let mut upstream = Upstream::new(&w.host, w.scheme)?;
        if w.port == Some(0) {
            return Err(UpstreamError::Port);
        }
        check_path(&w.path).map_err(UpstreamError::Path)?;
        upstream.port = w.port;
        upstream.path = w.path;
        upstream = upstream.with_check_mode(w.check_mode);
        if let Some(ca) = w.ca {
            upstream = upstream.with_ca(ca)?;
        }
        if let Some(c) = w.credentials {
            upstream = upstream.with_credentials(c)?;
        }
        Ok(upstream)
    }
}

impl From<Upstream> for UpstreamWire {
    fn from(u: Upstream) -> Self {
        UpstreamWire {
            host: u.host,
            port: u.port,
            path: u.path,
            scheme: u.scheme,
            ca: u.ca,
            credentials: u.credentials,
            check_mode: u.check_mode,
        }
    }
}

impl Upstream {
    /// An upstream at a bare host (no port, no path) with default options.
    ///
    /// # Errors
    /// [`UpstreamError::Host`] when the host does not follow the host grammar.
    pub fn new(host: &str, scheme: Scheme) -> Result<Self, UpstreamError> {
        check_host(host).map_err(UpstreamError::Host)?;
        Ok(Upstream {
            host: host.to_owned(),
            port: None,
            path: String::new(),
            scheme,
            ca: None,
            credentials: None,
            check_mode: CheckMode::Default,
        })
    }

    /// An upstream from an `imagesRepo` value such as `registry.example.com:5000/deckhouse/ee`.
    ///
    /// ```
    /// use registry_core::settings::{Scheme, Upstream};
    /// let u = Upstream::from_images_repo("nexus.example.com:8443/dkp/ee/", Scheme::Https).unwrap();
    /// assert_eq!((u.host(), u.port(), u.path()), ("nexus.example.com", Some(8443), "/dkp/ee"));
    /// assert_eq!(u.address(), "nexus.example.com:8443");
    /// ```
    ///
    /// # Errors
    /// [`UpstreamError::ControlCharacter`], or [`UpstreamError::ImagesRepo`] naming every part
    /// (host, port, path) that is wrong.
    pub fn from_images_repo(repo: &str, scheme: Scheme) -> Result<Self, UpstreamError> {
        let trimmed = repo.trim().trim_end_matches('/');
        if let Some(c) = find_control(trimmed, &[]) {
            return Err(UpstreamError::ControlCharacter(c));
        }
        let parts = parse_images_repo(trimmed).map_err(UpstreamError::ImagesRepo)?;
        Ok(Upstream::from_parts(parts, scheme))
    }

    /// An upstream from `imagesRepo` parts that [`parse_images_repo`] has already checked.
    pub(crate) fn from_parts(parts: RepoParts, scheme: Scheme) -> Self {
        Upstream {
            host: parts.host,
            port: parts.port,
            path: parts.path,
            scheme,
            ca: None,
            credentials: None,
            check_mode: CheckMode::Default,
        }
    }

    /// Sets the CA; refused on plain HTTP, where no TLS takes place.
    ///
    /// # Errors
    /// [`UpstreamError::CaWithHttp`] when the scheme is HTTP.
    pub fn with_ca(mut self, ca: CaBundle) -> Result<Self, UpstreamError> {
        if self.scheme == Scheme::Http {
            return Err(UpstreamError::CaWithHttp);
        }
        self.ca = Some(ca);
        Ok(self)
    }

    /// Sets the credentials, checking them like validation does.
    ///
    /// # Errors
    /// [`UpstreamError::Username`], [`UpstreamError::Password`] or [`UpstreamError::License`]
    /// when a value is empty, holds a control character, or the user name holds `:`.
    pub fn with_credentials(mut self, credentials: Credentials) -> Result<Self, UpstreamError> {
        match &credentials {
            Credentials::UserPassword { username, password } => {
                check_username(username).map_err(UpstreamError::Username)?;
                check_secret(password.expose()).map_err(UpstreamError::Password)?;
            }
            Credentials::License { license } => {
                check_secret(license.expose()).map_err(UpstreamError::License)?
            }
        }
        self.credentials = Some(credentials);
        Ok(self)
    }

    /// Sets the check mode.
    pub fn with_check_mode(mut self, check_mode: CheckMode) -> Self {
        self.check_mode = check_mode;
        self
    }

    /// The host name or IP address, without the port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, when one is given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `host[:port]`: the registry's address, as containerd and docker config name it.
    pub fn address(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }

    /// The repository path, empty or starting with `/` (never ending with `/`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `host[:port]/path`, the normalised `imagesRepo`.
    pub fn images_repo(&self) -> String {
        format!("{}{}", self.address(), self.path)
    }

    /// HTTP or HTTPS.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The CA the upstream's certificate is checked against, if not the system roots.
    pub fn ca(&self) -> Option<&CaBundle> {
        self.ca.as_ref()
    }

    /// The credentials, if the upstream is not anonymous.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// The switch checker's mode.
    pub fn check_mode(&self) -> CheckMode {
        self.check_mode
    }

    fn redacted(&self) -> Self {
        Upstream {
            credentials: self.credentials.as_ref().map(Credentials::redacted),
            ..self.clone()
        }
    }
}

pub(crate) fn check_username(username: &str) -> Result<(), CredentialError> {
    if username.is_empty() {
        return Err(CredentialError::Empty);
    }
    if let Some(c) = find_control(username, &[]) {
        return Err(CredentialError::ControlInName(c));
    }
    if username.contains(':') {
        return Err(CredentialError::ColonInName);
    }
    if username.len() > 255 {
        return Err(CredentialError::NameTooLong(username.len()));
    }
    Ok(())
}

/// Checks a secret without ever putting its value into the message.
pub(crate) fn check_secret(secret: &str) -> Result<(), CredentialError> {
    if secret.is_empty() {
        return Err(CredentialError::Empty);
    }
    if let Some(c) = find_control(secret, &[]) {
        return Err(CredentialError::ControlInSecret(u32::from(c)));
    }
    Ok(())
}

/// Validated registry settings: the mode and the parameters that mode takes.
///
/// Serialized with the mode as a tag:
///
/// ```
/// use registry_core::settings::{RegistrySettings, Scheme, Upstream};
/// let s = RegistrySettings::Direct {
///     upstream: Upstream::from_images_repo("registry.deckhouse.io/deckhouse/ee", Scheme::Https).unwrap(),
/// };
/// let json = serde_json::to_value(&s).unwrap();
/// assert_eq!(json["mode"], "Direct");
/// assert_eq!(json["upstream"]["path"], "/deckhouse/ee");
/// assert_eq!(serde_json::from_value::<RegistrySettings>(json).unwrap(), s);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "mode",
    rename_all_fields = "camelCase",
    deny_unknown_fields,
    from = "SettingsWire"
)]
pub enum RegistrySettings {
    /// Direct mode.
    Direct {
        /// The registry pulled from through the fixed address.
        upstream: Upstream,
    },
    /// Proxy mode.
    Proxy {
        /// The registry the proxy caches.
        upstream: Upstream,
        /// How long cached content lives after its last use.
        ttl: Ttl,
    },
    /// Local mode (no parameters: the images come from bundles).
    Local,
    /// Configurable Unmanaged mode.
    Unmanaged {
        /// The registry pulled from directly.
        upstream: Upstream,
    },
    /// Legacy (non-configurable) Unmanaged mode.
    UnmanagedLegacy {
        /// The registry from InitConfiguration, when the input named one; otherwise the
        /// cluster's current registry, which these settings do not describe.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upstream: Option<Upstream>,
    },
}

/// The accepted JSON shape of [`RegistrySettings`]. `Local` is a struct variant here because
/// serde ignores unknown fields on a unit variant, and `{"mode":"Local","upstream":…}` must fail.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(tag = "mode", rename_all_fields = "camelCase", deny_unknown_fields)]
enum SettingsWire {
    Direct {
        upstream: Upstream,
    },
    Proxy {
        upstream: Upstream,
        ttl: Ttl,
    },
    Local {},
    Unmanaged {
        upstream: Upstream,
    },
    UnmanagedLegacy {
        #[serde(default)]
        upstream: Option<Upstream>,
    },
}

impl From<SettingsWire> for RegistrySettings {
    fn from(w: SettingsWire) -> Self {
        match w {
            SettingsWire::Direct { upstream } => RegistrySettings::Direct { upstream },
            SettingsWire::Proxy { upstream, ttl } => RegistrySettings::Proxy { upstream, ttl },
            SettingsWire::Local {} => RegistrySettings::Local,
            SettingsWire::Unmanaged { upstream } => RegistrySettings::Unmanaged { upstream },
            SettingsWire::UnmanagedLegacy { upstream } => {
                RegistrySettings::UnmanagedLegacy { upstream }
            }
        }
    }
}

impl RegistrySettings {
    /// The mode of these settings.
    pub fn mode(&self) -> Mode {
        match self {
            RegistrySettings::Direct { .. } => Mode::Direct,
            RegistrySettings::Proxy { .. } => Mode::Proxy,
            RegistrySettings::Local => Mode::Local,
            RegistrySettings::Unmanaged { .. } => Mode::Unmanaged,
            RegistrySettings::UnmanagedLegacy { .. } => Mode::UnmanagedLegacy,
        }
    }

    /// The upstream registry, if the mode has one.
    pub fn upstream(&self) -> Option<&Upstream> {
        match self {
            RegistrySettings::Direct { upstream }
            | RegistrySettings::Proxy { upstream, .. }
            | RegistrySettings::Unmanaged { upstream } => Some(upstream),
            RegistrySettings::UnmanagedLegacy { upstream } => upstream.as_ref(),
            RegistrySettings::Local => None,
        }
    }

    /// Where platform image references point: the fixed virtual address in the managed modes,
    /// the upstream repository otherwise (`None` for legacy settings that name no registry).
    ///
    /// ```
    /// use registry_core::settings::RegistrySettings;
    /// assert_eq!(RegistrySettings::Local.images_base().as_deref(), Some("registry.d8-system.svc:5001/system/deckhouse"));
    /// ```
    pub fn images_base(&self) -> Option<String> {
        if self.mode().is_managed() {
            return Some(format!("{VIRTUAL_HOST}{VIRTUAL_PATH}"));
        }
        self.upstream().map(Upstream::images_repo)
    }

    /// A copy with every secret replaced by [`Secret::REDACTED`], for printing.
    pub fn redacted(&self) -> Self {
        let mut copy = self.clone();
        match &mut copy {
            RegistrySettings::Direct { upstream }
            | RegistrySettings::Proxy { upstream, .. }
            | RegistrySettings::Unmanaged { upstream }
            | RegistrySettings::UnmanagedLegacy {
                upstream: Some(upstream),
            } => *upstream = upstream.redacted(),
            RegistrySettings::Local | RegistrySettings::UnmanagedLegacy { upstream: None } => {}
        }
        copy
    }
}
