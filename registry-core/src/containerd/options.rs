//! Render options: the containerd generation and version on the node, and the dialect.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The containerd generation, which decides the config.toml format.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ContainerdMajor {
    /// containerd 1.x: config `version = 2`, plugin `io.containerd.grpc.v1.cri`.
    #[default]
    V1,
    /// containerd 2.x: config `version = 3` (2.0–2.2) or `4` (2.3 and later), plugin
    /// `io.containerd.cri.v1.images`.
    V2,
}

/// A containerd release line (`1.6`, `1.7`, `2.0`, `2.1`, `2.2`, …), for its parser's quirks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerdVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
}

impl ContainerdVersion {
    /// The oldest release line the generator supports.
    pub const OLDEST: ContainerdVersion = ContainerdVersion { major: 1, minor: 6 };

    /// The generation this release belongs to.
    pub fn generation(self) -> ContainerdMajor {
        if self.major >= 2 {
            ContainerdMajor::V2
        } else {
            ContainerdMajor::V1
        }
    }

    /// Whether hosts.toml accepts the `referrers` capability (2.2 and later).
    pub fn supports_referrers(self) -> bool {
        self >= ContainerdVersion { major: 2, minor: 2 }
    }

    /// The config.toml `version` this release line reads without migrating: 2 for 1.x, 3 for
    /// 2.0–2.2, 4 from 2.3 (containerd's RELEASES.md table; 2.3+ logs `Configuration migrated
    /// from version 3` for every older file, and 2.0–2.2 refuse version 4).
    ///
    /// ```
    /// use registry_core::containerd::ContainerdVersion;
    /// let v = |s: &str| s.parse::<ContainerdVersion>().unwrap().config_version();
    /// assert_eq!((v("1.7"), v("2.2"), v("2.3"), v("2.4")), (2, 3, 4, 4));
    /// ```
    pub fn config_version(self) -> u8 {
        match (self.major, self.minor) {
            (0..=1, _) => 2,
            (2, 0..=2) => 3,
            _ => 4,
        }
    }

    /// The default release line for a generation.
    pub fn default_for(generation: ContainerdMajor) -> Self {
        match generation {
            ContainerdMajor::V1 => ContainerdVersion { major: 1, minor: 7 },
            ContainerdMajor::V2 => ContainerdVersion { major: 2, minor: 2 },
        }
    }
}

/// Why a string is not a containerd release line the generator supports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerdVersionError {
    /// Not of the form `X.Y`.
    #[error("{input:?} is not a containerd version of the form X.Y (e.g. 1.7 or 2.2)")]
    Malformed {
        /// The string given.
        input: String,
    },
    /// A release line older than 1.6 or newer than 2.x.
    #[error("containerd {input} is not supported; use 1.6, 1.7, 2.0, 2.1 or 2.2+")]
    Unsupported {
        /// The string given.
        input: String,
    },
}

impl FromStr for ContainerdVersion {
    type Err = ContainerdVersionError;

    /// Accepts `X.Y`, with an optional `+` (`2.2+`) meaning that line or later.
    fn from_str(s: &str) -> Result<Self, ContainerdVersionError> {
        let body = s.strip_suffix('+').unwrap_or(s);
        let parsed = body.split_once('.').and_then(|(a, b)| {
            Some(ContainerdVersion {
                major: a.parse().ok()?,
                minor: b.parse().ok()?,
            })
        });
        match parsed {
            Some(v) if v >= Self::OLDEST && v.major <= 2 => Ok(v),
            Some(_) => Err(ContainerdVersionError::Unsupported {
                input: s.to_owned(),
            }),
            None => Err(ContainerdVersionError::Malformed {
                input: s.to_owned(),
            }),
        }
    }
}

