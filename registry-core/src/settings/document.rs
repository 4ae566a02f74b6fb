//! Bounded reader for YAML and JSON documents.
//!
//! Settings arrive from users and from the cluster, so the reader must stay safe on hostile
//! input: it caps the input size, the nesting depth, the number of nodes and the bytes that
//! aliases may expand to (the "billion laughs" attack), and it never recurses on the input's
//! structure, so deep nesting cannot overflow the stack. JSON is read through the same YAML 1.2
//! parser (JSON is a subset of it), so both formats share one set of limits and rules, and
//! duplicate keys are rejected in both.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

/// Bounds that keep reading a document cheap whatever the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Limits {
    /// Largest input accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of mappings and sequences.
    pub max_depth: usize,
    /// Most nodes (scalars, mappings, sequences) after alias expansion, over all documents.
    pub max_nodes: usize,
    /// Most scalar bytes after alias expansion, over all documents.
    pub max_expanded_bytes: usize,
    /// Most documents in one stream.
    pub max_documents: usize,
}

impl Default for Limits {
    /// Generous for any real ModuleConfig or cluster facts file, tiny for an attacker.
    fn default() -> Self {
        Limits {
            max_bytes: 4 << 20,
            max_depth: 64,
            max_nodes: 200_000,
            max_expanded_bytes: 16 << 20,
            max_documents: 64,
        }
    }
}

/// Why a document could not be read at all (as opposed to being read and found invalid).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The input is larger than [`Limits::max_bytes`].
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

/// Reads every document of a YAML stream (or one JSON document) into JSON values.
///
/// Mapping keys must be strings and unique. Plain scalars resolve by the YAML 1.2 core schema
/// (`true`, `null`, `12`, `1.5` …); quoted scalars are always strings. Empty documents are
/// skipped.
///
/// ```
/// use registry_core::settings::document::{read_documents, Limits};
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
    Builder::new(limits).run(text)
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

/// A collection under construction.
enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        nodes: usize,
        bytes: usize,
    },
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        anchor: usize,
        nodes: usize,
        bytes: usize,
    },
}

/// A finished node together with what it costs to copy it (for alias accounting).
struct Node {
    value: Value,
    nodes: usize,
    bytes: usize,
}

struct Builder<'l> {
    limits: &'l Limits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, usize, usize)>,
    docs: Vec<Value>,
    root: Option<Value>,
    nodes: usize,
    bytes: usize,
}

impl<'l> Builder<'l> {
    fn new(limits: &'l Limits) -> Self {
        Builder {
            limits,
            stack: Vec::new(),
            anchors: HashMap::new(),
            docs: Vec::new(),
            root: None,
            nodes: 0,
            bytes: 0,
        }
    }

    fn run(mut self, text: &str) -> Result<Vec<Value>, DocumentError> {
        let mut parser = Parser::new_from_str(text);
        loop {
            let (event, mark) = parser.next_token().map_err(|e| DocumentError::Syntax {
                line: e.marker().line(),
                column: e.marker().col() + 1,
                message: e.info().to_owned(),
            })?;
            let at = (mark.line(), mark.col() + 1);
            match event {
                Event::StreamEnd => break,
                Event::DocumentStart => self.anchors.clear(),
                Event::DocumentEnd => self.end_document()?,
                Event::Scalar(text, style, anchor, tag) => {
                    let bytes = text.len();
                    let value = resolve_scalar(text, style, tag.as_ref());
                    self.charge(1, bytes)?;
                    self.finish(
                        Node {
                            value,
                            nodes: 1,
                            bytes,
                        },
                        anchor,
                        at,
                    )?;
                }
                Event::SequenceStart(anchor, _) => self.open(Frame::Seq {
                    items: Vec::new(),
                    anchor,
                    nodes: 1,
                    bytes: 0,
                })?,
                Event::MappingStart(anchor, _) => self.open(Frame::Map {
                    map: Map::new(),
                    key: None,
                    anchor,
                    nodes: 1,
                    bytes: 0,
                })?,
                Event::SequenceEnd | Event::MappingEnd => self.close(at)?,
                Event::Alias(id) => {
                    let Some((value, nodes, bytes)) = self.anchors.get(&id).cloned() else {
                        return Err(syntax(at, "alias to an unknown anchor"));
                    };
                    self.charge(nodes, bytes)?;
                    self.finish(
                        Node {
                            value,
                            nodes,
                            bytes,
                        },
                        0,
                        at,
                    )?;
                }
                Event::Nothing | Event::StreamStart => {}
            }
        }
        if self.docs.is_empty() {
            return Err(DocumentError::Empty);
        }
        Ok(self.docs)
    }

    fn end_document(&mut self) -> Result<(), DocumentError> {
        // `---` followed by nothing is an empty (null) document: skipped, as kubectl does.
        if let Some(root) = self.root.take().filter(|r| !r.is_null()) {
            if self.docs.len() == self.limits.max_documents {
                return Err(DocumentError::Limit(format!(
                    "more than {} documents in one input",
                    self.limits.max_documents
                )));
            }
            self.docs.push(root);
        }
        Ok(())
    }

