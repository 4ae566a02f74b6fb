//! Crash safety: child processes (this test binary re-executed) put blobs, run resumable
//! uploads, import tars and update tags in a loop on one root, and are SIGKILLed at random
//! moments, two at a time, many times. After each kill: every published blob matches its
//! digest, `index.json` parses and every tag points at a complete image (children also run GC),
//! reopening removes the dead writers' temp files, and every leftover upload resumes to the
//! digest of its data. A second test races four processes on the same blobs: exactly one
//! commit of each wins.
#![allow(clippy::unwrap_used, missing_docs)]

mod store_common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use registry_core::store::*;
use store_common::*;

const CHILD_ENV: &str = "STORE_CRASH_CHILD_ROOT";
const TAR_ENV: &str = "STORE_CRASH_CHILD_TAR";
const SEED_ENV: &str = "STORE_CRASH_CHILD_SEED";
const ROUNDS: u64 = 20;

/// The child's workload, run only by `sigkill_at_random_points` (which re-executes this binary
/// with `--ignored` and the environment below). Ignored in a normal run, so it never counts as
/// a pass; run by hand without its parent's environment it fails.
#[test]
#[ignore = "the child process of sigkill_at_random_points"]
fn crash_child() {
    let root = child_env(CHILD_ENV);
    let tar = std::fs::read(child_env(TAR_ENV)).unwrap();
    let seed: u64 = child_env(SEED_ENV).parse().unwrap();
    let store = Store::open(&root).unwrap();
    let mut i = seed * 1_000_000;
    loop {
        i += 1;
        match i % 5 {
            0 | 1 => {
                // Shared contents across children: they race to publish the same digests.
                let b = bytes(i % 16, (i % 7) as usize * 400_000 + (i % 3) as usize);
                store.put_bytes(&b, Some(&d256(&b))).unwrap();
            }
            2 => {
                let b = bytes(1000 + i % 8, 2_500_000);
                let mut up = store.begin_upload(Algorithm::Sha256).unwrap();
                for chunk in b.chunks(700_000) {
                    up.write_bytes(chunk).unwrap();
                    up.save().unwrap();
                }
                if i.is_multiple_of(2) {
                    match up.commit(Some(&d256(&b)), Some(b.len() as u64)) {
                        Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            3 => {
                store
                    .import_tar(&mut &tar[..], ImportOptions::default())
                    .unwrap();
            }
            _ => {
                let img = image(i % 6, 2, 20_000);
                store_image(&store, &img, &format!("t{}", i % 3));
            }
        }
    }
}

/// A variable a child test needs from its parent; without it the child fails.
fn child_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test is a child process, run by its parent test")
    })
}

/// Re-executes this test binary to run only the ignored child test `name`.
fn child_command(name: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--ignored", "--test-threads=1"]);
    cmd
}

