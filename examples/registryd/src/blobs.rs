//! Blobs: `HEAD`/`GET` (whole or one `Range`) and `DELETE`. Blobs are global in the store, so
//! every repository serves every stored blob; a whole-blob `GET` is verified as it streams, once
//! per file (see [`crate::verified`]).

use hyper::StatusCode;
use hyper::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderValue};
use registry_core::store::{BlobReader, Digest, StoreError};

use crate::app::{Call, blocking};
use crate::body::{self, Resp};
use crate::errors::{ApiError, Code};
use crate::repos::Repository;
use crate::stored::stored;

/// Parses a digest from a path or query, as `DIGEST_INVALID` on failure.
pub(crate) fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    Digest::parse(s).map_err(|e| ApiError::digest_invalid(s, e.reason))
}

/// One satisfiable byte range `[start, end]` of a blob of `size` bytes, from a `Range` header.
/// Only the single-range `bytes=` forms are served; anything else is refused.
pub(crate) fn parse_range(header: &str, size: u64) -> Result<(u64, u64), ApiError> {
    let bad = |why: &str| {
        ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            Code::RangeInvalid,
            format!("Range {}: {why}", crate::errors::shown(header)),
        )
        .header("Content-Range", &format!("bytes */{size}"))
    };
    let spec = header
        .trim()
        .strip_prefix("bytes=")
        .ok_or_else(|| bad("only bytes=START-END is supported"))?;
    if spec.contains(',') {
        return Err(bad("multiple ranges are not supported"));
    }
    let (a, b) = spec
        .split_once('-')
        .ok_or_else(|| bad("expected START-END"))?;
    let num = |s: &str| -> Result<u64, ApiError> {
        if s.is_empty() || s.len() > 19 || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("bounds must be non-negative decimal numbers"));
        }
        s.parse().map_err(|_| bad("bound too large"))
    };
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n = num(suffix)?;
            if n == 0 || size == 0 {
                return Err(bad("empty suffix range"));
            }
            (size - n.min(size), size - 1)
        }
        (s, "") => (num(s)?, size.saturating_sub(1)),
        (s, e) => (num(s)?, num(e)?.min(size.saturating_sub(1))),
    };
    if size == 0 || start >= size || start > end {
        return Err(bad("outside the blob"));
    }
    Ok((start, end))
}

/// Opens a stored blob; `None` if it is not stored.
async fn open(call: &Call, digest: &Digest) -> Result<Option<BlobReader>, ApiError> {
    let store = call.app.store.clone();
    let d = digest.clone();
    blocking(move || match store.open_blob(&d) {
        Ok(r) => Ok(Some(r)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(ApiError::store(e)),
    })
    .await
}

/// A whole blob, hashed as it streams unless this process verified the same file before (see
/// [`crate::verified`]); a read that verified it is remembered.
fn whole(call: &Call, mut reader: BlobReader, digest: &Digest) -> body::Body {
    let file = reader.file_id();
    let size = reader.size();
    if call.app.verified.contains(digest, file) {
        reader.skip_verification();
        return stored(reader, size, || {});
    }
    let app = call.app.clone();
    let d = digest.clone();
    stored(reader, size, move || app.verified.insert(&d, file))
}

/// `HEAD`/`GET /v2/<name>/blobs/<digest>` (in Proxy mode a miss goes to the upstream).
pub(crate) async fn get(call: Call, repo: Repository, digest: &str) -> Result<Resp, ApiError> {
    let digest = parse_digest(digest)?;
    let head = call.is_head();
    let range = call.header("range").map(str::to_owned);
    let opened = match open(&call, &digest).await? {
        Some(r) => r,
        None => {
            let app = call.app.clone();
            let ranged = range.is_some();
            let found = match &app.proxy {
                Some(proxy) => {
                    crate::proxy::blob(&app, proxy, &repo, &digest, head, ranged).await?
                }
                None => from_peers(&call, &repo, &digest, head, ranged).await?,
            };
            if let Some(resp) = found {
                return Ok(resp);
            }
            open(&call, &digest)
                .await?
                .ok_or_else(|| ApiError::blob_unknown(&digest))?
        }
    };
    let size = opened.size();
    let (status, start, len) = match &range {
        None => (StatusCode::OK, 0, size),
        Some(r) => {
            let (s, e) = parse_range(r, size)?;
            (StatusCode::PARTIAL_CONTENT, s, e - s + 1)
        }
    };
    let body = if head {
        body::empty()
    } else if start == 0 && len == size {
        whole(&call, opened, &digest)
    } else {
        let ranged = opened.range(start, len).map_err(|e| {
            ApiError::store(StoreError::Io {
                path: call.app.store.blob_path(&digest),
                source: e,
            })
        })?;
        stored(ranged, len, || {})
    };
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    body::set(&mut resp, "Docker-Content-Digest", &digest.to_string());
    body::set(&mut resp, "ETag", &format!("\"{digest}\""));
    if status == StatusCode::PARTIAL_CONTENT {
        body::set(
            &mut resp,
            CONTENT_RANGE.as_str(),
            &format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    Ok(resp)
}

/// Local mode: a blob the store lacks, from the first peer that has it (streamed to the client
/// while it is stored, as in Proxy mode). `BLOB_UNKNOWN` when none has it, when there are no
/// peers, or when a peer is asking (see [`crate::upstream::PEER_HEADER`]).
async fn from_peers(
    call: &Call,
    repo: &Repository,
    digest: &Digest,
    head: bool,
    ranged: bool,
) -> Result<Option<Resp>, ApiError> {
    if call.forwards_misses() {
        for peer in &call.app.peers {
            // A peer that lacks the blob or is down: ask the next one.
            if let Ok(found) = crate::proxy::blob(&call.app, peer, repo, digest, head, ranged).await
            {
                return Ok(found);
            }
        }
    }
    Err(ApiError::blob_unknown(digest))
}

/// `DELETE /v2/<name>/blobs/<digest>`: removes the blob from the store now.
pub(crate) async fn delete(call: Call, digest: &str) -> Result<Resp, ApiError> {
    let digest = parse_digest(digest)?;
    let store = call.app.store.clone();
    blocking(move || match store.delete(&digest) {
        Ok(()) => Ok(body::status(StatusCode::ACCEPTED)),
        Err(StoreError::NotFound { .. }) => Err(ApiError::blob_unknown(&digest)),
        Err(e) => Err(ApiError::store(e)),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_are_served() {
        assert_eq!(parse_range("bytes=0-9", 100).ok(), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100).ok(), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100).ok(), Some((90, 99)));
        assert_eq!(parse_range("bytes=-1000", 100).ok(), Some((0, 99)));
        assert_eq!(parse_range("bytes=50-1000", 100).ok(), Some((50, 99)));
    }

    #[test]
    fn bad_ranges_are_refused() {
        for r in [
            "bytes=100-",
            "bytes=5-4",
            "bytes=0-1,3-4",
            "bytes=-0",
            "bytes=--5",
            "bytes=-5-6",
            "items=0-1",
            "bytes=99999999999999999999-",
            "bytes=a-b",
            "bytes=",
        ] {
            let e = parse_range(r, 100).expect_err(r);
            assert_eq!(e.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{r}");
        }
        assert!(parse_range("bytes=0-0", 0).is_err());
    }
}
