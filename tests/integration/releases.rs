//! The deployed code in the plan, release records, `history`, `rollback`, `destroy` and a deployment
//! that failed before: through the real `modal` CLI (both pinned versions) against the emulator.

use std::fs;

use serde_json::{Value, json};

use crate::apply::{LITELLM_GOOD, LITELLM_SMOKE_ERROR, Project, describe, processor, text};
use crate::support::emulator::{ModalCli, workspace_seed};
use crate::support::run::Run;

const LITELLM_GOOD_2: &str = "ghcr.io/acme/theory/llm-litellm@sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn plan(project: &Project, extra: &[&str]) -> Run {
    let mut arguments = vec!["plan", "--no-registry-check", "--detailed-exitcode"];
    arguments.extend_from_slice(extra);
    project.run(&arguments)
}

/// The lines of a text plan that say why llm-litellm-v1 changes (its block's lines before the diff).
fn reasons(output: &std::process::Output) -> Vec<String> {
    let stdout = text(&output.stdout);
    let mut lines = stdout
        .lines()
        .skip_while(|line| !line.contains(" llm-litellm-v1 (llm/litellm@1) "));
    assert!(
        lines.next().is_some(),
        "no block for llm-litellm-v1: {stdout}"
    );
    lines
        .take_while(|line| line.starts_with("      "))
        .map(str::trim)
        .take_while(|line| !line.starts_with("---") && !line.starts_with("ERR_"))
        .map(str::to_owned)
        .collect()
}

