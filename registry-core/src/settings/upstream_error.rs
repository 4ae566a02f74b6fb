//! Why an [`super::Upstream`] could not be built from its parts, and why a credential value is
//! refused. Validation turns the same checks into [`super::Problem`]s; these types serve the
//! builder API (`Upstream::new`, `from_images_repo`, `with_ca`, `with_credentials`) and
//! deserialization.

use super::AddressError;

/// Why a credential value (a user name, a password or a license key) is refused. Secret values
/// never appear in the message, only the code point of an offending character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The value is empty.
    #[error("must not be empty")]
    Empty,
    /// A user name holds a control character (the character is not secret).
    #[error("contains the control character {0:?}")]
    ControlInName(char),
    /// A password or license key holds a control character; only its code point is kept.
    #[error("contains a control character (U+{0:04X})")]
    ControlInSecret(u32),
    /// A user name holds `:`, which basic authentication cannot carry.
    #[error("must not contain ':' (basic authentication splits on the first ':')")]
    ColonInName,
    /// A user name longer than 255 bytes.
    #[error("is {0} bytes long, more than 255")]
    NameTooLong(usize),
}

/// Why an [`super::Upstream`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The host does not follow the host grammar.
    #[error("host: {0}")]
    Host(AddressError),
    /// The port is 0 (deserialized upstreams only).
    #[error("port: must be from 1 to 65535")]
    Port,
    /// The path does not follow the path grammar (deserialized upstreams only).
    #[error("path: {0}")]
    Path(AddressError),
    /// An `imagesRepo` holds a control character.
    #[error("contains the control character {0:?}")]
    ControlCharacter(char),
    /// An `imagesRepo` breaks the address grammar: every part that is wrong, in order.
    #[error("{}", join(.0))]
    ImagesRepo(Vec<AddressError>),
    /// A CA was given for a plain-HTTP upstream, where no TLS takes place.
    #[error("ca: a CA is not allowed when the scheme is HTTP")]
    CaWithHttp,
    /// The user name of user/password credentials is refused.
    #[error("username: {0}")]
    Username(CredentialError),
    /// The password of user/password credentials is refused.
    #[error("password: {0}")]
    Password(CredentialError),
    /// The license key is refused.
    #[error("license: {0}")]
    License(CredentialError),
}

fn join(errors: &[AddressError]) -> String {
    errors
        .iter()
        .map(AddressError::message)
        .collect::<Vec<_>>()
        .join("; ")
}
