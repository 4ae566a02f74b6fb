//! Store behaviour: digests, put/get, mismatches, uploads, tags, concurrency, GC, scrub,
//! completeness, replica sync, quota. Expected digests come from the `sha2` crate or from
//! published test vectors, never from the store.
#![allow(clippy::unwrap_used, missing_docs)]

mod store_common;

use std::io::{Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use registry_core::store::*;
use registry_core::wire::ErrorCode;
use store_common::*;

const EMPTY_SHA256: &str =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ABC_SHA256: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const ABC_SHA512: &str = "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    (dir, s)
}

#[test]
fn known_vectors() {
    assert_eq!(Digest::of(Algorithm::Sha256, b"").to_string(), EMPTY_SHA256);
    assert_eq!(
        Digest::of(Algorithm::Sha256, b"abc").to_string(),
        ABC_SHA256
    );
    assert_eq!(
        Digest::of(Algorithm::Sha512, b"abc").to_string(),
        ABC_SHA512
    );
    // FIPS 180-2 two-block message.
    let m = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_eq!(
        Digest::of(Algorithm::Sha256, m).hex(),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
}

#[test]
fn streaming_hasher_matches_sha2_at_every_split() {
    let data = bytes(7, 1000);
    for split in [0, 1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 500, 1000] {
        for alg in Algorithm::ALL {
            let mut h = Hasher::new(alg);
            h.update(&data[..split]);
            // Save and restore mid-stream, as a resumed upload does.
            let mut h = Hasher::from_state(&h.state()).unwrap();
            h.update(&data[split..]);
            let want = if alg == Algorithm::Sha256 {
                d256(&data)
            } else {
                d512(&data)
            };
            assert_eq!(h.finish(), want, "alg {alg} split {split}");
        }
    }
}

#[test]
fn digest_parsing_is_strict() {
    let hex64 = "a".repeat(64);
    for bad in [
        "".to_string(),
        "sha256".into(),
        format!("sha256:{}", "A".repeat(64)),
        format!("sha256:{}", "a".repeat(63)),
        format!("sha256:{}", "a".repeat(65)),
        format!("sha512:{hex64}"),
        format!("md5:{hex64}"),
        format!("SHA256:{hex64}"),
        "sha256:../../../../etc/passwd".into(),
        format!("sha256:{}/x", "a".repeat(62)),
        format!("sha256:{}\0", "a".repeat(63)),
        format!("sha256::{hex64}"),
        format!("+sha256:{hex64}"),
        format!("sha256 :{hex64}"),
    ] {
        let e = Digest::parse(&bad).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidDigest, "{bad:?}");
    }
    let d = Digest::parse(&format!("sha256:{hex64}")).unwrap();
    assert_eq!(d.hex(), hex64);
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(json, format!("\"sha256:{hex64}\""));
    assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
}

#[test]
fn open_creates_a_valid_empty_layout() {
    let (dir, store) = open();
    let layout: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["manifests"], serde_json::json!([]));
    assert!(store.list().unwrap().is_empty());
    // Reopening an existing store keeps it.
    Store::open(dir.path()).unwrap();
}

#[test]
fn open_refuses_a_foreign_layout_version() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"2.0.0"}"#,
    )
    .unwrap();
    assert_eq!(
        Store::open(dir.path()).unwrap_err().code(),
        ErrorCode::InvalidLayout
    );
}

#[test]
fn put_get_stat_range() {
    let (dir, store) = open();
    let data = bytes(1, 3 << 20);
    let want = d256(&data);
    let out = store.put_bytes(&data, Some(&want)).unwrap();
    assert_eq!(
        out,
        PutOutcome {
            digest: want.clone(),
            size: data.len() as u64,
            created: true
        }
    );
    assert_eq!(
        std::fs::read(dir.path().join("blobs/sha256").join(want.hex())).unwrap(),
        data
    );
    assert_eq!(store.read(&want).unwrap(), data);
    let st = store.stat(&want).unwrap();
    assert_eq!(st.size, data.len() as u64);
    assert_eq!(st.digest, want);
    let mut r = store.open_blob(&want).unwrap().range(1000, 10).unwrap();
    let mut part = Vec::new();
    r.read_to_end(&mut part).unwrap();
    assert_eq!(part, &data[1000..1010]);
    let mut r = store.open_blob(&want).unwrap();
    r.seek(SeekFrom::Start(data.len() as u64 - 5)).unwrap();
    let mut tail = Vec::new();
    r.read_to_end(&mut tail).unwrap();
    assert_eq!(tail, &data[data.len() - 5..]);
    let mut buf = [0u8; 4];
    assert_eq!(
        store
            .open_blob(&want)
            .unwrap()
            .read_at(&mut buf, 7)
            .unwrap(),
        4
    );
    assert_eq!(buf, data[7..11]);
    assert_eq!(store.list().unwrap(), vec![want.clone()]);
    assert!(tmp_files(dir.path()).is_empty());
}

