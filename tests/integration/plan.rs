//! `modalplan plan` through the real `modal` CLI of both pinned versions, against the emulator.
//!
//! The manifest is `tests/fixtures/plan/processors.toml`; the seed is the example workspace with two
//! changes, so that every kind of action appears:
//! - dev: `llm-litellm-v1` deployed with the fingerprint the manifest gives it (no-op), generic absent
//!   (create);
//! - staging: `OPENAI_API_KEY` missing (litellm blocked), generic absent (create);
//! - main: litellm tagged by something else (update), generic stopped (create), `llm-litellm-v0` still
//!   deployed (orphan; `--prune` stops it).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use modalplan::backend::modal_cli::read::{ReadPath, observe_by};
use modalplan::backend::modal_cli::{CliConfig, ModalCli as CliBackend};

use modalplan::backend::lock::{LockRecord, LockState};

use crate::apply_lock::{hold_lock_in, show_lock};
use crate::support::emulator::{Emulator, ModalCli, repo_root, workspace_seed};
use crate::support::run::Modalplan;

fn fixture_dir() -> PathBuf {
    repo_root().join("tests/fixtures/plan")
}

/// The tag `modalplan` gives litellm in dev (where `LITELLM_API_BASE` exists).
fn litellm_dev_tag() -> String {
    let loaded = modalplan::manifest::load(&fixture_dir().join("processors.toml")).unwrap();
    let manifest = loaded.manifest;
    let processor = &manifest.processors[0];
    let deployment = processor.deployments["dev"].clone();
    crate::support::tag_of(&manifest, processor, &deployment)
}

fn seed() -> Value {
    let mut seed = workspace_seed();
    let dev = seed["apps"]["dev"].as_array_mut().unwrap();
    dev[0]["history"].as_array_mut().unwrap().push(json!({
        "version": 2, "tag": litellm_dev_tag(), "deployed_at": "2026-01-10T10:00:00Z",
        "deployed_by": "modalplan-ci", "client_version": "1.6.4"
    }));
    seed["apps"]["main"].as_array_mut().unwrap().push(json!({
        "name": "llm-litellm-v0",
        "state": "deployed",
        "created_at": "2025-11-01T10:00:00Z",
        "history": [{"version": 1, "tag": "v0.9", "deployed_at": "2025-11-01T10:00:00Z",
                     "deployed_by": "alice", "client_version": "1.0.0"}]
    }));
    seed
}

/// A `modal` that logs each invocation to `calls.log` beside it, then runs the real one.
fn counting_modal(emulator: &Emulator, dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("calls.log");
    let wrapper = dir.join("modal");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            emulator.modal_bin().display()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    (wrapper, log)
}

fn modal_processes(log: &Path) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `modalplan plan` of the fixture manifest against `emulator`, reading Modal the default way.
fn plan_command(emulator: &Emulator) -> Modalplan {
    Modalplan::new()
        .current_dir(fixture_dir())
        .env_of(emulator)
        .env_remove("MODALPLAN_OBSERVE")
        .env_remove("MODALPLAN_PYTHON")
        .env_remove("MODALPLAN_REGISTRY_MIRROR")
        .args(["plan", "--manifest", "processors.toml"])
        .timeout(Duration::from_secs(120))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn counts(rpcs: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for rpc in rpcs {
        *counts.entry(rpc.clone()).or_insert(0) += 1;
    }
    counts
}

fn expect_counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs
        .iter()
        .map(|(rpc, count)| ((*rpc).to_owned(), *count))
        .collect()
}

