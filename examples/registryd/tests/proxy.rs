//! Proxy mode against a scripted upstream: the Bearer token flow (realm, service, scope, the
//! credentials sent to the realm, the token reused), and upstream transfers that break off or
//! carry the wrong bytes, which must never become blobs nor reach a client complete.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::Registryd;

use base64::Engine;
use registry_core::store::{Algorithm, Digest, Store};

const TOKEN: &str = "mock-token-123";

/// What the scripted upstream serves and what it saw.
#[derive(Default)]
struct Upstream {
    manifest: Vec<u8>,
    good: Vec<u8>,
    /// Blobs whose transfer stops halfway.
    cut: Vec<u8>,
    /// A digest served with other bytes.
    liar: Vec<u8>,
    token_requests: Vec<String>,
    api_requests: Vec<String>,
}

fn digest(b: &[u8]) -> Digest {
    Digest::of(Algorithm::Sha256, b)
}

fn respond(s: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8], send: usize) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(&body[..send.min(body.len())]);
}

fn serve(listener: TcpListener, state: Arc<Mutex<Upstream>>) {
    let port = listener.local_addr().expect("addr").port();
    for conn in listener.incoming() {
        let Ok(mut s) = conn else { continue };
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        let mut line = String::new();
        if r.read_line(&mut line).is_err() {
            continue;
        }
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let path = line.split(' ').nth(1).unwrap_or("").to_string();
        let auth = headers.get("authorization").cloned().unwrap_or_default();
        let mut st = state.lock().expect("state");
        if path.starts_with("/token") {
            st.token_requests.push(format!("{path} {auth}"));
            let body = format!(r#"{{"token":"{TOKEN}","expires_in":300}}"#);
            respond(&mut s, "200 OK", &[], body.as_bytes(), usize::MAX);
            continue;
        }
        st.api_requests.push(format!("{path} {auth}"));
        if auth != format!("Bearer {TOKEN}") {
            let challenge = format!(
                "Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"mock-registry\",scope=\"repository:up/repo:pull\""
            );
            respond(
                &mut s,
                "401 Unauthorized",
                &[("WWW-Authenticate", challenge)],
                b"{}",
                usize::MAX,
            );
            continue;
        }
        let m = st.manifest.clone();
        let blobs = [
            (st.good.clone(), st.good.len()),
            (st.cut.clone(), st.cut.len() / 2),
        ];
        let liar = st.liar.clone();
        drop(st);
        if path == "/v2/up/repo/manifests/v1" {
            let mt = (
                "Content-Type",
                "application/vnd.oci.image.manifest.v1+json".to_string(),
            );
            respond(
                &mut s,
                "200 OK",
                &[mt, ("Docker-Content-Digest", digest(&m).to_string())],
                &m,
                usize::MAX,
            );
            continue;
        }
        let mut served = false;
        for (b, send) in &blobs {
            if path == format!("/v2/up/repo/blobs/{}", digest(b)) {
                respond(&mut s, "200 OK", &[], b, *send);
                served = true;
            }
        }
        if !served && path == format!("/v2/up/repo/blobs/{}", digest(b"what the digest promises")) {
            respond(&mut s, "200 OK", &[], &liar, usize::MAX);
            served = true;
        }
        if !served {
            respond(&mut s, "404 Not Found", &[], b"{}", usize::MAX);
        }
    }
}

/// `GET`: (status, body).
fn get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let (status, body, _) = timed_get(addr, path);
    (status, body)
}

