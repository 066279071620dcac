//! A Modal that behaves like a network: transient faults injected in the emulator (docs/emulator.md,
//! "Faults") and what modalplan's retries make of them (docs/reliability.md, "Retries"), through the real
//! `modal` CLI of each pinned version. `-v` shows each retry; the tests count them and the calls that
//! reached the emulator.

use serde_json::json;

use crate::apply::{LITELLM_GOOD, LITELLM_SMOKE_ERROR, Project, describe, processor, row, text};
use crate::support::emulator::ModalCli;
use crate::support::run::Run;

const LITELLM_GOOD_2: &str = "ghcr.io/acme/theory/llm-litellm@sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn litellm(image: &str) -> String {
    processor("llm/litellm@1", image, &["OPENAI_API_KEY"])
}

/// The retries `-v` logged, without the level, the module and the drawn wait.
fn retries(stderr: &[u8]) -> Vec<String> {
    text(stderr)
        .lines()
        .filter(|line| line.contains("failed transiently") || line.contains("counted as deployed"))
        .map(|line| {
            let message = line.split_once(": ").map_or(line, |(_, message)| message);
            match message.rsplit_once(" in ") {
                Some((head, wait)) if wait.ends_with(" ms") => head.to_owned(),
                _ => message.to_owned(),
            }
        })
        .collect()
}

fn plan(project: &Project, verbose: bool) -> Run {
    let mut arguments = vec!["plan", "--no-registry-check", "--detailed-exitcode"];
    if verbose {
        arguments.insert(0, "-v");
    }
    project.run(&arguments)
}

#[test]
fn a_plan_survives_five_unavailable_in_a_row_with_each_cli() {
    for cli in ModalCli::ALL {
        let project = Project::new(cli, &litellm(LITELLM_GOOD));
        let clean = plan(&project, false);
        assert_eq!(
            clean.status.code(),
            Some(2),
            "{cli:?}: {}",
            describe(&clean)
        );
        project.emulator.clear_calls();
        project
            .emulator
            .add_fault(&json!({"rpc": "AppList", "status": "UNAVAILABLE", "times": 5}));
        let output = plan(&project, true);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(text(&output.stdout), text(&clean.stdout), "{cli:?}");
        // 1.6 retries AppList three times itself, so one helper run uses four of the five faults;
        // 1.0 does not retry it, so modalplan does five times.
        let expected = match cli {
            ModalCli::New => 1,
            ModalCli::Old => 5,
            ModalCli::Minor(_) => unreachable!("only the pinned versions run this test"),
        };
        let logged: Vec<String> = (1..=expected)
            .map(|retry| {
                format!("reading Modal failed transiently (UNAVAILABLE); retry {retry} of 5")
            })
            .collect();
        assert_eq!(
            retries(&output.stderr),
            logged,
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(project.rpc_count("AppList"), 6, "{cli:?}");
    }
}

#[test]
fn a_plan_survives_a_rate_limit_with_each_cli() {
    for cli in ModalCli::ALL {
        let project = Project::new(cli, &litellm(LITELLM_GOOD));
        let clean = plan(&project, false);
        project.emulator.clear_calls();
        project.emulator.add_fault(&json!({
            "rpc": "AppDeploymentHistory", "status": "RESOURCE_EXHAUSTED",
            "message": "rate limit exceeded", "times": 1
        }));
        let output = plan(&project, true);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(text(&output.stdout), text(&clean.stdout), "{cli:?}");
        // The client never retries RESOURCE_EXHAUSTED: modalplan does, once.
        assert_eq!(
            retries(&output.stderr),
            ["reading Modal failed transiently (RESOURCE_EXHAUSTED); retry 1 of 5"],
            "{cli:?}: {}",
            describe(&output)
        );
        // Three histories (the managed app and two orphan candidates), read by two helper runs.
        assert_eq!(project.rpc_count("AppDeploymentHistory"), 6, "{cli:?}");
    }
}

#[test]
fn a_plan_whose_reads_keep_failing_gives_up_after_five_retries() {
    let project = Project::new(ModalCli::New, &litellm(LITELLM_GOOD));
    project
        .emulator
        .add_fault(&json!({"rpc": "AppList", "status": "RESOURCE_EXHAUSTED", "message": "rate limit exceeded"}));
    let output = plan(&project, true);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(text(&output.stdout), "");
    assert_eq!(retries(&output.stderr).len(), 5, "{}", describe(&output));
    // The diagnostic wraps at the terminal's width, which the checkout's path moves.
    let error = text(&output.stderr).replace('│', " ");
    let error = error.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        error.contains(
            "(observe helper, environment `main`)` failed: RESOURCE_EXHAUSTED: rate limit exceeded"
        ),
        "{}",
        describe(&output)
    );
    assert_eq!(project.rpc_count("AppList"), 6);
}

