//! The rendered node load balancer run by real nginx: `nginx -t -c` accepts the file exactly as
//! rendered, and nginx with that configuration in front of two TCP backends recovers at once
//! when a backend returns after both were down.
//!
//! Needs `nginx` with the stream module (Debian: `nginx-light` and `libnginx-mod-stream`; `make
//! nginx-test` installs them). Without nginx the tests say so loudly and pass, unless
//! `REQUIRE_NGINX=1` (set by `make nginx-test` and so in CI), where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on unexpected errors.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use registry_core::containerd::{
    NGINX_CONF, NginxOptions, RenderOptions, nginx_conf, node_config, render,
};
use registry_core::facts::ClusterFacts;
use registry_core::settings::{LoadOptions, load};

/// The nginx binary, or `None` (after a loud message) when it is absent and not required.
fn nginx() -> Option<PathBuf> {
    let found = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("REQUIRE_NGINX").is_none(),
            "REQUIRE_NGINX is set but nginx is not installed (apt-get install nginx-light libnginx-mod-stream)"
        );
        eprintln!(
            "\n***** SKIPPED: nginx is not installed, the rendered nginx.conf was NOT checked by nginx. \
             Install nginx-light and libnginx-mod-stream, or run `make nginx-test`. *****\n"
        );
    }
    found
}

fn run(nginx: &Path, args: &[&str]) -> Output {
    Command::new(nginx)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn repo_file(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)).unwrap()
}

#[test]
fn nginx_accepts_the_rendered_configuration_as_it_is() {
    let Some(nginx) = nginx() else { return };
    let settings = load(
        &repo_file("examples/configs/proxy.yaml"),
        &LoadOptions::default(),
    )
    .unwrap();
    let facts = ClusterFacts::load(&repo_file("examples/configs/cluster.yaml")).unwrap();
    let config = node_config(&settings, None, &facts).unwrap();
    assert!(
        config.proxy_endpoints.len() >= 2,
        "the example has several masters"
    );
    let rendered = render(&config, &RenderOptions::default()).unwrap();
    let conf = rendered
        .files
        .iter()
        .find(|f| f.path == NGINX_CONF)
        .expect("Proxy renders the load balancer");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, &conf.contents).unwrap();
    // `-e stderr`: nginx opens its compiled-in error log before it reads the file.
    let out = run(
        &nginx,
        &["-t", "-e", "stderr", "-c", path.to_str().unwrap()],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "nginx -t refused the rendered file:\n{log}\n{}",
        conf.contents
    );
    assert!(log.contains("syntax is ok"), "{log}");
    // Every master is behind it, and it listens where containerd's hosts.toml points.
    for endpoint in &config.proxy_endpoints {
        assert!(
            conf.contents
                .contains(&format!("server {endpoint} max_fails=0;"))
        );
    }
    assert!(conf.contents.contains("listen 127.0.0.1:5001;"));
}

/// A TCP server that answers every connection with its name, until stopped.
struct Backend {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    fn start(addr: SocketAddr, name: &'static str) -> io::Result<Backend> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.write_all(name.as_bytes());
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => break,
                }
            }
        });
        Ok(Backend {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Backend {
    /// Stops accepting and closes the listening socket (the thread owns it).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// nginx in the foreground, stopped with `nginx -s stop` (then killed) when dropped.
struct Nginx {
    child: Child,
    nginx: PathBuf,
    conf: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let conf = self.conf.to_str().unwrap_or_default().to_owned();
        let _ = run(&self.nginx, &["-e", "stderr", "-c", &conf, "-s", "stop"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a connection through the load balancer reads: a backend's name, or "" when nginx
/// closed it without one.
fn fetch(addr: SocketAddr) -> String {
    let Ok(mut conn) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return String::new();
    };
    conn.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut got = String::new();
    let _ = conn.read_to_string(&mut got);
    got
}

/// A port free on both loopback addresses (bound and released; the caller retries on a race).
fn free_port(ips: &[&str]) -> u16 {
    loop {
        let port = TcpListener::bind((ips[0], 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if ips.iter().all(|ip| TcpListener::bind((*ip, port)).is_ok()) {
            return port;
        }
    }
}

fn start_nginx(nginx: &Path, dir: &Path, backends: &[SocketAddr]) -> (Nginx, SocketAddr) {
    for _ in 0..5 {
        let listen: SocketAddr = format!("127.0.0.1:{}", free_port(&["127.0.0.1"]))
            .parse()
            .unwrap();
        let options = NginxOptions {
            listen,
            pid: dir.join("nginx.pid").display().to_string(),
        };
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, nginx_conf(backends, &options)).unwrap();
        let child = Command::new(nginx)
            .args([
                "-e",
                "stderr",
                "-c",
                conf.to_str().unwrap(),
                "-g",
                "daemon off;",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("nginx.log")).unwrap())
            .spawn()
            .unwrap();
        let mut server = Nginx {
            child,
            nginx: nginx.to_path_buf(),
            conf,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_ok() {
                return (server, listen);
            }
            if let Ok(Some(_)) = server.child.try_wait() {
                break; // Exited: most likely the port was taken meanwhile; try another.
            }
            thread::sleep(Duration::from_millis(20));
        }
        drop(server);
    }
    let log = std::fs::read_to_string(dir.join("nginx.log")).unwrap_or_default();
    panic!("nginx did not start listening:\n{log}");
}

#[test]
fn a_node_recovers_at_once_when_a_master_is_back() {
    let Some(nginx) = nginx() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let b2: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let b3: SocketAddr = format!("127.0.0.3:{port}").parse().unwrap();
    let first = (
        Backend::start(b2, "b2").unwrap(),
        Backend::start(b3, "b3").unwrap(),
    );
    let (server, listen) = start_nginx(&nginx, dir.path(), &[b2, b3]);

    // Both masters serve.
    let mut seen: Vec<String> = (0..4).map(|_| fetch(listen)).collect();
    seen.sort();
    seen.dedup();
    assert!(
        seen.iter().all(|s| s == "b2" || s == "b3") && !seen.is_empty(),
        "{seen:?}"
    );

    // Every master down: nginx tries each (and, with a fail budget, would mark each down).
    drop(first);
    for _ in 0..3 {
        assert_eq!(fetch(listen), "", "a master answered while all were down");
    }

    // One master back: the very next connections reach it, with no wait.
    let _back = Backend::start(b2, "b2").unwrap();
    let started = Instant::now();
    for i in 0..5 {
        assert_eq!(
            fetch(listen),
            "b2",
            "connection {i} after the master came back"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "recovery took {:?}",
        started.elapsed()
    );
    drop(server);
}
