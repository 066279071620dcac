//! The sticky plan comment against a local GitHub API server, and the GitHub Actions files.

use std::fmt::Write as _;
use std::path::Path;

use modalplan::github::actions;
use modalplan::github::comment::{COMMENT_LIMIT, marker};
use modalplan::github::{
    CommentAction, GithubError, GithubSettings, Repository, Token, upsert_plan_comment,
};
use modalplan::plan::model::{Action, ActionKind, Finding, ManifestIdentity, Plan};

use crate::support::github_api::{BOT, GithubApi, OWNER, REPOSITORY, REPOSITORY_ID, TOKEN};
use crate::support::run::Modalplan;

const PR: u64 = 7;
const LIST: &str = "GET /repos/acme/theory/issues/7/comments?per_page=100";
const CREATE: &str = "POST /repos/acme/theory/issues/7/comments";

fn settings(api: &GithubApi) -> GithubSettings {
    GithubSettings {
        api_url: api.url().to_owned(),
        repository: Repository {
            owner: OWNER.into(),
            name: REPOSITORY.into(),
        },
        pull_request: PR,
        token: Token::new(TOKEN),
    }
}

fn update(id: u64) -> String {
    format!("PATCH /repos/acme/theory/issues/comments/{id}")
}

#[tokio::test]
async fn the_first_run_creates_the_comment_with_the_headers_github_asks_for() {
    let api = GithubApi::start();
    let outcome = upsert_plan_comment(&settings(&api), "processors.toml", "## Plan: 1 to create\n")
        .await
        .unwrap();

    assert_eq!(outcome.action, CommentAction::Created);
    assert!(!outcome.truncated);
    let comments = api.comments(PR);
    assert_eq!(comments.len(), 1);
    assert_eq!(outcome.id, comments[0].id);
    assert_eq!(
        outcome.html_url,
        format!(
            "https://github.com/acme/theory/pull/7#issuecomment-{}",
            comments[0].id
        )
    );
    assert_eq!(
        comments[0].body,
        "<!-- modalplan:plan manifest=processors.toml -->\n## Plan: 1 to create\n"
    );
    assert_eq!(api.request_lines(), [LIST, CREATE]);
    for request in api.requests() {
        assert_eq!(
            request.header("accept"),
            Some("application/vnd.github+json")
        );
        assert_eq!(request.header("x-github-api-version"), Some("2022-11-28"));
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(
            request.header("user-agent"),
            Some(concat!("modalplan/", env!("CARGO_PKG_VERSION")))
        );
    }
    let create = &api.requests()[1];
    assert_eq!(create.json(), serde_json::json!({"body": comments[0].body}));
}

#[tokio::test]
async fn the_second_run_updates_the_same_comment_and_an_unchanged_plan_sends_nothing() {
    let api = GithubApi::start();
    let settings = settings(&api);
    let first = upsert_plan_comment(&settings, "processors.toml", "1 to create\n")
        .await
        .unwrap();
    let second = upsert_plan_comment(&settings, "processors.toml", "1 to update\n")
        .await
        .unwrap();
    let third = upsert_plan_comment(&settings, "processors.toml", "1 to update\n")
        .await
        .unwrap();

    assert_eq!(second.action, CommentAction::Updated);
    assert_eq!(third.action, CommentAction::Unchanged);
    assert_eq!(second.id, first.id);
    assert_eq!(third.id, first.id);
    let comments = api.comments(PR);
    assert_eq!(comments.len(), 1, "one comment in total");
    assert_eq!(
        comments[0].body,
        "<!-- modalplan:plan manifest=processors.toml -->\n1 to update\n"
    );
    assert_eq!(
        api.request_lines(),
        [LIST, CREATE, LIST, &update(first.id), LIST]
    );
}

#[tokio::test]
async fn two_manifests_get_two_comments_each_updated_on_its_own() {
    let api = GithubApi::start();
    let settings = settings(&api);
    let people = api.add_comment(PR, "octocat", "Looks good to me");
    let root = upsert_plan_comment(&settings, "processors.toml", "root: 1 to create\n")
        .await
        .unwrap();
    let nested = upsert_plan_comment(&settings, "deploy/processors.toml", "nested: 2 to create\n")
        .await
        .unwrap();
    let again = upsert_plan_comment(&settings, "deploy/processors.toml", "nested: 1 to update\n")
        .await
        .unwrap();

    assert_eq!(
        (root.action, nested.action, again.action),
        (
            CommentAction::Created,
            CommentAction::Created,
            CommentAction::Updated
        )
    );
    assert_ne!(root.id, nested.id);
    assert_eq!(again.id, nested.id);
    let bodies: Vec<(u64, String, String)> = api
        .comments(PR)
        .into_iter()
        .map(|comment| (comment.id, comment.user, comment.body))
        .collect();
    assert_eq!(
        bodies,
        [
            (people, "octocat".into(), "Looks good to me".into()),
            (
                root.id,
                BOT.into(),
                "<!-- modalplan:plan manifest=processors.toml -->\nroot: 1 to create\n".into()
            ),
            (
                nested.id,
                BOT.into(),
                "<!-- modalplan:plan manifest=deploy/processors.toml -->\nnested: 1 to update\n"
                    .into()
            ),
        ]
    );
}