#[test]
fn sha512_blobs_live_in_their_own_folder() {
    let (dir, store) = open();
    let want = d512(b"abc");
    assert_eq!(want.to_string(), ABC_SHA512);
    store.put_bytes(b"abc", Some(&want)).unwrap();
    assert!(dir.path().join("blobs/sha512").join(want.hex()).is_file());
}

#[test]
fn mismatch_leaves_nothing_and_says_what() {
    let (dir, store) = open();
    let wrong = d256(b"something else");
    let e = store.put_bytes(b"payload", Some(&wrong)).unwrap_err();
    match &e {
        StoreError::DigestMismatch {
            expected,
            actual,
            actual_size,
            ..
        } => {
            assert_eq!(expected, &wrong);
            assert_eq!(actual, &d256(b"payload"));
            assert_eq!(*actual_size, 7);
        }
        other => panic!("unexpected {other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains(&wrong.to_string()) && msg.contains(&d256(b"payload").to_string()),
        "{msg}"
    );
    assert!(!store.has(&wrong).unwrap() && !store.has(&d256(b"payload")).unwrap());
    assert!(tmp_files(dir.path()).is_empty());
    // Right digest, wrong size.
    let e = store
        .put_sized(&mut &b"payload"[..], Some(&d256(b"payload")), Some(8))
        .unwrap_err();
    assert!(matches!(
        e,
        StoreError::DigestMismatch {
            expected_size: Some(8),
            actual_size: 7,
            ..
        }
    ));
    assert!(!store.has(&d256(b"payload")).unwrap());
}

#[test]
fn second_put_reports_already_exists() {
    let (_d, store) = open();
    assert!(store.put_bytes(b"x", None).unwrap().created);
    assert!(!store.put_bytes(b"x", None).unwrap().created);
    let mut w = store.writer(Algorithm::Sha256).unwrap();
    w.write_bytes(b"x").unwrap();
    assert!(!w.commit(None, None).unwrap().created);
}

#[test]
fn dropped_writer_leaves_nothing() {
    let (dir, store) = open();
    let mut w = store.writer(Algorithm::Sha256).unwrap();
    w.write_bytes(&bytes(3, 10 << 20)).unwrap();
    drop(w);
    assert!(tmp_files(dir.path()).is_empty());
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn many_threads_one_blob_first_wins() {
    let (dir, store) = open();
    let data = Arc::new(bytes(9, 6 << 20));
    let n = 8;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (store, data, barrier) = (store.clone(), data.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store.put_bytes(&data, None).unwrap()
            })
        })
        .collect();
    let outs: Vec<PutOutcome> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(outs.iter().filter(|o| o.created).count(), 1);
    assert!(outs.iter().all(|o| o.digest == d256(&data)));
    assert_eq!(all_blobs_valid(dir.path()), Ok(1));
    assert!(tmp_files(dir.path()).is_empty());
}

