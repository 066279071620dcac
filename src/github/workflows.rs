//! The example GitHub workflows, for `modalplan init` to write next to the manifest.

/// `(path relative to the repository, contents)` of each workflow.
pub const WORKFLOWS: &[(&str, &str)] = &[
    (
        ".github/workflows/modalplan-plan.yml",
        include_str!("../../examples/github/plan.yml"),
    ),
    (
        ".github/workflows/modalplan-apply.yml",
        include_str!("../../examples/github/apply.yml"),
    ),
    (
        ".github/workflows/modalplan-drift.yml",
        include_str!("../../examples/github/drift.yml"),
    ),
    (
        ".github/workflows/modalplan-pin.yml",
        include_str!("../../examples/github/pin.yml"),
    ),
    (
        ".github/workflows/modalplan-promote.yml",
        include_str!("../../examples/github/promote.yml"),
    ),
];

/// The GitHub Action at the repository's root, which the workflows use.
pub const ACTION: &str = include_str!("../../action.yml");

#[cfg(test)]
mod tests {
    use super::{ACTION, WORKFLOWS};

    fn workflow(name: &str) -> &'static str {
        WORKFLOWS
            .iter()
            .find(|(path, _)| path.ends_with(name))
            .map(|(_, text)| *text)
            .unwrap()
    }

    /// The default of an input of the action, as written in action.yml.
    fn action_default(input: &str) -> &'static str {
        let start = ACTION
            .find(&format!("\n  {input}:\n"))
            .unwrap_or_else(|| panic!("no input {input}"));
        let rest = &ACTION[start..];
        let line = rest
            .lines()
            .find(|line| line.starts_with("    default: "))
            .unwrap();
        line.trim_start_matches("    default: ").trim_matches('"')
    }

    #[test]
    fn the_action_installs_this_version_and_the_pinned_modal() {
        assert_eq!(
            action_default("modalplan-version"),
            env!("CARGO_PKG_VERSION")
        );
        let requirements = include_str!("../../tests/emulator/requirements-1.6.4.txt");
        assert!(requirements.contains("\nmodal==1.6.4\n"));
        assert_eq!(action_default("modal-version"), "1.6.4");
        assert!(ACTION.contains("\nruns:\n  using: composite\n"));
    }

    #[test]
    fn every_workflow_runs_this_release_of_the_action_with_the_pinned_modal() {
        let uses = format!("uses: modalplan/modalplan@v{}\n", env!("CARGO_PKG_VERSION"));
        for (path, text) in WORKFLOWS {
            assert!(
                text.contains(&uses),
                "{path} does not use the action v{}",
                env!("CARGO_PKG_VERSION")
            );
            assert_eq!(
                text.matches("uses: modalplan/modalplan@").count(),
                text.matches(&uses).count(),
                "{path}"
            );
            assert_eq!(
                text.matches("uses: modalplan/modalplan@").count(),
                text.matches("          modal-version: \"1.6.4\"\n").count(),
                "{path} runs the action without modal 1.6.4"
            );
            assert!(!text.contains("cargo install"), "{path}");
        }
    }

    #[test]
    fn the_plan_workflow_validates_then_comments_the_plan() {
        let plan = workflow("modalplan-plan.yml");
        assert!(plan.contains("\n  pull_request:\n"));
        assert!(plan.contains("pull-requests: write"));
        assert!(plan.contains(
            "      - name: Validate\n        uses: modalplan/modalplan@v0.1.0\n        with:\n          command: validate\n"
        ));
        assert!(plan.contains(
            "      - name: Plan\n        id: plan\n        uses: modalplan/modalplan@v0.1.0\n        with:\n          command: plan\n"
        ));
        assert_eq!(action_default("comment"), "true");
    }

    #[test]
    fn the_apply_workflow_never_cancels_an_apply_of_main() {
        let apply = workflow("modalplan-apply.yml");
        assert!(apply.contains("  push:\n    branches: [main]\n"));
        assert!(apply.contains(
            "    concurrency:\n      group: modalplan-apply-main\n      cancel-in-progress: false\n"
        ));
        assert!(apply.contains("  main:\n    needs: staging\n"));
        for environment in ["dev", "staging", "main"] {
            let sync = format!("run: modalplan secrets sync --env {environment}\n");
            let apply_step =
                format!("          command: apply\n          environment: {environment}\n");
            let (Some(sync), Some(apply_step)) = (apply.find(&sync), apply.find(&apply_step))
            else {
                panic!("{environment}: no sync or apply step");
            };
            assert!(
                sync < apply_step,
                "{environment}: secrets are synced before the apply"
            );
        }
    }

    #[test]
    fn the_pin_workflow_pins_after_a_build_into_one_pull_request() {
        let pin = workflow("modalplan-pin.yml");
        assert!(pin.contains("  workflow_run:\n    workflows: [\"images\"]"));
        assert!(pin.contains("modalplan pin --all --tag \"${TAG}\" > pin.txt || status=$?\n"));
        assert!(pin.contains("gh pr list --head \"${PIN_BRANCH}\" --state open"));
        assert!(pin.contains("run: modalplan pin --check\n"));
        // Triggered only by a build, a dispatch or the schedule: its own pull request never starts it.
        assert!(!pin.contains("  push:") && !pin.contains("  pull_request:"));
    }

    #[test]
    fn the_drift_workflow_opens_an_issue_on_exit_code_2() {
        let drift = workflow("modalplan-drift.yml");
        assert!(drift.contains("  schedule:\n"));
        assert!(drift.contains(
            "          command: plan\n          environment: main\n          modal-version: \"1.6.4\"\n          comment: \"false\"\n          output-file: plan.md\n"
        ));
        assert!(drift.contains("if: steps.plan.outputs.exitcode == '2'"));
        assert!(drift.contains("DRIFT_TITLE: Drift detected\n"));
        assert!(drift.contains("gh issue create --title \"${DRIFT_TITLE}\""));
    }

    #[test]
    fn the_promote_workflow_writes_mains_pins_only_when_something_waits() {
        let promote = workflow("modalplan-promote.yml");
        assert!(promote.contains("  schedule:\n"));
        assert!(
            promote.contains("modalplan promote --from staging --to main --check || status=$?\n")
        );
        assert!(promote.contains("if [ \"${status}\" -eq 2 ]; then\n"));
        assert!(promote.contains("if: steps.check.outputs.waiting == 'true'"));
        assert!(promote.contains("run: modalplan promote --from staging --to main > promote.txt"));
        assert!(promote.contains("gh pr list --head \"${PROMOTE_BRANCH}\" --state open"));
        assert!(!promote.contains("  push:") && !promote.contains("  pull_request:"));
    }
}
