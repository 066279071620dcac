//! `modalplan apply [PLAN_FILE]`: a fresh plan (or a saved one, refused when stale), shown, confirmed on a
//! terminal, then executed; progress on standard error, the summary on standard output.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;

use crate::apply::{self, ApplySettings, Event, EventSink, Interrupt};
use crate::backend::ModalBackend;
use crate::cli::ApplyArgs;
use crate::exit::ExitStatus;
use crate::manifest::{self, ValidManifest};
use crate::plan::{ActionKind, Plan};
use crate::{printer, render};

/// Plans (or checks the saved plan) while taking the apply lock, then applies and releases the lock
/// (see [`super::apply_lock`]). Until the executor starts, a signal cuts the run: nothing was changed.
/// Once it runs, a signal makes it start nothing new and wind down (see [`crate::interrupt`]).
/// Its reads, smoke calls and release records go to one helper process for the whole run
/// ([`crate::backend::modal_cli::session`]).
pub async fn run(args: &ApplyArgs, interrupt: &Interrupt) -> Result<ExitStatus, Error> {
    crate::backend::modal_cli::session::enable_for_run();
    let outcome = super::apply_lock::run_locked(
        args,
        interrupt,
        || prepare(args),
        async |(manifest, plan)| execute(args, &manifest, &plan, interrupt).await,
    )
    .await;
    crate::backend::modal_cli::session::close().await;
    outcome
}

/// The manifest and the plan to apply: a fresh plan, or a saved one checked against Modal.
async fn prepare(args: &ApplyArgs) -> Result<(ValidManifest, Plan), Error> {
    Ok(match &args.plan_file {
        None => super::plan::make_plan(&args.selection, super::plan::LockRead::Skip).await?,
        Some(path) => {
            let manifest = manifest::load(&args.selection.manifest.manifest)
                .map_err(|errors| {
                    printer::stderr(&crate::github::annotate::manifest_diagnostics(
                        crate::settings::env::var,
                        &errors.diagnostics,
                    ));
                    Error::from(errors)
                })?
                .manifest;
            let mut plan =
                crate::saved_plan::load(path).map_err(|error| Error::SavedPlan { error })?;
            // Its notes of locks held when it was made are old news: this apply takes the locks.
            plan.locks.clear();
            let code = super::plan::code_snapshot(&manifest)?;
            crate::saved_plan::check_current(
                &plan,
                &manifest.sha256,
                &code,
                &super::plan::backend_for(&manifest),
            )
            .await
            .map_err(|error| match error {
                crate::saved_plan::SavedPlanError::Backend(error) => Error::backend(error),
                other => Error::SavedPlan { error: other },
            })?;
            (manifest, plan)
        }
    })
}

/// Applies a prepared plan.
async fn execute(
    args: &ApplyArgs,
    manifest: &ValidManifest,
    plan: &Plan,
    interrupt: &Interrupt,
) -> Result<ExitStatus, Error> {
    let parallelism = usize::from(args.parallelism);
    let backend: Arc<dyn ModalBackend> = Arc::new(super::plan::backend_for(manifest));

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
