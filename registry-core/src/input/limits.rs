//! The bounds on what one read may cost: input size, nesting depth, nodes and bytes after
//! alias expansion, and documents per stream.

/// Bounds that keep reading a document cheap whatever the input is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
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
