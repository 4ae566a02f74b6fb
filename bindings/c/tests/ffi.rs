//! The exported functions called from Rust, as C calls them: ownership round trips, error
//! objects, out-parameters left alone on failure, cancellation. Runs in `cargo test` (the C
//! program in `capi_test.c` covers the rest under Valgrind and ASan).
#![allow(clippy::unwrap_used, unsafe_code, missing_docs)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr::{null, null_mut};

use deckhouse_registry_ffi::*;

fn config(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../examples/configs/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Copies and frees a library string.
fn take(p: *mut c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: a NUL-terminated string the library returned, freed once below.
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned();
    dr_string_free(p);
    s
}

/// Reads and frees an error object: (code, message, problems).
fn take_err(e: *mut dr_error) -> (dr_status, String, Option<String>) {
    assert!(!e.is_null());
    let code = dr_error_code(e);
    // SAFETY: borrowed strings valid until dr_error_free.
    let msg = unsafe { CStr::from_ptr(dr_error_message(e)) }
        .to_str()
        .unwrap()
        .to_owned();
    let p = dr_error_problems_json(e);
    // SAFETY: as above.
    let problems =
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned());
    dr_error_free(e);
    (code, msg, problems)
}

fn validate(name: &str) -> CString {
    let input = config(name);
    let mut out = null_mut();
    let st = dr_load_settings(input.as_ptr(), input.len(), null(), &mut out, null_mut());
    assert_eq!(st, dr_status::Ok);
    CString::new(take(out)).unwrap()
}

#[test]
fn invalid_settings_carry_every_problem_and_leave_the_output_alone() {
    let input = config("invalid.yaml");
    let sentinel = std::ptr::dangling_mut::<c_char>();
    let mut out = sentinel;
    let mut err = null_mut();
    let st = dr_load_settings(input.as_ptr(), input.len(), null(), &mut out, &mut err);
    assert_eq!(st, dr_status::InvalidSettings);
    assert_eq!(out, sentinel);
    let (code, msg, problems) = take_err(err);
    assert_eq!(code, dr_status::InvalidSettings);
    let problems: serde_json::Value = serde_json::from_str(&problems.unwrap()).unwrap();
    let codes: Vec<&str> = problems
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    for want in [
        "SectionNotAllowed",
        "InvalidPort",
        "TtlTooShort",
        "ConflictingCredentials",
    ] {
        assert!(codes.contains(&want), "{want} missing from {codes:?}");
    }
    assert!(!msg.contains("example-license-key"));
}

#[test]
fn null_and_bad_utf8_are_invalid_arguments() {
    let mut out = null_mut();
    let mut err = null_mut();
    assert_eq!(
        dr_plan(null(), null(), null(), &mut out, &mut err),
        dr_status::InvalidArgument
    );
    assert!(take_err(err).1.contains("current_json is NULL"));
    let bad = [0xffu8, 0];
    let mut err = null_mut();
    let st = dr_preflight(bad.as_ptr().cast(), &mut out, &mut err);
    assert_eq!(st, dr_status::InvalidArgument);
    assert!(take_err(err).1.contains("not UTF-8"));
    assert!(out.is_null());
}

#[test]
fn plan_and_render_from_validated_settings() {
    let local = validate("local.yaml");
    let proxy = validate("proxy.yaml");
    let mut out = null_mut();
    assert_eq!(
        dr_plan(local.as_ptr(), proxy.as_ptr(), null(), &mut out, null_mut()),
        dr_status::Ok
    );
    let d: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(d["allowed"], false);
    assert_eq!(d["route"], serde_json::json!(["Local", "Direct", "Proxy"]));

    let direct = validate("direct.yaml");
    let opts = c"{\"containerd\":\"v2\",\"version\":\"2.1\"}";
    assert_eq!(
        dr_render(
            direct.as_ptr(),
            null(),
            null(),
            opts.as_ptr(),
            &mut out,
            null_mut()
        ),
        dr_status::Ok
    );
    let r: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
    let part = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "/etc/containerd/deckhouse.d/registry.toml")
        .unwrap();
    assert!(
        part["contents"]
            .as_str()
            .unwrap()
            .starts_with("version = 3")
    );
}

unsafe extern "C" fn cancel_at_once(_event: *const c_char, calls: *mut c_void) -> c_int {
    // SAFETY: the test passes a pointer to its u32 counter.
    unsafe { *calls.cast::<u32>() += 1 };
    1
}

