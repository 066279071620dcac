//! Promotion through the real `modal` CLI (both pinned versions) against the emulator: main only takes
//! what is live on staging, smoke-checked and soaked; `--skip-promotion-check` is loud and recorded;
//! `promote` writes staging's live pins into main's overrides. Time is `MODALPLAN_NOW`, never a sleep.

use std::fs;
use std::process::Output;

use serde_json::{Value, json};

use crate::apply::{LITELLM_GOOD, LITELLM_SMOKE_ERROR, Project, describe, row, text};
use crate::support::emulator::ModalCli;

const LITELLM_GOOD_2: &str = "ghcr.io/acme/theory/llm-litellm@sha256:2222222222222222222222222222222222222222222222222222222222222222";
const REPLICATE: &str = "ghcr.io/acme/theory/replicate-generic@sha256:3333333333333333333333333333333333333333333333333333333333333333";

/// The apply tests' seed, with `OPENAI_API_KEY` in staging too.
fn seed() -> Value {
    let mut seed = crate::apply::seed();
    seed["secrets"]["staging"]["OPENAI_API_KEY"] =
        json!({"OPENAI_API_KEY": "sk-staging-not-a-real-key"});
    seed
}

/// A manifest over dev, staging and main with this `[promotion]` table and these processors.
fn manifest(promotion: &str, processors: &str) -> String {
    format!(
        "version = 1\n\n[modal]\nmodule = \"modal_app\"\nworkdir = \"code\"\nenvironments = [\"dev\", \"staging\", \"main\"]\n\n{promotion}\n[smoke]\nfunction = \"smoke\"\npayload = {{ schema = \"v1\", mode = \"real\", params = {{}} }}\ntimeout = \"120s\"\n\n[secrets.REGISTRY_AUTH]\nkeys = [\"REGISTRY_USERNAME\", \"REGISTRY_PASSWORD\"]\n\n[secrets.OPENAI_API_KEY]\nkeys = [\"OPENAI_API_KEY\"]\n\n{processors}"
    )
}

fn litellm(image: &str) -> String {
    format!(
        "[[processor]]\nref = \"llm/litellm@1\"\nimage.oci = \"{image}\"\nsecrets.required = [\"OPENAI_API_KEY\"]\nruntime = {{ cpu = 1.0, memory_mb = 2048, timeout_s = 60 }}\n\n"
    )
}

fn generic() -> String {
    format!(
        "[[processor]]\nref = \"replicate/generic@1\"\nimage.oci = \"{REPLICATE}\"\nruntime = {{ cpu = 1.0, memory_mb = 2048, timeout_s = 60 }}\n\n"
    )
}

fn project(cli: ModalCli, manifest: &str) -> Project {
    let project = Project::with_seed(cli, "", &seed());
    fs::write(project.path().join("processors.toml"), manifest).expect("manifest");
    project
}

/// Runs modalplan with `MODALPLAN_NOW` set.
fn at(project: &Project, now: &str, arguments: &[&str]) -> Output {
    project
        .command(arguments)
        .env("MODALPLAN_NOW", now)
        .output()
        .expect("run modalplan")
}

fn apply_at(project: &Project, now: &str, extra: &[&str]) -> Output {
    let mut arguments = vec!["apply", "--yes", "--no-registry-check"];
    arguments.extend_from_slice(extra);
    at(project, now, &arguments)
}

/// `(state, version)` of an app in an environment.
fn live(project: &Project, environment: &str, name: &str) -> (String, u64) {
    let state = project.emulator.state();
    let apps: Vec<&Value> = state["apps"]
        .as_object()
        .expect("apps")
        .values()
        .filter(|app| app["environment"] == environment && app["name"] == name)
        .collect();
    let app = apps
        .iter()
        .find(|app| app["state"] != "stopped")
        .or_else(|| apps.last());
    app.map_or(("absent".into(), 0), |app| {
        (
            app["state"].as_str().unwrap_or("").to_owned(),
            app["current_version"].as_u64().unwrap_or(0),
        )
    })
}

