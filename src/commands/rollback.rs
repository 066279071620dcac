//! `modalplan rollback`: make an earlier version live again through Modal (`modal app rollback`),
//! smoke-check what is then live, and record it.

use std::fmt::Write as _;
use std::time::Instant;

use miette::{Report, miette};

use super::target;
use crate::apply::{mock_payload, smoke_envelope_error};
use crate::backend::releases::{RECORD_FORMAT, ReleaseOperation, ReleaseRecord, SmokeRecord};
use crate::backend::{BackendError, CallRequest, ModalBackend};
use crate::cli::RollbackArgs;
use crate::codes::Code;
use crate::exit::ExitStatus;
use crate::printer;

pub async fn run(args: &RollbackArgs) -> Result<ExitStatus, Report> {
    let (manifest, processor, app_name) = target::release_target(&args.target)?;
    let environment = args.target.environment.as_str();
    let app = app_name.as_str();
    let backend = target::backend(&manifest);
    let (versions, (records, observed)) = tokio::try_join!(
        ModalBackend::history(backend.as_ref(), environment, app),
        target::releases_of(backend.as_ref(), environment, app),
    )
    .map_err(|error| target::backend_report(&error, None))?;
    let deployed = observed.is_some_and(|app| app.state == crate::backend::AppState::Deployed);
    let Some(live) = versions
        .iter()
        .map(|entry| entry.version)
        .max()
        .filter(|_| deployed)
    else {
        return Err(miette!(
            code = Code::ErrUsage.as_str(),
            help = format!("`modalplan status --env {environment}` lists what is deployed"),
            "`{app}` is not deployed in `{environment}`: there is nothing to roll back"
        ));
    };
    let to = match &args.to {
        Some(given) => parse_version(given)?,
        None => versions
            .iter()
            .map(|entry| entry.version)
            .filter(|version| *version < live)
            .max()
            .ok_or_else(|| {
                miette!(
                    code = Code::ErrUsage.as_str(),
                    help = "there is only one version: stop the app instead, or deploy another",
                    "`{app}` in `{environment}` has no version before v{live}"
                )
            })?,
    };
    if to == live || !versions.iter().any(|entry| entry.version == to) {
        let known: Vec<String> = versions
            .iter()
            .map(|entry| format!("v{}", entry.version))
            .collect();
        return Err(miette!(
            code = Code::ErrUsage.as_str(),
            help = format!("pass one of: {}", known.join(", ")),
            "`--to v{to}`: {}",
            if to == live {
                format!("v{to} is already live")
            } else {
                format!("`{app}` in `{environment}` has no v{to}")
            }
        ));
    }

    printer::stderr(&format!(
        "{environment}/{app}: rolling back v{live} to v{to}\n"
    ));
    backend
        .rollback(environment, app, to)
        .await
        .map_err(|error| target::backend_report(&error, None))?;
    let now_live = backend
        .live_deployment(environment, app)
        .await
        .map_err(|error| target::backend_report(&error, None))?;
    let now = now_live
        .as_ref()
        .map_or(to, |deployment| deployment.version);
    let smoke = match processor
        .deployments
        .get(environment)
        .and_then(|deployment| deployment.smoke.as_ref())
    {
        Some(smoke) => {
            printer::stderr(&format!("{environment}/{app}: smoke-checking v{now}\n"));
            let started = Instant::now();
            let result = backend
                .call(&CallRequest {
                    environment: environment.to_owned(),
                    app_name: app.to_owned(),
                    function: smoke.function.clone(),
                    payload: mock_payload(&smoke.payload),
                    timeout: smoke.timeout,
                })
                .await;
            let message = match result {
                Ok(value) => smoke_envelope_error(&value),
                Err(BackendError::SmokeFailed { message, .. }) => Some(message),
                Err(error) => Some(error.to_string()),
            };
            Some(SmokeRecord {
                passed: message.is_none(),
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                message,
            })
        }
        None => None,
    };
    let tag = now_live
        .as_ref()
        .and_then(|deployment| deployment.tag.clone())
        .unwrap_or_default();
    let provenance = crate::sandbox::provenance(&args.target.manifest.manifest);
    let record = ReleaseRecord {
        format: RECORD_FORMAT,
        app: app.to_owned(),
        version: now,
        deployment: records
            .iter()
            .rev()
            .find(|record| record.fingerprint == tag && record.deployment.is_some())
            .and_then(|record| record.deployment.clone()),
        fingerprint: tag,
        operation: ReleaseOperation::Rollback,
        manifest: provenance.manifest,
        commit: provenance.commit,
        dirty: provenance.dirty,
        by: provenance.by,
        at: crate::promotion::clock::now_rfc3339(),
        smoke: smoke.clone(),
        restored: Some(to),
        rollback_of: Some(live),
        promotion_skipped: None,
    };
    let recorded = backend.record_release(environment, &record).await;
    let mut out = format!("Rolled back `{app}` in `{environment}` to v{to} (live as v{now}).\n");
    match &smoke {
        Some(smoke) if smoke.passed => out.push_str("Smoke check passed.\n"),
        Some(smoke) => {
            let _ = writeln!(
                out,
                "{}: the smoke check of v{now} failed: {}",
                Code::ErrSmokeFailed,
                smoke.message.as_deref().unwrap_or_default()
            );
        }
        None => out.push_str("No smoke check (disabled for it).\n"),
    }
    let _ = writeln!(
        out,
        "The next plan shows `{app}` differing from {}: revert the manifest's change to keep this version, or apply to deploy the manifest's again.",
        manifest.path.display()
    );
    printer::stdout(&out);
    if let Err(error) = recorded {
        return Err(miette!(
            code = Code::ErrReleaseRecord.as_str(),
            help = "the rollback is done; `modalplan history` shows it from Modal's history",
            "the release record of the rollback could not be written: {error}"
        ));
    }
    Ok(if smoke.is_some_and(|smoke| !smoke.passed) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// `v3` or `3`.
fn parse_version(given: &str) -> Result<u32, Report> {
    given
        .strip_prefix('v')
        .unwrap_or(given)
        .parse()
        .map_err(|_| {
            miette!(
                code = Code::ErrUsage.as_str(),
                help = "write a version of `modalplan history`, e.g. `--to v3`",
                "`--to {given}` is not a version"
            )
        })
}
