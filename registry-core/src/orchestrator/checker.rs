//! Parameters of the image checker behind `RegistryContainsRequiredImages` (DOMAIN.md §10):
//! which registries it checks, in which mode, and the version its status must report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::containerd::sha256_hex;
use crate::settings::{CheckMode, Mode, Scheme, Secret};

/// One registry the checker looks into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckerRegistry {
    /// `host[:port]/path`.
    pub address: String,
    /// HTTP or HTTPS.
    pub scheme: Scheme,
    /// The CA (PEM), or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca: String,
    /// The user name, or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// The password, or empty.
    #[serde(default)]
    pub password: Secret,
}

/// What the checker checks, and the version its status must carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckerParams {
    /// By queue name (the registry host; in Local, the master's node name).
    pub registries: BTreeMap<String, CheckerRegistry>,
    /// Every image, or only deckhouse's.
    pub check_mode: CheckMode,
    /// sha256 over the registries, the target mode and the check mode.
    pub version: String,
}

impl CheckerParams {
    /// Parameters for `target`, with their version.
    pub fn new(
        registries: BTreeMap<String, CheckerRegistry>,
        target: Mode,
        check_mode: CheckMode,
    ) -> Self {
        let doc = serde_json::json!({
            "registries": registries
                .iter()
                .map(|(k, r)| (k.clone(), serde_json::json!({
                    "address": r.address, "scheme": r.scheme, "ca": r.ca,
                    "username": r.username, "password": r.password.expose(),
                })))
                .collect::<serde_json::Map<_, _>>(),
            "targetMode": target,
            "checkMode": check_mode,
        });
        CheckerParams {
            version: sha256_hex(doc.to_string().as_bytes()),
            registries,
            check_mode,
        }
    }
}
