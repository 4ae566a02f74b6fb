//! The YAML event stream turned into JSON values without recursion: collections are built on an
//! explicit stack, and every node and scalar byte (aliases at their full expanded size) is
//! charged against the [`Limits`].

use std::collections::HashMap;

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, Parser};

use super::scalar::resolve_scalar;
use super::{DocumentError, Limits};

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

pub(super) struct Builder<'l> {
    limits: &'l Limits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, usize, usize)>,
    docs: Vec<Value>,
    root: Option<Value>,
    nodes: usize,
    bytes: usize,
}

impl<'l> Builder<'l> {
    pub(super) fn new(limits: &'l Limits) -> Self {
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

    pub(super) fn run(mut self, text: &str) -> Result<Vec<Value>, DocumentError> {
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
