//! registryctl: the command-line front end of deckhouse-registry.
//!
//! A stable contract: exit 0 when the input is valid or the switch is allowed, 1 when it is
//! invalid or refused, 2 when the input is unusable (with a one-line reason on stderr).

mod containerd_cmd;
mod input;
mod load_settings_cmd;
mod orchestrate_cmd;
mod plan_cmd;
mod preflight_cmd;
mod render_cmd;
mod store_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "registryctl",
    version,
    about = "Validate, plan and render Deckhouse registry settings; manage the blob store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read and check a ModuleConfig `deckhouse` (or an InitConfiguration); show the settings.
    #[command(alias = "validate")]
    LoadSettings(load_settings_cmd::LoadSettingsArgs),
    /// Decide whether a switch from the current to the desired settings is allowed.
    Plan(plan_cmd::PlanArgs),
    /// Find registry sections in a node's containerd drop-in files (conf.d, conf2.d).
    Preflight(preflight_cmd::PreflightArgs),
    /// Write the containerd configuration a node needs for the settings.
    Render(render_cmd::RenderArgs),
    /// Work on a node's containerd configuration files (merge the registry part).
    Containerd(containerd_cmd::ContainerdArgs),
    /// Work with a content-addressed blob store.
    Store(store_cmd::StoreArgs),
    /// Run one orchestrator step on a state and observations; print the step as JSON.
    Reconcile(orchestrate_cmd::ReconcileArgs),
    /// Drive a whole switch against a simulated cluster; print the condition timeline.
    Simulate(orchestrate_cmd::SimulateArgs),
}

/// How results are printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Short and readable.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Exit code for valid input or an allowed switch.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code for invalid settings or a refused switch.
pub(crate) const EXIT_REJECTED: u8 = 1;
/// Exit code for unusable input.
pub(crate) const EXIT_UNUSABLE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                EXIT_UNUSABLE
            } else {
                EXIT_OK
            });
        }
    };
    match cli.command {
        Command::LoadSettings(args) => load_settings_cmd::run(&args),
        Command::Plan(args) => plan_cmd::run(&args),
        Command::Render(args) => render_cmd::run(&args),
        Command::Containerd(args) => containerd_cmd::run(&args),
        Command::Preflight(args) => preflight_cmd::run(&args),
        Command::Store(args) => store_cmd::run(args),
        Command::Reconcile(args) => orchestrate_cmd::run_reconcile(&args),
        Command::Simulate(args) => orchestrate_cmd::run_simulate(&args),
    }
}
