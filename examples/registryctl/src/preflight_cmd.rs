//! `registryctl preflight`.

use std::path::PathBuf;
use std::process::ExitCode;

use registry_core::containerd::preflight;

use crate::input::line;
use crate::{EXIT_OK, EXIT_REJECTED, Format, input};

/// Arguments of `registryctl preflight`.
#[derive(Debug, clap::Args)]
pub(crate) struct PreflightArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// A node's /etc/containerd (or a copy of it).
    dir: PathBuf,
}

/// Exit 0 when the node has no registry sections of its own, 1 when it has (or has files that
/// could not be checked), 2 when the folder cannot be read.
pub(crate) fn run(args: &PreflightArgs) -> ExitCode {
    let report = match preflight(&args.dir) {
        Ok(r) => r,
        Err(e) => return input::unusable(&e.to_string()),
    };
    match args.format {
        Format::Json => input::print_json(&serde_json::json!({
            "customRegistryConfig": report.has_custom_registry_config(),
            "findings": report.findings,
            "unreadable": report.unreadable,
        })),
        Format::Text => {
            let mut out = String::new();
            if !report.has_custom_registry_config() {
                line!(
                    out,
                    "{}: no registry sections in conf.d or conf2.d",
                    args.dir.display()
                );
            }
            for f in &report.findings {
                line!(
                    out,
                    "{}:{}: {} (move it to registry.d/<host>/hosts.toml)",
                    f.file,
                    f.line,
                    f.key
                );
            }
            for u in &report.unreadable {
                line!(out, "{}: cannot check: {}", u.file, u.message);
            }
            input::emit(&out);
        }
    }
    ExitCode::from(if report.has_custom_registry_config() {
        EXIT_REJECTED
    } else {
        EXIT_OK
    })
}