#[test]
fn store_round_trip_and_cancellation() {
    let dir = tempfile::tempdir().unwrap();
    let root = CString::new(dir.path().to_str().unwrap()).unwrap();
    let mut store = null_mut();
    assert_eq!(
        dr_store_open(
            root.as_ptr(),
            c"{\"durability\":\"relaxed\"}".as_ptr(),
            &mut store,
            null_mut()
        ),
        dr_status::Ok
    );

    let mut w = null_mut();
    assert_eq!(
        dr_store_writer(store, null(), &mut w, null_mut()),
        dr_status::Ok
    );
    for chunk in [&b"hello "[..], b"world"] {
        assert_eq!(
            dr_writer_write(w, chunk.as_ptr(), chunk.len(), null_mut()),
            dr_status::Ok
        );
    }
    let mut out = null_mut();
    assert_eq!(
        dr_writer_commit(w, null(), 11, &mut out, null_mut()),
        dr_status::Ok
    );
    let put: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
    dr_writer_free(w);
    let digest = CString::new(put["digest"].as_str().unwrap()).unwrap();
    assert_eq!(
        digest.to_str().unwrap(),
        "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    );

    let (mut data, mut len) = (null_mut(), 0usize);
    assert_eq!(
        dr_store_get(store, digest.as_ptr(), &mut data, &mut len, null_mut()),
        dr_status::Ok
    );
    // SAFETY: `len` bytes the library returned, freed just after.
    assert_eq!(
        unsafe { std::slice::from_raw_parts(data, len) },
        b"hello world"
    );
    dr_bytes_free(data, len);

    let mut calls = 0u32;
    let mut err = null_mut();
    let st = dr_store_scrub(
        store,
        null(),
        Some(cancel_at_once),
        (&raw mut calls).cast(),
        &mut out,
        &mut err,
    );
    assert_eq!(st, dr_status::Cancelled);
    assert_eq!(calls, 1);
    assert_eq!(take_err(err).0, dr_status::Cancelled);
    dr_store_free(store);
}

/// An empty path would be the current directory: the store, apply and preflight refuse it with
/// a message saying so, and a missing preflight folder is an error, not an empty report.
#[test]
fn empty_paths_and_a_missing_preflight_folder_are_errors() {
    let mut store = null_mut();
    let mut err = null_mut();
    assert_eq!(
        dr_store_open(c"".as_ptr(), null(), &mut store, &mut err),
        dr_status::Io
    );
    assert!(store.is_null());
    assert!(take_err(err).1.contains("empty path"));

    let direct = validate("direct.yaml");
    let mut rendered = null_mut();
    assert_eq!(
        dr_render(
            direct.as_ptr(),
            null(),
            null(),
            null(),
            &mut rendered,
            null_mut()
        ),
        dr_status::Ok
    );
    let rendered = CString::new(take(rendered)).unwrap();
    let mut report = null_mut();
    let mut err = null_mut();
    assert_eq!(
        dr_apply(rendered.as_ptr(), c"".as_ptr(), &mut report, &mut err),
        dr_status::ApplyRefused
    );
    assert!(report.is_null());
    assert!(take_err(err).1.contains("empty path"));

    let mut err = null_mut();
    assert_eq!(
        dr_preflight(c"".as_ptr(), &mut report, &mut err),
        dr_status::InvalidArgument
    );
    assert!(take_err(err).1.contains("empty path"));
    let dir = tempfile::tempdir().unwrap();
    let missing = CString::new(dir.path().join("missing").to_str().unwrap()).unwrap();
    let mut err = null_mut();
    assert_eq!(
        dr_preflight(missing.as_ptr(), &mut report, &mut err),
        dr_status::Io
    );
    assert!(report.is_null());
    assert!(take_err(err).1.contains("missing: cannot read the folder"));
}

/// Every entry below `dir`, links not followed: relative path → kind and contents.
fn tree(dir: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("link {:?}", std::fs::read_link(&path).unwrap())
            } else if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_owned()
            } else {
                format!("file {:?}", std::fs::read(&path).unwrap())
            };
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            out.insert(rel, what);
        }
    }
    out
}

