//! Secret strings (passwords, license keys) that never show up in printouts.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret value: a password or a license key.
///
/// `Debug` and `Display` print a fixed marker instead of the value, so a secret cannot leak
/// through logs or error messages by accident. Serialization writes the real value, because
/// serialized settings are how the value travels to the bindings; printouts go through
/// [`crate::settings::RegistrySettings::redacted`] first.
///
/// ```
/// use registry_core::settings::Secret;
/// let s = Secret::new("hunter2");
/// assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The marker printed in place of a secret.
    pub const REDACTED: &'static str = "<redacted>";

    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself. Call it only where the value is really needed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A secret holding only the redaction marker, for printouts.
    pub fn redacted() -> Self {
        Secret(Self::REDACTED.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", Self::REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}