#[test]
fn every_kind_on_both_clis_through_one_helper_process() {
    let mut outputs = Vec::new();
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        let scratch = tempfile::tempdir().unwrap();
        let (wrapper, log) = counting_modal(&emulator, scratch.path());
        let output = plan_command(&emulator)
            .arg("--no-registry-check")
            .env("MODALPLAN_MODAL_BIN", &wrapper)
            .env("MODALPLAN_PYTHON", emulator.python())
            .run();
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            text(&output.stderr)
        );
        assert_eq!(text(&output.stderr), "", "{cli:?}");
        // One helper process read everything: no `modal` process, one list of each kind per
        // environment, one history per deployed managed app (llm-litellm-v1 in dev and main) and per
        // deployed orphan candidate (llm-litellm-v0 in main), no lookup by name; and per environment
        // one lookup of the apply lock's Dict and one of the release records' Dict, never creating
        // either. No apply ever ran in these environments, so no Dict exists and there is nothing more
        // to read (a Dict that exists costs one more call, the stream of its entries: see
        // `a_held_lock_is_noted_...`).
        assert_eq!(modal_processes(&log), Vec::<String>::new(), "{cli:?}");
        assert_eq!(
            counts(&emulator.rpcs()),
            expect_counts(&[
                ("AppDeploymentHistory", 3),
                ("AppList", 3),
                ("DictGetOrCreate", 6),
                ("SecretList", 3)
            ]),
            "{cli:?}"
        );
        // A plan never creates the locks' Dict.
        assert_eq!(
            emulator
                .state()
                .get("dicts")
                .and_then(Value::as_object)
                .map_or(0, serde_json::Map::len),
            0,
            "{cli:?}"
        );
        outputs.push(text(&output.stdout));
    }
    assert_eq!(outputs[0], outputs[1], "1.6.4 and 1.0.0 plan alike");
    insta::assert_snapshot!("plan_text_every_kind", outputs[0]);
}

#[test]
fn the_cli_fallback_plans_the_same_with_a_process_per_call() {
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        let helper = plan_command(&emulator).arg("--no-registry-check").run();
        for (why, variable, value) in [
            ("forced", "MODALPLAN_OBSERVE", "cli".to_owned()),
            // An interpreter without the Modal SDK: the helper does not fit, the CLI reads instead.
            (
                "fallback",
                "MODALPLAN_PYTHON",
                "/usr/bin/python3".to_owned(),
            ),
        ] {
            emulator.clear_calls();
            let scratch = tempfile::tempdir().unwrap();
            let (wrapper, log) = counting_modal(&emulator, scratch.path());
            let output = plan_command(&emulator)
                .arg("--no-registry-check")
                .env("MODALPLAN_MODAL_BIN", &wrapper)
                .env(variable, &value)
                .run();
            assert_eq!(output.status.code(), Some(1), "{cli:?} {why}");
            assert_eq!(text(&output.stdout), text(&helper.stdout), "{cli:?} {why}");
            let mut processes = modal_processes(&log);
            processes.sort();
            assert_eq!(
                processes,
                [
                    "app history llm-litellm-v0 --json --env main",
                    "app history llm-litellm-v1 --json --env dev",
                    "app history llm-litellm-v1 --json --env main",
                    "app list --json --env dev",
                    "app list --json --env main",
                    "app list --json --env staging",
                    // The apply lock: one `modal dict items` per environment (it cannot create
                    // the Dict either).
                    "dict items modalplan-locks --json --env dev",
                    "dict items modalplan-locks --json --env main",
                    "dict items modalplan-locks --json --env staging",
                    "dict items modalplan-releases --json --env dev",
                    "dict items modalplan-releases --json --env main",
                    "dict items modalplan-releases --json --env staging",
                    "secret list --json --env dev",
                    "secret list --json --env main",
                    "secret list --json --env staging",
                ],
                "{cli:?} {why}"
            );
            assert_eq!(
                counts(&emulator.rpcs()).get("AppGetByDeploymentName"),
                Some(&3),
                "{cli:?} {why}: each `modal app history` looks its app up by name"
            );
        }
    }
}

