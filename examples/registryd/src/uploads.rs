//! Blob uploads: monolithic `POST ?digest=`, sessions (`POST`, chunked `PATCH` with
//! `Content-Range`, `PUT ?digest=` to finish, `GET` status, `DELETE` cancel) and cross-repository
//! `mount`. A session is a store upload (`uploads/<id>` under the store root): bytes are hashed
//! as they arrive and saved at every chunk end, so a session survives a registryd restart and a
//! finished blob is published only if it matches its digest.

use hyper::StatusCode;
use hyper::header::{CONTENT_LENGTH, LOCATION};
use registry_core::store::{Algorithm, BlobWriter, Digest, Store, StoreError, UploadId};

use crate::app::{App, Call, blocking};
use crate::blobs::parse_digest;
use crate::body::{self, Resp, stream_into};
use crate::errors::{ApiError, Code};

fn upload_location(name: &str, id: &UploadId) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// The `Range` header of an upload holding `size` bytes (`0-<last offset>`).
fn range_of(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn session_response(status: StatusCode, name: &str, id: &UploadId, size: u64) -> Resp {
    let mut r = body::status(status);
    body::set(&mut r, LOCATION.as_str(), &upload_location(name, id));
    body::set(&mut r, "Docker-Upload-UUID", id.as_str());
    body::set(&mut r, "Range", &range_of(size));
    r
}

fn created(name: &str, digest: &Digest) -> Resp {
    let mut r = body::status(StatusCode::CREATED);
    body::set(
        &mut r,
        LOCATION.as_str(),
        &format!("/v2/{name}/blobs/{digest}"),
    );
    body::set(&mut r, "Docker-Content-Digest", &digest.to_string());
    r
}

fn parse_id(id: &str) -> Result<UploadId, ApiError> {
    UploadId::parse(id).map_err(|_| ApiError::upload_unknown(id))
}

/// The declared length of the request body, if any.
fn content_length(call: &Call) -> Result<Option<u64>, ApiError> {
    match call.header(CONTENT_LENGTH.as_str()) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            ApiError::bad_request(Code::SizeInvalid, "Content-Length is not a number")
        }),
    }
}

/// A chunk's `Content-Range: <start>-<end>` (inclusive), checked against `Content-Length`.
fn chunk_range(call: &Call) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(raw) = call.header("content-range") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            Code::BlobUploadInvalid,
            format!(
                "Content-Range {} is not <start>-<end>",
                crate::errors::shown(raw)
            ),
        )
    };
    let spec = raw.trim();
    let spec = spec
        .strip_prefix("bytes=")
        .or_else(|| spec.strip_prefix("bytes "))
        .unwrap_or(spec);
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let num = |s: &str| -> Result<u64, ApiError> {
        if s.is_empty() || s.len() > 19 || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let (start, end) = (num(a)?, num(b)?);
    if end < start {
        return Err(bad());
    }
    if let Some(len) = content_length(call)?
        && len != end - start + 1
    {
        return Err(ApiError::bad_request(
            Code::SizeInvalid,
            format!(
                "Content-Range {start}-{end} is {} bytes but Content-Length is {len}",
                end - start + 1
            ),
        ));
    }
    Ok(Some((start, end)))
}

/// A chunk that does not start where the upload ends: `416` with the upload's current range.
fn out_of_order(name: &str, id: &UploadId, size: u64, start: u64) -> ApiError {
    ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        Code::BlobUploadInvalid,
        format!("chunk starts at {start} but upload {id} holds {size} bytes"),
    )
    .header("Location", &upload_location(name, id))
    .header("Range", &range_of(size))
    .header("Docker-Upload-UUID", id.as_str())
}

