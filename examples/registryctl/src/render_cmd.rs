//! `registryctl render`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use registry_core::containerd::{
    ApplyReport, ContainerdMajor, ContainerdVersion, Dialect, RenderOptions, Rendered, apply,
};
use registry_core::settings::RegistrySettings;
use registry_core::wire::{self, Detail, ErrorCode, Failure};
use serde_json::json;

use crate::input::line;
use crate::{EXIT_OK, EXIT_REJECTED, Format, input};

/// The containerd generation on the nodes.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Generation {
    V1,
    V2,
}

/// The containerd build on the nodes.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum DialectArg {
    Deckhouse,
    Upstream,
}

/// Arguments of `registryctl render`.
#[derive(Debug, clap::Args)]
pub(crate) struct RenderArgs {
    /// The settings to render.
    #[arg(long)]
    desired: PathBuf,
    /// The settings the nodes have now: renders the transition phase (old mirrors, then new).
    #[arg(long)]
    previous: Option<PathBuf>,
    /// Cluster facts; Proxy and Local need `moduleCA`, `readOnlyUser` and masters with `ip`.
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// containerd generation: v1 (config version 2) or v2 (config version 3).
    #[arg(long, value_enum, default_value = "v1")]
    containerd: Generation,
    /// containerd release line (1.6, 1.7, 2.0, 2.1, 2.2+); defaults to 1.7 for v1, 2.2 for v2.
    #[arg(long)]
    containerd_version: Option<String>,
    /// Which containerd build reads the files.
    #[arg(long, value_enum, default_value = "deckhouse")]
    dialect: DialectArg,
    /// containerd's hosts directory (config_path) on the nodes.
    #[arg(long, default_value = registry_core::containerd::REGISTRY_D)]
    config_path: String,
    /// Folder to write the files into, at their node paths (DIR/etc/containerd/…).
    #[arg(long)]
    out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Why `render` stopped: the one-line reason for exit 2, or the reasons for exit 1.
enum Stop {
    Unusable(String),
    Refused(Vec<(String, String)>),
}

pub(crate) fn run(args: &RenderArgs) -> ExitCode {
    match render_to_dir(args) {
        Ok((rendered, report)) => {
            print_manifest(args, &rendered, &report);
            ExitCode::from(EXIT_OK)
        }
        Err(Stop::Unusable(m)) => input::unusable(&m),
        Err(Stop::Refused(reasons)) => {
            match args.format {
                Format::Json => {
                    let reasons: Vec<_> = reasons
                        .iter()
                        .map(|(c, m)| json!({"code": c, "message": m}))
                        .collect();
                    input::print_json(&json!({"rendered": false, "reasons": reasons}));
                }
                Format::Text => {
                    let mut out = String::from("refused: nothing was written\n");
                    for (code, message) in &reasons {
                        line!(out, "  {code}: {message}");
                    }
                    input::emit(&out);
                }
            }
            ExitCode::from(EXIT_REJECTED)
        }
    }
}

fn render_to_dir(args: &RenderArgs) -> Result<(Rendered, ApplyReport), Stop> {
    let options = options(args).map_err(Stop::Unusable)?;
    let desired = settings(&args.desired)?;
    let previous = args.previous.as_deref().map(settings).transpose()?;
    let facts = input::load_facts(args.cluster.as_deref()).map_err(Stop::Unusable)?;
    let rendered = wire::render(&desired, previous.as_ref(), &facts, &options).map_err(stop)?;
    let report = apply(&rendered, &args.out)
        .map_err(|e| Stop::Unusable(format!("cannot write into {}: {e}", args.out.display())))?;
    Ok((rendered, report))
}

/// A refusal (of the switch, or by the dialect) lists its reasons with the core's codes; any
/// other failure is unusable input.
fn stop(f: Failure) -> Stop {
    match (f.code, f.detail) {
        (ErrorCode::TransitionRefused, Some(Detail::Refusal { reasons, .. })) => Stop::Refused(
            reasons
                .into_iter()
                .map(|r| (format!("{:?}", r.code), r.message))
                .collect(),
        ),
        (ErrorCode::RenderRefused, _) => {
            Stop::Refused(vec![(ErrorCode::RenderRefused.name().into(), f.message)])
        }
        _ => Stop::Unusable(f.message),
    }
}

fn options(args: &RenderArgs) -> Result<RenderOptions, String> {
    let generation = match args.containerd {
        Generation::V1 => ContainerdMajor::V1,
        Generation::V2 => ContainerdMajor::V2,
    };
    let mut options = RenderOptions::new(generation);
    if let Some(v) = &args.containerd_version {
        options.version = v
            .parse::<ContainerdVersion>()
            .map_err(|e| format!("--containerd-version: {e}"))?;
    }
    if options.version.generation() != generation {
        return Err(format!(
            "--containerd-version {} does not belong to --containerd {:?}",
            options.version, args.containerd
        )
        .to_lowercase());
    }
    options.config_path = args.config_path.clone();
    options.dialect = match args.dialect {
        DialectArg::Deckhouse => Dialect::Deckhouse,
        DialectArg::Upstream => Dialect::Upstream,
    };
    Ok(options)
}

/// Loads settings; invalid settings refuse the render, unusable files stop it.
fn settings(path: &Path) -> Result<RegistrySettings, Stop> {
    input::load_settings(path)
        .map_err(Stop::Unusable)?
        .map_err(|problems| {
            let reasons = problems.0.iter().map(|p| {
                (
                    "InvalidSettings".to_owned(),
                    format!("{}: {p}", input::name(path)),
                )
            });
            Stop::Refused(reasons.collect())
        })
}

fn print_manifest(args: &RenderArgs, rendered: &Rendered, report: &ApplyReport) {
    match args.format {
        Format::Json => {
            let files: Vec<_> = rendered
                .files
                .iter()
                .map(|f| json!({"path": f.path, "sha256": f.sha256(), "mode": f.mode.to_string()}))
                .collect();
            input::print_json(&json!({
                "version": rendered.version,
                "files": files,
                "restartContainerd": report.restart_containerd,
                "changed": report.changed,
                "removed": report.removed,
                "warnings": rendered.warnings,
            }));
        }
        Format::Text => {
            let mut out = String::new();
            line!(
                out,
                "rendered {} files into {} (version {})",
                rendered.files.len(),
                args.out.display(),
                &rendered.version[..16]
            );
            for f in &rendered.files {
                let state = if report.changed.contains(&f.path) {
                    "written"
                } else {
                    "unchanged"
                };
                line!(out, "  {} {}  [{state}]", f.mode, f.path);
            }
            for r in &report.removed {
                line!(out, "  removed {r}");
            }
            line!(
                out,
                "restart containerd: {}",
                if report.restart_containerd {
                    "yes"
                } else {
                    "no"
                }
            );
            for w in &rendered.warnings {
                line!(out, "warning: {w}");
            }
            input::emit(&out);
        }
    }
}
