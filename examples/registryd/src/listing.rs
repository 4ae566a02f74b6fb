//! Listings: `tags/list` and `_catalog` (sorted, paginated with `n` and `last` and a `Link`
//! header to the next page) and the referrers API (`artifactType` filter).

use hyper::StatusCode;
use registry_core::store::media_types;
use serde_json::{Value, json};

use crate::app::{Call, blocking};
use crate::blobs::parse_digest;
use crate::body::{self, Resp};
use crate::errors::{ApiError, Code};
use crate::repos::Repository;

/// Most entries one page returns when the client gives no `n`.
const DEFAULT_PAGE: usize = 1000;
/// Most entries one page may return.
const MAX_PAGE: usize = 10_000;

/// `n` and `last` of a paginated request.
fn page_params(call: &Call) -> Result<(usize, Option<String>), ApiError> {
    let n = match call.param("n") {
        None => DEFAULT_PAGE,
        Some(s) => s.parse::<usize>().map_err(|_| {
            ApiError::bad_request(
                Code::Unsupported,
                format!(
                    "n={} is not a non-negative number",
                    crate::errors::shown(&s)
                ),
            )
        })?,
    };
    Ok((n.min(MAX_PAGE), call.param("last")))
}

/// One page of sorted `items` after `last`, and whether more follow.
fn page(items: Vec<String>, n: usize, last: Option<&str>) -> (Vec<String>, bool) {
    let mut rest: Vec<String> = match last {
        Some(l) => items.into_iter().filter(|i| i.as_str() > l).collect(),
        None => items,
    };
    let more = rest.len() > n;
    rest.truncate(n);
    (rest, more)
}

fn with_link(mut r: Resp, base: &str, n: usize, items: &[String], more: bool) -> Resp {
    if more && let Some(last) = items.last() {
        body::set(
            &mut r,
            "Link",
            &format!("<{base}?n={n}&last={last}>; rel=\"next\""),
        );
    }
    r
}

/// `GET /v2/<name>/tags/list`.
pub(crate) async fn tags(call: Call, name: &str, repo: Repository) -> Result<Resp, ApiError> {
    let (n, last) = page_params(&call)?;
    let app = call.app.clone();
    let shown = name.to_string();
    let tags = blocking(move || {
        let view = app.views.index(&app.store).map_err(ApiError::store)?;
        view.tags(&repo).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                Code::NameUnknown,
                format!("repository {shown:?} has no manifests"),
            )
        })
    })
    .await?;
    let (items, more) = page(tags, n, last.as_deref());
    let bytes = json!({ "name": name, "tags": items })
        .to_string()
        .into_bytes();
    let r = body::json(StatusCode::OK, "application/json", bytes);
    Ok(with_link(
        r,
        &format!("/v2/{name}/tags/list"),
        n,
        &items,
        more,
    ))
}

/// `GET /v2/_catalog`: the namespace's repositories that hold manifests.
pub(crate) async fn catalog(call: Call) -> Result<Resp, ApiError> {
    let (n, last) = page_params(&call)?;
    let app = call.app.clone();
    let names = blocking(move || {
        let view = app.views.index(&app.store).map_err(ApiError::store)?;
        let mut names: Vec<String> = view
            .repos
            .keys()
            .map(|r| app.namespace.name_of(r))
            .collect();
        names.sort();
        Ok(names)
    })
    .await?;
    let (items, more) = page(names, n, last.as_deref());
    let bytes = json!({ "repositories": items }).to_string().into_bytes();
    let r = body::json(StatusCode::OK, "application/json", bytes);
    Ok(with_link(r, "/v2/_catalog", n, &items, more))
}

/// `GET /v2/<name>/referrers/<digest>`: an OCI index of the manifests in the repository whose
/// `subject` is `<digest>`, optionally only those of one `artifactType`.
pub(crate) async fn referrers(
    call: Call,
    repo: Repository,
    digest: &str,
) -> Result<Resp, ApiError> {
    let subject = parse_digest(digest)?;
    let filter = call.param("artifactType");
    let app = call.app.clone();
    let f = filter.clone();
    let found = blocking(move || {
        let view = app.views.index(&app.store).map_err(ApiError::store)?;
        let mut out: Vec<Value> = Vec::new();
        for d in view.digests(&repo) {
            let Some(s) = app.views.summary(&app.store, &d).map_err(ApiError::store)? else {
                continue;
            };
            if s.subject.as_ref() != Some(&subject) {
                continue;
            }
            if let Some(want) = &f
                && s.artifact_type.as_deref() != Some(want.as_str())
            {
                continue;
            }
            let mut desc = json!({
                "mediaType": if s.media_type.is_empty() { media_types::OCI_MANIFEST } else { s.media_type.as_str() },
                "digest": d.to_string(),
                "size": s.size,
            });
            if let Some(a) = &s.artifact_type {
                desc["artifactType"] = json!(a);
            }
            if let Some(a) = &s.annotations {
                desc["annotations"] = a.clone();
            }
            out.push(desc);
        }
        Ok(out)
    })
    .await?;
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "manifests": found,
    });
    let mut r = body::json(
        StatusCode::OK,
        media_types::OCI_INDEX,
        doc.to_string().into_bytes(),
    );
    if filter.is_some() {
        body::set(&mut r, "OCI-Filters-Applied", "artifactType");
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_last_and_n() {
        let items: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        assert_eq!(
            page(items.clone(), 2, None),
            (vec!["a".into(), "b".into()], true)
        );
        assert_eq!(
            page(items.clone(), 2, Some("b")),
            (vec!["c".into(), "d".into()], false)
        );
        assert_eq!(page(items.clone(), 0, None), (vec![], true));
        assert_eq!(
            page(items, 10, Some("bb")),
            (vec!["c".into(), "d".into()], false)
        );
    }
}
