//! The environment a reconcile step runs in: the clock, the random source and the bcrypt seam.
//!
//! Everything a step does that is not a function of its inputs comes from here, so a test that
//! fixes the clock and seeds the generator gets the same step every time. Production seeds a
//! ChaCha20 CSPRNG from the operating system ([`Env::from_os`]).

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng as _};
use sha2::{Digest as _, Sha256};

use super::time::Timestamp;

/// bcrypt's cost: Go's `bcrypt.DefaultCost`, which the upstream module uses.
pub const BCRYPT_DEFAULT_COST: u32 = 10;

/// The clock, the random source and the password-hashing seam of reconcile steps.
///
/// Keep one `Env` for the life of the operator process: it remembers which (password, hash)
/// pairs and which certificates it has already checked, so a steady-state step does no bcrypt
/// and no signature work at all. The memory changes only how much work a step does, never what
/// it returns (validity periods are still compared with the clock on every step).
///
/// ```
/// use registry_core::orchestrator::{Env, Timestamp};
/// let mut env = Env::seeded(7, Timestamp::from_unix(1_700_000_000));
/// let a = env.random_string(16);
/// let b = Env::seeded(7, Timestamp::from_unix(1_700_000_000)).random_string(16);
/// assert_eq!(a.expose(), b.expose());
/// assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric()));
/// ```
pub struct Env {
    now: Timestamp,
    rng: ChaCha20Rng,
    bcrypt_cost: u32,
    bcrypt_calls: Cell<u64>,
    pub(crate) memory: Memory,
}

/// What an [`Env`] remembers of material it has checked: digests of verified (password, hash)
/// pairs, checked certificates with their validity periods, and decoded CAs. It holds no
/// secret and changes only how much work a step does, never what it returns. Move it from one
/// environment to the next ([`Env::into_memory`], [`Env::with_memory`]) when an environment
/// cannot live across steps, as `wire::reconcile` does.
#[derive(Default)]
pub struct Memory {
    verified: BTreeSet<[u8; 32]>,
    /// Certificates already checked (by a digest of certificate, key, issuer and expected
    /// names), with their validity period: a later step only compares the clock.
    pub(crate) checked_certs: BTreeMap<[u8; 32], (i64, i64)>,
    /// CAs already decoded and checked, by a digest of certificate and key.
    pub(crate) decoded_cas: BTreeMap<[u8; 32], super::pki::Ca>,
}

impl Memory {
    /// Entries kept of each kind; beyond it a kind starts afresh (a cluster has a handful of
    /// users and certificates, so only churn reaches it).
    const LIMIT: usize = 1024;

    /// Forgets a kind that grew past its limit (1024 entries).
    pub fn bound(&mut self) {
        if self.verified.len() > Self::LIMIT {
            self.verified.clear();
        }
        if self.checked_certs.len() > Self::LIMIT {
            self.checked_certs.clear();
        }
        if self.decoded_cas.len() > Self::LIMIT {
            self.decoded_cas.clear();
        }
    }
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("verified", &self.verified.len())
            .field("checked_certs", &self.checked_certs.len())
            .field("decoded_cas", &self.decoded_cas.len())
            .finish()
    }
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("now", &self.now)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("bcrypt_calls", &self.bcrypt_calls.get())
            .finish_non_exhaustive()
    }
}

/// The alphabet of generated passwords and the HTTP secret.
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl Env {
    /// Production: a ChaCha20 CSPRNG seeded from the operating system, bcrypt at the default
    /// cost, the clock set to `now`.
    ///
    /// # Errors
    /// The operating system's random source failed.
    pub fn from_os(now: Timestamp) -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(Env::with_rng(ChaCha20Rng::from_seed(seed), now))
    }

    /// Tests and simulations: a generator seeded with `seed`, so every step is reproducible.
    pub fn seeded(seed: u64, now: Timestamp) -> Self {
        Env::with_rng(ChaCha20Rng::seed_from_u64(seed), now)
    }

    fn with_rng(rng: ChaCha20Rng, now: Timestamp) -> Self {
        Env {
            now,
            rng,
            bcrypt_cost: BCRYPT_DEFAULT_COST,
            bcrypt_calls: Cell::new(0),
            memory: Memory::default(),
        }
    }

    /// The same environment with what another one remembered.
    pub fn with_memory(mut self, memory: Memory) -> Self {
        self.memory = memory;
        self
    }

    /// What this environment remembered, for the next one.
    pub fn into_memory(self) -> Memory {
        self.memory
    }

    /// The same environment with another bcrypt cost (4 to 31); tests use 4 to stay fast.
    pub fn with_bcrypt_cost(mut self, cost: u32) -> Self {
        self.bcrypt_cost = cost.clamp(4, 31);
        self
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Moves the clock (the operator sets it before each step).
    pub fn set_now(&mut self, now: Timestamp) {
        self.now = now;
    }

    /// How many bcrypt hashes and verifications this environment has computed.
    pub fn bcrypt_calls(&self) -> u64 {
        self.bcrypt_calls.get()
    }

    /// The random generator, for key generation.
    pub(crate) fn rng(&mut self) -> &mut ChaCha20Rng {
        &mut self.rng
    }

    /// `len` characters from `[a-zA-Z0-9]`, uniformly (rejection sampling, no modulo bias).
    pub fn random_string(&mut self, len: usize) -> crate::settings::Secret {
        let mut out = String::with_capacity(len);
        while out.len() < len {
            let byte = (self.rng.next_u32() & 0xff) as u8;
            // 248 = 4 × 62: bytes at or above it would favour the first characters.
            if byte < 248 {
                out.push(char::from(
                    ALPHANUMERIC[usize::from(byte) % ALPHANUMERIC.len()],
                ));
            }
        }
        crate::settings::Secret::new(out)
    }

    /// `n` random bytes.
    pub(crate) fn random_bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.rng.fill_bytes(&mut out);
        out
    }

    /// A bcrypt hash of `password` (`$2a$`, as Go writes it), with a salt from the generator.
    pub(crate) fn bcrypt_hash(&mut self, password: &str) -> String {
        let salt = self.random_bytes::<16>();
        self.bcrypt_calls.set(self.bcrypt_calls.get() + 1);
        let hash = match bcrypt::hash_with_salt(password, self.bcrypt_cost, salt) {
            Ok(parts) => parts.format_for_version(bcrypt::Version::TwoA),
            // Unreachable with a clamped cost and a password under bcrypt's limit; an empty
            // hash fails every later check, so the user is regenerated next step.
            Err(_) => String::new(),
        };
        self.memory.verified.insert(fingerprint(password, &hash));
        hash
    }

    /// Whether `hash` is a bcrypt hash of `password`; remembered, so each pair costs one check
    /// per process.
    pub(crate) fn bcrypt_matches(&mut self, password: &str, hash: &str) -> bool {
        let key = fingerprint(password, hash);
        if self.memory.verified.contains(&key) {
            return true;
        }
        self.bcrypt_calls.set(self.bcrypt_calls.get() + 1);
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            self.memory.verified.insert(key);
        }
        ok
    }
}

/// A digest of length-prefixed parts, so memories of checked material hold no secret.
pub(crate) fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// A digest of a (password, hash) pair, so the memory of checked pairs holds no password.
fn fingerprint(password: &str, hash: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((password.len() as u64).to_le_bytes());
    h.update(password.as_bytes());
    h.update(hash.as_bytes());
    h.finalize().into()
}