#[test]
fn many_threads_many_blobs() {
    let (dir, store) = open();
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50u64 {
                    // Overlapping keys across threads: half the blobs are shared.
                    let b = bytes(i % 25 + if i % 2 == 0 { 0 } else { t * 1000 }, 4096);
                    store.put_bytes(&b, Some(&d256(&b))).unwrap();
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let n = all_blobs_valid(dir.path()).unwrap();
    assert_eq!(n, store.list().unwrap().len());
}

#[test]
fn upload_survives_reopen_and_resumes_without_rereading() {
    let dir = tempfile::tempdir().unwrap();
    let part1 = bytes(11, 5 << 20);
    let part2 = bytes(12, 1234);
    let id = {
        let store = Store::open(dir.path()).unwrap();
        let mut up = store.begin_upload(Algorithm::Sha256).unwrap();
        up.write_bytes(&part1).unwrap();
        up.save().unwrap();
        up.upload_id().unwrap().clone()
        // Dropped without commit, like a process that goes away.
    };
    let store = Store::open(dir.path()).unwrap();
    let ups = store.uploads().unwrap();
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].size, part1.len() as u64);
    assert!(!ups[0].active);
    // The saved state must already cover the data: corrupting the data file's start would go
    // unnoticed only if the resume did not re-read it.
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            dir.path()
                .join(".registry-store/uploads")
                .join(format!("{id}.json")),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(state["hash"]["length"], part1.len() as u64);
    let state_len = std::fs::metadata(
        dir.path()
            .join(".registry-store/uploads")
            .join(format!("{id}.json")),
    )
    .unwrap()
    .len();
    let (up, reread) = bytes_read_by(|| store.resume_upload(&id).unwrap());
    let mut up = up;
    // The resume reads the saved state and nothing of the 5 MiB of data (slack for the
    // counter's own read of /proc).
    assert!(
        reread <= state_len + 4096,
        "resume read {reread} bytes; the state file is {state_len}"
    );
    assert_eq!(up.written(), part1.len() as u64);
    // Held by a writer: a second resume is refused.
    assert_eq!(
        store.resume_upload(&id).unwrap_err().code(),
        ErrorCode::Locked
    );
    up.write_bytes(&part2).unwrap();
    let mut all = part1.clone();
    all.extend_from_slice(&part2);
    let d = up
        .commit(Some(&d256(&all)), Some(all.len() as u64))
        .unwrap()
        .digest;
    assert_eq!(d, d256(&all));
    assert!(store.uploads().unwrap().is_empty());
    assert_eq!(store.read(&d).unwrap(), all);
}

#[test]
fn upload_tail_written_after_last_save_is_hashed_on_resume() {
    let (dir, store) = open();
    let mut up = store.begin_upload(Algorithm::Sha256).unwrap();
    up.write_bytes(b"hello ").unwrap();
    up.save().unwrap();
    let id = up.upload_id().unwrap().clone();
    drop(up);
    // Simulate a crash after more data hit the file but before the state was saved.
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(
            dir.path()
                .join(".registry-store/uploads")
                .join(format!("{id}.data")),
        )
        .unwrap();
    let tail = bytes(13, 1 << 20);
    f.write_all(&tail).unwrap();
    drop(f);
    let (up, reread) = bytes_read_by(|| store.resume_upload(&id).unwrap());
    // Exactly the unsaved tail is read again (plus the small state file), not the saved part.
    let tail_len = tail.len() as u64;
    assert!(
        (tail_len..tail_len + 8192).contains(&reread),
        "resume read {reread} bytes for a {tail_len}-byte tail"
    );
    let mut all = b"hello ".to_vec();
    all.extend_from_slice(&tail);
    assert_eq!(up.written(), all.len() as u64);
    assert_eq!(
        up.commit(Some(&d256(&all)), None).unwrap().digest,
        d256(&all)
    );
}

