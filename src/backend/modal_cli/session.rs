//! One long-lived helper process per run (the [helper](super::helper)'s session operation): the plan's read, an apply's re-checks
//! and read-backs, its smoke calls and its release records all go to the same Python process on the
//! CLI's interpreter, which imports the SDK once. A Python start with the SDK costs about a CPU-second, so
//! an apply starts one Python process per app (its `modal deploy`) instead of four.
//!
//! The session carries the one-shot helpers' requests and replies in the same envelope: each reply is
//! the document a one-shot helper would write, read by the same code. When the session cannot
//! start, or ends before it answers (an SDK it does not fit, an interpreter that is not Python), the
//! request runs as before, in its own one-shot helper process, with the same fallbacks.
//!
//! The session belongs to a backend value ([`ModalCli::with_session`](super::ModalCli::with_session)): the
//! command context of `apply` and `plan` gives its backend one and starts it at once, so that Python's
//! start and the SDK's import overlap the command's own work before its first read; the other commands
//! make one read or call and keep their one-shot helper. An apply starts `modal deploy` once per app,
//! the apply lock's helper and this one process, whatever the number of apps.
//! `MODALPLAN_SESSION=off` ([`crate::settings::session_helper`]) forces the one-shot helpers. Which path
//! a run took is in its debug log (`RUST_LOG=modalplan=debug`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::oneshot;

use super::ModalCli;
use super::helper::{self, Op};
use crate::backend::BackendError;
use crate::backend::process::{ProcessOutput, ProcessSpec};

type Waiters = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<serde_json::Value>>>>>;

/// The running helper.
#[derive(Debug)]
pub struct Session {
    /// `None` once [`Session::end`] closed it.
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    /// Requests waiting for their reply; `None` once the helper ended.
    waiters: Waiters,
    next: AtomicU64,
    /// Its process id, for the debug log.
    pid: Option<u32>,
    /// Killed when the last handle goes, unless [`Session::end`] saw it end by itself.
    child: tokio::sync::Mutex<Child>,
}

impl Session {
    async fn start(cli: &ModalCli) -> Result<Session, String> {
        let python = cli.config.python().map_err(|error| error.to_string())?;
        let spec = ProcessSpec {
            argv: vec![
                python.display().to_string(),
                "-c".into(),
                helper::program(Op::Session),
            ],
            env: cli.config.env.clone(),
            cwd: None,
            timeout: Duration::MAX,
            // Piped, written line by line.
            stdin: Some(Vec::new()),
        };
        let mut child = spec.spawn().map_err(|error| error.to_string())?;
        let pid = child.id();
        let mut stdin = child.stdin.take().ok_or("no standard input")?;
        // Its first line makes the helper a session.
        let opening = helper::request_line(0, Op::Session, &serde_json::json!({}));
        stdin
            .write_all(opening.as_bytes())
            .await
            .map_err(|error| error.to_string())?;
        let stdout = child.stdout.take().ok_or("no standard output")?;
        let stderr = child.stderr.take().ok_or("no standard error")?;
        let waiters: Waiters = Arc::new(Mutex::new(Some(HashMap::new())));
        let reading = Arc::clone(&waiters);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Some((id, reply)) = helper::read_reply(&line) else {
                    tracing::debug!("the session helper printed {line:?}: not using it");
                    break;
                };
                let waiter = reading
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .as_mut()
                    .and_then(|waiters| waiters.remove(&id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(reply);
                }
            }
            // Ended: every request still waiting runs in its own helper instead.
            tracing::debug!(
                "the session helper ended; what it was still asked runs in one-shot helpers"
            );
            reading
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
        });
        tokio::spawn(async move {
            // What the SDK prints on stderr, kept for a debug log only.
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!("session helper: {line}");
            }
        });
        Ok(Session {
            stdin: tokio::sync::Mutex::new(Some(stdin)),
            waiters,
            next: AtomicU64::new(1),
            pid,
            child: tokio::sync::Mutex::new(child),
        })
    }

    /// Closes its standard input, on which the helper exits by itself, and waits for that (so that its
    /// CPU time is accounted to modalplan); killed when it has not ended within a second.
    async fn end(&self) {
        self.stdin.lock().await.take();
        let mut child = self.child.lock().await;
        if tokio::time::timeout(Duration::from_secs(1), child.wait())
            .await
            .is_err()
        {
            let _ = child.start_kill();
        }
    }

    /// How many requests it was sent.
    fn asked(&self) -> u64 {
        self.next.load(Ordering::Relaxed) - 1
    }

    /// The answer to one request.
    async fn ask(&self, op: Op, request: &serde_json::Value, timeout: Duration) -> Answer {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        {
            let mut waiters = self
                .waiters
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(waiters) = waiters.as_mut() else {
                return Answer::NotSent;
            };
            waiters.insert(id, sender);
        }
        let bytes = helper::request_line(id, op, request).into_bytes();
        {
            let mut stdin = self.stdin.lock().await;
            let Some(stdin) = stdin.as_mut() else {
                return Answer::NotSent;
            };
            // A write that fails found the pipe closed: the helper is gone and read none of it.
            if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
                return Answer::NotSent;
            }
        }
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(reply)) => Answer::Reply(reply),
            Ok(Err(_)) => Answer::Lost,
            Err(_) => Answer::TimedOut,
        }
    }
}