#[test]
fn helper_and_cli_observe_the_same() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        let mut env: BTreeMap<String, String> = emulator.envs().into_iter().collect();
        env.insert("TZ".into(), "UTC".into());
        let backend = CliBackend::new(
            CliConfig {
                argv: vec![emulator.modal_bin().display().to_string()],
                python: None,
                env,
                read_timeout: Duration::from_secs(60),
            },
            4,
        );
        let request = modalplan::backend::ObserveRequest {
            releases: false,
            environments: BTreeMap::from([
                ("dev".into(), ["llm-litellm-v1".into()].into()),
                (
                    "main".into(),
                    ["llm-litellm-v1".into(), "replicate-generic-v1".into()].into(),
                ),
                ("staging".into(), ["llm-litellm-v1".into()].into()),
            ]),
            locks: true,
            orphans: Some(modalplan::backend::OrphanNames {
                owner_prefix: String::new(),
                stems: ["llm-".into(), "replicate-".into()].into(),
            }),
        };
        // The apply lock in each state: held in main, an empty Dict in staging (every apply there
        // ended), no Dict in dev (no apply ever locked it).
        let (mut holder, _) = hold_lock_in(&emulator, "main");
        create_locks_dict(&emulator, "staging");
        let by_helper = runtime
            .block_on(observe_by(&backend, &request, ReadPath::Helper))
            .unwrap();
        let by_cli = runtime
            .block_on(observe_by(&backend, &request, ReadPath::Cli))
            .unwrap();
        assert_eq!(by_helper, by_cli, "{cli:?}");
        let shown: LockRecord = serde_json::from_value(show_lock(&emulator, "main")).unwrap();
        assert_eq!(
            by_helper.environments["main"].lock,
            LockState::Held { lock: shown },
            "{cli:?}"
        );
        assert_eq!(by_helper.environments["staging"].lock, LockState::Free);
        assert_eq!(by_helper.environments["dev"].lock, LockState::Free);
        release(&mut holder);
        let main = &by_helper.environments["main"];
        let live = main.apps["llm-litellm-v1"].live.clone().unwrap();
        assert_eq!(
            (
                live.version,
                live.tag.as_deref(),
                live.deployed_by.as_deref()
            ),
            (2, Some("mp-0123456789abcdef"), Some("modalplan-ci")),
            "{cli:?}"
        );
        assert_eq!(
            live.deployed_at.as_deref(),
            Some("2026-01-12 09:30:00+00:00")
        );
        assert_eq!(
            main.secrets.iter().collect::<Vec<_>>(),
            ["OPENAI_API_KEY", "REGISTRY_AUTH"]
        );
        // An orphan candidate's history is read like a managed app's.
        let orphan = main.apps["llm-litellm-v0"].live.clone().unwrap();
        assert_eq!(
            (
                orphan.version,
                orphan.tag.as_deref(),
                orphan.deployed_by.as_deref()
            ),
            (1, Some("v0.9"), Some("alice")),
            "{cli:?}"
        );
        // A stopped app is listed with its state and no history read.
        let stopped = &main.apps["replicate-generic-v1"];
        assert_eq!(stopped.state, modalplan::backend::AppState::Stopped);
        assert_eq!(stopped.live, None);
        // live_deployment: one history read; none for a name with no deployed app.
        let live = runtime
            .block_on(modalplan::backend::ModalBackend::live_deployment(
                &backend,
                "dev",
                "llm-litellm-v1",
            ))
            .unwrap()
            .unwrap();
        assert_eq!((live.version, live.tag), (2, Some(litellm_dev_tag())));
        let absent = runtime
            .block_on(modalplan::backend::ModalBackend::live_deployment(
                &backend,
                "dev",
                "nothing-here-v1",
            ))
            .unwrap();
        assert_eq!(absent, None);
    }
}

