//! Digests: the strict OCI digest grammar for the algorithms the store supports (sha256, sha512),
//! and a streaming hasher whose internal state can be saved and restored, so a resumed upload
//! never re-reads bytes it already hashed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::block_api::{compress256, compress512};

use crate::store::message::printable;

/// A digest algorithm the store can verify and store under `blobs/<algorithm>/`.
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
)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// SHA-256: 64 lowercase hex characters. Mandatory in OCI.
    Sha256,
    /// SHA-512: 128 lowercase hex characters.
    Sha512,
}

impl Algorithm {
    /// All supported algorithms, in the order the store walks them.
    pub const ALL: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Sha512];

    /// The algorithm's name as written in digests and in `blobs/<name>/`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex-encoded part of a digest of this algorithm.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// Looks up an algorithm by its name (`sha256`, `sha512`).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    fn block_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A content digest such as `sha256:e3b0c442…b855`, validated against the OCI digest grammar.
///
/// Only sha256 and sha512 are accepted, the encoded part must be exactly as long as the algorithm
/// demands and lowercase hex, so a `Digest` can always be turned into a path below the store root
/// without escaping it.
///
/// ```
/// use registry_core::store::{Algorithm, Digest};
/// let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse()?;
/// assert_eq!(d.algorithm(), Algorithm::Sha256);
/// assert!("sha256:../../etc/passwd".parse::<Digest>().is_err());
/// # Ok::<(), registry_core::store::DigestError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: Box<str>,
}

impl Digest {
    /// Parses a digest string strictly (see the type documentation).
    pub fn parse(input: &str) -> Result<Digest, DigestError> {
        let invalid = |reason: &'static str| DigestError {
            input: printable(input),
            reason,
        };
        let (alg, encoded) = input
            .split_once(':')
            .ok_or_else(|| invalid("missing ':' between algorithm and encoded part"))?;
        if !algorithm_grammar_ok(alg) {
            return Err(invalid("algorithm does not match the OCI digest grammar"));
        }
        if encoded.is_empty()
            || !encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
        {
            return Err(invalid(
                "encoded part does not match the OCI digest grammar",
            ));
        }
        let algorithm = Algorithm::from_name(alg)
            .ok_or_else(|| invalid("unsupported algorithm (only sha256 and sha512)"))?;
        if encoded.len() != algorithm.hex_len() {
            return Err(invalid(
                "encoded part has the wrong length for its algorithm",
            ));
        }
        if !encoded
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(invalid("encoded part must be lowercase hex"));
        }
        Ok(Digest {
            algorithm,
            hex: encoded.into(),
        })
    }

    /// Builds a digest from an algorithm and the raw hash output.
    pub fn from_raw(algorithm: Algorithm, raw: &[u8]) -> Digest {
        Digest {
            algorithm,
            hex: to_hex(raw).into_boxed_str(),
        }
    }

    /// Computes the digest of `bytes` in one go.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(algorithm);
        h.update(bytes);
        h.finish()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex encoded part (also the blob's file name).
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// A string that is not a valid, supported digest. Converts into
/// [`StoreError::InvalidDigest`](crate::store::StoreError::InvalidDigest).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {input:?}: {reason}")]
pub struct DigestError {
    /// The input (control characters escaped, shortened).
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl DigestError {}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `algorithm-component ("+" | "." | "_" | "-") …`: lowercase alphanumerics separated by single
/// separators, neither leading nor trailing.
fn algorithm_grammar_ok(alg: &str) -> bool {
    let mut prev_sep = true;
    for b in alg.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => prev_sep = false,
            b'+' | b'.' | b'_' | b'-' if !prev_sep => prev_sep = true,
            _ => return false,
        }
    }
    !prev_sep
}

/// Lowercase hex sha256 of `data`: the one sha256-hex of the crate (node config versions,
/// file hashes, the orchestrator's versions).
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    to_hex(&sha2::Sha256::digest(data))
}

