//! TOML string escaping: every value and quoted key goes through here, so a password with
//! quotes, backslashes, newlines or any Unicode stays one well-formed TOML string.

/// `s` as a TOML basic string, quotes included.
///
/// ```
/// use registry_core::containerd::toml_string;
/// assert_eq!(toml_string("a\"b\\c\nd\u{7f}é"), r#""a\"b\\c\nd\u007Fé""#);
/// ```
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            // TOML forbids the other control characters (and DEL) raw in basic strings.
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML array of strings on one line.
pub(crate) fn toml_array(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| toml_string(s)).collect();
    format!("[{}]", quoted.join(", "))
}