/// Bytes this thread read through `read(2)` and friends while `f` ran, as the kernel counts them
/// (`rchar` in `/proc/thread-self/io`): an independent count of everything `f` read from files.
fn bytes_read_by<T>(f: impl FnOnce() -> T) -> (T, u64) {
    fn rchar() -> u64 {
        let io = std::fs::read_to_string("/proc/thread-self/io")
            .expect("this test needs Linux task I/O accounting (/proc/thread-self/io)");
        io.lines()
            .find_map(|l| l.strip_prefix("rchar: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("an rchar line")
    }
    let before = rchar();
    let out = f();
    (out, rchar() - before)
}

#[test]
fn upload_abort_and_expiry() {
    let (_d, store) = open();
    let mut up = store.begin_upload(Algorithm::Sha256).unwrap();
    up.write_bytes(b"abc").unwrap();
    let id = up.upload_id().unwrap().clone();
    up.close().unwrap();
    store.abort_upload(&id).unwrap();
    assert_eq!(
        store.resume_upload(&id).unwrap_err().code(),
        ErrorCode::NotFound
    );
    let up = store.begin_upload(Algorithm::Sha256).unwrap();
    let live = up.upload_id().unwrap().clone();
    // A live (locked) upload is never expired, however old.
    assert_eq!(store.expire_uploads(Duration::ZERO).unwrap(), 0);
    up.close().unwrap();
    assert_eq!(store.expire_uploads(Duration::from_secs(3600)).unwrap(), 0);
    assert_eq!(store.expire_uploads(Duration::ZERO).unwrap(), 1);
    assert_eq!(
        store.resume_upload(&live).unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        UploadId::parse("../../etc").unwrap_err().code(),
        ErrorCode::NotFound
    );
}

#[test]
fn tags_are_written_to_index_json() {
    let (dir, store) = open();
    let img = image(1, 2, 1000);
    store_image(&store, &img, "v1");
    store_image(&store, &img, "deckhouse/ee:v1.60");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let m = index["manifests"].as_array().unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0]["digest"], img.manifest_digest.to_string());
    assert_eq!(m[0]["size"], img.manifest.len());
    assert_eq!(
        m[0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(store.resolve("v1").unwrap(), img.manifest_digest);
    // Re-tagging moves the tag instead of duplicating it.
    let img2 = image(2, 1, 10);
    store_image(&store, &img2, "v1");
    assert_eq!(store.resolve("v1").unwrap(), img2.manifest_digest);
    assert_eq!(store.tags().unwrap().len(), 2);
    store.untag("v1").unwrap();
    assert_eq!(store.untag("v1").unwrap_err().code(), ErrorCode::NotFound);
    for bad in ["", "../x", "a//b", "-a", "a\nb", "a b"] {
        assert_eq!(
            store.tag(bad, &img.manifest_digest).unwrap_err().code(),
            ErrorCode::InvalidTag,
            "{bad:?}"
        );
    }
    // Only manifests can be tagged.
    assert_eq!(
        store
            .tag("layer", &img.layer_digests[0])
            .unwrap_err()
            .code(),
        ErrorCode::InvalidManifest
    );
    assert_eq!(
        store.tag("nope", &d256(b"absent")).unwrap_err().code(),
        ErrorCode::NotFound
    );
}

#[test]
fn corrupt_blob_fails_reads_and_scrub_quarantines_it() {
    let (dir, store) = open();
    let good = store.put_bytes(b"good blob", None).unwrap().digest;
    let bad = store.put_bytes(b"blob to corrupt", None).unwrap().digest;
    let path = dir.path().join("blobs/sha256").join(bad.hex());
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::write(&path, b"blob to corrupX").unwrap();
    let e = store.read(&bad).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Corrupt);
    assert!(e.to_string().contains(&bad.to_string()), "{e}");
    assert!(
        e.to_string()
            .contains(&d256(b"blob to corrupX").to_string()),
        "{e}"
    );
    std::fs::write(dir.path().join("blobs/sha256/not-a-digest"), b"x").unwrap();
    std::fs::create_dir(dir.path().join("blobs/md5")).unwrap();

    let mut events = 0;
    let mut cb = |_: &Progress| {
        events += 1;
        ControlFlow::Continue(())
    };
    let report = store
        .scrub(WithProgress::new(ScrubOptions::default(), Some(&mut cb)))
        .unwrap();
    assert!(events > 0);
    assert_eq!(report.checked, 2);
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.corrupt[0].digest, bad);
    assert_eq!(report.corrupt[0].actual, Some(d256(b"blob to corrupX")));
    let q = report.corrupt[0].quarantined_to.as_ref().unwrap();
    assert_eq!(
        std::fs::read(dir.path().join(q)).unwrap(),
        b"blob to corrupX"
    );
    let foreign: Vec<&str> = report.foreign.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(foreign, vec!["blobs/md5", "blobs/sha256/not-a-digest"]);
    assert!(!store.has(&bad).unwrap());
    assert!(store.has(&good).unwrap());
    assert!(store.scrub(ScrubOptions::default()).unwrap().is_clean());
    // A re-push heals it.
    assert!(store.put_bytes(b"blob to corrupt", None).unwrap().created);
}

