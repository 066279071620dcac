//! Where the comment goes, resolved from the variables GitHub Actions sets.

use std::fmt;

use super::error::GithubError;

/// GitHub's REST API, when `GITHUB_API_URL` is not set (it is set on GitHub Enterprise Server).
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// An API token. Its `Debug` form hides it, so no log line or error can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the `Authorization` header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// `owner/repo`, each part made of the characters GitHub allows in names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub owner: String,
    pub name: String,
}

impl Repository {
    pub fn parse(value: &str) -> Result<Self, GithubError> {
        let invalid = || GithubError::InvalidRepository {
            value: value.to_owned(),
        };
        let (owner, name) = value.split_once('/').ok_or_else(invalid)?;
        let allowed = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !allowed(owner) || !allowed(name) {
            return Err(invalid());
        }
        Ok(Self {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// Everything needed to comment on one pull request.
#[derive(Debug, Clone)]
pub struct GithubSettings {
    /// Without a trailing `/`.
    pub api_url: String,
    pub repository: Repository,
    pub pull_request: u64,
    pub token: Token,
}

impl GithubSettings {
    /// From `GITHUB_TOKEN`, `GITHUB_REPOSITORY`, `GITHUB_EVENT_PATH` and `GITHUB_API_URL`.
    pub fn from_env() -> Result<Self, GithubError> {
        Self::from_lookup(crate::settings::env::var)
    }

    /// As [`Self::from_env`], reading variables through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, GithubError> {
        let variable = |name: &'static str, help: &'static str| {
            lookup(name)
                .filter(|value| !value.trim().is_empty())
                .ok_or(GithubError::MissingVariable { name, help })
        };
        let token = variable(
            "GITHUB_TOKEN",
            "pass `GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` in the step's `env`",
        )?;
        let repository = Repository::parse(&variable(
            "GITHUB_REPOSITORY",
            "GitHub Actions sets it; elsewhere set it to `owner/repo`",
        )?)?;
        let event_path = variable(
            "GITHUB_EVENT_PATH",
            "GitHub Actions sets it; elsewhere point it at a JSON file with `pull_request.number`",
        )?;
        let api_url = lookup("GITHUB_API_URL")
            .filter(|value| !value.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        let api_url = api_url.trim().trim_end_matches('/').to_owned();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(GithubError::InvalidApiUrl { value: api_url });
        }
        let event =
            std::fs::read_to_string(&event_path).map_err(|error| GithubError::EventFile {
                path: event_path.clone(),
                message: error.to_string(),
            })?;
        let event: serde_json::Value =
            serde_json::from_str(&event).map_err(|error| GithubError::EventFile {
                path: event_path.clone(),
                message: error.to_string(),
            })?;
        let pull_request =
            pull_request_number(&event).ok_or(GithubError::NotAPullRequest { path: event_path })?;
        Ok(Self {
            api_url,
            repository,
            pull_request,
            token: Token::new(token),
        })
    }
}

/// The pull request an event is about: `pull_request.number` (`pull_request` and
/// `pull_request_target` events), else `issue.number` (`issue_comment` events on a pull request).
pub fn pull_request_number(event: &serde_json::Value) -> Option<u64> {
    event
        .pointer("/pull_request/number")
        .or_else(|| event.pointer("/issue/number"))
        .and_then(serde_json::Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_number_of_a_pull_request_event_then_of_an_issue_comment_event() {
        let pull = serde_json::json!({"number": 3, "pull_request": {"number": 3}});
        let comment = serde_json::json!({"issue": {"number": 12, "pull_request": {}}});
        let push = serde_json::json!({"ref": "refs/heads/main"});
        assert_eq!(pull_request_number(&pull), Some(3));
        assert_eq!(pull_request_number(&comment), Some(12));
        assert_eq!(pull_request_number(&push), None);
    }

    #[test]
    fn parses_owner_and_repository() {
        assert_eq!(
            Repository::parse("acme/theory.tools").unwrap(),
            Repository {
                owner: "acme".into(),
                name: "theory.tools".into()
            }
        );
        for bad in ["acme", "acme/", "/theory", "acme/theory/x", "acme/the ory"] {
            assert_eq!(
                Repository::parse(bad),
                Err(GithubError::InvalidRepository { value: bad.into() }),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let token = Token::new("ghs_secretvalue");
        assert_eq!(format!("{token:?}"), "Token(***)");
    }

    #[test]
    fn names_the_missing_variable_and_how_to_set_it() {
        let error = GithubSettings::from_lookup(|_| None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`GITHUB_TOKEN` is not set: pass `GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` in the step's `env`"
        );
    }
}
