//! Writing secrets through the [helper](super::helper)'s `secrets_write` operation on the CLI's interpreter: the values
//! travel on the helper's standard input, never on a command line (a process listing shows every argv
//! to every user of the machine), and no message that comes back can carry one (each is redacted).

use serde::Deserialize;

use super::ModalCli;
use super::helper::{self, Op};
use crate::backend::{BackendError, SecretWrite};

/// How the helper is named in messages.
pub const SECRETS_WRITE_COMMAND: &str = "the secrets writer";

/// One reply of the helper.
#[derive(Debug, Deserialize)]
struct HelperLine {
    #[serde(default)]
    name: Option<String>,
    ok: bool,
    #[serde(flatten)]
    failure: helper::Failure,
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
    // The values travel in the request, on the helper's standard input.
    let spec = helper::one_shot(
        cli,
        &python,
        Op::SecretsWrite,
        &input,
        cli.config.read_timeout,
    );
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
    let lines: Vec<HelperLine> = helper::replies(&output.stdout)
        .into_iter()
        .filter_map(|reply| serde_json::from_value(reply).ok())
        .collect();
    if let Some(failure) = lines.iter().find(|line| line.name.is_none() && !line.ok) {
        return Err(helper_error(
            environment,
            &failure.failure.kind,
            redact(&failure.failure.message),
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
                    &line.failure.kind,
                    redact(&line.failure.message),
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
