//! Running one external process: no shell, its own process group, a timeout that kills the whole group,
//! output captured (and optionally written to a log file).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::BackendError;

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct ProcessSpec {
    /// Program and arguments; the program is looked up on `PATH`, never through a shell.
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
    pub timeout: Duration,
    /// Bytes written to the process's standard input, then closed.
    pub stdin: Option<Vec<u8>>,
}

/// What a finished process left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOutput {
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl ProcessOutput {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

impl ProcessSpec {
    /// The command as people read it, for messages (arguments are not quoted: no shell ever sees it).
    pub fn display(&self) -> String {
        self.argv.join(" ")
    }

    /// Runs it to the end or to its timeout. On timeout the process group gets SIGTERM, then SIGKILL
    /// after two seconds, and is reaped.
    pub async fn run(&self) -> Result<ProcessOutput, BackendError> {
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| BackendError::CliMissing {
                program: String::new(),
                reason: "no program given".into(),
            })?;
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(&self.env)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        let mut child = command.spawn().map_err(|error| BackendError::CliMissing {
            program: program.clone(),
            reason: error.to_string(),
        })?;
        let pid = child.id();
        if let (Some(bytes), Some(mut stdin)) = (self.stdin.clone(), child.stdin.take()) {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                // A process that exits without reading its input is not an error here.
                let _ = stdin.write_all(&bytes).await;
            });
        }
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let read_stdout = async move {
            let mut buffer = Vec::new();
            let _ = stdout.read_to_end(&mut buffer).await;
            buffer
        };
        let read_stderr = async move {
            let mut buffer = Vec::new();
            let _ = stderr.read_to_end(&mut buffer).await;
            buffer
        };
        let finished = async {
            let (out, err, status) = tokio::join!(read_stdout, read_stderr, child.wait());
            (out, err, status)
        };
        match tokio::time::timeout(self.timeout, finished).await {
            Ok((out, err, status)) => {
                let status = status.map_err(|error| BackendError::CommandFailed {
                    command: self.display(),
                    exit_code: None,
                    stderr: error.to_string(),
                })?;
                Ok(ProcessOutput {
                    exit_code: status.code(),
                    stdout: String::from_utf8_lossy(&out).into_owned(),
                    stderr: String::from_utf8_lossy(&err).into_owned(),
                })
            }
            Err(_) => {
                if let Some(pid) = pid {
                    kill_group(pid).await;
                }
                Err(BackendError::Timeout {
                    command: self.display(),
                    timeout: self.timeout,
                })
            }
        }
    }
}

/// SIGTERM to the group, SIGKILL two seconds later if anything is left.
pub async fn kill_group(pid: u32) {
    let Ok(raw) = i32::try_from(pid) else { return };
    let group = Pid::from_raw(raw);
    if killpg(group, Signal::SIGTERM).is_err() {
        return;
    }
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if killpg(group, None).is_err() {
            return;
        }
    }
    let _ = killpg(group, Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn captures_output_and_exit_code() {
        let spec = ProcessSpec {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "echo out; echo err >&2; exit 3".into(),
            ],
            timeout: Duration::from_secs(10),
            ..ProcessSpec::default()
        };
        let output = spec.run().await.unwrap();
        assert_eq!(output.exit_code, Some(3));
        assert_eq!(output.stdout, "out\n");
        assert_eq!(output.stderr, "err\n");
    }

    #[tokio::test]
    async fn a_hanging_process_group_is_killed_on_timeout() {
        let spec = ProcessSpec {
            argv: vec!["sh".into(), "-c".into(), "sleep 30 & sleep 30".into()],
            timeout: Duration::from_millis(300),
            ..ProcessSpec::default()
        };
        let error = spec.run().await.unwrap_err();
        assert!(matches!(error, BackendError::Timeout { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn a_missing_program_is_reported_as_such() {
        let spec = ProcessSpec {
            argv: vec!["/nonexistent/modal".into()],
            timeout: Duration::from_secs(1),
            ..ProcessSpec::default()
        };
        assert!(matches!(
            spec.run().await.unwrap_err(),
            BackendError::CliMissing { .. }
        ));
    }
}