#[test]
fn bearer_tokens_and_broken_transfers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = b"layer bytes ".repeat(50_000);
    let cut = b"cut off ".repeat(100_000);
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config).to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(&good).to_string(), "size": good.len()}]
    })
    .to_string()
    .into_bytes();
    let state = Arc::new(Mutex::new(Upstream {
        manifest: manifest.clone(),
        good: good.clone(),
        cut: cut.clone(),
        liar: b"something else entirely".to_vec(),
        ..Upstream::default()
    }));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let up = listener.local_addr().expect("addr");
    let st = state.clone();
    std::thread::spawn(move || serve(listener, st));

    let pw = dir.path().join("password");
    std::fs::write(&pw, "s3cret-upstream\n").expect("password file");
    let root = dir.path().join("store");
    let upstream = format!("http://{up}/up");
    let srv = Registryd::start([
        "--root",
        root.to_str().expect("utf-8 path"),
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
        "--upstream-user",
        "mirror",
        "--upstream-password-file",
        pw.to_str().expect("utf-8 path"),
    ]);

    // By tag, twice: one token request, with the credentials as Basic, scope and service as
    // the challenge named them; the second manifest request reuses the token.
    for _ in 0..2 {
        let (status, body) = get(&srv.addr, "/v2/system/deckhouse/repo/manifests/v1");
        assert_eq!(status, 200);
        assert_eq!(body, manifest);
    }
    {
        let st = state.lock().expect("state");
        assert_eq!(st.token_requests.len(), 1, "{:?}", st.token_requests);
        let basic = base64::engine::general_purpose::STANDARD.encode("mirror:s3cret-upstream");
        assert_eq!(
            st.token_requests[0],
            format!(
                "/token?scope=repository%3Aup%2Frepo%3Apull&service=mock-registry Basic {basic}"
            )
        );
        let with_token = st
            .api_requests
            .iter()
            .filter(|r| r.ends_with(&format!("Bearer {TOKEN}")))
            .count();
        assert_eq!(with_token, 2, "{:?}", st.api_requests);
    }
    // A good blob is served and stored.
    let (status, body) = get(
        &srv.addr,
        &format!("/v2/system/deckhouse/repo/blobs/{}", digest(&good)),
    );
    assert_eq!((status, body.len()), (200, good.len()));
    assert!(body == good);
    // A transfer cut off halfway: the client does not get the whole blob, the store keeps nothing.
    let (_, body) = get(
        &srv.addr,
        &format!("/v2/system/deckhouse/repo/blobs/{}", digest(&cut)),
    );
    assert!(body.len() < cut.len());
    // Wrong bytes under a digest: the client never gets all of them either.
    let promised = digest(b"what the digest promises");
    let (_, body) = get(
        &srv.addr,
        &format!("/v2/system/deckhouse/repo/blobs/{promised}"),
    );
    assert!(body.len() < b"something else entirely".len());
    let log = srv.stop();
    let store = Store::open(&root).expect("store");
    assert!(store.has(&digest(&good)).expect("has"));
    assert!(!store.has(&digest(&cut)).expect("has"));
    assert!(!store.has(&promised).expect("has"));
    assert!(!log.contains("s3cret"));
}

/// A blob the slow upstream serves: its bytes, how many of them it sends, and when it sent its
/// last piece.
struct Slow {
    bytes: Vec<u8>,
    send: usize,
    requests: usize,
    finished: Option<Instant>,
}

/// An upstream without auth that sends each blob in 20 pieces, 40 ms apart (one thread per
/// connection), so requests made meanwhile find the fetch in flight.
fn serve_slowly(listener: TcpListener, blobs: Arc<Mutex<BTreeMap<String, Slow>>>) {
    for conn in listener.incoming() {
        let Ok(mut s) = conn else { continue };
        let blobs = blobs.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("").to_string();
            let Some((bytes, send)) = blobs.lock().expect("blobs").get_mut(&path).map(|b| {
                b.requests += 1;
                (b.bytes.clone(), b.send)
            }) else {
                respond(&mut s, "404 Not Found", &[], b"{}", usize::MAX);
                return;
            };
            respond(&mut s, "200 OK", &[], &bytes, 0);
            let piece = bytes.len().div_ceil(20);
            for part in bytes[..send].chunks(piece) {
                std::thread::sleep(Duration::from_millis(40));
                if s.write_all(part).is_err() {
                    return;
                }
            }
            if let Some(b) = blobs.lock().expect("blobs").get_mut(&path) {
                b.finished = Some(Instant::now());
            }
        });
    }
}

