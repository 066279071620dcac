//! The sticky plan comment: one comment per pull request and manifest, found again by a hidden marker
//! and updated in place on every push.

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Client, Method, Response, StatusCode};
use serde::Deserialize;

use super::error::GithubError;
use super::settings::GithubSettings;

/// GitHub refuses a comment body longer than this.
pub const COMMENT_LIMIT: usize = 65_536;

/// The REST API version the requests are written against.
const API_VERSION: &str = "2022-11-28";

/// Pages of 100 comments read at most while looking for the marker (10,000 comments).
const MAX_PAGES: usize = 100;

/// Room kept for the lines that close a fence or a `<details>` cut by the truncation.
const REPAIR_ROOM: usize = 256;

/// What happened to the comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentAction {
    Created,
    Updated,
    /// The comment already said exactly this; nothing was sent.
    Unchanged,
}

/// The comment after an upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentOutcome {
    pub action: CommentAction,
    pub id: u64,
    pub html_url: String,
    /// The plan was cut to fit [`COMMENT_LIMIT`].
    pub truncated: bool,
}

/// The hidden first line that identifies the comment of one manifest.
pub fn marker(manifest_path: &str) -> String {
    let path = manifest_path.trim_start_matches("./").replace('\\', "/");
    // `--` cannot appear inside an HTML comment; a path with it still gets a stable, distinct marker.
    let path = path.replace("--", "-\u{2010}");
    format!("<!-- modalplan:plan manifest={path} -->")
}

/// Length as GitHub counts it. UTF-16 units are never fewer than characters, so a body within the
/// limit in these units is within it however GitHub counts.
fn github_length(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The comment body: the marker, then the plan, cut with a visible note when it would pass
/// [`COMMENT_LIMIT`]. Returns the body and whether it was cut.
pub fn comment_body(manifest_path: &str, markdown: &str) -> (String, bool) {
    let head = format!("{}\n", marker(manifest_path));
    let whole = format!("{head}{markdown}");
    if github_length(&whole) <= COMMENT_LIMIT {
        return (whole, false);
    }
    let total = github_length(markdown);
    let note = |shown: usize| {
        format!(
            "\n\n> [!WARNING]\n> This plan was cut at {shown} of {total} characters to fit GitHub's \
             {COMMENT_LIMIT}-character limit for a comment. The whole plan is in this run's log and its \
             step summary, and `modalplan plan` prints it locally.\n"
        )
    };
    let budget = COMMENT_LIMIT - github_length(&head) - github_length(&note(total)) - REPAIR_ROOM;
    let mut shown = String::new();
    let mut used = 0;
    for line in markdown.split_inclusive('\n') {
        let length = github_length(line);
        if used + length > budget {
            break;
        }
        shown.push_str(line);
        used += length;
    }
    if shown.is_empty() {
        // One line longer than the budget: cut inside it, on a character boundary.
        for character in markdown.chars() {
            if used + character.len_utf16() > budget {
                break;
            }
            shown.push(character);
            used += character.len_utf16();
        }
    }
    let shown_length = github_length(&shown);
    let mut body = head;
    body.push_str(&shown);
    body.push_str(&close_open_blocks(&shown));
    body.push_str(&note(shown_length));
    (body, true)
}

/// What closes the code fences and `<details>` left open by a cut, so the note renders as text.
fn close_open_blocks(shown: &str) -> String {
    let mut closing = String::new();
    if !shown.is_empty() && !shown.ends_with('\n') {
        closing.push('\n');
    }
    let fences = shown
        .lines()
        .filter(|line| line.trim_start().starts_with("```"))
        .count();
    if fences % 2 == 1 {
        closing.push_str("```\n");
    }
    let opened = shown.matches("<details").count();
    let closed = shown.matches("</details>").count();
    for _ in closed..opened {
        closing.push_str("</details>\n");
    }
    closing
}

#[derive(Debug, Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    html_url: String,
}

