//! An in-memory [`ModalBackend`] for unit tests and fault injection: apps with a deployment history,
//! deploys that can be delayed or made to fail, smoke functions that answer what a test wants, and a log
//! of every call that reached it, in order.
//!
//! Integration tests use the emulator with the real `modal` CLI; this fake covers what is easier to
//! script than to emulate (a deploy that publishes and then fails, a rollback that fails, another apply
//! moving an app between the plan and the deploy).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use super::lock::{
    ApplyLocks, ForceUnlock, HeldLock, LockAttempt, LockRecord, LockRelease, LockRequest, LockState,
};
use super::{
    AppState, BackendError, CallRequest, DeployRequest, DeploymentRecord, ModalBackend,
    ObserveRequest, Observed, ObservedApp, ObservedEnvironment, SecretValue, SecretWrite,
};

/// One call that reached the fake, as a test asserts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeCall {
    LiveDeployment {
        environment: String,
        app: String,
    },
    Deploy {
        environment: String,
        app: String,
        tag: String,
        env: BTreeMap<String, String>,
    },
    Call {
        environment: String,
        app: String,
        function: String,
        payload: serde_json::Value,
    },
    Rollback {
        environment: String,
        app: String,
        version: u32,
    },
    Stop {
        environment: String,
        app: String,
    },
    /// A request for the apply lock of these environments.
    Lock {
        environments: Vec<String>,
    },
    /// The release of a held lock.
    Unlock {
        environments: Vec<String>,
    },
    /// A secret written with these keys (values are kept apart, see [`FakeBackend::secret_values`]).
    WriteSecret {
        environment: String,
        name: String,
        keys: Vec<String>,
    },
}

impl FakeCall {
    /// A short form for order assertions: `deploy main/app`, `call main/app.smoke`, ...
    pub fn short(&self) -> String {
        match self {
            FakeCall::LiveDeployment { environment, app } => format!("live {environment}/{app}"),
            FakeCall::Deploy {
                environment, app, ..
            } => format!("deploy {environment}/{app}"),
            FakeCall::Call {
                environment,
                app,
                function,
                ..
            } => format!("call {environment}/{app}.{function}"),
            FakeCall::Rollback {
                environment,
                app,
                version,
            } => format!("rollback {environment}/{app} v{version}"),
            FakeCall::Stop { environment, app } => format!("stop {environment}/{app}"),
            FakeCall::Lock { environments } => format!("lock {}", environments.join(",")),
            FakeCall::Unlock { environments } => format!("unlock {}", environments.join(",")),
            FakeCall::WriteSecret {
                environment,
                name,
                keys,
            } => format!("secret {environment}/{name} {}", keys.join(",")),
        }
    }
}

/// How a deploy of one app misbehaves.
#[derive(Debug, Clone)]
pub enum DeployFault {
    /// Fails before anything is published (a bad image digest, a missing secret).
    FailBeforePublish(BackendError),
    /// Publishes a new version, then fails (the CLI died after Modal accepted it).
    FailAfterPublish(BackendError),
}

/// How a smoke function answers.
#[derive(Debug, Clone)]
pub enum SmokeAnswer {
    /// Returns this value.
    Value(serde_json::Value),
    /// Fails with this error.
    Error(BackendError),
}

#[derive(Debug, Default)]
struct FakeApp {
    history: Vec<DeploymentRecord>,
    stopped: bool,
}

