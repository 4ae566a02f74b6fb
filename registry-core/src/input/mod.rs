//! Inputs: the bounded reader for the YAML and JSON documents the library takes, settings
//! ([`crate::settings::load`]) and cluster facts ([`crate::facts::ClusterFacts::load`]) alike.
//!
//! Documents arrive from users and from the cluster, so the reader must stay safe on hostile
//! input: it caps the input size, the nesting depth, the number of nodes and the bytes that
//! aliases may expand to (the "billion laughs" attack), and it never recurses on the input's
//! structure, so deep nesting cannot overflow the stack. JSON is read through the same YAML 1.2
//! parser (JSON is a subset of it), so both formats share one set of limits and rules, and
//! duplicate keys are rejected in both.

mod error;
mod limits;
mod scalar;
mod yaml;

pub use error::DocumentError;
pub use limits::Limits;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why a one-document input could not be read into its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// Not readable as YAML or JSON.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// Read, but a field is wrong (an unknown key, a wrong type, a missing key).
    #[error("{}: {message}", if path.is_empty() { "(document)" } else { path.as_str() })]
    Field {
        /// JSON path of the field (empty for the document itself).
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads exactly one YAML or JSON document into `T`, naming the field that does not fit.
///
/// ```
/// use registry_core::input::{read_one, Limits, ShapeError};
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Port { port: u16 }
/// assert_eq!(read_one::<Port>(b"port: 5001", &Limits::default()).unwrap().port, 5001);
/// let Err(ShapeError::Field { path, .. }) = read_one::<Port>(b"port: x", &Limits::default())
/// else { panic!() };
/// assert_eq!(path, "port");
/// ```
///
/// # Errors
/// [`ShapeError::Document`] for unreadable input, [`ShapeError::Field`] for a field that does
/// not fit `T` or for a stream that is not exactly one document.
pub fn read_one<T: DeserializeOwned>(input: &[u8], limits: &Limits) -> Result<T, ShapeError> {
    let docs = read_documents(input, limits)?;
    let [doc] = docs.as_slice() else {
        return Err(ShapeError::Field {
            path: String::new(),
            message: format!("expected one document, found {}", docs.len()),
        });
    };
    serde_path_to_error::deserialize(doc).map_err(|e| ShapeError::Field {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// Reads every document of a YAML stream (or one JSON document) into JSON values.
///
/// Mapping keys must be strings and unique. Plain scalars resolve by the YAML 1.2 core schema
/// (`true`, `null`, `12`, `1.5` …); quoted scalars are always strings. Empty documents are
/// skipped.
///
/// ```
/// use registry_core::input::{read_documents, Limits};
/// let docs = read_documents(b"a: 1\n---\nb: [x, 'y']\n", &Limits::default()).unwrap();
/// assert_eq!(docs[1]["b"][1], "y");
/// assert!(read_documents(b"a: 1\na: 2\n", &Limits::default()).is_err());
/// ```
pub fn read_documents(input: &[u8], limits: &Limits) -> Result<Vec<Value>, DocumentError> {
    if input.len() > limits.max_bytes {
        return Err(DocumentError::TooLarge {
            size: input.len(),
            limit: limits.max_bytes,
        });
    }
    let text = std::str::from_utf8(input).map_err(|e| DocumentError::NotText {
        offset: e.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    refuse_raw_controls(text)?;
    yaml::Builder::new(limits).run(text)
}

/// Neither YAML nor JSON allows a raw C0 control character other than tab, line feed and
/// carriage return anywhere (escapes such as `\u0000` in quoted strings are fine). The YAML
/// parser would stop at a NUL and report the input as empty; name the character instead.
fn refuse_raw_controls(text: &str) -> Result<(), DocumentError> {
    let Some((offset, c)) = text
        .char_indices()
        .find(|&(_, c)| c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{7f}'))
    else {
        return Ok(());
    };
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Err(DocumentError::Syntax {
        line,
        column,
        message: format!(
            "control character U+{:04X}; YAML and JSON allow only tab, line feed and carriage \
             return unescaped",
            u32::from(c)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(s: &str) -> Result<Vec<Value>, DocumentError> {
        read_documents(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn core_schema_scalars() {
        let docs = read(
            "a: 12\nb: -3\nc: 1.5\nd: true\ne: ~\nf: '12'\ng: yes\nh: 0x1f\ni: !!str 7\nj: 1e3\n",
        )
        .unwrap();
        assert_eq!(
            docs[0],
            json!({"a": 12, "b": -3, "c": 1.5, "d": true, "e": null, "f": "12", "g": "yes", "h": 31, "i": "7", "j": 1000.0})
        );
    }

    #[test]
    fn json_is_read_too() {
        let docs = read(r#"{"a": {"b": [1, "x\u00e9", null]}, "c": false}"#).unwrap();
        assert_eq!(docs, vec![json!({"a": {"b": [1, "xé", null]}, "c": false})]);
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        assert!(matches!(
            read("a: 1\nb: 2\na: 3\n"),
            Err(DocumentError::Syntax { line: 3, .. })
        ));
        assert!(matches!(
            read(r#"{"a": 1, "a": 2}"#),
            Err(DocumentError::Syntax { .. })
        ));
    }

    #[test]
    fn empty_documents_are_skipped_and_nothing_is_an_error() {
        assert_eq!(read("---\n---\na: 1\n").unwrap(), vec![json!({"a": 1})]);
        assert_eq!(read("# only a comment\n"), Err(DocumentError::Empty));
        // NUL bytes are not an empty input but a character neither format allows.
        match read("\0\0\0") {
            Err(DocumentError::Syntax {
                line: 1,
                column: 1,
                message,
            }) => assert!(message.contains("U+0000"), "{message}"),
            other => panic!("{other:?}"),
        }
        match read("a: 1\nb: x\u{1}y\n") {
            Err(DocumentError::Syntax {
                line: 2, column: 5, ..
            }) => {}
            other => panic!("{other:?}"),
        }
        // Escaped, the same characters are fine.
        assert!(read("a: \"\\u0000\"\n").is_ok());
    }

    #[test]
    fn alias_bomb_is_stopped() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            s.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
        }
        match read(&s) {
            Err(DocumentError::Limit(m)) => assert!(m.contains("alias"), "{m}"),
            other => panic!("expected a limit error, got {other:?}"),
        }
    }

    #[test]
    fn deep_nesting_is_stopped_without_recursion() {
        let deep = "[".repeat(100_000);
        assert!(matches!(
            read(&deep),
            Err(DocumentError::Limit(_)) | Err(DocumentError::Syntax { .. })
        ));
        let mut block = String::new();
        for i in 0..200 {
            block.push_str(&" ".repeat(i));
            block.push_str("k:\n");
        }
        assert!(matches!(read(&block), Err(DocumentError::Limit(m)) if m.contains("nesting")));
    }

    #[test]
    fn size_and_encoding_limits() {
        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        assert_eq!(
            read_documents(b"a: 123456789", &limits),
            Err(DocumentError::TooLarge {
                size: 12,
                limit: 10
            })
        );
        assert_eq!(
            read_documents(b"a: \xff", &Limits::default()),
            Err(DocumentError::NotText { offset: 3 })
        );
    }

    #[test]
    fn aliases_within_limits_are_expanded() {
        let docs = read("base: &b {x: 1}\ncopy: *b\n").unwrap();
        assert_eq!(docs[0]["copy"], json!({"x": 1}));
    }

    #[test]
    fn floats_and_ints_follow_the_core_schema() {
        for s in ["1.", ".5", "1.5e3", "-2.0", "+3"] {
            assert!(read(&format!("a: {s}")).unwrap()[0]["a"].is_number(), "{s}");
        }
        for s in ["1.2.3", "e3", ".", "1e", "0x", "1_000", "-0x10", "12:30"] {
            assert!(read(&format!("a: {s}")).unwrap()[0]["a"].is_string(), "{s}");
        }
    }
}
