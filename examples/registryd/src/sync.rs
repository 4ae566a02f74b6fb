//! Peers (Local mode on several masters): copy from another registryd what this store lacks.
//!
//! One pass walks the peer's `_catalog` (repositories under the namespace), each repository's
//! tags, and for every tag whose manifest differs from ours fetches the manifest and, depth
//! first, what it references (child manifests of an index, config and layers of an image;
//! layers with `urls` are skipped), every piece verified against its digest while it is stored.
//! The tag is set only once everything below it is stored, so a half-done pass never leaves a
//! tag pointing at an incomplete image. Then the peer's referrers API names the untagged
//! manifests whose `subject` is that image (signatures, SBOMs, attestations; and theirs, one
//! level down): each one missing here is copied the same way and kept in the repository. Tags
//! and manifests removed on the peer stay here (a pass only adds; removal is the operator's,
//! on every master). `registryd sync` runs one pass; `--peer` runs one per peer every
//! [`PERIOD`].

use std::collections::HashSet;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, StatusCode};
use registry_core::store::{Digest, Store, StoreError};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::repos::{self, Repository};
use crate::upstream::Upstream;

/// How often `--peer` syncs (so a bundle pushed to one master is served by all within this
/// plus the transfer time).
pub(crate) const PERIOD: Duration = Duration::from_secs(60);
/// Manifests larger than this are refused (as for pushes).
const MAX_MANIFEST: usize = 4 << 20;
/// How long a piece of a transfer may take to arrive.
const IDLE: Duration = Duration::from_secs(60);
/// Nesting depth of indexes followed.
const MAX_DEPTH: usize = 4;
/// Levels of referrers followed below a tagged image (a signature of an SBOM is the second).
const REFERRER_DEPTH: usize = 2;
/// Manifest types asked for.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    /// Repositories examined.
    pub(crate) repositories: usize,
    /// Tags set or moved.
    pub(crate) tags: usize,
    /// Untagged referrers newly kept in a repository.
    pub(crate) referrers: usize,
    /// Blobs and manifests fetched.
    pub(crate) fetched: usize,
    /// Bytes fetched.
    pub(crate) bytes: u64,
}

async fn read_json(resp: hyper::Response<Incoming>, what: &str) -> Result<Value, String> {
    let body = tokio::time::timeout(
        IDLE,
        http_body_util::Limited::new(resp.into_body(), MAX_MANIFEST).collect(),
    )
    .await
    .map_err(|_| format!("{what}: too slow"))?
    .map_err(|e| format!("{what}: {e}"))?
    .to_bytes();
    serde_json::from_slice(&body).map_err(|e| format!("{what}: not JSON: {e}"))
}

fn ok(resp: &hyper::Response<Incoming>, what: &str) -> Result<(), String> {
    if resp.status() == StatusCode::OK {
        Ok(())
    } else {
        Err(format!("{what}: peer answered {}", resp.status()))
    }
}

struct Pass<'a> {
    store: &'a Store,
    peer: &'a Upstream,
    report: Report,
    seen: HashSet<Digest>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

