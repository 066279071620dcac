//! The apply lock through the [helper](super::helper)'s lock operation (`helper/lock.py`), on the CLI's interpreter: a named `modal.Dict`
//! (`modalplan-locks`) per environment, key `apply`, taken with Modal's atomic put-if-absent.
//!
//! The helper that takes the lock keeps running while apply runs: it refreshes the lock's heartbeat and
//! removes its own lock when its standard input closes. modalplan asks it to release at the end of every
//! apply and waits for the confirmation; when modalplan dies instead (SIGKILL, a crash), the pipe closes
//! all the same and the helper still releases. So the helper is never killed by modalplan once it holds
//! the lock: it runs in its own process group (a Ctrl-C on the terminal does not reach it) and outlives
//! its handle.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::ModalCli;
use super::helper::{self, Op};
use super::lock_read::lock_of;
use crate::backend::BackendError;
use crate::backend::lock::{
    ForceUnlock, HeldLock, LockAttempt, LockRecord, LockRelease, LockRequest,
};
use crate::backend::process::{ProcessSpec, kill_group};

/// How the lock helper is named in messages.
pub const LOCK_HELPER_COMMAND: &str = "the apply lock helper";

/// How often the holder's heartbeat is refreshed.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// How long a release may take before modalplan stops waiting (the helper goes on by itself).
const RELEASE_WAIT: Duration = Duration::from_secs(20);

/// Lines of the helper's standard error kept for messages.
const STDERR_TAIL: usize = 20;

/// One reply of the helper.
#[derive(Debug, Deserialize)]
struct HelperLine {
    ok: bool,
    /// What happened: `waiting`, `acquired`, `held`, `released`, `shown`, `removed`, `mismatch`,
    /// `absent`.
    #[serde(default)]
    event: String,
    #[serde(default)]
    lock_id: String,
    /// The Dict's entries of the lock it names.
    #[serde(default)]
    lock: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    lost: Vec<String>,
    #[serde(flatten)]
    failure: helper::Failure,
}

impl HelperLine {
    /// The environment it names.
    fn environment(&self) -> Option<&str> {
        self.failure.environment.as_deref()
    }

    /// The lock record of the entries it names.
    fn lock(&self) -> Option<LockRecord> {
        lock_of(self.lock.as_ref()?).ok().flatten()
    }
}

fn helper_spec(cli: &ModalCli, request: &serde_json::Value) -> Result<ProcessSpec, BackendError> {
    let python = cli.config.python()?;
    Ok(helper::one_shot(
        cli,
        &python,
        Op::Lock,
        request,
        cli.config.read_timeout,
    ))
}

/// A failure the helper reported, as the CLI's would be.
fn helper_error(line: HelperLine, stderr: &str) -> BackendError {
    let failure = line.failure;
    let environment = failure.environment.unwrap_or_default();
    match failure.kind.as_str() {
        "not_logged_in" => BackendError::NotLoggedIn {
            stderr: failure.message,
        },
        "unknown_environment" => BackendError::UnknownEnvironment { environment },
        "internal" => BackendError::UnexpectedOutput {
            command: LOCK_HELPER_COMMAND.into(),
            reason: failure.message,
        },
        _ => BackendError::CommandFailed {
            command: if environment.is_empty() {
                LOCK_HELPER_COMMAND.to_owned()
            } else {
                format!("{LOCK_HELPER_COMMAND} (environment `{environment}`)")
            },
            exit_code: None,
            stderr: if failure.message.is_empty() {
                stderr.to_owned()
            } else {
                failure.message
            },
        },
    }
}

fn ended_without_answer(exit: Option<i32>, stderr: &str) -> BackendError {
    BackendError::CommandFailed {
        command: LOCK_HELPER_COMMAND.into(),
        exit_code: exit,
        stderr: if stderr.trim().is_empty() {
            "it ended without an answer".into()
        } else {
            stderr.trim().to_owned()
        },
    }
}

/// Keeps the last lines of the helper's standard error, reading it to its end so the helper never
/// blocks on a full pipe.
fn drain_stderr(mut stderr: tokio::process::ChildStderr) -> Arc<Mutex<String>> {
    let tail = Arc::new(Mutex::new(String::new()));
    let writer = Arc::clone(&tail);
    tokio::spawn(async move {
        let mut chunk = vec![0_u8; 4096];
        loop {
            match stderr.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(read) => {
                    let mut text = writer
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    text.push_str(&String::from_utf8_lossy(&chunk[..read]));
                    let lines: Vec<&str> = text.lines().collect();
                    if lines.len() > STDERR_TAIL {
                        *text = lines[lines.len() - STDERR_TAIL..].join("\n") + "\n";
                    }
                }
            }
        }
    });
    tail
}