#[test]
fn repush_replaces_a_wrong_size_blob() {
    let (dir, store) = open();
    let d = d256(b"0123456789");
    std::fs::write(dir.path().join("blobs/sha256").join(d.hex()), b"01234").unwrap();
    let out = store.put_bytes(b"0123456789", Some(&d)).unwrap();
    assert!(out.created);
    assert_eq!(store.read(&d).unwrap(), b"0123456789");
}

#[test]
fn gc_keeps_tagged_leased_and_young() {
    let (_d, store) = open();
    let img = image(3, 2, 2000);
    store_image(&store, &img, "keep");
    let orphan = store.put_bytes(b"orphan", None).unwrap().digest;
    let leased = store.put_bytes(b"leased", None).unwrap().digest;
    let lease = store
        .lease(std::slice::from_ref(&leased), Duration::from_secs(600))
        .unwrap();

    // With the default grace everything is young.
    let r = store.gc(GcOptions::default()).unwrap();
    assert!(r.deleted.is_empty());

    let now = GcOptions {
        grace: Some(Duration::ZERO),
        dry_run: true,
    };
    let r = store.gc(&now).unwrap();
    assert_eq!(r.deleted, vec![orphan.clone()]);
    assert!(store.has(&orphan).unwrap(), "dry run deletes nothing");

    let now = GcOptions {
        grace: Some(Duration::ZERO),
        dry_run: false,
    };
    let r = store.gc(&now).unwrap();
    assert_eq!(r.deleted, vec![orphan.clone()]);
    assert_eq!(r.deleted_bytes, 6);
    assert!(!store.has(&orphan).unwrap());
    for d in img.blobs.keys() {
        assert!(store.has(&d.parse().unwrap()).unwrap());
    }
    drop(lease);
    let r = store.gc(&now).unwrap();
    assert_eq!(r.deleted, vec![leased]);
    store.untag("keep").unwrap();
    let r = store.gc(&now).unwrap();
    assert_eq!(r.deleted.len(), img.blobs.len());
}

#[test]
fn gc_follows_indexes_and_keeps_blobs_of_young_manifests() {
    let (_d, store) = open();
    let a = image(4, 1, 100);
    let b = image(5, 1, 100);
    for img in [&a, &b] {
        for (d, bytes) in &img.blobs {
            store.put_bytes(bytes, Some(&d.parse().unwrap())).unwrap();
        }
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": a.manifest_digest.to_string(), "size": a.manifest.len(),
             "platform": {"architecture": "amd64", "os": "linux"}},
        ]
    }))
    .unwrap();
    let idx = store.put_bytes(&index, None).unwrap().digest;
    store.tag("multi", &idx).unwrap();
    let r = store
        .gc(&GcOptions {
            grace: Some(Duration::ZERO),
            dry_run: false,
        })
        .unwrap();
    let mut want: Vec<Digest> = b.blobs.keys().map(|d| d.parse().unwrap()).collect();
    want.sort();
    assert_eq!(r.deleted, want);
    assert!(store.completeness(&["multi".into()]).unwrap().complete);
}

#[test]
fn cache_expiry_keeps_what_recently_used_manifests_need() {
    let (_d, store) = open();
    let img = image(6, 2, 100);
    for (d, bytes) in &img.blobs {
        store.put_bytes(bytes, Some(&d.parse().unwrap())).unwrap();
    }
    let age = |d: &Digest, secs: u64| {
        let f = std::fs::File::open(store.blob_path(d)).unwrap();
        f.set_modified(std::time::SystemTime::now() - Duration::from_secs(secs))
            .unwrap();
    };
    // Layers and config last used two hours ago, the manifest just now: a pull of the manifest
    // still needs them, so nothing expires.
    for d in img.blobs.keys() {
        age(&d.parse().unwrap(), 7200);
    }
    age(&img.manifest_digest, 0);
    assert!(
        store
            .expire_cache(Duration::from_secs(3600), false)
            .unwrap()
            .deleted
            .is_empty()
    );
    // An unrelated stale blob does expire.
    let stale = store.put_bytes(b"stale", None).unwrap().digest;
    age(&stale, 7200);
    assert_eq!(
        store
            .expire_cache(Duration::from_secs(3600), false)
            .unwrap()
            .deleted,
        vec![stale]
    );
    // Once the manifest is stale too, the whole image goes.
    age(&img.manifest_digest, 7200);
    assert_eq!(
        store
            .expire_cache(Duration::from_secs(3600), false)
            .unwrap()
            .deleted
            .len(),
        img.blobs.len()
    );
}

