//! `modalplan destroy`: stop the caller's own sandbox app (`<user>-<branch>-<app>`), and record it. A CI
//! name is stopped only on purpose: named with `--app-name` and confirmed with `--yes`.

use miette::{Report, miette};

use super::target::{self, NameChoice};
use crate::backend::ModalBackend;
use crate::backend::releases::{RECORD_FORMAT, ReleaseOperation, ReleaseRecord};
use crate::cli::DestroyArgs;
use crate::codes::Code;
use crate::exit::ExitStatus;
use crate::printer;

pub async fn run(args: &DestroyArgs) -> Result<ExitStatus, Report> {
    let target_args = &args.target;
    let manifest = target::load_manifest(&target_args.manifest.manifest)?;
    target::check_environment(&manifest, &target_args.environment)?;
    let processor = target::find_processor(&manifest, &target_args.reference)?;
    let app_name = target::app_name(
        processor,
        NameChoice::Sandbox,
        target_args.app_name.as_deref(),
    )?;
    let environment = target_args.environment.as_str();
    let app = app_name.as_str();
    if let Some(owner) = manifest
        .processors
        .iter()
        .find(|processor| processor.app_name.as_str() == app)
        && !args.yes
    {
        return Err(miette!(
            code = Code::ErrUsage.as_str(),
            help = format!(
                "CI apps are stopped by removing them from the manifest and `modalplan apply --prune`; to stop it by hand anyway: modalplan destroy --env {environment} --ref {} --app-name {app} --yes",
                owner.reference
            ),
            "`{app}` is the CI app of {} in `{environment}`, not a sandbox: nothing was stopped",
            owner.reference
        ));
    }
    let backend = target::backend(&manifest);
    let live = backend
        .live_deployment(environment, app)
        .await
        .map_err(|error| target::backend_report(&error, None))?;
    let Some(live) = live else {
        printer::stdout(&format!(
            "`{app}` is not deployed in `{environment}`: nothing to stop.\n"
        ));
        return Ok(ExitStatus::Success);
    };
    backend
        .stop(environment, app)
        .await
        .map_err(|error| target::backend_report(&error, None))?;
    let provenance = crate::sandbox::provenance(&target_args.manifest.manifest);
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
    recorded.map_err(|error| {
        miette!(
            code = Code::ErrReleaseRecord.as_str(),
            help = "the app is stopped; only its record is missing",
            "the release record of the stop could not be written: {error}"
        )
    })?;
    Ok(ExitStatus::Success)
}
