//! Observing Modal: apps, their live deployments and secrets.
//!
//! A Python start costs about half a CPU-second, so a plan reads everything through ONE helper process
//! (the [helper](super::helper)'s observe operation) on the CLI's own interpreter, which makes the calls the CLI's `app list`,
//! `secret list` and `app history` make (and, for `plan` and `status`, `dict items` of the apply lock's Dict:
//! [`lock_read`]). When the helper does not fit the installed SDK (its internals
//! moved) or the interpreter cannot be found, the plan reads through the CLI itself, one process per call
//! with bounded concurrency. Both paths produce the same rows ([`cli_json`]) and so the same [`Observed`].
//! `MODALPLAN_OBSERVE=cli` (or `helper`) forces one path.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use serde::Deserialize;

use super::cli_json::{self, AppRow, HistoryRow};
use super::failure::{self, Printed, Said};
use super::helper::{self, Op};
use super::session::Resend;
use super::{ModalCli, lock_read, releases};
use crate::backend::lock::LockState;
use crate::backend::process::{ProcessOutput, ProcessSpec};
use crate::backend::releases::ReleasesState;
use crate::backend::{BackendError, DeploymentRecord, ObserveRequest, Observed};

/// Which way a plan reads Modal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPath {
    /// The helper, and the CLI when the helper does not fit.
    Auto,
    Helper,
    Cli,
}

impl ReadPath {
    /// From `MODALPLAN_OBSERVE` (`auto`, `helper`, `cli`); `auto` when unset.
    pub fn from_env() -> Self {
        match crate::settings::env::observe().as_deref() {
            Some("helper") => ReadPath::Helper,
            Some("cli") => ReadPath::Cli,
            _ => ReadPath::Auto,
        }
    }
}

pub async fn observe(cli: &ModalCli, request: &ObserveRequest) -> Result<Observed, BackendError> {
    observe_by(cli, request, ReadPath::from_env()).await
}

/// Observes through the given path.
pub async fn observe_by(
    cli: &ModalCli,
    request: &ObserveRequest,
    path: ReadPath,
) -> Result<Observed, BackendError> {
    if path == ReadPath::Cli {
        return observe_with_cli(cli, request).await;
    }
    match observe_with_helper(cli, request).await {
        Ok(observed) => Ok(observed),
        Err(HelperError::Modal(error)) => Err(error),
        Err(HelperError::DoesNotFit(reason)) if path == ReadPath::Auto => {
            tracing::debug!(
                "the observe helper cannot be used ({reason}); reading Modal through the CLI, one process per call"
            );
            observe_with_cli(cli, request).await
        }
        Err(HelperError::DoesNotFit(reason)) => Err(BackendError::UnexpectedOutput {
            command: crate::backend::OBSERVE_HELPER_COMMAND.into(),
            reason,
        }),
    }
}

enum HelperError {
    /// Modal answered with an error, or the call timed out: the CLI would fail the same way.
    Modal(BackendError),
    /// The helper cannot run or does not fit the SDK.
    DoesNotFit(String),
}

#[derive(Debug, Deserialize)]
struct HelperEnvironment {
    apps: Vec<AppRow>,
    secrets: Vec<String>,
    histories: BTreeMap<String, Vec<HistoryRow>>,
    #[serde(default)]
    lock: Option<lock_read::HelperLock>,
    #[serde(default)]
    releases: Option<releases::HelperReleases>,
}

#[derive(Debug, Deserialize)]
struct HelperReply {
    ok: bool,
    #[serde(default)]
    environments: BTreeMap<String, HelperEnvironment>,
    #[serde(flatten)]
    failure: helper::Failure,
}

