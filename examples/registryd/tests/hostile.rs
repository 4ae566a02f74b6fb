//! Hostile and broken clients against a real registryd process: each gets the spec's error and
//! the store is left unchanged; uploads survive SIGTERM and SIGKILL and resume.
//!
//! The client is a raw HTTP/1.1 writer on a `TcpStream`, so requests no well-behaved client
//! library would send (bad bytes in paths, lying lengths, stalls) can be sent as they are.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use registry_core::store::{Algorithm, Digest, ScrubOptions, Store};

mod common;
use common::Registryd;

const NS: &str = "system/deckhouse";

/// registryd on a free loopback port over `root`, with `extra` flags.
fn server(root: &Path, extra: &[&str]) -> Registryd {
    let mut args = vec![
        "--root",
        root.to_str().expect("utf-8 path"),
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    Registryd::start(args)
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    /// The first error code of a spec error body.
    fn code(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        v["errors"][0]["code"].as_str().unwrap_or("").to_string()
    }
}

fn parse_response(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// Sends one request as raw bytes and reads the response until the server closes.
fn raw(addr: &str, bytes: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // A server may answer and close before reading everything (e.g. 413): not an error here.
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse_response(&out)
}

fn req(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes)
}

/// Every file under the store root with its size, except lock files (created on first use).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, u64> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, u64>) {
        for e in std::fs::read_dir(dir).expect("readable").flatten() {
            let p = e.path();
            if p.ends_with("locks") {
                continue;
            }
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                out.insert(p.strip_prefix(root).expect("inside").to_path_buf(), len);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn start_upload(addr: &str) -> String {
    let r = req(addr, "POST", &format!("/v2/{NS}/blobs/uploads/"), &[], b"");
    assert_eq!(r.status, 202, "{r:?}");
    r.header("location").to_string()
}

fn patch(addr: &str, loc: &str, range: &str, body: &[u8]) -> Resp {
    req(
        addr,
        "PATCH",
        loc,
        &[
            ("Content-Range", range),
            ("Content-Type", "application/octet-stream"),
        ],
        body,
    )
}

#[test]
fn bad_names_and_digests_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = server(dir.path(), &[]);
    let before = snapshot(dir.path());
    let long = format!("{NS}/{}", "a".repeat(256));
    for name in [
        format!("{NS}/../x"),
        format!("{NS}/%2e%2e/x"),
        format!("{NS}/a%00b"),
        format!("{NS}/Upper"),
        format!("{NS}//x"),
        long,
    ] {
        for (method, path) in [
            ("GET", format!("/v2/{name}/tags/list")),
            ("POST", format!("/v2/{name}/blobs/uploads/")),
            ("PUT", format!("/v2/{name}/manifests/v1")),
        ] {
            let r = req(&srv.addr, method, &path, &[], b"{}");
            assert_eq!(
                (r.status, r.code().as_str()),
                (400, "NAME_INVALID"),
                "{method} {path}"
            );
        }
    }
    let r = req(&srv.addr, "GET", "/v2/elsewhere/tags/list", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NAME_UNKNOWN"));
    // A "digest" with '/' in a path is no endpoint at all.
    let r = req(
        &srv.addr,
        "GET",
        &format!("/v2/{NS}/blobs/sha256:../../etc/passwd"),
        &[],
        b"",
    );
    assert_eq!(r.status, 404);
    for d in [
        "sha256:abc",
        "sha256:..%2F..%2Fetc%2Fpasswd",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
    ] {
        let r = req(&srv.addr, "GET", &format!("/v2/{NS}/blobs/{d}"), &[], b"");
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "DIGEST_INVALID"),
            "{d}"
        );
        let r = req(
            &srv.addr,
            "POST",
            &format!("/v2/{NS}/blobs/uploads/?digest={d}"),
            &[],
            b"x",
        );
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "DIGEST_INVALID"),
            "{d}"
        );
    }
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn chunks_must_continue_the_upload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = server(dir.path(), &[]);
    let loc = start_upload(&srv.addr);
    let r = patch(&srv.addr, &loc, "0-4", b"hello");
    assert_eq!((r.status, r.header("range")), (202, "0-4"));
    // Gapped, overlapping and out-of-order chunks: 416 with the upload's current range.
    for range in ["10-14", "2-6", "0-4"] {
        let r = patch(&srv.addr, &loc, range, b"world");
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("range"), "0-4", "{range}");
    }
    // Malformed ranges and lengths that disagree with the range: 400.
    for (range, body) in [
        ("a-b", &b"world"[..]),
        ("9-5", b"world"),
        ("-5", b"world"),
        ("5-9", b"wor"),
    ] {
        let r = patch(&srv.addr, &loc, range, body);
        assert_eq!(r.status, 400, "{range} {r:?}");
    }
    let r = req(&srv.addr, "GET", &loc, &[], b"");
    assert_eq!((r.status, r.header("range")), (204, "0-4"));
    let r = patch(&srv.addr, &loc, "5-9", b"world");
    assert_eq!((r.status, r.header("range")), (202, "0-9"));
    let d = Digest::of(Algorithm::Sha256, b"helloworld");
    let r = req(&srv.addr, "PUT", &format!("{loc}?digest={d}"), &[], b"");
    assert_eq!(r.status, 201, "{r:?}");
    let r = req(&srv.addr, "GET", &format!("/v2/{NS}/blobs/{d}"), &[], b"");
    assert_eq!(r.body, b"helloworld");
}

