//! CA bundles: one or more PEM `CERTIFICATE` blocks, each a well-formed X.509 certificate.

use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    /// A message saying which block is wrong and why: no certificate at all, a block that is
    /// not a `CERTIFICATE`, bad base64, DER that is not an X.509 certificate, or text outside
    /// the blocks.
    pub fn parse(pem: &str) -> Result<Self, String> {
        let text = pem.trim();
        let blocks = split_pem(text)?;
        if blocks.is_empty() {
            return Err("no PEM certificate found (expected -----BEGIN CERTIFICATE-----)".into());
        }
        let mut subjects = Vec::with_capacity(blocks.len());
        for (i, (label, body)) in blocks.iter().enumerate() {
            let n = i + 1;
            if label != "CERTIFICATE" {
                return Err(format!(
                    "PEM block {n} is a {label:?}, expected a CERTIFICATE"
                ));
            }
            let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .map_err(|e| format!("PEM block {n} is not valid base64: {e}"))?;
            match x509_parser::parse_x509_certificate(&der) {
                Ok(([], cert)) => subjects.push(cert.subject().to_string()),
                Ok(_) => {
                    return Err(format!(
                        "PEM block {n} has trailing bytes after the certificate"
                    ));
                }
                Err(e) => return Err(format!("PEM block {n} is not an X.509 certificate: {e}")),
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
fn split_pem(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let n = i + 1;
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            if current.is_some() {
                return Err(format!("line {n}: BEGIN inside another PEM block"));
            }
            current = Some((label.to_owned(), String::new()));
        } else if let Some(label) = line
            .strip_prefix("-----END ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            match current.take() {
                Some((begin, body)) if begin == label => blocks.push((begin, body)),
                Some((begin, _)) => {
                    return Err(format!("line {n}: END {label:?} closes BEGIN {begin:?}"));
                }
                None => return Err(format!("line {n}: END without BEGIN")),
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        } else if !line.is_empty() {
            return Err(format!("line {n}: text outside a PEM block"));
        }
    }
    if current.is_some() {
        return Err("a PEM block is not closed (missing -----END …-----)".into());
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
