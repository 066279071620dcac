//! `--format json` and `--out plan.json`: the [`Plan`] itself, with its `format_version`
//! (`docs/plan-format.md`).

use crate::plan::Plan;

/// The plan as pretty JSON, ending in a newline.
pub fn render(plan: &Plan) -> String {
    let mut text = serde_json::to_string_pretty(plan).expect("a plan always serializes");
    text.push('\n');
    text
}
