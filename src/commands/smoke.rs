//! `modalplan smoke`: re-runs the smoke checks of deployed apps, one line per app.

use std::fmt::Write as _;

use super::context::Context;
use crate::error::Error;
use futures_util::future::join_all;

use super::target::{self, NameChoice};
use crate::backend::{BackendError, ModalBackend};
use crate::cli::SmokeArgs;
use crate::exit::ExitStatus;
use crate::naming::AppName;
use crate::printer;
use crate::smoke::{SmokeCall, SmokeFailure};

/// How one app's smoke check ended.
enum SmokeResult {
    Passed,
    Failed(String),
    Skipped(&'static str),
}

pub async fn run(args: &SmokeArgs) -> Result<ExitStatus, Error> {
    let context = Context::load(&args.manifest.manifest)?;
    let manifest = &context.manifest;
    target::check_environment(manifest, &args.environment)?;
    let mut processors = Vec::new();
    for reference in &args.references {
        let processor = target::find_processor(manifest, reference)?;
        target::deployment(processor, &args.environment)?;
        processors.push(processor);
    }
    if args.references.is_empty() {
        processors = manifest
            .processors
            .iter()
            .filter(|processor| processor.deployments.contains_key(&args.environment))
            .collect();
    }
    let choice = if args.sandbox {
        NameChoice::Sandbox
    } else {
        NameChoice::Ci
    };
    let mut checks = Vec::new();
    for processor in &processors {
        let app_name = target::app_name(processor, choice, None).await?;
        let smoke = processor.deployments[&args.environment].smoke.clone();
        checks.push((*processor, app_name, smoke));
    }
    let backend = context.backend();
    let results = join_all(checks.iter().map(|(_, app_name, smoke)| {
        let backend = backend.as_ref();
        async move {
            let Some(smoke) = smoke else {
                return SmokeResult::Skipped("smoke check disabled in the manifest");
            };
            check(backend, &args.environment, app_name, smoke).await
        }
    }))
    .await;

    let width = checks
        .iter()
        .map(|(processor, _, _)| processor.reference.as_str().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let mut failed = 0;
    for ((processor, app_name, _), result) in checks.iter().zip(&results) {
        let (word, detail) = match result {
            SmokeResult::Passed => ("ok", String::new()),
            SmokeResult::Failed(message) => {
                failed += 1;
                ("FAILED", message.clone())
            }
            SmokeResult::Skipped(why) => ("skipped", (*why).to_owned()),
        };
        let line = format!(
            "{word:<7}  {:<width$}  {}/{app_name}  {detail}",
            processor.reference.as_str(),
            args.environment,
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n{} passed, {failed} failed, {} skipped.",
        results
            .iter()
            .filter(|result| matches!(result, SmokeResult::Passed))
            .count(),
        results
            .iter()
            .filter(|result| matches!(result, SmokeResult::Skipped(_)))
            .count()
    );
    printer::stdout(&out);
    Ok(if failed > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

async fn check(
    backend: &dyn ModalBackend,
    environment: &str,
    app_name: &AppName,
    smoke: &crate::manifest::valid::SmokeSettings,
) -> SmokeResult {
    let call = SmokeCall {
        environment,
        app_name: app_name.as_str(),
        function: &smoke.function,
        payload: &smoke.payload,
        timeout: smoke.timeout,
    };
    match crate::smoke::check(backend, call).await {
        Ok(()) => SmokeResult::Passed,
        Err(SmokeFailure::Reported(message)) => {
            SmokeResult::Failed(format!("ERR_SMOKE_FAILED: {message}"))
        }
        Err(SmokeFailure::Backend(BackendError::AppNotFound { .. })) => SmokeResult::Failed(
            format!("ERR_APP_NOT_DEPLOYED: app `{app_name}` is not deployed in `{environment}`"),
        ),
        Err(SmokeFailure::Raised(message)) => SmokeResult::Failed(format!(
            "ERR_SMOKE_FAILED: `{}` raised {message}",
            smoke.function
        )),
        Err(SmokeFailure::Backend(error)) => {
            SmokeResult::Failed(format!("{}: {error}", error.code()))
        }
    }
}
