//! Results with the values the core derives from them, so no binding computes them again:
//! settings with their image addresses, a preflight report with its verdict, a scrub report
//! with its verdict.

use serde::{Deserialize, Serialize};

use crate::containerd::PreflightReport;
use crate::settings::RegistrySettings;
use crate::store::ScrubReport;

/// Loaded settings, and where they send image references.
///
/// ```
/// use registry_core::settings::{self, LoadOptions};
/// use registry_core::wire::SettingsView;
/// let s = settings::load(br#"
/// apiVersion: deckhouse.io/v1alpha1
/// kind: ModuleConfig
/// metadata: {name: deckhouse}
/// spec:
///   version: 1
///   settings:
///     registry:
///       mode: Direct
///       direct: {imagesRepo: "nexus.example.com:8443/dkp/ee", scheme: HTTPS}
/// "#, &LoadOptions::default()).unwrap();
/// let view = SettingsView::of(&s);
/// assert_eq!(view.upstream_address.as_deref(), Some("nexus.example.com:8443"));
/// assert_eq!(view.images_repo.as_deref(), Some("nexus.example.com:8443/dkp/ee"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    /// The settings (they hold the credentials: treat them as a secret).
    pub settings: RegistrySettings,
    /// Where image references point (`registry.d8-system.svc:5001/system/deckhouse` in the
    /// managed modes), if the mode has one.
    pub images_base: Option<String>,
    /// The upstream's normalized `imagesRepo` (`host[:port]/path`), if the mode has an upstream.
    pub images_repo: Option<String>,
    /// The upstream's `host[:port]`, as containerd and docker configs name it.
    pub upstream_address: Option<String>,
}

impl SettingsView {
    /// The view of `settings`.
    pub fn of(settings: &RegistrySettings) -> SettingsView {
        let upstream = settings.upstream();
        SettingsView {
            settings: settings.clone(),
            images_base: settings.images_base(),
            images_repo: upstream.map(|u| u.images_repo()),
            upstream_address: upstream.map(|u| u.address()),
        }
    }
}

/// A preflight report and its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreflightView {
    /// The findings and unreadable files.
    #[serde(flatten)]
    pub report: PreflightReport,
    /// Whether the node has custom registry configuration (or files that could hide some),
    /// which must be migrated before the first switch.
    pub has_custom_registry_config: bool,
}

impl From<PreflightReport> for PreflightView {
    fn from(report: PreflightReport) -> PreflightView {
        PreflightView {
            has_custom_registry_config: report.has_custom_registry_config(),
            report,
        }
    }
}

/// A scrub report and its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScrubView {
    /// What was checked and found.
    #[serde(flatten)]
    pub report: ScrubReport,
    /// True if nothing is wrong.
    pub clean: bool,
}

impl From<ScrubReport> for ScrubView {
    fn from(report: ScrubReport) -> ScrubView {
        ScrubView {
            clean: report.is_clean(),
            report,
        }
    }
}
