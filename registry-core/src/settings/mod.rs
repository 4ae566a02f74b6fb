//! Registry settings: reading ModuleConfig `deckhouse` (`spec.settings.registry`) and the legacy
//! InitConfiguration parameters, validating them against every rule at once, and producing
//! typed, normalised [`RegistrySettings`].
//!
//! ```
//! use registry_core::settings::{load, LoadOptions, Mode};
//! let yaml = br#"
//! apiVersion: deckhouse.io/v1alpha1
//! kind: ModuleConfig
//! metadata: {name: deckhouse}
//! spec:
//!   version: 1
//!   settings:
//!     registry:
//!       mode: Proxy
//!       proxy:
//!         imagesRepo: registry.example.com/deckhouse/ee/
//!         ttl: 24h
//! "#;
//! let settings = load(yaml, &LoadOptions::default()).unwrap();
//! assert_eq!(settings.mode(), Mode::Proxy);
//! assert_eq!(settings.upstream().unwrap().images_repo(), "registry.example.com/deckhouse/ee");
//! ```

mod ca;
mod fields;
pub(crate) mod grammar;
mod init_configuration;
mod module_config;
mod problem;
mod secret;
mod ttl;
mod types;
mod upstream_error;

pub use ca::{CaBundle, CaError};
pub use grammar::AddressError;
pub use problem::{Problem, ProblemCode, Problems};
pub use secret::Secret;
pub use ttl::{Ttl, TtlError};
pub use types::{
    CheckMode, Credentials, DEFAULT_IMAGES_REPO, LICENSE_USERNAME, Mode, RegistrySettings, Scheme,
    Upstream, VIRTUAL_HOST, VIRTUAL_PATH,
};
pub use upstream_error::{CredentialError, UpstreamError};

use serde_json::{Map, Value};

use crate::input::{DocumentError, Limits, read_documents};

use problem::Collector;

/// The apiVersion of ModuleConfig.
pub const MODULE_CONFIG_API_VERSION: &str = "deckhouse.io/v1alpha1";

/// How to read settings.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LoadOptions {
    /// Apply the bootstrap rules: only Direct and the Unmanaged forms are allowed.
    pub bootstrap: bool,
    /// Bounds on the input.
    pub limits: Limits,
}

/// Why settings could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The input is unusable: unreadable, not YAML/JSON, or not a ModuleConfig/InitConfiguration.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// The input was read, and the settings in it break the rules.
    #[error(transparent)]
    Invalid(#[from] Problems),
}

/// Reads registry settings from YAML or JSON: a ModuleConfig `deckhouse`, an
/// InitConfiguration, or a multi-document stream holding them (as `dhctl bootstrap --config`
/// takes). Other documents are ignored.
///
/// A ModuleConfig without `spec.settings.registry`, or an InitConfiguration alone, means legacy
/// Unmanaged mode.
///
/// # Errors
/// [`LoadError::Document`] when the input is unusable; [`LoadError::Invalid`] with every problem
/// when the settings break the rules.
pub fn load(input: &[u8], options: &LoadOptions) -> Result<RegistrySettings, LoadError> {
    let docs = read_documents(input, &options.limits)?;
    from_documents(&docs, options)
}

/// Like [`load`], for documents already parsed.
///
/// # Errors
/// As for [`load`].
pub fn from_documents(
    docs: &[Value],
    options: &LoadOptions,
) -> Result<RegistrySettings, LoadError> {
    let sources = Sources::find(docs)?;
    let mut c = Collector::default();
    let from_module_config = sources
        .module_config
        .map(|mc| module_config::read(mc, &mut c));
    let legacy_upstream = sources
        .init_configuration
        .and_then(|ic| init_configuration::read(ic, &mut c));
    let explicit_init = sources
        .init_configuration
        .is_some_and(init_configuration::sets_registry);

    let settings = match from_module_config {
        Some(module_config::Outcome::Present(settings)) => {
            if explicit_init {
                c.push(
                    module_config::REGISTRY_PATH,
                    ProblemCode::ConflictingSources,
                    "registry settings are given both here and in InitConfiguration (deckhouse.imagesRepo, \
                     registryDockerCfg, registryCA, registryScheme); use one of them",
                );
            }
            settings
        }
        Some(module_config::Outcome::Absent) | None => Some(RegistrySettings::UnmanagedLegacy {
            upstream: legacy_upstream,
        }),
    };
    if options.bootstrap
        && let Some(s) = &settings
        && !s.mode().allowed_at_bootstrap()
    {
        c.push(
            &format!("{}.mode", module_config::REGISTRY_PATH),
            ProblemCode::ModeNotAllowedAtBootstrap,
            format!(
                "a cluster cannot be bootstrapped in mode {}; use Direct or Unmanaged, then switch",
                s.mode()
            ),
        );
    }
    match settings {
        Some(s) if c.problems.is_empty() => Ok(s),
        _ => Err(LoadError::Invalid(Problems(c.problems))),
    }
}

/// The documents that carry registry settings.
struct Sources<'a> {
    module_config: Option<&'a Map<String, Value>>,
    init_configuration: Option<&'a Map<String, Value>>,
}

impl<'a> Sources<'a> {
    fn find(docs: &'a [Value]) -> Result<Self, DocumentError> {
        let mut found = Sources {
            module_config: None,
            init_configuration: None,
        };
        let mut seen = Vec::new();
        for doc in docs {
            let Some(obj) = doc.as_object() else {
                seen.push(format!("{} document", fields::type_name(doc)));
                continue;
            };
            let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
            let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            let name = obj
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            match kind {
                "ModuleConfig" if name == "deckhouse" => {
                    if api_version != MODULE_CONFIG_API_VERSION {
                        return Err(DocumentError::WrongKind(format!(
                            "ModuleConfig deckhouse has apiVersion {:?}, expected {MODULE_CONFIG_API_VERSION}",
                            fields::preview(api_version)
                        )));
                    }
                    if found.module_config.replace(obj).is_some() {
                        return Err(DocumentError::WrongKind(
                            "more than one ModuleConfig deckhouse in the input".into(),
                        ));
                    }
                }
                "InitConfiguration" => {
                    if !api_version.starts_with("deckhouse.io/") {
                        return Err(DocumentError::WrongKind(format!(
                            "InitConfiguration has apiVersion {:?}, expected deckhouse.io/v1",
                            fields::preview(api_version)
                        )));
                    }
                    if found.init_configuration.replace(obj).is_some() {
                        return Err(DocumentError::WrongKind(
                            "more than one InitConfiguration in the input".into(),
                        ));
                    }
                }
                "ModuleConfig" => seen.push(format!("ModuleConfig {:?}", fields::preview(name))),
                "" => seen.push("a document without kind".into()),
                other => seen.push(fields::preview(other)),
            }
        }
        if found.module_config.is_none() && found.init_configuration.is_none() {
            return Err(DocumentError::WrongKind(format!(
                "not a ModuleConfig deckhouse ({MODULE_CONFIG_API_VERSION}) or an InitConfiguration; found {}",
                seen.join(", ")
            )));
        }
        Ok(found)
    }
}
