//! The seam to Modal. The planner and apply see only [`ModalBackend`]; the real implementation runs the
//! `modal` CLI (and one Python helper on the CLI's interpreter), tests also use an in-memory fake.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use crate::codes::Code;

#[cfg(test)]
pub mod fake;
pub mod lock;
pub mod modal_cli;
mod orphan_names;
pub mod process;
pub mod releases;
pub mod retry;
pub mod secret_write;
pub mod transient;

pub use orphan_names::OrphanNames;
pub use secret_write::{SecretValue, SecretWrite};

/// The command named by an [`BackendError::UnexpectedOutput`] of the observe helper: only then does
/// reading through the CLI (`MODALPLAN_OBSERVE=cli`) help.
pub const OBSERVE_HELPER_COMMAND: &str = "the observe helper";

/// Why a call to Modal failed. Every variant maps to a stable code.
/// How a failed command ended, for a message: ` (exit 1)`, or nothing when it answered with an error
/// and did not exit (a helper's reply) or was killed by a signal.
pub fn exit_note(exit_code: Option<i32>) -> String {
    exit_code.map_or_else(String::new, |code| format!(" (exit {code})"))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("the modal CLI could not be run (`{program}`): {reason}")]
    CliMissing { program: String, reason: String },
    #[error("the modal CLI is not logged in or its token was refused: {stderr}")]
    NotLoggedIn { stderr: String },
    #[error("Modal has no environment `{environment}`")]
    UnknownEnvironment { environment: String },
    #[error("Modal has no app `{app}` in environment `{environment}`")]
    AppNotFound { environment: String, app: String },
    #[error("app `{app}` in environment `{environment}` has no function `{function}`")]
    FunctionNotFound {
        environment: String,
        app: String,
        function: String,
    },
    #[error("`{command}` did not finish within {}s", timeout.as_secs())]
    Timeout { command: String, timeout: Duration },
    #[error("`{command}` failed{}: {stderr}", exit_note(*exit_code))]
    CommandFailed {
        command: String,
        exit_code: Option<i32>,
        stderr: String,
    },
    #[error("`{command}` printed output modalplan cannot read: {reason}")]
    UnexpectedOutput { command: String, reason: String },
    #[error("deploy of `{app}` to `{environment}` failed: {message}")]
    DeployFailed {
        environment: String,
        app: String,
        message: String,
        /// The deploy's output, kept in this file.
        log: Option<PathBuf>,
    },
    #[error("smoke check of `{app}` in `{environment}` failed: {message}")]
    SmokeFailed {
        environment: String,
        app: String,
        message: String,
    },
    #[error("interrupted")]
    Interrupted,
    /// A failure that may pass if tried again ([`transient::transient_reason`]); the retrying layer
    /// ([`retry`]) tries again and, once its retries are used, returns `error` itself.
    #[error("{error}")]
    Transient {
        reason: String,
        error: Box<BackendError>,
    },
}

impl BackendError {
    pub fn code(&self) -> Code {
        match self {
            BackendError::CliMissing { .. }
            | BackendError::NotLoggedIn { .. }
            | BackendError::UnknownEnvironment { .. }
            | BackendError::CommandFailed { .. }
            | BackendError::UnexpectedOutput { .. } => Code::ErrModalCli,
            BackendError::AppNotFound { .. } => Code::ErrAppNotDeployed,
            BackendError::FunctionNotFound { .. } => Code::ErrFunctionNotFound,
            BackendError::Timeout { .. } => Code::ErrModalTimeout,
            BackendError::DeployFailed { .. } => Code::ErrDeployFailed,
            BackendError::SmokeFailed { .. } => Code::ErrSmokeFailed,
            BackendError::Interrupted => Code::ErrInterrupted,
            BackendError::Transient { error, .. } => error.code(),
        }
    }
}