/// What became of one request sent to the session.
#[derive(Debug)]
enum Answer {
    Reply(serde_json::Value),
    /// The session had ended before the request reached it.
    NotSent,
    /// The session ended after it was sent and before it answered: it may have been carried out.
    Lost,
    TimedOut,
}

/// Whether a request the session lost (see [`Answer::Lost`]) may run again in a one-shot helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// A read, or a call in mock mode: running it twice changes nothing.
    Safe,
    /// A write (a release record is appended): it runs once at most, and a lost answer is an error.
    Never,
}

/// A backend's session helper: started by [`SessionSlot::start`] (or on the first request), ended by
/// [`SessionSlot::close`] or when the backend that owns it is dropped (the process is killed with it).
#[derive(Debug, Default)]
pub struct SessionSlot {
    state: tokio::sync::Mutex<Slot>,
}

#[derive(Debug, Default)]
enum Slot {
    /// Not started yet.
    #[default]
    Idle,
    Running(Arc<Session>),
    /// It could not start (or was closed): every request runs in its own helper.
    Unavailable,
}

impl SessionSlot {
    /// Starts the helper now unless it runs already (or could not start), so that its Python start and
    /// SDK import overlap whatever the command does before its first request.
    pub async fn start(&self, cli: &ModalCli) {
        let _ = self.session(cli).await;
    }

    /// Ends the session, if one runs: its standard input closes and the process ends (every request has
    /// had its answer by then). Later requests run in one-shot helpers.
    pub async fn close(&self) {
        let mut slot = self.state.lock().await;
        if let Slot::Running(session) = std::mem::replace(&mut *slot, Slot::Unavailable) {
            tracing::debug!(
                "the session helper answered {} requests; ending it",
                session.asked()
            );
            session.end().await;
        }
    }

    async fn session(&self, cli: &ModalCli) -> Option<Arc<Session>> {
        let mut slot = self.state.lock().await;
        match &*slot {
            Slot::Running(session) => Some(Arc::clone(session)),
            Slot::Unavailable => None,
            Slot::Idle => match Session::start(cli).await {
                Ok(session) => {
                    tracing::debug!(
                        "the session helper started (pid {}): this run's reads, smoke calls and release records go to it",
                        session
                            .pid
                            .map_or_else(|| "?".to_owned(), |pid| pid.to_string())
                    );
                    let session = Arc::new(session);
                    *slot = Slot::Running(Arc::clone(&session));
                    Some(session)
                }
                Err(reason) => {
                    tracing::debug!(
                        "the session helper did not start ({reason}): one helper process per request"
                    );
                    *slot = Slot::Unavailable;
                    None
                }
            },
        }
    }
}

