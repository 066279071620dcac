//! `modal app logs`, streamed line by line: what `modalplan logs` runs beyond the backend trait.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::CliConfig;
use super::failure::{self, Printed, Said, modal_message};
use crate::backend::BackendError;
use crate::backend::process::{ProcessOutput, ProcessSpec};

/// `modal app logs APP --env E`, with `-f` to keep streaming (the 1.6 CLI fetches and exits without it;
/// the 1.0 CLI always streams and has no `-f`).
pub fn logs_spec(
    config: &CliConfig,
    environment: &str,
    app_name: &str,
    follow: bool,
) -> ProcessSpec {
    let environment = format!("--env={environment}");
    let mut arguments = vec!["app", "logs", environment.as_str()];
    if follow {
        arguments.push("-f");
    }
    arguments.extend(["--", app_name]);
    let mut spec = config.modal(&arguments);
    spec.env.insert("COLUMNS".to_owned(), "400".to_owned());
    spec
}

/// Streams an app's logs to `line`, one call per line, until the CLI ends (or forever, when it follows).
pub async fn stream_logs(
    config: &CliConfig,
    environment: &str,
    app_name: &str,
    follow: bool,
    line: &mut (dyn FnMut(&str) + Send),
) -> Result<(), BackendError> {
    let spec = logs_spec(config, environment, app_name, follow);
    let output = stream(&spec, line).await?;
    if follow && !output.success() && output.stderr.contains("No such option: -f") {
        // The 1.0 CLI streams without being asked to.
        let spec = logs_spec(config, environment, app_name, false);
        let output = stream(&spec, line).await?;
        return finish(&spec, &output, environment, app_name);
    }
    finish(&spec, &output, environment, app_name)
}

fn finish(
    spec: &ProcessSpec,
    output: &ProcessOutput,
    environment: &str,
    app_name: &str,
) -> Result<(), BackendError> {
    if output.success() {
        return Ok(());
    }
    let message = modal_message(output);
    Err(match failure::said(&message, Printed::Action) {
        Said::NotLoggedIn => BackendError::NotLoggedIn { stderr: message },
        Said::UnknownEnvironment(_) => BackendError::UnknownEnvironment {
            environment: environment.to_owned(),
        },
        Said::NotFound => BackendError::AppNotFound {
            environment: environment.to_owned(),
            app: app_name.to_owned(),
        },
        Said::AlreadyStopped | Said::Other => BackendError::CommandFailed {
            command: spec.display(),
            exit_code: output.exit_code,
            stderr: message,
        },
    })
}

/// Runs `spec` with no time limit, handing each line of standard output to `line` as it comes;
/// standard error is kept for the error message.
async fn stream(
    spec: &ProcessSpec,
    line: &mut (dyn FnMut(&str) + Send),
) -> Result<ProcessOutput, BackendError> {
    let mut child = spec.spawn()?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let read_stderr = tokio::spawn(async move {
        let mut buffer = Vec::new();
        let _ = stderr.read_to_end(&mut buffer).await;
        String::from_utf8_lossy(&buffer).into_owned()
    });
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(text)) = lines.next_line().await {
        line(&text);
    }
    let status = child
        .wait()
        .await
        .map_err(|error| BackendError::CommandFailed {
            command: spec.display(),
            exit_code: None,
            stderr: error.to_string(),
        })?;
    Ok(ProcessOutput {
        exit_code: status.code(),
        stdout: String::new(),
        stderr: read_stderr.await.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;

    fn config() -> CliConfig {
        CliConfig {
            argv: vec!["modal".into()],
            python: None,
            env: BTreeMap::new(),
            read_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn logs_take_the_environment_and_name_as_single_values() {
        assert_eq!(
            logs_spec(&config(), "dev", "-odd", true).argv,
            ["modal", "app", "logs", "--env=dev", "-f", "--", "-odd"]
        );
        assert_eq!(
            logs_spec(&config(), "main", "llm-litellm-v1", false).argv,
            ["modal", "app", "logs", "--env=main", "--", "llm-litellm-v1"]
        );
    }
}
