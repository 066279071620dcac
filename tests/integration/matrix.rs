//! The version matrix: docs/compatibility.md's version table is checked against every 1.x CLI it lists
//! (each column observed by running that version against the emulator, which serves that version's
//! `modal_proto`), and the newest patch of every minor other than the two pinned ones (which run every
//! suite) goes through the cycle plan → apply → drift → rollback → prune → lock through the real CLI.

use std::fs;
use std::process::Output;

use serde_json::json;

use crate::apply::{LITELLM_GOOD, LITELLM_SMOKE_ERROR, Project, describe, processor, row, text};
use crate::support::emulator::{Emulator, ModalCli, repo_root, workspace_seed};

/// One row of docs/compatibility.md's version table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VersionRow {
    version: &'static str,
    read_path: String,
    json_keys: String,
    error_output: String,
    retries_app_list: String,
    stop_yes: String,
}

fn version_table() -> Vec<VersionRow> {
    let page = fs::read_to_string(repo_root().join("docs/compatibility.md")).expect("the page");
    let section = page
        .split("## Versions")
        .nth(1)
        .expect("a Versions section")
        .split("\n## ")
        .next()
        .unwrap_or_default()
        .to_owned();
    section
        .lines()
        .filter(|line| line.starts_with("| 1."))
        .map(|line| {
            let cells: Vec<String> = line.split('|').map(|cell| cell.trim().to_owned()).collect();
            VersionRow {
                version: Box::leak(cells[1].clone().into_boxed_str()),
                read_path: cells[2].clone(),
                json_keys: cells[3].clone(),
                error_output: cells[4].clone(),
                retries_app_list: cells[5].clone(),
                stop_yes: cells[6].clone(),
            }
        })
        .collect()
}

fn cli_of(version: &'static str) -> ModalCli {
    match version {
        "1.6.4" => ModalCli::New,
        "1.0.0" => ModalCli::Old,
        other => ModalCli::Minor(other),
    }
}

fn modal(emulator: &Emulator, arguments: &[&str]) -> Output {
    emulator
        .modal_command()
        .args(arguments)
        .output()
        .expect("run modal")
}

/// The version table's columns as this version behaves.
fn observed_row(version: &'static str, read_path: String) -> VersionRow {
    let emulator = Emulator::start(cli_of(version), &workspace_seed());
    let listed = text(&modal(&emulator, &["app", "list", "--json", "--env", "main"]).stdout);
    let json_keys = if listed.contains("\"App ID\"") {
        "column titles"
    } else if listed.contains("\"app_id\"") {
        "snake_case"
    } else {
        panic!("{version}: app list printed neither key set: {listed}")
    };

    emulator.add_fault(
        &json!({"rpc": "SecretList", "status": "PERMISSION_DENIED", "message": "no access"}),
    );
    let refused = text(&modal(&emulator, &["secret", "list", "--json", "--env", "main"]).stderr);
    let error_output = if refused.contains("╭─ Error: Permission denied ") {
        "box titled with the status"
    } else if refused.contains("╭─ Error ─") {
        "box titled `Error`"
    } else if refused.starts_with("Error: no access") {
        "`Error:` line"
    } else {
        panic!("{version}: an error printed as {refused:?}")
    };

    emulator.add_fault(&json!({"rpc": "AppList", "status": "UNAVAILABLE", "times": 1}));
    let retried = modal(&emulator, &["app", "list", "--json", "--env", "main"]);
    let retries_app_list = if retried.status.success() {
        "yes"
    } else {
        "no"
    };

    let stopped = modal(
        &emulator,
        &["app", "stop", "-y", "--env", "main", "nothing-here"],
    );
    let stop_yes = if text(&stopped.stderr).contains("No such option") {
        "refused"
    } else {
        "accepted"
    };
    VersionRow {
        version,
        read_path,
        json_keys: json_keys.to_owned(),
        error_output: error_output.to_owned(),
        retries_app_list: retries_app_list.to_owned(),
        stop_yes: stop_yes.to_owned(),
    }
}

#[test]
fn the_compatibility_table_is_what_each_cli_does() {
    let table = version_table();
    assert_eq!(
        table.iter().map(|row| row.version).collect::<Vec<_>>(),
        [
            "1.0.0", "1.0.5", "1.1.4", "1.2.6", "1.3.5", "1.4.3", "1.5.5", "1.6.4"
        ]
    );
    for row in table {
        // The read path is proven by the cycle below (and for 1.0.0 and 1.6.4 by plan.rs).
        assert_eq!(row.read_path, "helper", "{}", row.version);
        assert_eq!(observed_row(row.version, row.read_path.clone()), row);
    }
}

