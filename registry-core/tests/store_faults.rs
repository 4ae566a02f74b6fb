//! Faults: a full disk (a real 4 MiB tmpfs when the test may mount one, else the injected-ENOSPC
//! hook), permission errors (mode bits as a normal user, the immutable attribute as root, else
//! skipped with a note), and blobs damaged on disk.
#![allow(clippy::unwrap_used, missing_docs)]

mod store_common;

use std::path::Path;
use std::process::Command;

use registry_core::store::*;
use registry_core::wire::ErrorCode;
use store_common::*;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn try_tmpfs(dir: &Path, size: &str) -> Option<Mount> {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Mount(dir.to_path_buf()))
}

fn full_disk_checks(root: &Path, store: &Store, big: usize) {
    let small = store.put_bytes(&bytes(1, 100_000), None).unwrap();
    let img = image(1, 1, 1000);
    store_image(store, &img, "before");
    let index_before = std::fs::read(root.join("index.json")).unwrap();
    let e = store.put_bytes(&bytes(2, big), None).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NoSpace, "{e}");
    assert!(
        e.to_string().contains(".registry-store"),
        "names the file: {e}"
    );
    assert!(tmp_files(root).is_empty(), "{:?}", tmp_files(root));
    assert_eq!(all_blobs_valid(root), Ok(img.blobs.len() + 1));
    assert_eq!(
        std::fs::read(root.join("index.json")).unwrap(),
        index_before
    );
    assert_eq!(store.read(&small.digest).unwrap(), bytes(1, 100_000));
    // Space is usable again after the failure.
    store.put_bytes(&bytes(3, 50_000), None).unwrap();
}

/// Held by every test of this binary that mounts a tmpfs or starts a process. A child holds
/// copies of every open descriptor until it execs (for a forked child in these tests, until it
/// is released): a deleted temp file on the 4 MiB tmpfs keeps its space meanwhile (the full-disk
/// test then sees ENOSPC where space was just freed) and the unmount fails.
static MOUNT_OR_FORK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    MOUNT_OR_FORK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn full_disk_mid_write() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    match try_tmpfs(dir.path(), "4m") {
        Some(_mount) => {
            let root = dir.path().join("store");
            let store = Store::open(&root).unwrap();
            full_disk_checks(&root, &store, 8 << 20);
            // Fill the disk, then a tag update must fail cleanly and keep the old index.json.
            let mut i = 10;
            while store.put_bytes(&bytes(i, 256 << 10), None).is_ok() {
                i += 1;
            }
            let _ = store.put_bytes(&bytes(999, 4096), None);
            let before = std::fs::read(root.join("index.json")).unwrap();
            let img = image(5, 1, 10);
            if img
                .blobs
                .iter()
                .all(|(d, b)| store.put_bytes(b, Some(&d.parse().unwrap())).is_ok())
            {
                // Room for the blobs but maybe not for the new index: either outcome is consistent.
                let r = store.tag("after", &img.manifest_digest);
                let idx: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap())
                        .unwrap();
                assert!(idx["manifests"].is_array());
                if r.is_err() {
                    assert_eq!(std::fs::read(root.join("index.json")).unwrap(), before);
                }
            }
            assert!(all_blobs_valid(&root).is_ok());
            drop(store);
        }
        None => {
            eprintln!("NOTE: cannot mount a tmpfs here; using the injected ENOSPC hook instead");
            let opts = StoreOptions {
                fail_writes_after: Some(2 << 20),
                ..Default::default()
            };
            let store = Store::open_with(dir.path(), opts).unwrap();
            full_disk_checks(dir.path(), &store, 8 << 20);
        }
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn permission_errors_name_the_path_and_leave_nothing() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let blobs = dir.path().join("blobs/sha256");
    let denied = if is_root() {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(&blobs)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("NOTE: running as root without chattr support; permission test skipped");
            return;
        }
        true
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&blobs, std::fs::Permissions::from_mode(0o555)).unwrap();
        true
    };
    assert!(denied);
    let r = store.put_bytes(b"cannot land", None);
    if is_root() {
        let _ = Command::new("chattr").arg("-i").arg(&blobs).status();
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&blobs, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let e = r.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Io, "{e}");
    assert!(e.to_string().contains("blobs/sha256"), "{e}");
    assert!(tmp_files(dir.path()).is_empty());
    assert!(store.list().unwrap().is_empty());
    store.put_bytes(b"cannot land", None).unwrap();
}

#[test]
fn truncated_and_damaged_blobs_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let data = bytes(4, 3 << 20);
    let d = store.put_bytes(&data, None).unwrap().digest;
    let path = store.blob_path(&d);
    let f = std::fs::OpenOptions::new().write(true).open(&path);
    // Root ignores the read-only mode; a normal user restores write permission first.
    let f = f.or_else(|_| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::OpenOptions::new().write(true).open(&path)
    });
    f.unwrap().set_len(1 << 20).unwrap();
    let e = store.read(&d).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Corrupt);
    assert!(e.to_string().contains(&d.to_string()));
    let mut sink = Vec::new();
    assert_eq!(
        store.get(&d, &mut sink).unwrap_err().code(),
        ErrorCode::Corrupt
    );
    let r = store
        .scrub(&ScrubOptions {
            quarantine: false,
            threads: Some(2),
        })
        .unwrap();
    assert_eq!(r.corrupt.len(), 1);
    assert_eq!(r.corrupt[0].actual, Some(d256(&data[..1 << 20])));
    assert!(store.has(&d).unwrap(), "without quarantine nothing moves");
}

