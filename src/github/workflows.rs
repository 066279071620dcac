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
