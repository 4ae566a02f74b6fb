//! Settings, switch plans and containerd configuration: pure functions over JSON documents.

use std::ffi::c_char;
use std::path::Path;

use registry_core::containerd::{self, RenderOptions, Rendered};
use registry_core::facts::ClusterFacts;
use registry_core::settings::{self, LoadOptions};
use registry_core::transition;
use registry_core::wire::{self, Failure, PreflightView, SettingsView};

use crate::ffi::{Json, Opts, Settings, entry, json, text};
use crate::{Fail, dr_error, dr_status, fail};

/// Reads and validates registry settings from a ModuleConfig `deckhouse` and/or an
/// InitConfiguration (YAML or JSON bytes, `len` bytes at `input`).
///
/// `options_json` (may be NULL): `{"bootstrap": bool, "limits": {...}}` (LoadOptions, any
/// subset). On success `*settings_json` receives the core's SettingsView: `{"settings":
/// {"mode": "Proxy", "upstream": {...}, "ttl": "72h0m0s"}, "imagesBase", "imagesRepo",
/// "upstreamAddress"}` (it holds the credentials: treat it as a secret), to free with
/// `dr_string_free`; every function taking settings JSON accepts it as it is. Invalid
/// settings: `DR_STATUS_INVALID_SETTINGS`, the error holding every problem; unusable input:
/// `DR_STATUS_INVALID_DOCUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_load_settings(
    input: *const u8,
    len: usize,
    options_json: *const c_char,
    settings_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        input + len => input: &[u8];
        options_json => options: Opts<LoadOptions>;
        -> settings_json;
        {
            let s = settings::load(input, &options.0).map_err(fail)?;
            json(&SettingsView::of(&s))
        }
    )
}

/// Decides a switch from `current_json` to `desired_json` (settings JSON as
/// `dr_load_settings` returns it, or its `settings` member) under the cluster facts `facts`
/// (YAML or JSON text; NULL for a bootstrapped static cluster with one containerd master).
///
/// A refusal is a result, not an error: `*decision_json` receives `{"allowed": true, "from",
/// "to", "stages", "restarts", "warnings"}` or `{"allowed": false, "from", "to", "reasons",
/// "route"}`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_plan(
    current_json: *const c_char,
    desired_json: *const c_char,
    facts: *const c_char,
    decision_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        current_json => current: Settings;
        desired_json => desired: Settings;
        facts => facts: ClusterFacts;
        -> decision_json;
        {
            json(&transition::plan(&current.0, &desired.0, &facts))
        }
    )
}

/// Builds the node configuration model for `desired_json` (with `previous_json`, may be
/// NULL: the transition phase) under `facts` (may be NULL). `*node_config_json` receives the
/// model plus its version hash: `{"version": "<hex>", "config": {...}}`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_node_config(
    desired_json: *const c_char,
    previous_json: *const c_char,
    facts: *const c_char,
    node_config_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        desired_json => desired: Settings;
        previous_json => previous: Option<Settings>;
        facts => facts: ClusterFacts;
        -> node_config_json;
        {
            let previous = previous.map(|p| p.0);
            let config = containerd::node_config(&desired.0, previous.as_ref(), &facts).map_err(fail)?;
            json(&serde_json::json!({"version": config.version(), "config": config}))
        }
    )
}

/// Renders the files a node's containerd reads for `desired_json` (with `previous_json`, may
/// be NULL: the transition phase, refused with `DR_STATUS_TRANSITION_REFUSED` when the
/// switch from it is refused) under `facts` (may be NULL), with `options_json` (may be
/// NULL: containerd v1, Deckhouse dialect; `{"containerd": "v2", "version": "2.1",
/// "dialect": "upstream", "httpTlsFallback": false, "configPath": "...", "switchCheck":
/// "skip"}`, any subset; a generation without `version` gets its default release line).
///
/// `*rendered_json` receives `{"version", "configPath", "files": [{"path", "contents",
/// "mode": "0600"}], "hostDirs", "warnings"}` (file contents may hold credentials).
#[unsafe(no_mangle)]
pub extern "C" fn dr_render(
    desired_json: *const c_char,
    previous_json: *const c_char,
    facts: *const c_char,
    options_json: *const c_char,
    rendered_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        desired_json => desired: Settings;
        previous_json => previous: Option<Settings>;
        facts => facts: ClusterFacts;
        options_json => options: Opts<RenderOptions>;
        -> rendered_json;
        {
            let previous = previous.map(|p| p.0);
            json(&wire::render(&desired.0, previous.as_ref(), &facts, &options.0)?)
        }
    )
}

