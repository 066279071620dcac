//! The apply lock through [`lock.py`](lock.py), on the CLI's interpreter: a named `modal.Dict`
//! (`modalplan-locks`) per environment, key `apply`, taken with Modal's atomic put-if-absent.
//!
//! The helper that takes the lock keeps running while apply runs: it refreshes the lock's heartbeat and
//! removes its own lock when its standard input closes. modalplan asks it to release at the end of every
//! apply and waits for the confirmation; when modalplan dies instead (SIGKILL, a crash), the pipe closes
//! all the same and the helper still releases. So the helper is never killed by modalplan once it holds
//! the lock: it runs in its own process group (a Ctrl-C on the terminal does not reach it) and outlives
//! its handle.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::ModalCli;
use crate::backend::BackendError;
use crate::backend::lock::{
    ForceUnlock, HeldLock, LockAttempt, LockRecord, LockRelease, LockRequest,
};
use crate::backend::process::{ProcessSpec, kill_group};

/// The lock helper, embedded in the binary.
pub const LOCK_HELPER: &str = include_str!("lock.py");

/// How the lock helper is named in messages.
pub const LOCK_HELPER_COMMAND: &str = "the apply lock helper";

/// How often the holder's heartbeat is refreshed.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// How long a release may take before modalplan stops waiting (the helper goes on by itself).
const RELEASE_WAIT: Duration = Duration::from_secs(20);

/// Lines of the helper's standard error kept for messages.
const STDERR_TAIL: usize = 20;

/// One line the helper prints.
#[derive(Debug, Deserialize)]
struct HelperLine {
    status: String,
    #[serde(default)]
    lock_id: String,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    lock: Option<LockRecord>,
    #[serde(default)]
    lost: Vec<String>,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    message: String,
}

fn helper_spec(cli: &ModalCli) -> Result<ProcessSpec, BackendError> {
    let python = cli.config.python()?;
    Ok(ProcessSpec {
        argv: vec![
            python.display().to_string(),
            "-c".into(),
            LOCK_HELPER.into(),
        ],
        env: cli.config.env.clone(),
        cwd: None,
        timeout: cli.config.read_timeout,
        stdin: None,
    })
}

/// A failure the helper reported, as the CLI's would be.
fn helper_error(line: HelperLine, stderr: &str) -> BackendError {
    let environment = line.environment.unwrap_or_default();
    match line.kind.as_str() {
        "not_logged_in" => BackendError::NotLoggedIn {
            stderr: line.message,
        },
        "unknown_environment" => BackendError::UnknownEnvironment { environment },
        "internal" => BackendError::UnexpectedOutput {
            command: LOCK_HELPER_COMMAND.into(),
            reason: line.message,
        },
        _ => BackendError::CommandFailed {
            command: if environment.is_empty() {
                LOCK_HELPER_COMMAND.to_owned()
            } else {
                format!("{LOCK_HELPER_COMMAND} (environment `{environment}`)")
            },
            exit_code: None,
            stderr: if line.message.is_empty() {
                stderr.to_owned()
            } else {
                line.message
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
                if let Ok(line) = serde_json::from_str::<HelperLine>(text.trim()) {
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
    let spec = helper_spec(cli)?;
    let mut child = spec.spawn_held()?;
    let pid = child.id();
    let stderr = drain_stderr(child.stderr.take().expect("stderr is piped"));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
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
    if let Err(error) = stdin.write_all(format!("{input}\n").as_bytes()).await {
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
            if line.status == "waiting" {
                waited = true;
                if let (Some(environment), Some(lock)) = (&line.environment, &line.lock) {
                    (request.on_wait)(environment, lock);
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
    match line.status.as_str() {
        "acquired" => Ok(LockAttempt::Acquired(HeldLock::new(
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
        "held" => {
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            match (line.environment, line.lock) {
                (Some(environment), Some(lock)) => Ok(LockAttempt::Held { environment, lock }),
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
                    Some(line) if line.status == "released" => return Ok(line.lost),
                    Some(line) if line.status == "error" => {
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
    let mut spec = helper_spec(cli)?;
    spec.stdin = Some(format!("{input}\n").into_bytes());
    let output = spec.run().await.map_err(|error| match error {
        BackendError::Timeout { timeout, .. } => BackendError::Timeout {
            command: LOCK_HELPER_COMMAND.into(),
            timeout,
        },
        other => other,
    })?;
    let line = output
        .stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str::<HelperLine>(line.trim()).ok())
        .ok_or_else(|| ended_without_answer(output.exit_code, &output.stderr))?;
    if line.status == "error" {
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
    match (line.status.as_str(), line.lock) {
        ("removed", Some(lock)) => Ok(ForceUnlock::Removed(lock)),
        ("mismatch", Some(lock)) => Ok(ForceUnlock::Mismatch(lock)),
        ("absent", _) => Ok(ForceUnlock::Absent),
        (status, _) => Err(BackendError::UnexpectedOutput {
            command: LOCK_HELPER_COMMAND.into(),
            reason: format!("unexpected answer `{status}`"),
        }),
    }
}