#[derive(Debug, Default)]
struct State {
    apps: BTreeMap<(String, String), FakeApp>,
    secrets: BTreeMap<String, BTreeSet<String>>,
    calls: Vec<FakeCall>,
    /// When each deploy started (tokio's clock, so a test with paused time reads exact offsets).
    deploy_starts: Vec<(String, tokio::time::Instant)>,
    /// Every observe request so far, in order (kept apart from `calls`: reads change nothing).
    observe_requests: Vec<ObserveRequest>,
    deploy_faults: BTreeMap<String, DeployFault>,
    deploy_delays: BTreeMap<String, Duration>,
    default_deploy_delay: Duration,
    /// App → answers, one per call in order; the last one repeats.
    smoke_answers: BTreeMap<String, Vec<SmokeAnswer>>,
    rollback_faults: BTreeMap<String, BackendError>,
    stop_faults: BTreeMap<String, BackendError>,
    /// App → a deployment another apply makes right before the next `live_deployment` read of it.
    moves: BTreeMap<String, String>,
    deploys_running: usize,
    max_deploys_running: usize,
    /// Environment → the apply lock held in it.
    locks: BTreeMap<String, LockRecord>,
    locks_taken: u32,
    lock_fault: Option<BackendError>,
    /// Environment → the release records written, per app (kept apart from `calls`, like reads).
    releases: BTreeMap<String, crate::backend::releases::Releases>,
    record_fault: Option<BackendError>,
    /// (environment, secret) → the values last written.
    secret_values: BTreeMap<(String, String), BTreeMap<String, SecretValue>>,
    /// Secret → the error its write fails with.
    secret_faults: BTreeMap<String, BackendError>,
}

/// The in-memory backend. Cheap to clone; clones share state.
#[derive(Debug, Clone, Default)]
pub struct FakeBackend {
    state: Arc<Mutex<State>>,
}

