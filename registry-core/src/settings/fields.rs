//! Typed access to JSON fields that records a problem instead of failing.

use serde_json::{Map, Value};

use super::grammar::find_control;
use super::problem::{Collector, ProblemCode};

/// `base.key`, or `key` at the top level.
pub(crate) fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// The JSON type name of a value, for messages (never the value itself: it may be a secret).
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// An optional object field; `null` counts as absent. Records `InvalidType` for other types.
pub(crate) fn object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
    c: &mut Collector,
) -> Result<Option<&'a Map<String, Value>>, ()> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => {
            c.push(
                path,
                ProblemCode::InvalidType,
                format!("must be an object, not {}", type_name(other)),
            );
            Err(())
        }
    }
}

/// An optional string field; `null` counts as absent. Records `InvalidType` for other types
/// and `ControlCharacter` for control characters not in `allowed_controls`.
pub(crate) fn string<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
    allowed_controls: &[char],
    c: &mut Collector,
) -> Result<Option<&'a str>, ()> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match find_control(s, allowed_controls) {
            Some(ch) => {
                c.push(
                    path,
                    ProblemCode::ControlCharacter,
                    format!("contains a control character (U+{:04X}); control characters and newlines are not allowed", ch as u32),
                );
                Err(())
            }
            None => Ok(Some(s)),
        },
        Some(other) => {
            c.push(
                path,
                ProblemCode::InvalidType,
                format!("must be a string, not {}", type_name(other)),
            );
            Err(())
        }
    }
}

/// Records `UnknownField` for every key not in `known`.
pub(crate) fn reject_unknown(
    obj: &Map<String, Value>,
    known: &[&str],
    base: &str,
    c: &mut Collector,
) {
    for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
        c.push(
            &join(base, key),
            ProblemCode::UnknownField,
            format!("unknown field {key:?}; allowed here: {}", known.join(", ")),
        );
    }
}

/// An optional enumeration field.
pub(crate) fn enumeration<T: Copy>(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    choices: &[(&str, T)],
    c: &mut Collector,
) -> Result<Option<T>, ()> {
    let Some(s) = string(obj, key, path, &[], c)? else {
        return Ok(None);
    };
    match choices.iter().find(|(name, _)| *name == s) {
        Some((_, v)) => Ok(Some(*v)),
        None => {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            c.push(
                path,
                ProblemCode::InvalidEnum,
                format!("{:?} is not one of {}", preview(s), names.join(", ")),
            );
            Err(())
        }
    }
}

/// At most 64 characters of a (non-secret) value, for messages.
pub(crate) fn preview(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
