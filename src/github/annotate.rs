//! Annotations without flags: under GitHub Actions (`GITHUB_ACTIONS=true`), `validate`, `plan` and `apply`
//! write their errors and warnings as workflow commands too, so they show on the pull request's diff
//! whatever `--format` chose for the main output. They go to standard error (the runner reads workflow
//! commands from both streams), so `--format json > plan.json` stays clean.

use super::actions::{Annotation, Level, annotation_commands, is_github_actions};
use crate::manifest::{Diagnostic, Severity};
use crate::plan::model::{ActionKind, Plan};

/// The manifest's diagnostics as annotations, under GitHub Actions only.
pub fn manifest_diagnostics(
    lookup: impl Fn(&str) -> Option<String>,
    diagnostics: &[Diagnostic],
) -> String {
    if diagnostics.is_empty() || !is_github_actions(lookup) {
        return String::new();
    }
    github(diagnostics)
}

/// GitHub workflow commands (`::error file=F,line=L,col=C,title=CODE::message`), one a line, within
/// GitHub's cap of annotations per step (the GitHub module escapes and caps them).
pub fn github(diagnostics: &[Diagnostic]) -> String {
    let annotations: Vec<Annotation> = diagnostics
        .iter()
        .map(|diagnostic| {
            let level = match diagnostic.severity {
                Severity::Error => Level::Error,
                Severity::Warning => Level::Warning,
            };
            let mut message = diagnostic.message.clone();
            if let Some(help) = &diagnostic.help {
                message.push_str("\nhelp: ");
                message.push_str(help);
            }
            let mut annotation = Annotation::new(level, message).title(diagnostic.code.as_str());
            if let Some(file) = diagnostic.file() {
                annotation = annotation.file(file);
            }
            if let Some(position) = diagnostic.position() {
                annotation = annotation
                    .at(position.line, position.column)
                    .to(position.end_line, position.end_column);
            }
            annotation
        })
        .collect();
    annotation_commands(&annotations)
}

/// Each blocker of a plan as an error on the manifest, at the `ref` line of its processor when the
/// manifest's text has it (`manifest_text`), and each of its warnings as a warning on the manifest, under
/// GitHub Actions only.
pub fn plan_findings(
    lookup: impl Fn(&str) -> Option<String>,
    manifest_file: &str,
    manifest_text: Option<&str>,
    plan: &Plan,
) -> String {
    if !is_github_actions(lookup) {
        return String::new();
    }
    let mut annotations: Vec<Annotation> = plan
        .actions
        .iter()
        .filter(|action| action.kind == ActionKind::Blocked)
        .flat_map(|action| {
            let place = action
                .reference
                .as_deref()
                .and_then(|reference| manifest_text.and_then(|text| ref_line(text, reference)));
            action.blockers.iter().map(move |blocker| {
                let mut annotation = Annotation::new(
                    Level::Error,
                    format!("{}\nfix: {}", blocker.message, blocker.fix),
                )
                .file(manifest_file)
                .title(blocker.code.as_str());
                if let Some((line, column)) = place {
                    annotation = annotation.at(line, column);
                }
                annotation
            })
        })
        .collect();
    annotations.extend(plan.warnings.iter().map(|warning| {
        Annotation::new(
            Level::Warning,
            format!("{}\nfix: {}", warning.message, warning.fix),
        )
        .file(manifest_file)
        .title(warning.code.as_str())
    }));
    annotation_commands(&annotations)
}

/// The line and column (1-based) of `ref = "REFERENCE"` in a manifest's text.
fn ref_line(text: &str, reference: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(index, line)| {
        let column = line.find("ref")?;
        let rest = line[column + 3..]
            .trim_start()
            .strip_prefix('=')?
            .trim_start();
        let value = rest
            .strip_prefix('"')
            .and_then(|rest| rest.split('"').next())
            .or_else(|| {
                rest.strip_prefix('\'')
                    .and_then(|rest| rest.split('\'').next())
            })?;
        (line[..column].trim().is_empty() && value == reference).then_some((index + 1, column + 1))
    })
}

#[cfg(test)]
mod tests {
    use super::ref_line;

    #[test]
    fn finds_the_ref_line_of_a_processor() {
        let text =
            "version = 1\n\n[[processor]]\nref = \"a/b@1\"\n\n[[processor]]\n  ref='llm/x@2'\n";
        assert_eq!(ref_line(text, "a/b@1"), Some((4, 1)));
        assert_eq!(ref_line(text, "llm/x@2"), Some((7, 3)));
        assert_eq!(ref_line(text, "a/b@2"), None);
        assert_eq!(ref_line("# ref = \"a/b@1\"\n", "a/b@1"), None);
    }
}