#[test]
fn an_upload_belongs_to_the_repository_it_began_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = server(dir.path(), &[]);
    let loc = start_upload(&srv.addr);
    let r = patch(&srv.addr, &loc, "0-4", b"hello");
    assert_eq!(r.status, 202, "{r:?}");
    // The same upload id under another repository: unknown there for every verb.
    let elsewhere = loc.replacen(&format!("/v2/{NS}/"), &format!("/v2/{NS}/other/"), 1);
    assert_ne!(elsewhere, loc);
    let d = Digest::of(Algorithm::Sha256, b"hello");
    for (method, path, body) in [
        ("GET", elsewhere.clone(), &b""[..]),
        ("PATCH", elsewhere.clone(), b"world"),
        ("PUT", format!("{elsewhere}?digest={d}"), b""),
        ("DELETE", elsewhere.clone(), b""),
    ] {
        let headers: &[(&str, &str)] = if method == "PATCH" {
            &[("Content-Range", "5-9")]
        } else {
            &[]
        };
        let r = req(&srv.addr, method, &path, headers, body);
        assert_eq!(
            (r.status, r.code().as_str()),
            (404, "BLOB_UPLOAD_UNKNOWN"),
            "{method} {path}: {r:?}"
        );
    }
    // Where it began it is untouched: 5 bytes, and it finishes.
    let r = req(&srv.addr, "GET", &loc, &[], b"");
    assert_eq!((r.status, r.header("range")), (204, "0-4"));
    let r = req(&srv.addr, "PUT", &format!("{loc}?digest={d}"), &[], b"");
    assert_eq!(r.status, 201, "{r:?}");
}