#[test]
fn a_deploy_whose_publish_answer_is_lost_is_seen_as_deployed_and_smoke_checked_with_each_cli() {
    for cli in ModalCli::ALL {
        let project = Project::new(cli, &litellm(LITELLM_GOOD));
        // The server publishes, the answer is lost with the connection, and the client's retries
        // find the server unreachable.
        project
            .emulator
            .add_fault(&json!({"rpc": "AppPublish", "drop": "answer", "times": 1}));
        project
            .emulator
            .add_fault(&json!({"rpc": "AppPublish", "drop": "request", "after": 1, "times": 3}));
        let output = project.run(&["-v", "apply", "--yes", "--no-registry-check"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-litellm-v1"),
            "llm-litellm-v1 | main | deployed v3 | v3",
            "{cli:?}: {}",
            describe(&output)
        );
        let logged = retries(&output.stderr);
        assert_eq!(logged.len(), 1, "{cli:?}: {}", describe(&output));
        assert!(
            logged[0].starts_with("deploy of `llm-litellm-v1` to `main` failed transiently (the connection was reset) but Modal published v3 tagged mp"),
            "{cli:?}: {logged:?}"
        );
        // Published once; smoke-checked once; never deployed again.
        let history = project.history("llm-litellm-v1");
        assert_eq!(history.len(), 3, "{cli:?}: {history:?}");
        assert_eq!(project.rpc_count("FunctionMap"), 1, "{cli:?}");
        assert_eq!(project.rpc_count("AppRollback"), 0, "{cli:?}");
        assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 3));
    }
}

