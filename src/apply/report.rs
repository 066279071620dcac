//! What an apply did: one entry per action, each saying the exact state the app is left in.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::backend::BackendError;
use crate::codes::Code;
use crate::exit::ExitStatus;
use crate::plan::ActionKind;

/// The result of one apply.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApplyReport {
    /// In plan order.
    pub apps: Vec<AppReport>,
    /// A Ctrl-C or SIGTERM arrived.
    pub interrupted: bool,
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
}

/// What happened to one app.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AppReport {
    pub environment: String,
    pub app_name: String,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// What the plan asked for.
    pub kind: ActionKind,
    /// The state the app is left in.
    pub outcome: Outcome,
    /// The cause first, then anything that went wrong while cleaning up (a rollback that failed).
    pub errors: Vec<AppError>,
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
}

/// The state an app is left in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Outcome {
    /// Deployed and smoke-checked: `version` is live.
    Deployed { version: u32 },
    /// Nothing to do: what was live stays live.
    Unchanged { version: Option<u32> },
    /// Stopped by `--prune`.
    Pruned,
    /// The change failed before anything reached Modal: `version` is still live (`None`: the app was
    /// not created).
    Kept { version: Option<u32> },
    /// The change failed and `to` is live again, as the new deployment `live`.
    RolledBack { to: u32, live: Option<u32> },
    /// A new app failed and was stopped.
    Stopped,
    /// The change failed and was left in place (`--no-rollback`, or the rollback failed); `version` is
    /// live (`None`: unknown or nothing live).
    LeftFailed { version: Option<u32> },
    /// Not started: after a failure with `--fail-fast`, after an interrupt, or refused because the app
    /// moved since the plan.
    NotStarted,
}

impl Outcome {
    /// How the summary names it.
    pub fn describe(&self) -> String {
        fn at(version: Option<u32>) -> String {
            version.map_or_else(
                || "nothing live".to_owned(),
                |version| format!("v{version}"),
            )
        }
        match *self {
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
}

/// One error met while applying an app.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppError {
    pub code: Code,
    pub message: String,
    /// The deploy log, when there is one.
    pub log: Option<PathBuf>,
    /// Its last lines.
    pub log_tail: Vec<String>,
}

impl AppError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            log: None,
            log_tail: Vec::new(),
        }
    }

    pub fn from_backend(error: &BackendError) -> Self {
        Self::new(error.code(), error.to_string())
    }
}

impl AppReport {
    /// True when this app did not end as asked.
    pub fn failed(&self) -> bool {
        !self.errors.is_empty()
    }
}

impl ApplyReport {
    pub fn failed(&self) -> usize {
        self.apps.iter().filter(|app| app.failed()).count()
    }

    /// 130 when interrupted, 1 when anything failed, 0 otherwise.
    pub fn exit_status(&self) -> ExitStatus {
        if self.interrupted {
            ExitStatus::Interrupted
        } else if self.failed() > 0 {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        }
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((duration.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// The summary as text: the table (app, env, outcome, version, duration), then each failure with its
/// code, message and log tail, then one line of counts.
pub fn render_text(report: &ApplyReport) -> String {
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
            app.outcome.describe()
        );
        for error in &app.errors {
            let _ = writeln!(out, "  {}: {}", error.code, error.message);
            if let Some(log) = &error.log {
                let _ = writeln!(out, "  log: {}", log.display());
            }
            for tail in &error.log_tail {
                let _ = writeln!(out, "  | {tail}");
            }
        }
    }
    out.push('\n');
    out.push_str(&summary_line(report));
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
    let described = app.outcome.describe();
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
pub fn render_markdown(report: &ApplyReport) -> String {
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
