//! Rendering as every binding and the CLI offer it: the node model and its files in one call,
//! refused when the switch from the previous settings is refused (unless the caller says so).

use crate::containerd::{self, RenderOptions, Rendered, SwitchCheck};
use crate::facts::ClusterFacts;
use crate::settings::RegistrySettings;
use crate::transition::{self, Decision};

use super::Failure;

/// Builds the node configuration for `desired` (with `previous`: the transition phase, whose
/// switch must be allowed unless `options.switch_check` is `Skip`) and renders its files.
///
/// ```
/// use registry_core::containerd::{ContainerdMajor, RenderOptions};
/// use registry_core::settings::{self, LoadOptions};
/// use registry_core::facts::ClusterFacts;
/// use registry_core::wire;
///
/// let direct = settings::load(br#"
/// apiVersion: deckhouse.io/v1alpha1
/// kind: ModuleConfig
/// metadata: {name: deckhouse}
/// spec:
///   version: 1
///   settings:
///     registry:
///       mode: Direct
///       direct: {imagesRepo: registry.example.com/deckhouse, scheme: HTTPS}
/// "#, &LoadOptions::default()).unwrap();
/// let options = RenderOptions::new(ContainerdMajor::V1);
/// let facts = ClusterFacts::default();
/// let rendered = wire::render(&direct, None, &facts, &options).unwrap();
/// assert!(!rendered.files.is_empty());
/// ```
///
/// # Errors
/// `TransitionRefused` with the reasons and route; the render errors (`RenderMissingInput`,
/// `RenderInvalidOptions`, `RenderRefused`).
pub fn render(
    desired: &RegistrySettings,
    previous: Option<&RegistrySettings>,
    facts: &ClusterFacts,
    options: &RenderOptions,
) -> Result<Rendered, Failure> {
    if let (Some(previous), SwitchCheck::Enforce) = (previous, options.switch_check)
        && let Decision::Refused(refusal) = transition::plan(previous, desired, facts)
    {
        return Err(Failure::from(&refusal));
    }
    let config = containerd::node_config(desired, previous, facts)?;
    Ok(containerd::render(&config, options)?)
}
