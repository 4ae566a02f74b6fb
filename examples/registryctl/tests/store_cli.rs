//! The command-line contract of `registryctl store`: digests printed, exit 1 on a mismatch or
//! corruption with nothing stored, exit 2 on unusable input. Expected digests are computed here
//! with sha2, independently of the store.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

mod common;

use common::{sha256, stdout, store};

#[test]
fn put_get_verify_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let file = dir.path().join("blob");
    let data = b"registry layer bytes".repeat(1000);
    std::fs::write(&file, &data).unwrap();
    let digest = sha256(&data);

    let put = store(&root, &["put", file.to_str().unwrap()]);
    assert_eq!(put.status.code(), Some(0), "{put:?}");
    assert_eq!(stdout(&put).trim(), digest);
    // The root is an OCI image layout with the blob at blobs/<alg>/<hex>.
    assert!(root.join("oci-layout").exists() && root.join("index.json").exists());
    assert_eq!(
        std::fs::read(root.join("blobs/sha256").join(&digest[7..])).unwrap(),
        data
    );

    let out = dir.path().join("out");
    let get = store(&root, &["get", &digest, "-o", out.to_str().unwrap()]);
    assert_eq!(get.status.code(), Some(0), "{get:?}");
    assert_eq!(std::fs::read(&out).unwrap(), data);

    assert_eq!(store(&root, &["scrub"]).status.code(), Some(0));
    // Corrupt the blob on disk: verify finds it and exits 1.
    std::fs::write(root.join("blobs/sha256").join(&digest[7..]), b"tampered").unwrap();
    let verify = store(&root, &["scrub"]);
    assert_eq!(verify.status.code(), Some(1), "{verify:?}");
    assert!(
        stdout(&verify).contains(&digest[7..])
            || String::from_utf8_lossy(&verify.stderr).contains(&digest[7..])
    );
}

#[test]
fn put_with_the_wrong_digest_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let file = dir.path().join("blob");
    std::fs::write(&file, b"abc").unwrap();
    let wrong = sha256(b"abd");
    let put = store(&root, &["put", "--digest", &wrong, file.to_str().unwrap()]);
    assert_eq!(put.status.code(), Some(1), "{put:?}");
    assert!(!root.join("blobs/sha256").join(&wrong[7..]).exists());
    assert!(
        !root
            .join("blobs/sha256")
            .join(&sha256(b"abc")[7..])
            .exists()
    );
}

#[test]
fn unusable_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    assert_eq!(
        store(&root, &["get", "sha256:../../etc/passwd"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        store(&root, &["put", "/nonexistent/file"]).status.code(),
        Some(2)
    );
}

/// `stat` prints its times as RFC 3339 UTC dates (this blob was made moments ago), and
/// `verify` counts one blob in the singular.
#[test]
fn stat_prints_dates_and_verify_counts_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let file = dir.path().join("blob");
    std::fs::write(&file, b"one blob").unwrap();
    let before = std::time::SystemTime::now();
    let put = store(&root, &["put", file.to_str().unwrap()]);
    assert_eq!(put.status.code(), Some(0), "{put:?}");
    let digest = stdout(&put).trim().to_owned();
    let stat = store(&root, &["stat", &digest]);
    assert_eq!(stat.status.code(), Some(0), "{stat:?}");
    let line = stdout(&stat);
    let fields: Vec<&str> = line.trim().split('\t').collect();
    assert_eq!(fields[..2], [digest.as_str(), "8 bytes"], "{line}");
    // GNU date reads the timestamp back (an independent parser): within seconds of the put.
    let secs = before
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (field, label) in [(fields[2], "created "), (fields[3], "last used ")] {
        let ts = field
            .strip_prefix(label)
            .unwrap_or_else(|| panic!("{line}"));
        assert!(ts.ends_with('Z') && ts.contains('T'), "{ts}");
        let parsed = std::process::Command::new("date")
            .args(["-u", "-d", ts, "+%s"])
            .output()
            .unwrap();
        assert!(parsed.status.success(), "date cannot read {ts}");
        let at: u64 = String::from_utf8(parsed.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            at + 2 >= secs && at <= secs + 30,
            "{ts} is not about {secs}"
        );
    }
    let verify = store(&root, &["scrub"]);
    assert_eq!(verify.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&verify.stderr).contains("verified 1 blob, 8 bytes"),
        "{verify:?}"
    );
}