impl BackendError {
    /// Marks `self` transient when what Modal printed (`output`) says so.
    #[must_use]
    pub fn transient_if(self, output: &str) -> BackendError {
        match transient::transient_reason(output) {
            Some(reason) => BackendError::Transient {
                reason: reason.to_owned(),
                error: Box::new(self),
            },
            None => self,
        }
    }

    /// What to do about it, for the diagnostic's help line.
    pub fn help(&self) -> String {
        match self {
            BackendError::CliMissing { .. } => "install the Modal CLI (`pip install modal`), or point `[modal].cli` or MODALPLAN_MODAL_BIN at it (and MODALPLAN_PYTHON at its interpreter if it is not a Python script)".into(),
            BackendError::NotLoggedIn { .. } => "run `modal token new`, or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET (in CI, from the repository's secrets)".into(),
            BackendError::UnknownEnvironment { environment } => format!(
                "create it (`modal environment create {environment}`), or remove it from `[modal].environments`"
            ),
            BackendError::AppNotFound { app, environment } => format!(
                "check the name with `modal app list --env {environment}`; `{app}` may have been stopped meanwhile"
            ),
            BackendError::FunctionNotFound { function, .. } => format!(
                "define `{function}` in the deployed module, or change the smoke function in the manifest"
            ),
            BackendError::Timeout { .. } => "Modal did not answer in time: retry, or raise `[modal].read_timeout`".into(),
            BackendError::CommandFailed { .. } => "run the command shown by hand to see the whole error".into(),
            BackendError::UnexpectedOutput { command, .. } if command == OBSERVE_HELPER_COMMAND => "this `modal` version prints something modalplan does not read: report it with the output of `modal --version`, or set MODALPLAN_OBSERVE=cli".into(),
            BackendError::UnexpectedOutput { .. } => "this `modal` version prints something modalplan does not read: report it with the output of `modal --version`".into(),
            BackendError::DeployFailed { log, .. } => match log {
                Some(log) => format!("read the deploy's output in {}", log.display()),
                None => "run the deploy by hand to see its output".into(),
            },
            BackendError::SmokeFailed { .. } => "call the smoke function by hand (`modalplan smoke`) and read the app's logs".into(),
            BackendError::Interrupted => "run it again".into(),
            BackendError::Transient { error, .. } => error.help(),
        }
    }
}

/// What to read from Modal for one plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObserveRequest {
    /// Environment → the app names whose deployment history is needed (managed apps).
    pub environments: BTreeMap<String, BTreeSet<String>>,
    /// Also read each environment's apply lock (for `plan` and `status`; apply takes it instead).
    pub locks: bool,
    /// Also read each environment's release records ([`releases::RELEASES_DICT`]).
    pub releases: bool,
    /// The orphan candidates' names: the history of every deployed app of this shape is read too, in
    /// every environment of the request. `None`: only the named apps'.
    pub orphans: Option<OrphanNames>,
}

impl ObserveRequest {
    /// True when the history of the deployed app `app_name` is read: it is one of `named` (the
    /// environment's entry), or an orphan candidate.
    pub fn reads_history_of(&self, named: &BTreeSet<String>, app_name: &str) -> bool {
        named.contains(app_name)
            || self
                .orphans
                .as_ref()
                .is_some_and(|orphans| orphans.matches(app_name))
    }
}

/// What is deployed, per environment.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Observed {
    pub environments: BTreeMap<String, ObservedEnvironment>,
}

/// One Modal environment as read.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ObservedEnvironment {
    /// Every app listed in the environment, by name (stopped apps included, with their state).
    pub apps: BTreeMap<String, ObservedApp>,
    /// Names of the secrets present.
    pub secrets: BTreeSet<String>,
    /// The environment's apply lock, when the request asked for it.
    #[serde(default)]
    pub lock: lock::LockState,
    /// The environment's release records, when the request asked for them.
    #[serde(default)]
    pub releases: releases::ReleasesState,
}

/// One app as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObservedApp {
    pub app_id: String,
    pub state: AppState,
    /// The live deployment, read from the app's history for the apps the request named and the orphan
    /// candidates of its shape.
    pub live: Option<DeploymentRecord>,
}