/// `POST /v2/<name>/blobs/uploads/`.
pub(crate) async fn start(call: Call, name: &str) -> Result<Resp, ApiError> {
    if let Some(m) = call.param("mount") {
        let digest = parse_digest(&m)?;
        if let Some(from) = call.param("from") {
            crate::names::check_name(&from)?;
        }
        let store = call.app.store.clone();
        let d = digest.clone();
        if blocking(move || store.has(&d).map_err(ApiError::store)).await? {
            return Ok(created(name, &digest));
        }
        // Not stored: the spec's fallback is an ordinary upload session.
    }
    if let Some(d) = call.param("digest") {
        let digest = parse_digest(&d)?;
        return monolithic(call, name, digest).await;
    }
    let store = call.app.store.clone();
    let scope = name.to_owned();
    let id = blocking(move || {
        let w = store
            .begin_upload_in(Algorithm::Sha256, Some(&scope))
            .map_err(ApiError::store)?;
        let id = w
            .upload_id()
            .cloned()
            .ok_or_else(|| ApiError::store(StoreError::Cancelled))?;
        w.close().map_err(ApiError::store)?;
        Ok(id)
    })
    .await?;
    call.app.metrics.upload_started();
    Ok(session_response(StatusCode::ACCEPTED, name, &id, 0))
}

/// `POST ?digest=`: the whole blob in one request.
async fn monolithic(call: Call, name: &str, digest: Digest) -> Result<Resp, ApiError> {
    let len = content_length(&call)?;
    let store = call.app.store.clone();
    let alg = digest.algorithm();
    let writer = blocking(move || {
        let w = store.writer(alg).map_err(ApiError::store)?;
        if let Some(n) = len {
            w.check_quota(n).map_err(ApiError::store)?;
        }
        Ok(w)
    })
    .await?;
    let idle = call.app.limits.body_idle;
    let s = stream_into(writer, call.body, len, idle).await;
    if let Err(f) = s.result {
        // Dropping a plain writer removes its temp file.
        drop(s.writer);
        return Err(f.into_api());
    }
    let d = digest.clone();
    let app = call.app.clone();
    blocking(move || commit(&app, s.writer, &d, len)).await?;
    Ok(created(name, &digest))
}

/// Commits a writer against `digest`; an already stored blob is success. The stored file is
/// then known to hold verified content (see [`crate::verified`]).
fn commit(app: &App, w: BlobWriter, digest: &Digest, size: Option<u64>) -> Result<(), ApiError> {
    match w.commit(Some(digest), size) {
        Ok(_) => {
            app.verified.committed(&app.store, digest);
            Ok(())
        }
        Err(e @ StoreError::DigestMismatch { .. }) => {
            Err(ApiError::bad_request(Code::DigestInvalid, e.to_string())
                .detail(serde_json::json!({ "digest": digest.to_string() })))
        }
        Err(e) => Err(ApiError::store(e)),
    }
}

/// Reopens upload `id` and checks that a chunk starting at `start` continues it.
async fn reopen(
    call: &Call,
    name: &str,
    id: &UploadId,
    start: Option<u64>,
) -> Result<BlobWriter, ApiError> {
    let store = call.app.store.clone();
    let i = id.clone();
    let scope = name.to_owned();
    let w = blocking(move || {
        in_scope(&store, &i, &scope)?;
        match store.resume_upload(&i) {
            Ok(w) => Ok(w),
            Err(StoreError::NotFound { .. }) => Err(ApiError::upload_unknown(i.as_str())),
            Err(e) => Err(ApiError::store(e)),
        }
    })
    .await?;
    if let Some(s) = start
        && s != w.written()
    {
        let size = w.written();
        blocking(move || w.close().map_err(ApiError::store)).await?;
        return Err(out_of_order(name, id, size, s));
    }
    Ok(w)
}

/// Streams the request body into an upload, at most `chunk` bytes if a range was declared.
/// On any failure the upload is saved as far as it got and stays resumable.
async fn append(
    call: Call,
    w: BlobWriter,
    range: Option<(u64, u64)>,
) -> Result<BlobWriter, ApiError> {
    let declared = match range {
        Some((a, b)) => Some(b - a + 1),
        None => content_length(&call)?,
    };
    let idle = call.app.limits.body_idle;
    let s = stream_into(w, call.body, declared, idle).await;
    let short = declared.is_some_and(|d| s.received != d) && s.result.is_ok();
    if let Err(f) = s.result {
        let w = s.writer;
        blocking(move || w.close().map_err(ApiError::store)).await?;
        return Err(f.into_api());
    }
    if short {
        let (got, want) = (s.received, declared.unwrap_or(0));
        let w = s.writer;
        blocking(move || w.close().map_err(ApiError::store)).await?;
        return Err(ApiError::bad_request(
            Code::SizeInvalid,
            format!("chunk ended after {got} of {want} declared bytes"),
        ));
    }
    Ok(s.writer)
}