#[tokio::test]
async fn a_pull_request_with_150_comments_is_read_page_by_page_through_the_link_header() {
    let api = GithubApi::start();
    for n in 1..150 {
        api.add_comment(PR, "octocat", &format!("comment {n}"));
    }
    let ours = api.add_comment(
        PR,
        BOT,
        &format!("{}\nold plan\n", marker("processors.toml")),
    );

    let outcome = upsert_plan_comment(&settings(&api), "processors.toml", "new plan\n")
        .await
        .unwrap();

    assert_eq!(outcome.action, CommentAction::Updated);
    assert_eq!(outcome.id, ours);
    assert_eq!(
        api.request_lines(),
        [
            LIST,
            &format!("GET /repositories/{REPOSITORY_ID}/issues/7/comments?per_page=100&page=2"),
            &update(ours),
        ]
    );
    assert_eq!(api.comments(PR).len(), 150);
}

#[tokio::test]
async fn a_long_pull_request_without_the_marker_gets_a_new_comment_after_the_last_page() {
    let api = GithubApi::start();
    for n in 1..=250 {
        api.add_comment(PR, "octocat", &format!("comment {n}"));
    }
    let outcome = upsert_plan_comment(&settings(&api), "processors.toml", "plan\n")
        .await
        .unwrap();
    assert_eq!(outcome.action, CommentAction::Created);
    assert_eq!(
        api.request_lines(),
        [
            LIST,
            &format!("GET /repositories/{REPOSITORY_ID}/issues/7/comments?per_page=100&page=2"),
            &format!("GET /repositories/{REPOSITORY_ID}/issues/7/comments?per_page=100&page=3"),
            CREATE,
        ]
    );
}

#[tokio::test]
async fn an_oversized_plan_is_cut_under_the_limit_with_a_note_and_the_marker_kept() {
    let api = GithubApi::start();
    let mut markdown = String::new();
    for n in 0..3_000 {
        let _ = writeln!(
            markdown,
            "| dev | llm/litellm-{n}@1 | create | ghcr.io/acme/theory@sha256:{n:064x} |"
        );
    }
    assert!(markdown.len() > 2 * COMMENT_LIMIT);

    let outcome = upsert_plan_comment(&settings(&api), "processors.toml", &markdown)
        .await
        .unwrap();

    assert!(outcome.truncated);
    let body = &api.comments(PR)[0].body;
    assert!(
        body.chars().count() <= COMMENT_LIMIT,
        "{}",
        body.chars().count()
    );
    assert!(body.starts_with(
        "<!-- modalplan:plan manifest=processors.toml -->\n| dev | llm/litellm-0@1 |"
    ));
    let note_at = body
        .find("\n\n> [!WARNING]\n> This plan was cut at ")
        .unwrap();
    assert!(body[..note_at].ends_with(" |\n"), "cut on a line end");
    assert!(body.ends_with(&format!(
        " of {} characters to fit GitHub's 65536-character limit for a comment. The whole plan is in this \
         run's log and its step summary, and `modalplan plan` prints it locally.\n",
        markdown.len()
    )));
    // The next run finds the truncated comment by its marker and updates it.
    let again = upsert_plan_comment(&settings(&api), "processors.toml", "small now\n")
        .await
        .unwrap();
    assert_eq!(
        (again.action, again.id),
        (CommentAction::Updated, outcome.id)
    );
}

#[tokio::test]
async fn a_403_names_the_missing_permission_and_posts_nothing() {
    let api = GithubApi::start();
    api.fail("POST", 403, "Resource not accessible by integration");

    let error = upsert_plan_comment(&settings(&api), "processors.toml", "plan\n")
        .await
        .unwrap_err();

    assert_eq!(
        error,
        GithubError::Forbidden {
            message: "Resource not accessible by integration".into()
        }
    );
    let message = error.to_string();
    assert!(
        message.contains("`permissions: pull-requests: write`"),
        "{message}"
    );
    assert!(!message.contains(TOKEN));
    assert_eq!(api.request_lines(), [LIST, CREATE]);
    assert!(api.comments(PR).is_empty());
}

