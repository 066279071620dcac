//! `modalplan logs`: an app's logs, through `modal app logs`.

use super::context::Context;
use crate::error::Error;

use super::target::{self, NameChoice};
use crate::backend::BackendError;
use crate::backend::modal_cli::logs;
use crate::cli::LogsArgs;
use crate::exit::ExitStatus;
use crate::printer;

pub async fn run(args: &LogsArgs) -> Result<ExitStatus, Error> {
    let target = &args.target;
    let context = Context::load(&target.manifest.manifest)?;
    let manifest = &context.manifest;
    target::check_environment(manifest, &target.environment)?;
    let processor = target::find_processor(manifest, &target.reference)?;
    let choice = if args.ci_name {
        NameChoice::Ci
    } else {
        NameChoice::Sandbox
    };
    let app_name = target::app_name(processor, choice, target.app_name.as_deref()).await?;
    let backend = context.backend();
    let mut print_line = |line: &str| printer::stdout(&format!("{line}\n"));
    logs::stream_logs(
        &backend.config,
        &target.environment,
        app_name.as_str(),
        args.follow,
        &mut print_line,
    )
    .await
    .map_err(|error| match error {
        BackendError::AppNotFound { .. } => {
            let deploy = if args.ci_name && target.app_name.is_none() {
                format!(
                    "modalplan apply --env {} --target {}",
                    target.environment, processor.reference
                )
            } else {
                format!(
                    "modalplan deploy --env {} --ref {}{}",
                    target.environment,
                    processor.reference,
                    target
                        .app_name
                        .as_deref()
                        .map(|name| format!(" --app-name {}", target::shell_quote(name)))
                        .unwrap_or_default()
                )
            };
            Error::AppNotDeployed {
                app: app_name.to_string(),
                environment: target.environment.clone(),
                deploy,
            }
        }
        other => Error::backend(other),
    })?;
    Ok(ExitStatus::Success)
}
