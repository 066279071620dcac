//! `modalplan force-unlock --env ENV LOCK_ID`: removes the apply lock a run that is gone left behind,
//! only when its id is the one given.

use miette::{Report, miette};

use super::target;
use crate::backend::lock::{ApplyLocks, ForceUnlock};
use crate::cli::ForceUnlockArgs;
use crate::codes::Code;
use crate::exit::ExitStatus;
use crate::printer;

pub async fn run(args: &ForceUnlockArgs) -> Result<ExitStatus, Report> {
    let manifest = target::load_manifest(&args.manifest.manifest)?;
    let environment = args.environment.as_str();
    target::check_environment(&manifest, environment)?;
    let backend = target::backend(&manifest);
    let outcome = backend
        .force_unlock(environment, &args.lock_id)
        .await
        .map_err(|error| target::backend_report(&error, None))?;
    match outcome {
        ForceUnlock::Removed(lock) => {
            printer::stdout(&format!(
                "Removed the apply lock of `{environment}`: {}.\n",
                crate::render::words::lock_holder(&lock)
            ));
            Ok(ExitStatus::Success)
        }
        ForceUnlock::Mismatch(lock) => Err(miette!(
            code = Code::ErrLocked.as_str(),
            help = format!(
                "pass the id of the lock held now, if its run is gone: `modalplan force-unlock --env {environment} {}`",
                lock.id
            ),
            "the apply lock of `{environment}` is not `{}`: it is {}; nothing was removed",
            args.lock_id,
            crate::render::words::lock_holder(&lock)
        )),
        ForceUnlock::Absent => Err(miette!(
            code = Code::ErrUsage.as_str(),
            help = "nothing to do: the next apply takes the lock",
            "no apply lock is held in `{environment}`; nothing was removed"
        )),
    }
}