    /// Counts nodes and scalar bytes against the limits; aliases are charged their full size.
    fn charge(&mut self, nodes: usize, bytes: usize) -> Result<(), DocumentError> {
        self.nodes = self.nodes.saturating_add(nodes);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > self.limits.max_nodes {
            return Err(DocumentError::Limit(format!(
                "more than {} nodes (after expanding aliases); the input is too large or an alias bomb",
                self.limits.max_nodes
            )));
        }
        if self.bytes > self.limits.max_expanded_bytes {
            return Err(DocumentError::Limit(format!(
                "more than {} bytes of text (after expanding aliases); the input is too large or an alias bomb",
                self.limits.max_expanded_bytes
            )));
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame) -> Result<(), DocumentError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(DocumentError::Limit(format!(
                "nesting deeper than {} levels",
                self.limits.max_depth
            )));
        }
        self.charge(1, 0)?;
        self.stack.push(frame);
        Ok(())
    }

    fn close(&mut self, at: (usize, usize)) -> Result<(), DocumentError> {
        let node = match self.stack.pop() {
            Some(Frame::Seq {
                items,
                anchor,
                nodes,
                bytes,
            }) => (
                Node {
                    value: Value::Array(items),
                    nodes,
                    bytes,
                },
                anchor,
            ),
            Some(Frame::Map {
                map,
                key: None,
                anchor,
                nodes,
                bytes,
            }) => (
                Node {
                    value: Value::Object(map),
                    nodes,
                    bytes,
                },
                anchor,
            ),
            Some(Frame::Map { key: Some(_), .. }) => {
                return Err(syntax(at, "mapping ended after a key without a value"));
            }
            None => return Err(syntax(at, "unbalanced end of a collection")),
        };
        self.finish(node.0, node.1, at)
    }

    /// Places a finished node into its parent (or as the document root).
    fn finish(
        &mut self,
        node: Node,
        anchor: usize,
        at: (usize, usize),
    ) -> Result<(), DocumentError> {
        if anchor != 0 {
            self.anchors
                .insert(anchor, (node.value.clone(), node.nodes, node.bytes));
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(node.value);
                Ok(())
            }
            Some(Frame::Seq {
                items,
                nodes,
                bytes,
                ..
            }) => {
                *nodes = nodes.saturating_add(node.nodes);
                *bytes = bytes.saturating_add(node.bytes);
                items.push(node.value);
                Ok(())
            }
            Some(Frame::Map {
                map,
                key,
                nodes,
                bytes,
                ..
            }) => {
                *nodes = nodes.saturating_add(node.nodes);
                *bytes = bytes.saturating_add(node.bytes);
                match key.take() {
                    Some(k) => {
                        map.insert(k, node.value);
                        Ok(())
                    }
                    None => {
                        let k = match node.value {
                            Value::String(s) => s,
                            Value::Null => "null".to_owned(),
                            Value::Bool(b) => b.to_string(),
                            Value::Number(n) => n.to_string(),
                            Value::Array(_) | Value::Object(_) => {
                                return Err(syntax(at, "mapping keys must be scalars"));
                            }
                        };
                        if map.contains_key(&k) {
                            return Err(syntax(at, &format!("duplicate key {k:?}")));
                        }
                        *key = Some(k);
                        Ok(())
                    }
                }
            }
        }
    }
}

fn syntax(at: (usize, usize), message: &str) -> DocumentError {
    DocumentError::Syntax {
        line: at.0,
        column: at.1,
        message: message.to_owned(),
    }
}

/// Resolves a scalar by the YAML 1.2 core schema; quoted scalars and `!!str` stay strings.
fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    let core_tag = tag.filter(|t| t.handle == "!!" || t.handle == "tag:yaml.org,2002:");
    match core_tag.map(|t| t.suffix.as_str()) {
        Some("str") => return Value::String(text),
        Some("null") => return Value::Null,
        _ => {}
    }
    if style != TScalarStyle::Plain && core_tag.is_none() {
        return Value::String(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(&text) {
        return Value::Number(n);
    }
    if looks_like_float(&text)
        && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(text)
}

fn parse_int(text: &str) -> Option<Number> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(d) = digits.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = digits.strip_prefix("0o") {
        (8, d)
    } else {
        (10, digits)
    };
    if radix != 10 && text.starts_with(['-', '+']) {
        return None;
    }
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = 0i64.checked_sub_unsigned(magnitude)?;
        Some(Number::from(value))
    } else {
        Some(Number::from(magnitude))
    }
}

/// The YAML 1.2 core float form: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn looks_like_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match frac {
        Some(f) => digits(int) && digits(f) && (!int.is_empty() || !f.is_empty()),
        None => !int.is_empty() && digits(int),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
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
