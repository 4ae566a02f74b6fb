//! Why an input could not be read at all (as opposed to being read and found invalid).

/// Why a document could not be read at all (as opposed to being read and found invalid).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The input is larger than [`super::Limits::max_bytes`].
    #[error("input is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The input is not UTF-8 text.
    #[error("input is not UTF-8 text (invalid byte at offset {offset})")]
    NotText {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The input is not well-formed YAML or JSON.
    #[error("not valid YAML or JSON: line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the parser found wrong.
        message: String,
    },
    /// The input exceeds one of the structural limits.
    #[error("{0}")]
    Limit(String),
    /// The input holds no document at all.
    #[error("input is empty: expected a YAML or JSON document")]
    Empty,
    /// The input is well-formed but not the kind of document expected.
    #[error("{0}")]
    WrongKind(String),
}
