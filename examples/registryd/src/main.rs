//! `registryd`: the registry on each master. It serves a deckhouse-registry store over the OCI
//! distribution API v1.1 (Local mode); the store stays the only place content lives, so scrub,
//! GC, bundles and completeness see everything it serves.
//!
//! Crates (checked with `cargo info`, all maintained and widely used): `tokio` for the runtime;
//! `hyper` 1.x (HTTP/1.1 server) with `hyper-util` (tokio glue, graceful shutdown) rather than
//! a framework, because registry paths hold names with any number of `/` that only an
//! end-anchored match routes correctly (see `router`), so a framework's router would be bypassed
//! anyway; `rustls` through `tokio-rustls` with the `ring` provider (no OpenSSL, no cmake);
//! `bcrypt` for `htpasswd -B` files; `clap` for the command line; `--config` is read by
//! `registry-core` (`orchestrator::RegistrydConfig`, the shape the orchestrator writes).
//!
//! Modules: `config` (flags and file), `server` (connections, TLS, limits, shutdown), `app`
//! (the request pipeline), `router`, `names`, `errors`, `body`, `auth`, `metrics`, `log`, the
//! endpoints (`blobs`, `uploads`, `manifests`, `listing`), `stored` (a stored blob's body), `view` (cached index and manifest
//! summaries) and `repos` (the store's repositories).

mod app;
mod auth;
mod blobs;
mod body;
mod config;
mod errors;
mod follow;
mod listing;
mod log;
mod manifests;
mod metrics;
mod names;
mod proxy;
mod repos;
mod router;
mod server;
mod stored;
mod sync;
mod uploads;
mod upstream;
mod verified;
mod view;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use registry_core::store::Store;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::app::{App, Limits};
use crate::config::{Cli, Command, Settings};

/// Exit code for unusable settings (like `registryctl`).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Sync {
        root,
        from,
        namespace,
        ca,
        user,
        password_file,
    }) = cli.command
    {
        return sync_command(&root, &from, &namespace, ca, user.zip(password_file));
    }
    let settings = match cli.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("registryd: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("registryd")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("registryd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("registryd: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("registryd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The client of a peer registryd serving `namespace` at `url`.
fn peer_client(
    url: &str,
    namespace: &str,
    ca: Option<&std::path::Path>,
    credentials: Option<&(String, std::path::PathBuf)>,
) -> Result<upstream::Upstream, String> {
    let creds = credentials
        .map(|(u, f)| upstream::Credentials::load(u, f))
        .transpose()?;
    let base = format!(
        "{}/{}",
        url.trim_end_matches('/'),
        namespace.trim_matches('/')
    );
    upstream::Upstream::new(&base, ca, creds).map(upstream::Upstream::into_peer)
}

/// A client for every `--peer`.
fn peer_clients(s: &Settings) -> Result<Vec<upstream::Upstream>, String> {
    s.peers
        .urls
        .iter()
        .map(|u| {
            peer_client(
                u,
                &s.namespace,
                s.peers.ca.as_deref(),
                s.peers.credentials.as_ref(),
            )
        })
        .collect()
}

/// `registryd sync`: one pass, then exit (0: done, 1: failed, 2: unusable arguments).
fn sync_command(
    root: &std::path::Path,
    from: &str,
    namespace: &str,
    ca: Option<std::path::PathBuf>,
    credentials: Option<(String, std::path::PathBuf)>,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("registryd sync: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let peer = match peer_client(from, namespace, ca.as_deref(), credentials.as_ref()) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("registryd sync: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        };
        let store = match Store::open(root) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("registryd sync: --root {}: {e}", root.display());
                return ExitCode::from(EXIT_USAGE);
            }
        };
        match sync::pass(&store, &peer).await {
            Ok(r) => {
                println!(
                    "synced from {}: {} repositories, {} tags set, {} referrers kept, {} blobs and manifests ({} bytes) copied",
                    peer.url(),
                    r.repositories,
                    r.tags,
                    r.referrers,
                    r.fetched,
                    r.bytes
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("registryd sync from {}: {e}", peer.url());
                ExitCode::FAILURE
            }
        }
    })
}

enum Failure {
    /// A setting that cannot work (bad file, bad address).
    Usage(String),
    /// Something failed while running.
    Runtime(String),
}

async fn serve(s: Settings) -> Result<(), Failure> {
    let namespace = names::Namespace::parse(&s.namespace).map_err(Failure::Usage)?;
    let auth = match &s.htpasswd {
        Some(path) => Some(auth::Auth::load(path, s.writers.clone()).map_err(Failure::Usage)?),
        None => None,
    };
    let tls = match &s.tls {
        Some((cert, key)) => Some(server::tls_acceptor(cert, key).map_err(Failure::Usage)?),
        None => None,
    };
    let proxy = match &s.upstream {
        None => None,
        Some(u) => {
            let creds = match &u.credentials {
                Some((user, file)) => {
                    Some(upstream::Credentials::load(user, file).map_err(Failure::Usage)?)
                }
                None => None,
            };
            let up =
                upstream::Upstream::new(&u.url, u.ca.as_deref(), creds).map_err(Failure::Usage)?;
            Some(proxy::Proxy::new(up, u.ttl))
        }
    };
    let peers = peer_clients(&s).map_err(Failure::Usage)?;
    // A second client per peer serves misses (the first one belongs to the sync loop).
    let peer_proxies = peer_clients(&s)
        .map_err(Failure::Usage)?
        .into_iter()
        .map(|p| proxy::Proxy::new(p, None))
        .collect();
    let store = Store::open(&s.root)
        .map_err(|e| Failure::Usage(format!("--root {}: {e}", s.root.display())))?;
    let listener = TcpListener::bind(s.listen)
        .await
        .map_err(|e| Failure::Usage(format!("--listen {}: {e}", s.listen)))?;
    let app = Arc::new(App {
        store,
        namespace,
        views: view::Views::default(),
        auth,
        proxy,
        peers: peer_proxies,
        metrics: metrics::Metrics::default(),
        verified: verified::Verified::default(),
        limits: Limits {
            max_manifest: s.max_manifest,
            body_idle: s.body_timeout,
        },
        ready: AtomicBool::new(false),
    });
    let mut term = signal(SignalKind::terminate()).map_err(|e| Failure::Runtime(e.to_string()))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Failure::Runtime(e.to_string()))?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    };
    let local = listener
        .local_addr()
        .map_err(|e| Failure::Runtime(format!("--listen {}: {e}", s.listen)))?;
    if !peers.is_empty() {
        tokio::spawn(sync::peer_loop(app.store.clone(), peers));
    }
    if let Some(ttl) = app.proxy.as_ref().and_then(|p| p.ttl) {
        tokio::spawn(proxy::expire_loop(app.clone(), ttl));
    }
    let mode = match &app.proxy {
        None => "Local registry".to_string(),
        Some(p) => format!("Proxy cache of {}", p.upstream.url()),
    };
    log::event(&format!(
        "{mode} on {}://{local} serving {} from {} ({})",
        if tls.is_some() { "https" } else { "http" },
        app.namespace.as_str(),
        s.root.display(),
        if app.auth.is_some() {
            "htpasswd users"
        } else {
            "open access"
        }
    ));
    let opts = server::ServeOptions {
        max_connections: s.max_connections,
        header_timeout: s.header_timeout,
    };
    server::run(app, listener, tls, opts, shutdown)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    log::event("stopped");
    Ok(())
}
