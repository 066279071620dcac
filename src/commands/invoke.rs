//! `modalplan invoke`: calls a deployed processor with a payload and prints its result as JSON.

use std::time::Duration;

use super::context::Context;
use crate::error::Error;
use serde_json::Value;

use super::target::{self, NameChoice};
use crate::backend::{BackendError, CallRequest, ModalBackend};
use crate::cli::{InvokeArgs, Mode};
use crate::exit::ExitStatus;
use crate::manifest::valid::Processor;
use crate::naming::AppName;
use crate::printer;

pub async fn run(args: &InvokeArgs) -> Result<ExitStatus, Error> {
    let mut payload = parse_payload(&args.payload_json)?;
    if let Some(mode) = args.mode {
        payload.insert("mode".to_owned(), Value::from(mode_name(mode)));
    }
    let real = payload.get("mode").and_then(Value::as_str) == Some("real");
    if real && crate::settings::env::in_ci() && !args.allow_real_in_ci {
        return Err(Error::RealModeInCi);
    }

    let target = &args.target;
    let context = Context::load(&target.manifest.manifest)?;
    let manifest = &context.manifest;
    target::check_environment(manifest, &target.environment)?;
    let processor = target::find_processor(manifest, &target.reference)?;
    let deployment = target::deployment(processor, &target.environment)?;
    let choice = if args.ci_name {
        NameChoice::Ci
    } else {
        NameChoice::Sandbox
    };
    let app_name = target::app_name(processor, choice, target.app_name.as_deref()).await?;
    let backend = context.backend();

    if real {
        let present = target::secrets_present(backend.as_ref(), &target.environment)
            .await
            .map_err(Error::backend)?;
        let missing: Vec<&String> = deployment
            .secrets_required
            .iter()
            .filter(|name| !present.contains(*name))
            .collect();
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|name| name.as_str()).collect();
            let fixes: Vec<String> = missing
                .iter()
                .map(|name| manifest.secret_create_command(name, &target.environment))
                .collect();
            return Err(Error::SecretsMissingForRealMode {
                reference: processor.reference.to_string(),
                environment: target.environment.clone(),
                names: names.iter().map(|name| (*name).to_owned()).collect(),
                fixes,
            });
        }
    }

    let timeout = match &args.timeout {
        Some(text) => {
            crate::manifest::duration::parse(text).ok_or_else(|| Error::InvalidTimeout {
                given: text.clone(),
            })?
        }
        None => default_timeout(deployment),
    };
    let request = CallRequest {
        environment: target.environment.clone(),
        app_name: app_name.to_string(),
        function: args.function.clone(),
        payload: Value::Object(payload),
        timeout,
    };
    let result = backend
        .call(&request)
        .await
        .map_err(|error| call_error(&error, args, processor, &app_name, timeout))?;
    let pretty = serde_json::to_string_pretty(&result).unwrap_or_else(|_| result.to_string());
    printer::stdout(&format!("{pretty}\n"));
    if let Some(message) = crate::smoke::envelope_error(&result) {
        printer::stderr(&format!(
            "error: `{app_name}.{}` answered with status `{}`: {message}\n",
            args.function,
            result
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ));
        return Ok(ExitStatus::Failure);
    }
    Ok(ExitStatus::Success)
}

