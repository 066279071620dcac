//! Who the caller is, for sandbox names: `$USER` (else `$GITHUB_ACTOR`) and the current git branch.

use std::process::Command;

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
pub fn current_owner() -> Result<SandboxOwner, SandboxError> {
    let user = non_empty_var("USER")
        .or_else(|| non_empty_var("GITHUB_ACTOR"))
        .ok_or(SandboxError::NoUser)?;
    let branch =
        match non_empty_var("MODALPLAN_BRANCH").or_else(|| non_empty_var("GITHUB_HEAD_REF")) {
            Some(branch) => branch,
            None => git_branch()?,
        };
    Ok(SandboxOwner { user, branch })
}

fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

fn git_branch() -> Result<String, SandboxError> {
    let output = Command::new("git")
        .args(["rev-parse", "--abbrev-ref", "HEAD"])
        .output()
        .map_err(|error| SandboxError::NoBranch(error.to_string()))?;
    if !output.status.success() {
        return Err(SandboxError::NoBranch(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    let branch = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if branch.is_empty() || branch == "HEAD" {
        return Err(SandboxError::NoBranch("detached HEAD".into()));
    }
    Ok(branch)
}
