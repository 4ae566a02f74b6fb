//! `registryctl containerd`: work on a node's containerd configuration files.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use registry_core::containerd::{MergeError, merge_config};

use crate::{EXIT_OK, EXIT_REJECTED, input};

/// Arguments of `registryctl containerd`.
#[derive(Debug, clap::Args)]
pub(crate) struct ContainerdArgs {
    #[command(subcommand)]
    command: ContainerdCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ContainerdCommand {
    /// Merge the rendered registry part into a main config.toml (containerd 1.x, where
    /// `imports` would replace the whole CRI plugin table): PART's keys win, every other key,
    /// comment and the order of MAIN stay.
    Merge(MergeArgs),
}

/// Arguments of `registryctl containerd merge`.
#[derive(Debug, clap::Args)]
struct MergeArgs {
    /// The node's config.toml (`-` for stdin).
    main: PathBuf,
    /// The part to merge in: `deckhouse.d/registry.toml` as `render` writes it (`-` for stdin).
    part: PathBuf,
    /// Write the result here atomically (it may be MAIN itself) instead of to stdout. An
    /// existing file keeps its mode; a new one is created 0600 (the part may hold credentials).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Exit 0 when merged, 1 when the two files are for different config versions, 2 when a file
/// cannot be read or is not TOML, or the output cannot be written.
pub(crate) fn run(args: &ContainerdArgs) -> ExitCode {
    match &args.command {
        ContainerdCommand::Merge(m) => merge(m),
    }
}

fn merge(args: &MergeArgs) -> ExitCode {
    if args.main == Path::new("-") && args.part == Path::new("-") {
        return input::unusable("MAIN and PART cannot both be stdin");
    }
    let text = |path: &Path| {
        input::read(path).and_then(|bytes| {
            String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", input::name(path)))
        })
    };
    let (main, part) = match (text(&args.main), text(&args.part)) {
        (Ok(m), Ok(p)) => (m, p),
        (Err(e), _) | (_, Err(e)) => return input::unusable(&e),
    };
    let merged = match merge_config(&main, &part) {
        Ok(merged) => merged,
        Err(e @ MergeError::VersionMismatch { .. }) => {
            eprintln!("registryctl: {e}");
            return ExitCode::from(EXIT_REJECTED);
        }
        Err(MergeError::Main(e)) => {
            return input::unusable(&format!("{}: {e}", input::name(&args.main)));
        }
        Err(MergeError::Part(e)) => {
            return input::unusable(&format!("{}: {e}", input::name(&args.part)));
        }
    };
    match &args.output {
        None => input::emit(&merged),
        Some(out) => {
            if let Err(e) = write_atomically(out, merged.as_bytes()) {
                return input::unusable(&format!("{}: cannot write: {}", out.display(), e.source));
            }
        }
    }
    ExitCode::from(EXIT_OK)
}

/// Replaces `path` atomically (the core's one atomic write), keeping the mode of the file it
/// replaces (0600 for a new one): readers see the old file or the new one, never a part.
fn write_atomically(path: &Path, data: &[u8]) -> Result<(), registry_core::fsutil::PathError> {
    let mode = fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    registry_core::fsutil::write_atomic(path, data, mode)
}
