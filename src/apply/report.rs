//! What an apply did: one entry per action, each saying the exact state the app is left in.

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