/// Posts the plan as the pull request's comment for this manifest, or updates the one posted before.
pub async fn upsert_plan_comment(
    settings: &GithubSettings,
    manifest_path: &str,
    markdown: &str,
) -> Result<CommentOutcome, GithubError> {
    let api = Api::new(settings)?;
    let (body, truncated) = comment_body(manifest_path, markdown);
    let marker = marker(manifest_path);
    let existing = api.find_comment(&marker).await?;
    let (action, comment) = match existing {
        Some(comment) if comment.body.as_deref() == Some(body.as_str()) => {
            (CommentAction::Unchanged, comment)
        }
        Some(comment) => {
            let url = format!("{}/issues/comments/{}", api.repository_url(), comment.id);
            let updated = api.send_body(Method::PATCH, &url, &body, "the update of the comment");
            (CommentAction::Updated, updated.await?)
        }
        None => {
            let url = api.comments_url();
            let created = api.send_body(Method::POST, &url, &body, "the new comment");
            (CommentAction::Created, created.await?)
        }
    };
    Ok(CommentOutcome {
        action,
        id: comment.id,
        html_url: comment.html_url,
        truncated,
    })
}

/// Upserts the plan comment with settings from the environment and says how it went, in one line for
/// standard error. A failure is a warning (with its cause and fix), never an error of the plan.
pub async fn publish_plan_comment(manifest_path: &str, markdown: &str) -> String {
    let result = match GithubSettings::from_env() {
        Ok(settings) => upsert_plan_comment(&settings, manifest_path, markdown)
            .await
            .map(|outcome| (settings.pull_request, outcome)),
        Err(error) => Err(error),
    };
    let in_actions = super::actions::is_github_actions(crate::settings::env::var);
    report_line(&result, in_actions)
}

/// The line [`publish_plan_comment`] prints; under GitHub Actions a failure is also a `::warning::`.
pub fn report_line(
    result: &Result<(u64, CommentOutcome), GithubError>,
    in_actions: bool,
) -> String {
    match result {
        Ok((pull_request, outcome)) => {
            let what = match outcome.action {
                CommentAction::Created => "Posted the plan comment on",
                CommentAction::Updated => "Updated the plan comment on",
                CommentAction::Unchanged => "The plan comment is up to date on",
            };
            let cut = if outcome.truncated {
                " (cut to fit GitHub's limit)"
            } else {
                ""
            };
            format!(
                "{what} pull request #{pull_request}: {}{cut}\n",
                outcome.html_url
            )
        }
        Err(error) if in_actions => super::actions::annotation_command(
            &super::actions::Annotation::new(
                super::actions::Level::Warning,
                format!("could not comment on the pull request: {error}"),
            )
            .title("modalplan plan comment"),
        ),
        Err(error) => format!("warning: could not comment on the pull request: {error}\n"),
    }
}

/// Requests to one repository's pull request.
struct Api<'a> {
    settings: &'a GithubSettings,
    client: Client,
}

