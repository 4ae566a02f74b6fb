//! What the command-line tests share: running `registryctl`, the bundled configs, and reading
//! its output. Each test binary uses a part of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// Runs `registryctl` with `args`.
pub(crate) fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_registryctl"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `registryctl` with `args` and `input` on its standard input.
pub(crate) fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_registryctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `registryctl store --root ROOT` with `args`.
pub(crate) fn store(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_registryctl"))
        .arg("store")
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

/// The path of a bundled example config (`examples/configs/NAME`).
pub(crate) fn config(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../configs")
        .join(name)
        .display()
        .to_string()
}

/// The sha256 digest of `data`, computed with sha2 independently of the store.
pub(crate) fn sha256(data: &[u8]) -> String {
    let hex: String = <sha2::Sha256 as sha2::Digest>::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Standard output as text.
pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard output followed by standard error.
pub(crate) fn text(o: &Output) -> String {
    format!("{}{}", stdout(o), String::from_utf8_lossy(&o.stderr))
}

/// Standard output parsed as JSON.
pub(crate) fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}
