//! `registryctl reconcile` (one orchestrator step from files) and `registryctl simulate` (a
//! whole switch against the core's simulated cluster, printed as a condition timeline).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use registry_core::facts::ClusterFacts;
use registry_core::input::{Limits, ShapeError, read_one};
use registry_core::orchestrator::simulator::{TimelineEntry, simulate_steps, timeline};
use registry_core::orchestrator::{ERR_TRANSITION, Env, Inputs, State, Status, Timestamp};
use registry_core::wire::{self, ReconcileOptions};

use crate::input::line;
use crate::{EXIT_OK, EXIT_REJECTED, Format, input};

/// Arguments of `registryctl reconcile`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReconcileArgs {
    /// The persisted state (the `registry-state` secret's `state`, YAML or JSON; `{}` for none).
    #[arg(long)]
    state: PathBuf,
    /// The observations (YAML or JSON: settings, cluster, nodes, pods, checker, secrets).
    #[arg(long)]
    inputs: PathBuf,
    /// Seed the random source (reproducible keys and passwords) instead of the OS CSPRNG.
    #[arg(long)]
    seed: Option<u64>,
    /// The clock (RFC 3339 UTC, e.g. 2026-12-01T10:00:00Z) instead of the system time.
    #[arg(long)]
    now: Option<String>,
}

/// Arguments of `registryctl simulate`.
#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// The settings the cluster starts in.
    #[arg(long)]
    from: PathBuf,
    /// The settings to switch to.
    #[arg(long)]
    to: PathBuf,
    /// Cluster facts (YAML or JSON); defaults describe one containerd master.
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// Seed of the random source (default 1).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Once the switch is done, write what the masters run below this folder: each master's
    /// node-services bundle in DIR/NODE/ (its paths moved there, so `registryd --config` runs
    /// it), `state.json` (the final registry-state, secrets included) and `cluster.yaml` (the
    /// facts with the module CA and the read-only user, for `registryctl render --cluster`).
    #[arg(long, value_name = "DIR")]
    write_nodes: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Reads one YAML or JSON document into `T` with the core's bounded reader, naming the file
/// and the field on error.
fn load<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, String> {
    let data = input::read(path)?;
    read_one(&data, &Limits::default()).map_err(|e| match e {
        ShapeError::Document(d) => format!("{}: {d}", input::name(path)),
        field => format!("{}: {what}: {field}", input::name(path)),
    })
}

pub(crate) fn run_reconcile(args: &ReconcileArgs) -> ExitCode {
    let prepared = (|| {
        let state: State = load(&args.state, "orchestrator state")?;
        let inputs: Inputs = load(&args.inputs, "orchestrator inputs")?;
        let now = args
            .now
            .as_deref()
            .map(|s| s.parse::<Timestamp>().map_err(|e| format!("--now: {e}")))
            .transpose()?;
        let options = ReconcileOptions {
            now,
            seed: args.seed,
        };
        Ok::<_, String>((state, inputs, options))
    })();
    let (state, inputs, options) = match prepared {
        Ok(p) => p,
        Err(m) => return input::unusable(&m),
    };
    match wire::reconcile(&state, &inputs, &options) {
        Ok(step) => {
            input::print_json(&step);
            ExitCode::from(if step.condition(ERR_TRANSITION).is_some() {
                EXIT_REJECTED
            } else {
                EXIT_OK
            })
        }
        Err(e) => input::unusable(&e.message),
    }
}

pub(crate) fn run_simulate(args: &SimulateArgs) -> ExitCode {
    let loaded = (|| {
        let from = input::load_settings(&args.from)?
            .map_err(|p| format!("{}: {p}", input::name(&args.from)))?;
        let to = input::load_settings(&args.to)?
            .map_err(|p| format!("{}: {p}", input::name(&args.to)))?;
        let facts = input::load_facts(args.cluster.as_deref())?;
        Ok::<_, String>((from, to, facts))
    })();
    let (from, to, facts) = match loaded {
        Ok(l) => l,
        Err(m) => return input::unusable(&m),
    };
    // A fixed clock, so the timeline is the same on every run.
    let mut env = Env::seeded(args.seed, Timestamp::from_unix(1_767_225_600));
    let steps = match simulate_steps(&from, &to, facts.clone(), &mut env) {
        Ok((_, steps)) => steps,
        Err(e) => return input::unusable(&e.to_string()),
    };
    let timeline = timeline(&steps);
    let done = timeline.last().is_some_and(|e| e.ready);
    if let (Some(dir), true, Some(last)) = (&args.write_nodes, done, steps.last())
        && let Err(m) = write_nodes(dir, &last.step.state, &facts)
    {
        return input::unusable(&m);
    }
    match args.format {
        Format::Json => input::print_json(&timeline),
        Format::Text => input::emit(&render_timeline(&timeline)),
    }
    if args.write_nodes.is_some() && !done {
        eprintln!("registryctl: the switch did not finish; nothing was written");
    }
    ExitCode::from(if done { EXIT_OK } else { EXIT_REJECTED })
}

