//! Trying again what failed transiently ([`super::transient`]), with bounded, jittered backoff.
//!
//! Limits (docs/reliability.md, "Retries"): reads, rollbacks and stops 5 retries, waits from 0.25 s
//! doubling to at most 4 s (at most about 8 s in all); a smoke call 3 retries, from 1 s to at most 4 s; a
//! deploy `[modal].deploy_retries` (default 1), from 2 s. Each wait is drawn between half and all of its
//! step, so runs that failed together do not retry together. Every retry is logged at `-v` (info).

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use super::BackendError;

/// How often and how patiently one kind of call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first wait's step; each next one doubles, up to `max`.
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const READ: Backoff = Backoff {
        retries: 5,
        first: Duration::from_millis(250),
        max: Duration::from_secs(4),
    };
    pub const CALL: Backoff = Backoff {
        retries: 3,
        first: Duration::from_secs(1),
        max: Duration::from_secs(4),
    };

    /// A deploy's: `retries` from the manifest.
    pub fn deploy(retries: u32) -> Backoff {
        Backoff {
            retries,
            first: Duration::from_secs(2),
            max: Duration::from_secs(8),
        }
    }

    /// The wait before retry number `retry` (1-based): between half and all of the step.
    pub fn wait(&self, retry: u32) -> Duration {
        let step = self
            .first
            .saturating_mul(1 << retry.saturating_sub(1).min(16))
            .min(self.max);
        let half = step / 2;
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let extra_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(if extra_ms == 0 {
            0
        } else {
            random % (extra_ms + 1)
        })
    }
}

/// The retry limits of every kind of call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub read: Backoff,
    pub call: Backoff,
    pub deploy: Backoff,
    /// Rollbacks and stops: never leave a half-state for want of one more try.
    pub change: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            read: Backoff::READ,
            call: Backoff::CALL,
            deploy: Backoff::deploy(DEFAULT_DEPLOY_RETRIES),
            change: Backoff::READ,
        }
    }
}

/// A deploy that failed transiently before publishing is tried once more unless the manifest says.
pub use crate::manifest::valid::DEFAULT_DEPLOY_RETRIES;

/// The reason `error` is worth trying again, or `None`.
pub fn reason(error: &BackendError) -> Option<&str> {
    match error {
        BackendError::Transient { reason, .. } => Some(reason),
        _ => None,
    }
}

/// The error without its transient mark, for callers that match on what failed.
pub fn settled(error: BackendError) -> BackendError {
    match error {
        BackendError::Transient { error, .. } => *error,
        other => other,
    }
}

/// Runs `attempt` until it succeeds, fails for good, or `backoff.retries` retries were used; `what`
/// names the call in the `-v` log.
pub async fn retrying<T, F, Fut>(
    what: &str,
    backoff: Backoff,
    mut attempt: F,
) -> Result<T, BackendError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BackendError>>,
{
    let mut retry = 0;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) => {
                let Some(why) = reason(&error) else {
                    return Err(error);
                };
                if retry >= backoff.retries {
                    tracing::info!(
                        "{what}: still failing ({why}) after {retry} retries; giving up"
                    );
                    return Err(settled(error));
                }
                retry += 1;
                let wait = backoff.wait(retry);
                tracing::info!(
                    "{what} failed transiently ({why}); retry {retry} of {} in {} ms",
                    backoff.retries,
                    wait.as_millis()
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn transient() -> BackendError {
        BackendError::Transient {
            reason: "UNAVAILABLE".into(),
            error: Box::new(BackendError::CommandFailed {
                command: "modal app list".into(),
                exit_code: Some(1),
                stderr: "injected fault on AppList".into(),
            }),
        }
    }

    const QUICK: Backoff = Backoff {
        retries: 2,
        first: Duration::from_millis(2),
        max: Duration::from_millis(4),
    };

    #[test]
    fn waits_double_up_to_the_limit_and_stay_within_half_and_all_of_their_step() {
        for _ in 0..50 {
            let waits: Vec<u128> = (1..=6)
                .map(|retry| Backoff::READ.wait(retry).as_millis())
                .collect();
            let steps = [250, 500, 1000, 2000, 4000, 4000];
            for (wait, step) in waits.iter().zip(steps) {
                assert!((step / 2..=step).contains(wait), "{waits:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried_until_it_succeeds() {
        let attempts = AtomicU32::new(0);
        let result = retrying("read", QUICK, || async {
            if attempts.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(transient())
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(result, Ok(7));
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn the_last_failure_is_returned_unmarked_once_the_retries_are_used() {
        let attempts = AtomicU32::new(0);
        let result: Result<(), _> = retrying("read", QUICK, || async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(transient())
        })
        .await;
        assert_eq!(result, Err(settled(transient())));
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_permanent_failure_is_not_retried() {
        let attempts = AtomicU32::new(0);
        let result: Result<(), _> = retrying("read", QUICK, || async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(BackendError::UnknownEnvironment {
                environment: "qa".into(),
            })
        })
        .await;
        assert!(matches!(
            result,
            Err(BackendError::UnknownEnvironment { .. })
        ));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }
}