impl Pass<'_> {
    async fn has(&self, d: &Digest) -> Result<bool, String> {
        let (s, d) = (self.store.clone(), d.clone());
        blocking(move || s.has(&d)).await
    }

    /// Streams a blob into the store, verified against its digest.
    async fn blob(&mut self, repo: &Repository, d: &Digest) -> Result<(), String> {
        if !self.seen.insert(d.clone()) || self.has(d).await? {
            return Ok(());
        }
        let what = format!("blob {d}");
        let resp = self
            .peer
            .fetch(&Method::GET, repo, "blobs", &d.to_string(), None)
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        ok(&resp, &what)?;
        let mut body = resp.into_body();
        let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(8);
        let (store, digest) = (self.store.clone(), d.clone());
        let writer = tokio::task::spawn_blocking(move || {
            let mut w = store.writer(digest.algorithm())?;
            while let Some(b) = rx.blocking_recv() {
                w.write_bytes(&b)?;
            }
            match w.commit(Some(&digest), None) {
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            }
        });
        let mut n = 0u64;
        let mut failed = None;
        loop {
            match tokio::time::timeout(IDLE, body.frame()).await {
                Err(_) => failed = Some(format!("{what}: transfer stalled")),
                Ok(None) => {}
                Ok(Some(Err(e))) => failed = Some(format!("{what}: {e}")),
                Ok(Some(Ok(f))) => {
                    if let Ok(data) = f.into_data() {
                        n += data.len() as u64;
                        if tx.send(data).await.is_err() {
                            break;
                        }
                    }
                    continue;
                }
            }
            break;
        }
        if let Some(why) = failed {
            // Dropping the channel before the writer finishes: the writer is then committed
            // against a short body and refused, so nothing is published.
            drop(tx);
            let _ = writer.await;
            return Err(why);
        }
        drop(tx);
        match writer.await {
            Ok(r) => r.map_err(|e| format!("{what}: {e}"))?,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
        self.report.fetched += 1;
        self.report.bytes += n;
        Ok(())
    }

    /// Fetches manifest `reference` and everything it references; returns its digest.
    async fn manifest(
        &mut self,
        repo: &Repository,
        reference: &str,
        expected: Option<&Digest>,
        depth: usize,
    ) -> Result<Digest, String> {
        if let Some(d) = expected
            && self.seen.contains(d)
        {
            return Ok(d.clone());
        }
        let what = format!("manifest {reference} of {}", self.peer.name_of(repo));
        let resp = self
            .peer
            .fetch(&Method::GET, repo, "manifests", reference, Some(ACCEPT))
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        ok(&resp, &what)?;
        let claimed = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|d| Digest::parse(d).ok());
        let bytes = tokio::time::timeout(
            IDLE,
            http_body_util::Limited::new(resp.into_body(), MAX_MANIFEST).collect(),
        )
        .await
        .map_err(|_| format!("{what}: too slow"))?
        .map_err(|e| format!("{what}: {e}"))?
        .to_bytes();
        let want = expected.cloned().or(claimed);
        let digest = match &want {
            Some(d) => {
                let actual = Digest::of(d.algorithm(), &bytes);
                if &actual != d {
                    return Err(format!("{what}: content hashes to {actual}, not {d}"));
                }
                actual
            }
            None => Digest::of(registry_core::store::Algorithm::Sha256, &bytes),
        };
        let doc: Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("{what}: not JSON: {e}"))?;
        let descriptors = |key: &str| -> Vec<(Digest, bool)> {
            let list: Vec<&Value> = match doc.get(key) {
                Some(Value::Array(a)) => a.iter().collect(),
                Some(v @ Value::Object(_)) => vec![v],
                _ => Vec::new(),
            };
            list.into_iter()
                .filter_map(|v| {
                    let d = Digest::parse(v.get("digest")?.as_str()?).ok()?;
                    let foreign = v
                        .get("urls")
                        .and_then(Value::as_array)
                        .is_some_and(|u| !u.is_empty());
                    Some((d, foreign))
                })
                .collect()
        };
        if depth < MAX_DEPTH {
            for (child, _) in descriptors("manifests") {
                if !self.has(&child).await? {
                    Box::pin(self.manifest(repo, &child.to_string(), Some(&child), depth + 1))
                        .await?;
                }
            }
        }
        for key in ["config", "layers"] {
            for (d, foreign) in descriptors(key) {
                if !foreign {
                    self.blob(repo, &d).await?;
                }
            }
        }
        if !self.has(&digest).await? {
            let (s, d, b) = (self.store.clone(), digest.clone(), bytes.to_vec());
            blocking(move || s.put_bytes(&b, Some(&d)).map(|_| ())).await?;
            self.report.fetched += 1;
            self.report.bytes += bytes.len() as u64;
        }
        self.seen.insert(digest.clone());
        Ok(digest)
    }

    /// Copies the referrers of `subject` the peer has and `known` (this repository's
    /// manifests here) lacks, keeping each in the repository; then theirs, to
    /// [`REFERRER_DEPTH`]. A peer without the referrers API (404) has none to give.
    async fn referrers(
        &mut self,
        repo: &Repository,
        subject: &Digest,
        known: &mut HashSet<Digest>,
        depth: usize,
    ) -> Result<(), String> {
        if depth >= REFERRER_DEPTH {
            return Ok(());
        }
        let what = format!("referrers of {subject} in {}", self.peer.name_of(repo));
        let resp = self
            .peer
            .fetch(&Method::GET, repo, "referrers", &subject.to_string(), None)
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        ok(&resp, &what)?;
        let doc = read_json(resp, &what).await?;
        let found: Vec<Digest> = doc
            .get("manifests")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| Digest::parse(m.get("digest")?.as_str()?).ok())
                    .collect()
            })
            .unwrap_or_default();
        for d in found {
            if !known.contains(&d) {
                self.manifest(repo, &d.to_string(), Some(&d), 0).await?;
                let (s, r, k) = (self.store.clone(), repo.clone(), d.clone());
                blocking(move || repos::keep_in(&s, &r, &k)).await?;
                known.insert(d.clone());
                self.report.referrers += 1;
            }
            Box::pin(self.referrers(repo, &d, known, depth + 1)).await?;
        }
        Ok(())
    }

    async fn repository(&mut self, repo: &Repository) -> Result<(), String> {
        let name = self.peer.name_of(repo);
        let resp = self
            .peer
            .get(
                &format!("/v2/{name}/tags/list"),
                &format!("repository:{name}:pull"),
            )
            .await
            .map_err(|e| format!("tags of {name}: {e}"))?;
        ok(&resp, &format!("tags of {name}"))?;
        let doc = read_json(resp, &format!("tags of {name}")).await?;
        let tags: Vec<String> = doc
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let (s, r) = (self.store.clone(), repo.clone());
        let mut known: HashSet<Digest> = blocking(move || s.repository_manifests(&r))
            .await?
            .into_iter()
            .map(|e| e.digest)
            .collect();
        for tag in tags {
            let digest = self.manifest(repo, &tag, None, 0).await?;
            self.referrers(repo, &digest, &mut known, 0).await?;
            let (s, r, t) = (self.store.clone(), repo.clone(), tag.clone());
            let current = blocking(move || match s.resolve_in(&r, &t) {
                Ok(d) => Ok(Some(d)),
                Err(StoreError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            })
            .await?;
            if current.as_ref() != Some(&digest) {
                let (s, r) = (self.store.clone(), repo.clone());
                blocking(move || repos::tag_in(&s, &r, &tag, &digest)).await?;
                self.report.tags += 1;
            }
        }
        self.report.repositories += 1;
        Ok(())
    }
}

