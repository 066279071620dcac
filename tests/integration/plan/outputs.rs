//! Exit codes, the saved plan, and the Markdown of a prune.

use super::*;

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
