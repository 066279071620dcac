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
//! `apply` turns it on for its run ([`enable_for_run`]) and ends it when done ([`close`]), so an apply
//! starts `modal deploy` once per app, the apply lock's helper and this one process, whatever the number
//! of apps; `plan`, `status` and the other commands make one read or call and keep their one-shot helper.
//! `MODALPLAN_SESSION=off` ([`crate::settings::session_helper`]) forces the one-shot helpers. Which path
//! a run took is in its debug log (`RUST_LOG=modalplan=debug`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    stdin: tokio::sync::Mutex<ChildStdin>,
    /// Requests waiting for their reply; `None` once the helper ended.
    waiters: Waiters,
    next: AtomicU64,
    /// Its process id, for the debug log.
    pid: Option<u32>,
    /// Killed when the last handle goes (the helper also ends when its standard input closes).
    _child: Mutex<Child>,
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
            stdin: tokio::sync::Mutex::new(stdin),
            waiters,
            next: AtomicU64::new(1),
            pid,
            _child: Mutex::new(child),
        })
    }

    /// How many requests it was sent.
    fn asked(&self) -> u64 {
        self.next.load(Ordering::Relaxed) - 1
    }

    /// The reply to one request, `None` when the session ended before answering; `Err` at `timeout`.
    async fn ask(
        &self,
        op: Op,
        request: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Option<serde_json::Value>, ()> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        {
            let mut waiters = self
                .waiters
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(waiters) = waiters.as_mut() else {
                return Ok(None);
            };
            waiters.insert(id, sender);
        }
        let bytes = helper::request_line(id, op, request).into_bytes();
        {
            let mut stdin = self.stdin.lock().await;
            if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
                return Ok(None);
            }
        }
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(reply)) => Ok(Some(reply)),
            Ok(Err(_)) => Ok(None),
            Err(_) => Err(()),
        }
    }
}

/// Whether this run carries its helper requests in the session (set by [`enable_for_run`]).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// The run's session: started on the first request after [`enable_for_run`], ended by [`close`].
static SLOT: tokio::sync::Mutex<Slot> = tokio::sync::Mutex::const_new(Slot::Idle);

#[derive(Debug)]
enum Slot {
    /// Not asked for yet.
    Idle,
    Running(Arc<Session>),
    /// It could not start (or the run closed it): every request runs in its own helper.
    Unavailable,
}

/// Makes the rest of this run (an `apply`) send its reads, re-checks, read-backs, smoke calls and release
/// records to one session helper, unless [`settings::session_helper`](crate::settings::session_helper)
/// is off. Without it every request runs in its own one-shot helper process, as `plan`'s one read does.
pub fn enable_for_run() {
    if crate::settings::session_helper() {
        ENABLED.store(true, Ordering::Relaxed);
    } else {
        tracing::debug!(
            "MODALPLAN_SESSION is off: one helper process per read, smoke call and release record"
        );
    }
}

/// Ends the run's session, if one runs: its standard input closes and the process is killed (every
/// request has had its answer by then). Later requests run in one-shot helpers.
pub async fn close() {
    ENABLED.store(false, Ordering::Relaxed);
    let mut slot = SLOT.lock().await;
    if let Slot::Running(session) = std::mem::replace(&mut *slot, Slot::Unavailable) {
        tracing::debug!(
            "the session helper answered {} requests; ending it",
            session.asked()
        );
    }
}

async fn session(cli: &ModalCli) -> Option<Arc<Session>> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let mut slot = SLOT.lock().await;
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

/// Runs one helper request: through the session when it answers, else as `spec` (the one-shot helper
/// with `input` on its standard input). The output reads as the one-shot helper's; a timeout is
/// `spec`'s.
pub async fn run(
    cli: &ModalCli,
    op: Op,
    spec: &ProcessSpec,
    input: &serde_json::Value,
) -> Result<ProcessOutput, BackendError> {
    if let Some(session) = session(cli).await {
        match session.ask(op, input, spec.timeout).await {
            Ok(Some(reply)) => {
                // As the one-shot helper would have written it.
                return Ok(ProcessOutput {
                    exit_code: Some(0),
                    stdout: helper::reply_line(0, &reply),
                    stderr: String::new(),
                });
            }
            Ok(None) => {
                tracing::debug!("the session helper ended; running the one-shot helper");
            }
            Err(()) => {
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
) -> Result<ProcessOutput, BackendError> {
    let _permit = cli
        .permits
        .acquire()
        .await
        .expect("the semaphore is never closed");
    run(cli, op, spec, input).await
}
