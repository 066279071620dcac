//! `modalplan secrets sync` through the real `modal` client (1.0.0 and 1.6.4) against the emulator: the
//! emulator's state holds exactly the declared keys and values afterwards, a missing key fails that
//! secret (nothing written for it) and names it, `--dry-run` changes nothing, and no value appears in any
//! argv modalplan starts or in anything it prints.

use std::fs;
use std::process::Output;

use serde_json::{Value, json};

use crate::support::argv::ArgvRecorder;
use crate::support::emulator::{Emulator, ModalCli, workspace_seed};
use crate::support::run::{Modalplan, Run};

const MANIFEST: &str = r#"version = 1

[modal]
module = "modal_app"
workdir = "."
environments = ["dev", "main"]

[secrets.REGISTRY_AUTH]
keys = ["REGISTRY_USERNAME", "REGISTRY_PASSWORD"]

[secrets.OPENAI_API_KEY]
keys = ["OPENAI_API_KEY"]

[secrets.HF_TOKEN]
keys = ["HF_TOKEN"]

[[processor]]
ref = "llm/litellm@1"
image.oci = "ghcr.io/acme/theory/llm-litellm@sha256:1111111111111111111111111111111111111111111111111111111111111111"
secrets.required = ["OPENAI_API_KEY", "HF_TOKEN"]
"#;

/// The values the tests sync; each must never appear in an argv or an output.
const VALUES: [(&str, &str); 4] = [
    ("REGISTRY_USERNAME", "sync-user-4e1a"),
    ("REGISTRY_PASSWORD", "sync-password-9c2f"),
    ("OPENAI_API_KEY", "sync-openai-key-77d0"),
    ("HF_TOKEN", "sync-hf-token-0b3e"),
];

/// An emulator seeded with the example workspace, where `dev`'s `OPENAI_API_KEY` also holds a key the
/// manifest does not declare (a sync removes it), and a project with `MANIFEST`.
struct Setup {
    emulator: Emulator,
    recorder: ArgvRecorder,
    project: tempfile::TempDir,
}

impl Setup {
    fn new(cli: ModalCli) -> Setup {
        let mut seed = workspace_seed();
        seed["secrets"]["dev"]["OPENAI_API_KEY"]["STALE_KEY"] = json!("stale-value");
        let emulator = Emulator::start(cli, &seed);
        let recorder = ArgvRecorder::new(&emulator);
        let project = tempfile::Builder::new()
            .prefix("modalplan-sync-")
            .tempdir()
            .expect("temp dir");
        fs::write(project.path().join("processors.toml"), MANIFEST).unwrap();
        Setup {
            emulator,
            recorder,
            project,
        }
    }

    /// `modalplan ARGS` with `values` in its environment (and nothing else of the test's).
    fn run(&self, arguments: &[&str], values: &[(&str, &str)]) -> Run {
        let mut command = self
            .modalplan()
            .env_remove("MODALPLAN_OBSERVE")
            .env_remove("RUST_LOG")
            .args(arguments);
        for (key, _) in VALUES {
            command = command.env_remove(key);
        }
        command.envs(values.iter().copied()).run()
    }

    /// modalplan in the project, talking to the emulator through the argv recorder.
    fn modalplan(&self) -> Modalplan {
        Modalplan::new()
            .current_dir(self.project.path())
            .env_of(&self.emulator)
            .envs(self.recorder.envs())
    }

    /// The secrets of one environment as the emulator holds them: name → key → value.
    fn secrets(&self, environment: &str) -> Value {
        let state = self.emulator.state();
        let named = state["secrets"][environment]
            .as_object()
            .cloned()
            .unwrap_or_default();
        Value::Object(
            named
                .into_iter()
                .map(|(name, secret)| (name, secret["values"].clone()))
                .collect(),
        )
    }

