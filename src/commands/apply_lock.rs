//! The apply lock around `modalplan apply`: which environments it locks, who it says holds them, and
//! the messages of a held lock, a wait and a release that went wrong.
//!
//! `apply --sandbox` and `deploy` do not lock: sandbox apps are named after their user and branch, so
//! no other apply deploys them, and a lock per environment would make every person's sandbox deploy
//! wait for CI's apply of the same environment.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::Error;

use super::context::Context;
use crate::apply::lock::{LockedError, ReleaseProblem, holder_from, under_lock};
use crate::backend::lock::{ApplyLocks, LockRecord, LockRequest};
use crate::backend::modal_cli::ModalCli;
use crate::cli::ApplyArgs;
use crate::exit::ExitStatus;
use crate::interrupt::Interrupt;
use crate::plan::{Plan, PlanOptions};
use crate::printer;
use crate::render::words;

/// Runs `prepare` (the plan, or the saved plan's check) while the lock is taken, again if the lock was
/// waited for, then `body`; releases the lock at the end, whatever the end.
///
/// A signal before `body` starts (while planning, or waiting for the lock) ends the run with
/// `ERR_INTERRUPTED`: dropping the lock closes its helper's input, so the helper stops waiting or gives
/// back what it took by itself. Once `body` runs, the signal is `body`'s to handle.
pub async fn run_locked<Prep, PrepFut, Body, BodyFut>(
    scope: Option<(Arc<ModalCli>, LockRequest)>,
    interrupt: &Interrupt,
    prepare: Prep,
    body: Body,
) -> Result<ExitStatus, Error>
where
    Prep: FnMut() -> PrepFut,
    PrepFut: Future<Output = Result<Plan, Error>>,
    Body: FnOnce(Plan) -> BodyFut,
    BodyFut: Future<Output = Result<ExitStatus, Error>>,
{
    let lock_timeout = scope
        .as_ref()
        .map_or(Duration::ZERO, |(_, request)| request.wait);
    let lock = scope
        .as_ref()
        .map(|(backend, request)| (backend.as_ref() as &dyn ApplyLocks, request));
    let body_started = AtomicBool::new(false);
    // Boxed, so that it can be dropped (its processes signalled) before waiting for them to end.
    let mut locked = Box::pin(under_lock(lock, prepare, |prepared| {
        body_started.store(true, Ordering::SeqCst);
        body(prepared)
    }));
    let locked = loop {
        tokio::select! {
            locked = &mut locked => break locked,
            () = interrupt.wait(), if !body_started.load(Ordering::SeqCst) => {
                if body_started.load(Ordering::SeqCst) {
                    // The body started since this wait began: the interrupt is its to handle.
                    continue;
                }
                drop(locked);
                crate::interrupt::settle().await;
                return Err(Error::Interrupted("interrupted before anything was applied: nothing was changed"));
            }
        }
    };
    if let Some(problem) = &locked.release {
        printer::stderr(&release_warning(problem));
    }
    match locked.result {
        Ok(status) => Ok(status),
        Err(LockedError::Inner(report)) => Err(report),
        Err(LockedError::Lock(error)) => Err(Error::Backend {
            help: Some(format!(
                "{} (the apply lock is taken on Modal; `--no-lock` skips it, which is dangerous)",
                error.help()
            )),
            error,
        }),
        Err(LockedError::Held { environment, lock }) => {
            Err(held_report(&environment, &lock, lock_timeout))
        }
    }
}

/// The lock's backend and request, or `None` when this apply does not lock.
pub fn scope(
    args: &ApplyArgs,
    context: &Context,
    saved: Option<&Plan>,
) -> Option<(Arc<ModalCli>, LockRequest)> {
    if args.no_lock || args.selection.sandbox {
        return None;
    }
    let manifest = &context.manifest;
    let environments = match saved {
        Some(plan) => plan.environments.clone(),
        // A selection that does not fit the manifest is reported by the plan itself, which fails the
        // same way: nothing is applied, so nothing needs the lock.
        None => PlanOptions::select(
            manifest,
            &args.selection.environments,
            &args.selection.targets,
        )
        .ok()?
        .planned_environments(manifest),
    };
    if environments.is_empty() {
        return None;
    }
    let operation = match &args.plan_file {
        Some(path) => format!("apply {}", path.display()),
        None => "apply".to_owned(),
    };
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "unknown-host".to_owned());
    let holder = holder_from(
        crate::settings::env::var,
        &hostname,
        operation,
        args.selection.manifest.manifest.display().to_string(),
    );
    let wait = args.lock_timeout;
    let request = LockRequest {
        environments,
        holder,
        wait,
        on_wait: Arc::new(move |environment: &str, lock: &LockRecord| {
            printer::stderr(&format!(
                "waiting up to {} for the apply lock of `{environment}`: {}\n",
                crate::manifest::duration::format(wait),
                words::lock_holder(lock)
            ));
        }),
    };
    Some((context.backend(), request))
}

fn held_report(environment: &str, lock: &LockRecord, waited: Duration) -> Error {
    let waited = (!waited.is_zero()).then(|| crate::manifest::duration::format(waited));
    Error::Locked {
        environment: environment.to_owned(),
        lock: Box::new(lock.clone()),
        waited,
    }
}

fn release_warning(problem: &ReleaseProblem) -> String {
    match problem {
        ReleaseProblem::Lost {
            lock_id,
            environments,
        } => format!(
            "warning: the apply lock {lock_id} of `{}` was removed by someone else while this apply ran (`modalplan force-unlock`)\n",
            environments.join("`, `")
        ),
        ReleaseProblem::Failed {
            lock_id,
            environments,
            error,
        } => format!(
            "warning: the release of the apply lock {lock_id} of `{}` was not confirmed: {error}; the lock helper goes on trying by itself. If the lock stays, `modalplan force-unlock --env {} {lock_id}`\n",
            environments.join("`, `"),
            environments.first().map_or("ENV", String::as_str)
        ),
    }
}
