//! Names in URLs: the distribution-spec grammar for repository names and tags, and the mapping
//! of `<namespace>[/<repository>]` onto the store's repositories.
//!
//! Names are checked as they appear in the request path, before any percent-decoding, so
//! `%2e%2e`, `..`, NUL and every other byte outside the grammar are refused as `NAME_INVALID`.

use crate::errors::ApiError;
use crate::repos::Repository;

/// Longest repository name accepted (what distribution and most clients enforce).
pub(crate) const MAX_NAME: usize = 255;

/// True if `s` is one path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn component_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: one '.', one '_', "__", or any number of '-'.
        let start = i;
        let sep = b[i];
        while i < b.len() && b[i] == sep {
            i += 1;
        }
        let run = i - start;
        let ok = match sep {
            b'.' => run == 1,
            b'_' => run <= 2,
            b'-' => true,
            _ => false,
        };
        // A separator run is always followed by an alphanumeric (never another separator).
        if !ok || (i < b.len() && !alnum(b[i])) {
            return false;
        }
    }
    true
}

/// Checks a full repository name (`a/b/c`) against the spec's grammar.
pub(crate) fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::name_invalid(name, "empty"));
    }
    if name.len() > MAX_NAME {
        return Err(ApiError::name_invalid(
            name,
            &format!("longer than {MAX_NAME} bytes"),
        ));
    }
    if !name.split('/').all(component_ok) {
        return Err(ApiError::name_invalid(
            name,
            "not of the form [a-z0-9]+((.|_|__|-+)[a-z0-9]+)* joined by '/'",
        ));
    }
    Ok(())
}

/// True if `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub(crate) fn tag_ok(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Where the registry's names live: `<namespace>` is the store's root repository and
/// `<namespace>/<path>` its repository `<path>`.
#[derive(Debug, Clone)]
pub(crate) struct Namespace(String);

impl Namespace {
    /// A namespace such as `system/deckhouse`; the grammar is that of repository names.
    pub(crate) fn parse(ns: &str) -> Result<Namespace, String> {
        let ns = ns.trim_matches('/');
        check_name(ns).map_err(|e| format!("--namespace {ns:?}: {}", e.message()))?;
        Ok(Namespace(ns.to_string()))
    }

    /// The namespace path.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The store repository a checked request name maps to; names outside the namespace are
    /// unknown (`NAME_UNKNOWN`).
    pub(crate) fn repository(&self, name: &str) -> Result<Repository, ApiError> {
        check_name(name)?;
        if name == self.0 {
            return Ok(Repository::root());
        }
        match name
            .strip_prefix(self.0.as_str())
            .and_then(|r| r.strip_prefix('/'))
        {
            Some(rest) => {
                Repository::parse(rest).map_err(|e| ApiError::name_invalid(name, &e.to_string()))
            }
            None => Err(ApiError::name_unknown(name, self.as_str())),
        }
    }

    /// The request name of a store repository.
    pub(crate) fn name_of(&self, repo: &Repository) -> String {
        if repo.is_root() {
            self.0.clone()
        } else {
            format!("{}/{}", self.0, repo.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_follow_the_spec_grammar() {
        for ok in ["a", "a0", "a.b", "a_b", "a__b", "a-b", "a---b", "0"] {
            assert!(component_ok(ok), "{ok}");
        }
        for bad in [
            "", "A", "a..b", "a___b", ".a", "a.", "-a", "a-", "a_.b", "..", "%2e%2e", "a\0b", "a b",
        ] {
            assert!(!component_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn names_are_checked_whole() {
        assert!(check_name("system/deckhouse/install").is_ok());
        assert!(check_name("a//b").is_err());
        assert!(check_name("a/../b").is_err());
        assert!(check_name(&"a".repeat(MAX_NAME)).is_ok());
        assert!(check_name(&"a".repeat(MAX_NAME + 1)).is_err());
    }

    #[test]
    fn tags_follow_the_spec_grammar() {
        assert!(tag_ok("v1.69.0"));
        assert!(tag_ok("_x"));
        assert!(tag_ok(&"a".repeat(128)));
        assert!(!tag_ok(&"a".repeat(129)));
        assert!(!tag_ok(".x"));
        assert!(!tag_ok("-x"));
        assert!(!tag_ok("a:b"));
        assert!(!tag_ok(""));
    }

    #[test]
    fn namespace_maps_to_repositories() {
        let ns = Namespace::parse("system/deckhouse").expect("valid namespace");
        assert!(ns.repository("system/deckhouse").expect("root").is_root());
        assert_eq!(
            ns.repository("system/deckhouse/modules/x")
                .expect("inside")
                .as_str(),
            "modules/x"
        );
        assert!(ns.repository("system/deckhousex").is_err());
        assert!(ns.repository("other").is_err());
        assert_eq!(
            ns.name_of(&Repository::parse("install").expect("valid")),
            "system/deckhouse/install"
        );
    }
}
