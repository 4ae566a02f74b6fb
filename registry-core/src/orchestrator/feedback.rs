//! Node feedback messages (DOMAIN.md §7.3): which nodes have not yet applied a configuration
//! version, with versions cut to 15 characters and at most ten nodes named.

/// Most nodes named in one message.
pub const MAX_NODES: usize = 10;
/// Characters of a version shown in a message.
pub const VERSION_CHARS: usize = 15;

/// The first 15 characters of a version, with `…` when cut.
///
/// ```
/// use registry_core::orchestrator::cut_version;
/// assert_eq!(cut_version("0123456789abcdef0123"), "0123456789abcde…");
/// assert_eq!(cut_version("short"), "short");
/// ```
pub fn cut_version(version: &str) -> String {
    if version.chars().count() <= VERSION_CHARS {
        return version.to_owned();
    }
    let mut s: String = version.chars().take(VERSION_CHARS).collect();
    s.push('…');
    s
}

/// `N/M node(s) ready. Waiting:` and one `- <line>` per waiting node (at most ten, then
/// `\t...and K more`); `None` when nobody waits.
pub fn waiting_message(total: usize, waiting: &[String]) -> Option<String> {
    if waiting.is_empty() {
        return None;
    }
    let ready = total.saturating_sub(waiting.len());
    let mut msg = format!("{ready}/{total} node(s) ready. Waiting:");
    for line in waiting.iter().take(MAX_NODES) {
        msg.push_str("\n- ");
        msg.push_str(line);
    }
    if waiting.len() > MAX_NODES {
        msg.push_str(&format!("\n\t...and {} more", waiting.len() - MAX_NODES));
    }
    Some(msg)
}

/// The line for a node whose applied version differs: `<node>: "<old…>" → "<new…>"`.
pub fn version_line(node: &str, applied: Option<&str>, expected: &str) -> String {
    format!(
        "{node}: \"{}\" → \"{}\"",
        cut_version(applied.unwrap_or("")),
        cut_version(expected)
    )
}