#[test]
fn a_wrong_digest_publishes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = server(dir.path(), &[]);
    let before = snapshot(dir.path());
    let claimed = Digest::of(Algorithm::Sha256, b"something else");
    let r = req(
        &srv.addr,
        "POST",
        &format!("/v2/{NS}/blobs/uploads/?digest={claimed}"),
        &[],
        b"payload",
    );
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    let r = req(
        &srv.addr,
        "HEAD",
        &format!("/v2/{NS}/blobs/{claimed}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 404);
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn bad_ranges_get_416() {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = server(dir.path(), &[]);
    let data: Vec<u8> = (0..100u8).collect();
    let d = Digest::of(Algorithm::Sha256, &data);
    let r = req(
        &srv.addr,
        "POST",
        &format!("/v2/{NS}/blobs/uploads/?digest={d}"),
        &[],
        &data,
    );
    assert_eq!(r.status, 201);
    let path = format!("/v2/{NS}/blobs/{d}");
    let r = req(&srv.addr, "GET", &path, &[("Range", "bytes=10-19")], b"");
    assert_eq!(
        (r.status, r.header("content-range")),
        (206, "bytes 10-19/100")
    );
    assert_eq!(r.body, data[10..20]);
    for range in [
        "bytes=0-1,5-6",
        "bytes=-0",
        "bytes=100-",
        "bytes=20-10",
        "bytes=--1",
        "bytes=99999999999999999999999-",
        "lines=1-2",
    ] {
        let r = req(&srv.addr, "GET", &path, &[("Range", range)], b"");
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range"), "bytes */100", "{range}");
    }
}

#[test]
fn oversized_and_dangling_manifests_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = server(dir.path(), &[]);
    let before = snapshot(dir.path());
    let mt = "application/vnd.oci.image.manifest.v1+json";
    let big = vec![b' '; (4 << 20) + 1];
    let r = req(
        &srv.addr,
        "PUT",
        &format!("/v2/{NS}/manifests/v1"),
        &[("Content-Type", mt)],
        &big,
    );
    assert_eq!(r.status, 413, "{r:?}");
    let missing = Digest::of(Algorithm::Sha256, b"never pushed");
    let m = serde_json::json!({
        "schemaVersion": 2, "mediaType": mt,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": missing.to_string(), "size": 12},
        "layers": []
    })
    .to_string();
    let r = req(
        &srv.addr,
        "PUT",
        &format!("/v2/{NS}/manifests/v1"),
        &[("Content-Type", mt)],
        m.as_bytes(),
    );
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
    assert!(String::from_utf8_lossy(&r.body).contains(&missing.to_string()));
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn oversized_heads_slow_clients_and_too_many_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("registryd.yaml");
    std::fs::write(
        &cfg,
        // root and listen are required in a file; the flags server() passes win.
        "root: /unused\nlisten: 127.0.0.1:1\nheaderTimeoutSeconds: 1\nbodyTimeoutSeconds: 1\nmaxConnections: 3\n",
    )
    .expect("config");
    let root = dir.path().join("store");
    let srv = server(&root, &["--config", cfg.to_str().expect("utf-8")]);
    // A 100 KiB header: 431.
    let huge = "x".repeat(100 << 10);
    let r = req(&srv.addr, "GET", "/v2/", &[("X-Big", &huge)], b"");
    assert_eq!(r.status, 431);
    // A head that never ends: the connection is closed after the header timeout.
    let mut s = TcpStream::connect(&srv.addr).expect("connect");
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")
        .expect("send");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        t.elapsed()
    );
    // A body that stalls: the upload fails with 400 and keeps what arrived (resumable).
    let loc = start_upload(&srv.addr);
    let mut s = TcpStream::connect(&srv.addr).expect("connect");
    s.write_all(
        format!(
            "PATCH {loc} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\n0123456789"
        )
        .as_bytes(),
    )
    .expect("send");
    let mut out = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = s.read_to_end(&mut out);
    let r = parse_response(&out);
    assert_eq!((r.status, r.code().as_str()), (400, "BLOB_UPLOAD_INVALID"));
    let r = req(&srv.addr, "GET", &loc, &[], b"");
    assert_eq!((r.status, r.header("range")), (204, "0-9"));
    // Connections beyond the limit: 503 TOOMANYREQUESTS while three are open.
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut c = TcpStream::connect(&srv.addr).expect("connect");
            // Start a request so each connection is really accepted and held.
            c.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("send");
            let mut b = [0u8; 64];
            let _ = c.read(&mut b);
            c
        })
        .collect();
    let r = req(&srv.addr, "GET", "/v2/", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (503, "TOOMANYREQUESTS"));
    drop(held);
}

