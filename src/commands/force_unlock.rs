//! `modalplan force-unlock --env ENV LOCK_ID`: removes the apply lock a run that is gone left behind,
//! only when its id is the one given.

use super::context::Context;
use crate::error::Error;

use super::target;
use crate::backend::lock::{ApplyLocks, ForceUnlock};
use crate::cli::ForceUnlockArgs;
use crate::exit::ExitStatus;
use crate::printer;

pub async fn run(args: &ForceUnlockArgs) -> Result<ExitStatus, Error> {
    let context = Context::load(&args.manifest.manifest)?;
    let manifest = &context.manifest;
    let environment = args.environment.as_str();
    target::check_environment(manifest, environment)?;
    let backend = context.backend();
    let outcome = backend
        .force_unlock(environment, &args.lock_id)
        .await
        .map_err(Error::backend)?;
    match outcome {
        ForceUnlock::Removed(lock) => {
            printer::stdout(&format!(
                "Removed the apply lock of `{environment}`: {}.\n",
                crate::render::words::lock_holder(&lock)
            ));
            Ok(ExitStatus::Success)
        }
        ForceUnlock::Mismatch(lock) => Err(Error::LockIsAnother {
            environment: environment.to_string(),
            given: args.lock_id.clone(),
            lock: Box::new(lock),
        }),
        ForceUnlock::Absent => Err(Error::NoLockHeld {
            environment: environment.to_string(),
        }),
    }
}
