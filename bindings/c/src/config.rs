//! Settings, switch plans and containerd configuration: pure functions over JSON documents.

use std::ffi::c_char;
use std::path::Path;

use registry_core::containerd::{self, ContainerdMajor, NodeConfig, RenderOptions, Rendered};
use registry_core::facts::ClusterFacts;
use registry_core::settings::{self, LoadOptions, RegistrySettings};
use registry_core::transition;
use registry_core::wire::Failure;

use crate::{
    Fail, arg_bytes, arg_str, boundary, dr_error, dr_status, fail, from_json, opt_str, options,
    out_ptr, put_string, to_json,
};

fn facts(text: Option<&str>) -> Result<ClusterFacts, Fail> {
    match text {
        None => Ok(ClusterFacts::default()),
        Some(t) => ClusterFacts::load(t.as_bytes())
            .map_err(|e| Fail::from(Failure::from(e).context("cluster facts"))),
    }
}

fn settings_json(text: &str, what: &str) -> Result<RegistrySettings, Fail> {
    from_json(text, what)
}

fn render_options(text: Option<&str>) -> Result<RenderOptions, Fail> {
    // A generation given without a release line gets that generation's default line.
    let base = match text.map(serde_json::from_str::<serde_json::Value>) {
        Some(Ok(v)) => match v.get("containerd").cloned().map(serde_json::from_value) {
            Some(Ok(major)) => RenderOptions::new(major),
            _ => RenderOptions::new(ContainerdMajor::V1),
        },
        _ => RenderOptions::new(ContainerdMajor::V1),
    };
    options(text, base, "render options")
}

/// Reads and validates registry settings from a ModuleConfig `deckhouse` and/or an
/// InitConfiguration (YAML or JSON bytes, `len` bytes at `input`).
///
/// `options_json` (may be NULL): `{"bootstrap": bool, "limits": {...}}` (LoadOptions).
/// On success `*settings_json` receives the normalized settings (`{"mode": "Proxy", "upstream":
/// {...}, "ttl": "72h0m0s"}`; it holds the credentials: treat it as a secret), to free with
/// `dr_string_free`. Invalid settings: `DR_STATUS_INVALID_SETTINGS`, the error holding every
/// problem; unusable input: `DR_STATUS_INVALID_DOCUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_validate(
    input: *const u8,
    len: usize,
    options_json: *const c_char,
    settings_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: the caller passes `len` readable bytes at `input`, or NULL with 0.
        let input = unsafe { arg_bytes(input, len, "input") }?;
        // SAFETY: NULL or a NUL-terminated string per the API contract.
        let opts = unsafe { opt_str(options_json, "options_json") }?;
        out_ptr(settings_json, "settings_json")?;
        let opts: LoadOptions = options(opts, LoadOptions::default(), "load options")?;
        let s = settings::load(input, &opts).map_err(fail)?;
        put_string(settings_json, to_json(&s)?);
        Ok(())
    })
}

/// Decides a switch from `current_json` to `desired_json` (settings JSON as `dr_validate`
/// returns) under the cluster facts `facts` (YAML or JSON text; NULL for a bootstrapped static
/// cluster with one containerd master).
///
/// A refusal is a result, not an error: `*decision_json` receives `{"allowed": true, "from",
/// "to", "stages", "restarts", "warnings"}` or `{"allowed": false, "from", "to", "reasons",
/// "route"}`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_plan(
    current_json: *const c_char,
    desired_json: *const c_char,
    facts_text: *const c_char,
    decision_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: NUL-terminated strings (or NULL) per the API contract.
        let current = unsafe { arg_str(current_json, "current_json") }?;
        // SAFETY: as above.
        let desired = unsafe { arg_str(desired_json, "desired_json") }?;
        // SAFETY: as above.
        let facts_text = unsafe { opt_str(facts_text, "facts") }?;
        out_ptr(decision_json, "decision_json")?;
        let current = settings_json(current, "current settings")?;
        let desired = settings_json(desired, "desired settings")?;
        let facts = facts(facts_text)?;
        let decision = transition::plan(&current, &desired, &facts);
        put_string(decision_json, to_json(&decision)?);
        Ok(())
    })
}