fn spawn(root: &Path, tar: &Path, seed: u64, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    child_command("crash_child")
        .arg("--nocapture")
        .env(CHILD_ENV, root)
        .env(TAR_ENV, tar)
        .env(SEED_ENV, seed.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn check(root: &Path, round: u64) {
    let ctx = format!("after kill round {round}");
    all_blobs_valid(root).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap())
            .unwrap_or_else(|e| panic!("{ctx}: index.json does not parse: {e}"));
    assert!(index["manifests"].is_array(), "{ctx}");
    let store = Store::open(root).unwrap();
    for t in store.tags().unwrap() {
        assert!(
            store.has(&t.digest).unwrap(),
            "{ctx}: tag {} points at a missing manifest",
            t.name
        );
        assert!(
            store
                .completeness(std::slice::from_ref(&t.name))
                .unwrap()
                .complete,
            "{ctx}: tag {} incomplete",
            t.name
        );
    }
    assert!(
        tmp_files(root).is_empty(),
        "{ctx}: temp files left after reopen: {:?}",
        tmp_files(root)
    );
    for up in store.uploads().unwrap() {
        let data = std::fs::read(
            root.join(".registry-store/uploads")
                .join(format!("{}.data", up.id)),
        )
        .unwrap();
        let w = store
            .resume_upload(&up.id)
            .unwrap_or_else(|e| panic!("{ctx}: resume {}: {e}", up.id));
        assert_eq!(w.written(), data.len() as u64, "{ctx}");
        assert_eq!(
            w.current_digest(),
            d256(&data),
            "{ctx}: resumed hash state disagrees with the data"
        );
        w.abort();
    }
}

#[test]
fn sigkill_at_random_points() {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let a = image(77, 3, 300_000);
    let b = image(78, 1, 1000);
    write_layout(&layout, &[("bundle:a", &a), ("bundle:b", &b)]);
    let tar_path = work.path().join("bundle.tar");
    std::fs::write(&tar_path, tar_of(&layout)).unwrap();
    Store::open(root.path()).unwrap();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    for round in 0..ROUNDS {
        let logs = [
            work.path().join("child0.log"),
            work.path().join("child1.log"),
        ];
        let mut kids = [
            spawn(root.path(), &tar_path, round * 2, &logs[0]),
            spawn(root.path(), &tar_path, round * 2 + 1, &logs[1]),
        ];
        for (kid, log) in kids.iter_mut().zip(&logs) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            std::thread::sleep(Duration::from_millis(40 + rng % 300));
            // Child::kill sends SIGKILL on Unix.
            let _ = kid.kill();
            let status = kid.wait().unwrap();
            // Killed while working, not dead of its own failure before the signal.
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(9),
                "round {round}: child ended with {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        check(root.path(), round);
    }
    let store = Store::open(root.path()).unwrap();
    assert!(
        store.list().unwrap().len() > 10,
        "the children did too little work to prove anything"
    );
}

const MP_ENV: &str = "STORE_MP_CHILD_ROOT";

/// Child of `processes_race_and_exactly_one_commit_wins`: puts 20 blobs, writes how many it
/// created. Ignored in a normal run, like `crash_child`.
#[test]
#[ignore = "the child process of processes_race_and_exactly_one_commit_wins"]
fn mp_child() {
    let root = child_env(MP_ENV);
    let store = Store::open(&root).unwrap();
    let mut created = 0;
    for i in 0..20u64 {
        let b = bytes(9000 + i, 300_000 + i as usize * 1000);
        if store.put_bytes(&b, Some(&d256(&b))).unwrap().created {
            created += 1;
        }
    }
    std::fs::write(
        child_env("STORE_MP_CHILD_OUT"),
        format!("CREATED={created}"),
    )
    .unwrap();
}

#[test]
fn processes_race_and_exactly_one_commit_wins() {
    let root = tempfile::tempdir().unwrap();
    Store::open(root.path()).unwrap();
    let outs = tempfile::tempdir().unwrap();
    let kids: Vec<_> = (0..4)
        .map(|k| {
            child_command("mp_child")
                .env(MP_ENV, root.path())
                .env("STORE_MP_CHILD_OUT", outs.path().join(format!("{k}")))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut total = 0;
    for (k, kid) in kids.into_iter().enumerate() {
        let out = kid.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let text = std::fs::read_to_string(outs.path().join(format!("{k}"))).unwrap();
        let n: u32 = text
            .lines()
            .find_map(|l| l.strip_prefix("CREATED="))
            .unwrap_or_else(|| panic!("no count in {text}"))
            .trim()
            .parse()
            .unwrap();
        total += n;
    }
    assert_eq!(total, 20, "each blob is created by exactly one process");
    assert_eq!(all_blobs_valid(root.path()), Ok(20));
    assert!(tmp_files(root.path()).is_empty());
}

/// The child tests are ignored in a normal run (never a silent pass), and run without their
/// parent's environment they fail instead of returning at once.
#[test]
fn child_tests_are_ignored_and_fail_without_their_parent() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--list", "--ignored"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    for name in ["crash_child", "mp_child"] {
        assert!(
            listed.lines().any(|l| l == format!("{name}: test")),
            "{name} is not an ignored test:\n{listed}"
        );
        let run = child_command(name)
            .env_remove(CHILD_ENV)
            .env_remove(MP_ENV)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&run.stdout);
        assert!(
            !run.status.success(),
            "{name} passed without its parent:\n{text}"
        );
        assert!(
            text.contains("test result: FAILED. 0 passed; 1 failed"),
            "{text}"
        );
    }
}