/// The lines of `text` that start with `prefix` (trimmed), in order.
fn lines_with(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| line.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

const SOAKING: &str = "ERR_NOT_PROMOTED `llm-litellm-v1` is live on staging since 2026-12-03 14:02 UTC, soaks until 2026-12-03 14:32 UTC";
const GENERIC_NOT_ON_STAGING: &str = "ERR_NOT_PROMOTED `replicate-generic-v1` is not deployed to staging: main only takes what is live on staging";

#[test]
fn main_takes_only_what_staging_runs_smoke_checked_and_soaked_with_each_cli() {
    for cli in ModalCli::ALL {
        let project = project(
            cli,
            &manifest(
                "[promotion]\nsoak = \"30m\"\n",
                &(litellm(LITELLM_GOOD) + &generic()),
            ),
        );
        let output = apply_at(&project, "2026-12-03T13:00:00Z", &["--env", "dev"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        // staging takes litellm from dev (soaked since 13:30); generic is left out of staging.
        let output = apply_at(
            &project,
            "2026-12-03T14:02:00Z",
            &["--env", "staging", "--target", "llm/litellm@1"],
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            live(&project, "staging", "llm-litellm-v1"),
            ("deployed".into(), 1)
        );

        // 14:10: litellm soaks on staging until 14:32, generic is not there at all.
        let output = at(
            &project,
            "2026-12-03T14:10:00Z",
            &[
                "plan",
                "--no-registry-check",
                "--env",
                "main",
                "--detailed-exitcode",
            ],
        );
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        let stdout = text(&output.stdout);
        assert_eq!(
            lines_with(&stdout, "promotion:"),
            [
                "promotion: llm-litellm-v1 waits on staging: live on staging since 2026-12-03 14:02 UTC, soaks until 2026-12-03 14:32 UTC",
                "promotion: replicate-generic-v1 waits on staging: not deployed to staging",
            ],
            "{cli:?}"
        );
        assert_eq!(
            lines_with(&stdout, "ERR_"),
            [SOAKING, GENERIC_NOT_ON_STAGING],
            "{cli:?}"
        );
        assert_eq!(
            lines_with(&stdout, "fix:"),
            [
                "fix: wait until 2026-12-03 14:32 UTC ([promotion].soak), then run it again",
                "fix: modalplan apply --env staging --target replicate/generic@1",
            ],
            "{cli:?}"
        );
        assert!(
            stdout.contains("Plan: 0 to create, 0 to update, 0 to stop, 2 blocked.\n"),
            "{cli:?}: {stdout}"
        );
        project.emulator.clear_calls();
        let output = apply_at(&project, "2026-12-03T14:10:00Z", &["--env", "main"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-litellm-v1"),
            "llm-litellm-v1 | main | not started (ERR_NOT_PROMOTED) | -"
        );
        assert_eq!(project.rpc_count("AppPublish"), 0, "{cli:?}");
        assert_eq!(
            live(&project, "main", "llm-litellm-v1"),
            ("deployed".into(), 2)
        );

        // 14:33: litellm has soaked and goes ahead; generic is still held back.
        let output = apply_at(&project, "2026-12-03T14:33:00Z", &["--env", "main"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-litellm-v1"),
            "llm-litellm-v1 | main | deployed v3 | v3"
        );
        assert_eq!(
            row(&output, "replicate-generic-v1"),
            "replicate-generic-v1 | main | not started (ERR_NOT_PROMOTED) | -"
        );
        assert_eq!(
            lines_with(&text(&output.stdout), "ERR_NOT_PROMOTED:"),
            [
                "ERR_NOT_PROMOTED: `replicate-generic-v1` is not deployed to staging: main only takes what is live on staging"
            ],
            "{cli:?}"
        );
        assert_eq!(project.rpc_count("AppPublish"), 1, "{cli:?}");
        assert_eq!(
            live(&project, "main", "llm-litellm-v1"),
            ("deployed".into(), 3)
        );
        assert_eq!(
            live(&project, "main", "replicate-generic-v1").0,
            "stopped",
            "{cli:?}"
        );

        // --skip-promotion-check: loud, and recorded.
        let output = apply_at(
            &project,
            "2026-12-03T14:34:00Z",
            &["--env", "main", "--skip-promotion-check"],
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        let stderr = text(&output.stderr);
        assert!(
            stderr.starts_with("warning: --skip-promotion-check: changes that [promotion] holds back are planned and applied anyway; each one's release record says so\n"),
            "{cli:?}: {stderr}"
        );
        assert_eq!(
            lines_with(&stderr, "promotion:"),
            ["promotion: replicate-generic-v1 skips its wait on staging: not deployed to staging"],
            "{cli:?}"
        );
        assert_eq!(
            lines_with(&stderr, "ERR_NOT_PROMOTED"),
            [
                "ERR_NOT_PROMOTED promotion check skipped: `replicate-generic-v1` is not deployed to staging: main only takes what is live on staging"
            ],
            "{cli:?}"
        );
        assert_eq!(
            row(&output, "replicate-generic-v1"),
            "replicate-generic-v1 | main | deployed v1 | v1"
        );
        let output = at(
            &project,
            "2026-12-03T14:35:00Z",
            &[
                "history",
                "--env",
                "main",
                "--ref",
                "replicate/generic@1",
                "--format",
                "json",
            ],
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        let history: Value = serde_json::from_slice(&output.stdout).expect("history JSON");
        let record = &history["releases"][0]["record"];
        assert_eq!(
            record["promotion_skipped"], "not deployed to staging",
            "{cli:?}"
        );
        assert_eq!(record["at"], "2026-12-03T14:34:00Z", "{cli:?}");
        assert_eq!(
            history["releases"][0]["notes"],
            json!(["promotion check skipped: not deployed to staging"]),
            "{cli:?}"
        );
        // litellm's own record says nothing was skipped.
        let output = at(
            &project,
            "2026-12-03T14:35:00Z",
            &[
                "history",
                "--env",
                "main",
                "--ref",
                "llm/litellm@1",
                "--format",
                "json",
            ],
        );
        let history: Value = serde_json::from_slice(&output.stdout).expect("history JSON");
        assert_eq!(
            history["releases"][0]["record"]["promotion_skipped"],
            Value::Null,
            "{cli:?}"
        );
        assert_eq!(history["releases"][0]["version"], 3, "{cli:?}");

        // status: what main runs, and whether staging runs it.
        let output = at(
            &project,
            "2026-12-03T14:35:00Z",
            &["status", "--env", "main"],
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        let stdout = text(&output.stdout);
        let promotion: Vec<&str> = stdout
            .lines()
            .filter(|line| line.contains("-v1 "))
            .map(|line| line.split("matches").nth(1).unwrap_or("").trim())
            .collect();
        assert_eq!(
            promotion,
            [
                "promoted from staging (v1)",
                "not promoted: not deployed to staging"
            ],
            "{cli:?}: {stdout}"
        );
    }
}

#[test]
fn a_failed_smoke_check_on_staging_blocks_main_with_each_cli() {
    for cli in ModalCli::ALL {
        let project = project(
            cli,
            &manifest(
                "[promotion]\ngated = [\"main\"]\n",
                &litellm(LITELLM_SMOKE_ERROR),
            ),
        );
        let output = apply_at(&project, "2026-12-03T14:00:00Z", &["--env", "staging"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        let output = at(
            &project,
            "2026-12-03T15:00:00Z",
            &["plan", "--no-registry-check", "--env", "main"],
        );
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        let stdout = text(&output.stdout);
        assert_eq!(
            lines_with(&stdout, "ERR_"),
            [
                "ERR_NOT_PROMOTED this deployment of `llm-litellm-v1` failed its smoke check on staging at v1 (2026-12-03 14:00 UTC): smoke check `smoke` of `llm-litellm-v1` failed: mock adapter failed to load; fix it, then apply it to staging again"
            ],
            "{cli:?}: {stdout}"
        );
        project.emulator.clear_calls();
        let output = apply_at(&project, "2026-12-03T15:00:00Z", &["--env", "main"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(project.rpc_count("AppPublish"), 0, "{cli:?}");
        assert_eq!(
            live(&project, "main", "llm-litellm-v1"),
            ("deployed".into(), 2)
        );
    }
}

/// The promote test's manifest: main pins litellm's older image in its override, with comments
/// around it that must stay as they are.
fn promote_manifest() -> String {
    manifest(
        "# main only takes what staging ran\n[promotion]\ngated = [\"main\"]   # dev and staging take every merge\nsoak = \"30m\"\n",
        &(litellm(LITELLM_GOOD_2)
            + &format!(
                "# main runs what passed staging\n[processor.env.main]\nimage.oci = \"{LITELLM_GOOD}\"  # promoted by hand\n\n"
            )
            + &generic()),
    )
}

#[test]
fn promote_writes_stagings_live_pins_into_mains_overrides_with_each_cli() {
    for cli in ModalCli::ALL {
        let original = promote_manifest();
        let project = project(cli, &original);
        let manifest_path = project.path().join("processors.toml");
        let output = apply_at(&project, "2026-12-03T14:02:00Z", &["--env", "staging"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );

        // Soaking: nothing waits to be promoted yet.
        let promote = ["promote", "--from", "staging", "--to", "main"];
        let check = ["promote", "--from", "staging", "--to", "main", "--check"];
        let output = at(&project, "2026-12-03T14:10:00Z", &check);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            text(&output.stdout),
            "Promote from staging to main:\n  llm/litellm@1: held back: live on staging since 2026-12-03 14:02 UTC, soaks until 2026-12-03 14:32 UTC\n  replicate/generic@1: up to date (sha256:333333333333)\n\n0 wait to be promoted, 1 up to date, 1 held back; processors.toml is unchanged.\n",
            "{cli:?}"
        );
        // 14:40: soaked.
        let output = at(&project, "2026-12-03T14:40:00Z", &check);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            text(&output.stdout),
            "Promote from staging to main:\n  llm/litellm@1: sha256:111111111111 -> sha256:222222222222 (live on staging as v1)\n  replicate/generic@1: up to date (sha256:333333333333)\n\n1 waits to be promoted, 1 up to date, 0 held back; processors.toml is unchanged.\n",
            "{cli:?}"
        );
        assert_eq!(
            fs::read_to_string(&manifest_path).unwrap(),
            original,
            "{cli:?}"
        );

        // The write: one value changes, every other byte stays.
        let output = at(&project, "2026-12-03T14:40:00Z", &promote);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        let expected = original.replace(
            &format!("image.oci = \"{LITELLM_GOOD}\"  # promoted by hand"),
            &format!("image.oci = \"{LITELLM_GOOD_2}\"  # promoted by hand"),
        );
        assert_ne!(expected, original);
        assert_eq!(
            fs::read_to_string(&manifest_path).unwrap(),
            expected,
            "{cli:?}"
        );
        let stdout = text(&output.stdout);
        assert!(
            stdout.starts_with(&format!(
                "--- processors.toml\n+++ processors.toml\n@@ -31,3 +31,3 @@\n [processor.env.main]\n-image.oci = \"{LITELLM_GOOD}\"  # promoted by hand\n+image.oci = \"{LITELLM_GOOD_2}\"  # promoted by hand\n \n\n"
            )),
            "{cli:?}: {stdout}"
        );
        assert!(
            stdout
                .ends_with("\n1 promoted, 1 up to date, 0 held back; processors.toml rewritten.\n"),
            "{cli:?}: {stdout}"
        );

        // main's apply takes it: the gate finds it live, smoke-checked and soaked on staging.
        project.emulator.clear_calls();
        let output = apply_at(&project, "2026-12-03T14:41:00Z", &["--env", "main"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(project.rpc_count("AppPublish"), 2, "{cli:?}");
        assert_eq!(
            live(&project, "main", "llm-litellm-v1"),
            ("deployed".into(), 3)
        );
        let output = at(&project, "2026-12-03T14:42:00Z", &check);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            text(&output.stdout),
            "Promote from staging to main:\n  llm/litellm@1: up to date (sha256:222222222222)\n  replicate/generic@1: up to date (sha256:333333333333)\n\n0 wait to be promoted, 2 up to date, 0 held back; processors.toml is unchanged.\n",
            "{cli:?}"
        );
    }
}

#[test]
fn promote_refuses_environments_out_of_order_or_unknown_before_reading_modal() {
    let project = project(ModalCli::New, &promote_manifest());
    let output = project.run(&["promote", "--from", "main", "--to", "staging"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    // miette wraps the diagnostic to the terminal's width: compare without whitespace.
    let squeezed = |text: &str| -> String {
        text.replace(['│', '×'], "")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect()
    };
    let stderr = squeezed(&text(&output.stderr));
    assert!(stderr.starts_with("ERR_USAGE"), "{stderr}");
    assert!(
        stderr.contains(&squeezed("`--from main` does not come before `--to staging` in `[modal].environments` (dev, staging, main): promotion goes down the rollout order help: promote from an environment to one after it in `[modal].environments`: see `modalplan promote --help`")),
        "{stderr}"
    );
    let output = project.run(&["promote", "--from", "stagin", "--to", "main"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        squeezed(&text(&output.stderr)).contains(&squeezed(
            "ERR_UNKNOWN_ENVIRONMENT × `--from stagin` is not an environment of processors.toml (did you mean `staging`?)"
        )),
        "{}",
        describe(&output)
    );
    assert_eq!(project.emulator.rpcs(), Vec::<String>::new());
}
