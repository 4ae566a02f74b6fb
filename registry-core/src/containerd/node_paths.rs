//! Which node paths a rendered set may name, and which host folder names are valid.
//!
//! A [`super::Rendered`] can arrive as JSON from anyone (the bindings take it, an operator hands
//! it to a node agent running as root), so [`super::apply`] checks every path against the exact
//! shapes [`super::render`] produces before it writes anything: the config.toml part, the node
//! load balancer's config, legacy CA files, and inside `config_path` the state file and
//! `<host[:port]>/hosts.toml` or `<host[:port]>/<…>-ca.crt`.

use super::render::{CONFIG_PART, HOSTS_STATE_FILE, LEGACY_CA_DIR, NGINX_CONF};
use crate::settings::{AddressError, grammar};

/// The file containerd reads in each host folder.
pub(crate) const HOSTS_TOML: &str = "hosts.toml";
/// How every CA file the renderer writes ends.
pub(crate) const CA_SUFFIX: &str = "-ca.crt";

/// Why `path` is not an absolute, normalised path: `None` when it is one.
pub(crate) fn not_normal(path: &str) -> Option<String> {
    if path.contains('\0') {
        return Some("contains a NUL character".into());
    }
    if path.chars().any(char::is_control) {
        return Some("contains a control character".into());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Some("is not absolute".into());
    };
    if rest.is_empty() {
        return Some("is the root folder itself".into());
    }
    rest.split('/').find_map(|segment| match segment {
        "" => Some("has an empty segment ('//' or a trailing '/')".into()),
        "." => Some("has a '.' segment".into()),
        ".." => Some("has a '..' segment".into()),
        _ => None,
    })
}

/// `config_path` (containerd's hosts directory) must be absolute and normalised: it is
/// written into config.toml and every host folder lives under it.
///
/// # Errors
/// Why it is not, as a sentence fragment that follows `config path "<path>"`.
pub(crate) fn check_config_path(path: &str) -> Result<(), String> {
    match not_normal(path) {
        None => Ok(()),
        Some(reason) => Err(format!(
            "{reason}; it must be an absolute path without '.', '..', empty segments or a \
             trailing '/'"
        )),
    }
}

/// Where apply accepts a `config_path`: containerd's own folder. Anywhere else a hostile set
/// could write `<dir>/<host>/hosts.toml` into a folder another daemon reads (`/etc` with a host
/// folder named `logrotate.d`), or remove a folder there through the state file.
pub(crate) const CONFIG_PATH_PARENT: &str = "/etc/containerd";

/// `config_path` checked as [`check_config_path`] does, and under [`CONFIG_PATH_PARENT`].
///
/// # Errors
/// As for [`check_config_path`].
pub(crate) fn check_applied_config_path(path: &str) -> Result<(), String> {
    check_config_path(path)?;
    match path.strip_prefix(CONFIG_PATH_PARENT) {
        Some(rest) if rest.starts_with('/') => Ok(()),
        _ => Err(format!(
            "is not in {CONFIG_PATH_PARENT}/; apply writes host folders only there"
        )),
    }
}

/// Checks a host folder name: one path segment that is a registry `host[:port]` (a DNS name
/// or IPv4 address, an optional port 1–65535), as the settings grammar accepts them.
///
/// ```
/// use registry_core::containerd::check_host_dir;
/// assert!(check_host_dir("registry.d8-system.svc:5001").is_ok());
/// assert!(check_host_dir("..").is_err());
/// assert!(check_host_dir("a/b").is_err());
/// assert!(check_host_dir("a.example:0").is_err());
/// ```
///
/// # Errors
/// [`AddressError::Host`] or [`AddressError::Port`] saying why the name is not one, as a
/// sentence fragment.
pub fn check_host_dir(name: &str) -> Result<(), AddressError> {
    let (host, port) = match name.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (name, None),
    };
    grammar::check_host(host)?;
    if let Some(port) = port {
        grammar::parse_port(port)?;
    }
    Ok(())
}

/// A CA file name as the renderer writes them (`https-<host[:port]>-ca.crt`,
/// `registry-<host>-ca.crt`): one segment of `[0-9A-Za-z.:_-]`, not hidden.
fn is_ca_file_name(name: &str) -> bool {
    name.ends_with(CA_SUFFIX)
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '-'))
}

