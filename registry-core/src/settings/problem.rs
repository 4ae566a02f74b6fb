//! Validation problems: where (a JSON path), what kind (a stable code) and what is wrong.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kind of a validation problem. The names are a stable contract: bindings and scripts
/// match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ProblemCode {
    /// A field that must be present is missing.
    Required,
    /// A field that the schema does not know.
    UnknownField,
    /// A value of the wrong JSON type (for example a number where a string belongs).
    InvalidType,
    /// A value outside its enumeration (`mode`, `scheme`, `checkMode`).
    InvalidEnum,
    /// A string that must not be empty is empty.
    Empty,
    /// A control character (including newlines) in a value that cannot hold one.
    ControlCharacter,
    /// A mode section present under a mode that does not take it.
    SectionNotAllowed,
    /// The section the mode needs is missing.
    SectionRequired,
    /// A registry host that is not a DNS name or an IPv4 address.
    InvalidHost,
    /// A port outside 1–65535.
    InvalidPort,
    /// A repository path that breaks the path grammar.
    InvalidPath,
    /// `username` without `password`, or the other way round.
    IncompleteCredentials,
    /// `license` together with `username`/`password`.
    ConflictingCredentials,
    /// A user name that cannot be sent with basic authentication.
    InvalidUsername,
    /// A `ca` together with `scheme: HTTP`.
    CaWithHttp,
    /// A `ca` that is not a PEM bundle of X.509 certificates.
    InvalidCa,
    /// A `ttl` that is not of the form `[<n>h][<n>m][<n>s]`.
    InvalidTtl,
    /// A `ttl` under five minutes.
    TtlTooShort,
    /// A mode that a cluster cannot be bootstrapped in.
    ModeNotAllowedAtBootstrap,
    /// Registry settings given both in ModuleConfig and in InitConfiguration.
    ConflictingSources,
    /// `registryDockerCfg` that is not base64 of a docker config, or lacks the registry's host.
    InvalidDockerConfig,
}

impl ProblemCode {
    /// The code's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemCode::Required => "Required",
            ProblemCode::UnknownField => "UnknownField",
            ProblemCode::InvalidType => "InvalidType",
            ProblemCode::InvalidEnum => "InvalidEnum",
            ProblemCode::Empty => "Empty",
            ProblemCode::ControlCharacter => "ControlCharacter",
            ProblemCode::SectionNotAllowed => "SectionNotAllowed",
            ProblemCode::SectionRequired => "SectionRequired",
            ProblemCode::InvalidHost => "InvalidHost",
            ProblemCode::InvalidPort => "InvalidPort",
            ProblemCode::InvalidPath => "InvalidPath",
            ProblemCode::IncompleteCredentials => "IncompleteCredentials",
            ProblemCode::ConflictingCredentials => "ConflictingCredentials",
            ProblemCode::InvalidUsername => "InvalidUsername",
            ProblemCode::CaWithHttp => "CaWithHttp",
            ProblemCode::InvalidCa => "InvalidCa",
            ProblemCode::InvalidTtl => "InvalidTtl",
            ProblemCode::TtlTooShort => "TtlTooShort",
            ProblemCode::ModeNotAllowedAtBootstrap => "ModeNotAllowedAtBootstrap",
            ProblemCode::ConflictingSources => "ConflictingSources",
            ProblemCode::InvalidDockerConfig => "InvalidDockerConfig",
        }
    }
}

impl fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing wrong with the settings.
///
/// Messages never contain secret values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Problem {
    /// Dotted JSON path of the field, e.g. `spec.settings.registry.direct.password`.
    pub path: String,
    /// The stable kind of the problem.
    pub code: ProblemCode,
    /// What is wrong, for people.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}]", self.path, self.message, self.code)
    }
}

/// Every problem found in one input (never empty).
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} problem{} in the registry settings",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// Collects problems while a walk over the input goes on.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    pub(crate) problems: Vec<Problem>,
}

impl Collector {
    pub(crate) fn push(&mut self, path: &str, code: ProblemCode, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_owned(),
            code,
            message: message.into(),
        });
    }
}
