//! A registryd bundle written to disk below a folder instead of at its node paths, so that the
//! registry a master would run can run anywhere: `registryctl simulate --write-nodes`, the
//! end-to-end checks with real containerd, a demo. Every path the configuration names moves
//! below the same folder, so `registryd --config <folder>/…/config.yaml` serves it as it is.

use std::path::{Path, PathBuf};

use super::services::{CONFIG_FILE, RegistrydBundle, RegistrydConfig};
use crate::containerd::ApplyError;
use crate::containerd::confined::Root;
use crate::containerd::node_paths::not_normal;

/// `path` (absolute) moved below `base`.
fn below(base: &Path, path: &str) -> String {
    base.join(path.trim_start_matches('/'))
        .display()
        .to_string()
}

impl RegistrydConfig {
    /// The same configuration with every path it names (`root`, the TLS files, `htpasswd`, the
    /// peer and upstream CA and password files) moved below `base`.
    ///
    /// ```
    /// use registry_core::orchestrator::RegistrydConfig;
    /// let c = RegistrydConfig::parse(b"root: /opt/data\nlisten: 127.0.0.2:5001\ntlsCert: /etc/r/tls.crt\n").unwrap();
    /// let moved = c.under(std::path::Path::new("/tmp/m0"));
    /// assert_eq!(moved.root, "/tmp/m0/opt/data");
    /// assert_eq!(moved.tls_cert.as_deref(), Some("/tmp/m0/etc/r/tls.crt"));
    /// assert_eq!(moved.listen, "127.0.0.2:5001");
    /// ```
    pub fn under(&self, base: &Path) -> RegistrydConfig {
        let mv = |p: &Option<String>| p.as_deref().map(|p| below(base, p));
        let mut c = self.clone();
        c.root = below(base, &self.root);
        c.tls_cert = mv(&self.tls_cert);
        c.tls_key = mv(&self.tls_key);
        c.htpasswd = mv(&self.htpasswd);
        c.peer_ca = mv(&self.peer_ca);
        c.peer_password_file = mv(&self.peer_password_file);
        if let (Some(moved), Some(up)) = (c.upstream.as_mut(), self.upstream.as_ref()) {
            moved.ca = mv(&up.ca);
            moved.password_file = mv(&up.password_file);
        }
        c
    }
}

impl RegistrydBundle {
    /// Writes every file of the bundle below `base` (node path `/etc/x` at `base/etc/x`, with
    /// its mode), its `config.yaml` with the paths moved there too ([`RegistrydConfig::under`],
    /// made absolute); returns where that config file is. Paths are checked absolute and normalised first, and
    /// no symbolic link below `base` is followed, so nothing is written outside it.
    ///
    /// # Errors
    /// [`ApplyError::FilePath`] for a path that is not absolute and normalised (nothing is
    /// written then), [`ApplyError::FilePath`] too when the bundle holds no `config.yaml`; a
    /// link or an I/O failure, naming the path.
    pub fn write_under(&self, base: &Path) -> Result<PathBuf, ApplyError> {
        if base.as_os_str().is_empty() {
            return Err(ApplyError::EmptyRoot);
        }
        // The config must name absolute paths: registryd resolves nothing against its config.
        let base = &std::path::absolute(base).map_err(|e| ApplyError::io(base, e))?;
        for path in self.files.keys() {
            if let Some(reason) = not_normal(path) {
                return Err(ApplyError::FilePath {
                    path: path.clone(),
                    reason,
                });
            }
        }
        let config = self
            .files
            .keys()
            .find(|p| p.ends_with(&format!("/{CONFIG_FILE}")))
            .ok_or_else(|| ApplyError::FilePath {
                path: CONFIG_FILE.into(),
                reason: "is not in the bundle".into(),
            })?;
        let moved = serde_json::to_string_pretty(&self.config.under(base)).unwrap_or_default();
        let root = Root::new(base);
        for (path, file) in &self.files {
            let contents = if path == config {
                format!("{moved}\n")
            } else {
                file.contents.expose().to_owned()
            };
            root.write_if_changed(path, contents.as_bytes(), file.mode.bits())?;
        }
        Ok(root.path(config))
    }
}
