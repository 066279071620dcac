//! Changing Modal: deploy, call, rollback, stop.
//!
//! Values go to the CLI as single argv entries (`--env=E`, and `--` before positional names), so a value
//! that starts with `-` can never be read as an option; no shell ever sees them. The CLI's own output is
//! wrapped to the terminal width, so every action runs with a wide `COLUMNS` to keep Modal's messages on
//! one line.

use std::time::Duration;

use super::ModalCli;
use super::read;
use crate::backend::process::{ProcessOutput, ProcessSpec};
use crate::backend::{BackendError, CallRequest, DeployRequest, DeploymentRecord};

/// The call helper, run on the CLI's interpreter.
pub const CALL_HELPER: &str = include_str!("call.py");

/// Marks the helper's result line.
const RESULT_MARKER: &str = "MODALPLAN_RESULT ";

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
        return Err(classify_failure(&output, || {
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

/// Calls `function` of a deployed app through the SDK of the CLI's interpreter (`call.py`).
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
    let spec = ProcessSpec {
        argv: vec![
            python.display().to_string(),
            "-c".to_owned(),
            CALL_HELPER.to_owned(),
        ],
        env: cli.config.env.clone(),
        cwd: None,
        timeout: request.timeout + CALL_STARTUP_ALLOWANCE,
        stdin: Some(input.to_string().into_bytes()),
    };
    let command = format!("{}.{} (call)", request.app_name, request.function);
    let output = match super::session::run(cli, super::session::Op::Call, &spec, &input).await {
        Ok(output) => output,
        Err(BackendError::Timeout { .. }) => {
            return Err(BackendError::Timeout {
                command,
                timeout: request.timeout,
            });
        }
        Err(error) => return Err(error),
    };
    let Some(result) = output
        .stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(RESULT_MARKER))
    else {
        return Err(BackendError::CommandFailed {
            command,
            exit_code: output.exit_code,
            stderr: modal_message(&output),
        });
    };
    let result: CallResult =
        serde_json::from_str(result).map_err(|error| BackendError::UnexpectedOutput {
            command: command.clone(),
            reason: error.to_string(),
        })?;
    match result {
        CallResult {
            ok: true, result, ..
        } => Ok(result),
        CallResult {
            kind,
            kind_name,
            message,
            status,
            ..
        } => Err(match kind.as_str() {
            "not_found" if message.contains(&format!("App '{}' not found", request.app_name)) => {
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
            "raised" => BackendError::SmokeFailed {
                environment: request.environment.clone(),
                app: request.app_name.clone(),
                message: format!("{kind_name}: {message}"),
            },
            "timeout" => BackendError::Timeout {
                command,
                timeout: request.timeout,
            },
            _ => {
                // The helper names the gRPC status of a failure of Modal itself.
                let stderr = match status {
                    Some(status) => format!("{status}: {kind_name}: {message}"),
                    None => format!("{kind_name}: {message}"),
                };
                // The helper answered with the error: how it exited says nothing more.
                BackendError::CommandFailed {
                    command,
                    exit_code: None,
                    stderr: stderr.clone(),
                }
                .transient_if(&stderr)
            }
        }),
    }
}

/// What `call.py` prints.
#[derive(Debug, serde::Deserialize)]
struct CallResult {
    ok: bool,
    #[serde(default)]
    result: serde_json::Value,
    #[serde(default)]
    kind: String,
    #[serde(default, rename = "type")]
    kind_name: String,
    #[serde(default)]
    message: String,
    /// The gRPC status when Modal (not the function) failed the call.
    #[serde(default)]
    status: Option<String>,
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
    Err(classify_failure(&output, || {
        BackendError::CommandFailed {
            command: spec.display(),
            exit_code: output.exit_code,
            stderr: modal_message(&output),
        }
        .transient_if(&printed(&output))
    }))
}

/// Everything a command printed, for [`BackendError::transient_if`].
fn printed(output: &ProcessOutput) -> String {
    format!("{}\n{}", output.stderr, output.stdout)
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
    if output.success() || output.stderr.contains("App is already stopped") {
        return Ok(());
    }
    Err(classify_failure(&output, || {
        if output.stderr.contains("Could not find a deployed app") {
            BackendError::AppNotFound {
                environment: environment.to_owned(),
                app: app_name.to_owned(),
            }
        } else {
            BackendError::CommandFailed {
                command: spec.display(),
                exit_code: output.exit_code,
                stderr: modal_message(&output),
            }
            .transient_if(&printed(&output))
        }
    }))
}

/// A failure that is about reaching Modal at all (not logged in, unknown environment), or else the
/// action's own error.
fn classify_failure(
    output: &ProcessOutput,
    otherwise: impl FnOnce() -> BackendError,
) -> BackendError {
    let text = format!("{}\n{}", output.stderr, output.stdout);
    if text.contains("Token missing")
        || text.contains("UNAUTHENTICATED")
        || text.contains("Token ID is malformed")
        || text.contains("invalid token")
    {
        return BackendError::NotLoggedIn {
            stderr: modal_message(output),
        };
    }
    if let Some(environment) = unknown_environment(&text) {
        return BackendError::UnknownEnvironment { environment };
    }
    otherwise()
}

fn unknown_environment(text: &str) -> Option<String> {
    // "Environment 'x' not found" (both CLI versions, from the server).
    let start = text.find("Environment '")? + "Environment '".len();
    let rest = &text[start..];
    let end = rest.find('\'')?;
    rest[end..]
        .starts_with("' not found")
        .then(|| rest[..end].to_owned())
}

/// Modal's own message from a failed command's output: the error box or `Error:` lines of either CLI
/// version, the last line of a traceback, in one line.
pub fn modal_message(output: &ProcessOutput) -> String {
    let source = if output.stderr.trim().is_empty() {
        &output.stdout
    } else {
        &output.stderr
    };
    let text = without_teardown_noise(&strip_ansi(source));
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    if lines
        .iter()
        .any(|line| line.starts_with("Traceback (most recent call last)"))
    {
        if let Some(last) = lines.iter().rev().find(|line| !line.is_empty()) {
            return (*last).to_owned();
        }
    }
    let mut parts = Vec::new();
    for line in lines {
        let line = line
            .trim_start_matches(['│', '┃', '|'])
            .trim_end_matches(['│', '┃', '|'])
            .trim();
        let decoration = line
            .chars()
            .all(|c| matches!(c, '─' | '━' | '╭' | '╮' | '╰' | '╯' | ' ') || c == '╴');
        if line.is_empty()
            || decoration
            || line.starts_with("Usage:")
            || line.starts_with("Try '")
            || (line.starts_with('╭') && line.contains("Error"))
        {
            continue;
        }
        parts.push(
            line.strip_prefix("Error:")
                .unwrap_or(line)
                .trim()
                .to_owned(),
        );
    }
    let message = parts.join(" ");
    if message.is_empty() {
        format!("exit code {:?} with no output", output.exit_code)
    } else {
        message
    }
}

/// The text without what the Python interpreter prints while it shuts down, after the CLI's own error:
/// "Exception ignored in: ..." blocks (up to their exception line) and asyncio's "Loop <...> that
/// handles pid N is closed". The 1.0 CLI prints both when a deploy fails while its `git` subprocesses
/// are still running; read as the error, they would hide Modal's message.
fn without_teardown_noise(text: &str) -> String {
    let mut kept = Vec::new();
    let mut in_ignored_block = false;
    for line in text.lines() {
        if in_ignored_block {
            // The block ends with its exception line: the first one that is not indented and is not
            // the traceback's header.
            let frame = line.starts_with(' ') || line.starts_with('\t');
            if !frame && !line.starts_with("Traceback (most recent call last)") {
                in_ignored_block = false;
            }
            continue;
        }
        if line.trim_start().starts_with("Exception ignored in:") {
            in_ignored_block = true;
            continue;
        }
        let trimmed = line.trim();
        if trimmed.starts_with("Loop <") && trimmed.contains("that handles pid") {
            continue;
        }
        kept.push(line);
    }
    kept.join("\n")
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for next in chars.by_ref() {
                    if next.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(stderr: &str) -> ProcessOutput {
        ProcessOutput {
            exit_code: Some(1),
            stdout: String::new(),
            stderr: stderr.to_owned(),
        }
    }

    #[test]
    fn interpreter_teardown_noise_after_the_error_is_not_the_message() {
        // What the 1.0 CLI printed for a deploy to a missing environment, its `git` subprocesses still
        // running when it exited.
        let stderr = "╭─ Error: Not found ──────────────────╮\n│ Environment 'nope' not found         │\n╰──────────────────────────────────────╯\nLoop <_UnixSelectorEventLoop running=False closed=True debug=False> that handles pid 24120 is closed\nException ignored in: <function BaseSubprocessTransport.__del__ at 0x7ff86282e700>\nTraceback (most recent call last):\n  File \"/usr/lib/python3.11/asyncio/base_subprocess.py\", line 126, in __del__\n    self.close()\n  File \"/usr/lib/python3.11/asyncio/base_events.py\", line 519, in _check_closed\n    raise RuntimeError('Event loop is closed')\nRuntimeError: Event loop is closed\n";
        assert_eq!(
            modal_message(&failed(stderr)),
            "Environment 'nope' not found"
        );
    }

    #[test]
    fn reads_modal_messages_of_both_cli_versions() {
        assert_eq!(
            modal_message(&failed(
                "Error: Image build for im-X4Ov5 failed with the exception:\nFailed to pull image ghcr.io/acme/x@sha256:dead: manifest unknown\n"
            )),
            "Image build for im-X4Ov5 failed with the exception: Failed to pull image ghcr.io/acme/x@sha256:dead: manifest unknown"
        );
        assert_eq!(
            modal_message(&failed(
                "╭─ Error ──────────────────────────────────────────────────────────────────────╮\n│ Could not find a deployed app named 'llm-litellm-v1' in the 'dev'            │\n│ environment.                                                                 │\n╰──────────────────────────────────────────────────────────────────────────────╯\n"
            )),
            "Could not find a deployed app named 'llm-litellm-v1' in the 'dev' environment."
        );
        assert_eq!(
            modal_message(&failed(
                "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom\n"
            )),
            "ValueError: boom"
        );
        assert_eq!(
            modal_message(&failed(
                "\u{1b}[31mError: Secret 'NOPE' not found in environment 'staging'\u{1b}[0m\n"
            )),
            "Secret 'NOPE' not found in environment 'staging'"
        );
        assert_eq!(
            modal_message(&failed("")),
            "exit code Some(1) with no output"
        );
    }

    #[test]
    fn an_unknown_environment_and_a_missing_token_are_told_apart() {
        let output = failed("Error: Environment 'nope' not found\n");
        assert_eq!(
            classify_failure(&output, || BackendError::Interrupted),
            BackendError::UnknownEnvironment {
                environment: "nope".into()
            }
        );
        let output = failed("Error: Token missing. Could not authenticate client.\n");
        assert!(matches!(
            classify_failure(&output, || BackendError::Interrupted),
            BackendError::NotLoggedIn { .. }
        ));
        let output = failed("Error: Secret 'NOPE' not found in environment 'staging'\n");
        assert_eq!(
            classify_failure(&output, || BackendError::Interrupted),
            BackendError::Interrupted
        );
    }
}
