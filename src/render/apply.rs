//! The words of an apply: each progress line, how an app ended, and the summary as text and as
//! Markdown (the job summary).

use std::fmt::Write as _;

use crate::apply::{AppReport, ApplyReport, Event, Outcome};
use crate::plan::ActionKind;

/// How an app ended, as the summary and the progress lines name it: `deployed v3`, `rolled back to v2`.
pub fn outcome(outcome: Outcome) -> String {
    fn at(version: Option<u32>) -> String {
        version.map_or_else(
            || "nothing live".to_owned(),
            |version| format!("v{version}"),
        )
    }
    match outcome {
        Outcome::Deployed { version } => format!("deployed v{version}"),
        Outcome::Unchanged {
            version: Some(version),
        }
        | Outcome::Kept {
            version: Some(version),
        } => format!("unchanged at v{version}"),
        Outcome::Unchanged { version: None } => "unchanged".to_owned(),
        Outcome::Pruned => "stopped (pruned)".to_owned(),
        Outcome::Kept { version: None } => "not created".to_owned(),
        Outcome::RolledBack {
            to,
            live: Some(live),
        } if live != to => {
            format!("rolled back to v{to} (live as v{live})")
        }
        Outcome::RolledBack { to, .. } => format!("rolled back to v{to}"),
        Outcome::Stopped => "stopped".to_owned(),
        Outcome::LeftFailed { version } => format!("left failed at {}", at(version)),
        Outcome::NotStarted => "not started".to_owned(),
    }
}

/// The progress line of an event: `main/llm-litellm-v1: deploying (log: ...)`.
pub fn event(event: &Event) -> String {
    let mut line = String::new();
    let _ = write_event(&mut line, event);
    line
}

fn write_event(f: &mut String, event: &Event) -> std::fmt::Result {
    match event {
        Event::Started {
            environment,
            app_name,
            kind,
        } => {
            let verb = match kind {
                ActionKind::Create => "creating",
                ActionKind::Update => "updating",
                ActionKind::Stop => "stopping (prune)",
                _ => "checking",
            };
            write!(f, "{environment}/{app_name}: {verb}")
        }
        Event::Deploying {
            environment,
            app_name,
            log,
        } => write!(
            f,
            "{environment}/{app_name}: deploying (log: {})",
            log.display()
        ),
        Event::SmokeChecking {
            environment,
            app_name,
            version,
        } => write!(f, "{environment}/{app_name}: smoke-checking v{version}"),
        Event::RollingBack {
            environment,
            app_name,
            to,
        } => write!(f, "{environment}/{app_name}: rolling back to v{to}"),
        Event::Stopping {
            environment,
            app_name,
        } => write!(f, "{environment}/{app_name}: stopping"),
        Event::Killed {
            environment,
            app_name,
        } => write!(
            f,
            "{environment}/{app_name}: grace period over, killed its running step"
        ),
        Event::Finished(app) => {
            write!(
                f,
                "{}/{}: {}",
                app.environment,
                app.app_name,
                outcome(app.outcome)
            )?;
            if let Some(error) = app.errors.first() {
                write!(f, " ({}: {})", error.code, error.message)?;
            }
            Ok(())
        }
        Event::Interrupted { grace_period } => write!(
            f,
            "interrupted: starting nothing new; running deploys get {}s to finish (a second Ctrl-C or SIGTERM stops them now)",
            grace_period.as_secs()
        ),
    }
}

