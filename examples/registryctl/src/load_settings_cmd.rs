//! `registryctl load-settings`.

use std::path::PathBuf;
use std::process::ExitCode;

use registry_core::settings::{
    Credentials, LoadError, LoadOptions, Problems, RegistrySettings, load,
};
use serde_json::json;

use crate::input::line;
use crate::{EXIT_OK, EXIT_REJECTED, Format, input};

/// Arguments of `registryctl load-settings`.
#[derive(Debug, clap::Args)]
pub(crate) struct LoadSettingsArgs {
    /// Apply the bootstrap rules (only Direct and Unmanaged may be used).
    #[arg(long)]
    bootstrap: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// A ModuleConfig `deckhouse`, an InitConfiguration, or a stream with them (`-` for stdin).
    file: PathBuf,
}

pub(crate) fn run(args: &LoadSettingsArgs) -> ExitCode {
    let data = match input::read(&args.file) {
        Ok(d) => d,
        Err(m) => return input::unusable(&m),
    };
    let options = LoadOptions {
        bootstrap: args.bootstrap,
        ..LoadOptions::default()
    };
    match load(&data, &options) {
        Ok(settings) => {
            let shown = settings.redacted();
            match args.format {
                Format::Json => input::print_json(
                    &json!({"valid": true, "mode": shown.mode(), "settings": shown}),
                ),
                Format::Text => print_settings(&input::name(&args.file), &shown),
            }
            ExitCode::from(EXIT_OK)
        }
        Err(LoadError::Invalid(problems)) => {
            match args.format {
                Format::Json => input::print_json(&json!({"valid": false, "problems": problems})),
                Format::Text => print_problems(&input::name(&args.file), &problems),
            }
            ExitCode::from(EXIT_REJECTED)
        }
        Err(LoadError::Document(e)) => {
            input::unusable(&format!("{}: {e}", input::name(&args.file)))
        }
    }
}

fn print_settings(file: &str, s: &RegistrySettings) {
    let mut out = String::new();
    line!(out, "{file}: valid, mode {}", s.mode());
    if let Some(base) = s.images_base() {
        line!(out, "  images:      {base}");
    }
    if let Some(u) = s.upstream() {
        line!(
            out,
            "  upstream:    {}://{}",
            u.scheme().as_url_scheme(),
            u.images_repo()
        );
        match u.credentials() {
            Some(Credentials::UserPassword { username, password }) => {
                line!(out, "  credentials: user {username}, password {password}")
            }
            Some(Credentials::License { license }) => {
                line!(out, "  credentials: license {license}")
            }
            None => line!(out, "  credentials: none (anonymous)"),
        }
        if let Some(ca) = u.ca() {
            line!(out, "  ca:          {}", ca.subjects().join("; "));
        }
        line!(out, "  checkMode:   {:?}", u.check_mode());
    }
    if let RegistrySettings::Proxy { ttl, .. } = s {
        line!(out, "  ttl:         {ttl}");
    }
    if matches!(s, RegistrySettings::UnmanagedLegacy { upstream: None }) {
        line!(
            out,
            "  (no spec.settings.registry: the registry stays as the cluster has it)"
        );
    }
    input::emit(&out);
}

fn print_problems(file: &str, problems: &Problems) {
    let mut out = String::new();
    let n = problems.0.len();
    line!(
        out,
        "{file}: invalid, {n} problem{}",
        if n == 1 { "" } else { "s" }
    );
    for p in &problems.0 {
        line!(out, "  {}: {} [{}]", p.path, p.message, p.code);
    }
    input::emit(&out);
}
