//! `ErrorCode`: the one list of status codes every binding reports.
//!
//! The C ABI's `dr_status` *is* this enum (cbindgen reads it from here and names it
//! `dr_status`), the Go `Status` constants come from that header, and the Python exception
//! classes are chosen by an exhaustive `match` over it. So adding a variant here fails to
//! compile in every binding until it maps the new code. The values are fixed forever: never
//! renumber, only add.

use serde::{Deserialize, Serialize};

/// A stable code for one kind of failure, the same number and name in every language.
///
/// `Ok` is the code of success: it is in the list so that the C status and this enum are one
/// list; no error's `code()` returns it. (This comment is copied into the C header.)
#[repr(i32)]
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
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::FromRepr,
)]
pub enum ErrorCode {
    /// Success.
    Ok = 0,
    /// A NULL pointer, invalid UTF-8, or a request that does not fit its schema (the wire
    /// layer's own check).
    InvalidArgument = 1,
    /// A panic was caught at a binding's boundary (a bug; the call had no effect you can rely on).
    Panic = 2,
    /// The progress callback asked to stop; the store is unchanged by the call.
    Cancelled = 3,
    /// A handle used in a state that does not allow the call (e.g. a writer already committed).
    InvalidState = 4,
    /// Settings or cluster facts input that is unusable: not YAML/JSON, too large, wrong kind.
    InvalidDocument = 10,
    /// Settings that break the rules; the failure carries every problem.
    InvalidSettings = 11,
    /// Cluster facts with a wrong field.
    InvalidFacts = 12,
    /// Rendering needs something the input lacks (module CA, read-only user, masters...).
    RenderMissingInput = 20,
    /// Render options that contradict each other.
    RenderInvalidOptions = 21,
    /// The requested containerd dialect cannot express the configuration.
    RenderRefused = 22,
    /// The switch the configuration belongs to is refused; the failure carries the reasons and
    /// the route.
    TransitionRefused = 23,
    /// A rendered set `apply` refuses to write (a path the renderer does not produce, a bad host
    /// folder name, a symbolic link under the root); nothing was written.
    ApplyRefused = 24,
    /// An I/O error (file system), with the path in the message.
    Io = 30,
    /// Blob, tag, upload or lease not found.
    NotFound = 40,
    /// The blob or file is already there (only where the call cannot report it as a result).
    AlreadyExists = 41,
    /// Content did not match the expected digest or size; nothing was stored.
    DigestMismatch = 42,
    /// A string that is not a valid, supported digest.
    InvalidDigest = 43,
    /// A tag that does not match the OCI ref grammar.
    InvalidTag = 44,
    /// The store's quota would be exceeded.
    QuotaExceeded = 45,
    /// The file system is full.
    NoSpace = 46,
    /// A stored blob whose content does not match its digest.
    Corrupt = 47,
    /// The store root is not a valid OCI image layout.
    InvalidLayout = 48,
    /// A manifest or index that cannot be parsed.
    InvalidManifest = 49,
    /// An import was refused; the store is unchanged.
    ImportRefused = 50,
    /// An upload that cannot be resumed or committed.
    InvalidUpload = 51,
    /// Another writer holds the resource.
    Locked = 52,
    /// A repository name that does not match the repository grammar.
    InvalidRepository = 53,
    /// The orchestrator could not build a certificate or key (an unusable stored key, or a
    /// bug); no step was produced and nothing changed.
    PkiFailed = 60,
}

impl ErrorCode {
    /// Every code, in value order.
    pub const ALL: &'static [ErrorCode] = <ErrorCode as strum::VariantArray>::VARIANTS;

    /// The stable name (`"NotFound"`): the variant's name, the same in every language.
    ///
    /// ```
    /// use registry_core::wire::ErrorCode;
    /// assert_eq!(ErrorCode::NotFound as i32, 40);
    /// assert_eq!(ErrorCode::NotFound.name(), "NotFound");
    /// assert_eq!(ErrorCode::from_value(40), Some(ErrorCode::NotFound));
    /// assert_eq!(ErrorCode::from_value(9999), None);
    /// ```
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The code with this value, if there is one.
    pub fn from_value(value: i32) -> Option<ErrorCode> {
        ErrorCode::from_repr(value)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_unique_ascending_and_names_are_the_variants() {
        let mut last = -1;
        for &code in ErrorCode::ALL {
            assert!(code as i32 > last, "{code:?} out of order");
            last = code as i32;
            assert_eq!(code.name(), format!("{code:?}"));
            assert_eq!(ErrorCode::from_value(code as i32), Some(code));
        }
        assert_eq!(ErrorCode::ALL.first(), Some(&ErrorCode::Ok));
    }

    #[test]
    fn the_values_bindings_already_ship_never_change() {
        // Published in the C header since 0.1; a renumbering breaks every compiled caller.
        let fixed = [
            (ErrorCode::Ok, 0),
            (ErrorCode::InvalidArgument, 1),
            (ErrorCode::Panic, 2),
            (ErrorCode::Cancelled, 3),
            (ErrorCode::InvalidState, 4),
            (ErrorCode::InvalidDocument, 10),
            (ErrorCode::InvalidSettings, 11),
            (ErrorCode::InvalidFacts, 12),
            (ErrorCode::RenderMissingInput, 20),
            (ErrorCode::RenderInvalidOptions, 21),
            (ErrorCode::RenderRefused, 22),
            (ErrorCode::Io, 30),
            (ErrorCode::NotFound, 40),
            (ErrorCode::Locked, 52),
        ];
        for (code, value) in fixed {
            assert_eq!(code as i32, value, "{code:?}");
        }
    }

    #[test]
    fn json_is_the_name() {
        let json = serde_json::to_string(&ErrorCode::DigestMismatch).ok();
        assert_eq!(json.as_deref(), Some("\"DigestMismatch\""));
    }
}
