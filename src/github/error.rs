//! What can go wrong talking to GitHub, each with its cause and its fix.

/// A failure to post or update the plan comment. Callers report it as a warning: the plan stands.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GithubError {
    #[error("`{name}` is not set: {help}")]
    MissingVariable {
        name: &'static str,
        help: &'static str,
    },

    #[error("`GITHUB_REPOSITORY` is `{value}`, not `owner/repo`")]
    InvalidRepository { value: String },

    #[error("`GITHUB_API_URL` is `{value}`, not an http(s) URL")]
    InvalidApiUrl { value: String },

    #[error("could not read the event file `{path}` (`GITHUB_EVENT_PATH`): {message}")]
    EventFile { path: String, message: String },

    #[error(
        "the event in `{path}` is not about a pull request (it has no `pull_request.number` or \
         `issue.number`): run `--github-comment` in a workflow triggered by `pull_request` or `issue_comment`"
    )]
    NotAPullRequest { path: String },

    #[error(
        "GitHub refused the token (401 Unauthorized): `GITHUB_TOKEN` is empty, expired or revoked; \
         pass `GITHUB_TOKEN: ${{{{ secrets.GITHUB_TOKEN }}}}` in the step's `env`"
    )]
    Unauthorized,

    #[error(
        "GitHub denied the token access (403 Forbidden: {message}): the workflow needs \
         `permissions: pull-requests: write`; on a pull request from a fork the token is read-only, so \
         post the comment from a `workflow_run` workflow instead"
    )]
    Forbidden { message: String },

    #[error(
        "GitHub's API rate limit is used up (403 Forbidden: {message}): wait until it resets, or run fewer \
         jobs with this token"
    )]
    RateLimited { message: String },

    #[error(
        "GitHub answered 404 Not Found for {what} of `{repository}` #{pull_request}: check \
         `GITHUB_REPOSITORY` and the pull request number; a token without access to a private repository \
         also gets 404, so give the workflow `permissions: pull-requests: write`"
    )]
    NotFound {
        what: &'static str,
        repository: String,
        pull_request: u64,
    },

    #[error(
        "GitHub refused the comment (422 Unprocessable Entity: {message}): the body was not accepted \
         (too long, or the pull request is locked); the plan is in this run's log"
    )]
    Unprocessable { message: String },

    #[error("GitHub answered {status} for {what}: {message}")]
    Status {
        status: u16,
        what: &'static str,
        message: String,
    },

    #[error("could not reach GitHub at {api_url}: {message}")]
    Transport { api_url: String, message: String },

    #[error("GitHub's answer to {what} was not the JSON expected: {message}")]
    InvalidResponse { what: &'static str, message: String },

    #[error(
        "GitHub's next page of comments is at `{next}`, outside `{api_url}`: not sending the token there"
    )]
    ForeignNextPage { api_url: String, next: String },
}
