//! Routing: a request path to one of the API's endpoints. Repository names may hold any number
//! of `/`-separated components, so the endpoint is recognised from the end of the path; the
//! name is returned raw (still percent-encoded) for `names` to check.

/// An endpoint and its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// `/v2/`.
    Ping,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags { name: &'a str },
    /// `/v2/<name>/manifests/<reference>`.
    Manifest { name: &'a str, reference: &'a str },
    /// `/v2/<name>/blobs/<digest>`.
    Blob { name: &'a str, digest: &'a str },
    /// `/v2/<name>/blobs/uploads/`.
    UploadStart { name: &'a str },
    /// `/v2/<name>/blobs/uploads/<id>`.
    Upload { name: &'a str, id: &'a str },
    /// `/v2/<name>/referrers/<digest>`.
    Referrers { name: &'a str, digest: &'a str },
    /// `/metrics`.
    Metrics,
    /// `/healthz`.
    Health,
    /// `/readyz`.
    Ready,
    /// Anything else.
    Unknown,
}

/// The endpoint of a request path (without its query).
pub(crate) fn route(path: &str) -> Route<'_> {
    match path {
        "/metrics" => return Route::Metrics,
        "/healthz" => return Route::Health,
        "/readyz" => return Route::Ready,
        "/v2" | "/v2/" => return Route::Ping,
        "/v2/_catalog" => return Route::Catalog,
        _ => {}
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Route::Unknown;
    };
    // (name, the segments after it); `name` ends before the segment that starts the endpoint.
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name_of = |k: usize| -> &str {
        // The name is the first k segments, joined by their '/' separators.
        let len = segs[..k].iter().map(|s| s.len()).sum::<usize>() + k.saturating_sub(1);
        &rest[..len]
    };
    if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
        return Route::Tags {
            name: name_of(n - 2),
        };
    }
    if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        let name = name_of(n - 3);
        return if segs[n - 1].is_empty() {
            Route::UploadStart { name }
        } else {
            Route::Upload {
                name,
                id: segs[n - 1],
            }
        };
    }
    if n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
        return Route::UploadStart {
            name: name_of(n - 2),
        };
    }
    if n >= 3 && !segs[n - 1].is_empty() {
        let name = name_of(n - 2);
        let last = segs[n - 1];
        match segs[n - 2] {
            "manifests" => {
                return Route::Manifest {
                    name,
                    reference: last,
                };
            }
            "blobs" => return Route::Blob { name, digest: last },
            "referrers" => return Route::Referrers { name, digest: last },
            _ => {}
        }
    }
    Route::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_found_from_the_end() {
        assert_eq!(route("/v2/"), Route::Ping);
        assert_eq!(route("/v2/a/b/tags/list"), Route::Tags { name: "a/b" });
        assert_eq!(
            route("/v2/a/manifests/x/manifests/v1"),
            Route::Manifest {
                name: "a/manifests/x",
                reference: "v1"
            }
        );
        assert_eq!(
            route("/v2/a/blobs/uploads/"),
            Route::UploadStart { name: "a" }
        );
        assert_eq!(
            route("/v2/a/blobs/uploads"),
            Route::UploadStart { name: "a" }
        );
        assert_eq!(
            route("/v2/a/b/blobs/uploads/0123"),
            Route::Upload {
                name: "a/b",
                id: "0123"
            }
        );
        assert_eq!(
            route("/v2/a/blobs/sha256:00"),
            Route::Blob {
                name: "a",
                digest: "sha256:00"
            }
        );
        assert_eq!(
            route("/v2/a/referrers/sha256:00"),
            Route::Referrers {
                name: "a",
                digest: "sha256:00"
            }
        );
        assert_eq!(route("/v2/a/manifests/"), Route::Unknown);
        assert_eq!(route("/v2/manifests/x"), Route::Unknown);
        assert_eq!(route("/other"), Route::Unknown);
    }
}
