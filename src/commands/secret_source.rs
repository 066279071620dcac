//! Where `secrets sync` takes values from: the process environment (by key name), a dotenv file or a
//! JSON file. A bad file is an error naming the file and line; no message here ever quotes a value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::Error;

use crate::backend::SecretValue;

/// The values of one run, by key.
#[derive(Debug)]
pub enum SecretSource {
    /// The process environment: a key's value is the variable of that name.
    Environment,
    /// The keys and values of a file.
    File {
        path: PathBuf,
        values: BTreeMap<String, SecretValue>,
    },
}

impl SecretSource {
    /// Reads `--from-dotenv` or `--from-json` (at most one is given), else the environment.
    pub fn read(dotenv: Option<&Path>, json: Option<&Path>) -> Result<Self, Error> {
        match (dotenv, json) {
            (Some(path), _) => {
                let text = read_file(path)?;
                Ok(Self::File {
                    path: path.to_path_buf(),
                    values: parse_dotenv(&text).map_err(|(line, why)| {
                        source_error(path, &format!("line {line}: {why}"), DOTENV_HELP)
                    })?,
                })
            }
            (None, Some(path)) => {
                let text = read_file(path)?;
                Ok(Self::File {
                    path: path.to_path_buf(),
                    values: parse_json(&text).map_err(|why| source_error(path, &why, JSON_HELP))?,
                })
            }
            (None, None) => Ok(Self::Environment),
        }
    }

    /// The value of `key`: `None` when it is absent.
    pub fn get(&self, key: &str) -> Option<SecretValue> {
        match self {
            Self::Environment => std::env::var(key).ok().map(SecretValue::new),
            Self::File { values, .. } => values.get(key).cloned(),
        }
    }

    /// Where a value was looked for, for messages: `the environment`, `.env.dev`.
    pub fn describe(&self) -> String {
        match self {
            Self::Environment => "the environment".to_owned(),
            Self::File { path, .. } => path.display().to_string(),
        }
    }

    /// Every value of a file (none for the environment).
    pub fn file_values(&self) -> Vec<SecretValue> {
        match self {
            Self::Environment => Vec::new(),
            Self::File { values, .. } => values.values().cloned().collect(),
        }
    }

    /// The keys a file holds (none for the environment, which holds every variable of the process).
    pub fn file_keys(&self) -> Vec<&str> {
        match self {
            Self::Environment => Vec::new(),
            Self::File { values, .. } => values.keys().map(String::as_str).collect(),
        }
    }
}

const DOTENV_HELP: &str = "write one `KEY=value` per line (`export KEY=value`, `KEY=\"quoted\"` and `# comments` work too)";
const JSON_HELP: &str = "write one JSON object whose values are strings: {\"KEY\": \"value\"}";

fn read_file(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|error| {
        source_error(
            path,
            &format!("cannot be read: {error}"),
            "pass a file that exists and is readable",
        )
    })
}

fn source_error(path: &Path, why: &str, help: &'static str) -> Error {
    Error::SecretSource {
        path: path.to_owned(),
        reason: why.to_owned(),
        help,
    }
}

/// Parses a dotenv file; an error is (line number, why), never quoting a value.
pub fn parse_dotenv(text: &str) -> Result<BTreeMap<String, SecretValue>, (usize, String)> {
    let mut values = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut index = 0;
    while index < lines.len() {
        let number = index + 1;
        let line = lines[index].trim_start();
        index += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, rest)) = line.split_once('=') else {
            return Err((number, "expected `KEY=value`".into()));
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        {
            return Err((number, "the key before `=` is not a variable name".into()));
        }
        let rest = rest.trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('\'') {
            let Some(end) = quoted.find('\'') else {
                return Err((number, "a single quote is not closed on its line".into()));
            };
            quoted[..end].to_owned()
        } else if let Some(quoted) = rest.strip_prefix('"') {
            // A double-quoted value may go on over several lines, with `\n`, `\t`, `\"`, `\\` escapes.
            let mut value = String::new();
            let mut text = quoted.to_owned();
            loop {
                let mut chars = text.chars();
                let mut closed = false;
                while let Some(ch) = chars.next() {
                    match ch {
                        '\\' => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            Some('r') => value.push('\r'),
                            Some(other @ ('"' | '\\' | '\'' | '$')) => value.push(other),
                            Some(other) => {
                                value.push('\\');
                                value.push(other);
                            }
                            None => value.push('\\'),
                        },
                        '"' => {
                            closed = true;
                            break;
                        }
                        other => value.push(other),
                    }
                }
                if closed {
                    break;
                }
                if index >= lines.len() {
                    return Err((number, "a double quote is not closed".into()));
                }
                value.push('\n');
                lines[index].clone_into(&mut text);
                index += 1;
            }
            value
        } else {
            // Unquoted: up to a ` #` comment, trimmed.
            let end = rest.find(" #").unwrap_or(rest.len());
            rest[..end].trim().to_owned()
        };
        values.insert(key.to_owned(), SecretValue::new(value));
    }
    Ok(values)
}

/// Parses a JSON object of string values; an error says why, never quoting a value.
pub fn parse_json(text: &str) -> Result<BTreeMap<String, SecretValue>, String> {
    let document: serde_json::Value = serde_json::from_str(text).map_err(|error| {
        format!(
            "not JSON (line {}, column {})",
            error.line(),
            error.column()
        )
    })?;
    let serde_json::Value::Object(object) = document else {
        return Err("not a JSON object of keys and values".into());
    };
    object
        .into_iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(value) => Ok((key, SecretValue::new(value))),
            _ => Err(format!("the value of `{key}` is not a string")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposed(values: &BTreeMap<String, SecretValue>) -> Vec<(String, String)> {
        values
            .iter()
            .map(|(key, value)| (key.clone(), value.expose().to_owned()))
            .collect()
    }

    #[test]
    fn dotenv_reads_what_python_dotenv_writes() {
        let text = "# a comment\n\nexport A=plain value # trailing comment\nB='single # kept'\nC=\"line\\none\"\nD=\"two\nlines\"\nE=\n";
        let values = parse_dotenv(text).unwrap();
        assert_eq!(
            exposed(&values),
            [
                ("A".into(), "plain value".into()),
                ("B".into(), "single # kept".into()),
                ("C".into(), "line\none".into()),
                ("D".into(), "two\nlines".into()),
                ("E".into(), String::new()),
            ]
        );
    }

    #[test]
    fn dotenv_errors_name_the_line_and_never_the_value() {
        assert_eq!(
            parse_dotenv("A=1\nsecret-without-equals\n").unwrap_err(),
            (2, "expected `KEY=value`".to_owned())
        );
        assert_eq!(
            parse_dotenv("A=\"hunter2\n").unwrap_err(),
            (1, "a double quote is not closed".to_owned())
        );
        assert_eq!(
            parse_dotenv("A='hunter2\n").unwrap_err(),
            (1, "a single quote is not closed on its line".to_owned())
        );
    }

    #[test]
    fn json_takes_an_object_of_strings() {
        let values = parse_json(r#"{"A": "1", "B": ""}"#).unwrap();
        assert_eq!(
            exposed(&values),
            [("A".into(), "1".into()), ("B".into(), String::new())]
        );
        assert_eq!(
            parse_json(r#"{"A": 12345}"#).unwrap_err(),
            "the value of `A` is not a string"
        );
        assert_eq!(
            parse_json("[\"hunter2\"]").unwrap_err(),
            "not a JSON object of keys and values"
        );
        assert_eq!(
            parse_json("{\"A\": hunter2}").unwrap_err(),
            "not JSON (line 1, column 7)"
        );
    }
}