impl FakeBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Seeds a deployed app with versions `1..=history.len()`, each with the given tag.
    #[must_use]
    pub fn with_app(self, environment: &str, app: &str, tags: &[Option<&str>]) -> Self {
        {
            let mut state = self.state();
            let entry = state
                .apps
                .entry((environment.to_owned(), app.to_owned()))
                .or_default();
            for tag in tags {
                let version = u32::try_from(entry.history.len()).unwrap_or(u32::MAX) + 1;
                entry.history.push(record(version, tag.map(str::to_owned)));
            }
        }
        self
    }

    /// Seeds a secret's name in an environment.
    #[must_use]
    pub fn with_secret(self, environment: &str, name: &str) -> Self {
        self.state()
            .secrets
            .entry(environment.to_owned())
            .or_default()
            .insert(name.to_owned());
        self
    }

    pub fn fail_deploy(&self, app: &str, fault: DeployFault) {
        self.state().deploy_faults.insert(app.to_owned(), fault);
    }

    /// Every deploy takes this long (deploys of apps given their own delay excepted).
    pub fn set_deploy_delay(&self, delay: Duration) {
        self.state().default_deploy_delay = delay;
    }

    pub fn set_app_deploy_delay(&self, app: &str, delay: Duration) {
        self.state().deploy_delays.insert(app.to_owned(), delay);
    }

    /// Answers of the smoke function of `app`, one per call; the last repeats. Without answers a call
    /// returns `{"status": "ok"}`.
    pub fn answer_smoke(&self, app: &str, answers: Vec<SmokeAnswer>) {
        self.state().smoke_answers.insert(app.to_owned(), answers);
    }

    pub fn fail_rollback(&self, app: &str, error: BackendError) {
        self.state().rollback_faults.insert(app.to_owned(), error);
    }

    pub fn fail_stop(&self, app: &str, error: BackendError) {
        self.state().stop_faults.insert(app.to_owned(), error);
    }

    /// Another apply deploys `app` with `tag` right before the next read of its live deployment.
    pub fn move_before_next_read(&self, app: &str, tag: &str) {
        self.state().moves.insert(app.to_owned(), tag.to_owned());
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.state().calls.clone()
    }

    /// Every observe request so far, in order.
    /// The release records written to `environment` for `app`, oldest first.
    pub fn releases(
        &self,
        environment: &str,
        app: &str,
    ) -> Vec<crate::backend::releases::ReleaseRecord> {
        self.state()
            .releases
            .get(environment)
            .and_then(|releases| releases.get(app))
            .cloned()
            .unwrap_or_default()
    }

    /// Puts release records in place, as an earlier apply left them.
    pub fn set_releases(
        &self,
        environment: &str,
        app: &str,
        records: Vec<crate::backend::releases::ReleaseRecord>,
    ) {
        self.state()
            .releases
            .entry(environment.to_owned())
            .or_default()
            .insert(app.to_owned(), records);
    }

    /// Every release record write fails with `error`.
    pub fn fail_record_writes(&self, error: BackendError) {
        self.state().record_fault = Some(error);
    }

    pub fn observe_requests(&self) -> Vec<ObserveRequest> {
        self.state().observe_requests.clone()
    }

    /// [`FakeCall::short`] of every call so far.
    /// Each deploy's app and when it started.
    pub fn deploy_starts(&self) -> Vec<(String, tokio::time::Instant)> {
        self.state().deploy_starts.clone()
    }

    pub fn call_log(&self) -> Vec<String> {
        self.state().calls.iter().map(FakeCall::short).collect()
    }

    /// The history of an app, oldest first.
    pub fn history(&self, environment: &str, app: &str) -> Vec<DeploymentRecord> {
        self.state()
            .apps
            .get(&(environment.to_owned(), app.to_owned()))
            .map(|entry| entry.history.clone())
            .unwrap_or_default()
    }

    /// The live deployment, `None` when absent or stopped.
    pub fn live(&self, environment: &str, app: &str) -> Option<DeploymentRecord> {
        live_of(&self.state(), environment, app)
    }

    pub fn is_stopped(&self, environment: &str, app: &str) -> bool {
        self.state()
            .apps
            .get(&(environment.to_owned(), app.to_owned()))
            .is_some_and(|entry| entry.stopped)
    }

    /// Another run holds the apply lock of `environment`.
    pub fn hold_lock(&self, environment: &str, lock: LockRecord) {
        self.state().locks.insert(environment.to_owned(), lock);
    }

    /// Another run releases the apply lock of `environment`.
    pub fn drop_lock(&self, environment: &str) {
        self.state().locks.remove(environment);
    }

    /// The apply lock held in `environment`.
    pub fn lock_of(&self, environment: &str) -> Option<LockRecord> {
        self.state().locks.get(environment).cloned()
    }

    /// Every lock request fails with this error.
    pub fn fail_lock(&self, error: BackendError) {
        self.state().lock_fault = Some(error);
    }

    /// Writes of the secret `name` fail with this error.
    pub fn fail_secret_write(&self, name: &str, error: BackendError) {
        self.state().secret_faults.insert(name.to_owned(), error);
    }

    /// The values last written to a secret, `None` when none was written.
    pub fn secret_values(
        &self,
        environment: &str,
        name: &str,
    ) -> Option<BTreeMap<String, SecretValue>> {
        self.state()
            .secret_values
            .get(&(environment.to_owned(), name.to_owned()))
            .cloned()
    }

    /// The most deploys that ran at the same time.
    pub fn max_concurrent_deploys(&self) -> usize {
        self.state().max_deploys_running
    }
}

fn record(version: u32, tag: Option<String>) -> DeploymentRecord {
    DeploymentRecord {
        version,
        tag,
        deployed_at: None,
        deployed_by: Some("fake".into()),
    }
}

fn live_of(state: &State, environment: &str, app: &str) -> Option<DeploymentRecord> {
    state
        .apps
        .get(&(environment.to_owned(), app.to_owned()))
        .filter(|entry| !entry.stopped)
        .and_then(|entry| entry.history.last().cloned())
}

fn publish(
    state: &mut State,
    environment: &str,
    app: &str,
    tag: Option<String>,
) -> DeploymentRecord {
    let entry = state
        .apps
        .entry((environment.to_owned(), app.to_owned()))
        .or_default();
    let version = u32::try_from(entry.history.len()).unwrap_or(u32::MAX) + 1;
    let deployment = record(version, tag);
    entry.history.push(deployment.clone());
    entry.stopped = false;
    deployment
}

