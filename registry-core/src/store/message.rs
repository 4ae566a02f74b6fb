//! "Safe for a message": how untrusted input (a tag, a path inside a tar, an upload id) appears
//! in an error message: one line, control characters escaped, at most 200 characters.

/// Keeps error messages one line and free of control bytes, whatever the input was.
pub(crate) fn printable(input: &str) -> String {
    let mut out: String = input
        .chars()
        .take(200)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if input.chars().count() > 200 {
        out.push('…');
    }
    out
}
