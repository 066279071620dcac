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