/// An app's state as Modal lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppState {
    Deployed,
    Stopped,
    /// Ephemeral, stopping, or a state a newer CLI added: kept as Modal printed it.
    Other(String),
}

/// One entry of an app's deployment history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeploymentRecord {
    pub version: u32,
    /// The deploy tag; `None` when the deployment had none.
    pub tag: Option<String>,
    pub deployed_at: Option<String>,
    pub deployed_by: Option<String>,
}

/// One `modal deploy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRequest {
    pub environment: String,
    pub app_name: String,
    pub tag: String,
    /// Folder to run the deploy in.
    pub workdir: PathBuf,
    pub module: String,
    /// Exported to the deploy: `PROCESSOR_REF`, `IMAGE_REF`, `TOOL_SECRETS`, `MODAL_ENVIRONMENT`,
    /// `MODAL_APP_NAME` and the runtime settings.
    pub env: BTreeMap<String, String>,
    /// Where the deploy's output is written.
    pub log_file: PathBuf,
    pub timeout: Duration,
}

/// A call of a deployed function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRequest {
    pub environment: String,
    pub app_name: String,
    pub function: String,
    pub payload: serde_json::Value,
    pub timeout: Duration,
}

/// Everything modalplan asks of Modal.
#[async_trait]
pub trait ModalBackend: Send + Sync {
    /// Apps, their live deployments and secrets, for every environment of the request, in as few
    /// processes as it can.
    async fn observe(&self, request: &ObserveRequest) -> Result<Observed, BackendError>;

    /// The live deployment of one app, `None` when it does not exist or is stopped; read right before a
    /// deploy to refuse one that another apply moved.
    async fn live_deployment(
        &self,
        environment: &str,
        app_name: &str,
    ) -> Result<Option<DeploymentRecord>, BackendError>;

    /// Runs one deploy; returns the live deployment it made.
    async fn deploy(&self, request: &DeployRequest) -> Result<DeploymentRecord, BackendError>;

    /// Calls a deployed function and returns what it returned.
    async fn call(&self, request: &CallRequest) -> Result<serde_json::Value, BackendError>;

    /// Makes `version` the live deployment again.
    async fn rollback(
        &self,
        environment: &str,
        app_name: &str,
        version: u32,
    ) -> Result<(), BackendError>;

    /// Stops an app.
    async fn stop(&self, environment: &str, app_name: &str) -> Result<(), BackendError>;

    /// Every deployment of one app, oldest first (empty when it does not exist).
    async fn history(
        &self,
        environment: &str,
        app_name: &str,
    ) -> Result<Vec<DeploymentRecord>, BackendError>;

    /// Appends a release record to its app's records in `environment` (keeping the newest
    /// [`releases::KEEP`]).
    async fn record_release(
        &self,
        environment: &str,
        record: &releases::ReleaseRecord,
    ) -> Result<(), BackendError>;

    /// Makes each named secret of `environment` hold exactly its keys and values (created, or replaced
    /// when it exists); one outcome per write, in order. Values never reach a command line.
    async fn write_secrets(
        &self,
        environment: &str,
        writes: &[SecretWrite],
    ) -> Result<Vec<Result<(), BackendError>>, BackendError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_helpers_unexpected_output_suggests_reading_through_the_cli() {
        let helper = BackendError::UnexpectedOutput {
            command: OBSERVE_HELPER_COMMAND.into(),
            reason: "its reply has no environment `main`".into(),
        };
        assert!(
            helper.help().ends_with("or set MODALPLAN_OBSERVE=cli"),
            "{}",
            helper.help()
        );
        let cli = BackendError::UnexpectedOutput {
            command: "modal app list --json --env main".into(),
            reason: "not JSON".into(),
        };
        assert!(!cli.help().contains("MODALPLAN_OBSERVE"), "{}", cli.help());
    }
}