/// Builds the node configuration model for `desired_json` (with `previous_json`, may be NULL:
/// the transition phase) under `facts` (may be NULL). `*node_config_json` receives the model
/// plus its version hash: `{"version": "<hex>", "config": {...}}`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_node_config(
    desired_json: *const c_char,
    previous_json: *const c_char,
    facts_text: *const c_char,
    node_config_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        let config = build(desired_json, previous_json, facts_text)?;
        out_ptr(node_config_json, "node_config_json")?;
        let out = serde_json::json!({"version": config.version(), "config": config});
        put_string(node_config_json, to_json(&out)?);
        Ok(())
    })
}

fn build(
    desired_json: *const c_char,
    previous_json: *const c_char,
    facts_text: *const c_char,
) -> Result<NodeConfig, Fail> {
    // SAFETY: NUL-terminated strings (or NULL) per the API contract.
    let desired = unsafe { arg_str(desired_json, "desired_json") }?;
    // SAFETY: as above.
    let previous = unsafe { opt_str(previous_json, "previous_json") }?;
    // SAFETY: as above.
    let facts_text = unsafe { opt_str(facts_text, "facts") }?;
    let desired = settings_json(desired, "desired settings")?;
    let previous = previous
        .map(|p| settings_json(p, "previous settings"))
        .transpose()?;
    let facts = facts(facts_text)?;
    containerd::node_config(&desired, previous.as_ref(), &facts).map_err(fail)
}

/// Renders the files a node's containerd reads for `desired_json` (with `previous_json`, may be
/// NULL: the transition phase) under `facts` (may be NULL), with `options_json` (may be NULL:
/// containerd v1, Deckhouse dialect; `{"containerd": "v2", "version": "2.1", "dialect":
/// "upstream", "httpTlsFallback": false, "configPath": "..."}`, any subset).
///
/// `*rendered_json` receives `{"version", "configPath", "files": [{"path", "contents", "mode":
/// "0600"}], "hostDirs", "warnings"}` (file contents may hold credentials).
#[unsafe(no_mangle)]
pub extern "C" fn dr_render(
    desired_json: *const c_char,
    previous_json: *const c_char,
    facts_text: *const c_char,
    options_json: *const c_char,
    rendered_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: NUL-terminated string or NULL per the API contract.
        let opts = unsafe { opt_str(options_json, "options_json") }?;
        out_ptr(rendered_json, "rendered_json")?;
        let opts = render_options(opts)?;
        let config = build(desired_json, previous_json, facts_text)?;
        let rendered = containerd::render(&config, &opts).map_err(fail)?;
        put_string(rendered_json, to_json(&rendered)?);
        Ok(())
    })
}

/// Scans a copy of a node's `/etc/containerd` (`etc_containerd_dir`) for registry sections in
/// `conf.d` / `conf2.d`. `*report_json` receives `{"findings": [{"file", "line", "key"}],
/// "unreadable": [{"file", "message"}]}`; any finding or unreadable file means custom registry
/// configuration that must be migrated before the first switch. A missing or unreadable
/// `etc_containerd_dir` is `DR_STATUS_IO` naming the folder (never an empty report); an empty
/// path is `DR_STATUS_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_preflight(
    etc_containerd_dir: *const c_char,
    report_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: NUL-terminated string per the API contract.
        let dir = unsafe { arg_str(etc_containerd_dir, "etc_containerd_dir") }?;
        out_ptr(report_json, "report_json")?;
        let report = containerd::preflight(Path::new(dir)).map_err(fail)?;
        put_string(report_json, to_json(&report)?);
        Ok(())
    })
}

