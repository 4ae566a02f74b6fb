//! Fuzz the store's digest parser and resumable hash state: no input may panic, every accepted
//! digest must print back to its input and be a safe file name, and any state that restores
//! must keep hashing consistently.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_core::store::{Algorithm, Digest, HashState, Hasher};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(d) = Digest::parse(s) {
            assert_eq!(d.to_string(), s);
            assert!(
                d.hex()
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert_eq!(d.hex().len(), d.algorithm().hex_len());
        }
    }
    // Arbitrary (mostly inconsistent) saved states must be refused or restore cleanly.
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split(',');
    let state = HashState {
        algorithm: if data.len() % 2 == 0 {
            Algorithm::Sha256
        } else {
            Algorithm::Sha512
        },
        words: parts.by_ref().take(8).map(str::to_owned).collect(),
        length: parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
        pending: parts.next().unwrap_or("").to_owned(),
    };
    if let Some(mut h) = Hasher::from_state(&state) {
        h.update(data);
        let _ = h.finish();
    }
    // Hashing in two pieces with a save/restore in between equals hashing in one go.
    let split = data.first().map_or(0, |&b| b as usize).min(data.len());
    for alg in Algorithm::ALL {
        let mut h = Hasher::new(alg);
        h.update(&data[..split]);
        let mut h = Hasher::from_state(&h.state()).expect("own state restores");
        h.update(&data[split..]);
        assert_eq!(h.finish(), Digest::of(alg, data));
    }
});