/// Decrements the running-deploy count even when the deploy future is dropped (an interrupt).
struct RunningDeploy(Arc<Mutex<State>>);

impl Drop for RunningDeploy {
    fn drop(&mut self) {
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.deploys_running -= 1;
    }
}

#[async_trait]
impl ModalBackend for FakeBackend {
    async fn observe(&self, request: &ObserveRequest) -> Result<Observed, BackendError> {
        self.state().observe_requests.push(request.clone());
        let state = self.state();
        let mut observed = Observed::default();
        for (environment, managed) in &request.environments {
            let mut observed_environment = ObservedEnvironment {
                secrets: state.secrets.get(environment).cloned().unwrap_or_default(),
                releases: if request.releases {
                    crate::backend::releases::ReleasesState::Read {
                        releases: state.releases.get(environment).cloned().unwrap_or_default(),
                    }
                } else {
                    crate::backend::releases::ReleasesState::NotRead
                },
                lock: match (request.locks, state.locks.get(environment)) {
                    (false, _) => LockState::NotRead,
                    (true, None) => LockState::Free,
                    (true, Some(lock)) => LockState::Held { lock: lock.clone() },
                },
                ..ObservedEnvironment::default()
            };
            for ((app_environment, app), entry) in &state.apps {
                if app_environment != environment {
                    continue;
                }
                observed_environment.apps.insert(
                    app.clone(),
                    ObservedApp {
                        app_id: format!("ap-{app}"),
                        state: if entry.stopped {
                            AppState::Stopped
                        } else {
                            AppState::Deployed
                        },
                        live: if request.reads_history_of(managed, app) {
                            live_of(&state, environment, app)
                        } else {
                            None
                        },
                    },
                );
            }
            observed
                .environments
                .insert(environment.clone(), observed_environment);
        }
        Ok(observed)
    }

    async fn live_deployment(
        &self,
        environment: &str,
        app_name: &str,
    ) -> Result<Option<DeploymentRecord>, BackendError> {
        let mut state = self.state();
        state.calls.push(FakeCall::LiveDeployment {
            environment: environment.to_owned(),
            app: app_name.to_owned(),
        });
        if let Some(tag) = state.moves.remove(app_name) {
            publish(&mut state, environment, app_name, Some(tag));
        }
        Ok(live_of(&state, environment, app_name))
    }

