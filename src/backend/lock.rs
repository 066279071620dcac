//! The apply lock: one per Modal environment, held on Modal itself so that two applies (two CI runs, a
//! person and CI) never change one environment at once, the way Terraform's state lock works.
//!
//! [`ApplyLocks`] is the seam: the real backend keeps the lock in a named `modal.Dict` through a helper
//! process that holds it and releases it when modalplan ends (even when modalplan is killed: the helper
//! sees its standard input close); the fake keeps it in memory.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::BackendError;

/// The Modal Dict, in each environment, that holds the lock.
pub const LOCK_DICT: &str = "modalplan-locks";

/// The Dict's key of the lock record.
pub const LOCK_KEY: &str = "apply";

/// The Dict's key prefix of a holder's heartbeat, followed by its lock id.
pub const HEARTBEAT_PREFIX: &str = "apply/heartbeat/";

/// One environment's lock as read from Modal: who holds it and since when. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LockRecord {
    /// Random id of this hold, for `modalplan force-unlock`.
    pub id: String,
    /// `user@host`, or the GitHub Actions run that holds it.
    #[serde(default)]
    pub who: String,
    /// What the holder is doing (`apply`, `apply plan.json`).
    #[serde(default)]
    pub operation: String,
    /// The holder's manifest path.
    #[serde(default)]
    pub manifest: String,
    /// When it was taken (RFC 3339, UTC).
    #[serde(default)]
    pub created_at: String,
    /// The holder's last sign of life (RFC 3339, UTC); refreshed while it runs.
    #[serde(default)]
    pub heartbeat_at: Option<String>,
}

/// One environment's apply lock as a read of Modal for `plan` or `status` found it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LockState {
    /// The read did not ask for it.
    #[default]
    NotRead,
    /// No run holds it (or no apply ever locked the environment: the Dict does not exist).
    Free,
    /// Held: an apply is running, or a run that is gone left its lock behind.
    Held { lock: LockRecord },
    /// It could not be read; informational only, so the read that asked for it goes on.
    Unreadable { reason: String },
}

/// Who takes a lock, as recorded in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub who: String,
    pub operation: String,
    pub manifest: String,
}

/// Told once when the lock is held by another run and the request waits for it.
pub type WaitNotice = Arc<dyn Fn(&str, &LockRecord) + Send + Sync>;

/// Take the locks of these environments (all or none).
#[derive(Clone)]
pub struct LockRequest {
    pub environments: Vec<String>,
    pub holder: LockHolder,
    /// How long to keep trying while another run holds one; zero: fail at once.
    pub wait: Duration,
    pub on_wait: WaitNotice,
}

impl std::fmt::Debug for LockRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockRequest")
            .field("environments", &self.environments)
            .field("holder", &self.holder)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

/// What a lock request got.
#[derive(Debug)]
pub enum LockAttempt {
    Acquired(HeldLock),
    /// Another run holds the lock of `environment` (and kept it past the request's wait).
    Held {
        environment: String,
        lock: LockRecord,
    },
}

/// Gives a held lock back.
#[async_trait]
pub trait LockRelease: Send {
    /// Removes the locks if they are still this hold's; returns the environments whose lock was no
    /// longer its own (removed by `force-unlock` meanwhile).
    async fn release(self: Box<Self>) -> Result<Vec<String>, BackendError>;
}

/// Locks held by this run. Dropping it without [`HeldLock::release`] still releases them, without
/// waiting (the real helper sees its input close).
pub struct HeldLock {
    pub id: String,
    pub environments: Vec<String>,
    /// The lock was held by another run first: what was read before it was taken may be stale.
    pub waited: bool,
    release: Box<dyn LockRelease>,
}

impl std::fmt::Debug for HeldLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldLock")
            .field("id", &self.id)
            .field("environments", &self.environments)
            .field("waited", &self.waited)
            .finish_non_exhaustive()
    }
}

impl HeldLock {
    pub fn new(
        id: String,
        environments: Vec<String>,
        waited: bool,
        release: Box<dyn LockRelease>,
    ) -> Self {
        Self {
            id,
            environments,
            waited,
            release,
        }
    }

    /// Gives the locks back and waits for Modal to confirm.
    pub async fn release(self) -> Result<Vec<String>, BackendError> {
        self.release.release().await
    }
}

/// What `force-unlock` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForceUnlock {
    /// The lock had that id and is gone.
    Removed(LockRecord),
    /// The lock has another id: left alone.
    Mismatch(LockRecord),
    /// No lock is held.
    Absent,
}

/// The apply lock of Modal environments.
#[async_trait]
pub trait ApplyLocks: Send + Sync {
    /// Takes the lock of every environment of the request, in sorted order, all or none; waits up to
    /// `request.wait` while another run holds one.
    async fn lock(&self, request: &LockRequest) -> Result<LockAttempt, BackendError>;

    /// Removes the lock of `environment` if its id is `lock_id`.
    async fn force_unlock(
        &self,
        environment: &str,
        lock_id: &str,
    ) -> Result<ForceUnlock, BackendError>;
}
