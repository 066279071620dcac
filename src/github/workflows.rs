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
];

#[cfg(test)]
mod tests {
    use super::WORKFLOWS;

    fn workflow(name: &str) -> &'static str {
        WORKFLOWS
            .iter()
            .find(|(path, _)| path.ends_with(name))
            .map(|(_, text)| *text)
            .unwrap()
    }

    #[test]
    fn the_plan_workflow_validates_then_comments_the_plan() {
        let plan = workflow("modalplan-plan.yml");
        assert!(plan.contains("\n  pull_request:\n"));
        assert!(plan.contains("pull-requests: write"));
        assert!(plan.contains("run: modalplan validate --format github\n"));
        assert!(plan.contains(
            "modalplan plan --format markdown --github-comment --detailed-exitcode || status=$?\n"
        ));
    }

    #[test]
    fn the_apply_workflow_never_cancels_an_apply_of_main() {
        let apply = workflow("modalplan-apply.yml");
        assert!(apply.contains("  push:\n    branches: [main]\n"));
        assert!(apply.contains(
            "    concurrency:\n      group: modalplan-apply-main\n      cancel-in-progress: false\n"
        ));
        assert!(apply.contains("run: modalplan apply --env main --yes\n"));
        for environment in ["dev", "staging", "main"] {
            let sync = format!("run: modalplan secrets sync --env {environment}\n");
            let apply_step = format!("run: modalplan apply --env {environment} --yes\n");
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
        assert!(drift.contains("--detailed-exitcode > plan.md || status=$?"));
        assert!(drift.contains("if: steps.plan.outputs.exitcode == '2'"));
        assert!(drift.contains("DRIFT_TITLE: Drift detected\n"));
        assert!(drift.contains("gh issue create --title \"${DRIFT_TITLE}\""));
    }
}
