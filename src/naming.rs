//! Naming: the single source of truth for processor refs and Modal app names.
//!
//! Every other place that needs an app name (the planner, the people-facing commands, `modal_app.py`
//! through `modalplan name`) calls into this module; `tests/fixtures/naming.json` holds the vectors any
//! other implementation checks itself against.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// The longest app name Modal accepts.
pub const MAX_APP_NAME_LEN: usize = 64;

/// Length of the hexadecimal hash tail that ends a shortened name.
const HASH_TAIL_LEN: usize = 8;

/// Why a ref or a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    #[error(
        "`{input}` is not a processor ref: expected `namespace/name@version`, e.g. `llm/litellm@1`"
    )]
    RefShape { input: String },
    #[error(
        "`{input}` has version `{version}`: a version is digits with an optional leading `v`, e.g. `@1` or `@v2`"
    )]
    RefVersion { input: String, version: String },
    #[error(
        "`{input}` has an empty {part} once reduced to [a-z0-9-]: name it with letters or digits"
    )]
    EmptyPart { input: String, part: &'static str },
    #[error(
        "`{input}` is not a valid Modal app name: use 1 to 64 characters of [a-zA-Z0-9._-], not starting with `-` nor shaped like an app id (ap-...)"
    )]
    AppName { input: String },
}

/// A processor reference, `namespace/name@version`, parsed once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessorRef {
    namespace: String,
    name: String,
    version: u64,
    original: String,
}

impl ProcessorRef {
    /// The namespace as written (`llm` in `llm/litellm@1`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The processor's name as written (`litellm` in `llm/litellm@1`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The major version (`1` in `llm/litellm@1` and in `llm/litellm@v1`).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The ref exactly as the manifest wrote it.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The CI app name: `ns-name-v<ver>`, within Modal's limits.
    pub fn app_name(&self) -> AppName {
        AppName::fit(&self.full_app_name())
    }

    /// The app name before it is fitted to Modal's limit: `<namespace>-<name>-v<version>`, each part
    /// sanitized. Longer than [`MAX_APP_NAME_LEN`] when [`Self::app_name`] had to shorten it.
    pub fn full_app_name(&self) -> String {
        let namespace = sanitize(&self.namespace);
        let name = sanitize(&self.name);
        format!("{namespace}-{name}-v{}", self.version)
    }
}

impl FromStr for ProcessorRef {
    type Err = NamingError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let shape = || NamingError::RefShape {
            input: input.to_owned(),
        };
        let (path, version) = input.rsplit_once('@').ok_or_else(shape)?;
        let (namespace, name) = path.split_once('/').ok_or_else(shape)?;
        if namespace.is_empty()
            || name.is_empty()
            || name.contains('/')
            || path.contains('@')
            || input.chars().any(char::is_whitespace)
        {
            return Err(shape());
        }
        let digits = version.strip_prefix(['v', 'V']).unwrap_or(version);
        let version_number = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse::<u64>().ok()
        } else {
            None
        }
        .ok_or_else(|| NamingError::RefVersion {
            input: input.to_owned(),
            version: version.to_owned(),
        })?;
        for (part, value) in [("namespace", namespace), ("name", name)] {
            if sanitize(value).is_empty() {
                return Err(NamingError::EmptyPart {
                    input: input.to_owned(),
                    part,
                });
            }
        }
        Ok(Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            version: version_number,
            original: input.to_owned(),
        })
    }
}

impl fmt::Display for ProcessorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// A Modal app name that Modal accepts: 1 to 64 characters of `[a-zA-Z0-9._-]`, not shaped like an app id.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct AppName(String);

impl AppName {
    /// Accepts a name given by a person (`--app-name`) as it is, or refuses it.
    pub fn parse(input: &str) -> Result<Self, NamingError> {
        let valid_chars = input
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if input.is_empty()
            || input.len() > MAX_APP_NAME_LEN
            || !valid_chars
            // A leading `-` would reach the `modal` CLI as an option.
            || input.starts_with('-')
            || looks_like_app_id(input)
        {
            return Err(NamingError::AppName {
                input: input.to_owned(),
            });
        }
        Ok(Self(input.to_owned()))
    }