impl fmt::Display for ContainerdVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Serialize for ContainerdVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ContainerdVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Which containerd build reads the files.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Deckhouse's containerd build: `auth` and `rewrite` tables in hosts.toml.
    #[default]
    Deckhouse,
    /// Stock containerd: credentials in config.toml, no path rewrites.
    Upstream,
}

/// Whether rendering for a switch (with previous settings) first checks that the switch is
/// allowed. Read by [`crate::wire::render`]; [`super::render`] renders what it is given.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SwitchCheck {
    /// Refuse (`TransitionRefused`) when the switch is refused: files for a refused switch
    /// would break the nodes that read them.
    #[default]
    Enforce,
    /// Render anyway (for tests, and for an operator who has checked by other means).
    Skip,
}

/// How to render a [`super::NodeConfig`].
///
/// In JSON every key is optional: a generation given without a release line gets that
/// generation's default line (`{"containerd": "v2"}` renders for 2.1).
///
/// ```
/// use registry_core::containerd::{ContainerdMajor, ContainerdVersion, RenderOptions};
/// let o: RenderOptions = serde_json::from_str(r#"{"containerd": "v2"}"#).unwrap();
/// assert_eq!(o.version, ContainerdVersion::default_for(ContainerdMajor::V2));
/// assert_eq!(o, RenderOptions::new(ContainerdMajor::V2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", from = "RenderOptionsInput")]
pub struct RenderOptions {
    /// The containerd generation on the node.
    pub containerd: ContainerdMajor,
    /// The containerd release line on the node.
    pub version: ContainerdVersion,
    /// The containerd build.
    pub dialect: Dialect,
    /// Put `skip_verify = true` on plain-HTTP mirrors, as older Deckhouse templates did. It makes
    /// containerd try HTTPS first and fall back to HTTP; off by default.
    pub http_tls_fallback: bool,
    /// containerd's hosts directory (`config_path`) on the node; `/etc/containerd/registry.d`
    /// for Deckhouse, `/etc/containerd/certs.d` is common elsewhere.
    pub config_path: String,
    /// Whether a render for a switch checks the switch first.
    pub switch_check: SwitchCheck,
}

/// [`RenderOptions`] as JSON gives them: every key optional.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "RenderOptions")]
struct RenderOptionsInput {
    /// The containerd generation on the node (default `v1`).
    #[serde(default)]
    containerd: ContainerdMajor,
    /// The containerd release line on the node (default: the generation's default line).
    #[serde(default)]
    version: Option<ContainerdVersion>,
    /// The containerd build (default `deckhouse`).
    #[serde(default)]
    dialect: Dialect,
    /// Put `skip_verify = true` on plain-HTTP mirrors (default false).
    #[serde(default)]
    http_tls_fallback: bool,
    /// containerd's hosts directory on the node (default `/etc/containerd/registry.d`).
    #[serde(default = "default_config_path")]
    config_path: String,
    /// Whether a render for a switch checks the switch first (default `enforce`).
    #[serde(default)]
    switch_check: SwitchCheck,
}

impl From<RenderOptionsInput> for RenderOptions {
    fn from(i: RenderOptionsInput) -> RenderOptions {
        RenderOptions {
            containerd: i.containerd,
            version: i
                .version
                .unwrap_or(ContainerdVersion::default_for(i.containerd)),
            dialect: i.dialect,
            http_tls_fallback: i.http_tls_fallback,
            config_path: i.config_path,
            switch_check: i.switch_check,
        }
    }
}

fn default_config_path() -> String {
    super::REGISTRY_D.to_owned()
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions::new(ContainerdMajor::V1)
    }
}

impl RenderOptions {
    /// Deckhouse dialect, the default release line of the generation.
    pub fn new(containerd: ContainerdMajor) -> Self {
        RenderOptions {
            containerd,
            version: ContainerdVersion::default_for(containerd),
            dialect: Dialect::Deckhouse,
            http_tls_fallback: false,
            config_path: default_config_path(),
            switch_check: SwitchCheck::Enforce,
        }
    }
}