impl<'a> Api<'a> {
    fn new(settings: &'a GithubSettings) -> Result<Self, GithubError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "X-GitHub-Api-Version",
            HeaderValue::from_static(API_VERSION),
        );
        let mut authorization = HeaderValue::from_str(&format!(
            "Bearer {}",
            settings.token.expose().trim()
        ))
        .map_err(|_| GithubError::MissingVariable {
            name: "GITHUB_TOKEN",
            help: "it holds characters a token cannot have; pass `${{ secrets.GITHUB_TOKEN }}`",
        })?;
        authorization.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, authorization);
        let client = Client::builder()
            .user_agent(concat!("modalplan/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|error| self_transport(settings, &error))?;
        Ok(Self { settings, client })
    }

    fn repository_url(&self) -> String {
        let repository = &self.settings.repository;
        format!(
            "{}/repos/{}/{}",
            self.settings.api_url, repository.owner, repository.name
        )
    }

    fn comments_url(&self) -> String {
        format!(
            "{}/issues/{}/comments",
            self.repository_url(),
            self.settings.pull_request
        )
    }

    /// The first comment that starts with the marker, reading every page until it is found.
    async fn find_comment(&self, marker: &str) -> Result<Option<Comment>, GithubError> {
        let what = "the list of comments";
        let mut next = Some(format!("{}?per_page=100", self.comments_url()));
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                break;
            }
            let response = self.send(self.client.get(&url), what).await?;
            next = response
                .headers()
                .get(header::LINK)
                .and_then(|value| value.to_str().ok())
                .and_then(next_page);
            let comments: Vec<Comment> = read_json(response, what).await?;
            if let Some(found) = comments.into_iter().find(|comment| {
                comment
                    .body
                    .as_deref()
                    .is_some_and(|body| body.starts_with(marker))
            }) {
                return Ok(Some(found));
            }
            if let Some(url) = &next {
                // The token goes only to the API it was given for.
                if !url.starts_with(&format!("{}/", self.settings.api_url)) {
                    return Err(GithubError::ForeignNextPage {
                        api_url: self.settings.api_url.clone(),
                        next: url.clone(),
                    });
                }
            }
        }
        Ok(None)
    }

    async fn send_body(
        &self,
        method: Method,
        url: &str,
        body: &str,
        what: &'static str,
    ) -> Result<Comment, GithubError> {
        let request = self
            .client
            .request(method, url)
            .json(&serde_json::json!({ "body": body }));
        let response = self.send(request, what).await?;
        read_json(response, what).await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &'static str,
    ) -> Result<Response, GithubError> {
        let response = request
            .send()
            .await
            .map_err(|error| self_transport(self.settings, &error))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.status_error(response, what).await)
    }

    async fn status_error(&self, response: Response, what: &'static str) -> GithubError {
        let status = response.status();
        let rate_limited = response
            .headers()
            .get("x-ratelimit-remaining")
            .is_some_and(|remaining| remaining.as_bytes() == b"0");
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|json| json.get("message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(200).collect());
        match status {
            StatusCode::UNAUTHORIZED => GithubError::Unauthorized,
            StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS if rate_limited => {
                GithubError::RateLimited { message }
            }
            StatusCode::FORBIDDEN => GithubError::Forbidden { message },
            StatusCode::NOT_FOUND => GithubError::NotFound {
                what,
                repository: self.settings.repository.to_string(),
                pull_request: self.settings.pull_request,
            },
            StatusCode::UNPROCESSABLE_ENTITY => GithubError::Unprocessable { message },
            other => GithubError::Status {
                status: other.as_u16(),
                what,
                message,
            },
        }
    }
}

fn self_transport(settings: &GithubSettings, error: &reqwest::Error) -> GithubError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    GithubError::Transport {
        api_url: settings.api_url.clone(),
        message,
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    response: Response,
    what: &'static str,
) -> Result<T, GithubError> {
    let text = response
        .text()
        .await
        .map_err(|error| GithubError::InvalidResponse {
            what,
            message: error.to_string(),
        })?;
    serde_json::from_str(&text).map_err(|error| GithubError::InvalidResponse {
        what,
        message: error.to_string(),
    })
}

