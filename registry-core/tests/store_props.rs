//! Property tests: the digest parser and hasher against the `sha2` crate, and random
//! put/delete/tag/lease/gc sequences against a simple in-memory model.
#![allow(clippy::unwrap_used, missing_docs)]

mod store_common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use registry_core::store::*;
use registry_core::wire::ErrorCode;
use store_common::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_and_round_trips(s in "\\PC{0,140}") {
        if let Ok(d) = Digest::parse(&s) {
            prop_assert_eq!(d.to_string(), s.clone());
            prop_assert!(!d.hex().contains(['/', '.', '\0']));
            prop_assert_eq!(d.hex().len(), d.algorithm().hex_len());
        }
    }

    #[test]
    fn near_valid_digests(alg in "(sha256|sha512|sha384|blake3)", hex in "[0-9a-fA-F./]{60,130}") {
        let s = format!("{alg}:{hex}");
        let ok = match alg.as_str() {
            "sha256" => hex.len() == 64,
            "sha512" => hex.len() == 128,
            _ => false,
        } && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        prop_assert_eq!(Digest::parse(&s).is_ok(), ok, "{}", s);
    }

    #[test]
    fn hasher_matches_sha2_for_any_split(data in proptest::collection::vec(any::<u8>(), 0..2000), cuts in proptest::collection::vec(0usize..2000, 0..6)) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
        cuts.sort();
        for alg in Algorithm::ALL {
            let mut h = Hasher::new(alg);
            let mut prev = 0;
            for &c in &cuts {
                h.update(&data[prev..c]);
                h = Hasher::from_state(&h.state()).unwrap();
                prev = c;
            }
            h.update(&data[prev..]);
            let want = if alg == Algorithm::Sha256 { d256(&data) } else { d512(&data) };
            prop_assert_eq!(h.finish(), want);
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Put(usize),
    Delete(usize),
    Tag(usize, usize),
    Untag(usize),
    Lease(usize),
    Release,
    Gc,
    Get(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..POOL).prop_map(Op::Put),
        1 => (0..POOL).prop_map(Op::Delete),
        2 => (0..2usize, 0..3usize).prop_map(|(m, t)| Op::Tag(m, t)),
        1 => (0..3usize).prop_map(Op::Untag),
        1 => (0..POOL).prop_map(Op::Lease),
        1 => Just(Op::Release),
        2 => Just(Op::Gc),
        2 => (0..POOL).prop_map(Op::Get),
    ]
}

const POOL: usize = 8;

/// Blobs 0..6 are plain; 6 and 7 are manifests referencing 0,1 and 2,3 (config + layer).
fn pool() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = (0..6).map(|i| bytes(i, 100 + i as usize)).collect();
    for (c, l) in [(0, 1), (2, 3)] {
        let desc = |b: &Vec<u8>| serde_json::json!({"mediaType": "application/octet-stream", "digest": d256(b).to_string(), "size": b.len()});
        v.push(
            serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": desc(&v[c]),
                "layers": [desc(&v[l])],
            }))
            .unwrap(),
        );
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_agrees_with_a_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions { durability: Durability::Relaxed, gc_grace: Duration::ZERO, ..Default::default() };
        let store = Store::open_with(dir.path(), opts).unwrap();
        let pool = pool();
        let digests: Vec<Digest> = pool.iter().map(|b| d256(b)).collect();
        let refs = |i: usize| -> Vec<usize> { match i { 6 => vec![0, 1], 7 => vec![2, 3], _ => vec![] } };
        let mut present: BTreeSet<usize> = BTreeSet::new();
        let mut tags: BTreeMap<usize, usize> = BTreeMap::new();
        let mut leased: BTreeSet<usize> = BTreeSet::new();
        let mut lease: Option<Lease> = None;
        for op in ops {
            match op {
                Op::Put(i) => {
                    let out = store.put_bytes(&pool[i], None).unwrap();
                    prop_assert_eq!(out.created, !present.contains(&i));
                    present.insert(i);
                }
                Op::Delete(i) => {
                    let r = store.delete(&digests[i]);
                    prop_assert_eq!(r.is_ok(), present.remove(&i));
                }
                Op::Tag(m, t) => {
                    let i = 6 + m;
                    let r = store.tag(&format!("t{t}"), &digests[i]);
                    prop_assert_eq!(r.is_ok(), present.contains(&i));
                    if r.is_ok() { tags.insert(t, i); }
                }
                Op::Untag(t) => {
                    prop_assert_eq!(store.untag(&format!("t{t}")).is_ok(), tags.remove(&t).is_some());
                }
                Op::Lease(i) => {
                    match lease.as_mut() {
                        Some(l) => l.add(&digests[i]).unwrap(),
                        None => lease = Some(store.lease(&[digests[i].clone()], Duration::from_secs(600)).unwrap()),
                    }
                    leased.insert(i);
                }
                Op::Release => {
                    lease = None;
                    leased.clear();
                }
                Op::Gc => {
                    let mut keep: BTreeSet<usize> = leased.clone();
                    for &i in tags.values().chain(leased.iter()) {
                        keep.insert(i);
                        // Only a stored manifest can be followed.
                        if present.contains(&i) {
                            keep.extend(refs(i));
                        }
                    }
                    let mut want: Vec<Digest> = present.iter().filter(|i| !keep.contains(i)).map(|&i| digests[i].clone()).collect();
                    want.sort();
                    let r = store.gc(&GcOptions { grace: Some(Duration::ZERO), dry_run: false }).unwrap();
                    prop_assert_eq!(r.deleted, want);
                    present.retain(|i| keep.contains(i));
                }
                Op::Get(i) => {
                    match store.read(&digests[i]) {
                        Ok(b) => { prop_assert!(present.contains(&i)); prop_assert_eq!(&b, &pool[i]); }
                        Err(e) => { prop_assert!(!present.contains(&i)); prop_assert_eq!(e.code(), ErrorCode::NotFound); }
                    }
                }
            }
            let mut want: Vec<Digest> = present.iter().map(|&i| digests[i].clone()).collect();
            want.sort();
            prop_assert_eq!(store.list().unwrap(), want);
        }
    }
}