/// Checks that `path` is a file the renderer can produce for `config_path`.
///
/// # Errors
/// Why it is not, as a sentence fragment that follows the quoted path.
pub(crate) fn check_file_path(path: &str, config_path: &str) -> Result<(), String> {
    if let Some(reason) = not_normal(path) {
        return Err(reason);
    }
    if path == CONFIG_PART || path == NGINX_CONF {
        return Ok(());
    }
    if let Some(name) = path
        .strip_prefix(LEGACY_CA_DIR)
        .and_then(|r| r.strip_prefix('/'))
    {
        return if is_ca_file_name(name) {
            Ok(())
        } else {
            Err(format!(
                "is in {LEGACY_CA_DIR} but is not a CA file directly in it (<name>{CA_SUFFIX})"
            ))
        };
    }
    let Some(rest) = path
        .strip_prefix(config_path)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return Err(format!(
            "is not a path the renderer writes ({CONFIG_PART}, {NGINX_CONF}, a CA file in \
             {LEGACY_CA_DIR}, or a file in the config path {config_path})"
        ));
    };
    if rest == HOSTS_STATE_FILE {
        return Ok(());
    }
    let Some((dir, name)) = rest.split_once('/') else {
        return Err(format!(
            "is directly in the config path {config_path}, where only {HOSTS_STATE_FILE} goes"
        ));
    };
    check_host_dir(dir).map_err(|e| format!("is in host folder {dir:?}, which is invalid: {e}"))?;
    if name == HOSTS_TOML || is_ca_file_name(name) {
        Ok(())
    } else {
        Err(format!(
            "is not {HOSTS_TOML} or a CA file (<name>{CA_SUFFIX}) directly in its host folder"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str) -> Result<(), String> {
        check_file_path(path, "/etc/containerd/registry.d")
    }

    #[test]
    fn the_renderers_paths_pass() {
        for p in [
            CONFIG_PART,
            NGINX_CONF,
            "/opt/deckhouse/share/ca-certificates/registry-a.example-ca.crt",
            "/etc/containerd/registry.d/deckhouse_hosts_state.json",
            "/etc/containerd/registry.d/a.example:5000/hosts.toml",
            "/etc/containerd/registry.d/b.example/hosts.toml",
            "/etc/containerd/registry.d/a.example:5000/https-m.example:443-ca.crt",
        ] {
            assert_eq!(check(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn every_other_path_is_refused_with_its_reason() {
        let cases = [
            ("/../x", "'..'"),
            ("/etc/containerd/registry.d/../../../../x", "'..'"),
            ("/etc/containerd/./deckhouse.d/registry.toml", "'.'"),
            (
                "/etc/containerd//deckhouse.d/registry.toml",
                "empty segment",
            ),
            (
                "/etc/containerd/deckhouse.d/registry.toml/",
                "empty segment",
            ),
            ("etc/containerd/deckhouse.d/registry.toml", "not absolute"),
            ("/", "root folder"),
            ("/etc/containerd/registry.d/a\0/hosts.toml", "NUL"),
            (
                "/etc/containerd/config.toml",
                "not a path the renderer writes",
            ),
            (
                "/etc/containerd/registry.dx/a.example:5000/hosts.toml",
                "not a path",
            ),
            ("/etc/passwd", "not a path the renderer writes"),
            (
                "/etc/containerd/registry.d/evil",
                "only deckhouse_hosts_state.json",
            ),
            ("/etc/containerd/registry.d/a_b/hosts.toml", "invalid"),
            (
                "/etc/containerd/registry.d/a.example:5000/x/hosts.toml",
                "not hosts.toml",
            ),
            (
                "/etc/containerd/registry.d/a.example:5000/.hidden-ca.crt",
                "not hosts.toml",
            ),
            (
                "/opt/deckhouse/share/ca-certificates/sub/x-ca.crt",
                "not a CA file",
            ),
            (
                "/opt/deckhouse/share/ca-certificates/evil.sh",
                "not a CA file",
            ),
        ];
        for (path, reason) in cases {
            let err = check(path).expect_err(path);
            assert!(err.contains(reason), "{path}: {err}");
        }
    }

    #[test]
    fn host_dirs_are_one_host_port_segment() {
        for ok in [
            "a",
            "registry.d8-system.svc:5001",
            "10.0.0.1:5000",
            "A-1.example",
        ] {
            assert_eq!(check_host_dir(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "a\0",
            "-a",
            "a..b",
            "a:",
            "a:0",
            "a:65536",
            "a:1:2",
            "[::1]:5000",
            "_default",
            "a b",
        ] {
            assert!(check_host_dir(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn applied_config_paths_stay_in_etc_containerd() {
        assert!(check_applied_config_path("/etc/containerd/certs.d").is_ok());
        for bad in [
            "/etc",
            "/etc/containerd",
            "/etc/containerdx/a",
            "/var/lib",
            "/etc/logrotate.d",
        ] {
            let err = check_applied_config_path(bad).unwrap_err();
            assert!(err.contains("/etc/containerd/"), "{bad}: {err}");
        }
    }

    #[test]
    fn config_paths_must_be_normal() {
        assert!(check_config_path("/etc/containerd/certs.d").is_ok());
        for bad in ["", "/", "x", "/a/", "/a//b", "/a/../b", "/a/./b", "/a\n"] {
            assert!(check_config_path(bad).is_err(), "{bad:?}");
        }
    }
}