#[tokio::test]
async fn a_403_from_the_rate_limit_is_not_blamed_on_permissions() {
    let api = GithubApi::start();
    api.fail_with_headers(
        "GET",
        403,
        "API rate limit exceeded for installation ID 1.",
        &[("x-ratelimit-remaining", "0")],
    );
    let error = upsert_plan_comment(&settings(&api), "processors.toml", "plan\n")
        .await
        .unwrap_err();
    assert_eq!(
        error,
        GithubError::RateLimited {
            message: "API rate limit exceeded for installation ID 1.".into()
        }
    );
}

#[tokio::test]
async fn a_404_names_the_repository_and_pull_request_to_check() {
    let api = GithubApi::start();
    api.remove_issue(PR);
    let error = upsert_plan_comment(&settings(&api), "processors.toml", "plan\n")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "GitHub answered 404 Not Found for the list of comments of `acme/theory` #7: check \
         `GITHUB_REPOSITORY` and the pull request number; a token without access to a private repository \
         also gets 404, so give the workflow `permissions: pull-requests: write`"
    );
}

#[tokio::test]
async fn a_422_carries_githubs_message() {
    let api = GithubApi::start();
    api.fail("POST", 422, "Validation Failed");
    let error = upsert_plan_comment(&settings(&api), "processors.toml", "plan\n")
        .await
        .unwrap_err();
    assert_eq!(
        error,
        GithubError::Unprocessable {
            message: "Validation Failed".into()
        }
    );
}

#[tokio::test]
async fn a_wrong_token_is_a_401_that_never_shows_the_token() {
    let api = GithubApi::start();
    let mut settings = settings(&api);
    settings.token = Token::new("ghs_wrong0token");
    let error = upsert_plan_comment(&settings, "processors.toml", "plan\n")
        .await
        .unwrap_err();
    assert_eq!(error, GithubError::Unauthorized);
    assert!(!format!("{error} {error:?} {settings:?}").contains("ghs_wrong0token"));
    assert_eq!(api.request_lines(), [LIST]);
}

#[tokio::test]
async fn an_unreachable_api_is_a_transport_error_naming_the_url() {
    let api = GithubApi::start();
    let mut settings = settings(&api);
    drop(api);
    settings.api_url = "http://127.0.0.1:9".into();
    let error = upsert_plan_comment(&settings, "processors.toml", "plan\n")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, GithubError::Transport { api_url, .. } if api_url == "http://127.0.0.1:9"),
        "{error:?}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn settings_come_from_the_variables_github_actions_sets() {
    let api = GithubApi::start();
    let dir = tempfile::tempdir().unwrap();
    let event = write(
        dir.path(),
        "event.json",
        r#"{"action":"synchronize","number":7,"pull_request":{"number":7}}"#,
    );
    let url = format!("{}/", api.url());
    let variables = [
        ("GITHUB_TOKEN", TOKEN),
        ("GITHUB_REPOSITORY", "acme/theory"),
        ("GITHUB_EVENT_PATH", event.as_str()),
        ("GITHUB_API_URL", url.as_str()),
    ];
    let lookup = |name: &str| {
        variables
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    };
    let settings = GithubSettings::from_lookup(lookup).unwrap();
    assert_eq!(settings.api_url, api.url(), "the trailing slash is dropped");
    assert_eq!(settings.pull_request, 7);
    let outcome = upsert_plan_comment(&settings, "processors.toml", "plan\n")
        .await
        .unwrap();
    assert_eq!(outcome.action, CommentAction::Created);

    let push = write(dir.path(), "push.json", r#"{"ref":"refs/heads/main"}"#);
    let error = GithubSettings::from_lookup(|name| match name {
        "GITHUB_EVENT_PATH" => Some(push.clone()),
        other => lookup(other),
    })
    .unwrap_err();
    assert_eq!(error, GithubError::NotAPullRequest { path: push.clone() });
    let defaults = GithubSettings::from_lookup(|name| match name {
        "GITHUB_API_URL" => None,
        other => lookup(other),
    })
    .unwrap();
    assert_eq!(defaults.api_url, "https://api.github.com");
}