/// One pass over everything the peer serves under its namespace.
pub(crate) async fn pass(store: &Store, peer: &Upstream) -> Result<Report, String> {
    let resp = peer
        .get("/v2/_catalog?n=10000", "registry:catalog:*")
        .await
        .map_err(|e| format!("catalog: {e}"))?;
    ok(&resp, "catalog")?;
    let doc = read_json(resp, "catalog").await?;
    let mut repos: Vec<Repository> = doc
        .get("repositories")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(|n| peer.repository_of(n))
                .collect()
        })
        .unwrap_or_default();
    repos.sort();
    repos.dedup();
    let mut p = Pass {
        store,
        peer,
        report: Report::default(),
        seen: HashSet::new(),
    };
    for r in &repos {
        p.repository(r).await?;
    }
    Ok(p.report)
}

/// `--peer`: a pass per peer every [`PERIOD`], for as long as registryd runs.
pub(crate) async fn peer_loop(store: Store, peers: Vec<Upstream>) {
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        for peer in &peers {
            match pass(&store, peer).await {
                Ok(r) if r.tags > 0 || r.fetched > 0 || r.referrers > 0 => {
                    crate::log::event(&format!(
                        "peer {}: {} tags, {} referrers, {} blobs and manifests ({} bytes) copied",
                        peer.url(),
                        r.tags,
                        r.referrers,
                        r.fetched,
                        r.bytes
                    ))
                }
                Ok(_) => {}
                Err(e) => crate::log::event(&format!("peer {}: {e}", peer.url())),
            }
        }
    }
}