#[test]
fn exit_codes_and_the_saved_plan() {
    let emulator = Emulator::start(ModalCli::New, &seed());
    let scratch = tempfile::tempdir().unwrap();
    let saved = scratch.path().join("plan.json");
    // dev, generic only: one create.
    let output = plan_command(&emulator)
        .args(["--no-registry-check", "--detailed-exitcode", "--env", "dev"])
        .args(["--target", "replicate/generic@1", "--out"])
        .arg(&saved)
        .run();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).ends_with("\nPlan: 1 to create, 0 to update, 0 to stop, 0 blocked.\n")
    );
    let plan: Value = serde_json::from_str(&fs::read_to_string(&saved).unwrap()).unwrap();
    let bytes = fs::read(fixture_dir().join("processors.toml")).unwrap();
    let sha = {
        use sha2::Digest as _;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)))
    };
    assert_eq!(plan["format_version"], 2);
    assert_eq!(plan["manifest"]["sha256"], Value::String(sha));
    assert_eq!(plan["environments"], json!(["dev"]));
    let action = &plan["actions"][0];
    assert_eq!(action["kind"], "create");
    assert_eq!(action["app_name"], "replicate-generic-v1");
    assert_eq!(action["before"], Value::Null);
    assert_eq!(plan["actions"].as_array().unwrap().len(), 1);
    // Without --detailed-exitcode, changes exit 0.
    plan_command(&emulator)
        .args([
            "--no-registry-check",
            "--env",
            "dev",
            "--target",
            "replicate/generic@1",
        ])
        .run()
        .assert_exit(0);
    // dev, litellm only: up to date.
    assert_eq!(
        plan_command(&emulator)
            .args(["--no-registry-check", "--detailed-exitcode", "--env", "dev"])
            .args(["--target", "llm/litellm@1"])
            .run()
            .assert_exit(0)
            .stdout(),
        "modalplan plan of processors.toml (dev)\n\nEnvironment dev\n  = 1 up to date: llm-litellm-v1\n\nNo changes. Modal matches processors.toml.\n"
    );
    // --format json prints what --out saves.
    let json_output = plan_command(&emulator)
        .args([
            "--no-registry-check",
            "--env",
            "dev",
            "--target",
            "replicate/generic@1",
        ])
        .args(["--format", "json"])
        .run();
    assert_eq!(
        text(&json_output.stdout),
        fs::read_to_string(&saved).unwrap()
    );
}

#[test]
fn prune_stops_the_orphan_and_markdown_calls_it_out() {
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        let output = plan_command(&emulator)
            .args([
                "--no-registry-check",
                "--env",
                "main",
                "--prune",
                "--format",
                "json",
            ])
            .run();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            text(&output.stderr)
        );
        let plan: Value = serde_json::from_slice(&output.stdout).unwrap();
        let kinds: Vec<(String, String)> = plan["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|action| {
                (
                    action["app_name"].as_str().unwrap().to_owned(),
                    action["kind"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = [
            ("llm-litellm-v0", "stop"),
            ("llm-litellm-v1", "update"),
            ("replicate-generic-v1", "create"),
        ]
        .iter()
        .map(|(app, kind)| ((*app).to_owned(), (*kind).to_owned()))
        .collect();
        assert_eq!(kinds, expected, "{cli:?}");
        // The orphan's live deployment, read with the rest, is what apply re-checks before stopping.
        assert_eq!(
            plan["actions"][0]["before"],
            json!({"version": 1, "tag": "v0.9"}),
            "{cli:?}"
        );
        let markdown = plan_command(&emulator)
            .args([
                "--no-registry-check",
                "--env",
                "main",
                "--prune",
                "--format",
                "markdown",
            ])
            .run();
        let markdown = text(&markdown.stdout);
        assert!(
            markdown.contains(
                "> [!WARNING]\n> **1 to stop** (`--prune`):\n\n- `llm-litellm-v0` in `main` (live v1, tag `v0.9`)\n"
            ),
            "{markdown}"
        );
    }
}

#[test]
fn an_unreachable_registry_blocks_with_image_unavailable() {
    let emulator = Emulator::start(ModalCli::New, &seed());
    let output = plan_command(&emulator)
        .env("MODALPLAN_REGISTRY_MIRROR", "http://127.0.0.1:9")
        .env_remove("REGISTRY_USERNAME")
        .env_remove("REGISTRY_PASSWORD")
        .args([
            "--env",
            "dev",
            "--target",
            "replicate/generic@1",
            "--detailed-exitcode",
        ])
        .run();
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("  ! replicate-generic-v1 (replicate/generic@1) is blocked\n      ERR_IMAGE_UNAVAILABLE image `ghcr.io/acme/theory/replicate-generic@sha256:3333333333333333333333333333333333333333333333333333333333333333` of replicate/generic@1 cannot be pulled: the registry could not be asked ("),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("Plan: 0 to create, 0 to update, 0 to stop, 1 blocked.\n"),
        "{stdout}"
    );
}