#[test]
fn apply_refuses_hostile_json_and_changes_nothing_outside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(dir.path().join("sentinel"), "keep").unwrap();
    std::fs::write(dir.path().join("x-ca.crt"), "keep").unwrap();
    let root_c = CString::new(root.to_str().unwrap()).unwrap();
    let file = |path: &str| serde_json::json!({"path": path, "contents": "owned", "mode": "0644"});
    let set = |config_path: &str, host_dirs: serde_json::Value, files: Vec<serde_json::Value>| {
        let doc = serde_json::json!({"version": "v", "configPath": config_path,
            "hostDirs": host_dirs, "files": files, "warnings": []});
        CString::new(doc.to_string()).unwrap()
    };
    let d = "/etc/containerd/registry.d";
    let cases = [
        (set(d, serde_json::json!([]), vec![file("/../x")]), "/../x"),
        (
            set(
                d,
                serde_json::json!([]),
                vec![file("/etc/containerd/registry.d/../../../../x")],
            ),
            "../../../../x",
        ),
        (
            set(d, serde_json::json!([]), vec![file("/etc/cron.d/x")]),
            "/etc/cron.d/x",
        ),
        (
            set(d, serde_json::json!(["../../../.."]), vec![]),
            "../../../..",
        ),
        (
            set("/etc/../..", serde_json::json!([]), vec![]),
            "/etc/../..",
        ),
    ];
    let before = tree(dir.path());
    for (doc, named) in &cases {
        let mut out = std::ptr::dangling_mut::<c_char>();
        let mut err = null_mut();
        let st = dr_apply(doc.as_ptr(), root_c.as_ptr(), &mut out, &mut err);
        assert_eq!(st, dr_status::ApplyRefused, "{named}");
        let (code, message, _) = take_err(err);
        assert_eq!(code, dr_status::ApplyRefused);
        assert!(
            message.contains(named) && message.contains("refused"),
            "{message}"
        );
        assert_eq!(out, std::ptr::dangling_mut::<c_char>(), "output touched");
    }
    // A link under the root is refused the same way.
    std::os::unix::fs::symlink(dir.path(), root.join("etc/containerd")).unwrap();
    let direct = validate("direct.yaml");
    let mut rendered = null_mut();
    let st = dr_render(
        direct.as_ptr(),
        null(),
        null(),
        null(),
        &mut rendered,
        null_mut(),
    );
    assert_eq!(st, dr_status::Ok);
    let rendered = CString::new(take(rendered)).unwrap();
    let mut out = null_mut();
    let mut err = null_mut();
    let st = dr_apply(rendered.as_ptr(), root_c.as_ptr(), &mut out, &mut err);
    assert_eq!(st, dr_status::ApplyRefused);
    assert!(take_err(err).1.contains("symbolic link"));
    let mut after = tree(dir.path());
    after.remove("root/etc/containerd");
    assert_eq!(after, before);
}

#[test]
fn merge_config_keeps_main_and_takes_the_part() {
    let main = c"version = 2\n# pause\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"pause:3.9\"\n";
    let part = c"version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/registry.d\"\n";
    let mut out = null_mut();
    assert_eq!(
        dr_merge_config(main.as_ptr(), part.as_ptr(), &mut out, null_mut()),
        dr_status::Ok
    );
    // The core's tests check the merge itself; here, that both sides arrive.
    let merged = take(out);
    assert!(merged.starts_with("version = 2\n# pause\n"), "{merged}");
    assert!(merged.contains("sandbox_image = \"pause:3.9\""), "{merged}");
    assert!(
        merged.contains("[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/registry.d\""),
        "{merged}"
    );
    for (main, part, named) in [
        (c"version = 3\n", part, "version 3"),
        (c"[plugins\n", part, "main config"),
        (main, c"x = ", "part"),
    ] {
        let mut out = std::ptr::dangling_mut::<c_char>();
        let mut err = null_mut();
        let st = dr_merge_config(main.as_ptr(), part.as_ptr(), &mut out, &mut err);
        assert_eq!(st, dr_status::InvalidDocument);
        assert!(take_err(err).1.contains(named));
        assert_eq!(out, std::ptr::dangling_mut::<c_char>());
    }
    let mut err = null_mut();
    let st = dr_merge_config(null(), part.as_ptr(), &mut out, &mut err);
    assert_eq!(st, dr_status::InvalidArgument);
    assert!(take_err(err).1.contains("main_toml"));
}

/// Opens a store in `dir`.
fn open_store(dir: &std::path::Path) -> *mut dr_store {
    let root = CString::new(dir.to_str().unwrap()).unwrap();
    let mut store = null_mut();
    let st = dr_store_open(root.as_ptr(), null(), &mut store, null_mut());
    assert_eq!(st, dr_status::Ok);
    store
}

