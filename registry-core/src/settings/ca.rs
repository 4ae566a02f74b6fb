//! CA bundles: one or more PEM `CERTIFICATE` blocks, each a well-formed X.509 certificate.

use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a PEM bundle is refused: which block or line is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaError {
    /// The text holds no PEM block at all.
    #[error("no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate,
    /// A block that is not a `CERTIFICATE` (a key, a request …).
    #[error("PEM block {block} is a {label:?}, expected a CERTIFICATE")]
    NotACertificate {
        /// 1-based number of the block.
        block: usize,
        /// The block's label.
        label: String,
    },
    /// A block's body is not base64.
    #[error("PEM block {block} is not valid base64: {reason}")]
    Base64 {
        /// 1-based number of the block.
        block: usize,
        /// What the decoder found wrong.
        reason: String,
    },
    /// A block's DER is not an X.509 certificate.
    #[error("PEM block {block} is not an X.509 certificate: {reason}")]
    NotX509 {
        /// 1-based number of the block.
        block: usize,
        /// What the parser found wrong.
        reason: String,
    },
    /// A block's DER has bytes after the certificate.
    #[error("PEM block {block} has trailing bytes after the certificate")]
    TrailingBytes {
        /// 1-based number of the block.
        block: usize,
    },
    /// A BEGIN line inside an open block.
    #[error("line {line}: BEGIN inside another PEM block")]
    NestedBegin {
        /// 1-based line number.
        line: usize,
    },
    /// An END line whose label differs from its BEGIN.
    #[error("line {line}: END {end:?} closes BEGIN {begin:?}")]
    MismatchedEnd {
        /// 1-based line number.
        line: usize,
        /// The END line's label.
        end: String,
        /// The open block's label.
        begin: String,
    },
    /// An END line with no open block.
    #[error("line {line}: END without BEGIN")]
    EndWithoutBegin {
        /// 1-based line number.
        line: usize,
    },
    /// Text that is neither whitespace nor inside a block.
    #[error("line {line}: text outside a PEM block")]
    TextOutsideBlock {
        /// 1-based line number.
        line: usize,
    },
    /// The last block has no END line.
    #[error("a PEM block is not closed (missing -----END …-----)")]
    Unclosed,
}

/// A PEM bundle of one or more X.509 certificates, checked when it is made.
///
/// The text is kept as given (trimmed, with one final newline), because it is written to nodes
/// byte for byte.
///
/// ```
/// use registry_core::settings::CaBundle;
/// assert!(CaBundle::parse("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CaBundle {
    pem: String,
    subjects: Vec<String>,
}

impl CaBundle {
    /// Parses and checks a PEM bundle.
    ///
    /// # Errors
    /// [`CaError`] saying which block or line is wrong and why: no certificate at all, a block
    /// that is not a `CERTIFICATE`, bad base64, DER that is not an X.509 certificate, or text
    /// outside the blocks.
    pub fn parse(pem: &str) -> Result<Self, CaError> {
        let text = pem.trim();
        let blocks = split_pem(text)?;
        if blocks.is_empty() {
            return Err(CaError::NoCertificate);
        }
        let mut subjects = Vec::with_capacity(blocks.len());
        for (i, (label, body)) in blocks.into_iter().enumerate() {
            let block = i + 1;
            if label != "CERTIFICATE" {
                return Err(CaError::NotACertificate { block, label });
            }
            let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .map_err(|e| CaError::Base64 {
                    block,
                    reason: e.to_string(),
                })?;
            match x509_parser::parse_x509_certificate(&der) {
                Ok(([], cert)) => subjects.push(cert.subject().to_string()),
                Ok(_) => return Err(CaError::TrailingBytes { block }),
                Err(e) => {
                    return Err(CaError::NotX509 {
                        block,
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(CaBundle {
            pem: format!("{text}\n"),
            subjects,
        })
    }

    /// The PEM text, ending in a newline.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Subjects of the certificates, in order (for messages).
    pub fn subjects(&self) -> &[String] {
        &self.subjects
    }
}

/// Splits PEM text into (label, base64 body) blocks; nothing but whitespace may lie between them.
fn split_pem(text: &str) -> Result<Vec<(String, String)>, CaError> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let line_no = i + 1;
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            if current.is_some() {
                return Err(CaError::NestedBegin { line: line_no });
            }
            current = Some((label.to_owned(), String::new()));
        } else if let Some(label) = line
            .strip_prefix("-----END ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            match current.take() {
                Some((begin, body)) if begin == label => blocks.push((begin, body)),
                Some((begin, _)) => {
                    return Err(CaError::MismatchedEnd {
                        line: line_no,
                        end: label.to_owned(),
                        begin,
                    });
                }
                None => return Err(CaError::EndWithoutBegin { line: line_no }),
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        } else if !line.is_empty() {
            return Err(CaError::TextOutsideBlock { line: line_no });
        }
    }
    if current.is_some() {
        return Err(CaError::Unclosed);
    }
    Ok(blocks)
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaBundle")
            .field("subjects", &self.subjects)
            .finish()
    }
}

impl Serialize for CaBundle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.pem)
    }
}

impl<'de> Deserialize<'de> for CaBundle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pem = String::deserialize(d)?;
        CaBundle::parse(&pem).map_err(serde::de::Error::custom)
    }
}