/// The summary as text: the table (app, env, outcome, version, duration), then each failure with its
/// code, message and log tail, then one line of counts.
pub fn text(report: &ApplyReport) -> String {
    let headers = ["APP", "ENV", "OUTCOME", "VERSION", "DURATION"];
    let rows: Vec<[String; 5]> = report
        .apps
        .iter()
        .map(|app| {
            [
                app.app_name.clone(),
                app.environment.clone(),
                outcome_word(app),
                live_version(app.outcome).map_or_else(|| "-".to_owned(), |v| format!("v{v}")),
                format!("{:.1}s", app.duration.as_secs_f64()),
            ]
        })
        .collect();
    let table: Vec<Vec<String>> = std::iter::once(headers.map(str::to_owned).to_vec())
        .chain(rows.into_iter().map(|row| row.to_vec()))
        .collect();
    let mut out = crate::render::table::aligned("", &table);
    for app in report.apps.iter().filter(|app| app.failed()) {
        out.push('\n');
        let _ = writeln!(
            out,
            "{} ({}): {}",
            app.app_name,
            app.environment,
            outcome(app.outcome)
        );
        out.push_str(&errors(app));
    }
    out.push('\n');
    out.push_str(&summary_line(report));
    out
}

/// An app's errors, each with its code, its deploy log and the log's last lines, indented.
pub fn errors(app: &AppReport) -> String {
    let mut out = String::new();
    for error in &app.errors {
        let _ = writeln!(out, "  {}: {}", error.code, error.message);
        if let Some(log) = &error.log {
            let _ = writeln!(out, "  log: {}", log.display());
        }
        for tail in &error.log_tail {
            let _ = writeln!(out, "  | {tail}");
        }
    }
    out
}

/// `Apply finished: 2 deployed, 1 failed, 0 not started in 12.3s.`
pub fn summary_line(report: &ApplyReport) -> String {
    let count = |predicate: &dyn Fn(&AppReport) -> bool| {
        report.apps.iter().filter(|app| predicate(app)).count()
    };
    let deployed = count(&|app| matches!(app.outcome, Outcome::Deployed { .. }));
    let pruned = count(&|app| matches!(app.outcome, Outcome::Pruned));
    let unchanged = count(&|app| matches!(app.outcome, Outcome::Unchanged { .. }));
    let not_started = count(&|app| matches!(app.outcome, Outcome::NotStarted));
    let failed = report.failed();
    let verb = if report.interrupted {
        "Apply interrupted"
    } else if failed > 0 {
        "Apply failed"
    } else {
        "Apply complete"
    };
    let mut parts = vec![format!("{deployed} deployed")];
    if pruned > 0 {
        parts.push(format!("{pruned} pruned"));
    }
    parts.push(format!("{unchanged} unchanged"));
    parts.push(format!("{failed} failed"));
    if not_started > 0 {
        parts.push(format!("{not_started} not started"));
    }
    format!(
        "{verb}: {} in {:.1}s.\n",
        parts.join(", "),
        report.duration.as_secs_f64()
    )
}

fn outcome_word(app: &AppReport) -> String {
    let described = outcome(app.outcome);
    match app.errors.first() {
        Some(error) => format!("{described} ({})", error.code),
        None => described,
    }
}

/// The version live after the apply, when known.
fn live_version(outcome: Outcome) -> Option<u32> {
    match outcome {
        Outcome::Deployed { version } => Some(version),
        Outcome::Unchanged { version }
        | Outcome::Kept { version }
        | Outcome::LeftFailed { version } => version,
        Outcome::RolledBack { to, live } => live.or(Some(to)),
        Outcome::Pruned | Outcome::Stopped | Outcome::NotStarted => None,
    }
}

/// The summary as Markdown, for the GitHub step summary.
pub fn markdown(report: &ApplyReport) -> String {
    let mut out = String::from(
        "### modalplan apply\n\n| app | env | outcome | version | duration |\n|---|---|---|---|---|\n",
    );
    for app in &report.apps {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {:.1}s |",
            app.app_name,
            app.environment,
            outcome_word(app).replace('|', "\\|"),
            live_version(app.outcome).map_or_else(|| "-".to_owned(), |v| format!("v{v}")),
            app.duration.as_secs_f64()
        );
    }
    for app in report.apps.iter().filter(|app| app.failed()) {
        for error in &app.errors {
            let _ = writeln!(
                out,
                "\n- `{}` ({}): **{}** {}",
                app.app_name,
                app.environment,
                error.code,
                error.message.replace('\n', " ")
            );
        }
    }
    out.push('\n');
    out.push_str(&summary_line(report));
    out
}
