//! How a JSON pointer and a JSON value of the schema check read in the manifest's own TOML words.

use serde_json::Value;

/// The best close match among `candidates`, if one is close enough to be what was meant.
pub(crate) fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(input, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// A pointer with array indexes and map keys replaced by `*`: `/processor/*/env/*/image/oci`.
pub(super) fn shape(pointer: &str) -> String {
    let mut out = String::new();
    let mut previous = "";
    for segment in pointer.split('/').skip(1) {
        out.push('/');
        let is_map_key = (out == "/secrets/" && previous == "secrets")
            || (previous == "env" && out.starts_with("/processor/"));
        if is_map_key || segment.parse::<usize>().is_ok() {
            out.push('*');
        } else {
            out.push_str(segment);
        }
        previous = segment;
    }
    out
}

/// A pointer as a TOML key path: `processor[0].image.oci`.
pub(crate) fn key_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        if segment.parse::<usize>().is_ok() {
            out.push('[');
            out.push_str(segment);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment.replace("~1", "/").replace("~0", "~"));
        }
    }
    out
}

/// How a person would name the table at a pointer: `[modal]`, `[[processor]]`, `the top level`.
pub(super) fn table_name(pointer: &str) -> String {
    if pointer.is_empty() {
        return "the top level".to_owned();
    }
    let segments: Vec<&str> = pointer.split('/').skip(1).collect();
    let is_array_entry = segments.last().is_some_and(|s| s.parse::<usize>().is_ok());
    let keys: Vec<&str> = segments
        .iter()
        .copied()
        .filter(|s| s.parse::<usize>().is_err())
        .collect();
    if is_array_entry {
        format!("`[[{}]]`", keys.join("."))
    } else {
        format!("`[{}]`", keys.join("."))
    }
}

pub(super) fn toml_type_name(json_type: &str) -> &'static str {
    match json_type {
        "array" => "an array",
        "boolean" => "a boolean",
        "integer" => "an integer",
        "number" => "a number",
        "object" => "a table",
        "string" => "a string",
        _ => "a value",
    }
}

pub(super) fn toml_type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "a float that is not a number",
        Value::Bool(_) => "a boolean",
        Value::Number(number) if number.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

/// A JSON value written as a TOML inline value, for help lines.
pub(super) fn toml_inline(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(key, value)| format!("{key} = {}", toml_inline(value)))
                .collect();
            if fields.is_empty() {
                "{}".to_owned()
            } else {
                format!("{{ {} }}", fields.join(", "))
            }
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(toml_inline).collect::<Vec<_>>().join(", ")
        ),
        Value::Number(number) if number.is_f64() => {
            let text = number.to_string();
            if text.contains('.') || text.contains('e') {
                text
            } else {
                format!("{text}.0")
            }
        }
        other => other.to_string(),
    }
}

/// A schema description as a help line: the field's own words say what it takes.
pub(super) fn first_sentence(text: &str) -> String {
    text.replace('\n', " ")
}
