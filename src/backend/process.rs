//! Running one external process: no shell, its own process group, a timeout that kills the whole group,
//! output captured (and optionally written to a log file).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

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
    /// A program given with `-c` (modalplan's helper) is shown by its first line, `<...>`, not whole.
    pub fn display(&self) -> String {
        let mut words = Vec::with_capacity(self.argv.len());
        let mut program_follows = false;
        for argument in &self.argv {
            if program_follows && argument.contains('\n') {
                let first = argument.lines().next().unwrap_or_default();
                words.push(format!("<{}>", first.trim_start_matches(['#', ' '])));
            } else {
                words.push(argument.clone());
            }
            program_follows = argument == "-c";
        }
        words.join(" ")
    }

    /// Runs it to the end or to its timeout. On timeout the process group gets SIGTERM, then SIGKILL
    /// after two seconds, and is reaped. Dropping the future (an interrupt) also signals the group.
    pub async fn run(&self) -> Result<ProcessOutput, BackendError> {
        self.run_with_log(None).await
    }

    /// Like [`ProcessSpec::run`], and also appends standard output and error to `log_file` as they come,
    /// so the log is whole even when the process is killed.
    pub async fn run_logged(&self, log_file: &Path) -> Result<ProcessOutput, BackendError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_file)
            .map_err(|error| BackendError::CommandFailed {
                command: self.display(),
                exit_code: None,
                stderr: format!(
                    "could not open the log file {}: {error}",
                    log_file.display()
                ),
            })?;
        self.run_with_log(Some(Arc::new(Mutex::new(file)))).await
    }

    /// Starts it in its own process group (so a timeout or an interrupt can signal everything it
    /// started), with standard output and error piped, and standard input piped only when there is some.
    pub fn spawn(&self) -> Result<Child, BackendError> {
        let stdin = if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        self.start(stdin, true)
    }

    /// Starts it in its own process group with standard input, output and error piped, and NOT killed
    /// when its handle is dropped: for a helper that must outlive a cut future (or modalplan itself)
    /// long enough to undo what it did once its standard input closes, like the apply lock's.
    pub fn spawn_held(&self) -> Result<Child, BackendError> {
        self.start(Stdio::piped(), false)
    }

    fn start(&self, stdin: Stdio, kill_on_drop: bool) -> Result<Child, BackendError> {
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
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(kill_on_drop);
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        command.spawn().map_err(|error| BackendError::CliMissing {
            program: program.clone(),
            reason: error.to_string(),
        })
    }

    async fn run_with_log(
        &self,
        log: Option<Arc<Mutex<std::fs::File>>>,
    ) -> Result<ProcessOutput, BackendError> {
        let mut child = self.spawn()?;
        let mut guard = GroupGuard(child.id());
        if let (Some(bytes), Some(mut stdin)) = (self.stdin.clone(), child.stdin.take()) {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                // A process that exits without reading its input is not an error here.
                let _ = stdin.write_all(&bytes).await;
            });
        }
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let finished = async {
            let (out, err, status) = tokio::join!(
                read_all(stdout, log.clone()),
                read_all(stderr, log.clone()),
                child.wait()
            );
            (out, err, status)
        };
        match tokio::time::timeout(self.timeout, finished).await {
            Ok((out, err, status)) => {
                guard.disarm();
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
                if let Some(pid) = guard.disarm() {
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

/// Reads a pipe to its end, appending each chunk to the log when there is one.
async fn read_all(
    mut pipe: impl tokio::io::AsyncRead + Unpin,
    log: Option<Arc<Mutex<std::fs::File>>>,
) -> Vec<u8> {
    let mut buffer = Vec::new();
    let mut chunk = vec![0_u8; 8192];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                buffer.extend_from_slice(&chunk[..read]);
                if let Some(log) = &log {
                    let mut file = log
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    // A log that cannot be written must not fail the command it records.
                    let _ = file.write_all(&chunk[..read]);
                }
            }
        }
    }
    buffer
}

/// Signals the process group when the future running it is dropped before the process ended (an
/// interrupt cut it): SIGTERM now, SIGKILL two seconds later.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    fn disarm(&mut self) -> Option<u32> {
        self.0.take()
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let Some(pid) = self.0.take() else { return };
        let Ok(raw) = i32::try_from(pid) else { return };
        let group = Pid::from_raw(raw);
        if killpg(group, Signal::SIGTERM).is_err() {
            return;
        }
        SIGNALLED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(raw);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let _ = killpg(group, Signal::SIGKILL);
            });
        }
    }
}