#[test]
fn errors_say_what_is_wrong_and_the_fix() {
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        // A typo in --env, before anything reads Modal.
        let output = plan_command(&emulator).args(["--env", "mian"]).run();
        assert_eq!(output.status.code(), Some(1));
        let stderr = text(&output.stderr);
        assert!(stderr.contains("ERR_USAGE"), "{stderr}");
        // The diagnostic wraps at the terminal's width: compare its words.
        let words = stderr
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            words.contains("`--env mian` is not an environment of the manifest (did you mean `main`?); it manages: dev, staging, main help: pass one of the environments of `[modal].environments`, or add it there"),
            "{stderr}"
        );
        assert_eq!(emulator.rpcs(), Vec::<String>::new());
        // No token.
        let output = plan_command(&emulator)
            .args(["--no-registry-check"])
            .env_remove("MODAL_TOKEN_ID")
            .env_remove("MODAL_TOKEN_SECRET")
            .run();
        assert_eq!(output.status.code(), Some(1));
        let stderr = text(&output.stderr);
        assert!(stderr.contains("ERR_MODAL_CLI"), "{cli:?}: {stderr}");
        assert!(
            stderr.contains(
                "the modal CLI is not logged in or its token was refused: Token missing."
            ),
            "{cli:?}: {stderr}"
        );
        assert!(stderr.contains("modal token new"), "{cli:?}: {stderr}");
        assert_eq!(text(&output.stdout), "");
    }
}

#[test]
fn an_environment_modal_does_not_have_is_named() {
    let emulator = Emulator::start(ModalCli::Old, &seed());
    let scratch = tempfile::tempdir().unwrap();
    let manifest = fs::read_to_string(fixture_dir().join("processors.toml"))
        .unwrap()
        .replace(
            "environments = [\"dev\", \"staging\", \"main\"]",
            "environments = [\"dev\", \"qa\"]",
        );
    fs::write(scratch.path().join("processors.toml"), manifest).unwrap();
    for path in ["helper", "cli"] {
        let output = plan_command(&emulator)
            .current_dir(scratch.path())
            .env("MODALPLAN_OBSERVE", path)
            .arg("--no-registry-check")
            .run();
        assert_eq!(output.status.code(), Some(1), "{path}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("Modal has no environment `qa`"),
            "{path}: {stderr}"
        );
        assert!(
            stderr.contains("modal environment create qa"),
            "{path}: {stderr}"
        );
    }
}

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

// ---------------------------------------------------------------- the apply lock

