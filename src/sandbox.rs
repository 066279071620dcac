//! Who the caller is, for sandbox names: `$USER` (else `$GITHUB_ACTOR`) and the current git branch.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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
    let user = crate::settings::env::user().ok_or(SandboxError::NoUser)?;
    let branch = match crate::settings::env::branch() {
        Some(branch) => branch,
        None => git_branch()?,
    };
    Ok(SandboxOwner { user, branch })
}

/// Where this run comes from, for its release records: the manifest, the commit of its repository and
/// whether the tree is dirty (two `git` processes, once per run; `None` outside a git checkout), and who.
pub fn provenance(manifest: &std::path::Path) -> crate::apply::Provenance {
    let folder = manifest
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    let folder = folder.display().to_string();
    let run = |arguments: &[&str]| {
        let mut all = vec!["-C", folder.as_str()];
        all.extend_from_slice(arguments);
        git(&all)
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let commit = run(&["rev-parse", "HEAD"]).filter(|commit| !commit.is_empty());
    let dirty = commit
        .as_ref()
        .and_then(|_| run(&["status", "--porcelain", "--untracked-files=no"]))
        .map(|status| !status.is_empty());
    crate::apply::Provenance {
        manifest: Some(manifest.display().to_string()),
        commit,
        dirty,
        by: crate::settings::env::user().unwrap_or_else(|| "unknown".to_owned()),
    }
}

fn git_branch() -> Result<String, SandboxError> {
    let output = git(&["rev-parse", "--abbrev-ref", "HEAD"]).map_err(SandboxError::NoBranch)?;
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

/// How long one `git` command may run (a remote that does not answer, a credential prompt).
pub const GIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `git ARGS` with [`GIT_TIMEOUT`]; on timeout its process group is killed and the error says so.
/// The error is a reason for a message: the OS error, or the timeout.
pub fn git(arguments: &[&str]) -> Result<Output, String> {
    git_with_timeout("git", arguments, GIT_TIMEOUT)
}

fn git_with_timeout(
    program: &str,
    arguments: &[&str],
    timeout: Duration,
) -> Result<Output, String> {
    let mut child = Command::new(program)
        .args(arguments)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Never wait for a credential prompt.
        .env("GIT_TERMINAL_PROMPT", "0")
        .process_group(0)
        .spawn()
        .map_err(|error| error.to_string())?;
    let reader = |stream: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut stream) = stream {
                let _ = stream.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{program} {}` did not finish within {}s",
                    arguments.join(" "),
                    timeout.as_secs()
                ));
            }
            Err(error) => return Err(error.to_string()),
        }
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_that_hangs_is_killed_at_its_timeout() {
        let error = git_with_timeout("sleep", &["30"], Duration::from_secs(1)).unwrap_err();
        assert_eq!(error, "`sleep 30` did not finish within 1s");
    }

    #[test]
    fn a_command_that_ends_gives_its_output() {
        let output = git_with_timeout("echo", &["main"], Duration::from_secs(30)).unwrap();
        assert!(output.status.success());
        assert_eq!(output.stdout, b"main\n");
    }
}