/// Scans a copy of a node's `/etc/containerd` (`etc_containerd_dir`) for registry sections
/// in `conf.d` / `conf2.d`. `*report_json` receives the core's PreflightView: `{"findings":
/// [{"file", "line", "key"}], "unreadable": [{"file", "message"}],
/// "hasCustomRegistryConfig": bool}` (true: custom registry configuration that must be
/// migrated before the first switch). A missing or unreadable `etc_containerd_dir` is
/// `DR_STATUS_IO` naming the folder (never an empty report); an empty path is
/// `DR_STATUS_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_preflight(
    etc_containerd_dir: *const c_char,
    report_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; etc_containerd_dir => dir: &Path; -> report_json; {
        json(&PreflightView::from(containerd::preflight(dir).map_err(fail)?))
    })
}

/// Which host folders written before (`previous_host_dirs_json`, a JSON array of folder
/// names as in `deckhouse_hosts_state.json`) to remove now that `current_host_dirs_json` are
/// written. `*plan_json` receives `{"remove": [...], "ignored": [...]}`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_stale_host_dirs(
    previous_host_dirs_json: *const c_char,
    current_host_dirs_json: *const c_char,
    plan_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err;
        previous_host_dirs_json => previous: Json<Vec<String>>;
        current_host_dirs_json => current: Json<Vec<String>>;
        -> plan_json;
        {
            json(&containerd::stale_host_dirs(&previous.0, &current.0))
        }
    )
}

/// Writes rendered files (`rendered_json` as `dr_render` returns) under `root` (the node's
/// `/`, or a test folder), only what changed, atomically; removes host folders the previous
/// state file lists and the new one does not (the cleanup). `*report_json` receives
/// `{"changed", "removed", "restartContainerd", "warnings"}`. A set with a path the renderer
/// does not write, a bad host folder name, or a symbolic link on the way under `root` is
/// refused before anything is written: `DR_STATUS_APPLY_REFUSED`, the message naming the
/// path and the reason.
#[unsafe(no_mangle)]
pub extern "C" fn dr_apply(
    rendered_json: *const c_char,
    root: *const c_char,
    report_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; rendered_json => rendered: Json<Rendered>; root => root: &str; -> report_json; {
        let report = containerd::apply(&rendered.0, Path::new(root)).map_err(|e| {
            Fail::from(Failure::from(&e).context(&format!("apply under {root}")))
        })?;
        json(&report)
    })
}

/// Merges the rendered config.toml part (`part_toml`, `deckhouse.d/registry.toml` as
/// `dr_render` returns it) into a node's main config.toml (`main_toml`), as containerd 1.x
/// needs it: 1.x loads an `imports` file by replacing each plugin table it names. PART's
/// keys win; every other key of MAIN, and MAIN's comments and order, stay.
///
/// `*merged_toml` receives the merged file (free with `dr_string_free`; it holds credentials
/// if the part does). A file that is not TOML, or two files with different `version`s:
/// `DR_STATUS_INVALID_DOCUMENT`, the message naming which.
#[unsafe(no_mangle)]
pub extern "C" fn dr_merge_config(
    main_toml: *const c_char,
    part_toml: *const c_char,
    merged_toml: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    entry!(err; main_toml => main: &str; part_toml => part: &str; -> merged_toml; {
        Ok(text(containerd::merge_config(main, part).map_err(fail)?))
    })
}