/// `GET` with the time the first body byte arrived: (status, body, first byte).
fn timed_get(addr: &str, path: &str) -> (u16, Vec<u8>, Option<Instant>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut out = Vec::new();
    let mut first = None;
    let mut buf = [0u8; 65536];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if first.is_none()
            && let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n")
            && out.len() > end + 4
        {
            first = Some(Instant::now());
        }
    }
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let status = String::from_utf8_lossy(&out[9..12])
        .parse()
        .expect("status");
    (status, out[end + 4..].to_vec(), first)
}

#[test]
fn followers_stream_a_fetch_as_it_lands_and_never_get_a_wrong_blob_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 8 MiB: past the size where the store writes on its background thread.
    let good: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    let cut: Vec<u8> = good.iter().rev().copied().collect();
    let mut liar = good.clone();
    liar[5 << 20] ^= 1;
    let promised = digest(&good[..6 << 20]);
    let blob_path = |d: &Digest| format!("/v2/up/repo/blobs/{d}");
    let mut blobs = BTreeMap::new();
    let entry = |bytes: &[u8], send: usize| Slow {
        bytes: bytes.to_vec(),
        send,
        requests: 0,
        finished: None,
    };
    blobs.insert(blob_path(&digest(&good)), entry(&good, good.len()));
    blobs.insert(blob_path(&digest(&cut)), entry(&cut, cut.len() / 2));
    blobs.insert(blob_path(&promised), entry(&liar, liar.len()));
    let blobs = Arc::new(Mutex::new(blobs));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let up = listener.local_addr().expect("addr");
    let b = blobs.clone();
    std::thread::spawn(move || serve_slowly(listener, b));
    let root = dir.path().join("store");
    let upstream = format!("http://{up}/up");
    let srv = Registryd::start([
        "--root",
        root.to_str().expect("utf-8 path"),
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
    ]);

    // The first request starts the fetch; three more join it while it runs.
    let four = |d: &Digest| -> Vec<(u16, Vec<u8>, Option<Instant>)> {
        let path = format!("/v2/system/deckhouse/repo/blobs/{d}");
        let lead = {
            let (addr, path) = (srv.addr.clone(), path.clone());
            std::thread::spawn(move || timed_get(&addr, &path))
        };
        std::thread::sleep(Duration::from_millis(150));
        let followers: Vec<_> = (0..3)
            .map(|_| {
                let (addr, path) = (srv.addr.clone(), path.clone());
                std::thread::spawn(move || timed_get(&addr, &path))
            })
            .collect();
        let mut all = vec![lead.join().expect("leader")];
        all.extend(followers.into_iter().map(|f| f.join().expect("follower")));
        all
    };
    let got = four(&digest(&good));
    let st = blobs.lock().expect("blobs");
    let slow = &st[&blob_path(&digest(&good))];
    assert_eq!(slow.requests, 1, "one upstream fetch for four clients");
    let finished = slow.finished.expect("the upstream sent it all");
    for (i, (status, body, first)) in got.iter().enumerate() {
        assert_eq!(status, &200, "client {i}");
        assert!(body == &good, "client {i} got {} bytes", body.len());
        // Streamed while the fetch ran, not after it.
        assert!(
            first.expect("a body") < finished,
            "client {i} waited for the end"
        );
    }
    drop(st);

    for (d, len) in [(digest(&cut), cut.len()), (promised.clone(), liar.len())] {
        for (i, (_, body, _)) in four(&d).iter().enumerate() {
            assert!(body.len() < len, "client {i} got all of a broken blob {d}");
        }
        assert_eq!(blobs.lock().expect("blobs")[&blob_path(&d)].requests, 1);
    }
    drop(srv);
    let store = Store::open(&root).expect("store");
    assert!(store.has(&digest(&good)).expect("has"));
    assert!(!store.has(&digest(&cut)).expect("has"));
    assert!(!store.has(&promised).expect("has"));
}