#[test]
fn completeness_reports_missing_blobs() {
    let (_d, store) = open();
    let img = image(7, 3, 100);
    store_image(&store, &img, "app");
    let r = store
        .completeness(&["app".into(), img.manifest_digest.to_string()])
        .unwrap();
    assert!(r.complete);
    assert_eq!(r.images[0].blobs, 5);
    store.delete(&img.layer_digests[1]).unwrap();
    let r = store
        .completeness(&["app".into(), "nosuchtag".into()])
        .unwrap();
    assert!(!r.complete);
    assert!(!r.images[0].complete);
    assert_eq!(r.images[0].missing, vec![img.layer_digests[1].clone()]);
    assert_eq!(r.missing, vec![img.layer_digests[1].clone()]);
    assert!(!r.images[1].complete && r.images[1].digest.is_none());
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["images"][0]["missing"].is_array() && json.get("complete").is_some());
}

#[test]
fn replica_sync_copies_exactly_what_is_missing() {
    let (_a, src) = open();
    let (_b, dst) = open();
    let shared = src.put_bytes(b"shared", None).unwrap().digest;
    dst.put_bytes(b"shared", None).unwrap();
    let only = src.put_bytes(b"only in src", None).unwrap().digest;
    dst.put_bytes(b"only in dst", None).unwrap();
    assert_eq!(src.lacking_in(&dst).unwrap(), vec![only.clone()]);
    assert_eq!(
        dst.missing(&[shared.clone(), only.clone()]).unwrap(),
        vec![only.clone()]
    );
    let r = src
        .copy_to(&dst, std::slice::from_ref(&only), None)
        .unwrap();
    assert_eq!((r.copied, r.bytes, r.present), (1, 11, 0));
    assert!(src.lacking_in(&dst).unwrap().is_empty());
}

#[test]
fn quota_refuses_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            quota: Some(10_000),
            ..Default::default()
        },
    )
    .unwrap();
    store.put_bytes(&bytes(1, 6000), None).unwrap();
    let e = store
        .put_sized(&mut &bytes(2, 6000)[..], None, Some(6000))
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::QuotaExceeded {
                quota: 10_000,
                requested: 6000,
                ..
            }
        ),
        "{e}"
    );
    // Without a declared size it stops as soon as the limit is crossed.
    let e = store.put_bytes(&bytes(3, 6000), None).unwrap_err();
    assert_eq!(e.code(), ErrorCode::QuotaExceeded);
    assert_eq!(store.list().unwrap().len(), 1);
    assert!(tmp_files(dir.path()).is_empty());
    store.put_bytes(&bytes(4, 3000), None).unwrap();
}

#[test]
fn injected_enospc_leaves_the_store_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        fail_writes_after: Some(5 << 20),
        ..Default::default()
    };
    let store = Store::open_with(dir.path(), opts).unwrap();
    let ok = store.put_bytes(&bytes(1, 1 << 20), None).unwrap();
    let e = store.put_bytes(&bytes(2, 8 << 20), None).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NoSpace, "{e}");
    assert_eq!(store.list().unwrap(), vec![ok.digest]);
    assert!(tmp_files(dir.path()).is_empty());
    assert_eq!(all_blobs_valid(dir.path()), Ok(1));
}

#[test]
fn batch_commit_publishes_all() {
    let (dir, store) = open();
    let mut batch = store.batch();
    let blobs: Vec<Vec<u8>> = (0..50).map(|i| bytes(i, 4096)).collect();
    for b in &blobs {
        batch.put_bytes(b, Some(&d256(b))).unwrap();
    }
    batch.put_bytes(&blobs[0], None).unwrap();
    assert!(
        store.list().unwrap().is_empty(),
        "nothing is visible before commit"
    );
    let out = batch.commit().unwrap();
    assert_eq!(out.len(), 51);
    assert_eq!(out.iter().filter(|o| o.created).count(), 50);
    assert_eq!(all_blobs_valid(dir.path()), Ok(50));
    let mut batch = store.batch();
    assert_eq!(
        batch.put_bytes(b"x", Some(&d256(b"y"))).unwrap_err().code(),
        ErrorCode::DigestMismatch
    );
}

