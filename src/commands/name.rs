//! `modalplan name`, `completions` and `man`: small commands with no manifest.

use clap::CommandFactory;
use miette::{Report, miette};

use crate::cli::{Cli, NameArgs};
use crate::exit::ExitStatus;
use crate::naming::{AppName, ProcessorRef};
use crate::printer;
use crate::sandbox;

pub fn run(args: &NameArgs) -> Result<ExitStatus, Report> {
    let name = resolve(&args.reference, args.sandbox, args.app_name.as_deref())?;
    printer::stdout(&format!("{name}\n"));
    Ok(ExitStatus::Success)
}

/// The app name a people-facing command acts on: `--app-name` as given, else the sandbox or CI name.
pub fn resolve(reference: &str, sandbox: bool, app_name: Option<&str>) -> Result<AppName, Report> {
    let reference: ProcessorRef = reference
        .parse()
        .map_err(|error| miette!(code = crate::codes::Code::ErrInvalidRef.as_str(), "{error}"))?;
    if let Some(name) = app_name {
        return AppName::parse(name).map_err(|error| {
            miette!(
                code = crate::codes::Code::ErrInvalidAppName.as_str(),
                "{error}"
            )
        });
    }
    let app = reference.app_name();
    if !sandbox {
        return Ok(app);
    }
    let owner = sandbox::current_owner()
        .map_err(|error| miette!(code = crate::codes::Code::ErrUsage.as_str(), "{error}"))?;
    Ok(owner.app_name(&app))
}

pub fn completions(shell: clap_complete::Shell) -> ExitStatus {
    let mut buffer = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "modalplan", &mut buffer);
    printer::stdout(&String::from_utf8_lossy(&buffer));
    ExitStatus::Success
}

pub fn man() -> Result<ExitStatus, Report> {
    let mut buffer = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut buffer)
        .map_err(|error| miette!("could not render the man page: {error}"))?;
    printer::stdout(&String::from_utf8_lossy(&buffer));
    Ok(ExitStatus::Success)
}