/// Makes the (empty) `modalplan-locks` Dict of `environment`, as the first apply there does.
fn create_locks_dict(emulator: &Emulator, environment: &str) {
    let output = std::process::Command::new(emulator.python())
        .arg("-c")
        .arg(format!(
            "import modal\nmodal.Dict.from_name('modalplan-locks', environment_name='{environment}', create_if_missing=True).len()\n"
        ))
        .envs(emulator.envs())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// Ends the lock helper of `hold_lock_in`: its input closes, it releases and exits.
fn release(holder: &mut std::process::Child) {
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
}

/// The note a plan prints for alice's lock of `main`, as the lock helper shows it.
fn alices_note(emulator: &Emulator, lock_id: &str) -> String {
    let shown = show_lock(emulator, "main");
    assert_eq!(shown["id"], lock_id);
    format!(
        "an apply holds the lock of `main`: held by alice@laptop (apply, processors.toml) since {}, last heartbeat {}, lock id {lock_id} — this plan may change when it ends",
        shown["created_at"].as_str().unwrap(),
        shown["heartbeat_at"].as_str().unwrap()
    )
}

/// `plan` with these arguments: exit code, stdout, stderr.
fn plan_output(
    emulator: &Emulator,
    arguments: &[&str],
    observe: Option<&str>,
) -> (i32, String, String) {
    let mut command = plan_command(emulator)
        .arg("--no-registry-check")
        .args(arguments);
    if let Some(path) = observe {
        command = command.env("MODALPLAN_OBSERVE", path);
    }
    let output = command.run();
    (
        output.status.code().unwrap(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[test]
fn a_held_lock_is_noted_in_text_json_and_markdown_with_each_cli() {
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        let free: Vec<_> = ["text", "json", "markdown"]
            .iter()
            .map(|format| plan_output(&emulator, &["--format", format], None))
            .collect();
        // The plan of every kind, blocked in staging: exit 1 with or without a lock.
        assert_eq!(free[0].0, 1, "{cli:?}: {}", free[0].2);

        let (mut holder, lock_id) = hold_lock_in(&emulator, "main");
        let note = alices_note(&emulator, &lock_id);
        emulator.clear_calls();
        let held_text = plan_output(&emulator, &["--format", "text"], None);
        // One more call than without a lock, and only in main, where the Dict exists: the stream of
        // its two entries (the lock and its heartbeat). Still one lookup of each Dict per environment,
        // no create.
        // (Three histories: litellm in dev and main, and the orphan candidate llm-litellm-v0.)
        assert_eq!(
            counts(&emulator.rpcs()),
            expect_counts(&[
                ("AppDeploymentHistory", 3),
                ("AppList", 3),
                ("DictContents", 1),
                ("DictGetOrCreate", 6),
                ("SecretList", 3)
            ]),
            "{cli:?}"
        );
        assert_eq!(
            held_text,
            (
                1,
                free[0].1.replacen(
                    "\nEnvironment main\n",
                    &format!("\nEnvironment main\n  note: {note}\n"),
                    1
                ),
                String::new()
            ),
            "{cli:?}"
        );
        assert_ne!(held_text.1, free[0].1);

        let (code, json, stderr) = plan_output(&emulator, &["--format", "json"], None);
        assert_eq!((code, stderr.as_str()), (1, ""), "{cli:?}");
        let mut held_json: Value = serde_json::from_str(&json).unwrap();
        let shown = show_lock(&emulator, "main");
        assert_eq!(
            held_json["locks"],
            json!([{
                "environment": "main",
                "lock": {
                    "id": lock_id,
                    "who": "alice@laptop",
                    "operation": "apply",
                    "manifest": "processors.toml",
                    "created_at": shown["created_at"],
                    "heartbeat_at": shown["heartbeat_at"],
                }
            }]),
            "{cli:?}"
        );
        // Otherwise the plan without the lock: the same actions, warnings and environments.
        let mut free_json: Value = serde_json::from_str(&free[1].1).unwrap();
        assert_eq!(free_json.get("locks"), None);
        for document in [&mut held_json, &mut free_json] {
            let fields = document.as_object_mut().unwrap();
            fields.shift_remove("locks");
            fields.shift_remove("integrity");
        }
        assert_eq!(held_json, free_json, "{cli:?}");

        let held_markdown = plan_output(&emulator, &["--format", "markdown"], None);
        let summary = "**Plan: 3 to create, 1 to update, 0 to stop, 1 blocked.**\n\n";
        assert!(free[2].1.contains(summary), "{}", free[2].1);
        assert_eq!(
            held_markdown,
            (
                1,
                free[2]
                    .1
                    .replacen(summary, &format!("{summary}> [!NOTE]\n> - {note}\n\n"), 1),
                String::new()
            ),
            "{cli:?}"
        );

        // Reading through the CLI (`modal dict items`) notes it the same.
        assert_eq!(
            plan_output(&emulator, &["--format", "text"], Some("cli")),
            held_text,
            "{cli:?}"
        );

        // Once released, the plan is the one without a lock again.
        release(&mut holder);
        assert_eq!(
            plan_output(&emulator, &["--format", "text"], None),
            free[0],
            "{cli:?}"
        );
    }
}

#[test]
fn a_lock_that_cannot_be_read_is_a_warning_and_the_plan_goes_on() {
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        let free = plan_output(&emulator, &[], None);
        let (mut holder, _) = hold_lock_in(&emulator, "main");
        emulator.add_fault(
            &json!({"rpc": "DictContents", "status": "PERMISSION_DENIED",
                                   "message": "no reading of Dicts today"}),
        );
        // What each SDK raises, and what each CLI prints, for the refused call.
        let (raised, printed) = match cli {
            ModalCli::New => ("PermissionDeniedError", "Error:"),
            ModalCli::Old => ("GRPCError", "Error: Permission denied"),
            ModalCli::Minor(_) => unreachable!("only the pinned versions run this test"),
        };
        for (path, reason) in [
            ("helper", format!("{raised}: no reading of Dicts today")),
            (
                "cli",
                format!(
                    "`{} dict items modalplan-locks --json --env main` failed (exit 1): {printed} no reading of Dicts today",
                    emulator.modal_bin().display()
                ),
            ),
        ] {
            let (code, stdout, stderr) = plan_output(&emulator, &[], Some(path));
            assert_eq!(
                (code, &stdout),
                (free.0, &free.1),
                "{cli:?} {path}: {stderr}"
            );
            assert_eq!(
                stderr,
                format!(
                    "warning: could not read the apply lock of `main`, so whether an apply is running there is not known: {reason}\n"
                ),
                "{cli:?} {path}"
            );
        }
        release(&mut holder);
    }
}

#[test]
fn status_shows_the_lock_of_its_environment() {
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        let status = |observe: &str| {
            let output = Modalplan::new()
                .current_dir(fixture_dir())
                .env_of(&emulator)
                .env("MODALPLAN_OBSERVE", observe)
                .args(["status", "--manifest", "processors.toml", "--env", "main"])
                .timeout(Duration::from_secs(120))
                .run();
            assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
            assert_eq!(text(&output.stderr), "");
            text(&output.stdout)
        };
        let table = "Environment `main`:\n  REF                  APP                   STATE     VERSION  TAG                  MANIFEST\n";
        let free = status("helper");
        assert!(free.starts_with(table), "{cli:?}: {free}");
        assert!(
            free.ends_with("shows the changes.\nApply lock of `main`: free.\n"),
            "{cli:?}: {free}"
        );
        let (mut holder, lock_id) = hold_lock_in(&emulator, "main");
        let shown = show_lock(&emulator, "main");
        let held_line = format!(
            "Apply lock of `main`: held by alice@laptop (apply, processors.toml) since {}, last heartbeat {}, lock id {lock_id}. If that run is gone: `modalplan force-unlock --env main {lock_id}`\n",
            shown["created_at"].as_str().unwrap(),
            shown["heartbeat_at"].as_str().unwrap()
        );
        for observe in ["helper", "cli"] {
            assert_eq!(
                status(observe),
                free.replace("Apply lock of `main`: free.\n", &held_line),
                "{cli:?} {observe}"
            );
        }
        release(&mut holder);
        // Released: an empty Dict is a free lock too.
        assert_eq!(status("cli"), free, "{cli:?}");
    }
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
