//! Changing Modal: deploy, call, rollback, stop.
//!
//! Values go to the CLI as single argv entries (`--env=E`, and `--` before positional names), so a value
//! that starts with `-` can never be read as an option; no shell ever sees them. The CLI's own output is
//! wrapped to the terminal width, so every action runs with a wide `COLUMNS` to keep Modal's messages on
//! one line.

use std::time::Duration;

use super::ModalCli;
use super::failure::{self, Printed, Said, modal_message, printed};
use super::helper::{self, Op};
use super::read;
use super::session::Resend;
use crate::backend::process::{ProcessOutput, ProcessSpec};
use crate::backend::{BackendError, CallRequest, DeployRequest, DeploymentRecord};

/// Time the call helper gets on top of the call's own timeout: Python start, SDK import, lookup.
const CALL_STARTUP_ALLOWANCE: Duration = Duration::from_secs(30);

fn action(cli: &ModalCli, arguments: &[&str]) -> ProcessSpec {
    let mut spec = cli.config.modal(arguments);
    spec.env.insert("COLUMNS".to_owned(), "400".to_owned());
    spec
}

/// `modal deploy -m <module> --env E --name APP --tag TAG` in the workdir, the request's variables
/// exported, output appended to the log file; then the new live deployment read back from the history.
pub async fn deploy(
    cli: &ModalCli,
    request: &DeployRequest,
) -> Result<DeploymentRecord, BackendError> {
    let environment = format!("--env={}", request.environment);
    let name = format!("--name={}", request.app_name);
    let tag = format!("--tag={}", request.tag);
    let mut spec = action(
        cli,
        &["deploy", &environment, &name, &tag, "-m", &request.module],
    );
    spec.env.extend(request.env.clone());
    spec.cwd = Some(request.workdir.clone());
    spec.timeout = request.timeout;
    let header = format!("$ {} (in {})\n", spec.display(), request.workdir.display());
    std::fs::write(&request.log_file, header).map_err(|error| BackendError::DeployFailed {
        environment: request.environment.clone(),
        app: request.app_name.clone(),
        message: format!(
            "could not write the log file {}: {error}",
            request.log_file.display()
        ),
        log: None,
    })?;
    let output = spec.run_logged(&request.log_file).await?;
    if !output.success() {
        return Err(reaching_modal(&output).unwrap_or_else(|| {
            BackendError::DeployFailed {
                environment: request.environment.clone(),
                app: request.app_name.clone(),
                message: modal_message(&output),
                log: Some(request.log_file.clone()),
            }
            .transient_if(&printed(&output))
        }));
    }
    let live = read::live_deployment(cli, &request.environment, &request.app_name).await?;
    match live {
        Some(live) if live.tag.as_deref() == Some(request.tag.as_str()) => Ok(live),
        other => Err(BackendError::UnexpectedOutput {
            command: spec.display(),
            reason: format!(
                "the deploy succeeded but the live deployment is {}, not one tagged {}",
                other.map_or_else(
                    || "absent".to_owned(),
                    |live| format!(
                        "v{} tagged {}",
                        live.version,
                        live.tag.as_deref().unwrap_or("(none)")
                    )
                ),
                request.tag
            ),
        }),
    }
}

/// Calls `function` of a deployed app through the SDK of the CLI's interpreter (the helper's call operation).
pub async fn call(
    cli: &ModalCli,
    request: &CallRequest,
) -> Result<serde_json::Value, BackendError> {
    let python = cli.config.python()?;
    let input = serde_json::json!({
        "environment": request.environment,
        "app": request.app_name,
        "function": request.function,
        "payload": request.payload,
        "timeout_s": request.timeout.as_secs().max(1),
    });
    let spec = helper::one_shot(
        cli,
        &python,
        Op::Call,
        &input,
        request.timeout + CALL_STARTUP_ALLOWANCE,
    );
    let command = format!("{}.{} (call)", request.app_name, request.function);
    // A call in mock mode (every smoke check's) answers the same however often it runs; any other may
    // have effects, and runs once at most.
    let resend = if request
        .payload
        .get("mode")
        .and_then(serde_json::Value::as_str)
        == Some("mock")
    {
        Resend::Safe
    } else {
        Resend::Never
    };
    let output = match super::session::run(cli, Op::Call, &spec, &input, resend).await {
        Ok(output) => output,
        Err(BackendError::Timeout { .. }) => {
            return Err(BackendError::Timeout {
                command,
                timeout: request.timeout,
            });
        }
        Err(error) => return Err(error),
    };
    let Some(result) = helper::reply(&output.stdout) else {
        return Err(BackendError::CommandFailed {
            command,
            exit_code: output.exit_code,
            stderr: modal_message(&output),
        });
    };
    let result: CallResult =
        serde_json::from_value(result).map_err(|error| BackendError::UnexpectedOutput {
            command: command.clone(),
            reason: error.to_string(),
        })?;
    if result.ok {
        return Ok(result.result);
    }
    Err(call_failure(request, command, &result.failure))
}