fn plan(kinds: &[ActionKind]) -> Plan {
    Plan {
        code: modalplan::code::CodeSnapshot::default(),
        format_version: 1,
        manifest: ManifestIdentity {
            path: "processors.toml".into(),
            sha256: format!("sha256:{}", "0".repeat(64)),
        },
        environments: vec!["main".into()],
        actions: kinds
            .iter()
            .enumerate()
            .map(|(n, kind)| Action {
                environment: "main".into(),
                reference: Some(format!("llm/tool{n}@1")),
                app_name: format!("llm-tool{n}-v1"),
                kind: *kind,
                reasons: Vec::new(),
                before: None,
                after: None,
                blockers: Vec::new(),
                promotion: None,
            })
            .collect(),
        warnings: Vec::<Finding>::new(),
        locks: Vec::new(),
    }
}

#[test]
fn under_actions_a_plan_appends_its_summary_and_writes_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let summary = write(dir.path(), "summary.md", "## Validate\n\nok\n\n");
    let output = write(dir.path(), "output", "previous=1\n");
    let lookup = |name: &str| match name {
        "GITHUB_ACTIONS" => Some("true".to_owned()),
        "GITHUB_STEP_SUMMARY" => Some(summary.clone()),
        "GITHUB_OUTPUT" => Some(output.clone()),
        _ => None,
    };

    actions::report_plan(
        lookup,
        &plan(&[ActionKind::Create, ActionKind::Blocked]),
        "## Plan\n1 to create\n",
    )
    .unwrap();
    actions::report_plan(lookup, &plan(&[ActionKind::NoOp]), "## Plan\nno changes\n").unwrap();

    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        "## Validate\n\nok\n\n## Plan\n1 to create\n\n## Plan\nno changes\n\n"
    );
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "previous=1\nhas_changes=true\nblocked=true\nfailed=false\n\
         has_changes=false\nblocked=false\nfailed=false\n"
    );
}

#[test]
fn under_actions_an_apply_appends_its_report_and_says_it_failed() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let output = dir.path().join("output");
    let lookup = |name: &str| match name {
        "GITHUB_ACTIONS" => Some("true".to_owned()),
        "GITHUB_STEP_SUMMARY" => Some(summary.to_str().unwrap().to_owned()),
        "GITHUB_OUTPUT" => Some(output.to_str().unwrap().to_owned()),
        _ => None,
    };
    actions::report_apply(lookup, true, true, "## Apply: 1 failed, rolled back").unwrap();
    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        "## Apply: 1 failed, rolled back\n\n"
    );
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "has_changes=true\nblocked=false\nfailed=true\n"
    );
}

#[test]
fn outside_actions_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let output = dir.path().join("output");
    let lookup = |name: &str| match name {
        "GITHUB_STEP_SUMMARY" => Some(summary.to_str().unwrap().to_owned()),
        "GITHUB_OUTPUT" => Some(output.to_str().unwrap().to_owned()),
        _ => None,
    };
    actions::report_plan(lookup, &plan(&[ActionKind::Create]), "## Plan\n").unwrap();
    assert!(!summary.exists());
    assert!(!output.exists());
}

#[test]
fn a_multiline_output_is_written_in_the_delimiter_form() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    actions::append_to_file(&output, &actions::output_line("plan", "line 1\nline 2")).unwrap();
    let written = std::fs::read_to_string(&output).unwrap();
    let delimiter = written
        .lines()
        .next()
        .unwrap()
        .strip_prefix("plan<<")
        .unwrap()
        .to_owned();
    assert_eq!(
        written,
        format!("plan<<{delimiter}\nline 1\nline 2\n{delimiter}\n")
    );
}

#[test]
fn under_actions_the_registry_password_is_masked_before_anything_is_printed() {
    let run = Modalplan::new()
        .args(["name", "llm/litellm@1"])
        .env("GITHUB_ACTIONS", "true")
        .env("REGISTRY_PASSWORD", "s3cr%t\nsecond-line")
        .run();
    run.assert_exit(0);
    assert_eq!(
        run.stderr(),
        "::add-mask::s3cr%25t\n::add-mask::second-line\n"
    );
    assert_eq!(run.stdout(), "llm-litellm-v1\n");
}

#[test]
fn outside_actions_no_mask_is_printed() {
    let run = Modalplan::new()
        .args(["name", "llm/litellm@1"])
        .env_remove("GITHUB_ACTIONS")
        .env("REGISTRY_PASSWORD", "hunter2")
        .run();
    run.assert_exit(0);
    assert_eq!(run.stderr(), "");
    assert_eq!(run.stdout(), "llm-litellm-v1\n");
}
