//! `modalplan validate` and `modalplan schema`.

use crate::error::Error;

use crate::cli::{DiagnosticFormat, ValidateArgs};
use crate::exit::ExitStatus;
use crate::manifest::render;
use crate::manifest::{self, Diagnostic, Severity};
use crate::printer;

pub fn run(args: &ValidateArgs) -> Result<ExitStatus, Error> {
    let path = &args.manifest.manifest;
    let (diagnostics, summary_counts) = match manifest::load(path) {
        Ok(loaded) => {
            let manifest = &loaded.manifest;
            let counts = Some((manifest.processors.len(), manifest.modal.environments.len()));
            (loaded.warnings, counts)
        }
        Err(errors) => (errors.diagnostics, None),
    };
    let errors = count(&diagnostics, Severity::Error);
    let warnings = count(&diagnostics, Severity::Warning);
    let failed = errors > 0 || (args.strict && warnings > 0);

    let file = path.display();
    let summary = match summary_counts {
        Some((processors, environments)) if !failed => format!(
            "{file}: valid ({}, {}{})\n",
            plural(processors, "processor"),
            plural(environments, "environment"),
            if warnings > 0 {
                format!(", {}", plural(warnings, "warning"))
            } else {
                String::new()
            }
        ),
        Some(_) => format!(
            "{file}: invalid with --strict ({})\n",
            plural(warnings, "warning")
        ),
        None => format!(
            "{file}: invalid ({}{})\n",
            plural(errors, "error"),
            if warnings > 0 {
                format!(", {}", plural(warnings, "warning"))
            } else {
                String::new()
            }
        ),
    };

    // Under GitHub Actions, annotations on the diff whatever the format (`github` already is them).
    if args.format != DiagnosticFormat::Github {
        printer::stderr(&crate::github::annotate::manifest_diagnostics(
            crate::settings::env::var,
            &diagnostics,
        ));
    }
    match args.format {
        DiagnosticFormat::Human => {
            if !diagnostics.is_empty() {
                printer::stderr(&render::human(
                    &diagnostics,
                    crate::settings::diagnostic_style(),
                ));
            }
            if failed {
                printer::stderr(&summary);
            } else {
                printer::stdout(&summary);
            }
        }
        DiagnosticFormat::Json => {
            printer::stdout(&render::json(&diagnostics));
            printer::stderr(&summary);
        }
        DiagnosticFormat::Github => {
            printer::stdout(&crate::github::annotate::github(&diagnostics));
            printer::stderr(&summary);
        }
    }
    Ok(if failed {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

pub fn schema() -> ExitStatus {
    printer::stdout(&manifest::schema::to_pretty_string());
    ExitStatus::Success
}

fn count(diagnostics: &[Diagnostic], severity: Severity) -> usize {
    diagnostics
        .iter()
        .filter(|d| d.severity == severity)
        .count()
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}