#[test]
fn recover_removes_orphan_temp_files_but_not_live_ones() {
    let (dir, store) = open();
    let orphan = dir.path().join(".registry-store/tmp/blob-orphan");
    std::fs::write(&orphan, b"partial").unwrap();
    let mut live = store.writer(Algorithm::Sha256).unwrap();
    live.write_bytes(b"in flight").unwrap();
    assert_eq!(store.recover().unwrap(), 1);
    assert!(!orphan.exists());
    assert_eq!(tmp_files(dir.path()).len(), 1);
    live.commit(None, None).unwrap();
    assert!(tmp_files(dir.path()).is_empty());
}

#[test]
fn reports_have_a_stable_camel_case_shape() {
    let r = GcReport::default();
    let v = serde_json::to_value(&r).unwrap();
    for k in [
        "dryRun",
        "examined",
        "reachable",
        "young",
        "deleted",
        "deletedBytes",
        "missing",
    ] {
        assert!(v.get(k).is_some(), "{k}");
    }
    let p = Progress {
        operation: Operation::Import,
        bytes_done: 1,
        bytes_total: None,
        items_done: 0,
        items_total: None,
        current: None,
    };
    assert_eq!(serde_json::to_value(&p).unwrap()["bytesDone"], 1);
    assert_eq!(serde_json::to_value(Operation::Scrub).unwrap(), "scrub");
}

#[test]
fn gc_never_deletes_a_blob_a_writer_was_just_told_exists() {
    let (_d, store) = open();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let data: Vec<Vec<u8>> = (0..20).map(|i| bytes(500 + i, 2048)).collect();
    let gc = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let opts = GcOptions {
                grace: Some(Duration::from_secs(60)),
                dry_run: false,
            };
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store.gc(&opts).unwrap();
                runs += 1;
            }
            runs
        })
    };
    for round in 0..30 {
        for b in &data {
            let d = d256(b);
            if store.has(&d).unwrap() {
                // Make it look abandoned, so only the "already exists" refresh protects it.
                let f = std::fs::File::open(store.blob_path(&d)).unwrap();
                f.set_modified(std::time::SystemTime::now() - Duration::from_secs(7200))
                    .unwrap();
            }
            let out = store.put_bytes(b, Some(&d)).unwrap();
            assert!(
                store.has(&out.digest).unwrap(),
                "round {round}: {} vanished after put",
                out.digest
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(gc.join().unwrap() > 0);
}

/// A reader that hands out data in awkward, varying piece sizes.
struct Jagged<'a> {
    data: &'a [u8],
    pos: usize,
    step: usize,
}

impl Read for Jagged<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = (self.step * 7 + 13) % 200_000 + 1;
        let n = buf.len().min(self.step).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn large_blobs_in_odd_pieces_read_back_exactly() {
    let (_d, store) = open();
    // Past the size where writes move to the background (and direct I/O) thread.
    let data = bytes(21, (13 << 20) + 4097);
    let out = store
        .put(
            &mut Jagged {
                data: &data,
                pos: 0,
                step: 1,
            },
            Some(&d256(&data)),
        )
        .unwrap();
    assert_eq!(store.read(&out.digest).unwrap(), data);
    store.delete(&out.digest).unwrap();

    // Odd write sizes straight into a writer, then a save/resume at an unaligned offset.
    let mut up = store.begin_upload(Algorithm::Sha256).unwrap();
    let mut pos = 0;
    let mut step = 3;
    while pos < 9 << 20 {
        step = (step * 5 + 11) % 300_000 + 1;
        let end = (pos + step).min(data.len());
        up.write_bytes(&data[pos..end]).unwrap();
        pos = end;
    }
    up.save().unwrap();
    let id = up.upload_id().unwrap().clone();
    drop(up);
    let mut up = store.resume_upload(&id).unwrap();
    assert_eq!(up.written() as usize, pos);
    up.write_from(&mut Jagged {
        data: &data[pos..],
        pos: 0,
        step: 9,
    })
    .unwrap();
    let d = commit_as(up, &store, &data);
    assert_eq!(d, out.digest);
}

#[test]
fn handed_over_parts_keep_the_stream_order_with_copied_writes_and_across_a_resume() {
    let (_d, store) = open();
    let data = bytes(22, (11 << 20) + 777);
    let mut up = store.begin_upload(Algorithm::Sha256).unwrap();
    let (mut pos, mut step, mut turn) = (0usize, 5usize, 0u32);
    // Alternates copied writes and batches of handed-over parts of odd sizes, so the aligned
    // chunk is part-filled whenever a batch arrives behind it.
    while pos < 7 << 20 {
        step = (step * 7 + 3) % 250_000 + 1;
        let end = (pos + step).min(data.len());
        if turn % 3 == 0 {
            up.write_bytes(&data[pos..end]).unwrap();
        } else {
            let mid = pos + (end - pos) / 2;
            up.write_parts(vec![data[pos..mid].to_vec(), data[mid..end].to_vec()])
                .unwrap();
        }
        pos = end;
        turn += 1;
    }
    up.save().unwrap();
    let id = up.upload_id().unwrap().clone();
    drop(up);
    let mut up = store.resume_upload(&id).unwrap();
    assert_eq!(up.written() as usize, pos);
    for part in data[pos..].chunks(1 << 20) {
        up.write_parts(vec![part.to_vec()]).unwrap();
    }
    commit_as(up, &store, &data);
}

#[test]
fn handed_over_parts_count_against_the_quota() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            quota: Some(6 << 20),
            ..Default::default()
        },
    )
    .unwrap();
    let mut w = store.writer(Algorithm::Sha256).unwrap();
    let mut refused = None;
    for i in 0..8u8 {
        if let Err(e) = w.write_parts(vec![bytes(i.into(), 1 << 20)]) {
            refused = Some((i, e));
            break;
        }
    }
    let (i, e) = refused.expect("the seventh MiB is over the quota");
    assert_eq!((i, e.code()), (6, ErrorCode::QuotaExceeded), "{e}");
    // A refused writer stays refused, and leaves nothing behind.
    assert!(w.write_parts(vec![vec![1u8]]).is_err());
    drop(w);
    assert!(store.list().unwrap().is_empty());
    assert!(tmp_files(dir.path()).is_empty());
}

