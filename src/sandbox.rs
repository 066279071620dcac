//! Who the caller is, for sandbox names: `$USER` (else `$GITHUB_ACTOR`) and the current git branch.

use std::time::Duration;

use crate::backend::process::{ProcessOutput, ProcessSpec};
use crate::naming::SandboxOwner;

/// Why no sandbox name can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("no user for the sandbox name: set USER (or GITHUB_ACTOR), or pass --app-name")]
    NoUser,
    #[error(
        "no git branch for the sandbox name ({0}): run inside a git checkout, or pass --app-name"
    )]
    NoBranch(String),
}

/// The caller, from the environment and git.
pub async fn current_owner() -> Result<SandboxOwner, SandboxError> {
    let user = crate::settings::env::user().ok_or(SandboxError::NoUser)?;
    let branch = match crate::settings::env::branch() {
        Some(branch) => branch,
        None => git_branch().await?,
    };
    Ok(SandboxOwner { user, branch })
}

/// Where this run comes from, for its release records: the manifest, the commit of its repository and
/// whether the tree is dirty (two `git` processes, once per run; `None` outside a git checkout), and who.
pub async fn provenance(manifest: &std::path::Path) -> crate::apply::Provenance {
    let folder = manifest
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    let folder = folder.display().to_string();
    let run = |arguments: &'static [&'static str]| {
        let folder = folder.clone();
        async move {
            let mut all = vec!["-C", folder.as_str()];
            all.extend_from_slice(arguments);
            git(&all)
                .await
                .ok()
                .filter(ProcessOutput::success)
                .map(|output| output.stdout.trim().to_owned())
        }
    };
    let commit = run(&["rev-parse", "HEAD"])
        .await
        .filter(|commit| !commit.is_empty());
    let dirty = match &commit {
        Some(_) => run(&["status", "--porcelain", "--untracked-files=no"])
            .await
            .map(|status| !status.is_empty()),
        None => None,
    };
    crate::apply::Provenance {
        manifest: Some(manifest.display().to_string()),
        commit,
        dirty,
        by: crate::settings::env::user().unwrap_or_else(|| "unknown".to_owned()),
    }
}

async fn git_branch() -> Result<String, SandboxError> {
    let output = git(&["rev-parse", "--abbrev-ref", "HEAD"])
        .await
        .map_err(SandboxError::NoBranch)?;
    if !output.success() {
        return Err(SandboxError::NoBranch(output.stderr.trim().to_owned()));
    }
    let branch = output.stdout.trim().to_owned();
    if branch.is_empty() || branch == "HEAD" {
        return Err(SandboxError::NoBranch("detached HEAD".into()));
    }
    Ok(branch)
}

/// How long one `git` command may run (a remote that does not answer, a credential prompt).
pub const GIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `git ARGS` with [`GIT_TIMEOUT`], through the one process runner (its own process group, killed
/// whole at the timeout). The error is a reason for a message: the OS error, or the timeout.
pub async fn git(arguments: &[&str]) -> Result<ProcessOutput, String> {
    run_with_timeout("git", arguments, GIT_TIMEOUT).await
}

async fn run_with_timeout(
    program: &str,
    arguments: &[&str],
    timeout: Duration,
) -> Result<ProcessOutput, String> {
    let spec = ProcessSpec {
        argv: std::iter::once(program)
            .chain(arguments.iter().copied())
            .map(str::to_owned)
            .collect(),
        // Never wait for a credential prompt.
        env: [("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned())].into(),
        cwd: None,
        timeout,
        stdin: None,
    };
    spec.run().await.map_err(|error| match error {
        crate::backend::BackendError::CliMissing { reason, .. } => reason,
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_command_that_hangs_is_killed_at_its_timeout() {
        let error = run_with_timeout("sleep", &["30"], Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(error, "`sleep 30` did not finish within 1s");
    }

    #[tokio::test]
    async fn a_command_that_ends_gives_its_output() {
        let output = run_with_timeout("echo", &["main"], Duration::from_secs(30))
            .await
            .unwrap();
        assert!(output.success());
        assert_eq!(output.stdout, "main\n");
    }
}
