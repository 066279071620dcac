//! The real backend: runs the `modal` CLI, and one Python helper on the CLI's own interpreter (which has
//! the Modal SDK) where that saves a process per app.
//!
//! `read.rs` owns observing (lists, history); `actions.rs` owns deploy, call, rollback and stop; `lock.rs`
//! the apply lock; `lock_read.rs` reading it (and the one reading of its record) for `plan` and `status`;
//! `releases.rs` the release records; `secrets_write.rs` writing secrets for `secrets sync`; `locate.rs`
//! which `modal` to run. `helper.rs` is the one Python program and its protocol (`helper/*.py`),
//! `session.rs` the long-lived helper of an apply; `failure.rs` reads what a failed `modal` command
//! printed, the one place that does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use super::process::ProcessSpec;
use super::{
    BackendError, CallRequest, DeployRequest, DeploymentRecord, ModalBackend, ObserveRequest,
    Observed,
};

pub mod actions;
pub mod cli_json;
pub mod failure;
pub mod helper;
pub mod locate;
pub mod lock;
pub mod lock_read;
pub mod logs;
pub mod read;
pub mod releases;
mod retrying;
pub mod secrets_write;
pub mod session;

/// How to reach Modal through its CLI.
#[derive(Debug, Clone)]
pub struct CliConfig {
    /// The program and any leading arguments (`["modal"]`, `["uv", "run", "modal"]`).
    pub argv: Vec<String>,
    /// The interpreter with the Modal SDK; found from the CLI's script when `None`.
    pub python: Option<PathBuf>,
    /// Extra environment for every call.
    pub env: BTreeMap<String, String>,
    /// Limit for each read.
    pub read_timeout: Duration,
}

impl CliConfig {
    /// The `modal` program in the order [`locate`] documents: `MODALPLAN_MODAL_BIN`, the manifest's
    /// `[modal].cli`, the `modal` beside modalplan in its virtual environment, then `PATH`.
    pub fn from_manifest(cli: &[String], python: Option<&Path>, read_timeout: Duration) -> Self {
        let (argv, source) = locate::locate_for_this_process(cli);
        tracing::debug!(?argv, ?source, "the modal CLI");
        let python = crate::settings::env::python().or_else(|| python.map(Path::to_path_buf));
        Self {
            argv,
            python,
            env: BTreeMap::new(),
            read_timeout,
        }
    }

    /// A `modal` invocation with these arguments and the read timeout.
    pub fn modal(&self, arguments: &[&str]) -> ProcessSpec {
        let mut argv = self.argv.clone();
        argv.extend(arguments.iter().map(|arg| (*arg).to_owned()));
        ProcessSpec {
            argv,
            env: self.env.clone(),
            cwd: None,
            timeout: self.read_timeout,
            stdin: None,
        }
    }

    /// The Python interpreter that runs the `modal` CLI: the configured one, else the `#!` line of the
    /// CLI's script (a pip-installed `modal` is a Python script whose first line names its interpreter).
    pub fn python(&self) -> Result<PathBuf, BackendError> {
        if let Some(python) = &self.python {
            return Ok(python.clone());
        }
        let program = self.argv.first().map_or("modal", String::as_str);
        let script = find_on_path(program).ok_or_else(|| BackendError::CliMissing {
            program: program.to_owned(),
            reason:
                "not found beside modalplan nor on PATH; install it (`pip install modal`, in modalplan's environment) or set MODALPLAN_MODAL_BIN"
                    .into(),
        })?;
        let head = std::fs::read(&script).map_err(|error| BackendError::CliMissing {
            program: script.display().to_string(),
            reason: error.to_string(),
        })?;
        let first_line = head.split(|byte| *byte == b'\n').next().unwrap_or_default();
        let first_line = String::from_utf8_lossy(first_line);
        let interpreter = first_line
            .strip_prefix("#!")
            .and_then(|rest| rest.split_whitespace().next())
            .filter(|path| path.contains("python"))
            .ok_or_else(|| BackendError::CliMissing {
                program: script.display().to_string(),
                reason: "its Python interpreter could not be found from the script; set MODALPLAN_PYTHON".into(),
            })?;
        Ok(PathBuf::from(interpreter))
    }
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let candidate = Path::new(program);
    if candidate.components().count() > 1 {
        return candidate.is_file().then(|| candidate.to_path_buf());
    }
    crate::settings::env::search_path().and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

/// The `modal` CLI backend, with a bound on how many processes run at once.
#[derive(Debug, Clone)]
pub struct ModalCli {
    pub config: CliConfig,
    pub permits: Arc<Semaphore>,
    /// How transient failures are retried (`retrying.rs`).
    pub retry: crate::backend::retry::RetryPolicy,
    /// The long-lived helper that carries this backend's helper requests ([`ModalCli::with_session`]);
    /// `None`: one helper process per request.
    session: Option<Arc<session::SessionSlot>>,
}

impl ModalCli {
    pub fn new(config: CliConfig, concurrency: usize) -> Self {
        Self {
            config,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            retry: crate::backend::retry::RetryPolicy::default(),
            session: None,
        }
    }