#[test]
fn a_smoke_call_rate_limited_twice_does_not_roll_back_with_each_cli() {
    for cli in ModalCli::ALL {
        let project = Project::new(cli, &litellm(LITELLM_GOOD));
        project.emulator.add_fault(&json!({
            "rpc": "FunctionMap", "status": "RESOURCE_EXHAUSTED",
            "message": "rate limit exceeded", "times": 2
        }));
        let output = project.run(&["-v", "apply", "--yes", "--no-registry-check"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-litellm-v1"),
            "llm-litellm-v1 | main | deployed v3 | v3",
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            retries(&output.stderr),
            [
                "calling `llm-litellm-v1.smoke` in `main` failed transiently (RESOURCE_EXHAUSTED); retry 1 of 3",
                "calling `llm-litellm-v1.smoke` in `main` failed transiently (RESOURCE_EXHAUSTED); retry 2 of 3",
            ],
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(project.rpc_count("FunctionMap"), 3, "{cli:?}");
        assert_eq!(project.rpc_count("AppRollback"), 0, "{cli:?}");
    }
}

#[test]
fn a_smoke_call_that_stays_rate_limited_is_rolled_back_with_each_cli() {
    for cli in ModalCli::ALL {
        let project = Project::new(cli, &litellm(LITELLM_GOOD));
        let output = project.apply(&[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        project.write_manifest(&litellm(LITELLM_GOOD_2));
        // The first call and its three retries are refused; the rolled-back version's check passes.
        project.emulator.add_fault(&json!({
            "rpc": "FunctionMap", "status": "RESOURCE_EXHAUSTED",
            "message": "rate limit exceeded", "times": 4
        }));
        let output = project.run(&["-v", "apply", "--yes", "--no-registry-check"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-litellm-v1"),
            "llm-litellm-v1 | main | rolled back to v3 (live as v5) (ERR_MODAL_CLI) | v5",
            "{cli:?}: {}",
            describe(&output)
        );
        // Modal itself refused the call (not the function), so the code is Modal's.
        assert!(
            text(&output.stdout).contains(
                "  ERR_MODAL_CLI: `llm-litellm-v1.smoke (call)` failed: RESOURCE_EXHAUSTED: "
            ),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            retries(&output.stderr).len(),
            3,
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(project.rpc_count("AppRollback"), 1, "{cli:?}");
        assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 5));
    }
}

#[test]
fn a_deploy_refused_before_publishing_is_deployed_again_once_with_each_cli() {
    for cli in ModalCli::ALL {
        let project = Project::new(cli, &litellm(LITELLM_GOOD));
        // Every attempt of the client's (one and three retries) finds the connection reset.
        project
            .emulator
            .add_fault(&json!({"rpc": "AppPublish", "drop": "request", "times": 4}));
        let output = project.run(&["-v", "apply", "--yes", "--no-registry-check"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-litellm-v1"),
            "llm-litellm-v1 | main | deployed v3 | v3",
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            retries(&output.stderr),
            [
                "deploy of `llm-litellm-v1` to `main` failed transiently before publishing (the connection was reset); retry 1 of 1"
            ],
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(project.rpc_count("AppPublish"), 5, "{cli:?}");
        assert_eq!(project.history("llm-litellm-v1").len(), 3, "{cli:?}");
    }
}

#[test]
fn with_no_deploy_retries_a_deploy_refused_before_publishing_fails() {
    let project = Project::new(ModalCli::New, &litellm(LITELLM_GOOD));
    let manifest = std::fs::read_to_string(project.path().join("processors.toml")).unwrap();
    std::fs::write(
        project.path().join("processors.toml"),
        manifest.replace(
            "workdir = \"code\"\n",
            "workdir = \"code\"\ndeploy_retries = 0\n",
        ),
    )
    .unwrap();
    project
        .emulator
        .add_fault(&json!({"rpc": "AppPublish", "drop": "request", "times": 4}));
    let output = project.run(&["-v", "apply", "--yes", "--no-registry-check"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(
        row(&output, "llm-litellm-v1"),
        "llm-litellm-v1 | main | unchanged at v2 (ERR_DEPLOY_FAILED) | v2",
        "{}",
        describe(&output)
    );
    assert_eq!(
        retries(&output.stderr),
        Vec::<String>::new(),
        "{}",
        describe(&output)
    );
    assert_eq!(project.rpc_count("AppPublish"), 4);
    assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 2));
}

#[test]
fn a_rollback_refused_while_the_app_is_locked_is_retried_with_each_cli() {
    for cli in ModalCli::ALL {
        let project = Project::new(cli, &litellm(LITELLM_GOOD));
        let output = project.apply(&[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        project.write_manifest(&litellm(LITELLM_SMOKE_ERROR));
        project.emulator.add_fault(&json!({
            "rpc": "AppRollback", "status": "FAILED_PRECONDITION", "times": 1,
            "message": "the selected app is locked - probably due to a concurrent modification"
        }));
        let output = project.run(&["-v", "apply", "--yes", "--no-registry-check"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-litellm-v1"),
            "llm-litellm-v1 | main | rolled back to v3 (live as v5) (ERR_SMOKE_FAILED) | v5",
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            retries(&output.stderr),
            [
                "rolling `llm-litellm-v1` in `main` back to v3 failed transiently (the app is locked by a concurrent modification); retry 1 of 5"
            ],
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(project.rpc_count("AppRollback"), 2, "{cli:?}");
        assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 5));
    }
}
