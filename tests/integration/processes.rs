//! How many processes an apply starts, counted by wrappers that log every start: `modal` and the
//! interpreter of modalplan's helpers ([`ArgvRecorder`]), and `git` on `PATH` (with who started it).
//!
//! An apply of N apps starts N `modal deploy` processes, the apply lock's helper and one session helper
//! that carries the plan's read, each re-check before a deploy, each read-back of the new version, each
//! smoke call and each release record (`src/backend/modal_cli/session.rs`); modalplan runs `git` twice per
//! run (the release record's commit and dirty flag), `modal deploy` its own lookups per deploy.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Output;

use tempfile::TempDir;

use crate::apply::{LITELLM_GOOD, Project, REPLICATE, WHISPER, describe, processor, row, text};
use crate::support::argv::ArgvRecorder;
use crate::support::emulator::ModalCli;

/// The pinned CLIs: the newest, the oldest the suites run (1.0.0) and the oldest pinned patch (1.0.5).
const CLIS: [ModalCli; 3] = [ModalCli::New, ModalCli::Old, ModalCli::Minor("1.0.5")];

fn three_apps() -> String {
    processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"])
        + &processor("replicate/generic@1", REPLICATE, &[])
        + &processor("audio/whisper@2", WHISPER, &[])
}

/// A `git` on `PATH` that logs `<who started it>\t<its arguments>` a line, then runs the real one.
struct GitRecorder {
    dir: TempDir,
}

impl GitRecorder {
    fn new() -> GitRecorder {
        let dir = tempfile::Builder::new()
            .prefix("modalplan-git-")
            .tempdir()
            .expect("temp dir");
        let real = which("git");
        let script = format!(
            "#!/bin/sh\nparent=$(tr '\\0' ' ' < /proc/$PPID/cmdline)\nprintf '%s\\t%s\\n' \"$parent\" \"$*\" >> {log:?}\nexec {real:?} \"$@\"\n",
            log = dir.path().join("git.log").display().to_string(),
            real = real.display().to_string(),
        );
        let path = dir.path().join("git");
        fs::write(&path, script).expect("write git wrapper");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod git wrapper");
        GitRecorder { dir }
    }

    /// `PATH` with the wrapper first.
    fn path(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// How many `git` processes each starter ran: `modalplan`, or the `modal` subcommand (`deploy`).
    fn by_starter(&self) -> BTreeMap<String, usize> {
        let log = fs::read_to_string(self.dir.path().join("git.log")).unwrap_or_default();
        let mut counts = BTreeMap::new();
        for line in log.lines() {
            let (parent, _arguments) = line.split_once('\t').expect("a git log line");
            let words: Vec<&str> = parent.split_whitespace().collect();
            let starter = if words
                .first()
                .is_some_and(|program| program.ends_with("/modalplan"))
            {
                "modalplan".to_owned()
            } else if let Some(index) = words.iter().position(|word| word.ends_with("/modal")) {
                format!(
                    "modal {}",
                    words.get(index + 1).copied().unwrap_or_default()
                )
            } else {
                parent.to_owned()
            };
            *counts.entry(starter).or_insert(0) += 1;
        }
        counts
    }
}

fn which(program: &str) -> std::path::PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("no {program} on PATH"))
}

/// The project folder as a git repository with one commit, as a team's checkout is.
fn commit(dir: &Path) {
    for arguments in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &["commit", "-q", "-m", "processors"],
    ] {
        let output = std::process::Command::new("git")
            .args(arguments)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("run git");
        assert!(output.status.success(), "git {arguments:?}: {output:?}");
    }
}

/// What each recorded start was: `modal <subcommand>` or the helper's name; counted.
fn starts(recorder: &ArgvRecorder) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for summary in recorder.summaries() {
        let words: Vec<&str> = summary.split(' ').collect();
        let kind = match (summary.strip_prefix("python -c <"), words.as_slice()) {
            (Some(helper), _) => helper.trim_end_matches('>').to_owned(),
            (None, ["modal", subcommand, ..]) => format!("modal {subcommand}"),
            _ => summary.clone(),
        };
        *counts.entry(kind).or_insert(0) += 1;
    }
    counts
}

fn counted(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs
        .iter()
        .map(|(kind, count)| ((*kind).to_owned(), *count))
        .collect()
}

/// Runs modalplan in `project` with the wrappers of `recorder`, a debug log and `env`; it must exit 0.
fn run_recorded(
    project: &Project,
    recorder: &ArgvRecorder,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let output = project
        .command(args)
        .envs(recorder.envs())
        .env("RUST_LOG", "modalplan=debug")
        .envs(env.iter().copied())
        .output()
        .expect("run modalplan");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    output
}