    /// The same backend, carrying its reads, smoke calls and release records in one long-lived helper
    /// process ([`session`]) unless [`settings::session_helper`](crate::settings::session_helper) is off.
    #[must_use]
    pub fn with_session(mut self) -> Self {
        if crate::settings::session_helper() {
            self.session = Some(Arc::default());
        } else {
            tracing::debug!(
                "MODALPLAN_SESSION is off: one helper process per read, smoke call and release record"
            );
        }
        self
    }

    /// Starts the session helper now, if this backend has one, so that its Python start overlaps the
    /// work before the first request.
    pub async fn start_session(&self) {
        if let Some(slot) = &self.session {
            slot.start(self).await;
        }
    }

    /// Ends the session helper, if one runs; later requests run in one-shot helpers.
    pub async fn close_session(&self) {
        if let Some(slot) = &self.session {
            slot.close().await;
        }
    }

    /// The same backend with these retry limits.
    #[must_use]
    pub fn with_retry(mut self, retry: crate::backend::retry::RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Runs `spec` once one of the permits is free: at most `concurrency` reads run at once.
    pub async fn run_limited(
        &self,
        spec: &crate::backend::process::ProcessSpec,
    ) -> Result<crate::backend::process::ProcessOutput, BackendError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        spec.run().await
    }
}

#[async_trait]
impl ModalBackend for ModalCli {
    async fn observe(&self, request: &ObserveRequest) -> Result<Observed, BackendError> {
        retrying::observe(self, request).await
    }

    async fn live_deployment(
        &self,
        environment: &str,
        app_name: &str,
    ) -> Result<Option<DeploymentRecord>, BackendError> {
        retrying::live_deployment(self, environment, app_name).await
    }

    async fn deploy(&self, request: &DeployRequest) -> Result<DeploymentRecord, BackendError> {
        retrying::deploy(self, request).await
    }

    async fn call(&self, request: &CallRequest) -> Result<serde_json::Value, BackendError> {
        retrying::call(self, request).await
    }

    async fn rollback(
        &self,
        environment: &str,
        app_name: &str,
        version: u32,
    ) -> Result<(), BackendError> {
        retrying::rollback(self, environment, app_name, version).await
    }

    async fn stop(&self, environment: &str, app_name: &str) -> Result<(), BackendError> {
        retrying::stop(self, environment, app_name).await
    }

    async fn history(
        &self,
        environment: &str,
        app_name: &str,
    ) -> Result<Vec<DeploymentRecord>, BackendError> {
        read::full_history(self, environment, app_name).await
    }

    async fn record_release(
        &self,
        environment: &str,
        record: &crate::backend::releases::ReleaseRecord,
    ) -> Result<(), BackendError> {
        releases::write(self, environment, record).await
    }

    async fn write_secrets(
        &self,
        environment: &str,
        writes: &[crate::backend::SecretWrite],
    ) -> Result<Vec<Result<(), BackendError>>, BackendError> {
        secrets_write::write_secrets(self, environment, writes).await
    }
}

#[async_trait]
impl crate::backend::lock::ApplyLocks for ModalCli {
    async fn lock(
        &self,
        request: &crate::backend::lock::LockRequest,
    ) -> Result<crate::backend::lock::LockAttempt, BackendError> {
        lock::lock(self, request).await
    }

    async fn force_unlock(
        &self,
        environment: &str,
        lock_id: &str,
    ) -> Result<crate::backend::lock::ForceUnlock, BackendError> {
        lock::force_unlock(self, environment, lock_id).await
    }
}
