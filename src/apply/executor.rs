//! The executor: one task per change, at most `parallelism` at once, started in plan order.
//!
//! Per app: re-read the live deployment and refuse if it moved since the plan (another apply), deploy,
//! smoke-check; on failure find out what is live and put back what was there (roll back an update, stop
//! a new app), then smoke-check the rollback.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::report::{AppError, AppReport, ApplyReport, Outcome};
use super::{ApplySettings, Event, EventSink, Interrupt};
use crate::backend::releases::SmokeRecord;
use crate::backend::{BackendError, CallRequest, DeployRequest, DeploymentRecord, ModalBackend};
use crate::codes::Code;
use crate::plan::model::{Desired, Live, SmokeSpec};
use crate::plan::{Action, ActionKind, Plan};

/// Lines of a failed deploy's log shown in the report.
const LOG_TAIL_LINES: usize = 20;

struct Context {
    backend: Arc<dyn ModalBackend>,
    settings: ApplySettings,
    /// The code the plan's deploys ship, for their release records.
    code: crate::code::CodeSnapshot,
    interrupt: Interrupt,
    events: EventSink,
    /// Set by the first failure, for `--fail-fast`.
    failed: AtomicBool,
}

impl Context {
    fn emit(&self, event: &Event) {
        (self.events)(event);
    }
}

/// Applies the plan's changes (create, update, and stop for pruned orphans) and reports every action.
pub async fn execute(
    backend: Arc<dyn ModalBackend>,
    plan: &Plan,
    settings: &ApplySettings,
    interrupt: Interrupt,
    events: EventSink,
) -> ApplyReport {
    let started = Instant::now();
    let context = Arc::new(Context {
        backend,
        settings: settings.clone(),
        code: plan.code.clone(),
        interrupt,
        events,
        failed: AtomicBool::new(false),
    });
    let permits = Arc::new(Semaphore::new(settings.parallelism.max(1)));
    let mut reports: Vec<Option<AppReport>> = vec![None; plan.actions.len()];
    let mut tasks = JoinSet::new();
    let mut task_index = HashMap::new();
    let mut announced_interrupt = false;

    for (index, action) in plan.actions.iter().enumerate() {
        if let Some(report) = not_executed(action, &context.settings) {
            reports[index] = Some(report);
            continue;
        }
        let permit = if context.interrupt.requested() {
            None
        } else {
            tokio::select! {
                biased;
                () = context.interrupt.wait() => None,
                permit = Arc::clone(&permits).acquire_owned() => permit.ok(),
            }
        };
        let stop_launching = context.interrupt.requested()
            || (context.settings.fail_fast && context.failed.load(Ordering::SeqCst));
        match permit {
            Some(permit) if !stop_launching => {
                let context = Arc::clone(&context);
                let action = action.clone();
                let handle = tasks.spawn(async move {
                    let report = run_action(&context, &action).await;
                    drop(permit);
                    report
                });
                task_index.insert(handle.id(), index);
            }
            _ => {
                if context.interrupt.requested() && !announced_interrupt {
                    announced_interrupt = true;
                    context.emit(&Event::Interrupted {
                        grace_period: context.settings.grace_period,
                    });
                }
                let report = report_for(action, Outcome::NotStarted, Vec::new(), Duration::ZERO);
                context.emit(&Event::Finished(report.clone()));
                reports[index] = Some(report);
            }
        }
    }

    loop {
        let joined = if announced_interrupt || tasks.is_empty() {
            tasks.join_next_with_id().await
        } else {
            tokio::select! {
                joined = tasks.join_next_with_id() => joined,
                () = context.interrupt.wait() => {
                    announced_interrupt = true;
                    context.emit(&Event::Interrupted {
                        grace_period: context.settings.grace_period,
                    });
                    continue;
                }
            }
        };
        let Some(joined) = joined else { break };
        match joined {
            Ok((id, report)) => {
                if let Some(index) = task_index.get(&id) {
                    reports[*index] = Some(report);
                }
            }
            Err(error) => {
                if let Some(index) = task_index.get(&error.id()) {
                    let action = &plan.actions[*index];
                    reports[*index] = Some(report_for(
                        action,
                        Outcome::LeftFailed { version: None },
                        vec![AppError::new(
                            Code::ErrInterrupted,
                            format!("the task applying it ended abnormally: {error}"),
                        )],
                        Duration::ZERO,
                    ));
                }
            }
        }
    }

    ApplyReport {
        apps: reports.into_iter().flatten().collect(),
        interrupted: context.interrupt.requested(),
        duration: started.elapsed(),
    }
}