/// Process groups a dropped [`GroupGuard`] sent SIGTERM to, for [`settle_signalled_groups`].
static SIGNALLED: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Waits up to two seconds for every process group signalled by a dropped run to be gone, then sends
/// SIGKILL to what is left. The run ends right after an interrupt, before the SIGKILL a dropped guard
/// schedules would fire: this makes sure nothing it started outlives it.
pub async fn settle_signalled_groups() {
    let groups: Vec<i32> = std::mem::take(
        &mut *SIGNALLED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let alive = |group: i32| killpg(Pid::from_raw(group), None).is_ok();
    for _ in 0..20 {
        if !groups.iter().any(|group| alive(*group)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for group in groups {
        let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
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

    #[test]
    fn a_helper_program_is_shown_by_its_first_line_and_a_one_line_script_whole() {
        let helper = ProcessSpec {
            argv: vec![
                "/venv/bin/python".into(),
                "-c".into(),
                crate::backend::modal_cli::helper::program(
                    crate::backend::modal_cli::helper::Op::Observe,
                ),
            ],
            ..ProcessSpec::default()
        };
        assert_eq!(
            helper.display(),
            "/venv/bin/python -c <modalplan's observe helper>"
        );
        let script = ProcessSpec {
            argv: vec!["sh".into(), "-c".into(), "exit 3".into()],
            ..ProcessSpec::default()
        };
        assert_eq!(script.display(), "sh -c exit 3");
    }

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
    async fn a_logged_run_writes_both_streams_to_the_log_and_returns_them() {
        let folder = tempfile::tempdir().unwrap();
        let log = folder.path().join("deploy.log");
        let spec = ProcessSpec {
            argv: vec!["sh".into(), "-c".into(), "echo out; echo err >&2".into()],
            timeout: Duration::from_secs(10),
            ..ProcessSpec::default()
        };
        let output = spec.run_logged(&log).await.unwrap();
        assert_eq!(output.stdout, "out\n");
        assert_eq!(output.stderr, "err\n");
        let mut lines: Vec<String> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        assert_eq!(lines, ["err", "out"]);
    }

    /// Gone, or a zombie waiting for whatever reaps orphans here.
    fn ended(pid: i32) -> bool {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        state.is_empty()
            || state
                .rsplit(") ")
                .next()
                .is_some_and(|rest| rest.starts_with('Z'))
    }

    /// Polls for a second at most until `pid` has ended.
    async fn ends_soon(pid: i32) -> bool {
        for _ in 0..50 {
            if ended(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Runs `sh -c "<setup> sleep 30 & ...; wait"`, drops the run once the background `sleep` (a
    /// grandchild in the run's process group) has started, and returns that grandchild's pid.
    async fn drop_a_run_with_a_grandchild(setup: &str) -> i32 {
        let folder = tempfile::tempdir().unwrap();
        let pid_file = folder.path().join("pid");
        let spec = ProcessSpec {
            argv: vec![
                "sh".into(),
                "-c".into(),
                format!("{setup} sleep 30 & echo $! > {}; wait", pid_file.display()),
            ],
            timeout: Duration::from_secs(60),
            ..ProcessSpec::default()
        };
        let run = spec.run();
        let started = async {
            while std::fs::read_to_string(&pid_file).map_or(true, |text| text.trim().is_empty()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            _ = run => panic!("the process should still be running"),
            () = started => {}
        }
        std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[tokio::test]
    async fn dropping_a_running_process_signals_its_whole_group() {
        let grandchild = drop_a_run_with_a_grandchild("").await;
        assert!(
            ends_soon(grandchild).await,
            "the grandchild {grandchild} outlived the dropped run"
        );
    }

    #[tokio::test]
    async fn settling_kills_what_ignored_the_sigterm_of_a_dropped_run() {
        let grandchild = drop_a_run_with_a_grandchild("trap '' TERM;").await;
        // The grandchild ignores the SIGTERM the dropped run sent its group.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!ended(grandchild), "SIGTERM should have been ignored");
        settle_signalled_groups().await;
        assert!(
            ends_soon(grandchild).await,
            "the grandchild {grandchild} outlived settling"
        );
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
