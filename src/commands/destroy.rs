//! `modalplan destroy`: stop the caller's own sandbox app (`<user>-<branch>-<app>`), and record it. A CI
//! name is stopped only on purpose: named with `--app-name` and confirmed with `--yes`.

use super::context::Context;
use crate::error::Error;

use super::target::{self, NameChoice};
use crate::backend::ModalBackend;
use crate::backend::releases::{RECORD_FORMAT, ReleaseOperation, ReleaseRecord};
use crate::cli::DestroyArgs;
use crate::exit::ExitStatus;
use crate::printer;

pub async fn run(args: &DestroyArgs) -> Result<ExitStatus, Error> {
    let target_args = &args.target;
    let context = Context::load(&target_args.manifest.manifest)?;
    let manifest = &context.manifest;
    target::check_environment(manifest, &target_args.environment)?;
    let processor = target::find_processor(manifest, &target_args.reference)?;
    let app_name = target::app_name(
        processor,
        NameChoice::Sandbox,
        target_args.app_name.as_deref(),
    )
    .await?;
    let environment = target_args.environment.as_str();
    let app = app_name.as_str();
    if let Some(owner) = manifest
        .processors
        .iter()
        .find(|processor| processor.app_name.as_str() == app)
        && !args.yes
    {
        return Err(Error::NotASandbox {
            app: app.to_owned(),
            reference: owner.reference.to_string(),
            environment: environment.to_owned(),
        });
    }
    let backend = context.backend();
    let live = backend
        .live_deployment(environment, app)
        .await
        .map_err(Error::backend)?;
    let Some(live) = live else {
        printer::stdout(&format!(
            "`{app}` is not deployed in `{environment}`: nothing to stop.\n"
        ));
        return Ok(ExitStatus::Success);
    };
    backend
        .stop(environment, app)
        .await
        .map_err(Error::backend)?;
    let provenance = crate::sandbox::provenance(&target_args.manifest.manifest).await;
    let record = ReleaseRecord {
        format: RECORD_FORMAT,
        app: app.to_owned(),
        version: live.version,
        fingerprint: live.tag.clone().unwrap_or_default(),
        operation: ReleaseOperation::Stop,
        deployment: None,
        manifest: provenance.manifest,
        commit: provenance.commit,
        dirty: provenance.dirty,
        by: provenance.by,
        at: crate::promotion::clock::now_rfc3339(),
        smoke: None,
        restored: None,
        rollback_of: None,
        promotion_skipped: None,
    };
    let recorded = backend.record_release(environment, &record).await;
    printer::stdout(&format!(
        "Stopped `{app}` in `{environment}` (v{} was live).\n",
        live.version
    ));
    recorded.map_err(|error| Error::RecordNotWritten {
        operation: crate::error::RecordedOperation::Stop,
        reason: error.to_string(),
    })?;
    Ok(ExitStatus::Success)
}
