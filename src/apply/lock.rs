//! Apply under the apply lock: the lock is requested while the plan is made (so waiting for Modal twice
//! costs no time), the plan is made again when the lock had to be waited for (another apply may have
//! changed Modal meanwhile), and the lock is released at the end, whatever the end is.
//!
//! With the lock held, the executor's re-check of each app right before its deploy is made under the
//! lock: no other apply can move the app between the re-check and the deploy.

use std::future::Future;

use crate::backend::BackendError;
use crate::backend::lock::{ApplyLocks, LockAttempt, LockHolder, LockRecord, LockRequest};

/// Why an apply under the lock did not run its body, or what its body failed with.
#[derive(Debug)]
pub enum LockedError<E> {
    /// Another run holds the lock of `environment`: nothing was applied.
    Held {
        environment: String,
        lock: LockRecord,
    },
    /// The lock could not be requested (Modal unreachable, not logged in, ...).
    Lock(BackendError),
    /// Making the plan, or the apply itself, failed.
    Inner(E),
}

/// What went wrong with the release, for a warning: the apply's own result stands.
#[derive(Debug)]
pub enum ReleaseProblem {
    /// These environments' lock was no longer this run's at the end (someone ran `force-unlock`).
    Lost {
        lock_id: String,
        environments: Vec<String>,
    },
    /// The release was not confirmed (the helper goes on releasing by itself).
    Failed {
        lock_id: String,
        environments: Vec<String>,
        error: BackendError,
    },
}

/// The result of [`under_lock`] and how the release went.
#[derive(Debug)]
pub struct Locked<T, E> {
    pub result: Result<T, LockedError<E>>,
    pub release: Option<ReleaseProblem>,
}

/// Runs `prepare` (make the plan, or check a saved one) while the lock is requested, `prepare` again if
/// the lock was waited for, then `body` with what `prepare` made; releases the lock at the end. Without
/// a request (`--no-lock`, sandbox names) it runs `prepare` and `body` alone.
///
/// When the returned future is dropped (an interrupt), the held lock is dropped with it and released
/// without waiting.
pub async fn under_lock<P, T, E, Prep, PrepFut, Body, BodyFut>(
    lock: Option<(&dyn ApplyLocks, &LockRequest)>,
    mut prepare: Prep,
    body: Body,
) -> Locked<T, E>
where
    Prep: FnMut() -> PrepFut,
    PrepFut: Future<Output = Result<P, E>>,
    Body: FnOnce(P) -> BodyFut,
    BodyFut: Future<Output = Result<T, E>>,
{
    let Some((locks, request)) = lock else {
        let result = match prepare().await {
            Ok(prepared) => body(prepared).await.map_err(LockedError::Inner),
            Err(error) => Err(LockedError::Inner(error)),
        };
        return Locked {
            result,
            release: None,
        };
    };
    let (prepared, attempt) = tokio::join!(prepare(), locks.lock(request));
    let held = match (attempt, prepared) {
        (Ok(LockAttempt::Held { environment, lock }), _) => {
            return Locked {
                result: Err(LockedError::Held { environment, lock }),
                release: None,
            };
        }
        (Err(_), Err(error)) => {
            return Locked {
                result: Err(LockedError::Inner(error)),
                release: None,
            };
        }
        (Err(error), Ok(_)) => {
            return Locked {
                result: Err(LockedError::Lock(error)),
                release: None,
            };
        }
        (Ok(LockAttempt::Acquired(held)), prepared) => (held, prepared),
    };
    let (held, prepared) = held;
    let prepared = if held.waited && prepared.is_ok() {
        // Another apply held the lock: what was read before may be what it changed since.
        prepare().await
    } else {
        prepared
    };
    let result = match prepared {
        Ok(prepared) => body(prepared).await.map_err(LockedError::Inner),
        Err(error) => Err(LockedError::Inner(error)),
    };
    let lock_id = held.id.clone();
    let environments = held.environments.clone();
    let release = match held.release().await {
        Ok(lost) if lost.is_empty() => None,
        Ok(lost) => Some(ReleaseProblem::Lost {
            lock_id,
            environments: lost,
        }),
        Err(error) => Some(ReleaseProblem::Failed {
            lock_id,
            environments,
            error,
        }),
    };
    Locked { result, release }
}

/// Who holds the lock, from the environment: the GitHub Actions run (actor and run URL) when there is
/// one, else `user@host`.
pub fn holder_from(
    variable: impl Fn(&str) -> Option<String>,
    hostname: &str,
    operation: String,
    manifest: String,
) -> LockHolder {
    let non_empty = |name: &str| variable(name).filter(|value| !value.trim().is_empty());
    let run_url = match (
        non_empty("GITHUB_SERVER_URL"),
        non_empty("GITHUB_REPOSITORY"),
        non_empty("GITHUB_RUN_ID"),
    ) {
        (Some(server), Some(repository), Some(run)) => {
            Some(format!("{server}/{repository}/actions/runs/{run}"))
        }
        _ => None,
    };
    let who = match (run_url, non_empty("GITHUB_ACTOR")) {
        (Some(url), Some(actor)) => format!("{actor} in {url}"),
        (Some(url), None) => url,
        (None, _) => {
            let user = non_empty("USER")
                .or_else(|| non_empty("LOGNAME"))
                .unwrap_or_else(|| "unknown".to_owned());
            format!("{user}@{hostname}")
        }
    };
    LockHolder {
        who,
        operation,
        manifest,
    }
}
