//! The grammar of registry addresses: host, port, path, `imagesRepo`, and the character rules
//! that every string value follows.
//!
//! The values end up in TOML, nginx configuration and shell heredocs on nodes, so the grammar is
//! strict: ASCII host names and IPv4 addresses, ports 1–65535, path segments of
//! `[0-9A-Za-z._-]` that are never `.` or `..`, and no control characters anywhere.

/// Why a part of a registry address (`host[:port][/path]`) was rejected. The message completes
/// "… is invalid: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The host is not a DNS name or IPv4 address of the grammar.
    #[error("{0}")]
    Host(String),
    /// The port is not a number from 1 to 65535.
    #[error("{0}")]
    Port(String),
    /// The path has a segment outside `[0-9A-Za-z._-]`, or a `.` or `..` segment.
    #[error("{0}")]
    Path(String),
}

impl AddressError {
    /// What is wrong, as a sentence fragment.
    pub fn message(&self) -> &str {
        match self {
            AddressError::Host(m) | AddressError::Port(m) | AddressError::Path(m) => m,
        }
    }
}

/// `imagesRepo` split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepoParts {
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
    pub(crate) path: String,
}

/// Splits and checks `host[:port][/path…]`, reporting every part that is wrong. The input is
/// expected already trimmed of whitespace and trailing slashes.
pub(crate) fn parse_images_repo(repo: &str) -> Result<RepoParts, Vec<AddressError>> {
    let (address, path) = match repo.find('/') {
        Some(i) => (&repo[..i], &repo[i..]),
        None => (repo, ""),
    };
    let (host, port) = match address.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (address, None),
    };
    let host_check = check_host(host);
    let port = port.map(parse_port).transpose();
    let path_check = check_path(path);
    let errors: Vec<AddressError> = [
        host_check.err(),
        port.as_ref().err().cloned(),
        path_check.err(),
    ]
    .into_iter()
    .flatten()
    .collect();
    match port {
        Ok(port) if errors.is_empty() => Ok(RepoParts {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        }),
        _ => Err(errors),
    }
}

/// A DNS name or an IPv4 address: labels of `[0-9A-Za-z-]` joined by dots, starting and ending
/// with a letter or digit.
pub(crate) fn check_host(host: &str) -> Result<(), AddressError> {
    if host.is_empty() {
        return Err(AddressError::Host("the host name is empty".into()));
    }
    if host.len() > 253 {
        return Err(AddressError::Host(format!(
            "the host name is {} characters long, more than 253",
            host.len()
        )));
    }
    if let Some(c) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '-'))
    {
        return Err(AddressError::Host(format!(
            "the host name {:?} contains {c:?}; only letters, digits, '.' and '-' are allowed",
            host
        )));
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err(AddressError::Host(format!(
                "the host name {host:?} has an empty label"
            )));
        }
        if label.len() > 63 {
            return Err(AddressError::Host(format!(
                "the host name {host:?} has a label longer than 63 characters"
            )));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(AddressError::Host(format!(
                "the host name {host:?} has a label that starts or ends with '-'"
            )));
        }
    }
    Ok(())
}

/// 1 to 5 decimal digits with a value in 1–65535.
pub(crate) fn parse_port(port: &str) -> Result<u16, AddressError> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::Port(format!(
            "the port {port:?} is not a number from 1 to 65535"
        )));
    }
    match port.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(AddressError::Port(format!(
            "the port {port} is out of range 1–65535"
        ))),
    }
}

/// Empty, or `/seg/seg…` with segments of `[0-9A-Za-z._-]` that are not `.` or `..`.
pub(crate) fn check_path(path: &str) -> Result<(), AddressError> {
    if path.is_empty() {
        return Ok(());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(AddressError::Path(format!(
            "the path {path:?} does not start with '/'"
        )));
    };
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err(AddressError::Path(format!(
                "the path {path:?} has an empty segment ('//')"
            )));
        }
        if segment == "." || segment == ".." {
            return Err(AddressError::Path(format!(
                "the path {path:?} has a {segment:?} segment"
            )));
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(AddressError::Path(format!(
                "the path {path:?} contains {c:?}; only letters, digits, '.', '_' and '-' are allowed"
            )));
        }
    }
    Ok(())
}

/// The first control character (other than those in `allowed`) in `s`, if any.
pub(crate) fn find_control(s: &str, allowed: &[char]) -> Option<char> {
    s.chars().find(|c| c.is_control() && !allowed.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_repo_splits_into_parts() {
        assert_eq!(
            parse_images_repo("nexus.example.com:8443/dkp/ee"),
            Ok(RepoParts {
                host: "nexus.example.com".into(),
                port: Some(8443),
                path: "/dkp/ee".into()
            })
        );
        assert_eq!(
            parse_images_repo("10.0.0.1"),
            Ok(RepoParts {
                host: "10.0.0.1".into(),
                port: None,
                path: String::new()
            })
        );
    }

    #[test]
    fn hosts() {
        for ok in [
            "a",
            "registry.deckhouse.io",
            "my-reg.local",
            "10.1.2.3",
            "A1",
        ] {
            assert_eq!(check_host(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a.",
            "a_b",
            "a b",
            "[::1]",
            "ä.com",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(check_host(bad), Err(AddressError::Host(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("1"), Ok(1));
        assert_eq!(parse_port("65535"), Ok(65535));
        assert_eq!(parse_port("05001"), Ok(5001));
        for bad in ["0", "65536", "99999", "123456", "", "-1", "+80", "8o"] {
            assert!(
                matches!(parse_port(bad), Err(AddressError::Port(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths() {
        for ok in ["", "/a", "/a/b.c/d_e-f", "/..a", "/a.."] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
        for bad in ["a", "/", "/a//b", "/a/./b", "/a/..", "/a b", "/a:b", "/a\0"] {
            assert!(
                matches!(check_path(bad), Err(AddressError::Path(_))),
                "{bad}"
            );
        }
    }
}
