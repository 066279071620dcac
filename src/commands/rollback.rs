//! `modalplan rollback`: make an earlier version live again through Modal (`modal app rollback`),
//! smoke-check what is then live, and record it.

use std::fmt::Write as _;
use std::time::Instant;

use crate::error::Error;

use super::target;
use crate::backend::ModalBackend;
use crate::backend::releases::{RECORD_FORMAT, ReleaseOperation, ReleaseRecord, SmokeRecord};
use crate::cli::RollbackArgs;
use crate::codes::Code;
use crate::exit::ExitStatus;
use crate::manifest::valid::Processor;
use crate::printer;

pub async fn run(args: &RollbackArgs) -> Result<ExitStatus, Error> {
    let (context, processor, app_name) = target::release_target(&args.target).await?;
    let environment = args.target.environment.as_str();
    let app = app_name.as_str();
    let backend = context.backend();
    let (versions, (records, observed)) = tokio::try_join!(
        ModalBackend::history(backend.as_ref(), environment, app),
        target::releases_of(backend.as_ref(), environment, app),
    )
    .map_err(Error::backend)?;
    let deployed = observed.is_some_and(|app| app.state == crate::backend::AppState::Deployed);
    let Some(live) = versions
        .iter()
        .map(|entry| entry.version)
        .max()
        .filter(|_| deployed)
    else {
        return Err(Error::NothingToRollBack {
            app: app.to_owned(),
            environment: environment.to_owned(),
        });
    };
    let to = target_version(args.to.as_deref(), &versions, live, app, environment)?;

    printer::stderr(&format!(
        "{environment}/{app}: rolling back v{live} to v{to}\n"
    ));
    backend
        .rollback(environment, app, to)
        .await
        .map_err(Error::backend)?;
    let now_live = backend
        .live_deployment(environment, app)
        .await
        .map_err(Error::backend)?;
    let now = now_live
        .as_ref()
        .map_or(to, |deployment| deployment.version);
    let smoke = smoke_check(backend.as_ref(), &processor, environment, app, now).await;
    let tag = now_live
        .as_ref()
        .and_then(|deployment| deployment.tag.clone())
        .unwrap_or_default();
    let provenance = crate::sandbox::provenance(&args.target.manifest.manifest).await;
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
        context.manifest.path.display()
    );
    printer::stdout(&out);
    if let Err(error) = recorded {
        return Err(Error::RecordNotWritten {
            operation: crate::error::RecordedOperation::Rollback,
            reason: error.to_string(),
        });
    }
    Ok(if smoke.is_some_and(|smoke| !smoke.passed) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// The version to roll back to: `--to`, or the newest before the live one; it must be in the app's
/// history and not be the live one.
fn target_version(
    given: Option<&str>,
    versions: &[crate::backend::DeploymentRecord],
    live: u32,
    app: &str,
    environment: &str,
) -> Result<u32, Error> {
    let to = match given {
        Some(given) => parse_version(given)?,
        None => versions
            .iter()
            .map(|entry| entry.version)
            .filter(|version| *version < live)
            .max()
            .ok_or_else(|| Error::NoEarlierVersion {
                app: app.to_owned(),
                environment: environment.to_owned(),
                live,
            })?,
    };
    if to == live || !versions.iter().any(|entry| entry.version == to) {
        return Err(Error::NotARollbackTarget {
            app: app.to_owned(),
            environment: environment.to_owned(),
            to,
            live,
            known: versions.iter().map(|entry| entry.version).collect(),
        });
    }
    Ok(to)
}

/// The smoke check of what is live after the rollback, when the processor has one there.
async fn smoke_check(
    backend: &dyn ModalBackend,
    processor: &Processor,
    environment: &str,
    app: &str,
    now: u32,
) -> Option<SmokeRecord> {
    match processor
        .deployments
        .get(environment)
        .and_then(|deployment| deployment.smoke.as_ref())
    {
        Some(smoke) => {
            printer::stderr(&format!("{environment}/{app}: smoke-checking v{now}\n"));
            let started = Instant::now();
            let call = crate::smoke::SmokeCall {
                environment,
                app_name: app,
                function: &smoke.function,
                payload: &smoke.payload,
                timeout: smoke.timeout,
            };
            let message = crate::smoke::check(backend, call)
                .await
                .err()
                .map(|failure| failure.message());
            Some(SmokeRecord {
                passed: message.is_none(),
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                message,
            })
        }
        None => None,
    }
}

/// `v3` or `3`.
fn parse_version(given: &str) -> Result<u32, Error> {
    given
        .strip_prefix('v')
        .unwrap_or(given)
        .parse()
        .map_err(|_| Error::InvalidVersion {
            given: given.to_owned(),
        })
}
