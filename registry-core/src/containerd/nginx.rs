//! The node load balancer's nginx configuration (Proxy and Local modes): a complete main
//! configuration that `nginx -t -c /etc/kubernetes/registry-proxy/nginx.conf` accepts, with a
//! `stream` block that spreads TCP connections over every master's registry.
//!
//! Choices, each also said in the file itself:
//! - **The stream module.** Debian and Ubuntu build it as a dynamic module
//!   (`libnginx-mod-stream` installs `/usr/lib/nginx/modules/ngx_stream_module.so` and enables it
//!   with `/etc/nginx/modules-enabled/50-mod-stream.conf`), so the file starts with
//!   `include /etc/nginx/modules-enabled/*.conf;`. Where the module is built in (nginx.org
//!   packages and images, Deckhouse's own build) that folder is absent and the pattern matches
//!   nothing, which nginx accepts. No path to a `.so` is hard-coded.
//! - **The pid file** goes to `/tmp/registry-proxy-nginx.pid`: nginx needs a writable place for
//!   it even in the foreground, `/tmp` is writable for an unprivileged user too, and in the
//!   static pod it is the container's own `/tmp`. Run nginx as
//!   `nginx -c /etc/kubernetes/registry-proxy/nginx.conf -g 'daemon off;'`.
//! - **Logs** go to stderr (`error_log stderr warn;`), where the kubelet collects them.
//! - **Recovery.** Every master is listed with `max_fails=0`: nginx never marks a master
//!   unavailable. With the default `max_fails=1 fail_timeout=10s`, once every master had been
//!   down each was skipped for 10 s, so a node kept refusing connections for up to 10 s after a
//!   master was back. With `max_fails=0` a connection that finds a master down moves on to the
//!   next at once (`proxy_next_upstream` is on): a refused connect costs nothing, a silent one
//!   at most `proxy_connect_timeout` (1 s), and a master that comes back takes connections
//!   from the very next one. There are one to three masters, so trying each is cheap.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};

use super::build::REGISTRY_PORT;

/// Where the load balancer's pid file goes by default.
pub const NGINX_PID: &str = "/tmp/registry-proxy-nginx.pid";
/// The dynamic modules included at the top (Debian's and Ubuntu's layout).
pub const NGINX_MODULES_INCLUDE: &str = "/etc/nginx/modules-enabled/*.conf";

/// What can differ between the node's load balancer and a test's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxOptions {
    /// The address it listens on: `127.0.0.1:5001` on nodes, where containerd's hosts.toml points.
    pub listen: SocketAddr,
    /// The pid file ([`NGINX_PID`] on nodes).
    pub pid: String,
}

impl Default for NginxOptions {
    fn default() -> Self {
        NginxOptions {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, REGISTRY_PORT)),
            pid: NGINX_PID.to_owned(),
        }
    }
}

/// The nginx main configuration for a load balancer over `endpoints`, `least_conn`.
///
/// ```
/// use registry_core::containerd::{NginxOptions, nginx_conf};
/// let conf = nginx_conf(&["10.0.0.1:5001".parse().unwrap()], &NginxOptions::default());
/// assert!(conf.contains("events {"));
/// assert!(conf.contains("    server 10.0.0.1:5001 max_fails=0;\n"));
/// assert!(conf.contains("    listen 127.0.0.1:5001;\n"));
/// ```
pub fn nginx_conf(endpoints: &[SocketAddr], options: &NginxOptions) -> String {
    let mut conf = String::from(
        "# Written by deckhouse-registry. Changes are overwritten.\n\
         # The node load balancer in front of every master's registry. Run it in the foreground:\n\
         #   nginx -c /etc/kubernetes/registry-proxy/nginx.conf -g 'daemon off;'\n\
         \n\
         # Loads the stream module where it is a dynamic module (Debian, Ubuntu); matches nothing\n\
         # where the module is built in.\n",
    );
    let _ = writeln!(conf, "include {NGINX_MODULES_INCLUDE};");
    conf.push_str("worker_processes 2;\n");
    conf.push_str(
        "# Writable for an unprivileged user too; in the static pod, the container's own /tmp.\n",
    );
    let _ = writeln!(conf, "pid {};", nginx_string(&options.pid));
    conf.push_str("error_log stderr warn;\n\nevents {\n  worker_connections 1024;\n}\n\n");
    conf.push_str(
        "stream {\n  upstream registry {\n    least_conn;\n    \
         # Never mark a master down: a connection that finds one down moves to the next at once,\n    \
         # and a master that is back serves the very next connection (no 10 s fail_timeout).\n",
    );
    for endpoint in endpoints {
        let _ = writeln!(conf, "    server {endpoint} max_fails=0;");
    }
    let _ = write!(
        conf,
        "  }}\n  server {{\n    listen {};\n    proxy_pass registry;\n    proxy_connect_timeout 1s;\n    \
         proxy_timeout 1h;\n  }}\n}}\n",
        options.listen
    );
    conf
}

/// `s` as an nginx quoted string: `"` and `\` escaped, so any path stays one parameter.
fn nginx_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_a_path_one_parameter() {
        assert_eq!(nginx_string(r#"/a "b"\c;"#), r#""/a \"b\"\\c;""#);
    }
}
