//! `--format json` and `--out plan.json`: the [`Plan`] itself, with its `format_version`
//! (`docs/plan-format.md`), and an `integrity` hash last.
//!
//! `integrity` is `sha256:` of the plan's canonical content (the compact JSON of the [`Plan`]), so
//! `modalplan apply` can refuse a plan file edited after it was written.

use sha2::{Digest, Sha256};

use crate::plan::Plan;

/// The key of the integrity hash.
pub const INTEGRITY_KEY: &str = "integrity";

/// `sha256:<hex>` of the plan's canonical content.
pub fn integrity(plan: &Plan) -> String {
    let canonical = serde_json::to_string(plan).expect("a plan always serializes");
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

/// The plan as pretty JSON with its integrity hash last, ending in a newline.
pub fn render(plan: &Plan) -> String {
    let mut document = serde_json::to_value(plan).expect("a plan always serializes");
    if let serde_json::Value::Object(fields) = &mut document {
        fields.insert(INTEGRITY_KEY.to_owned(), integrity(plan).into());
    }
    let mut text = serde_json::to_string_pretty(&document).expect("a plan always serializes");
    text.push('\n');
    text
}