/// Which host folders written before (`previous_host_dirs_json`, a JSON array of folder names as
/// in `deckhouse_hosts_state.json`) to remove now that `current_host_dirs_json` are written.
/// `*plan_json` receives `{"remove": [...], "ignored": [...]}`.
#[unsafe(no_mangle)]
pub extern "C" fn dr_cleanup_plan(
    previous_host_dirs_json: *const c_char,
    current_host_dirs_json: *const c_char,
    plan_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: NUL-terminated strings per the API contract.
        let previous = unsafe { arg_str(previous_host_dirs_json, "previous_host_dirs_json") }?;
        // SAFETY: as above.
        let current = unsafe { arg_str(current_host_dirs_json, "current_host_dirs_json") }?;
        out_ptr(plan_json, "plan_json")?;
        let previous: Vec<String> = from_json(previous, "previous host dirs")?;
        let current: Vec<String> = from_json(current, "current host dirs")?;
        let plan = containerd::stale_host_dirs(&previous, &current);
        put_string(plan_json, to_json(&plan)?);
        Ok(())
    })
}

/// Writes rendered files (`rendered_json` as `dr_render` returns) under `root` (the node's `/`,
/// or a test folder), only what changed, atomically; removes host folders the previous state
/// file lists and the new one does not (the cleanup). `*report_json` receives `{"changed",
/// "removed", "restartContainerd", "warnings"}`. A set with a path the renderer does not write, a
/// bad host folder name, or a symbolic link on the way under `root` is refused before anything
/// is written: `DR_STATUS_APPLY_REFUSED`, the message naming the path and the reason.
#[unsafe(no_mangle)]
pub extern "C" fn dr_apply(
    rendered_json: *const c_char,
    root: *const c_char,
    report_json: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: NUL-terminated strings per the API contract.
        let rendered = unsafe { arg_str(rendered_json, "rendered_json") }?;
        // SAFETY: as above.
        let root = unsafe { arg_str(root, "root") }?;
        out_ptr(report_json, "report_json")?;
        let rendered: Rendered = from_json(rendered, "rendered files")?;
        let report =
            containerd::apply(&rendered, Path::new(root)).map_err(|e| apply_error(&e, root))?;
        put_string(report_json, to_json(&report)?);
        Ok(())
    })
}

/// Apply's failures (`DR_STATUS_APPLY_REFUSED` or `DR_STATUS_IO`), naming the root.
fn apply_error(e: &containerd::ApplyError, root: &str) -> Fail {
    Failure::from(e)
        .context(&format!("apply under {root}"))
        .into()
}

/// Merges the rendered config.toml part (`part_toml`, `deckhouse.d/registry.toml` as `dr_render`
/// returns it) into a node's main config.toml (`main_toml`), as containerd 1.x needs it: 1.x
/// loads an `imports` file by replacing each plugin table it names. PART's keys win; every
/// other key of MAIN, and MAIN's comments and order, stay.
///
/// `*merged_toml` receives the merged file (free with `dr_string_free`; it holds credentials if
/// the part does). A file that is not TOML, or two files with different `version`s:
/// `DR_STATUS_INVALID_DOCUMENT`, the message naming which.
#[unsafe(no_mangle)]
pub extern "C" fn dr_merge_config(
    main_toml: *const c_char,
    part_toml: *const c_char,
    merged_toml: *mut *mut c_char,
    err: *mut *mut dr_error,
) -> dr_status {
    boundary(err, || {
        // SAFETY: NUL-terminated strings per the API contract.
        let main = unsafe { arg_str(main_toml, "main_toml") }?;
        // SAFETY: as above.
        let part = unsafe { arg_str(part_toml, "part_toml") }?;
        out_ptr(merged_toml, "merged_toml")?;
        let merged = containerd::merge_config(main, part).map_err(fail)?;
        put_string(merged_toml, merged);
        Ok(())
    })
}