/// The error of a failed call, in the words of `invoke`: what to deploy, the function that is missing,
/// the logs to read.
fn call_error(
    error: &BackendError,
    args: &InvokeArgs,
    processor: &Processor,
    app_name: &AppName,
    timeout: Duration,
) -> Error {
    let target = &args.target;
    let deploy = deploy_command(
        &target.environment,
        processor.reference.as_str(),
        target.app_name.as_deref(),
        args.ci_name,
    );
    match error {
        BackendError::AppNotFound { .. } => Error::AppNotDeployed {
            app: app_name.to_string(),
            environment: target.environment.clone(),
            deploy,
        },
        BackendError::FunctionNotFound { .. } => Error::FunctionNotFound {
            app: app_name.to_string(),
            environment: target.environment.clone(),
            function: args.function.clone(),
            deploy,
        },
        BackendError::Timeout { .. } => Error::CallTimedOut {
            app: app_name.to_string(),
            function: args.function.clone(),
            environment: target.environment.clone(),
            after: describe(timeout),
            logs: format!(
                "modalplan logs --env {} --ref {}{}",
                target.environment,
                processor.reference,
                name_flags(target.app_name.as_deref(), args.ci_name)
            ),
        },
        // The call helper reports an exception the function raised as a failed smoke check.
        BackendError::SmokeFailed { message, .. } => Error::FunctionRaised {
            app: app_name.to_string(),
            function: args.function.clone(),
            message: message.clone(),
            logs: format!(
                "modalplan logs --env {} --ref {}{}",
                target.environment,
                processor.reference,
                name_flags(target.app_name.as_deref(), args.ci_name)
            ),
        },
        other => Error::backend(other.clone()),
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Mock => "mock",
        Mode::Real => "real",
    }
}

/// The function's own time limit and a margin for the call's start, or five minutes.
fn default_timeout(deployment: &crate::manifest::valid::Deployment) -> Duration {
    deployment
        .runtime
        .timeout_s
        .map_or(Duration::from_secs(300), |seconds| {
            Duration::from_secs(u64::from(seconds) + 30)
        })
}

fn describe(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis % 1000 == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{millis}ms")
    }
}

fn name_flags(app_name: Option<&str>, ci_name: bool) -> String {
    match app_name {
        Some(name) => format!(" --app-name {}", target::shell_quote(name)),
        None if ci_name => " --ci-name".to_owned(),
        None => String::new(),
    }
}

/// The `modalplan deploy` that puts the app there (CI names are deployed by `apply`).
fn deploy_command(
    environment: &str,
    reference: &str,
    app_name: Option<&str>,
    ci_name: bool,
) -> String {
    if ci_name && app_name.is_none() {
        return format!("modalplan apply --env {environment} --target {reference}");
    }
    format!(
        "modalplan deploy --env {environment} --ref {reference}{}",
        name_flags(app_name, false)
    )
}

/// Parses `--payload-json`: a JSON object, or an error that shows where the problem is.
pub fn parse_payload(text: &str) -> Result<serde_json::Map<String, Value>, Error> {
    let value: Value = serde_json::from_str(text).map_err(|error| {
        let (line, column) = (error.line(), error.column());
        let message = error.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(head, _)| head)
            .to_owned();
        let source_line = text.lines().nth(line.saturating_sub(1)).unwrap_or_default();
        let caret = format!("{}^", " ".repeat(column.saturating_sub(1)));
        Error::PayloadNotJson {
            message,
            line,
            column,
            excerpt: format!("{source_line}\n{caret}"),
        }
    })?;
    match value {
        Value::Object(object) => Ok(object),
        other => Err(Error::PayloadNotObject { kind: kind(&other) }),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(text: &str) -> (String, String) {
        let report = parse_payload(text).unwrap_err();
        (report.to_string(), report.help().unwrap_or_default())
    }

    #[test]
    fn a_syntax_error_names_its_line_and_column_and_points_at_it() {
        let (message, help) = failure(r#"{"schema":"v1" "mode":"mock"}"#);
        assert_eq!(
            message,
            "`--payload-json` is not valid JSON: expected `,` or `}` at line 1, column 16"
        );
        assert!(
            help.starts_with("{\"schema\":\"v1\" \"mode\":\"mock\"}\n               ^\n"),
            "{help}"
        );
        let (message, _) = failure("{\n  \"params\": {\n    \"a\": 1 \"b\": 2\n  }\n}");
        assert_eq!(
            message,
            "`--payload-json` is not valid JSON: expected `,` or `}` at line 3, column 12"
        );
    }

    #[test]
    fn only_an_object_is_a_payload() {
        let (message, _) = failure("[1, 2]");
        assert_eq!(
            message,
            "`--payload-json` must be a JSON object, not an array"
        );
        assert_eq!(
            parse_payload(r#"{"mode":"mock"}"#).unwrap()["mode"],
            Value::from("mock")
        );
    }
}
