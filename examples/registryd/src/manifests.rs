//! Manifests: `HEAD`/`GET`/`PUT`/`DELETE` by tag or digest, for OCI image manifests and indexes
//! and Docker v2 manifests and manifest lists.
//!
//! A `PUT` is checked before anything is stored: at most `--max-manifest` bytes, a JSON
//! document of one of the four types whose `mediaType` agrees with `Content-Type`, its digest
//! equal to a digest reference, and every blob or manifest it references already stored
//! (`MANIFEST_BLOB_UNKNOWN` otherwise; layers with `urls`, non-distributable, are exempt, and a
//! `subject` need not exist). The manifest then becomes a blob and an entry of its repository.

use std::sync::Arc;

use hyper::StatusCode;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION};
use registry_core::store::{Algorithm, Digest, StoreError, media_types};
use serde_json::{Value, json};

use crate::app::{App, Call, blocking};
use crate::blobs::parse_digest;
use crate::body::{self, BodyFailure, Resp, read_limited};
use crate::errors::{ApiError, Code};
use crate::names::tag_ok;
use crate::repos::{self, Repository};
use crate::view::Summary;

/// The media types a manifest `PUT` accepts.
const KNOWN: [&str; 4] = [
    media_types::OCI_MANIFEST,
    media_types::OCI_INDEX,
    media_types::DOCKER_MANIFEST,
    media_types::DOCKER_LIST,
];

/// A `<reference>`: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reference {
    Tag(String),
    Digest(Digest),
}

pub(crate) fn parse_reference(r: &str) -> Result<Reference, ApiError> {
    if r.contains(':') {
        return parse_digest(r).map(Reference::Digest);
    }
    if tag_ok(r) {
        Ok(Reference::Tag(r.to_string()))
    } else {
        Err(ApiError::manifest_invalid(format!(
            "{} is neither a digest nor a tag ([a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}})",
            crate::errors::shown(r)
        )))
    }
}

/// What a checked manifest references.
#[derive(Debug)]
struct Checked {
    /// Blobs and manifests that must be stored before it.
    needs: Vec<Digest>,
    subject: Option<Digest>,
}

fn descriptor_digest(v: &Value, field: &str) -> Result<Digest, ApiError> {
    let d = v
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::manifest_invalid(format!("{field} has no \"digest\" string")))?;
    Digest::parse(d).map_err(|e| ApiError::manifest_invalid(format!("{field}: {e}")))
}

/// Checks a manifest document (see the module comment).
fn check(bytes: &[u8], content_type: Option<&str>) -> Result<Checked, ApiError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::manifest_invalid(format!("manifest is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::manifest_invalid("manifest is not a JSON object"));
    }
    if v.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(ApiError::manifest_invalid(
            "schemaVersion must be 2 (Docker schema 1 is not supported)",
        ));
    }
    let declared = v.get("mediaType").and_then(Value::as_str);
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| KNOWN.contains(c));
    if let (Some(d), Some(h)) = (declared, header)
        && d != h
    {
        return Err(ApiError::manifest_invalid(format!(
            "mediaType {d:?} does not match Content-Type {h:?}"
        )));
    }
    let is_index = v.get("manifests").is_some();
    let media_type = match declared.or(header) {
        Some(m) if KNOWN.contains(&m) => m.to_string(),
        Some(m) => {
            return Err(ApiError::manifest_invalid(format!(
                "unsupported manifest media type {m:?}"
            )));
        }
        None if is_index => media_types::OCI_INDEX.to_string(),
        None => media_types::OCI_MANIFEST.to_string(),
    };
    let index_type = media_type == media_types::OCI_INDEX || media_type == media_types::DOCKER_LIST;
    let mut needs = Vec::new();
    if index_type {
        let list = v
            .get("manifests")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::manifest_invalid("an index needs a \"manifests\" array"))?;
        for (i, m) in list.iter().enumerate() {
            needs.push(descriptor_digest(m, &format!("manifests[{i}]"))?);
        }
    } else {
        let config = v
            .get("config")
            .filter(|c| c.is_object())
            .ok_or_else(|| ApiError::manifest_invalid("an image manifest needs \"config\""))?;
        needs.push(descriptor_digest(config, "config")?);
        let layers = v
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::manifest_invalid("an image manifest needs \"layers\""))?;
        for (i, l) in layers.iter().enumerate() {
            let d = descriptor_digest(l, &format!("layers[{i}]"))?;
            let foreign = l
                .get("urls")
                .and_then(Value::as_array)
                .is_some_and(|u| !u.is_empty());
            if !foreign {
                needs.push(d);
            }
        }
    }
    let subject = match v.get("subject") {
        None | Some(Value::Null) => None,
        Some(s) => Some(descriptor_digest(s, "subject")?),
    };
    Ok(Checked { needs, subject })
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Code::ManifestInvalid,
        format!("manifest larger than {max} bytes"),
    )
}

