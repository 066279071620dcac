//! One module per verb. Each resolves its arguments into settings, calls the core, and hands the result
//! to a renderer; none prints except through [`crate::printer`].

use miette::Report;

use crate::cli::{Cli, Command, SecretsCommand};
use crate::exit::ExitStatus;

pub mod apply;
mod apply_lock;
pub mod deploy;
pub mod force_unlock;
pub mod init;
pub mod invoke;
pub mod logs;
pub mod name;
pub mod plan;
pub mod prune;
pub mod secrets;
pub mod smoke;
pub mod status;
mod target;
pub mod validate;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitStatus, Report> {
    match cli.command {
        Command::Validate(args) => validate::run(&args, cli.color),
        Command::Schema => Ok(validate::schema()),
        Command::Name(args) => name::run(&args),
        Command::Plan(args) => plan::run(&args, cli.color).await,
        Command::Apply(args) => apply::run(&args, cli.color).await,
        Command::ForceUnlock(args) => force_unlock::run(&args).await,
        Command::Deploy(args) => deploy::run(&args).await,
        Command::Logs(args) => logs::run(&args).await,
        Command::Invoke(args) => invoke::run(&args).await,
        Command::Smoke(args) => smoke::run(&args).await,
        Command::Secrets(SecretsCommand::Check(args)) => secrets::check(&args).await,
        Command::Status(args) => status::run(&args).await,
        Command::Init(args) => init::run(&args),
        Command::Prune(args) => prune::run(&args).await,
        Command::Completions(args) => Ok(crate::commands::name::completions(args.shell)),
        Command::Man => name::man(),
    }
}
