//! The release records an action leaves on Modal (see [`crate::backend::releases`]): a deploy, and for a
//! failure what undid it (the rollback, or the stop of a new app); a prune's stop.

use super::ApplySettings;
use super::report::{AppError, Outcome};
use crate::backend::ModalBackend;
use crate::backend::releases::SmokeRecord;
use crate::backend::releases::{
    RECORD_FORMAT, ReleaseOperation, ReleaseRecord, ReleasedDeployment,
};
use crate::code::CodeSnapshot;
use crate::codes::Code;
use crate::plan::Action;

/// What the deploy of an action made, for its release records.
#[derive(Debug, Clone, Default)]
pub(super) struct Attempt {
    /// The version the deploy published.
    pub deployed: Option<u32>,
    /// Its smoke check.
    pub smoke: Option<SmokeRecord>,
}

/// Writes the records of one action's outcome, in order; the first failure is the action's error.
pub(super) async fn write(
    backend: &dyn ModalBackend,
    settings: &ApplySettings,
    code: &CodeSnapshot,
    action: &Action,
    attempt: &Attempt,
    outcome: &Outcome,
) -> Result<(), AppError> {
    let at = crate::promotion::clock::now_rfc3339();
    for record in records(settings, code, action, attempt, outcome, &at) {
        if let Err(error) = backend.record_release(&action.environment, &record).await {
            let operation = match record.operation {
                ReleaseOperation::Deploy => "deploy",
                ReleaseOperation::Rollback => "rollback",
                ReleaseOperation::Stop => "stop",
            };
            return Err(AppError::new(
                Code::ErrReleaseRecord,
                format!(
                    "{operation} of v{} is done, but its release record could not be written: {error}",
                    record.version
                ),
            ));
        }
    }
    Ok(())
}

/// The records of one action's outcome, oldest first; `at` is when.
pub(super) fn records(
    settings: &ApplySettings,
    code: &CodeSnapshot,
    action: &Action,
    attempt: &Attempt,
    outcome: &Outcome,
    at: &str,
) -> Vec<ReleaseRecord> {
    let base = |version: u32, fingerprint: String, operation: ReleaseOperation| ReleaseRecord {
        format: RECORD_FORMAT,
        app: action.app_name.clone(),
        version,
        fingerprint,
        operation,
        deployment: None,
        manifest: settings.provenance.manifest.clone(),
        commit: settings.provenance.commit.clone(),
        dirty: settings.provenance.dirty,
        by: settings.provenance.by.clone(),
        at: at.to_owned(),
        smoke: None,
        restored: None,
        rollback_of: None,
        promotion_skipped: None,
    };
    let deploy = |version: u32| {
        let desired = action.after.as_ref()?;
        Some(ReleaseRecord {
            deployment: Some(ReleasedDeployment {
                reference: action.reference.clone(),
                image: desired.image.clone(),
                secrets: desired.secrets.clone(),
                runtime: desired.runtime.clone(),
                module: if desired.module.is_empty() {
                    settings.module.clone()
                } else {
                    desired.module.clone()
                },
                code: code.files.clone(),
            }),
            smoke: attempt.smoke.clone(),
            promotion_skipped: action
                .promotion
                .as_ref()
                .filter(|check| check.skipped)
                .and_then(|check| {
                    let wait = check.wait()?;
                    Some(crate::plan::gate_words::short(wait, &check.upstream))
                }),
            ..base(version, desired.tag.clone(), ReleaseOperation::Deploy)
        })
    };
    let before_tag = action
        .before
        .as_ref()
        .and_then(|live| live.tag.clone())
        .unwrap_or_default();
    let mut records: Vec<ReleaseRecord> = Vec::new();
    match *outcome {
        Outcome::Deployed { version } => records.extend(deploy(version)),
        Outcome::LeftFailed { .. } => records.extend(attempt.deployed.and_then(deploy)),
        Outcome::RolledBack { to, live } => {
            records.extend(attempt.deployed.and_then(deploy));
            if let Some(live) = live {
                records.push(ReleaseRecord {
                    deployment: action
                        .before
                        .as_ref()
                        .and_then(|before| before.release.as_ref())
                        .and_then(|release| release.deployment.clone()),
                    restored: Some(to),
                    rollback_of: attempt.deployed,
                    ..base(live, before_tag, ReleaseOperation::Rollback)
                });
            }
        }
        Outcome::Stopped => {
            if let Some(version) = attempt.deployed {
                records.extend(deploy(version));
                let tag = action
                    .after
                    .as_ref()
                    .map(|desired| desired.tag.clone())
                    .unwrap_or_default();
                records.push(base(version, tag, ReleaseOperation::Stop));
            }
        }
        Outcome::Pruned => {
            if let Some(before) = &action.before {
                records.push(base(before.version, before_tag, ReleaseOperation::Stop));
            }
        }
        Outcome::Unchanged { .. } | Outcome::Kept { .. } | Outcome::NotStarted => {}
    }
    records
}