/// A child process stopped between fork and exec. It holds a copy of every descriptor this
/// process had open when it was forked, as every child that any thread of a process spawns does
/// for a moment (under load, for a long moment). Dropping it lets it exec `true` and reaps it.
struct ForkedChild {
    release: Option<std::io::PipeWriter>,
    spawner: Option<std::thread::JoinHandle<std::io::Result<std::process::ExitStatus>>>,
}

impl ForkedChild {
    fn start() -> ForkedChild {
        use std::io::{Read, Write};
        use std::os::unix::process::CommandExt;
        let (release_r, release_w) = std::io::pipe().unwrap();
        let (forked_r, forked_w) = std::io::pipe().unwrap();
        // `spawn` waits for the exec, so it runs on its own thread while this one carries on.
        let spawner = std::thread::spawn(move || {
            let mut cmd = Command::new("true");
            // SAFETY: the hook runs in the forked child and only calls write(2) and read(2),
            // which are async-signal-safe.
            #[allow(unsafe_code)]
            unsafe {
                cmd.pre_exec(move || {
                    (&forked_w).write_all(b"f")?;
                    let mut b = [0u8; 1];
                    let _ = (&release_r).read(&mut b)?;
                    Ok(())
                });
            }
            cmd.status()
        });
        let mut b = [0u8; 1];
        (&forked_r).read_exact(&mut b).unwrap();
        ForkedChild {
            release: Some(release_w),
            spawner: Some(spawner),
        }
    }
}

impl Drop for ForkedChild {
    fn drop(&mut self) {
        use std::io::Write;
        if let Some(w) = self.release.take() {
            let _ = (&w).write_all(b"x");
        }
        if let Some(h) = self.spawner.take() {
            let status = h.join().unwrap().unwrap();
            assert!(status.success());
        }
    }
}

/// How a test gives up a writer (drop or close).
type GiveUp = fn(BlobWriter);

/// Writes `len` bytes of `data` to a new upload, then gives it up the way `finish` says, while
/// a forked child holds copies of the upload's descriptors; returns its id.
fn give_up_while_forked(store: &Store, data: &[u8], finish: GiveUp) -> (UploadId, ForkedChild) {
    let mut up = store.begin_upload(Algorithm::Sha256).unwrap();
    up.write_bytes(data).unwrap();
    let id = up.upload_id().unwrap().clone();
    let child = ForkedChild::start();
    finish(up);
    (id, child)
}

#[test]
fn an_upload_survives_a_full_disk_and_resumes() {
    let _serial = serial();
    let data = bytes(8, 5 << 20);
    // Several rounds, each resuming at once after the failed writer is dropped while a child
    // process (as any other thread may spawn) holds copies of its descriptors.
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let (id, child) = {
            let opts = StoreOptions {
                fail_writes_after: Some(3 << 20),
                ..Default::default()
            };
            let full = Store::open_with(dir.path(), opts).unwrap();
            let mut up = full.begin_upload(Algorithm::Sha256).unwrap();
            up.write_bytes(&data[..2 << 20]).unwrap();
            up.save().unwrap();
            let e = up.write_bytes(&data[2 << 20..4 << 20]).unwrap_err();
            assert_eq!(e.code(), ErrorCode::NoSpace);
            let id = up.upload_id().unwrap().clone();
            let child = ForkedChild::start();
            drop(up);
            (id, child)
        };
        // Space was freed; another process picks the upload up where the file ends.
        let store = Store::open(dir.path()).unwrap();
        let resumed = store.resume_upload(&id);
        drop(child);
        let mut up = resumed.unwrap_or_else(|e| panic!("round {round}: {e}"));
        let at = up.written() as usize;
        assert_eq!(at, 2 << 20);
        up.write_bytes(&data[at..]).unwrap();
        commit_as(up, &store, &data);
    }
}

/// Dropping or closing an upload releases its lock before it returns, whether the writer used
/// the background thread (past 4 MiB) or not, so a client that retries at once can resume.
#[test]
fn a_dropped_or_closed_upload_can_be_resumed_at_once() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let close: GiveUp = |w| w.close().unwrap();
    let cases: [(&str, usize, GiveUp); 4] = [
        ("drop, small", 1000, drop),
        ("drop, background writer", 6 << 20, drop),
        ("close, small", 1000, close),
        ("close, background writer", 6 << 20, close),
    ];
    for round in 0..5u64 {
        for (case, (what, len, finish)) in (0u64..).zip(cases) {
            let data = bytes(round * 10 + case, len);
            let (id, child) = give_up_while_forked(&store, &data, finish);
            let resumed = store.resume_upload(&id);
            drop(child);
            let up = resumed.unwrap_or_else(|e| panic!("{what}, round {round}: {e}"));
            assert_eq!(up.written(), len as u64, "{what}");
            let d = up
                .commit(Some(&d256(&data)), Some(len as u64))
                .unwrap()
                .digest;
            assert_eq!(store.read(&d).unwrap(), data, "{what}");
        }
    }
}
