//! The version matrix: the newest patch of every other 1.x minor (docs/compatibility.md's version table)
//! plans through the helper and through the CLI alike, applies, and then finds no changes, against the
//! emulator running that version's `modal_proto`.

use std::fs;
use std::process::Output;

use crate::apply::{LITELLM_GOOD, Project, describe, processor, row, text};
use crate::support::emulator::{ModalCli, repo_root};

/// `(version, read path)` rows of docs/compatibility.md's version table.
fn versions() -> Vec<(&'static str, String)> {
    let page = fs::read_to_string(repo_root().join("docs/compatibility.md")).expect("the page");
    let table = page
        .split("## Versions")
        .nth(1)
        .expect("a Versions section")
        .split("\n## ")
        .next()
        .unwrap_or_default()
        .to_owned();
    table
        .lines()
        .filter(|line| line.starts_with("| 1."))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let version: &'static str = Box::leak(cells[1].to_owned().into_boxed_str());
            (version, cells[2].to_owned())
        })
        .collect()
}

fn plan(project: &Project, path: &str) -> Output {
    project
        .command(&["plan", "--no-registry-check", "--detailed-exitcode"])
        .env("MODALPLAN_OBSERVE", path)
        .output()
        .expect("run modalplan")
}

#[test]
fn every_minor_plans_through_its_read_path_applies_and_then_finds_no_changes() {
    let versions = versions();
    assert_eq!(
        versions
            .iter()
            .map(|(version, _)| *version)
            .collect::<Vec<_>>(),
        ["1.0.5", "1.1.4", "1.2.6", "1.3.5", "1.4.3", "1.5.5"]
    );
    for (version, path) in versions {
        assert_eq!(
            path, "helper",
            "{version}: the table names a read path this test does not know"
        );
        let project = Project::new(
            ModalCli::Minor(version),
            &processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"]),
        );
        let helper = plan(&project, "helper");
        assert_eq!(
            helper.status.code(),
            Some(2),
            "{version}: {}",
            describe(&helper)
        );
        let cli = plan(&project, "cli");
        assert_eq!(cli.status.code(), Some(2), "{version}: {}", describe(&cli));
        assert_eq!(text(&helper.stdout), text(&cli.stdout), "{version}");
        assert!(
            text(&helper.stdout).contains("  ~ llm-litellm-v1 (llm/litellm@1) will be updated\n"),
            "{version}: {}",
            describe(&helper)
        );

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
        let calls = project.emulator.calls();
        assert!(
            calls
                .iter()
                .any(|call| call["rpc"] == "AppPublish" && call["client_version"] == version),
            "{version}: the deploy ran another client"
        );

        let drift = plan(&project, "helper");
        assert_eq!(
            drift.status.code(),
            Some(0),
            "{version}: {}",
            describe(&drift)
        );
    }
}