    async fn deploy(&self, request: &DeployRequest) -> Result<DeploymentRecord, BackendError> {
        let (delay, fault, _running) = {
            let mut state = self.state();
            state.calls.push(FakeCall::Deploy {
                environment: request.environment.clone(),
                app: request.app_name.clone(),
                tag: request.tag.clone(),
                env: request.env.clone(),
            });
            state
                .deploy_starts
                .push((request.app_name.clone(), tokio::time::Instant::now()));
            state.deploys_running += 1;
            state.max_deploys_running = state.max_deploys_running.max(state.deploys_running);
            let delay = state
                .deploy_delays
                .get(&request.app_name)
                .copied()
                .unwrap_or(state.default_deploy_delay);
            let fault = state.deploy_faults.get(&request.app_name).cloned();
            (delay, fault, RunningDeploy(Arc::clone(&self.state)))
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut state = self.state();
        match fault {
            Some(DeployFault::FailBeforePublish(error)) => Err(error),
            Some(DeployFault::FailAfterPublish(error)) => {
                publish(
                    &mut state,
                    &request.environment,
                    &request.app_name,
                    Some(request.tag.clone()),
                );
                Err(error)
            }
            None => Ok(publish(
                &mut state,
                &request.environment,
                &request.app_name,
                Some(request.tag.clone()),
            )),
        }
    }

    async fn call(&self, request: &CallRequest) -> Result<serde_json::Value, BackendError> {
        let mut state = self.state();
        state.calls.push(FakeCall::Call {
            environment: request.environment.clone(),
            app: request.app_name.clone(),
            function: request.function.clone(),
            payload: request.payload.clone(),
        });
        if live_of(&state, &request.environment, &request.app_name).is_none() {
            return Err(BackendError::AppNotFound {
                environment: request.environment.clone(),
                app: request.app_name.clone(),
            });
        }
        let answer = match state.smoke_answers.get_mut(&request.app_name) {
            Some(answers) if answers.len() > 1 => Some(answers.remove(0)),
            Some(answers) => answers.first().cloned(),
            None => None,
        };
        match answer {
            None => Ok(serde_json::json!({ "status": "ok" })),
            Some(SmokeAnswer::Value(value)) => Ok(value),
            Some(SmokeAnswer::Error(error)) => Err(error),
        }
    }

    async fn rollback(
        &self,
        environment: &str,
        app_name: &str,
        version: u32,
    ) -> Result<(), BackendError> {
        let mut state = self.state();
        state.calls.push(FakeCall::Rollback {
            environment: environment.to_owned(),
            app: app_name.to_owned(),
            version,
        });
        if let Some(error) = state.rollback_faults.get(app_name).cloned() {
            return Err(error);
        }
        let target = state
            .apps
            .get(&(environment.to_owned(), app_name.to_owned()))
            .and_then(|entry| {
                entry
                    .history
                    .iter()
                    .find(|deployment| deployment.version == version)
            })
            .cloned()
            .ok_or_else(|| BackendError::CommandFailed {
                command: format!("modal app rollback {app_name} v{version}"),
                exit_code: Some(1),
                stderr: format!("no version v{version}"),
            })?;
        // Like Modal: a rollback is a new deployment with the old one's contents.
        publish(&mut state, environment, app_name, target.tag);
        Ok(())
    }

    async fn stop(&self, environment: &str, app_name: &str) -> Result<(), BackendError> {
        let mut state = self.state();
        state.calls.push(FakeCall::Stop {
            environment: environment.to_owned(),
            app: app_name.to_owned(),
        });
        if let Some(error) = state.stop_faults.get(app_name).cloned() {
            return Err(error);
        }
        match state
            .apps
            .get_mut(&(environment.to_owned(), app_name.to_owned()))
        {
            Some(entry) => {
                entry.stopped = true;
                Ok(())
            }
            None => Err(BackendError::AppNotFound {
                environment: environment.to_owned(),
                app: app_name.to_owned(),
            }),
        }
    }

    async fn history(
        &self,
        environment: &str,
        app_name: &str,
    ) -> Result<Vec<DeploymentRecord>, BackendError> {
        let state = self.state();
        Ok(state
            .apps
            .get(&(environment.to_owned(), app_name.to_owned()))
            .map(|app| app.history.clone())
            .unwrap_or_default())
    }

    async fn record_release(
        &self,
        environment: &str,
        record: &crate::backend::releases::ReleaseRecord,
    ) -> Result<(), BackendError> {
        let mut state = self.state();
        if let Some(error) = state.record_fault.clone() {
            return Err(error);
        }
        let records = state
            .releases
            .entry(environment.to_owned())
            .or_default()
            .entry(record.app.clone())
            .or_default();
        *records = crate::backend::releases::appended(std::mem::take(records), record.clone());
        Ok(())
    }

    async fn write_secrets(
        &self,
        environment: &str,
        writes: &[SecretWrite],
    ) -> Result<Vec<Result<(), BackendError>>, BackendError> {
        let mut state = self.state();
        let mut outcomes = Vec::new();
        for write in writes {
            state.calls.push(FakeCall::WriteSecret {
                environment: environment.to_owned(),
                name: write.name.clone(),
                keys: write.values.keys().cloned().collect(),
            });
            if let Some(error) = state.secret_faults.get(&write.name).cloned() {
                outcomes.push(Err(error));
                continue;
            }
            state
                .secrets
                .entry(environment.to_owned())
                .or_default()
                .insert(write.name.clone());
            state.secret_values.insert(
                (environment.to_owned(), write.name.clone()),
                write.values.clone(),
            );
            outcomes.push(Ok(()));
        }
        Ok(outcomes)
    }
}

/// How long the fake waits between two tries of a held lock.
const LOCK_RETRY: Duration = Duration::from_millis(10);

/// Removes the fake's locks of one hold, on release or when dropped.
struct FakeRelease {
    state: Arc<Mutex<State>>,
    id: String,
    environments: Vec<String>,
    released: bool,
}

impl FakeRelease {
    fn remove(&mut self) -> Vec<String> {
        self.released = true;
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut lost = Vec::new();
        for environment in &self.environments {
            if state
                .locks
                .get(environment)
                .is_some_and(|lock| lock.id == self.id)
            {
                state.locks.remove(environment);
            } else {
                lost.push(environment.clone());
            }
        }
        lost
    }
}

#[async_trait]
impl LockRelease for FakeRelease {
    async fn release(mut self: Box<Self>) -> Result<Vec<String>, BackendError> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .calls
            .push(FakeCall::Unlock {
                environments: self.environments.clone(),
            });
        Ok(self.remove())
    }
}

