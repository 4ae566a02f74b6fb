//! Reading input files (or stdin for `-`), with errors that name the file.

use std::io::Read;
use std::path::Path;

/// Largest input read, so a huge file or endless stdin cannot exhaust memory; the settings
/// reader has a tighter limit of its own.
const MAX_INPUT: u64 = 64 << 20;

/// Reads `path`, or stdin when it is `-`.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, String> {
    let mut data = Vec::new();
    let result = if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_INPUT + 1)
            .read_to_end(&mut data)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT + 1).read_to_end(&mut data))
    };
    match result {
        Ok(_) if data.len() as u64 > MAX_INPUT => {
            Err(format!("{}: larger than {MAX_INPUT} bytes", name(path)))
        }
        Ok(_) => Ok(data),
        Err(e) => Err(format!("{}: cannot read: {e}", name(path))),
    }
}

/// How a path is named in messages.
pub(crate) fn name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".into()
    } else {
        path.display().to_string()
    }
}

/// Prints a one-line reason for unusable input and returns exit code 2.
pub(crate) fn unusable(message: &str) -> std::process::ExitCode {
    eprintln!("registryctl: {}", message.replace('\n', " "));
    std::process::ExitCode::from(crate::EXIT_UNUSABLE)
}

/// Appends one formatted line to a `String` buffer.
macro_rules! line {
    ($buf:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($buf, $($arg)*);
    }};
}
pub(crate) use line;

/// Writes text to stdout. A closed pipe (`registryctl … | head`) is not an error worth a
/// message, and must never be a panic as `println!` would make it.
pub(crate) fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("registryctl: cannot write the result: {e}");
    }
}

/// Prints a JSON value on stdout.
pub(crate) fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => emit(&format!("{s}\n")),
        Err(e) => eprintln!("registryctl: cannot encode the result as JSON: {e}"),
    }
}

/// Loads settings from `path`. The outer error is an unusable file (a one-line reason); the
/// inner one is settings that break the rules, which callers turn into refusal reasons.
pub(crate) fn load_settings(
    path: &Path,
) -> Result<
    Result<registry_core::settings::RegistrySettings, registry_core::settings::Problems>,
    String,
> {
    use registry_core::settings::{LoadError, LoadOptions, load};
    let data = read(path)?;
    match load(&data, &LoadOptions::default()) {
        Ok(s) => Ok(Ok(s)),
        Err(LoadError::Invalid(p)) => Ok(Err(p)),
        Err(LoadError::Document(e)) => Err(format!("{}: {e}", name(path))),
    }
}

/// Loads cluster facts from `path`, or the defaults when no file is given.
pub(crate) fn load_facts(
    path: Option<&Path>,
) -> Result<registry_core::facts::ClusterFacts, String> {
    use registry_core::facts::ClusterFacts;
    let Some(path) = path else {
        return Ok(ClusterFacts::default());
    };
    let data = read(path)?;
    ClusterFacts::load(&data).map_err(|e| format!("{}: cluster facts: {e}", name(path)))
}
