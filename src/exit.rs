//! The one place that decides the process exit code.

use std::process::ExitCode;

/// How a run ended, as a process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything asked for was done; with `--detailed-exitcode`, also "no changes".
    Success,
    /// An error, an invalid manifest, a blocked plan or a failed apply.
    Failure,
    /// With `--detailed-exitcode`: the plan has changes.
    Changes,
    /// Interrupted by Ctrl-C or SIGTERM.
    Interrupted,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Failure => ExitCode::from(1),
            ExitStatus::Changes => ExitCode::from(2),
            ExitStatus::Interrupted => ExitCode::from(130),
        }
    }
}