/// Applies the three apps with the wrappers in place; the output, what was started, who ran `git`.
fn apply(
    cli: ModalCli,
    extra_env: &[(&str, &str)],
) -> (
    Output,
    BTreeMap<String, usize>,
    BTreeMap<String, usize>,
    usize,
) {
    let project = Project::new(cli, &three_apps());
    commit(project.path());
    let recorder = ArgvRecorder::new(&project.emulator);
    let git = GitRecorder::new();
    let path = git.path();
    let output = run_recorded(
        &project,
        &recorder,
        &[
            "apply",
            "--yes",
            "--no-registry-check",
            "--parallelism",
            "3",
        ],
        &[&[("PATH", path.as_str())], extra_env].concat(),
    );
    for expected in [
        "llm-litellm-v1 | main | deployed v3 | v3",
        "replicate-generic-v1 | main | deployed v1 | v1",
        "audio-whisper-v2 | main | deployed v1 | v1",
    ] {
        let app = expected.split(' ').next().unwrap_or_default();
        assert_eq!(
            row(&output, app),
            expected,
            "{cli:?}: {}",
            describe(&output)
        );
    }
    assert!(
        text(&output.stdout).contains("Apply complete: 3 deployed, 2 unchanged, 0 failed in "),
        "{cli:?}: {}",
        describe(&output)
    );
    let smoke_calls = project.rpc_count("FunctionMap");
    (output, starts(&recorder), git.by_starter(), smoke_calls)
}

#[test]
fn an_apply_of_three_apps_starts_three_deploys_one_session_helper_and_the_lock_helper() {
    for cli in CLIS {
        let (output, started, git, smoke_calls) = apply(cli, &[]);
        assert_eq!(
            started,
            counted(&[
                ("modal deploy", 3),
                ("modalplan's apply lock helper", 1),
                ("modalplan's session helper", 1),
            ]),
            "{cli:?}: {}",
            describe(&output)
        );
        assert!(
            text(&output.stderr)
                .contains("this run's reads, smoke calls and release records go to it"),
            "{cli:?}: the debug log names the path taken: {}",
            describe(&output)
        );
        // Each app's smoke call reached Modal once, through the session.
        assert_eq!(smoke_calls, 3, "{cli:?}");
        assert_eq!(
            git,
            counted(&[("modal deploy", 3 * DEPLOY_GIT), ("modalplan", 2)]),
            "{cli:?}"
        );
    }
}

/// The `git` processes one `modal deploy` starts for its commit lookup (the SDK's `get_git_commit_info`:
/// `log -1` for the commit and its author, `rev-parse --abbrev-ref HEAD`, `status --porcelain`, `remote
/// get-url origin`), with 1.0.x as with 1.6.x.
const DEPLOY_GIT: usize = 4;

#[test]
fn with_the_session_off_each_request_has_its_own_helper_and_the_apply_reads_the_same() {
    let (output, started, git, smoke_calls) = apply(ModalCli::New, &[("MODALPLAN_SESSION", "off")]);
    assert_eq!(
        started,
        counted(&[
            ("modal deploy", 3),
            ("modalplan's apply lock helper", 1),
            ("modalplan's observe helper", 10),
            ("modalplan's call helper", 3),
        ]),
        "{}",
        describe(&output)
    );
    assert!(
        text(&output.stderr).contains("MODALPLAN_SESSION is off: one helper process per read"),
        "the debug log names the path taken: {}",
        describe(&output)
    );
    assert_eq!(smoke_calls, 3);
    assert_eq!(
        git,
        counted(&[("modal deploy", 3 * DEPLOY_GIT), ("modalplan", 2)])
    );
}

/// Plans the three apps with the wrappers in place: the output and what was started.
fn plan(cli: ModalCli, extra_env: &[(&str, &str)]) -> (Output, BTreeMap<String, usize>) {
    let project = Project::new(cli, &three_apps());
    let recorder = ArgvRecorder::new(&project.emulator);
    let output = run_recorded(
        &project,
        &recorder,
        &["plan", "--no-registry-check"],
        extra_env,
    );
    assert!(
        text(&output.stdout).contains("Plan: 2 to create, 1 to update, 0 to stop, 0 blocked.\n"),
        "{cli:?}: {}",
        describe(&output)
    );
    (output, starts(&recorder))
}

#[test]
fn a_plan_starts_one_helper_process_whatever_the_number_of_apps() {
    for cli in CLIS {
        let (output, started) = plan(cli, &[]);
        assert_eq!(
            started,
            counted(&[("modalplan's session helper", 1)]),
            "{cli:?}: {}",
            describe(&output)
        );
        assert!(
            text(&output.stderr).contains("the session helper answered 1 requests; ending it"),
            "{cli:?}: its one read went to the session started with the manifest: {}",
            describe(&output)
        );
    }
    let (output, started) = plan(ModalCli::New, &[("MODALPLAN_SESSION", "off")]);
    assert_eq!(
        started,
        counted(&[("modalplan's observe helper", 1)]),
        "{}",
        describe(&output)
    );
}