fn plan(project: &Project, path: &str) -> Output {
    project
        .command(&["-vv", "plan", "--no-registry-check", "--detailed-exitcode"])
        .env("MODALPLAN_OBSERVE", path)
        .output()
        .expect("run modalplan")
}

fn litellm(image: &str) -> String {
    processor("llm/litellm@1", image, &["OPENAI_API_KEY"])
}

fn cycle(version: &'static str) {
    let project = Project::new(ModalCli::Minor(version), &litellm(LITELLM_GOOD));

    // plan: the helper fits this SDK (forced, and chosen without falling back), and reads what the
    // CLI reads.
    let helper = plan(&project, "helper");
    assert_eq!(
        helper.status.code(),
        Some(2),
        "{version}: {}",
        describe(&helper)
    );
    let auto = plan(&project, "auto");
    assert!(
        !text(&auto.stderr).contains("the observe helper cannot be used"),
        "{version}: fell back to the CLI: {}",
        describe(&auto)
    );
    let cli = plan(&project, "cli");
    assert_eq!(cli.status.code(), Some(2), "{version}: {}", describe(&cli));
    assert_eq!(text(&helper.stdout), text(&cli.stdout), "{version}");
    assert_eq!(text(&auto.stdout), text(&cli.stdout), "{version}");

    // apply: deployed by this version's client, smoke-checked.
    let applied = project.apply(&[]);
    assert_eq!(
        applied.status.code(),
        Some(0),
        "{version}: {}",
        describe(&applied)
    );
    assert_eq!(
        row(&applied, "llm-litellm-v1"),
        "llm-litellm-v1 | main | deployed v3 | v3",
        "{version}: {}",
        describe(&applied)
    );
    assert!(
        project
            .emulator
            .calls()
            .iter()
            .any(|call| call["rpc"] == "AppPublish" && call["client_version"] == version),
        "{version}: the deploy ran another client"
    );
    let clean = plan(&project, "helper");
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{version}: {}",
        describe(&clean)
    );

    // drift: a person rolls back with this CLI; the plan sees it.
    let by_hand = modal(
        &project.emulator,
        &["app", "rollback", "--env", "main", "llm-litellm-v1", "v2"],
    );
    assert!(
        by_hand.status.success(),
        "{version}: {}",
        describe(&by_hand)
    );
    let drift = plan(&project, "helper");
    assert_eq!(
        drift.status.code(),
        Some(2),
        "{version}: {}",
        describe(&drift)
    );
    assert!(
        text(&drift.stdout).contains("  ~ llm-litellm-v1 (llm/litellm@1) will be updated\n"),
        "{version}: {}",
        describe(&drift)
    );

    // rollback and prune: a deploy whose smoke check fails is rolled back to v4 (live as v6), and
    // the orphan is stopped with this CLI's `app stop`.
    project.write_manifest(&litellm(LITELLM_SMOKE_ERROR));
    let failed = project.apply(&["--prune"]);
    assert_eq!(
        failed.status.code(),
        Some(1),
        "{version}: {}",
        describe(&failed)
    );
    assert_eq!(
        row(&failed, "llm-litellm-v1"),
        "llm-litellm-v1 | main | rolled back to v4 (live as v6) (ERR_SMOKE_FAILED) | v6",
        "{version}: {}",
        describe(&failed)
    );
    assert_eq!(
        row(&failed, "llm-oldtool-v1"),
        "llm-oldtool-v1 | main | stopped (pruned) | -",
        "{version}: {}",
        describe(&failed)
    );
    assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 6));
    assert_eq!(project.live("llm-oldtool-v1").0, "stopped");

    // lock: every apply took the apply lock through this SDK's Dict and gave it back.
    let state = project.emulator.state();
    let locks: Vec<_> = state["dicts"]
        .as_object()
        .map(|dicts| {
            dicts
                .values()
                .filter(|dict| dict["name"] == "modalplan-locks")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(locks.len(), 1, "{version}: {state}");
    assert_eq!(locks[0]["entries"], json!({}), "{version}: a lock was left");
}

#[test]
fn every_other_minor_goes_through_the_cycle() {
    for row in version_table() {
        if matches!(cli_of(row.version), ModalCli::Minor(_)) {
            cycle(row.version);
        }
    }
}
