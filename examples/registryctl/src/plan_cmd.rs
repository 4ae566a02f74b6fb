//! `registryctl plan`.

use std::path::PathBuf;
use std::process::ExitCode;

use registry_core::transition::{Decision, RouteDisplay, decide};

use crate::input::line;
use crate::{EXIT_OK, EXIT_REJECTED, Format, input};

/// Arguments of `registryctl plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// The settings the cluster runs with now.
    #[arg(long)]
    current: PathBuf,
    /// The settings to switch to.
    #[arg(long)]
    desired: PathBuf,
    /// Cluster facts (YAML or JSON); defaults describe a bootstrapped static cluster.
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub(crate) fn run(args: &PlanArgs) -> ExitCode {
    let current = match input::load_settings(&args.current) {
        Ok(s) => s,
        Err(m) => return input::unusable(&m),
    };
    let desired = match input::load_settings(&args.desired) {
        Ok(s) => s,
        Err(m) => return input::unusable(&m),
    };
    let facts = match input::load_facts(args.cluster.as_deref()) {
        Ok(f) => f,
        Err(m) => return input::unusable(&m),
    };
    let decision = decide(current.as_ref(), desired.as_ref(), &facts);
    match args.format {
        Format::Json => input::print_json(&decision),
        Format::Text => print_decision(&decision),
    }
    ExitCode::from(if decision.is_allowed() {
        EXIT_OK
    } else {
        EXIT_REJECTED
    })
}

fn print_decision(decision: &Decision) {
    let mut out = String::new();
    match decision {
        Decision::Allowed(p) => {
            line!(out, "allowed: {} → {}", p.from, p.to);
            if !p.stages.is_empty() {
                line!(out, "stages:");
                for (i, s) in p.stages.iter().enumerate() {
                    line!(out, "  {}. {s:?}", i + 1);
                }
            }
            let restarts: Vec<String> = p.restarts.iter().map(|r| format!("{r:?}")).collect();
            line!(
                out,
                "restarts: {}",
                if restarts.is_empty() {
                    "none".into()
                } else {
                    restarts.join(", ")
                }
            );
            for w in &p.warnings {
                line!(out, "warning: {w}");
            }
        }
        Decision::Refused(r) => {
            let side = |m: Option<registry_core::settings::Mode>| {
                m.map_or("?".to_owned(), |m| m.to_string())
            };
            line!(out, "refused: {} → {}", side(r.from), side(r.to));
            for reason in &r.reasons {
                line!(out, "  {:?}: {}", reason.code, reason.message);
            }
            if r.route.is_empty() {
                line!(
                    out,
                    "route: none possible until the reasons above are resolved"
                );
            } else {
                line!(out, "route: {}", RouteDisplay(&r.route));
            }
        }
    }
    input::emit(&out);
}
