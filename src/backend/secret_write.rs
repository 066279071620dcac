//! What `secrets sync` asks the backend to write: named secrets with exactly these keys and values.
//!
//! A value is held in a [`SecretValue`], whose `Debug` never shows it, so no log line or error made
//! from these types can carry one.

use std::collections::BTreeMap;

/// A secret's value; `Debug` prints `<hidden>`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place it goes: the helper's standard input.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

/// One secret to write: afterwards it holds exactly `values` (created, or replaced when it exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretWrite {
    pub name: String,
    /// Key → value.
    pub values: BTreeMap<String, SecretValue>,
}

impl SecretWrite {
    /// Replaces every value of this write that occurs in `text` by `***`: messages from Modal pass
    /// through it before they reach an error, in case one quotes what it was sent.
    pub fn redact(&self, text: &str) -> String {
        let mut values: Vec<&str> = self
            .values
            .values()
            .map(SecretValue::expose)
            .filter(|value| !value.is_empty())
            .collect();
        // The longest first, so a value that contains another is replaced whole.
        values.sort_by_key(|value| std::cmp::Reverse(value.len()));
        values
            .into_iter()
            .fold(text.to_owned(), |text, value| text.replace(value, "***"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_debug_nor_a_redacted_message_shows_a_value() {
        let write = SecretWrite {
            name: "REGISTRY_AUTH".into(),
            values: BTreeMap::from([
                ("REGISTRY_USERNAME".into(), SecretValue::new("bot")),
                ("REGISTRY_PASSWORD".into(), SecretValue::new("bot-pw-1")),
            ]),
        };
        assert_eq!(
            format!("{write:?}"),
            "SecretWrite { name: \"REGISTRY_AUTH\", values: {\"REGISTRY_PASSWORD\": <hidden>, \"REGISTRY_USERNAME\": <hidden>} }"
        );
        assert_eq!(
            write.redact("refused bot-pw-1 for bot"),
            "refused *** for ***"
        );
    }
}
