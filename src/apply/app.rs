//! One app's change, as a state machine: re-read the live deployment and refuse if it moved since the
//! plan (another apply), deploy, smoke-check; on failure hand over to [`super::recover`]; write the
//! release record.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::Event;
use super::checks::{moved_since_plan, smoke_check};
use super::context::{Context, report_for};
use super::contract::{deploy, log_path};
use super::record::Attempt;
use super::recover::recover;
use super::report::{AppError, AppReport, Outcome};
use crate::backend::DeploymentRecord;
use crate::backend::releases::SmokeRecord;
use crate::codes::Code;
use crate::plan::{Action, ActionKind};

/// How the guarded part of an action (until the grace period runs out) ended.
enum Progress {
    /// Deployed and smoke-checked (`smoke`: `None` when the plan has no smoke check).
    Done {
        deployed: DeploymentRecord,
        smoke: Option<SmokeRecord>,
    },
    /// Stopped (prune).
    Pruned,
    /// Refused before changing anything.
    Refused(AppError),
    /// Failed; `deployed` is what the deploy made when it returned one, `smoke` its failed check.
    Failed {
        error: AppError,
        deployed: Option<DeploymentRecord>,
        smoke: Option<SmokeRecord>,
    },
    /// Killed when the grace period after an interrupt ran out.
    Killed,
}

pub(super) async fn run_action(context: &Context, action: &Action) -> AppReport {
    let started = Instant::now();
    context.emit(&Event::Started {
        environment: action.environment.clone(),
        app_name: action.app_name.clone(),
        kind: action.kind,
    });
    let progress = tokio::select! {
        progress = guarded(context, action) => progress,
        () = context.interrupt.grace_expired(context.settings.grace_period) => {
            context.emit(&Event::Killed {
                environment: action.environment.clone(),
                app_name: action.app_name.clone(),
            });
            Progress::Killed
        }
    };
    let mut attempt = Attempt::default();
    let (outcome, mut errors) = match progress {
        Progress::Done { deployed, smoke } => {
            attempt = Attempt {
                deployed: Some(deployed.version),
                smoke,
            };
            (
                Outcome::Deployed {
                    version: deployed.version,
                },
                Vec::new(),
            )
        }
        Progress::Pruned => (Outcome::Pruned, Vec::new()),
        Progress::Refused(error) => (Outcome::NotStarted, vec![error]),
        Progress::Failed {
            error,
            deployed,
            smoke,
        } => {
            attempt = Attempt {
                deployed: deployed.as_ref().map(|deployed| deployed.version),
                smoke,
            };
            recover(context, action, error, deployed).await
        }
        Progress::Killed => {
            let error = AppError::new(
                Code::ErrInterrupted,
                format!(
                    "interrupted; its running step was killed after the {}s grace period",
                    context.settings.grace_period.as_secs()
                ),
            );
            if action.kind == ActionKind::Stop {
                let live = context
                    .backend
                    .live_deployment(&action.environment, &action.app_name)
                    .await;
                let outcome = match live {
                    Ok(None) => Outcome::Pruned,
                    Ok(Some(live)) => Outcome::Unchanged {
                        version: Some(live.version),
                    },
                    Err(_) => Outcome::LeftFailed { version: None },
                };
                (outcome, vec![error])
            } else {
                recover(context, action, error, None).await
            }
        }
    };
    if let Err(error) = super::record::write(
        context.backend.as_ref(),
        &context.settings,
        &context.code,
        action,
        &attempt,
        &outcome,
    )
    .await
    {
        errors.push(error);
    }
    if !errors.is_empty() {
        context.failed.store(true, Ordering::SeqCst);
    }
    let report = report_for(action, outcome, errors, started.elapsed());
    context.emit(&Event::Finished(report.clone()));
    report
}

/// Re-check, then deploy and smoke-check (or stop, for a prune). Dropped when the grace period after an
/// interrupt runs out, which kills the running process group.
async fn guarded(context: &Context, action: &Action) -> Progress {
    let environment = action.environment.as_str();
    let app_name = action.app_name.as_str();
    let live = match context.backend.live_deployment(environment, app_name).await {
        Ok(live) => live,
        Err(error) => return Progress::Refused(AppError::from_backend(&error)),
    };
    if action.kind == ActionKind::Stop && live.is_none() {
        // Stopped meanwhile: what the prune wanted, nothing more to do.
        return Progress::Pruned;
    }
    // A stop planned without the orphan's live deployment (a saved plan of a modalplan that did not read
    // orphans' histories) stops whatever is live, as then. Any other action re-checks: an app (or an
    // orphan to stop) redeployed since the plan is not what the plan showed, so it is left alone.
    let planned_blind = action.kind == ActionKind::Stop && action.before.is_none();
    if !planned_blind {
        if let Some(error) = moved_since_plan(action, live.as_ref()) {
            return Progress::Refused(error);
        }
    }
    if action.kind == ActionKind::Stop {
        context.emit(&Event::Stopping {
            environment: environment.to_owned(),
            app_name: app_name.to_owned(),
        });
        return match context.backend.stop(environment, app_name).await {
            Ok(()) => Progress::Pruned,
            Err(error) => Progress::Failed {
                error: AppError::from_backend(&error),
                deployed: None,
                smoke: None,
            },
        };
    }
    let Some(desired) = &action.after else {
        return Progress::Refused(AppError::new(
            Code::ErrPlanFile,
            "the plan has no deployment for this action",
        ));
    };
    if context.interrupt.requested() {
        return Progress::Refused(AppError::new(
            Code::ErrInterrupted,
            "interrupted before its deploy started",
        ));
    }
    let log = log_path(&context.settings.log_dir, environment, app_name);
    context.emit(&Event::Deploying {
        environment: environment.to_owned(),
        app_name: app_name.to_owned(),
        log: log.clone(),
    });
    let deployed = match deploy(context, action, desired, &log).await {
        Ok(deployed) => deployed,
        Err(error) => {
            return Progress::Failed {
                error,
                deployed: None,
                smoke: None,
            };
        }
    };
    let Some(smoke) = &desired.smoke else {
        return Progress::Done {
            deployed,
            smoke: None,
        };
    };
    context.emit(&Event::SmokeChecking {
        environment: environment.to_owned(),
        app_name: app_name.to_owned(),
        version: deployed.version,
    });
    let checked = Instant::now();
    let result = smoke_check(context, environment, app_name, smoke).await;
    let duration_ms = u64::try_from(checked.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(()) => Progress::Done {
            deployed,
            smoke: Some(SmokeRecord {
                passed: true,
                duration_ms,
                message: None,
            }),
        },
        Err(error) => Progress::Failed {
            smoke: Some(SmokeRecord {
                passed: false,
                duration_ms,
                message: Some(error.message.clone()),
            }),
            error,
            deployed: Some(deployed),
        },
    }
}