    /// Fits an already sanitized name into Modal's limits: a longer one keeps a readable head and ends in
    /// a short hash of the whole, so two long names stay apart.
    fn fit(sanitized: &str) -> Self {
        if sanitized.len() <= MAX_APP_NAME_LEN {
            return Self(sanitized.to_owned());
        }
        let hash = hex::encode(Sha256::digest(sanitized.as_bytes()));
        let head_len = MAX_APP_NAME_LEN - HASH_TAIL_LEN - 1;
        // Sanitized names are ASCII, so byte slicing is on character boundaries.
        let head = sanitized[..head_len].trim_end_matches('-');
        Self(format!("{head}-{}", &hash[..HASH_TAIL_LEN]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AppName {
    type Error = NamingError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<AppName> for String {
    fn from(value: AppName) -> Self {
        value.0
    }
}

/// Who and where a personal sandbox belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxOwner {
    pub user: String,
    pub branch: String,
}

impl SandboxOwner {
    /// The sandbox name of an app: `<user>-<branch>-<app>`, sanitized like a ref and fitted to Modal's limits.
    pub fn app_name(&self, app: &AppName) -> AppName {
        let user = sanitize(&self.user);
        let branch = sanitize(&self.branch);
        let parts: Vec<&str> = [user.as_str(), branch.as_str(), app.as_str()]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect();
        AppName::fit(&parts.join("-"))
    }

    /// The prefix every sandbox app of this owner starts with (`user-branch-`).
    pub fn prefix(&self) -> String {
        let mut prefix = String::new();
        for part in [sanitize(&self.user), sanitize(&self.branch)] {
            if !part.is_empty() {
                prefix.push_str(&part);
                prefix.push('-');
            }
        }
        prefix
    }
}

/// Lowercases, turns each run of characters outside `[a-z0-9-]` into one `-`, collapses runs of `-` and trims
/// them from both ends. `/` in a branch name becomes `-` by the same rule.
pub fn sanitize(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for ch in input.chars().flat_map(char::to_lowercase) {
        let keep = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        if keep {
            out.push(ch);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// Modal app ids are `ap-` followed by 22 alphanumerics; a name of that shape would be read as an id.
fn looks_like_app_id(name: &str) -> bool {
    name.strip_prefix("ap-")
        .is_some_and(|rest| rest.len() == 22 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(reference: &str) -> String {
        reference
            .parse::<ProcessorRef>()
            .unwrap()
            .app_name()
            .to_string()
    }

    #[test]
    fn seed_examples() {
        assert_eq!(app("llm/litellm@1"), "llm-litellm-v1");
        assert_eq!(app("replicate/generic@1"), "replicate-generic-v1");
        assert_eq!(app("LLM/Lite_LLM.x@v02"), "llm-lite-llm-x-v2");
    }

    #[test]
    fn long_names_end_in_a_hash_and_stay_apart() {
        let a = app(&format!("ns/{}@1", "a".repeat(80)));
        let b = app(&format!("ns/{}@2", "a".repeat(80)));
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(a.starts_with("ns-aaaa"));
    }

    #[test]
    fn app_ids_and_bad_characters_are_refused() {
        assert!(AppName::parse("ap-abcdefghijklmnopqrstuv").is_err());
        assert!(AppName::parse("my app").is_err());
        assert!(AppName::parse(&"a".repeat(65)).is_err());
        assert!(AppName::parse("veyorokon-dev-llm-litellm-v1").is_ok());
    }

    #[test]
    fn sandbox_names() {
        let owner = SandboxOwner {
            user: "veyorokon".into(),
            branch: "feature/New_Thing".into(),
        };
        let name = owner.app_name(&"llm/litellm@1".parse::<ProcessorRef>().unwrap().app_name());
        assert_eq!(name.as_str(), "veyorokon-feature-new-thing-llm-litellm-v1");
        assert_eq!(owner.prefix(), "veyorokon-feature-new-thing-");
    }
}
