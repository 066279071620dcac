//! Writing secrets through [`secrets_write.py`](secrets_write.py) on the CLI's interpreter: the values
//! travel on the helper's standard input, never on a command line (a process listing shows every argv
//! to every user of the machine), and no message that comes back can carry one (each is redacted).

use serde::Deserialize;

use super::ModalCli;
use crate::backend::process::ProcessSpec;
use crate::backend::{BackendError, SecretWrite};

/// The secrets writer, embedded in the binary.
pub const SECRETS_WRITE_HELPER: &str = include_str!("secrets_write.py");

/// How the helper is named in messages.
pub const SECRETS_WRITE_COMMAND: &str = "the secrets writer";

/// One line the helper prints.
#[derive(Debug, Deserialize)]
struct HelperLine {
    #[serde(default)]
    name: Option<String>,
    ok: bool,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    message: String,
}

/// Writes `writes` in `environment`: one outcome per write, in order.
pub async fn write_secrets(
    cli: &ModalCli,
    environment: &str,
    writes: &[SecretWrite],
) -> Result<Vec<Result<(), BackendError>>, BackendError> {
    if writes.is_empty() {
        return Ok(Vec::new());
    }
    let python = cli.config.python()?;
    let secrets: Vec<serde_json::Value> = writes
        .iter()
        .map(|write| {
            let values: serde_json::Map<String, serde_json::Value> = write
                .values
                .iter()
                .map(|(key, value)| (key.clone(), value.expose().into()))
                .collect();
            serde_json::json!({ "name": write.name, "values": values })
        })
        .collect();
    let input = serde_json::json!({ "environment": environment, "secrets": secrets });
    let spec = ProcessSpec {
        argv: vec![
            python.display().to_string(),
            "-c".to_owned(),
            SECRETS_WRITE_HELPER.to_owned(),
        ],
        env: cli.config.env.clone(),
        cwd: None,
        timeout: cli.config.read_timeout,
        stdin: Some(input.to_string().into_bytes()),
    };
    let output = cli.run_limited(&spec).await;
    let redact = |text: &str| {
        writes
            .iter()
            .fold(text.to_owned(), |text, write| write.redact(&text))
    };
    let output = match output {
        Ok(output) => output,
        Err(BackendError::Timeout { timeout, .. }) => {
            return Err(BackendError::Timeout {
                command: SECRETS_WRITE_COMMAND.into(),
                timeout,
            });
        }
        Err(error) => return Err(error),
    };
    let lines: Vec<HelperLine> = output
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    if let Some(failure) = lines.iter().find(|line| line.name.is_none() && !line.ok) {
        return Err(helper_error(
            environment,
            &failure.kind,
            redact(&failure.message),
        ));
    }
    writes
        .iter()
        .map(|write| {
            let line = lines
                .iter()
                .find(|line| line.name.as_deref() == Some(write.name.as_str()));
            match line {
                Some(HelperLine { ok: true, .. }) => Ok(Ok(())),
                Some(line) => Ok(Err(helper_error(
                    environment,
                    &line.kind,
                    redact(&line.message),
                ))),
                None => Err(BackendError::CommandFailed {
                    command: SECRETS_WRITE_COMMAND.into(),
                    exit_code: output.exit_code,
                    stderr: {
                        let stderr = redact(output.stderr.trim());
                        if stderr.is_empty() {
                            format!("it ended without an answer for `{}`", write.name)
                        } else {
                            stderr
                        }
                    },
                }),
            }
        })
        .collect()
}

fn helper_error(environment: &str, kind: &str, message: String) -> BackendError {
    match kind {
        "not_logged_in" => BackendError::NotLoggedIn { stderr: message },
        "unknown_environment" => BackendError::UnknownEnvironment {
            environment: environment.to_owned(),
        },
        "internal" => BackendError::UnexpectedOutput {
            command: SECRETS_WRITE_COMMAND.into(),
            reason: message,
        },
        _ => BackendError::CommandFailed {
            command: format!("{SECRETS_WRITE_COMMAND} (environment `{environment}`)"),
            exit_code: None,
            stderr: message,
        },
    }
}