#[test]
fn reads_record_last_use_for_cache_expiry() {
    let (_d, store) = open();
    let d = store.put_bytes(b"cached layer", None).unwrap().digest;
    let old = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::open(store.blob_path(&d))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let before = store.stat(&d).unwrap().last_used_ms;
    assert_eq!(store.read(&d).unwrap(), b"cached layer");
    let after = store.stat(&d).unwrap().last_used_ms;
    assert!(
        after >= before + 7_000_000,
        "a read refreshes last use ({before} -> {after})"
    );
    assert!(
        store
            .expire_cache(Duration::from_secs(3600), false)
            .unwrap()
            .deleted
            .is_empty()
    );

    // With tracking off, reads leave it alone and the blob expires.
    let dir = store.root().to_path_buf();
    let quiet = Store::open_with(
        &dir,
        StoreOptions {
            track_use: false,
            ..Default::default()
        },
    )
    .unwrap();
    std::fs::File::open(quiet.blob_path(&d))
        .unwrap()
        .set_modified(old)
        .unwrap();
    quiet.read(&d).unwrap();
    assert_eq!(
        quiet
            .expire_cache(Duration::from_secs(3600), false)
            .unwrap()
            .deleted,
        vec![d]
    );
}

#[test]
fn handles_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Store>();
    send_sync::<Digest>();
    send_sync::<StoreError>();
    send::<BlobWriter>();
    send::<Lease>();
    send::<BlobReader>();
    send::<Batch>();
}

#[test]
fn checking_for_an_old_layer_protects_it_until_the_manifest_arrives() {
    let (_d, store) = open();
    let layer = store.put_bytes(b"old base layer", None).unwrap().digest;
    let old = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::open(store.blob_path(&layer))
        .unwrap()
        .set_modified(old)
        .unwrap();
    // A pusher's HEAD.
    assert!(store.has(&layer).unwrap());
    let r = store.gc(GcOptions::default()).unwrap();
    assert!(r.deleted.is_empty(), "{:?}", r.deleted);
}

/// An empty root would be the current directory: refused with a message saying so.
#[test]
fn an_empty_root_is_refused() {
    let e = Store::open("").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Io);
    assert!(e.to_string().contains("empty path"), "{e}");
}