    /// The secret writes the emulator received: `(environment, name)`, each one an overwrite
    /// (`OBJECT_CREATION_TYPE_CREATE_OVERWRITE_IF_EXISTS`, what `modal secret create --force` sends).
    fn writes(&self) -> Vec<(String, String)> {
        self.emulator
            .calls()
            .iter()
            .filter(|call| call["rpc"] == "SecretGetOrCreate")
            .map(|call| {
                assert_eq!(call["object_creation_type"], 3, "{call}");
                (
                    call["env"].as_str().unwrap_or_default().to_owned(),
                    call["deployment_name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect()
    }

    /// No value in any argv modalplan started or in the output.
    fn assert_no_value_leaked(&self, outputs: &[&Output]) {
        let argvs = self.recorder.argvs();
        assert!(!argvs.is_empty(), "no argv was recorded");
        for (key, value) in VALUES {
            for argv in &argvs {
                assert!(
                    !argv.iter().any(|argument| argument.contains(value)),
                    "the value of {key} is in the argv {argv:?}"
                );
            }
            for output in outputs {
                assert!(
                    !text(&output.stdout).contains(value) && !text(&output.stderr).contains(value),
                    "the value of {key} is in the output:\n{}",
                    describe(output)
                );
            }
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

#[test]
fn sync_makes_each_secret_hold_exactly_its_declared_keys_with_the_new_client() {
    sync_writes_exactly_the_declared_keys(ModalCli::New);
}

#[test]
fn sync_makes_each_secret_hold_exactly_its_declared_keys_with_the_old_client() {
    sync_writes_exactly_the_declared_keys(ModalCli::Old);
}

fn sync_writes_exactly_the_declared_keys(cli: ModalCli) {
    let setup = Setup::new(cli);
    let main_before = setup.secrets("main");
    setup.emulator.clear_calls();
    let mut values = VALUES.to_vec();
    values.push(("UNDECLARED_VARIABLE", "not-synced"));
    let output = setup.run(&["secrets", "sync", "--env", "dev"], &values);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        text(&output.stdout),
        "Secrets of processors.toml in environment `dev`, values from the environment:\n  created   HF_TOKEN        HF_TOKEN\n  replaced  OPENAI_API_KEY  OPENAI_API_KEY\n  replaced  REGISTRY_AUTH   REGISTRY_USERNAME, REGISTRY_PASSWORD\n\n1 created, 2 replaced, 0 skipped, 0 failed.\n"
    );
    assert_eq!(text(&output.stderr), "");
    // Exactly the declared keys: `STALE_KEY` is gone, `LITELLM_API_BASE` (not declared) is left alone.
    assert_eq!(
        setup.secrets("dev"),
        json!({
            "REGISTRY_AUTH": {"REGISTRY_USERNAME": "sync-user-4e1a", "REGISTRY_PASSWORD": "sync-password-9c2f"},
            "OPENAI_API_KEY": {"OPENAI_API_KEY": "sync-openai-key-77d0"},
            "HF_TOKEN": {"HF_TOKEN": "sync-hf-token-0b3e"},
            "LITELLM_API_BASE": {"LITELLM_API_BASE": "http://127.0.0.1:4000"}
        })
    );
    assert_eq!(setup.secrets("main"), main_before);
    assert_eq!(
        setup.writes(),
        [
            ("dev".into(), "HF_TOKEN".into()),
            ("dev".into(), "OPENAI_API_KEY".into()),
            ("dev".into(), "REGISTRY_AUTH".into()),
        ]
    );
    // One read of what is present, one writer: the values went on the writer's standard input.
    assert_eq!(
        setup.recorder.summaries(),
        [
            "python -c <modalplan's observe helper>",
            "python -c <modalplan's secrets writer>"
        ]
    );
    setup.assert_no_value_leaked(&[&output]);
}

#[test]
fn a_missing_or_empty_key_fails_its_secret_and_names_it_with_the_new_client() {
    a_missing_key_fails_its_secret(ModalCli::New);
}

#[test]
fn a_missing_or_empty_key_fails_its_secret_and_names_it_with_the_old_client() {
    a_missing_key_fails_its_secret(ModalCli::Old);
}

fn a_missing_key_fails_its_secret(cli: ModalCli) {
    let setup = Setup::new(cli);
    let before = setup.secrets("dev");
    setup.emulator.clear_calls();
    let values = [
        ("REGISTRY_USERNAME", "sync-user-4e1a"),
        ("REGISTRY_PASSWORD", ""),
        ("OPENAI_API_KEY", "sync-openai-key-77d0"),
    ];
    let output = setup.run(&["secrets", "sync", "--env", "dev"], &values);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(
        text(&output.stdout),
        "Secrets of processors.toml in environment `dev`, values from the environment:\n  failed    HF_TOKEN        nothing written: HF_TOKEN (no value) in the environment\n  replaced  OPENAI_API_KEY  OPENAI_API_KEY\n  failed    REGISTRY_AUTH   nothing written: REGISTRY_PASSWORD (empty) in the environment\n\n0 created, 1 replaced, 0 skipped, 2 failed.\n"
    );
    assert_eq!(
        text(&output.stderr),
        "ERR_SECRET_VALUE_MISSING\n\n  × 2 secrets not synced to `dev`: HF_TOKEN, REGISTRY_AUTH\n  help: set HF_TOKEN in the environment (in CI, from the repository's\n        secrets); a secret is written only when every key it declares has a\n        value\n\n"
    );
    // Only the secret with every value was written; the others are as they were.
    assert_eq!(setup.writes(), [("dev".into(), "OPENAI_API_KEY".into())]);
    let mut expected = before;
    expected["OPENAI_API_KEY"] = json!({"OPENAI_API_KEY": "sync-openai-key-77d0"});
    assert_eq!(setup.secrets("dev"), expected);
    setup.assert_no_value_leaked(&[&output]);
}

#[test]
fn dry_run_lists_what_would_change_and_changes_nothing() {
    for cli in ModalCli::ALL {
        let setup = Setup::new(cli);
        let before = setup.emulator.state()["secrets"].clone();
        setup.emulator.clear_calls();
        let output = setup.run(&["secrets", "sync", "--env", "dev", "--dry-run"], &VALUES);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            text(&output.stdout),
            "Secrets of processors.toml in environment `dev`, values from the environment (dry run: nothing is written):\n  would create   HF_TOKEN        HF_TOKEN\n  would replace  OPENAI_API_KEY  OPENAI_API_KEY\n  would replace  REGISTRY_AUTH   REGISTRY_USERNAME, REGISTRY_PASSWORD\n\n1 to create, 2 to replace, 0 skipped, 0 failed.\n",
            "{cli:?}"
        );
        assert_eq!(setup.emulator.state()["secrets"], before, "{cli:?}");
        assert_eq!(setup.writes(), [], "{cli:?}");
        assert_eq!(
            setup.recorder.summaries(),
            ["python -c <modalplan's observe helper>"],
            "{cli:?}"
        );
        setup.assert_no_value_leaked(&[&output]);
    }
}

#[test]
fn values_come_from_a_dotenv_or_json_file_and_only_selects_secrets() {
    let setup = Setup::new(ModalCli::New);
    let dotenv = setup.project.path().join(".env.main");
    fs::write(
        &dotenv,
        "# CI secrets for main\nexport OPENAI_API_KEY=sync-openai-key-77d0\nHF_TOKEN=\"sync-hf-token-0b3e\"\nNOT_DECLARED=x\n",
    )
    .unwrap();
    setup.emulator.clear_calls();
    let output = setup.run(
        &[
            "secrets",
            "sync",
            "--env",
            "main",
            "--from-dotenv",
            ".env.main",
            "--only",
            "OPENAI_API_KEY",
            "--only",
            "HF_TOKEN",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        text(&output.stdout),
        "Secrets of processors.toml in environment `main`, values from .env.main:\n  created   HF_TOKEN        HF_TOKEN\n  replaced  OPENAI_API_KEY  OPENAI_API_KEY\n  skipped   REGISTRY_AUTH   not in --only\nIgnored NOT_DECLARED in .env.main: no secret of [secrets] declares it.\n\n1 created, 1 replaced, 1 skipped, 0 failed.\n"
    );
    let main = setup.secrets("main");
    assert_eq!(
        main["OPENAI_API_KEY"],
        json!({"OPENAI_API_KEY": "sync-openai-key-77d0"})
    );
    assert_eq!(main["HF_TOKEN"], json!({"HF_TOKEN": "sync-hf-token-0b3e"}));
    assert_eq!(
        main["REGISTRY_AUTH"],
        json!({"REGISTRY_USERNAME": "acme-bot", "REGISTRY_PASSWORD": "ghp_main_not_a_real_token"})
    );

    let json_file = setup.project.path().join("secrets.json");
    fs::write(
        &json_file,
        r#"{"REGISTRY_USERNAME": "sync-user-4e1a", "REGISTRY_PASSWORD": "sync-password-9c2f"}"#,
    )
    .unwrap();
    let output = setup.run(
        &[
            "secrets",
            "sync",
            "--env",
            "main",
            "--from-json",
            "secrets.json",
            "--only",
            "REGISTRY_AUTH",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        setup.secrets("main")["REGISTRY_AUTH"],
        json!({"REGISTRY_USERNAME": "sync-user-4e1a", "REGISTRY_PASSWORD": "sync-password-9c2f"})
    );
    setup.assert_no_value_leaked(&[&output]);
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let setup = Setup::new(ModalCli::New);
    fs::write(
        setup.project.path().join("bad.env"),
        "OPENAI_API_KEY=ok\nsync-hf-token-0b3e\n",
    )
    .unwrap();
    fs::write(
        setup.project.path().join("bad.json"),
        r#"{"HF_TOKEN": 12345}"#,
    )
    .unwrap();
    setup.emulator.clear_calls();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "secrets",
                "sync",
                "--env",
                "dev",
                "--from-dotenv",
                "bad.env",
            ],
            "ERR_SECRET_SOURCE\n\n  × bad.env: line 2: expected `KEY=value`\n  help: write one `KEY=value` per line (`export KEY=value`, `KEY=\"quoted\"` and\n        `# comments` work too)\n\n",
        ),
        (
            &["secrets", "sync", "--env", "dev", "--from-json", "bad.json"],
            "ERR_SECRET_SOURCE\n\n  × bad.json: the value of `HF_TOKEN` is not a string\n  help: write one JSON object whose values are strings: {\"KEY\": \"value\"}\n\n",
        ),
        (
            &["secrets", "sync", "--env", "dev", "--only", "HF_TOKN"],
            "ERR_UNDECLARED_SECRET\n\n  × `--only HF_TOKN` is not a secret of processors.toml (did you mean\n  │ `HF_TOKEN`?)\n  help: sync only secrets `[secrets]` of processors.toml declares (HF_TOKEN,\n        OPENAI_API_KEY, REGISTRY_AUTH), or declare it there with its keys\n\n",
        ),
        (
            &["secrets", "sync", "--env", "prod"],
            "ERR_UNKNOWN_ENVIRONMENT\n\n  × `--env prod` is not an environment of processors.toml\n  help: pass one of the environments [modal].environments lists: dev, main\n\n",
        ),
    ];
    for (arguments, expected) in cases {
        let output = setup.run(arguments, &VALUES);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{arguments:?}: {}",
            describe(&output)
        );
        assert_eq!(text(&output.stdout), "", "{arguments:?}");
        assert_eq!(text(&output.stderr), expected, "{arguments:?}");
    }
    assert_eq!(setup.emulator.rpcs(), Vec::<String>::new());
    assert_eq!(setup.recorder.argvs(), Vec::<Vec<String>>::new());
}

#[test]
fn under_github_actions_every_value_is_masked_before_anything_else() {
    let setup = Setup::new(ModalCli::New);
    let output = setup
        .modalplan()
        .args([
            "-vv",
            "secrets",
            "sync",
            "--env",
            "dev",
            "--only",
            "REGISTRY_AUTH",
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("REGISTRY_USERNAME", "sync-user-4e1a")
        .env("REGISTRY_PASSWORD", "sync-password-9c2f")
        .env_remove("RUST_LOG")
        .run();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = text(&output.stderr);
    // The credential mask of every command, then the values this sync read, before any other line.
    assert!(
        stderr.starts_with(
            "::add-mask::sync-password-9c2f\n::add-mask::sync-user-4e1a\n::add-mask::sync-password-9c2f\n"
        ),
        "{stderr}"
    );
    let rest = stderr.lines().skip(3).collect::<Vec<_>>().join("\n");
    assert!(!rest.contains("::add-mask::"), "{stderr}");
    assert!(
        !rest.contains("sync-password-9c2f") && !rest.contains("sync-user-4e1a"),
        "{stderr}"
    );
    assert_eq!(
        setup.secrets("dev")["REGISTRY_AUTH"],
        json!({"REGISTRY_USERNAME": "sync-user-4e1a", "REGISTRY_PASSWORD": "sync-password-9c2f"})
    );
}