/// Text without whitespace or miette's frame: miette wraps diagnostics to the terminal's width.
fn squeezed(text: &str) -> String {
    text.replace(['│', '×'], "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// `history --format json` of llm-litellm-v1 in main: `(version, live, smoke, notes)`, newest first.
fn history(project: &Project) -> Vec<(u64, bool, Value, Vec<String>)> {
    let output = project.run(&[
        "history",
        "--env",
        "main",
        "--ref",
        "llm/litellm@1",
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let document: Value = serde_json::from_slice(&output.stdout).expect("history JSON");
    assert_eq!(document["app"], "llm-litellm-v1");
    document["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|release| {
            (
                release["version"].as_u64().unwrap(),
                release["live"].as_bool().unwrap(),
                release["smoke"].clone(),
                release["notes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|note| note.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn code_changes_are_planned_named_and_recorded_with_each_cli() {
    for cli in ModalCli::ALL {
        let project = Project::new(
            cli,
            &processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"]),
        );
        let code = project.dir.path().join("code");
        // A local module the deploy imports (locally only: the container has just modal_app.py).
        fs::write(code.join("helpers.py"), "GREETING = 'hello'\n").unwrap();
        let module = fs::read_to_string(code.join("modal_app.py")).unwrap();
        fs::write(
            code.join("modal_app.py"),
            format!(
                "{module}\ntry:\n    import helpers  # noqa: F401\nexcept ImportError:\n    pass\n"
            ),
        )
        .unwrap();

        // v2 was deployed outside modalplan: the plan says so, the apply deploys v3.
        let output = plan(&project, &[]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            reasons(&output),
            [
                "deployed outside modalplan (tag `mp-0123456789abcdef` is not a modalplan fingerprint)"
            ],
            "{cli:?}"
        );
        let output = project.apply(&[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        let output = plan(&project, &[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );

        // One line of the module: exit 2, the file named.
        let module = fs::read_to_string(code.join("modal_app.py")).unwrap();
        fs::write(
            code.join("modal_app.py"),
            format!("{module}# one more line\n"),
        )
        .unwrap();
        let output = plan(&project, &[]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(reasons(&output), ["code: modal_app.py changed"], "{cli:?}");
        let stdout = text(&output.stdout);
        assert!(
            stdout.contains("      -version = 3\n      +version = 4\n"),
            "{cli:?}: {stdout}"
        );
        assert!(
            stdout.contains("      -code    = modal_app.py "),
            "{cli:?}: {stdout}"
        );
        // Reverted: no change again.
        fs::write(code.join("modal_app.py"), &module).unwrap();
        assert_eq!(plan(&project, &[]).status.code(), Some(0), "{cli:?}");

        // The local module it imports.
        fs::write(code.join("helpers.py"), "GREETING = 'hi'\n").unwrap();
        let output = plan(&project, &[]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(reasons(&output), ["code: helpers.py changed"], "{cli:?}");
        fs::write(code.join("helpers.py"), "GREETING = 'hello'\n").unwrap();
        assert_eq!(plan(&project, &[]).status.code(), Some(0), "{cli:?}");

        // A digest change shows both whole digests in JSON, short in text.
        let manifest_path = project.dir.path().join("processors.toml");
        let manifest = fs::read_to_string(&manifest_path).unwrap();
        fs::write(
            &manifest_path,
            manifest.replace(LITELLM_GOOD, LITELLM_GOOD_2),
        )
        .unwrap();
        let output = plan(&project, &[]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            reasons(&output),
            ["image sha256:111111111111… → sha256:222222222222…"],
            "{cli:?}"
        );
        let output = plan(&project, &["--format", "json"]);
        let document: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(document["format_version"], 2);
        let action = document["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|action| action["app_name"] == "llm-litellm-v1")
            .unwrap();
        assert_eq!(
            action["reasons"],
            json!([{
                "kind": "image",
                "from": format!("sha256:{}", "1".repeat(64)),
                "to": format!("sha256:{}", "2".repeat(64)),
            }]),
            "{cli:?}"
        );
        let release = &action["before"]["release"];
        assert_eq!(release["version"], 3, "{cli:?}");
        assert_eq!(release["operation"], "deploy");
        assert_eq!(release["smoke"]["passed"], true);
        let files: Vec<&str> = release["deployment"]["code"]
            .as_array()
            .unwrap()
            .iter()
            .map(|file| file["path"].as_str().unwrap())
            .collect();
        assert_eq!(files, ["helpers.py", "modal_app.py"], "{cli:?}");

        // Deployed (v4), then rolled back by a person to v3 (live as v5), smoke-checked and recorded.
        let output = project.apply(&[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        let output = project.run(&["rollback", "--env", "main", "--ref", "llm/litellm@1"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            text(&output.stdout),
            "Rolled back `llm-litellm-v1` in `main` to v3 (live as v5).\nSmoke check passed.\nThe next plan shows `llm-litellm-v1` differing from processors.toml: revert the manifest's change to keep this version, or apply to deploy the manifest's again.\n",
            "{cli:?}"
        );
        assert_eq!(
            project.history("llm-litellm-v1").last().unwrap().2,
            3,
            "{cli:?}"
        );
        let passed = json!("passed");
        assert_eq!(
            history(&project),
            [
                (5, true, passed.clone(), vec!["rollback to v3".to_owned()]),
                (4, false, passed.clone(), vec!["rolled back".to_owned()]),
                (3, false, passed, vec![]),
                (
                    2,
                    false,
                    Value::Null,
                    vec!["deployed outside modalplan".to_owned()]
                ),
                (
                    1,
                    false,
                    Value::Null,
                    vec!["deployed outside modalplan".to_owned()]
                ),
            ],
            "{cli:?}"
        );
        // The next plan: the manifest's image again, and why.
        let output = plan(&project, &[]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            reasons(&output),
            ["image sha256:111111111111… → sha256:222222222222…"],
            "{cli:?}"
        );
    }
}

#[test]
fn a_deployment_that_failed_its_smoke_check_is_not_deployed_again_unless_retried_with_each_cli() {
    for cli in ModalCli::ALL {
        let project = Project::new(
            cli,
            &processor("llm/litellm@1", LITELLM_SMOKE_ERROR, &["OPENAI_API_KEY"]),
        );
        let output = project.apply(&[]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(project.rpc_count("AppPublish"), 1, "{cli:?}");
        // v3 failed and was rolled back to v2 (live as v4).
        let output = plan(&project, &[]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        let stdout = text(&output.stdout);
        assert!(
            stdout.contains("ERR_FAILED_BEFORE this deployment of `llm-litellm-v1` failed its smoke check on main at v3 ("),
            "{cli:?}: {stdout}"
        );
        assert!(
            stdout.contains(", in the last run) and was rolled back to v2: smoke check `smoke` of `llm-litellm-v1` failed: mock adapter failed to load\n"),
            "{cli:?}: {stdout}"
        );
        assert!(
            stdout.contains("fix: change the code or the image so it deploys something else, or deploy it again on purpose with `--retry-failed`"),
            "{cli:?}: {stdout}"
        );
        // apply refuses it and deploys nothing.
        let output = project.apply(&[]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(project.rpc_count("AppPublish"), 1, "{cli:?}");
        // On purpose: deployed again (and rolled back again).
        let output = project.apply(&["--retry-failed"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(project.rpc_count("AppPublish"), 2, "{cli:?}");
        assert_eq!(
            project.live("llm-litellm-v1"),
            ("deployed".into(), 6),
            "{cli:?}"
        );
        let failed = json!("failed");
        let rolled_back = vec!["rolled back".to_owned()];
        assert_eq!(
            history(&project),
            [
                // The retried apply planned from v4 (v2's contents) and rolled back to it.
                (6, true, Value::Null, vec!["rollback to v4".to_owned()]),
                (5, false, failed.clone(), rolled_back.clone()),
                (4, false, Value::Null, vec!["rollback to v2".to_owned()]),
                (3, false, failed, rolled_back),
                (
                    2,
                    false,
                    Value::Null,
                    vec!["deployed outside modalplan".to_owned()]
                ),
                (
                    1,
                    false,
                    Value::Null,
                    vec!["deployed outside modalplan".to_owned()]
                ),
            ],
            "{cli:?}"
        );
    }
}

#[test]
fn an_older_format_tag_and_destroy_with_each_cli() {
    for cli in ModalCli::ALL {
        let mut seed = workspace_seed();
        let main = seed["apps"]["main"].as_array_mut().unwrap();
        let litellm = main
            .iter_mut()
            .find(|app| app["name"] == "llm-litellm-v1")
            .unwrap();
        litellm["history"].as_array_mut().unwrap().push(json!({
            "version": 3, "tag": "mp1-111111111111-48048b-242bf5-80593f",
            "deployed_at": "2026-01-06T10:00:00Z", "deployed_by": "ci", "client_version": "1.0.0"
        }));
        litellm["current_version"] = json!(3);
        let project = Project::with_seed(
            cli,
            &processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"]),
            &seed,
        );
        let output = plan(&project, &[]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            reasons(&output),
            [
                "deployed by an older modalplan (fingerprint format changed: `mp1-111111111111-48048b-242bf5-80593f`)"
            ],
            "{cli:?}"
        );

        // destroy refuses a CI name without --yes, and stops it with.
        let refused = project.run(&[
            "destroy",
            "--env",
            "main",
            "--ref",
            "llm/litellm@1",
            "--app-name",
            "llm-litellm-v1",
        ]);
        assert_eq!(
            refused.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&refused)
        );
        assert!(
            squeezed(&text(&refused.stderr)).contains(&squeezed(
                "ERR_USAGE `llm-litellm-v1` is the CI app of llm/litellm@1 in `main`, not a sandbox: nothing was stopped"
            )),
            "{cli:?}: {}",
            describe(&refused)
        );
        assert_eq!(project.rpc_count("AppStop"), 0, "{cli:?}");
        let stopped = project.run(&[
            "destroy",
            "--env",
            "main",
            "--ref",
            "llm/litellm@1",
            "--app-name",
            "llm-litellm-v1",
            "--yes",
        ]);
        assert_eq!(
            stopped.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&stopped)
        );
        assert_eq!(
            text(&stopped.stdout),
            "Stopped `llm-litellm-v1` in `main` (v3 was live).\n",
            "{cli:?}"
        );
        assert_eq!(project.live("llm-litellm-v1").0, "stopped", "{cli:?}");
        // Again: nothing to stop.
        let again = project.run(&[
            "destroy",
            "--env",
            "main",
            "--ref",
            "llm/litellm@1",
            "--app-name",
            "llm-litellm-v1",
            "--yes",
        ]);
        assert_eq!(
            again.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&again)
        );
        assert_eq!(
            text(&again.stdout),
            "`llm-litellm-v1` is not deployed in `main`: nothing to stop.\n",
            "{cli:?}"
        );
    }
}