/// Stores `data`, returning its digest.
fn put(store: *mut dr_store, data: &[u8]) -> String {
    let mut out = null_mut();
    let st = dr_store_put(
        store,
        data.as_ptr(),
        data.len(),
        null(),
        &mut out,
        null_mut(),
    );
    assert_eq!(st, dr_status::Ok);
    let v: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
    v["digest"].as_str().unwrap().to_owned()
}

/// What the read callback serves: `data` in reads of at most `most` bytes, failing with
/// `fail` once `fail_at` bytes went out.
struct Feed {
    data: Vec<u8>,
    at: usize,
    most: usize,
    fail_at: Option<(usize, c_int)>,
}

unsafe extern "C" fn feed(buf: *mut u8, len: usize, out_n: *mut usize, ud: *mut c_void) -> c_int {
    // SAFETY: the test passes its `Feed`, alive and unaliased for the call.
    let f = unsafe { &mut *ud.cast::<Feed>() };
    if let Some((at, code)) = f.fail_at
        && f.at >= at
    {
        return code;
    }
    let limit = f.fail_at.map_or(usize::MAX, |(at, _)| at - f.at);
    let n = len.min(f.most).min(limit).min(f.data.len() - f.at);
    // SAFETY: `buf` is `len` writable bytes (n <= len) and `out_n` writable, per dr_read_fn.
    unsafe {
        std::ptr::copy_nonoverlapping(f.data[f.at..].as_ptr(), buf, n);
        *out_n = n;
    }
    f.at += n;
    0
}

#[test]
fn a_bundle_stream_imports_like_its_path_and_a_failing_read_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = open_store(&dir.path().join("src"));
    let config = put(src, b"{}");
    let layer = put(src, b"streamed layer");
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":14}}]}}"#
    );
    let m = CString::new(put(src, manifest.as_bytes())).unwrap();
    assert_eq!(
        dr_store_tag(src, c"v1".as_ptr(), m.as_ptr(), null_mut()),
        dr_status::Ok
    );
    let bundle = dir.path().join("bundle");
    let dest = CString::new(bundle.to_str().unwrap()).unwrap();
    let mut out = null_mut();
    let st = dr_store_export_bundle(src, dest.as_ptr(), null(), &mut out, null_mut());
    assert_eq!(st, dr_status::Ok);
    take(out);
    let tar = bundle.join("platform.tar");
    let tar_c = CString::new(tar.to_str().unwrap()).unwrap();

    let by_path = open_store(&dir.path().join("by-path"));
    let st = dr_store_import_bundle(
        by_path,
        tar_c.as_ptr(),
        null(),
        None,
        null_mut(),
        &mut out,
        null_mut(),
    );
    assert_eq!(st, dr_status::Ok);
    let path_report = take(out);

    let dst = open_store(&dir.path().join("dst"));
    let import = |f: &mut Feed, out: &mut *mut c_char, err: &mut *mut dr_error| {
        dr_store_import_bundle_stream(
            dst,
            Some(feed),
            (f as *mut Feed).cast(),
            c"platform.tar".as_ptr(),
            null(),
            None,
            null_mut(),
            out,
            err,
        )
    };
    let data = std::fs::read(&tar).unwrap();
    let mut failing = Feed {
        data: data.clone(),
        at: 0,
        most: 3,
        fail_at: Some((700, 28)),
    };
    let (mut out, mut err) = (null_mut(), null_mut());
    assert_eq!(import(&mut failing, &mut out, &mut err), dr_status::Io);
    assert!(out.is_null());
    let (_, msg, _) = take_err(err);
    assert_eq!(
        msg,
        "reading stream `platform.tar`: the read callback returned 28 after 700 bytes; nothing was imported"
    );
    let mut listed = null_mut();
    assert_eq!(dr_store_list(dst, &mut listed, null_mut()), dr_status::Ok);
    assert_eq!(take(listed), "[]");

    let mut whole = Feed {
        data,
        at: 0,
        most: 3,
        fail_at: None,
    };
    let mut err = null_mut();
    assert_eq!(import(&mut whole, &mut out, &mut err), dr_status::Ok);
    assert_eq!(take(out), path_report);
    for s in [src, by_path, dst] {
        dr_store_free(s);
    }
}