/// The report of an action the executor does not run: no-ops, orphans left alone, blocked ones, and
/// stops of protected names.
fn not_executed(action: &Action, settings: &ApplySettings) -> Option<AppReport> {
    let live_version = action.before.as_ref().map(|live| live.version);
    match action.kind {
        ActionKind::Create | ActionKind::Update => None,
        ActionKind::Stop if !settings.protect.contains(&action.app_name) => None,
        ActionKind::Stop => Some(report_for(
            action,
            Outcome::NotStarted,
            vec![AppError::new(
                Code::ErrUsage,
                format!(
                    "`{}` is in the manifest's `protect` list: it is never stopped",
                    action.app_name
                ),
            )],
            Duration::ZERO,
        )),
        ActionKind::NoOp | ActionKind::Orphan => Some(report_for(
            action,
            Outcome::Unchanged {
                version: live_version,
            },
            Vec::new(),
            Duration::ZERO,
        )),
        ActionKind::Blocked => Some(report_for(
            action,
            Outcome::NotStarted,
            action
                .blockers
                .iter()
                .map(|blocker| AppError::new(blocker.code, blocker.message.clone()))
                .collect(),
            Duration::ZERO,
        )),
    }
}

fn report_for(
    action: &Action,
    outcome: Outcome,
    errors: Vec<AppError>,
    duration: Duration,
) -> AppReport {
    AppReport {
        environment: action.environment.clone(),
        app_name: action.app_name.clone(),
        reference: action.reference.clone(),
        kind: action.kind,
        outcome,
        errors,
        duration,
    }
}

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

async fn run_action(context: &Context, action: &Action) -> AppReport {
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

/// What the deploy of an action made, for its release records.
#[derive(Debug, Clone, Default)]
pub(super) struct Attempt {
    /// The version the deploy published.
    pub deployed: Option<u32>,
    /// Its smoke check.
    pub smoke: Option<SmokeRecord>,
}

/// `ERR_CONCURRENT_CHANGE` when the live deployment is not the one the plan saw.
fn moved_since_plan(action: &Action, live: Option<&DeploymentRecord>) -> Option<AppError> {
    if live_matches(action.before.as_ref(), live) {
        return None;
    }
    let untouched = if action.kind == ActionKind::Stop {
        "modalplan did not stop it"
    } else {
        "nothing was deployed"
    };
    Some(AppError::new(
        Code::ErrConcurrentChange,
        format!(
            "`{}` in `{}` changed since the plan ({} then, {} now): another apply may be running; {untouched}, plan again",
            action.app_name,
            action.environment,
            describe_planned(action.before.as_ref()),
            describe_live(live)
        ),
    ))
}

/// True when `live` is the deployment the plan saw (both absent, or same version and tag).
pub(crate) fn live_matches(before: Option<&Live>, live: Option<&DeploymentRecord>) -> bool {
    match (before, live) {
        (None, None) => true,
        (Some(before), Some(live)) => before.version == live.version && before.tag == live.tag,
        _ => false,
    }
}

/// `v3 tagged mp1-…`, `v1 untagged` or `absent`.
pub(crate) fn describe_planned(before: Option<&Live>) -> String {
    describe(before.map(|live| (live.version, live.tag.as_deref())))
}

pub(crate) fn describe_live(live: Option<&DeploymentRecord>) -> String {
    describe(live.map(|live| (live.version, live.tag.as_deref())))
}

fn describe(deployment: Option<(u32, Option<&str>)>) -> String {
    match deployment {
        None => "absent".to_owned(),
        Some((version, Some(tag))) => format!("v{version} tagged {tag}"),
        Some((version, None)) => format!("v{version} untagged"),
    }
}

fn log_path(log_dir: &Path, environment: &str, app_name: &str) -> PathBuf {
    log_dir.join(environment).join(format!("{app_name}.log"))
}

async fn deploy(
    context: &Context,
    action: &Action,
    desired: &Desired,
    log: &Path,
) -> Result<DeploymentRecord, AppError> {
    if let Some(folder) = log.parent() {
        tokio::fs::create_dir_all(folder).await.map_err(|error| {
            AppError::new(
                Code::ErrDeployFailed,
                format!(
                    "could not create the log folder {}: {error}",
                    folder.display()
                ),
            )
        })?;
    }
    let request = DeployRequest {
        environment: action.environment.clone(),
        app_name: action.app_name.clone(),
        tag: desired.tag.clone(),
        workdir: context.settings.workdir.clone(),
        module: context.settings.module.clone(),
        env: deploy_environment(action, desired),
        log_file: log.to_path_buf(),
        timeout: context.settings.deploy_timeout,
    };
    match context.backend.deploy(&request).await {
        Ok(deployed) => Ok(deployed),
        Err(error) => {
            let mut app_error = AppError::from_backend(&error);
            let log = match &error {
                BackendError::DeployFailed { log: Some(log), .. } => log.clone(),
                _ => log.to_path_buf(),
            };
            if let Ok(text) = tokio::fs::read_to_string(&log).await {
                app_error.log_tail = tail(&text, LOG_TAIL_LINES);
                app_error.log = Some(log);
            }
            Err(app_error)
        }
    }
}

/// The variables exported to `modal deploy`, read by `modal_app.py`.
pub fn deploy_environment(action: &Action, desired: &Desired) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Some(reference) = &action.reference {
        env.insert("PROCESSOR_REF".to_owned(), reference.clone());
    }
    env.insert("IMAGE_REF".to_owned(), desired.image.clone());
    env.insert("TOOL_SECRETS".to_owned(), desired.secrets.join(","));
    env.insert("MODAL_ENVIRONMENT".to_owned(), action.environment.clone());
    env.insert("MODAL_APP_NAME".to_owned(), action.app_name.clone());
    let runtime = &desired.runtime;
    if let Some(cpu) = runtime.cpu {
        env.insert("MODALPLAN_CPU".to_owned(), cpu.to_string());
    }
    if let Some(memory) = runtime.memory_mb {
        env.insert("MODALPLAN_MEMORY_MB".to_owned(), memory.to_string());
    }
    if let Some(gpu) = &runtime.gpu {
        env.insert("MODALPLAN_GPU".to_owned(), gpu.clone());
    }
    if let Some(timeout) = runtime.timeout_s {
        env.insert("MODALPLAN_TIMEOUT_S".to_owned(), timeout.to_string());
    }
    env
}