#[test]
fn uploads_survive_sigterm_and_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("store");
    let data: Vec<u8> = (0..(3u32 << 20)).map(|i| (i % 251) as u8).collect();
    let digest = Digest::of(Algorithm::Sha256, &data);

    // SIGTERM between chunks: a clean exit, and the upload continues after the restart.
    let mut srv = server(&root, &[]);
    let loc = start_upload(&srv.addr);
    let r = patch(
        &srv.addr,
        &loc,
        &format!("0-{}", (1 << 20) - 1),
        &data[..1 << 20],
    );
    assert_eq!(r.status, 202);
    assert!(srv.signal("-TERM").success());

    // SIGKILL in the middle of chunks, 50 times at varying points: each restart reports a prefix of what was
    // sent, and the client resumes from there.
    let mut offset = 1u64 << 20;
    for round in 0..50u64 {
        let mut srv = server(&root, &[]);
        let r = req(&srv.addr, "GET", &loc, &[], b"");
        assert_eq!(r.status, 204, "round {round}: {r:?}");
        let got: u64 = r.header("range")[2..].parse::<u64>().expect("range end") + 1;
        assert!(
            got <= data.len() as u64 && got >= offset,
            "round {round}: {got} < {offset}"
        );
        offset = got;
        let end = data.len() as u64 - 1;
        let mut s = TcpStream::connect(&srv.addr).expect("connect");
        let head = format!(
            "PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Range: {offset}-{end}\r\nContent-Length: {}\r\n\r\n",
            end - offset + 1
        );
        s.write_all(head.as_bytes()).expect("head");
        // Send a part of the rest (more each round), then kill registryd mid-body.
        let part = ((end - offset + 1) / 4).max(1) * (round % 3 + 1) / 3;
        let _ = s.write_all(&data[offset as usize..(offset + part) as usize]);
        std::thread::sleep(Duration::from_millis(20 + round % 5 * 20));
        srv.signal("-KILL");
    }
    let srv = server(&root, &[]);
    let r = req(&srv.addr, "GET", &loc, &[], b"");
    let got: u64 = r.header("range")[2..].parse::<u64>().expect("range end") + 1;
    let end = data.len() - 1;
    let r = patch(
        &srv.addr,
        &loc,
        &format!("{got}-{end}"),
        &data[got as usize..],
    );
    assert_eq!(r.status, 202, "{r:?}");
    let r = req(
        &srv.addr,
        "PUT",
        &format!("{loc}?digest={digest}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 201, "{r:?}");
    let r = req(
        &srv.addr,
        "GET",
        &format!("/v2/{NS}/blobs/{digest}"),
        &[],
        b"",
    );
    assert!(r.body == data, "the blob served is the blob pushed");
    drop(srv);
    let store = Store::open(&root).expect("store opens");
    let report = store.scrub(ScrubOptions::default()).expect("scrub runs");
    assert!(report.is_clean(), "{report:?}");
}

/// Flips the byte at `at` of a stored blob's file: in place (the same inode), or by writing a
/// corrupted copy and renaming it over the blob (a new inode, as a restore from a backup would).
fn corrupt(store: &Store, digest: &Digest, at: usize, in_place: bool) {
    use std::os::unix::fs::{FileExt, PermissionsExt};
    let path = store.blob_path(digest);
    let mut bytes = std::fs::read(&path).expect("blob readable");
    bytes[at] ^= 0xff;
    if in_place {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open for writing");
        f.write_all_at(&bytes[at..=at], at as u64).expect("write");
    } else {
        let tmp = path.with_extension("corrupt");
        std::fs::write(&tmp, &bytes).expect("write copy");
        std::fs::rename(&tmp, &path).expect("rename over");
    }
}

/// A whole-blob GET; the body as received (shorter than `Content-Length` when cut off).
fn pull(addr: &str, digest: &Digest) -> (usize, Vec<u8>) {
    let r = req(addr, "GET", &format!("/v2/{NS}/blobs/{digest}"), &[], b"");
    assert_eq!(r.status, 200, "{:?}", r.headers);
    (
        r.header("content-length").parse().expect("a length"),
        r.body,
    )
}

#[test]
fn a_corrupt_blob_is_cut_off_unless_this_process_verified_that_very_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    // Larger than one read chunk, so the response is well under way when the hash fails.
    let data: Vec<u8> = (0..600_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let early = store.put_bytes(&data, None).expect("put").digest;
    corrupt(&store, &early, 1000, true);
    let srv = server(dir.path(), &[]);

    // Corrupted before registryd started: its first read hashes it and cuts the response off.
    let (len, body) = pull(&srv.addr, &early);
    assert_eq!(len, data.len());
    assert!(body.len() < len, "a corrupt blob was served whole");

    // Pushed through registryd: hashed as it was written, served without hashing again.
    let mut other = data.clone();
    other.reverse();
    let pushed = Digest::of(Algorithm::Sha256, &other);
    let r = req(
        &srv.addr,
        "POST",
        &format!("/v2/{NS}/blobs/uploads/?digest={pushed}"),
        &[],
        &other,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(pull(&srv.addr, &pushed).1, other);
    // Changed in place behind registryd's back (the same file): served as it is now. This is
    // the price of hashing once per file: the client's digest check and scrub find it.
    corrupt(&store, &pushed, 1000, true);
    let (len, body) = pull(&srv.addr, &pushed);
    assert_eq!((body.len(), body == other), (len, false));
    // Replaced by another file: a new inode, hashed again, cut off.
    corrupt(&store, &pushed, 2000, false);
    let (len, body) = pull(&srv.addr, &pushed);
    assert!(
        body.len() < len,
        "a replaced, corrupt blob was served whole ({} of {len})",
        body.len()
    );
}
