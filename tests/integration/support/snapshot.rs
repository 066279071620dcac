//! The one filter set of whole-output snapshots: what varies from run to run (temp paths, times,
//! durations, Modal's app ids, the client versions) is replaced by a placeholder, so that a snapshot holds
//! what a user sees and is the same for both pinned CLIs.
//!
//! ```ignore
//! let _filters = snapshot::filters().bind_to_scope();
//! insta::assert_snapshot!("apply_creates_and_updates", run.transcript());
//! ```
// Shared support: not every test module uses every helper.
#![allow(dead_code)]

use super::emulator::{ModalCli, repo_root};

/// `(regex, replacement)`, applied in order.
pub fn replacements() -> Vec<(String, &'static str)> {
    let temp = std::env::temp_dir();
    let temp = temp.to_string_lossy();
    let mut replacements = vec![
        (
            format!(r"{}/[^/\s]+", regex_escape(temp.trim_end_matches('/'))),
            "[TEMP]",
        ),
        (
            r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}| UTC)?"
                .to_owned(),
            "[TIME]",
        ),
        // "in 1.2s", "in 340ms", "after 2.01s": how long something took.
        (
            r"\b(in|after|took) \d+(\.\d+)?(ms|s|m)\b".to_owned(),
            "$1 [DURATION]",
        ),
        // The DURATION column of the apply summary, last on its line.
        (r"(?m)\b\d+\.\ds$".to_owned(), "[DURATION]"),
        (r"\bap-[A-Za-z0-9]{6,}\b".to_owned(), "[APP_ID]"),
        (
            format!(r"\bmodalplan {}\b", regex_escape(env!("CARGO_PKG_VERSION"))),
            "modalplan [VERSION]",
        ),
    ];
    for cli in ModalCli::ALL {
        replacements.push((
            format!(r"\bmodal {}\b", regex_escape(cli.version())),
            "modal [MODAL_VERSION]",
        ));
    }
    replacements
}

/// insta settings that keep snapshots in `tests/integration/snapshots/` (not beside a topic's folder),
/// without filters: for a snapshot named as it was before its test moved into a topic module.
pub fn shared_folder() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(repo_root().join("tests/integration/snapshots"));
    settings
}

/// insta settings with `replacements()` and the snapshots in `tests/integration/snapshots/`, wherever
/// the topic's file is.
pub fn filters() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(repo_root().join("tests/integration/snapshots"));
    for (regex, replacement) in replacements() {
        settings.add_filter(&regex, replacement);
    }
    settings
}

/// `text` as a regex that matches just it, for a test's own filter of a value it knows.
pub fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(character) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}