impl Drop for FakeRelease {
    fn drop(&mut self) {
        // Like the helper whose input closes: the lock goes even without a release.
        if !self.released {
            self.remove();
        }
    }
}

#[async_trait]
impl ApplyLocks for FakeBackend {
    async fn lock(&self, request: &LockRequest) -> Result<LockAttempt, BackendError> {
        let mut environments = request.environments.clone();
        environments.sort();
        environments.dedup();
        {
            let mut state = self.state();
            state.calls.push(FakeCall::Lock {
                environments: environments.clone(),
            });
            if let Some(error) = state.lock_fault.clone() {
                return Err(error);
            }
        }
        let deadline = tokio::time::Instant::now() + request.wait;
        let mut waited = false;
        loop {
            let blocked = {
                let mut state = self.state();
                let blocked = environments.iter().find_map(|environment| {
                    state
                        .locks
                        .get(environment)
                        .map(|lock| (environment.clone(), lock.clone()))
                });
                let Some(found) = blocked else {
                    state.locks_taken += 1;
                    let id = format!("lk-fake{}", state.locks_taken);
                    for environment in &environments {
                        state.locks.insert(
                            environment.clone(),
                            LockRecord {
                                id: id.clone(),
                                who: request.holder.who.clone(),
                                operation: request.holder.operation.clone(),
                                manifest: request.holder.manifest.clone(),
                                created_at: "2026-01-01T00:00:00Z".into(),
                                heartbeat_at: Some("2026-01-01T00:00:00Z".into()),
                            },
                        );
                    }
                    let release = FakeRelease {
                        state: Arc::clone(&self.state),
                        id: id.clone(),
                        environments: environments.clone(),
                        released: false,
                    };
                    return Ok(LockAttempt::Acquired(HeldLock::new(
                        id,
                        environments,
                        waited,
                        Box::new(release),
                    )));
                };
                found
            };
            let (environment, lock) = blocked;
            if tokio::time::Instant::now() >= deadline {
                return Ok(LockAttempt::Held { environment, lock });
            }
            if !waited {
                waited = true;
                (request.on_wait)(&environment, &lock);
            }
            tokio::time::sleep(LOCK_RETRY).await;
        }
    }

    async fn force_unlock(
        &self,
        environment: &str,
        lock_id: &str,
    ) -> Result<ForceUnlock, BackendError> {
        let mut state = self.state();
        Ok(match state.locks.get(environment).cloned() {
            None => ForceUnlock::Absent,
            Some(lock) if lock.id == lock_id => {
                state.locks.remove(environment);
                ForceUnlock::Removed(lock)
            }
            Some(lock) => ForceUnlock::Mismatch(lock),
        })
    }
}