/// sha256 (hex) of a value's JSON form, hashed as it is written (no buffer of the whole text).
pub(crate) fn sha256_hex_of_json<T: serde::Serialize>(value: &T) -> String {
    struct Hashing(sha2::Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            sha2::Digest::update(&mut self.0, buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = std::io::BufWriter::with_capacity(64 << 10, Hashing(sha2::Sha256::default()));
    // Serializing plain data into a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut h, value);
    match h.into_inner() {
        Ok(Hashing(done)) => to_hex(&sha2::Digest::finalize(done)),
        Err(_) => String::new(),
    }
}

pub(crate) fn to_hex(raw: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(raw.len() * 2);
    for b in raw {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

pub(crate) fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let nib = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| Some(nib(p[0])? << 4 | nib(p[1])?))
        .collect()
}

#[derive(Clone)]
enum Words {
    Sha256([u32; 8]),
    Sha512([u64; 8]),
}

const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const SHA512_IV: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

/// A streaming SHA-256/SHA-512 hasher over the `sha2` compression functions (which pick SHA-NI or
/// AVX2 at run time). Unlike `sha2::Sha256`, its whole state is plain data ([`HashState`]) that an
/// upload saves next to its data file and restores on resume.
#[derive(Clone)]
pub struct Hasher {
    words: Words,
    buf: [u8; 128],
    buf_len: usize,
    len: u64,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("algorithm", &self.algorithm())
            .field("len", &self.len)
            .finish()
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Hasher {
        Hasher {
            words: match algorithm {
                Algorithm::Sha256 => Words::Sha256(SHA256_IV),
                Algorithm::Sha512 => Words::Sha512(SHA512_IV),
            },
            buf: [0; 128],
            buf_len: 0,
            len: 0,
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self.words {
            Words::Sha256(_) => Algorithm::Sha256,
            Words::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True if nothing was hashed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn compress(&mut self, blocks: &[u8]) {
        match &mut self.words {
            Words::Sha256(w) => {
                let (chunks, _) = blocks.as_chunks::<64>();
                compress256(w, chunks);
            }
            Words::Sha512(w) => {
                let (chunks, _) = blocks.as_chunks::<128>();
                compress512(w, chunks);
            }
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        let bl = self.algorithm().block_len();
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.buf_len > 0 {
            let take = (bl - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < bl {
                return;
            }
            let block = self.buf;
            self.compress(&block[..bl]);
            self.buf_len = 0;
        }
        let whole = data.len() / bl * bl;
        if whole > 0 {
            self.compress(&data[..whole]);
        }
        let rest = &data[whole..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    /// Finishes and returns the digest.
    pub fn finish(mut self) -> Digest {
        let alg = self.algorithm();
        let bl = alg.block_len();
        let len_bytes = if bl == 64 { 8 } else { 16 };
        let bit_len = u128::from(self.len) * 8;
        let mut tail = [0u8; 256];
        let n = self.buf_len;
        tail[..n].copy_from_slice(&self.buf[..n]);
        tail[n] = 0x80;
        let total = if n + 1 + len_bytes <= bl { bl } else { 2 * bl };
        let be = bit_len.to_be_bytes();
        tail[total - len_bytes..total].copy_from_slice(&be[16 - len_bytes..]);
        self.compress(&tail[..total]);
        let mut out = Vec::with_capacity(64);
        match self.words {
            Words::Sha256(w) => w
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
            Words::Sha512(w) => w
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
        }
        Digest::from_raw(alg, &out)
    }

    /// The state as plain data, to be persisted.
    pub fn state(&self) -> HashState {
        let words = match &self.words {
            Words::Sha256(w) => w.iter().map(|x| format!("{x:08x}")).collect(),
            Words::Sha512(w) => w.iter().map(|x| format!("{x:016x}")).collect(),
        };
        HashState {
            algorithm: self.algorithm(),
            words,
            length: self.len,
            pending: to_hex(&self.buf[..self.buf_len]),
        }
    }

    /// Restores a hasher from a saved state; `None` if the state is inconsistent.
    pub fn from_state(state: &HashState) -> Option<Hasher> {
        let alg = state.algorithm;
        if state.words.len() != 8 {
            return None;
        }
        let pending = from_hex(&state.pending)?;
        let bl = alg.block_len() as u64;
        if pending.len() as u64 != state.length % bl {
            return None;
        }
        let words = match alg {
            Algorithm::Sha256 => {
                let mut w = [0u32; 8];
                for (slot, s) in w.iter_mut().zip(&state.words) {
                    *slot = u32::from_str_radix(s, 16).ok()?;
                }
                Words::Sha256(w)
            }
            Algorithm::Sha512 => {
                let mut w = [0u64; 8];
                for (slot, s) in w.iter_mut().zip(&state.words) {
                    *slot = u64::from_str_radix(s, 16).ok()?;
                }
                Words::Sha512(w)
            }
        };
        let mut buf = [0u8; 128];
        buf[..pending.len()].copy_from_slice(&pending);
        Some(Hasher {
            words,
            buf,
            buf_len: pending.len(),
            len: state.length,
        })
    }
}

/// The saved state of a [`Hasher`]: the chaining words, the byte count and the bytes of the
/// unfinished block. Stable JSON shape, stored by resumable uploads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HashState {
    /// Algorithm.
    pub algorithm: Algorithm,
    /// The eight chaining words, hex.
    pub words: Vec<String>,
    /// Bytes hashed so far.
    pub length: u64,
    /// Bytes of the unfinished block, hex.
    pub pending: String,
}
