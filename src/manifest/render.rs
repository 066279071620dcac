//! Manifest diagnostics as text for people (miette), JSON for machines and GitHub workflow annotations.
//! These only build strings; [`crate::printer`] writes them.

use miette::{GraphicalReportHandler, GraphicalTheme};

use super::diagnostics::Diagnostic;

/// Width diagnostics are wrapped at, fixed so output does not depend on the terminal.
pub const WIDTH: usize = 100;

/// How human output looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Unicode box drawing and colour (stripped by the printer when colour is off).
    Terminal,
    /// ASCII, no colour: for logs, pipes and snapshots.
    Plain,
}

/// Each diagnostic rendered with its source line, label, code and help.
pub fn human(diagnostics: &[Diagnostic], style: Style) -> String {
    let theme = match style {
        Style::Terminal => GraphicalTheme::unicode(),
        Style::Plain => GraphicalTheme::none(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(WIDTH)
        .with_links(false);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let mut rendered = String::new();
        if handler.render_report(&mut rendered, diagnostic).is_err() {
            rendered = format!("{}: {}\n", diagnostic.code, diagnostic.message);
        }
        // miette pads lines it draws; trailing spaces only make snapshots and logs noisy.
        for line in rendered.lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// One JSON document: an array of diagnostics with their positions.
pub fn json(diagnostics: &[Diagnostic]) -> String {
    let entries: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|diagnostic| {
            let position = diagnostic.position();
            serde_json::json!({
                "code": diagnostic.code,
                "severity": diagnostic.severity,
                "message": diagnostic.message,
                "help": diagnostic.help,
                "file": diagnostic.file(),
                "line": position.map(|p| p.line),
                "column": position.map(|p| p.column),
                "end_line": position.map(|p| p.end_line),
                "end_column": position.map(|p| p.end_column),
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&entries).unwrap_or_else(|_| "[]".to_owned());
    text.push('\n');
    text
}