async fn observe_with_helper(
    cli: &ModalCli,
    request: &ObserveRequest,
) -> Result<Observed, HelperError> {
    let python = cli
        .config
        .python()
        .map_err(|error| HelperError::DoesNotFit(error.to_string()))?;
    let input = serde_json::json!({
        "environments": request.environments,
        "locks": request.locks,
        "releases": request.releases,
        "orphans": request.orphans,
    });
    let spec = helper::one_shot(cli, &python, Op::Observe, &input, cli.config.read_timeout);
    let output = super::session::run_limited(cli, Op::Observe, &spec, &input, Resend::Safe).await;
    let output = match output {
        Ok(output) => output,
        Err(BackendError::Timeout { timeout, .. }) => {
            return Err(HelperError::Modal(BackendError::Timeout {
                command: format!("{} (observe helper)", python.display()),
                timeout,
            }));
        }
        Err(error) => return Err(HelperError::DoesNotFit(error.to_string())),
    };
    let mut reply: HelperReply = helper::reply(&output.stdout)
        .ok_or_else(|| "no reply".to_owned())
        .and_then(|reply| serde_json::from_value(reply).map_err(|error| error.to_string()))
        .map_err(|error| {
            HelperError::DoesNotFit(format!(
                "it exited {:?} without its JSON reply ({error}); stderr: {}",
                output.exit_code,
                output.stderr.trim()
            ))
        })?;
    if !reply.ok {
        return Err(helper_failure(reply.failure, &python.display().to_string()));
    }
    let mut observed = Observed::default();
    for environment in request.environments.keys() {
        let Some(rows) = reply.environments.remove(environment) else {
            return Err(HelperError::DoesNotFit(format!(
                "its reply has no environment `{environment}`"
            )));
        };
        let mut seen = cli_json::assemble(&rows.apps, &rows.secrets, &rows.histories);
        seen.lock = lock_read::from_helper(request.locks, rows.lock);
        seen.releases = releases::from_helper(request.releases, rows.releases);
        observed.environments.insert(environment.clone(), seen);
    }
    Ok(observed)
}

fn helper_failure(failure: helper::Failure, python: &str) -> HelperError {
    let environment = failure.environment.clone().unwrap_or_default();
    match (failure.kind.as_str(), failure.app.clone()) {
        ("not_logged_in", _) => HelperError::Modal(BackendError::NotLoggedIn {
            stderr: failure.message,
        }),
        ("unknown_environment", _) | ("not_found", None) => {
            HelperError::Modal(BackendError::UnknownEnvironment { environment })
        }
        ("not_found", Some(app)) => {
            HelperError::Modal(BackendError::AppNotFound { environment, app })
        }
        ("modal", _) => {
            // The helper names the gRPC status, which the message alone may not tell.
            let stderr = failure.with_status(&failure.message);
            HelperError::Modal(
                BackendError::CommandFailed {
                    command: format!("{python} (observe helper, environment `{environment}`)"),
                    exit_code: None,
                    stderr: stderr.clone(),
                }
                .transient_if(&stderr),
            )
        }
        _ => HelperError::DoesNotFit(failure.message),
    }
}

/// One `modal` call, with a permit, its failure read from its stderr.
async fn run_modal(cli: &ModalCli, arguments: &[&str]) -> Result<ProcessOutput, BackendError> {
    let spec = cli.config.modal(arguments);
    let output = cli.run_limited(&spec).await?;
    if output.success() {
        Ok(output)
    } else {
        Err(classify_failure(&spec, arguments, &output))
    }
}

/// The argument after `--env`, for messages.
fn environment_of(arguments: &[&str]) -> String {
    arguments
        .iter()
        .position(|arg| *arg == "--env")
        .and_then(|index| arguments.get(index + 1))
        .map(|env| (*env).to_owned())
        .unwrap_or_default()
}

/// What a failed `modal` read means, from what it printed ([`failure::said`]).
pub fn classify_failure(
    spec: &ProcessSpec,
    arguments: &[&str],
    output: &ProcessOutput,
) -> BackendError {
    let printed = failure::printed(output);
    let flat = failure::flatten(&printed);
    let environment = environment_of(arguments);
    match failure::said(&printed, Printed::Read) {
        Said::NotLoggedIn => BackendError::NotLoggedIn { stderr: flat },
        Said::UnknownEnvironment(_) => BackendError::UnknownEnvironment { environment },
        Said::NotFound if arguments.starts_with(&["app", "history"]) => BackendError::AppNotFound {
            environment,
            app: arguments
                .get(2)
                .map(|app| (*app).to_owned())
                .unwrap_or_default(),
        },
        _ => BackendError::CommandFailed {
            command: spec.display(),
            exit_code: output.exit_code,
            stderr: flat,
        }
        .transient_if(&printed),
    }
}

fn unexpected(arguments: &[&str], cli: &ModalCli, error: &cli_json::ShapeError) -> BackendError {
    BackendError::UnexpectedOutput {
        command: cli.config.modal(arguments).display(),
        reason: error.0.clone(),
    }
}