fn tail(text: &str, lines: usize) -> Vec<String> {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| (*line).to_owned())
        .collect()
}

/// The smoke payload with `mode` forced to `"mock"` (a payload that is not an object is sent as it is).
pub fn mock_payload(payload: &serde_json::Value) -> serde_json::Value {
    let mut payload = payload.clone();
    if let Some(object) = payload.as_object_mut() {
        object.insert("mode".to_owned(), serde_json::Value::from("mock"));
    }
    payload
}

/// The error an envelope reports: `status` of `error`, `failed` or `failure`, with the message from
/// `error.message`, `error` or `message`.
pub fn smoke_envelope_error(value: &serde_json::Value) -> Option<String> {
    let status = value.get("status")?.as_str()?;
    if !matches!(
        status.to_ascii_lowercase().as_str(),
        "error" | "failed" | "failure"
    ) {
        return None;
    }
    let message = value
        .get("error")
        .and_then(|error| {
            error
                .get("message")
                .and_then(serde_json::Value::as_str)
                .or_else(|| error.as_str())
        })
        .or_else(|| value.get("message").and_then(serde_json::Value::as_str))
        .map_or_else(
            || format!("the smoke function returned status `{status}`"),
            str::to_owned,
        );
    Some(message)
}

async fn smoke_check(
    context: &Context,
    environment: &str,
    app_name: &str,
    smoke: &SmokeSpec,
) -> Result<(), AppError> {
    let request = CallRequest {
        environment: environment.to_owned(),
        app_name: app_name.to_owned(),
        function: smoke.function.clone(),
        payload: mock_payload(&smoke.payload),
        timeout: Duration::from_secs(smoke.timeout_s),
    };
    let failed = |message: String| {
        AppError::new(
            Code::ErrSmokeFailed,
            format!(
                "smoke check `{}` of `{app_name}` failed: {message}",
                smoke.function
            ),
        )
    };
    match context.backend.call(&request).await {
        Ok(value) => match smoke_envelope_error(&value) {
            Some(message) => Err(failed(message)),
            None => Ok(()),
        },
        Err(BackendError::SmokeFailed { message, .. }) => Err(failed(message)),
        Err(BackendError::Timeout { timeout, .. }) => {
            Err(failed(format!("no answer within {}s", timeout.as_secs())))
        }
        Err(error) => Err(AppError::from_backend(&error)),
    }
}