/// The `rel="next"` URL of a `Link` header: `<url>; rel="next", <url>; rel="last"`.
pub fn next_page(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, parameters) = part.trim().split_once(';')?;
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        parameters
            .split(';')
            .any(|parameter| {
                let parameter = parameter.trim();
                parameter == "rel=\"next\"" || parameter == "rel=next"
            })
            .then(|| url.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_names_the_manifest() {
        assert_eq!(
            marker("./deploy/processors.toml"),
            "<!-- modalplan:plan manifest=deploy/processors.toml -->"
        );
        assert_eq!(
            marker("a--b.toml"),
            "<!-- modalplan:plan manifest=a-\u{2010}b.toml -->"
        );
    }

    #[test]
    fn a_small_plan_is_the_marker_then_the_plan() {
        let (body, truncated) = comment_body("processors.toml", "## Plan\n\n1 to create\n");
        assert_eq!(
            body,
            "<!-- modalplan:plan manifest=processors.toml -->\n## Plan\n\n1 to create\n"
        );
        assert!(!truncated);
    }

    #[test]
    fn a_plan_exactly_at_the_limit_is_not_cut() {
        let head = marker("processors.toml").len() + 1;
        let markdown = "x".repeat(COMMENT_LIMIT - head);
        let (body, truncated) = comment_body("processors.toml", &markdown);
        assert_eq!(body.len(), COMMENT_LIMIT);
        assert!(!truncated);
        let (_, truncated) = comment_body("processors.toml", &format!("{markdown}x"));
        assert!(truncated);
    }

    #[test]
    fn an_oversized_plan_is_cut_on_a_line_with_its_blocks_closed_and_a_note() {
        let mut markdown = String::from("<details><summary>dev</summary>\n\n```diff\n");
        while markdown.len() < 100_000 {
            markdown.push_str("+ image ghcr.io/acme/theory/llm-litellm@sha256:0123456789abcdef\n");
        }
        let (body, truncated) = comment_body("processors.toml", &markdown);
        assert!(truncated);
        assert!(github_length(&body) <= COMMENT_LIMIT, "{}", body.len());
        assert!(body.starts_with("<!-- modalplan:plan manifest=processors.toml -->\n<details>"));
        let shown = body.split("```\n</details>\n").next().unwrap();
        assert!(
            shown.ends_with("@sha256:0123456789abcdef\n"),
            "cut mid-line"
        );
        let shown_length = github_length(shown) - github_length(&marker("processors.toml")) - 1;
        assert!(body.ends_with(&format!(
            "```\n</details>\n\n\n> [!WARNING]\n> This plan was cut at {shown_length} of {} characters to fit \
             GitHub's 65536-character limit for a comment. The whole plan is in this run's log and its step \
             summary, and `modalplan plan` prints it locally.\n",
            markdown.len()
        )));
    }

    #[test]
    fn counts_characters_outside_the_basic_plane_twice() {
        let markdown = "🚀".repeat(40_000);
        let (body, truncated) = comment_body("processors.toml", &markdown);
        assert!(truncated);
        assert!(github_length(&body) <= COMMENT_LIMIT);
        assert!(body.chars().count() < 40_000);
    }

    #[test]
    fn finds_the_next_page_in_a_link_header() {
        let link = "<https://api.github.com/repositories/1/issues/7/comments?per_page=100&page=2>; rel=\"next\", \
                    <https://api.github.com/repositories/1/issues/7/comments?per_page=100&page=3>; rel=\"last\"";
        assert_eq!(
            next_page(link).as_deref(),
            Some("https://api.github.com/repositories/1/issues/7/comments?per_page=100&page=2")
        );
        let last = "<https://api.github.com/x?page=1>; rel=\"prev\", <https://api.github.com/x?page=1>; rel=\"first\"";
        assert_eq!(next_page(last), None);
    }

    #[test]
    fn a_failure_is_a_warning_line_or_a_warning_annotation() {
        let error = Err(GithubError::Forbidden {
            message: "Resource not accessible by integration".into(),
        });
        assert_eq!(
            report_line(&error, false),
            "warning: could not comment on the pull request: GitHub denied the token access (403 Forbidden: \
             Resource not accessible by integration): the workflow needs `permissions: pull-requests: write`; \
             on a pull request from a fork the token is read-only, so post the comment from a `workflow_run` \
             workflow instead\n"
        );
        assert_eq!(
            report_line(&error, true),
            "::warning title=modalplan plan comment::could not comment on the pull request: GitHub denied the \
             token access (403 Forbidden: Resource not accessible by integration): the workflow needs \
             `permissions: pull-requests: write`; on a pull request from a fork the token is read-only, so \
             post the comment from a `workflow_run` workflow instead\n"
        );
    }
}
