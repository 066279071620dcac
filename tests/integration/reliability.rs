//! The fault matrix of `docs/reliability.md`: what modalplan does when the `modal` CLI is missing, hangs,
//! prints what it should not, or when the plan file is edited or cannot be written. Faults the emulator
//! cannot produce run against a scripted fake `modal` (`tests/fixtures/fake_modal/modal`) that records
//! every argv it gets, one JSON array per line.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::emulator::repo_root;
use crate::support::run::{Modalplan, Run};

const IMAGE: &str = "docker.io/acme/litellm@sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// A project (manifest, module folder) whose `modal` is the fake.
pub struct FakeProject {
    pub dir: TempDir,
    pub fake: TempDir,
}

impl FakeProject {
    pub fn new(reference: &str) -> FakeProject {
        let project = FakeProject {
            dir: tempfile::Builder::new()
                .prefix("modalplan-fault-")
                .tempdir()
                .expect("temp dir"),
            fake: tempfile::tempdir().expect("temp dir"),
        };
        fs::create_dir_all(project.dir.path().join("code")).expect("code dir");
        fs::write(project.dir.path().join("code/modal_app.py"), "").expect("module");
        project.write_manifest(reference, "[\"main\"]", "modal_app", "code");
        project
    }

    pub fn write_manifest(&self, reference: &str, environments: &str, module: &str, workdir: &str) {
        let manifest = format!(
            "version = 1\n\n[modal]\nmodule = {module:?}\nworkdir = {workdir:?}\nenvironments = {environments}\nread_timeout = \"2s\"\n\n[secrets.OPENAI_API_KEY]\nkeys = [\"OPENAI_API_KEY\"]\n\n[[processor]]\nref = {reference:?}\nimage.oci = \"{IMAGE}\"\nsecrets.required = [\"OPENAI_API_KEY\"]\nsmoke.enabled = false\n"
        );
        fs::write(self.dir.path().join("processors.toml"), manifest).expect("manifest");
    }

    /// modalplan in the project's folder with the fake `modal` playing `scenario`.
    pub fn modalplan(&self, scenario: &str, arguments: &[&str]) -> Modalplan {
        Modalplan::new()
            .current_dir(self.dir.path())
            .env("MODALPLAN_MODAL_BIN", fake_bin())
            .env("MODALPLAN_OBSERVE", "cli")
            .env("FAKE_MODAL_DIR", self.fake.path())
            .env("FAKE_MODAL_SCENARIO", scenario)
            .env("COLUMNS", "400")
            .env_remove("MODALPLAN_PYTHON")
            .env_remove("RUST_LOG")
            .args(arguments)
    }

    /// `modalplan` as a process to `spawn`, for tests that act while it runs.
    pub fn command(&self, scenario: &str, arguments: &[&str]) -> std::process::Command {
        self.modalplan(scenario, arguments).into_command()
    }

    pub fn run(&self, scenario: &str, arguments: &[&str]) -> Run {
        self.modalplan(scenario, arguments).run()
    }

    /// Runs with the fake interpreter beside the fake `modal`, which takes release record writes
    /// (`records()`) and nothing else: no lock, so with `--no-lock`.
    pub fn run_recording(&self, scenario: &str, arguments: &[&str]) -> Run {
        self.modalplan(scenario, arguments)
            .env(
                "MODALPLAN_PYTHON",
                repo_root().join("tests/fixtures/fake_modal/python"),
            )
            .run()
    }

    /// The release record writes the fake interpreter took, oldest first.
    pub fn records(&self) -> Vec<Value> {
        fs::read_to_string(self.fake.path().join("records.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a record line"))
            .collect()
    }