/// `PATCH /v2/<name>/blobs/uploads/<id>`: one chunk (or the rest of a streamed upload).
pub(crate) async fn patch(call: Call, name: &str, id: &str) -> Result<Resp, ApiError> {
    let id = parse_id(id)?;
    let range = chunk_range(&call)?;
    let w = reopen(&call, name, &id, range.map(|r| r.0)).await?;
    let w = append(call, w, range).await?;
    let size = w.written();
    blocking(move || w.close().map_err(ApiError::store)).await?;
    Ok(session_response(StatusCode::ACCEPTED, name, &id, size))
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: the last chunk (optional) and the commit.
pub(crate) async fn finish(call: Call, name: &str, id: &str) -> Result<Resp, ApiError> {
    let id = parse_id(id)?;
    let digest = match call.param("digest") {
        Some(d) => parse_digest(&d)?,
        None => {
            return Err(ApiError::bad_request(
                Code::DigestInvalid,
                "PUT that finishes an upload needs ?digest=",
            ));
        }
    };
    let range = chunk_range(&call)?;
    let store = call.app.store.clone();
    let app = call.app.clone();
    let w = reopen(&call, name, &id, range.map(|r| r.0)).await?;
    let has_body = range.is_some() || content_length(&call)?.is_some_and(|n| n > 0);
    let w = if has_body {
        append(call, w, range).await?
    } else {
        w
    };
    let d = digest.clone();
    blocking(move || {
        if w.current_digest().algorithm() == d.algorithm() {
            return commit(&app, w, &d, None);
        }
        w.close().map_err(ApiError::store)?;
        match store.commit_upload_as(&id, &d, None) {
            Ok(_) => Ok(()),
            Err(e @ StoreError::DigestMismatch { .. }) => {
                Err(ApiError::bad_request(Code::DigestInvalid, e.to_string()))
            }
            Err(e) => Err(ApiError::store(e)),
        }
    })
    .await?;
    Ok(created(name, &digest))
}

/// `GET /v2/<name>/blobs/uploads/<id>`: how far the upload got.
pub(crate) async fn status(call: Call, name: &str, id: &str) -> Result<Resp, ApiError> {
    let id = parse_id(id)?;
    let store = call.app.store.clone();
    let i = id.clone();
    let scope = name.to_owned();
    let size = blocking(move || {
        in_scope(&store, &i, &scope)?;
        let ups = store.uploads().map_err(ApiError::store)?;
        ups.into_iter()
            .find(|u| u.id == i)
            .map(|u| u.size)
            .ok_or_else(|| ApiError::upload_unknown(i.as_str()))
    })
    .await?;
    Ok(session_response(StatusCode::NO_CONTENT, name, &id, size))
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`: cancels the upload and removes its data.
pub(crate) async fn cancel(call: Call, name: &str, id: &str) -> Result<Resp, ApiError> {
    let id = parse_id(id)?;
    let store = call.app.store.clone();
    let scope = name.to_owned();
    blocking(move || {
        in_scope(&store, &id, &scope)?;
        match store.abort_upload(&id) {
            Ok(()) => Ok(body::status(StatusCode::NO_CONTENT)),
            Err(StoreError::NotFound { .. }) => Err(ApiError::upload_unknown(id.as_str())),
            Err(e) => Err(ApiError::store(e)),
        }
    })
    .await
}

/// `UPLOAD_UNKNOWN` unless upload `id` was started in repository `scope`: an upload is not
/// visible, resumable or cancellable from another repository (one a client may not even be
/// allowed to push to).
fn in_scope(store: &Store, id: &UploadId, scope: &str) -> Result<(), ApiError> {
    match store.upload_scope(id) {
        Ok(Some(s)) if s == scope => Ok(()),
        Ok(_) | Err(StoreError::NotFound { .. }) => Err(ApiError::upload_unknown(id.as_str())),
        Err(e) => Err(ApiError::store(e)),
    }
}
