//! `modalplan name`, `completions` and `man`: small commands with no manifest.

use crate::error::Error;
use clap::CommandFactory;

use crate::cli::{Cli, NameArgs};
use crate::exit::ExitStatus;
use crate::naming::{AppName, ProcessorRef};
use crate::printer;
use crate::sandbox;

pub async fn run(args: &NameArgs) -> Result<ExitStatus, Error> {
    let name = resolve(&args.reference, args.sandbox, args.app_name.as_deref()).await?;
    printer::stdout(&format!("{name}\n"));
    Ok(ExitStatus::Success)
}

/// The app name a people-facing command acts on: `--app-name` as given, else the sandbox or CI name.
pub async fn resolve(
    reference: &str,
    sandbox: bool,
    app_name: Option<&str>,
) -> Result<AppName, Error> {
    let reference: ProcessorRef = reference
        .parse()
        .map_err(|error: crate::naming::NamingError| Error::InvalidRef(error.to_string()))?;
    if let Some(name) = app_name {
        return AppName::parse(name).map_err(|error| Error::InvalidAppName {
            name: name.to_owned(),
            reason: error.to_string(),
            flag: false,
        });
    }
    let app = reference.app_name();
    if !sandbox {
        return Ok(app);
    }
    let owner = sandbox::current_owner()
        .await
        .map_err(|error| Error::NoSandboxOwner {
            source: error,
            help: None,
        })?;
    Ok(owner.app_name(&app))
}

pub fn completions(shell: clap_complete::Shell) -> ExitStatus {
    let mut buffer = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "modalplan", &mut buffer);
    printer::stdout(&String::from_utf8_lossy(&buffer));
    ExitStatus::Success
}

pub fn man() -> Result<ExitStatus, Error> {
    let mut buffer = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut buffer)
        .map_err(Error::ManPage)?;
    printer::stdout(&String::from_utf8_lossy(&buffer));
    Ok(ExitStatus::Success)
}
