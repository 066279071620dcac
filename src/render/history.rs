//! `modalplan history` for people: one row per version, newest first.

use comfy_table::presets::NOTHING;
use comfy_table::{ContentArrangement, Table};

use crate::history::History;

/// The releases as an aligned table, with a heading line.
pub fn text(history: &History) -> String {
    let mut out = format!(
        "{} in {} (newest first)\n",
        history.app, history.environment
    );
    if history.releases.is_empty() {
        out.push_str("  no deployment: the app does not exist in this environment\n");
        return out;
    }
    let mut table = Table::new();
    table
        .load_style(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(["VERSION", "WHEN", "WHO", "COMMIT", "IMAGE", "SMOKE", "NOTE"]);
    for release in &history.releases {
        let mut notes = release.notes.clone();
        if release.live {
            notes.insert(0, "live".to_owned());
        }
        let image = release.image.as_deref().map_or_else(
            || "-".to_owned(),
            |image| {
                let digest = image.rsplit_once('@').map_or(image, |(_, digest)| digest);
                format!("{}…", super::words::short_digest(digest))
            },
        );
        let commit = release
            .commit
            .as_deref()
            .map_or_else(|| "-".to_owned(), |commit| commit.chars().take(7).collect());
        table.add_row([
            format!("v{}", release.version),
            release
                .deployed_at
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
            release.by.clone().unwrap_or_else(|| "-".to_owned()),
            commit,
            image,
            release.smoke.unwrap_or("-").to_owned(),
            notes.join("; "),
        ]);
    }
    for line in table.to_string().lines() {
        out.push_str("  ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
