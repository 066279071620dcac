//! The executor's schedule: one task per change, at most `parallelism` at once, started in plan order;
//! what an interrupt or `--fail-fast` leaves unstarted. What each task does to its app is in [`super::app`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::app::run_action;
use super::context::{Context, report_for};
use super::report::{AppError, AppReport, ApplyReport, Outcome};
use super::{ApplySettings, Event, EventSink, Interrupt};
use crate::backend::ModalBackend;
use crate::codes::Code;
use crate::plan::{Action, ActionKind, Plan};

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
    let mut launched = 0;

    for (index, action) in plan.actions.iter().enumerate() {
        if let Some(report) = not_executed(action, &context.settings) {
            reports[index] = Some(report);
            continue;
        }
        let permit = slot(&context, &permits, launched).await;
        let stop_launching = context.interrupt.requested()
            || (context.settings.fail_fast && context.failed.load(Ordering::SeqCst));
        match permit {
            Some(permit) if !stop_launching => {
                launched += 1;
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

/// A free slot for the next launch, `None` once an interrupt came first. The first wave's launches after
/// the first wait [`ApplySettings::launch_spacing`] more (see [`super::launch_spacing`]).
async fn slot(
    context: &Context,
    permits: &Arc<Semaphore>,
    launched: usize,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    if context.interrupt.requested() {
        return None;
    }
    let permit = tokio::select! {
        biased;
        () = context.interrupt.wait() => None,
        permit = Arc::clone(permits).acquire_owned() => permit.ok(),
    }?;
    let spacing = context.settings.launch_spacing;
    if !spacing.is_zero() && launched > 0 && launched < context.settings.parallelism {
        tokio::select! {
            () = context.interrupt.wait() => {}
            () = tokio::time::sleep(spacing) => {}
        }
    }
    Some(permit)
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