/// What a call's failure means: the app or the function missing, the function's own exception (the
/// smoke check failed), no answer in time, or a failure of Modal.
fn call_failure(request: &CallRequest, command: String, failure: &helper::Failure) -> BackendError {
    let described = format!(
        "{}: {}",
        failure.type_name.as_deref().unwrap_or_default(),
        failure.message
    );
    match failure.kind.as_str() {
        "not_found"
            if failure
                .message
                .contains(&format!("App '{}' not found", request.app_name)) =>
        {
            BackendError::AppNotFound {
                environment: request.environment.clone(),
                app: request.app_name.clone(),
            }
        }
        "not_found" => BackendError::FunctionNotFound {
            environment: request.environment.clone(),
            app: request.app_name.clone(),
            function: request.function.clone(),
        },
        "not_logged_in" => BackendError::NotLoggedIn { stderr: described },
        "unknown_environment" => BackendError::UnknownEnvironment {
            environment: request.environment.clone(),
        },
        "raised" => BackendError::SmokeFailed {
            environment: request.environment.clone(),
            app: request.app_name.clone(),
            message: described,
        },
        "timeout" => BackendError::Timeout {
            command,
            timeout: request.timeout,
        },
        _ => {
            // The helper names the gRPC status of a failure of Modal itself.
            let stderr = failure.with_status(&described);
            // The helper answered with the error: how it exited says nothing more.
            BackendError::CommandFailed {
                command,
                exit_code: None,
                stderr: stderr.clone(),
            }
            .transient_if(&stderr)
        }
    }
}

/// What the call helper answers.
#[derive(Debug, serde::Deserialize)]
struct CallResult {
    ok: bool,
    #[serde(default)]
    result: serde_json::Value,
    #[serde(flatten)]
    failure: helper::Failure,
}

/// `modal app rollback APP vN --env E`.
pub async fn rollback(
    cli: &ModalCli,
    environment: &str,
    app_name: &str,
    version: u32,
) -> Result<(), BackendError> {
    let environment_flag = format!("--env={environment}");
    let version = format!("v{version}");
    let spec = action(
        cli,
        &[
            "app",
            "rollback",
            &environment_flag,
            "--",
            app_name,
            &version,
        ],
    );
    let output = spec.run().await?;
    if output.success() {
        return Ok(());
    }
    Err(reaching_modal(&output).unwrap_or_else(|| {
        BackendError::CommandFailed {
            command: spec.display(),
            exit_code: output.exit_code,
            stderr: modal_message(&output),
        }
        .transient_if(&printed(&output))
    }))
}

/// `modal app stop APP -y --env E`; the 1.0 CLI has no `-y` (and does not ask), so it runs without
/// when the flag is refused. Stopping a stopped app is done already.
pub async fn stop(cli: &ModalCli, environment: &str, app_name: &str) -> Result<(), BackendError> {
    let environment_flag = format!("--env={environment}");
    let mut spec = action(
        cli,
        &["app", "stop", "-y", &environment_flag, "--", app_name],
    );
    let mut output = spec.run().await?;
    if !output.success() && output.stderr.contains("No such option: -y") {
        spec = action(cli, &["app", "stop", &environment_flag, "--", app_name]);
        output = spec.run().await?;
    }
    if output.success() {
        return Ok(());
    }
    Err(match failure::said(&output.stderr, Printed::Action) {
        Said::AlreadyStopped => return Ok(()),
        Said::NotFound => BackendError::AppNotFound {
            environment: environment.to_owned(),
            app: app_name.to_owned(),
        },
        _ => reaching_modal(&output).unwrap_or_else(|| {
            BackendError::CommandFailed {
                command: spec.display(),
                exit_code: output.exit_code,
                stderr: modal_message(&output),
            }
            .transient_if(&printed(&output))
        }),
    })
}

/// A failure that is about reaching Modal at all (not logged in, unknown environment), which is no
/// action's own failure.
fn reaching_modal(output: &ProcessOutput) -> Option<BackendError> {
    match failure::said(&printed(output), Printed::Action) {
        Said::NotLoggedIn => Some(BackendError::NotLoggedIn {
            stderr: modal_message(output),
        }),
        Said::UnknownEnvironment(environment) => Some(BackendError::UnknownEnvironment {
            environment: environment.unwrap_or_default(),
        }),
        _ => None,
    }
}