fn tail_of(tail: &Arc<Mutex<String>>) -> String {
    tail.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .trim()
        .to_owned()
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> Option<HelperLine> {
    loop {
        match lines.next_line().await {
            Ok(Some(text)) => {
                if let Some(line) = helper::read_reply(&text)
                    .and_then(|(_, reply)| serde_json::from_value::<HelperLine>(reply).ok())
                {
                    return Some(line);
                }
                tracing::debug!("lock helper printed: {text}");
            }
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Takes the locks of the request through a helper that then holds them.
pub async fn lock(cli: &ModalCli, request: &LockRequest) -> Result<LockAttempt, BackendError> {
    let input = serde_json::json!({
        "mode": "hold",
        "environments": request.environments,
        "holder": {
            "who": request.holder.who,
            "operation": request.holder.operation,
            "manifest": request.holder.manifest,
        },
        "wait_s": request.wait.as_secs_f64(),
        "heartbeat_s": HEARTBEAT.as_secs(),
    });
    let mut spec = helper_spec(cli, &input)?;
    // Piped, the request written below: the helper reads its standard input while it holds.
    spec.stdin = None;
    let mut child = spec.spawn_held()?;
    let pid = child.id();
    let stderr = drain_stderr(child.stderr.take().expect("stderr is piped"));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let opening = helper::request_line(0, Op::Lock, &input);
    if let Err(error) = stdin.write_all(opening.as_bytes()).await {
        return Err(BackendError::CommandFailed {
            command: LOCK_HELPER_COMMAND.into(),
            exit_code: None,
            stderr: format!("could not send it the request: {error}"),
        });
    }
    let mut waited = false;
    let answer = async {
        loop {
            let line = next_line(&mut lines).await?;
            if line.ok && line.event == "waiting" {
                waited = true;
                if let (Some(environment), Some(lock)) = (line.environment(), line.lock()) {
                    (request.on_wait)(environment, &lock);
                }
                continue;
            }
            return Some(line);
        }
    };
    let limit = cli.config.read_timeout + request.wait;
    let Ok(line) = tokio::time::timeout(limit, answer).await else {
        // Not holding anything yet: SIGTERM makes it give back what it took, then it ends.
        if let Some(pid) = pid {
            kill_group(pid).await;
        }
        return Err(BackendError::Timeout {
            command: LOCK_HELPER_COMMAND.into(),
            timeout: limit,
        });
    };
    let Some(line) = line else {
        let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        let exit = status.ok().and_then(Result::ok).and_then(|s| s.code());
        return Err(ended_without_answer(exit, &tail_of(&stderr)));
    };
    match (line.ok, line.event.as_str()) {
        (true, "acquired") => Ok(LockAttempt::Acquired(HeldLock::new(
            line.lock_id,
            request.environments.clone(),
            waited,
            Box::new(HelperRelease {
                child,
                stdin,
                lines,
                stderr,
            }),
        ))),
        (true, "held") => {
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            match (line.environment(), line.lock()) {
                (Some(environment), Some(lock)) => Ok(LockAttempt::Held {
                    environment: environment.to_owned(),
                    lock,
                }),
                _ => Err(BackendError::UnexpectedOutput {
                    command: LOCK_HELPER_COMMAND.into(),
                    reason: "it said the lock is held without saying by whom".into(),
                }),
            }
        }
        _ => {
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            Err(helper_error(line, &tail_of(&stderr)))
        }
    }
}

/// The running helper that holds the locks. Dropped without a release, its standard input closes and it
/// releases by itself.
struct HelperRelease {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
}

#[async_trait]
impl LockRelease for HelperRelease {
    async fn release(self: Box<Self>) -> Result<Vec<String>, BackendError> {
        let HelperRelease {
            mut child,
            mut stdin,
            mut lines,
            stderr,
        } = *self;
        // A helper that already ended (it failed) reads nothing: the closed pipe says the same.
        let _ = stdin.write_all(b"release\n").await;
        drop(stdin);
        let confirmed = tokio::time::timeout(RELEASE_WAIT, async {
            loop {
                match next_line(&mut lines).await {
                    Some(line) if line.ok && line.event == "released" => return Ok(line.lost),
                    Some(line) if !line.ok => {
                        return Err(helper_error(line, &tail_of(&stderr)));
                    }
                    Some(_) => {}
                    None => {
                        let exit = child.wait().await.ok().and_then(|status| status.code());
                        return Err(ended_without_answer(exit, &tail_of(&stderr)));
                    }
                }
            }
        })
        .await;
        match confirmed {
            Ok(result) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                result
            }
            // Not killed: it goes on releasing after modalplan exits.
            Err(_) => Err(BackendError::Timeout {
                command: format!("{LOCK_HELPER_COMMAND} (release)"),
                timeout: RELEASE_WAIT,
            }),
        }
    }
}

/// One question to the helper that ends with one answer.
async fn ask(cli: &ModalCli, input: &serde_json::Value) -> Result<HelperLine, BackendError> {
    let spec = helper_spec(cli, input)?;
    let output = spec.run().await.map_err(|error| match error {
        BackendError::Timeout { timeout, .. } => BackendError::Timeout {
            command: LOCK_HELPER_COMMAND.into(),
            timeout,
        },
        other => other,
    })?;
    let line = helper::reply(&output.stdout)
        .and_then(|reply| serde_json::from_value::<HelperLine>(reply).ok())
        .ok_or_else(|| ended_without_answer(output.exit_code, &output.stderr))?;
    if !line.ok {
        return Err(helper_error(line, &output.stderr));
    }
    Ok(line)
}

/// Removes the lock of `environment` if its id is `lock_id`.
pub async fn force_unlock(
    cli: &ModalCli,
    environment: &str,
    lock_id: &str,
) -> Result<ForceUnlock, BackendError> {
    let line = ask(
        cli,
        &serde_json::json!({"mode": "force_unlock", "environment": environment, "lock_id": lock_id}),
    )
    .await?;
    match (line.event.as_str(), line.lock()) {
        ("removed", Some(lock)) => Ok(ForceUnlock::Removed(lock)),
        ("mismatch", Some(lock)) => Ok(ForceUnlock::Mismatch(lock)),
        ("absent", _) => Ok(ForceUnlock::Absent),
        (event, _) => Err(BackendError::UnexpectedOutput {
            command: LOCK_HELPER_COMMAND.into(),
            reason: format!("unexpected answer `{event}`"),
        }),
    }
}