/// `PUT /v2/<name>/manifests/<reference>`.
pub(crate) async fn put(
    call: Call,
    name: &str,
    repo: Repository,
    reference: &str,
) -> Result<Resp, ApiError> {
    let reference = parse_reference(reference)?;
    let max = call.app.limits.max_manifest;
    if let Some(n) = call
        .header(CONTENT_LENGTH.as_str())
        .and_then(|v| v.trim().parse::<u64>().ok())
        && n > max
    {
        return Err(too_large(max));
    }
    let content_type = call.header(CONTENT_TYPE.as_str()).map(str::to_owned);
    let app = call.app.clone();
    let bytes = read_limited(call.body, max, app.limits.body_idle)
        .await
        .map_err(|f| match f {
            BodyFailure::TooLong(m) => too_large(m),
            other => other.into_api(),
        })?;
    let checked = check(&bytes, content_type.as_deref())?;
    let digest = match &reference {
        Reference::Digest(d) => {
            let actual = Digest::of(d.algorithm(), &bytes);
            if &actual != d {
                return Err(ApiError::digest_invalid(
                    &d.to_string(),
                    format!("the manifest's content hashes to {actual}"),
                ));
            }
            actual
        }
        Reference::Tag(_) => Digest::of(Algorithm::Sha256, &bytes),
    };
    let store = app.store.clone();
    let d = digest.clone();
    let needs = checked.needs.clone();
    let summary = Summary::parse(&bytes);
    blocking(move || {
        let mut missing = Vec::new();
        for n in &needs {
            if !store.has(n).map_err(ApiError::store)? {
                missing.push(n.to_string());
            }
        }
        if !missing.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::ManifestBlobUnknown,
                format!(
                    "the manifest references {} that are not stored: {}",
                    if missing.len() == 1 {
                        "a blob"
                    } else {
                        "blobs"
                    },
                    missing.join(", ")
                ),
            )
            .detail(json!({ "missing": missing })));
        }
        store.put_bytes(&bytes, Some(&d)).map_err(ApiError::store)?;
        match &reference {
            Reference::Tag(t) => repos::tag_in(&store, &repo, t, &d),
            Reference::Digest(_) => repos::keep_in(&store, &repo, &d),
        }
        .map_err(ApiError::store)
    })
    .await?;
    if let Some(s) = summary {
        app.views.remember(&digest, s);
    }
    let mut r = body::status(StatusCode::CREATED);
    body::set(
        &mut r,
        LOCATION.as_str(),
        &format!("/v2/{name}/manifests/{digest}"),
    );
    body::set(&mut r, "Docker-Content-Digest", &digest.to_string());
    if let Some(s) = &checked.subject {
        body::set(&mut r, "OCI-Subject", &s.to_string());
    }
    Ok(r)
}