    /// Every argv the fake got, oldest first.
    pub fn argvs(&self) -> Vec<Vec<String>> {
        fs::read_to_string(self.fake.path().join("argv.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("an argv line"))
            .collect()
    }

    /// What each deploy saw: `cwd` and the exported variables.
    pub fn deploys(&self) -> Vec<Value> {
        fs::read_to_string(self.fake.path().join("deploys.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a deploy line"))
            .collect()
    }
}

pub fn fake_bin() -> PathBuf {
    repo_root().join("tests/fixtures/fake_modal/modal")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// A diagnostic's words, its frame and wrapping removed.
pub fn words(text: &str) -> String {
    text.replace(['│', '×'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn app_list_argv() -> Vec<String> {
    ["app", "list", "--json", "--env", "main"]
        .map(str::to_owned)
        .to_vec()
}

/// Asserts a plan failed with exit 1, no plan on stdout, and `expected` (code, message, fix) on stderr.
fn assert_plan_fails(project: &FakeProject, scenario: &str, expected: &[&str]) {
    let output = project.run(scenario, &["plan", "--no-registry-check"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(text(&output.stdout), "", "{}", describe(&output));
    let stderr = words(&text(&output.stderr));
    for part in expected {
        assert!(
            stderr.contains(&words(part)),
            "{part}\n{}",
            describe(&output)
        );
    }
}

#[test]
fn a_missing_modal_cli_is_named_with_how_to_install_it() {
    let project = FakeProject::new("llm/litellm@1");
    let output = project
        .command("ok", &["plan", "--no-registry-check"])
        .env("MODALPLAN_MODAL_BIN", "/nonexistent/bin/modal")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = words(&text(&output.stderr));
    for part in [
        "ERR_MODAL_CLI",
        "the modal CLI could not be run (`/nonexistent/bin/modal`): No such file or directory (os error 2)",
        "install the Modal CLI (`pip install modal`)",
    ] {
        assert!(stderr.contains(part), "{part}\n{}", describe(&output));
    }
}

/// Whether a process is gone (or a zombie left for whatever reaps orphans here).
fn gone(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.is_empty()
        || stat
            .rsplit(") ")
            .next()
            .is_some_and(|rest| rest.starts_with('Z'))
}

#[test]
fn a_hanging_read_times_out_and_its_whole_process_group_is_killed() {
    let project = FakeProject::new("llm/litellm@1");
    let started = Instant::now();
    assert_plan_fails(
        &project,
        "hang",
        &[
            "ERR_MODAL_TIMEOUT",
            &format!(
                "`{} app list --json --env main` did not finish within 2s",
                fake_bin().display()
            ),
            "retry, or raise `[modal].read_timeout`",
        ],
    );
    // 2s, then SIGTERM (ignored by the fake), then SIGKILL 2s later.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let pids: Vec<i32> = fs::read_to_string(project.fake.path().join("pids"))
        .expect("the fake wrote its pids")
        .split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids.iter().all(|pid| gone(*pid)) {
        assert!(
            Instant::now() < deadline,
            "left running: {:?}",
            pids.iter().filter(|pid| !gone(**pid)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn truncated_json_is_an_unexpected_output_that_names_the_command() {
    let project = FakeProject::new("llm/litellm@1");
    assert_plan_fails(
        &project,
        "truncated",
        &[
            "ERR_MODAL_CLI",
            &format!(
                "`{} app list --json --env main` printed output modalplan cannot read: not JSON (EOF while parsing a string at line 1 column 44); it starts with `[{{\"app_id\": \"ap-1\", \"description\": \"llm-lite`",
                fake_bin().display()
            ),
            "report it with the output of `modal --version`",
        ],
    );
}

#[test]
fn output_that_is_not_json_is_refused_with_what_it_printed() {
    let project = FakeProject::new("llm/litellm@1");
    assert_plan_fails(
        &project,
        "not_json",
        &[
            "ERR_MODAL_CLI",
            "printed output modalplan cannot read: not JSON (expected value at line 1 column 1); it starts with `Warning: your modal client is out of date.",
        ],
    );
}

#[test]
fn a_future_clis_extra_keys_are_ignored_and_missing_ones_are_named() {
    let project = FakeProject::new("llm/litellm@1");
    let output = project.run("future_keys", &["plan", "--no-registry-check"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        text(&output.stdout).ends_with("\nPlan: 1 to create, 0 to update, 0 to stop, 0 blocked.\n"),
        "{}",
        describe(&output)
    );
    assert_plan_fails(
        &project,
        "missing_keys",
        &[
            "ERR_MODAL_CLI",
            "printed output modalplan cannot read: row 0",
        ],
    );
}

#[test]
fn a_traceback_is_reported_by_its_last_line_with_the_exit_code() {
    let project = FakeProject::new("llm/litellm@1");
    assert_plan_fails(
        &project,
        "traceback",
        &[
            "ERR_MODAL_CLI",
            &format!(
                "`{} app list --json --env main` failed (exit 1):",
                fake_bin().display()
            ),
            "AttributeError: module 'modal.cli' has no attribute 'app'",
            "run the command shown by hand to see the whole error",
        ],
    );
    assert!(project.argvs().contains(&app_list_argv()));
}

#[test]
fn a_plan_file_edited_by_hand_is_refused_and_nothing_is_deployed() {
    let project = FakeProject::new("llm/litellm@1");
    let plan = project.dir.path().join("plan.json");
    let output = project.run(
        "ok",
        &[
            "plan",
            "--no-registry-check",
            "--out",
            plan.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let saved = fs::read_to_string(&plan).unwrap();
    assert!(saved.contains("\"integrity\": \"sha256:"), "{saved}");
    let edited = saved.replace(IMAGE, &IMAGE.replace("1111", "6666"));
    assert_ne!(edited, saved);
    fs::write(&plan, edited).unwrap();
    let output = project.run("ok", &["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = words(&text(&output.stderr));
    assert!(stderr.contains("ERR_PLAN_FILE"), "{}", describe(&output));
    assert!(
        stderr.contains(&words(&format!(
            "{} was changed after `modalplan plan` wrote it: its content does not match its integrity hash (recorded sha256:",
            plan.display()
        ))),
        "{}",
        describe(&output)
    );
    assert!(project.deploys().is_empty());
    assert!(
        !project.argvs().iter().any(|argv| argv[0] == "deploy"),
        "{:?}",
        project.argvs()
    );
    // The file as written applies (the fake `modal` has no interpreter with the Modal SDK for the lock).
    fs::write(&plan, saved).unwrap();
    let output = project.run_recording(
        "ok",
        &["apply", plan.to_str().unwrap(), "--yes", "--no-lock"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(project.deploys().len(), 1);
    let records = project.records();
    assert_eq!(records.len(), 1);
    assert_eq!(
        (
            &records[0]["environment"],
            &records[0]["app"],
            &records[0]["record"]["operation"],
            &records[0]["record"]["version"],
        ),
        (
            &json!("main"),
            &json!("llm-litellm-v1"),
            &json!("deploy"),
            &json!(1)
        )
    );
}

#[test]
fn a_plan_that_cannot_be_written_fails_and_claims_no_file() {
    let project = FakeProject::new("llm/litellm@1");
    let output = project.run("ok", &["plan", "--no-registry-check", "--out", "/dev/full"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = words(&text(&output.stderr));
    for part in [
        "ERR_PLAN_FILE",
        "could not write the plan to `/dev/full`: No space left on device (os error 28)",
        "pass `--out` a path in a folder that exists and is writable",
    ] {
        assert!(stderr.contains(part), "{part}\n{}", describe(&output));
    }
    assert!(
        !text(&output.stdout).contains("saved"),
        "{}",
        describe(&output)
    );
    // A folder that does not exist: the same error, and no file.
    let missing = project.dir.path().join("no/such/plan.json");
    let output = project.run(
        "ok",
        &[
            "plan",
            "--no-registry-check",
            "--out",
            missing.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(!missing.exists());
}

#[test]
fn an_oversized_manifest_is_refused_before_it_is_parsed() {
    let project = FakeProject::new("llm/litellm@1");
    let manifest = project.dir.path().join("processors.toml");
    let mut text_of = fs::read_to_string(&manifest).unwrap();
    // 50 MB of comment lines: valid TOML, far past any real manifest.
    let line = format!("# {}\n", "x".repeat(1022));
    text_of.push_str(&line.repeat(50 * 1024));
    fs::write(&manifest, text_of).unwrap();
    let started = Instant::now();
    let output = project.run("ok", &["validate"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = words(&text(&output.stderr));
    assert!(
        stderr.contains("ERR_MANIFEST_READ"),
        "{}",
        describe(&output)
    );
    assert!(
        stderr.contains("is larger than 4194304 bytes"),
        "{}",
        describe(&output)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(project.argvs().is_empty());
}

#[test]
fn a_ref_full_of_shell_syntax_reaches_modal_as_single_intact_arguments() {
    let reference = "llm/$(touch${IFS}pwned);`touch${IFS}pwned2`|x>y@1";
    let project = FakeProject::new(reference);
    // The fake `modal` has no interpreter with the Modal SDK to take the lock with.
    let output = project.run_recording(
        "ok",
        &["apply", "--yes", "--no-registry-check", "--no-lock"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let argvs = project.argvs();
    let deploys: Vec<&Vec<String>> = argvs.iter().filter(|argv| argv[0] == "deploy").collect();
    assert_eq!(deploys.len(), 1, "{argvs:?}");
    let tag = deploys[0][3]
        .strip_prefix("--tag=")
        .expect("a tag")
        .to_owned();
    assert_eq!(
        deploys[0],
        &[
            "deploy",
            "--env=main",
            "--name=llm-touch-ifs-pwned-touch-ifs-pwned2-x-y-v1",
            &format!("--tag={tag}"),
            "-m",
            "modal_app"
        ]
    );
    // Nothing but reads (the release records' among them) and the one deploy ran.
    for argv in &argvs {
        assert!(
            argv.starts_with(&["app".into(), "list".into()])
                || argv.starts_with(&["secret".into(), "list".into()])
                || argv.starts_with(&["app".into(), "history".into()])
                || argv.starts_with(&["dict".into(), "items".into(), "modalplan-releases".into()])
                || argv[0] == "deploy",
            "{argv:?}"
        );
    }
    let deploy = &project.deploys()[0];
    assert_eq!(deploy["env"]["PROCESSOR_REF"], reference);
    assert_eq!(
        deploy["env"]["MODAL_APP_NAME"],
        "llm-touch-ifs-pwned-touch-ifs-pwned2-x-y-v1"
    );
    assert_eq!(deploy["env"]["MODAL_ENVIRONMENT"], "main");
    assert_eq!(deploy["env"]["IMAGE_REF"], IMAGE);
    assert_eq!(
        Path::new(deploy["cwd"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        project.dir.path().join("code").canonicalize().unwrap()
    );
    for folder in [project.dir.path(), &project.dir.path().join("code")] {
        for name in ["pwned", "pwned2"] {
            assert!(
                !folder.join(name).exists(),
                "{name} created in {}",
                folder.display()
            );
        }
    }
}

#[test]
fn hostile_names_environments_modules_and_workdirs_are_refused_before_modal_runs() {
    let project = FakeProject::new("llm/litellm@1");
    let cases: [(&str, &str, &str, &str); 12] = [
        ("llm/lite\nllm@1", "[\"main\"]", "modal_app", "code"),
        ("llm/lite llm@1", "[\"main\"]", "modal_app", "code"),
        ("llm/litellm@1", "[\"main;id\"]", "modal_app", "code"),
        ("llm/litellm@1", "[\"--help\"]", "modal_app", "code"),
        ("llm/litellm@1", "[\"main\\nid\"]", "modal_app", "code"),
        ("llm/litellm@1", "[\"main\"]", "modal_app;id", "code"),
        ("llm/litellm@1", "[\"main\"]", "-m", "code"),
        ("llm/litellm@1", "[\"main\"]", "../modal_app", "code"),
        ("llm/litellm@1", "[\"main\"]", "modal_app", "../.."),
        ("llm/litellm@1", "[\"main\"]", "modal_app", "/etc"),
        ("llm/litellm@1", "[\"main\"]", "modal_app", "code/../../x"),
        ("llm/litellm@1", "[\"main\"]", "modal_app", "$(id)"),
    ];
    for (reference, environments, module, workdir) in cases {
        project.write_manifest(reference, environments, module, workdir);
        for arguments in [&["validate"][..], &["plan", "--no-registry-check"][..]] {
            let output = project.run("ok", arguments);
            let case = format!("{reference:?} {environments} {module:?} {workdir:?} {arguments:?}");
            assert_eq!(
                output.status.code(),
                Some(1),
                "{case}\n{}",
                describe(&output)
            );
            assert!(
                text(&output.stderr).contains("ERR_"),
                "{case}\n{}",
                describe(&output)
            );
        }
    }
    assert_eq!(project.argvs(), Vec::<Vec<String>>::new());
}

#[test]
fn an_env_flag_shaped_like_an_option_is_refused_before_modal_runs() {
    let project = FakeProject::new("llm/litellm@1");
    for environment in ["--help", "main;id", "-"] {
        let output = project.run(
            "ok",
            &[
                "plan",
                "--no-registry-check",
                &format!("--env={environment}"),
            ],
        );
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        assert!(
            words(&text(&output.stderr)).contains(&format!(
                "`--env {environment}` is not an environment of the manifest"
            )),
            "{}",
            describe(&output)
        );
    }
    assert_eq!(project.argvs(), Vec::<Vec<String>>::new());
}

#[test]
fn every_test_the_fault_table_names_exists() {
    let page = fs::read_to_string(repo_root().join("docs/reliability.md")).expect("the page");
    let mut named = 0;
    for cell in page.split('`') {
        let Some((file, function)) = cell.split_once(".rs::") else {
            continue;
        };
        let source = fs::read_to_string(repo_root().join(format!("{file}.rs")))
            .unwrap_or_else(|error| panic!("{file}.rs, named in docs/reliability.md: {error}"));
        assert!(
            source.contains(&format!("fn {function}(")),
            "docs/reliability.md names {file}.rs::{function}, which does not exist"
        );
        named += 1;
    }
    assert!(named >= 30, "{named}");
}

#[test]
fn a_secret_deleted_between_plan_and_apply_is_refused_as_a_stale_plan() {
    use crate::support::emulator::{Emulator, ModalCli, workspace_seed};
    const GOOD: &str = "ghcr.io/acme/theory/llm-litellm@sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let seed = workspace_seed();
    let emulator = Emulator::start(ModalCli::New, &seed);
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("code")).unwrap();
    fs::copy(
        repo_root().join("examples/modal_app.py"),
        dir.path().join("code/modal_app.py"),
    )
    .unwrap();
    fs::write(
        dir.path().join("processors.toml"),
        format!(
            "version = 1\n\n[modal]\nmodule = \"modal_app\"\nworkdir = \"code\"\nenvironments = [\"main\"]\n\n[secrets.REGISTRY_AUTH]\nkeys = [\"REGISTRY_USERNAME\", \"REGISTRY_PASSWORD\"]\n\n[secrets.OPENAI_API_KEY]\nkeys = [\"OPENAI_API_KEY\"]\n\n[[processor]]\nref = \"llm/litellm@1\"\nimage.oci = \"{GOOD}\"\nsecrets.required = [\"OPENAI_API_KEY\"]\n"
        ),
    )
    .unwrap();
    let run = |arguments: &[&str]| {
        Modalplan::new()
            .current_dir(dir.path())
            .env_of(&emulator)
            .env("COLUMNS", "400")
            .args(arguments)
            .run()
    };
    let plan = dir.path().join("plan.json");
    let output = run(&[
        "plan",
        "--no-registry-check",
        "--out",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    // The secret is deleted: the workspace without it.
    let mut without = seed.clone();
    without["secrets"]["main"]
        .as_object_mut()
        .unwrap()
        .remove("OPENAI_API_KEY");
    let seed_file = dir.path().join("seed.json");
    fs::write(&seed_file, without.to_string()).unwrap();
    let status = std::process::Command::new(emulator.python())
        .arg(repo_root().join("tests/emulator/admin.py"))
        .arg("--state")
        .arg(emulator.state_path())
        .arg("seed")
        .arg(&seed_file)
        .status()
        .unwrap();
    assert!(status.success());
    emulator.clear_calls();
    let output = run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = words(&text(&output.stderr));
    for part in [
        "ERR_STALE_PLAN",
        "the plan is stale: Modal changed since it was made; plan again",
        "main/llm-litellm-v1: needs secret `OPENAI_API_KEY`, which is no longer in environment `main`",
    ] {
        assert!(stderr.contains(part), "{part}\n{}", describe(&output));
    }
    // Refused before any deploy started: only reads reached Modal.
    let rpcs = emulator.rpcs();
    for rpc in [
        "AppCreate",
        "FunctionCreate",
        "ImageGetOrCreate",
        "AppPublish",
    ] {
        assert!(!rpcs.iter().any(|name| name == rpc), "{rpc}: {rpcs:?}");
    }
    assert!(
        !dir.path()
            .join(".modalplan/logs/main/llm-litellm-v1.log")
            .exists(),
        "no deploy log"
    );
    let state = emulator.state();
    let live: Vec<(u64, usize)> = state["apps"]
        .as_object()
        .unwrap()
        .values()
        .filter(|app| app["environment"] == "main" && app["name"] == "llm-litellm-v1")
        .filter(|app| app["state"] == "deployed")
        .map(|app| {
            (
                app["current_version"].as_u64().unwrap_or(0),
                app["history"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    assert_eq!(live, [(2, 2)]);
}

#[test]
fn an_apply_that_cannot_take_the_lock_deploys_nothing() {
    // The fake `modal` is a script of a Python without the Modal SDK: the lock helper cannot run.
    let project = FakeProject::new("llm/litellm@1");
    let output = project.run("ok", &["apply", "--yes", "--no-registry-check"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    // miette wraps at spaces and after hyphens: compare without any whitespace.
    let squeezed = |text: &str| words(text).replace(' ', "");
    let stderr = squeezed(&text(&output.stderr));
    for part in [
        "ERR_MODAL_CLI",
        "its Python interpreter could not be found from the script; set MODALPLAN_PYTHON",
        "(the apply lock is taken on Modal; `--no-lock` skips it, which is dangerous)",
    ] {
        assert!(
            stderr.contains(&squeezed(part)),
            "{part}\n{}",
            describe(&output)
        );
    }
    assert!(project.deploys().is_empty());
    assert!(
        !project.argvs().iter().any(|argv| argv[0] == "deploy"),
        "{:?}",
        project.argvs()
    );
}