/// After a failure: find out what is live and put back what the plan saw (unless `--no-rollback`).
async fn recover(
    context: &Context,
    action: &Action,
    cause: AppError,
    deployed: Option<DeploymentRecord>,
) -> (Outcome, Vec<AppError>) {
    let environment = action.environment.as_str();
    let app_name = action.app_name.as_str();
    let before_version = action.before.as_ref().map(|live| live.version);
    let mut errors = vec![cause];
    let live = match deployed {
        Some(deployed) => Some(deployed),
        None => match context.backend.live_deployment(environment, app_name).await {
            Ok(live) => live,
            Err(error) => {
                errors.push(AppError::new(
                    Code::ErrRollbackFailed,
                    format!("could not read what is live to roll back: {error}"),
                ));
                return (Outcome::LeftFailed { version: None }, errors);
            }
        },
    };
    if moved_since_plan(action, live.as_ref()).is_none() {
        return (
            Outcome::Kept {
                version: before_version,
            },
            errors,
        );
    }
    let live_version = live.as_ref().map(|live| live.version);
    let ours = live.as_ref().and_then(|live| live.tag.as_deref())
        == action.after.as_ref().map(|desired| desired.tag.as_str());
    if !ours {
        errors.push(AppError::new(
            Code::ErrConcurrentChange,
            format!(
                "`{app_name}` in `{environment}` was changed by someone else during this apply; not rolled back"
            ),
        ));
        return (
            Outcome::LeftFailed {
                version: live_version,
            },
            errors,
        );
    }
    if !context.settings.rollback {
        return (
            Outcome::LeftFailed {
                version: live_version,
            },
            errors,
        );
    }
    let Some(before) = before_version else {
        context.emit(&Event::Stopping {
            environment: environment.to_owned(),
            app_name: app_name.to_owned(),
        });
        return match context.backend.stop(environment, app_name).await {
            Ok(()) => (Outcome::Stopped, errors),
            Err(error) => {
                errors.push(AppError::new(
                    Code::ErrRollbackFailed,
                    format!(
                        "stopping the new app failed: {error}; {} deployed by this apply, is still live",
                        live_version.map_or_else(|| "the version".to_owned(), |version| format!("v{version},"))
                    ),
                ));
                (
                    Outcome::LeftFailed {
                        version: live_version,
                    },
                    errors,
                )
            }
        };
    };
    context.emit(&Event::RollingBack {
        environment: environment.to_owned(),
        app_name: app_name.to_owned(),
        to: before,
    });
    if let Err(error) = context
        .backend
        .rollback(environment, app_name, before)
        .await
    {
        errors.push(AppError::new(
            Code::ErrRollbackFailed,
            format!(
                "rolling back to v{before} failed: {error}; {} deployed by this apply, is still live",
                live_version.map_or_else(|| "the version".to_owned(), |version| format!("v{version},"))
            ),
        ));
        return (
            Outcome::LeftFailed {
                version: live_version,
            },
            errors,
        );
    }
    let now_live = context
        .backend
        .live_deployment(environment, app_name)
        .await
        .ok()
        .flatten()
        .map(|live| live.version);
    if let Some(smoke) = action
        .after
        .as_ref()
        .and_then(|desired| desired.smoke.as_ref())
    {
        context.emit(&Event::SmokeChecking {
            environment: environment.to_owned(),
            app_name: app_name.to_owned(),
            version: now_live.unwrap_or(before),
        });
        if let Err(error) = smoke_check(context, environment, app_name, smoke).await {
            errors.push(AppError::new(
                Code::ErrRollbackFailed,
                format!(
                    "rolled back to v{before}, but its smoke check failed too: {}",
                    error.message
                ),
            ));
        }
    }
    (
        Outcome::RolledBack {
            to: before,
            live: now_live,
        },
        errors,
    )
}