/// Runs one helper request: through the session when it answers, else as `spec` (the one-shot helper
/// with `input` on its standard input). The output reads as the one-shot helper's; a timeout is
/// `spec`'s. A request the session lost runs again in the one-shot helper only when `resend` allows it.
pub async fn run(
    cli: &ModalCli,
    op: Op,
    spec: &ProcessSpec,
    input: &serde_json::Value,
    resend: Resend,
) -> Result<ProcessOutput, BackendError> {
    let session = match &cli.session {
        Some(slot) => slot.session(cli).await,
        None => None,
    };
    if let Some(session) = session {
        match session.ask(op, input, spec.timeout).await {
            Answer::Reply(reply) => {
                // As the one-shot helper would have written it.
                return Ok(ProcessOutput {
                    exit_code: Some(0),
                    stdout: helper::reply_line(0, &reply),
                    stderr: String::new(),
                });
            }
            Answer::NotSent => {
                tracing::debug!("the session helper ended; running the one-shot helper");
            }
            Answer::Lost if resend == Resend::Safe => {
                tracing::debug!(
                    "the session helper ended before it answered; running the request again in the one-shot helper"
                );
            }
            Answer::Lost => {
                return Err(BackendError::UnexpectedOutput {
                    command: spec.display(),
                    reason: "the session helper ended before it answered, so whether it was carried out is not known; it is not sent again".into(),
                });
            }
            Answer::TimedOut => {
                return Err(BackendError::Timeout {
                    command: spec.display(),
                    timeout: spec.timeout,
                });
            }
        }
    }
    spec.run().await
}

/// [`run`] once one of the backend's permits is free, as [`ModalCli::run_limited`] runs a process.
pub async fn run_limited(
    cli: &ModalCli,
    op: Op,
    spec: &ProcessSpec,
    input: &serde_json::Value,
    resend: Resend,
) -> Result<ProcessOutput, BackendError> {
    let _permit = cli
        .permits
        .acquire()
        .await
        .expect("the semaphore is never closed");
    run(cli, op, spec, input, resend).await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::{Resend, run};
    use crate::backend::BackendError;
    use crate::backend::modal_cli::helper::{self, Op};
    use crate::backend::modal_cli::{CliConfig, ModalCli};

    /// An interpreter that, run as the session helper, reads one request and dies without answering;
    /// run as a one-shot helper, it answers `{"ok": true}` and notes that it ran in `ran`.
    fn dying_interpreter(dir: &Path) -> (PathBuf, PathBuf) {
        let ran = dir.join("one-shot-ran");
        let script = dir.join("python");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nread -r first\ncase \"$first\" in\n  *'\"session\"'*) read -r request; exit 1 ;;\nesac\necho ran >> '{}'\necho '{{\"id\": 0, \"reply\": {{\"ok\": true}}}}'\n",
                ran.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        (script, ran)
    }

    async fn lost_request(resend: Resend) -> (Result<String, BackendError>, bool) {
        let dir = tempfile::tempdir().unwrap();
        let (python, ran) = dying_interpreter(dir.path());
        let cli = ModalCli::new(
            CliConfig {
                argv: vec!["modal".into()],
                python: Some(python.clone()),
                env: BTreeMap::new(),
                read_timeout: Duration::from_secs(20),
            },
            1,
        )
        .with_session();
        cli.start_session().await;
        let input = serde_json::json!({"mode": "record"});
        let spec = helper::one_shot(&cli, &python, Op::Observe, &input, Duration::from_secs(20));
        let output = run(&cli, Op::Observe, &spec, &input, resend)
            .await
            .map(|output| output.stdout);
        (output, ran.exists())
    }

    #[tokio::test]
    async fn a_lost_read_runs_again_in_a_one_shot_helper() {
        let (output, ran) = lost_request(Resend::Safe).await;
        assert_eq!(output.unwrap(), "{\"id\": 0, \"reply\": {\"ok\": true}}\n");
        assert!(ran, "the one-shot helper ran the request again");
    }

    #[tokio::test]
    async fn a_lost_write_is_not_sent_again_and_fails() {
        let (output, ran) = lost_request(Resend::Never).await;
        let error = output.unwrap_err();
        assert!(
            matches!(&error, BackendError::UnexpectedOutput { reason, .. }
                if reason == "the session helper ended before it answered, so whether it was carried out is not known; it is not sent again"),
            "{error:?}"
        );
        assert!(!ran, "the request was not sent to a one-shot helper");
    }
}
