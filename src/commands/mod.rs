//! One module per verb. Each resolves its arguments into settings, calls the core, and hands the result
//! to a renderer; none prints except through [`crate::printer`].

use std::future::Future;

use crate::cli::{Cli, Command, SecretsCommand};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::interrupt::Interrupt;

pub mod apply;
mod apply_lock;
mod context;
pub mod deploy;
pub mod destroy;
pub mod force_unlock;
pub mod history;
pub mod init;
pub mod invoke;
pub mod logs;
pub mod name;
pub mod pin;
mod pin_edit;
pub mod plan;
pub mod promote;
pub mod prune;
pub mod rollback;
mod secret_source;
pub mod secrets;
pub mod secrets_sync;
pub mod smoke;
pub mod status;
mod target;
pub mod validate;

/// Runs the parsed command line. Commands that talk to Modal run with a listener for Ctrl-C and SIGTERM
/// (see [`crate::interrupt`]): read-only ones are cut at the first signal, `apply` and `deploy` wind
/// down through the executor.
pub async fn run(cli: Cli) -> Result<ExitStatus, Error> {
    const NOTHING_CHANGED: &str = "interrupted while reading Modal: nothing was changed";
    const CALL_ABANDONED: &str =
        "interrupted: the call was abandoned; it may still run to its end on Modal";
    const PRUNE_CUT: &str = "interrupted: apps listed as stopped above stay stopped, the others were left as they were; run it again to finish";
    const UNLOCK_CUT: &str = "interrupted: the lock may or may not have been removed; run `modalplan force-unlock` again to be sure";
    const ROLLBACK_CUT: &str = "interrupted: the rollback may or may not have been made; `modalplan history` shows what is live";
    const DESTROY_CUT: &str =
        "interrupted: the app may or may not have been stopped; `modalplan status` shows it";
    const SYNC_CUT: &str = "interrupted: some secrets may have been written, others not; run it again to finish (each secret is replaced whole)";
    const PIN_CUT: &str = "interrupted: the manifest was not changed";
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Schema => Ok(validate::schema()),
        Command::Name(args) => name::run(&args).await,
        Command::Init(args) => init::run(&args),
        Command::Completions(args) => Ok(crate::commands::name::completions(args.shell)),
        Command::Man => name::man(),
        Command::Apply(args) => {
            with_signals(async |interrupt| apply::run(&args, interrupt).await).await
        }
        Command::Deploy(args) => {
            with_signals(async |interrupt| deploy::run(&args, interrupt).await).await
        }
        Command::ForceUnlock(args) => cut(force_unlock::run(&args), Some(UNLOCK_CUT)).await,
        Command::Plan(args) => cut(plan::run(&args), Some(NOTHING_CHANGED)).await,
        Command::Status(args) => cut(status::run(&args), Some(NOTHING_CHANGED)).await,
        Command::Secrets(SecretsCommand::Check(args)) => {
            cut(secrets::check(&args), Some(NOTHING_CHANGED)).await
        }
        Command::Secrets(SecretsCommand::Sync(args)) => {
            cut(secrets_sync::run(&args), Some(SYNC_CUT)).await
        }
        Command::Pin(args) => Box::pin(cut(pin::run(&args), Some(PIN_CUT))).await,
        Command::Promote(args) => Box::pin(cut(promote::run(&args), Some(PIN_CUT))).await,
        Command::Invoke(args) => cut(invoke::run(&args), Some(CALL_ABANDONED)).await,
        Command::Smoke(args) => cut(smoke::run(&args), Some(CALL_ABANDONED)).await,
        Command::Prune(args) => cut(prune::run(&args), Some(PRUNE_CUT)).await,
        Command::History(args) => cut(history::run(&args), Some(NOTHING_CHANGED)).await,
        Command::Rollback(args) => cut(rollback::run(&args), Some(ROLLBACK_CUT)).await,
        Command::Destroy(args) => cut(destroy::run(&args), Some(DESTROY_CUT)).await,
        // Following logs ends with Ctrl-C: the stream stops, with no diagnostic.
        Command::Logs(args) => cut(logs::run(&args), None).await,
    }
}

/// Runs `work` with a listener counting Ctrl-C and SIGTERM into the interrupt it gets.
async fn with_signals(
    work: impl AsyncFnOnce(&Interrupt) -> Result<ExitStatus, Error>,
) -> Result<ExitStatus, Error> {
    let (handle, interrupt) = Interrupt::new();
    let listener = tokio::spawn(crate::interrupt::listen(handle));
    let status = work(&interrupt).await;
    listener.abort();
    status
}

/// Runs `work` unless a signal comes first; then its `modal` processes are stopped and the run ends with
/// exit code 130, printing `message` (if any) as an `ERR_INTERRUPTED` diagnostic.
async fn cut(
    work: impl Future<Output = Result<ExitStatus, Error>>,
    message: Option<&'static str>,
) -> Result<ExitStatus, Error> {
    with_signals(async |interrupt| match interrupt.cut(work).await {
        Some(status) => status,
        None => message.map_or(Ok(ExitStatus::Interrupted), |message| {
            Err(Error::Interrupted(message))
        }),
    })
    .await
}
