//! `registryctl store …`. Work in progress: the store subcommands land with the store module.
use std::process::ExitCode;

/// Arguments of `registryctl store`.
#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {}

/// Runs `registryctl store`.
pub(crate) fn run(_args: StoreArgs) -> ExitCode {
    eprintln!("registryctl store: not available yet");
    ExitCode::from(2)
}