/// True unless the client's `Accept` names manifest types and none of them is `media_type`.
fn acceptable(accept: &[&str], media_type: &str) -> bool {
    let items: Vec<&str> = accept
        .iter()
        .flat_map(|h| h.split(','))
        .map(|i| i.split(';').next().unwrap_or("").trim())
        .filter(|i| !i.is_empty())
        .collect();
    let names_manifests = items.iter().any(|i| KNOWN.contains(i));
    !names_manifests
        || items
            .iter()
            .any(|i| *i == media_type || *i == "*/*" || *i == "application/*")
}

/// Whether `reference` resolves in `repo` in the store.
async fn known(app: &Arc<App>, repo: &Repository, reference: &Reference) -> Result<bool, ApiError> {
    let (a, r, reference) = (app.clone(), repo.clone(), reference.clone());
    blocking(move || {
        let view = a.views.index(&a.store).map_err(ApiError::store)?;
        Ok(match &reference {
            Reference::Tag(t) => view.resolve(&r, t).is_some(),
            Reference::Digest(d) => a
                .views
                .reachable(&a.store, &view, &r, d)
                .map_err(ApiError::store)?,
        })
    })
    .await
}

/// Local mode: a tag or manifest the store lacks, from the first peer that has it (its blobs
/// follow on demand, and the periodic sync completes the copy). A local tag is never replaced
/// here: the masters' tags converge through the sync.
async fn from_peers(
    app: &Arc<App>,
    repo: &Repository,
    reference: &Reference,
) -> Result<(), ApiError> {
    if known(app, repo, reference).await? {
        return Ok(());
    }
    for peer in &app.peers {
        let fetched = match reference {
            Reference::Tag(t) => crate::proxy::refresh_tag(app, peer, repo, t).await,
            Reference::Digest(d) => crate::proxy::fetch_manifest(app, peer, repo, d).await,
        };
        // A peer that lacks it or is down: ask the next one.
        if fetched.is_ok() && known(app, repo, reference).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// `HEAD`/`GET /v2/<name>/manifests/<reference>`.
pub(crate) async fn get(call: Call, repo: Repository, reference: &str) -> Result<Resp, ApiError> {
    let reference = match parse_reference(reference) {
        Ok(r) => r,
        Err(e) if e.code() == Code::ManifestInvalid => {
            return Err(ApiError::manifest_unknown(reference));
        }
        Err(e) => return Err(e),
    };
    let head = call.is_head();
    let app = call.app.clone();
    if let Some(proxy) = &app.proxy {
        match &reference {
            Reference::Tag(t) => crate::proxy::refresh_tag(&app, proxy, &repo, t).await?,
            Reference::Digest(d) => {
                if !known(&app, &repo, &reference).await? {
                    crate::proxy::fetch_manifest(&app, proxy, &repo, d).await?;
                }
            }
        }
    } else if call.forwards_misses() && !app.peers.is_empty() {
        from_peers(&app, &repo, &reference).await?;
    }
    let shown = match &reference {
        Reference::Tag(t) => t.clone(),
        Reference::Digest(d) => d.to_string(),
    };
    let (digest, bytes, summary) = blocking(move || {
        let view = app.views.index(&app.store).map_err(ApiError::store)?;
        let digest = match &reference {
            Reference::Tag(t) => view
                .resolve(&repo, t)
                .ok_or_else(|| ApiError::manifest_unknown(t))?,
            Reference::Digest(d) => {
                if !app
                    .views
                    .reachable(&app.store, &view, &repo, d)
                    .map_err(ApiError::store)?
                {
                    return Err(ApiError::manifest_unknown(&d.to_string()));
                }
                d.clone()
            }
        };
        let bytes = if head {
            None
        } else {
            match app.store.read(&digest) {
                Ok(b) => Some(b),
                Err(StoreError::NotFound { .. }) => {
                    return Err(ApiError::manifest_unknown(&digest.to_string()));
                }
                Err(e) => return Err(ApiError::store(e)),
            }
        };
        let summary = app
            .views
            .summary(&app.store, &digest)
            .map_err(ApiError::store)?
            .ok_or_else(|| ApiError::manifest_unknown(&digest.to_string()))?;
        Ok((digest, bytes, summary))
    })
    .await?;
    let media_type = if summary.media_type.is_empty() {
        if summary.children.is_empty() {
            media_types::OCI_MANIFEST.to_string()
        } else {
            media_types::OCI_INDEX.to_string()
        }
    } else {
        summary.media_type.clone()
    };
    let accept: Vec<&str> = call
        .headers
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !acceptable(&accept, &media_type) {
        return Err(ApiError::manifest_unknown(&shown).header("Vary", "Accept"));
    }
    let size = summary.size;
    let mut r = hyper::Response::new(match bytes {
        Some(b) => body::full(b),
        None => body::empty(),
    });
    let h = r.headers_mut();
    h.insert(CONTENT_LENGTH, HeaderValue::from(size));
    body::set(&mut r, CONTENT_TYPE.as_str(), &media_type);
    body::set(&mut r, "Docker-Content-Digest", &digest.to_string());
    body::set(&mut r, "ETag", &format!("\"{digest}\""));
    Ok(r)
}

/// `DELETE /v2/<name>/manifests/<reference>`: by digest, the manifest leaves the repository
/// (with every tag pointing at it); by tag, only the tag goes. Blobs stay until GC.
pub(crate) async fn delete(
    call: Call,
    repo: Repository,
    reference: &str,
) -> Result<Resp, ApiError> {
    let reference = parse_reference(reference)?;
    let store = call.app.store.clone();
    blocking(move || {
        match &reference {
            Reference::Digest(d) => {
                let n = repos::forget_in(&store, &repo, d).map_err(ApiError::store)?;
                if n == 0 {
                    return Err(ApiError::manifest_unknown(&d.to_string()));
                }
            }
            Reference::Tag(t) => match repos::untag_in(&store, &repo, t) {
                Ok(()) => {}
                Err(StoreError::NotFound { .. }) => return Err(ApiError::manifest_unknown(t)),
                Err(e) => return Err(ApiError::store(e)),
            },
        }
        Ok(body::status(StatusCode::ACCEPTED))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_refuses_only_when_it_names_other_manifest_types() {
        let oci = media_types::OCI_MANIFEST;
        assert!(acceptable(&[], oci));
        assert!(acceptable(&["application/json"], oci));
        assert!(acceptable(&["*/*"], oci));
        assert!(acceptable(
            &[&format!("{}, {oci};q=0.5", media_types::DOCKER_MANIFEST)],
            oci
        ));
        assert!(!acceptable(&[media_types::DOCKER_MANIFEST], oci));
    }

    #[test]
    fn manifests_are_checked_before_storing() {
        let cfg = Digest::of(Algorithm::Sha256, b"{}");
        let layer = Digest::of(Algorithm::Sha256, b"l");
        let m = json!({"schemaVersion": 2, "mediaType": media_types::OCI_MANIFEST,
            "config": {"mediaType": "x", "digest": cfg.to_string(), "size": 2},
            "layers": [{"mediaType": "y", "digest": layer.to_string(), "size": 1},
                       {"mediaType": "y", "digest": layer.to_string(), "size": 1, "urls": ["http://x"]}]});
        let c = check(m.to_string().as_bytes(), Some(media_types::OCI_MANIFEST)).expect("valid");
        assert_eq!(c.needs, vec![cfg.clone(), layer]);
        let e =
            check(m.to_string().as_bytes(), Some(media_types::OCI_INDEX)).expect_err("mismatch");
        assert_eq!(e.code(), Code::ManifestInvalid);
        assert!(check(b"[]", None).is_err());
        assert!(check(br#"{"schemaVersion":1}"#, None).is_err());
        let bad =
            json!({"schemaVersion": 2, "config": {"digest": "sha256:zz", "size": 1}, "layers": []});
        assert!(check(bad.to_string().as_bytes(), None).is_err());
    }
}
