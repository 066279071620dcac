//! The GitHub Action's run step (`scripts/action-run`, what `action.yml` runs): the modalplan command it
//! builds from the inputs, the `exitcode` output and which exit codes fail the step. A fake `modalplan`
//! records its arguments and exits with the code it is told.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::emulator::repo_root;

struct Step {
    status: i32,
    /// The fake modalplan's arguments, one a line.
    arguments: String,
    github_output: String,
    stdout: String,
}

fn run_step(inputs: &[(&str, &str)], modalplan_exits: i32) -> Step {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let fake = bin.join("modalplan");
    fs::write(
        &fake,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\necho 'the main output'\nexit {modalplan_exits}\n",
            dir.path().join("arguments").display()
        ),
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let output_file = dir.path().join("github_output");
    let mut command = Command::new("bash");
    command
        .arg(repo_root().join("scripts/action-run"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("ACTION_BIN", &bin)
        .env("GITHUB_OUTPUT", &output_file);
    for (name, value) in inputs {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let read = |path: &Path| fs::read_to_string(path).unwrap_or_default();
    Step {
        status: output.status.code().unwrap_or(-1),
        arguments: read(&dir.path().join("arguments")),
        github_output: read(&output_file),
        stdout: String::from_utf8(output.stdout).unwrap(),
    }
}

#[test]
fn a_plan_on_a_pull_request_comments_and_exit_code_2_passes() {
    let step = run_step(
        &[
            ("ACTION_COMMAND", "plan"),
            ("ACTION_MANIFEST", "deploy/processors.toml"),
            ("ACTION_COMMENT", "true"),
            ("GITHUB_EVENT_NAME", "pull_request"),
        ],
        2,
    );
    assert_eq!(step.status, 0);
    assert_eq!(
        step.arguments,
        "plan\n--manifest\ndeploy/processors.toml\n--format\nmarkdown\n--detailed-exitcode\n--github-comment\n"
    );
    assert_eq!(step.github_output, "exitcode=2\n");
}

#[test]
fn a_blocked_plan_fails_the_step_and_a_schedule_has_no_comment() {
    let step = run_step(
        &[
            ("ACTION_COMMAND", "plan"),
            ("ACTION_ENVIRONMENT", "main"),
            ("ACTION_COMMENT", "true"),
            ("GITHUB_EVENT_NAME", "schedule"),
        ],
        1,
    );
    assert_eq!(step.status, 1);
    assert_eq!(
        step.arguments,
        "plan\n--manifest\nprocessors.toml\n--format\nmarkdown\n--detailed-exitcode\n--env\nmain\n"
    );
    assert_eq!(step.github_output, "exitcode=1\n");
}

#[test]
fn the_output_file_gets_the_main_output_and_the_log_too() {
    let dir = tempfile::tempdir().unwrap();
    let plan_md = dir.path().join("plan.md");
    let step = run_step(
        &[
            ("ACTION_COMMAND", "plan"),
            ("ACTION_COMMENT", "false"),
            ("ACTION_OUTPUT_FILE", plan_md.to_str().unwrap()),
        ],
        0,
    );
    assert_eq!(step.status, 0);
    assert_eq!(fs::read_to_string(&plan_md).unwrap(), "the main output\n");
    assert!(
        step.stdout.ends_with("the main output\n"),
        "{}",
        step.stdout
    );
    assert_eq!(step.github_output, "exitcode=0\n");
}

#[test]
fn apply_needs_an_environment_and_confirms_itself() {
    let step = run_step(
        &[
            ("ACTION_COMMAND", "apply"),
            ("ACTION_ENVIRONMENT", "staging"),
            ("ACTION_ARGS", "--lock-timeout 10m"),
        ],
        0,
    );
    assert_eq!(step.status, 0);
    assert_eq!(
        step.arguments,
        "apply\n--manifest\nprocessors.toml\n--yes\n--env\nstaging\n--lock-timeout\n10m\n"
    );

    let without = run_step(&[("ACTION_COMMAND", "apply")], 0);
    assert_eq!(without.status, 1);
    assert_eq!(without.arguments, "", "modalplan must not run");
    assert_eq!(
        without.stdout,
        "::error title=modalplan action::apply needs the input environment: the Modal environment to apply, e.g. main\n"
    );
}

#[test]
fn validate_passes_its_exit_code_through() {
    let step = run_step(
        &[("ACTION_COMMAND", "validate"), ("ACTION_FORMAT", "github")],
        1,
    );
    assert_eq!(step.status, 1);
    assert_eq!(
        step.arguments,
        "validate\n--manifest\nprocessors.toml\n--format\ngithub\n"
    );
    assert_eq!(step.github_output, "exitcode=1\n");
}

#[test]
fn an_unknown_command_or_comment_is_named_with_the_choices() {
    let step = run_step(&[("ACTION_COMMAND", "deploy")], 0);
    assert_eq!(step.status, 1);
    assert_eq!(
        step.stdout,
        "::error title=modalplan action::the input command is 'deploy': use validate, plan or apply\n"
    );
    let step = run_step(&[("ACTION_COMMAND", "plan"), ("ACTION_COMMENT", "yes")], 0);
    assert_eq!(step.status, 1);
    assert_eq!(
        step.stdout,
        "::error title=modalplan action::the input comment is 'yes': use true or false\n"
    );
}