/// `--write-nodes`: each master's bundle below `dir/<node>`, the state and the node facts. The
/// folder must be new or empty, and is left as it was if any file cannot be written: the set is
/// whole or absent.
fn write_nodes(dir: &Path, state: &State, facts: &ClusterFacts) -> Result<(), String> {
    let nodes = &state.node_services.nodes;
    // Node names become folder names: one path segment each.
    if let Some(bad) = nodes
        .keys()
        .find(|n| n.is_empty() || *n == "." || *n == ".." || n.contains(['/', '\0']))
    {
        return Err(format!(
            "--write-nodes: node name {bad:?} is not a folder name"
        ));
    }
    let existed = match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(format!(
                    "--write-nodes: {} is not empty; name a new or empty folder",
                    dir.display()
                ));
            }
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(format!("--write-nodes: {}: {e}", dir.display())),
    };
    let written = write_node_files(dir, state, facts);
    if written.is_err() {
        undo(dir, existed);
    }
    written.map_err(|e| format!("--write-nodes: {e}; nothing was left in {}", dir.display()))
}

fn write_node_files(dir: &Path, state: &State, facts: &ClusterFacts) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (node, bundle) in &state.node_services.nodes {
        bundle
            .config
            .write_under(&dir.join(node))
            .map_err(|e| format!("{node}: {e}"))?;
    }
    // JSON is YAML: cluster.yaml is read by `registryctl render --cluster`.
    for (name, text) in [
        ("state.json", serde_json::to_string_pretty(state)),
        (
            "cluster.yaml",
            serde_json::to_string_pretty(&state.node_facts(facts)),
        ),
    ] {
        let text = text.map_err(|e| format!("{name}: {e}"))?;
        // Both hold secrets (passwords, the CA's key): owner only.
        registry_core::fsutil::write_atomic(&dir.join(name), format!("{text}\n").as_bytes(), 0o600)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Removes what a failed `--write-nodes` wrote: the folder if it made it, else its contents
/// (it was empty before).
fn undo(dir: &Path, existed: bool) {
    if !existed {
        let _ = std::fs::remove_dir_all(dir);
        return;
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let _ = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
    }
}

/// One block per step: the Ready line, then each condition that appeared or changed in that
/// step (`✓` True, `✗` False or a refusal, with its message indented).
fn render_timeline(timeline: &[TimelineEntry]) -> String {
    let mut out = String::new();
    let mut seen: Vec<(String, Status, String)> = Vec::new();
    for e in timeline {
        let ready = if e.ready {
            "Ready".to_owned()
        } else {
            format!("not Ready: {}", e.message)
        };
        line!(
            out,
            "step {:>2}  mode {}  target {}  {ready}",
            e.step,
            e.mode,
            e.target
        );
        for c in &e.conditions {
            let now = (c.kind.clone(), c.status, c.message.clone());
            if seen.contains(&now) {
                continue;
            }
            seen.retain(|(k, _, _)| *k != c.kind);
            seen.push(now);
            let ok = c.status == Status::True && c.kind != ERR_TRANSITION;
            let mut lines = c.message.lines();
            match lines.next() {
                Some(first) if !ok => line!(out, "  ✗ {}: {first}", c.kind),
                _ => line!(out, "  {} {}", if ok { '✓' } else { '✗' }, c.kind),
            }
            for l in lines {
                line!(out, "      {l}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::undo;

    #[test]
    fn undo_empties_a_folder_that_existed_and_removes_one_it_made() {
        let tmp = tempfile::tempdir().unwrap();
        for existed in [true, false] {
            let dir = tmp.path().join(format!("nodes-{existed}"));
            std::fs::create_dir_all(dir.join("master-0/etc")).unwrap();
            std::fs::write(dir.join("master-0/etc/f"), "x").unwrap();
            std::fs::write(dir.join("state.json"), "{}").unwrap();
            undo(&dir, existed);
            if existed {
                assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
            } else {
                assert!(!dir.exists());
            }
        }
        // Nothing beside it is touched.
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }
}
