//! Under GitHub Actions: the sticky pull-request comment and the annotations of blockers.

use super::*;

#[test]
fn the_plan_is_one_sticky_pull_request_comment_and_a_403_keeps_the_exit_code() {
    use crate::support::github_api::{GithubApi, TOKEN};

    let emulator = Emulator::start(ModalCli::New, &seed());
    let api = GithubApi::start();
    let scratch = tempfile::tempdir().unwrap();
    let event = scratch.path().join("event.json");
    fs::write(&event, r#"{"pull_request": {"number": 7}}"#).unwrap();
    let run = || {
        plan_command(&emulator)
            .args([
                "--env",
                "dev",
                "--no-registry-check",
                "--detailed-exitcode",
                "--github-comment",
            ])
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_REPOSITORY", "acme/theory")
            .env("GITHUB_EVENT_PATH", &event)
            .env("GITHUB_API_URL", api.url())
            .run()
    };

    let first = run();
    assert_eq!(first.status.code(), Some(2), "{}", text(&first.stderr));
    let second = run();
    assert_eq!(second.status.code(), Some(2), "{}", text(&second.stderr));
    let comments = api.comments(7);
    assert_eq!(comments.len(), 1, "one sticky comment, updated in place");
    assert!(
        comments[0]
            .body
            .starts_with("<!-- modalplan:plan manifest=processors.toml -->\n"),
        "{}",
        comments[0].body
    );
    assert!(
        comments[0].body.contains("1 to create"),
        "{}",
        comments[0].body
    );
    assert!(
        text(&first.stderr).contains("Posted the plan comment on pull request #7: "),
        "{}",
        text(&first.stderr)
    );
    assert!(
        text(&second.stderr).contains("The plan comment is up to date on pull request #7: "),
        "{}",
        text(&second.stderr)
    );

    api.fail("GET", 403, "Resource not accessible by integration");
    let refused = run();
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("warning: could not comment on the pull request"),
        "{stderr}"
    );
    assert!(stderr.contains("pull-requests: write"), "{stderr}");
    assert!(!stderr.contains(TOKEN) && !text(&refused.stdout).contains(TOKEN));
    assert_eq!(
        text(&refused.stdout),
        text(&first.stdout),
        "the plan still prints"
    );
}

#[test]
fn under_actions_a_blocked_plan_annotates_the_processor_of_each_blocker() {
    let emulator = Emulator::start(ModalCli::New, &seed());
    let summary = tempfile::tempdir().unwrap();
    let output = plan_command(&emulator)
        .args([
            "--no-registry-check",
            "--env",
            "staging",
            "--format",
            "json",
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary.path().join("summary.md"))
        .env("GITHUB_OUTPUT", summary.path().join("output"))
        .env_remove("REGISTRY_PASSWORD")
        .run();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let plan: Value =
        serde_json::from_slice(&output.stdout).expect("stdout is the JSON plan alone");
    let kinds: Vec<&str> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|action| action["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["blocked", "create"], "{plan}");
    let annotations: Vec<String> = text(&output.stderr)
        .lines()
        .filter(|line| line.starts_with("::"))
        .map(str::to_owned)
        .collect();
    insta::assert_snapshot!(annotations.join("\n"), @r"
    ::error file=processors.toml,line=24,col=1,title=ERR_MISSING_SECRET::secret `OPENAI_API_KEY` (required by llm/litellm@1) is missing in environment `staging`: it cannot be deployed%0Afix: modal secret create OPENAI_API_KEY --env staging OPENAI_API_KEY=...
    ::warning file=processors.toml,title=WARN_OPTIONAL_SECRET_MISSING::secret `LITELLM_API_BASE` (optional by llm/litellm@1) is missing in environment `staging`: it deploys without it%0Afix: modal secret create LITELLM_API_BASE --env staging LITELLM_API_BASE=...
    ");
}
