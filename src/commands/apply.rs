//! `modalplan apply [PLAN_FILE]`: a fresh plan (or a saved one, refused when stale), shown, confirmed on a
//! terminal, then executed; progress on standard error, the summary on standard output.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;

use super::context::Context;
use crate::apply::{self, ApplySettings, Event, EventSink, Interrupt};
use crate::backend::ModalBackend;
use crate::cli::ApplyArgs;
use crate::exit::ExitStatus;
use crate::plan::{ActionKind, Plan};
use crate::{printer, render};

/// Plans (or checks the saved plan) while taking the apply lock, then applies and releases the lock
/// (see [`super::apply_lock`]). Until the executor starts, a signal cuts the run: nothing was changed.
/// Once it runs, a signal makes it start nothing new and wind down (see [`crate::interrupt`]).
/// The manifest and a saved plan are read once; the reads, smoke calls and release records go to one
/// helper process for the whole run ([`crate::backend::modal_cli::session`]).
pub async fn run(args: &ApplyArgs, interrupt: &Interrupt) -> Result<ExitStatus, Error> {
    if args.no_lock {
        printer::stderr(
            "warning: --no-lock: applying without the apply lock; another apply may deploy the same apps at the same time\n",
        );
    }
    let context = Context::load_for_plan(&args.selection.manifest.manifest)?.with_session();
    let saved = match &args.plan_file {
        Some(path) => {
            Some(crate::saved_plan::load(path).map_err(|error| Error::SavedPlan { error })?)
        }
        None => None,
    };
    context.start_session().await;
    let lock = super::apply_lock::scope(args, &context, saved.as_ref());
    let outcome = super::apply_lock::run_locked(
        lock,
        interrupt,
        || prepare(args, &context, saved.as_ref()),
        async |plan| execute(args, &context, &plan, interrupt).await,
    )
    .await;
    context.close().await;
    outcome
}

/// The plan to apply: a fresh plan, or the saved one checked against Modal.
async fn prepare(args: &ApplyArgs, context: &Context, saved: Option<&Plan>) -> Result<Plan, Error> {
    let Some(saved) = saved else {
        return super::plan::make_plan(context, &args.selection, super::plan::LockRead::Skip).await;
    };
    let mut plan = saved.clone();
    // Its notes of locks held when it was made are old news: this apply takes the locks.
    plan.locks.clear();
    let code = context.code_snapshot()?;
    crate::saved_plan::check_current(
        &plan,
        &context.manifest.sha256,
        &code,
        context.backend().as_ref(),
    )
    .await
    .map_err(|error| match error {
        crate::saved_plan::SavedPlanError::Backend(error) => Error::backend(error),
        other => Error::SavedPlan { error: other },
    })?;
    Ok(plan)
}

/// Applies a prepared plan.
async fn execute(
    args: &ApplyArgs,
    context: &Context,
    plan: &Plan,
    interrupt: &Interrupt,
) -> Result<ExitStatus, Error> {
    let manifest = &context.manifest;
    let parallelism = usize::from(args.parallelism);
    let backend: Arc<dyn ModalBackend> = context.backend();

    printer::stderr(&render::text(plan));
    // A change the promotion gate holds back does not stop the others: it is reported as not started.
    if let Some(blocker) = plan
        .actions
        .iter()
        .filter(|action| action.kind == ActionKind::Blocked)
        .flat_map(|action| &action.blockers)
        .find(|blocker| blocker.code != crate::codes::Code::ErrNotPromoted)
    {
        return Err(Error::PlanBlocked {
            code: blocker.code,
            count: plan.summary().blocked,
        });
    }
    let not_promoted = plan.summary().blocked;
    if !plan.has_changes() && not_promoted == 0 {
        printer::stdout("No changes: Modal matches the manifest. Nothing to apply.\n");
        return Ok(ExitStatus::Success);
    }
    if !args.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        printer::stderr("\nApply these changes to Modal? Only `yes` is accepted: ");
        // Read on a blocking thread, so that Ctrl-C at the prompt ends the run at once.
        let read = tokio::task::spawn_blocking(|| {
            let mut answer = String::new();
            let _ = std::io::stdin().read_line(&mut answer);
            answer
        });
        let Some(answer) = interrupt.cut(read).await else {
            printer::stderr("\n");
            return Err(Error::Interrupted(
                "interrupted at the prompt: nothing was changed",
            ));
        };
        if answer.unwrap_or_default().trim() != "yes" {
            printer::stderr("Apply cancelled: nothing was changed.\n");
            return Ok(ExitStatus::Failure);
        }
    }

    let settings = ApplySettings {
        parallelism,
        fail_fast: args.fail_fast,
        rollback: !args.no_rollback,
        log_dir: args.log_dir.clone(),
        workdir: manifest.modal.workdir.clone(),
        module: manifest.modal.module.clone(),
        deploy_timeout: manifest.modal.deploy_timeout,
        protect: manifest.protect.clone(),
        grace_period: Duration::from_secs(args.grace_period),
        launch_spacing: apply::launch_spacing(
            parallelism,
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        ),
        provenance: crate::sandbox::provenance(&args.selection.manifest.manifest).await,
    };
    let changes = plan
        .actions
        .iter()
        .filter(|action| {
            matches!(
                action.kind,
                ActionKind::Create | ActionKind::Update | ActionKind::Stop
            )
        })
        .count();
    let progress = Arc::new(printer::Progress::new(changes as u64));
    let sink: EventSink = {
        let progress = Arc::clone(&progress);
        Arc::new(move |event: &Event| {
            progress.line(&crate::render::apply::event(event));
            if let Event::Finished(app) = event {
                if !matches!(app.kind, ActionKind::NoOp | ActionKind::Orphan) {
                    progress.advance();
                }
            }
        })
    };
    let report = apply::execute(backend, plan, &settings, interrupt.clone(), sink).await;
    progress.finish();
    printer::stdout(&crate::render::apply::text(&report));
    let modal_changed = report.apps.iter().any(|app| {
        matches!(
            app.outcome,
            apply::Outcome::Deployed { .. } | apply::Outcome::Pruned
        )
    });
    if let Err(error) = crate::github::actions::report_apply(
        crate::settings::env::var,
        modal_changed,
        report.failed() > 0,
        &crate::render::apply::markdown(&report),
    ) {
        printer::stderr(&format!(
            "warning: could not write the GitHub step summary: {error}\n"
        ));
    }
    Ok(report.exit_status())
}