async fn app_list(cli: &ModalCli, environment: &str) -> Result<Vec<AppRow>, BackendError> {
    let arguments = ["app", "list", "--json", "--env", environment];
    let output = run_modal(cli, &arguments).await?;
    cli_json::parse_app_list(&output.stdout).map_err(|error| unexpected(&arguments, cli, &error))
}

async fn secret_list(cli: &ModalCli, environment: &str) -> Result<Vec<String>, BackendError> {
    let arguments = ["secret", "list", "--json", "--env", environment];
    let output = run_modal(cli, &arguments).await?;
    cli_json::parse_secret_list(&output.stdout).map_err(|error| unexpected(&arguments, cli, &error))
}

async fn history(
    cli: &ModalCli,
    environment: &str,
    app_name: &str,
) -> Result<Vec<HistoryRow>, BackendError> {
    let arguments = ["app", "history", app_name, "--json", "--env", environment];
    let output = run_modal(cli, &arguments).await?;
    cli_json::parse_history(&output.stdout).map_err(|error| unexpected(&arguments, cli, &error))
}

async fn observe_with_cli(
    cli: &ModalCli,
    request: &ObserveRequest,
) -> Result<Observed, BackendError> {
    let environments = request
        .environments
        .iter()
        .map(|(environment, wanted)| async move {
            let (apps, secrets, lock, recorded) = tokio::join!(
                app_list(cli, environment),
                secret_list(cli, environment),
                async {
                    if request.locks {
                        lock_read::read_with_cli(cli, environment).await
                    } else {
                        LockState::NotRead
                    }
                },
                async {
                    if request.releases {
                        releases::read_with_cli(cli, environment).await
                    } else {
                        ReleasesState::NotRead
                    }
                }
            );
            let (apps, secrets) = (apps?, secrets?);
            let mut names: Vec<&str> = apps
                .iter()
                .filter(|row| {
                    row.state == "deployed" && request.reads_history_of(wanted, &row.description)
                })
                .map(|row| row.description.as_str())
                .collect();
            names.sort_unstable();
            names.dedup();
            let histories =
                join_all(names.iter().map(|name| history(cli, environment, name))).await;
            let mut by_name = BTreeMap::new();
            for (name, rows) in names.iter().zip(histories) {
                by_name.insert((*name).to_owned(), rows?);
            }
            let mut seen = cli_json::assemble(&apps, &secrets, &by_name);
            seen.lock = lock;
            seen.releases = recorded;
            Ok::<_, BackendError>((environment.clone(), seen))
        });
    let mut observed = Observed::default();
    for result in join_all(environments).await {
        let (environment, seen) = result?;
        observed.environments.insert(environment, seen);
    }
    Ok(observed)
}

/// Every deployment of one app, oldest first, through `modal app history NAME --json --env E`; empty
/// when the app does not exist.
pub async fn full_history(
    cli: &ModalCli,
    environment: &str,
    app_name: &str,
) -> Result<Vec<DeploymentRecord>, BackendError> {
    match history(cli, environment, app_name).await {
        Ok(rows) => {
            let mut records: Vec<DeploymentRecord> = rows.iter().map(cli_json::record).collect();
            records.sort_by_key(|record| record.version);
            Ok(records)
        }
        Err(BackendError::AppNotFound { .. }) => Ok(Vec::new()),
        Err(error) => Err(error),
    }
}

/// The live deployment of one app, `None` when it does not exist or is stopped.
///
/// Read through [`read::observe`] for that one app (one helper process, like one `modal app history`)
/// because the history alone cannot say whether the app is stopped: the 1.6 CLI shows a stopped app's
/// history, so its last version would look live.
pub async fn live_deployment(
    cli: &ModalCli,
    environment: &str,
    app_name: &str,
) -> Result<Option<DeploymentRecord>, BackendError> {
    let request = ObserveRequest {
        releases: false,
        environments: BTreeMap::from([(
            environment.to_owned(),
            std::collections::BTreeSet::from([app_name.to_owned()]),
        )]),
        locks: false,
        orphans: None,
    };
    let observed = observe(cli, &request).await?;
    Ok(observed
        .environments
        .get(environment)
        .and_then(|listed| listed.apps.get(app_name))
        .filter(|app| app.state == crate::backend::AppState::Deployed)
        .and_then(|app| app.live.clone()))
}
