//! Apply: executes a plan's changes through the backend, app by app with bounded parallelism: re-check,
//! deploy, smoke-check, roll back what fails, and report the state each app is left in.
//!
//! The executor never prints: it sends [`Event`]s to a sink the command renders, and returns an
//! [`ApplyReport`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::plan::ActionKind;

mod app;
mod checks;
mod context;
mod contract;
mod executor;
pub mod lock;
mod record;
mod recover;
pub mod report;
#[cfg(test)]
mod tests;

pub use contract::deploy_environment;
pub use executor::execute;
pub use report::{AppError, AppReport, ApplyReport, Outcome};

pub use crate::interrupt::{Interrupt, InterruptHandle};

/// How to apply, resolved from the command line and the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySettings {
    /// Deploys running at once (at least 1).
    pub parallelism: usize,
    /// Start nothing new after the first failure.
    pub fail_fast: bool,
    /// Roll back (or stop) what fails; `false` with `--no-rollback`.
    pub rollback: bool,
    /// Deploy logs go to `<log_dir>/<environment>/<app>.log`.
    pub log_dir: PathBuf,
    /// Folder `modal deploy` runs in.
    pub workdir: PathBuf,
    /// Module deployed with `modal deploy -m`.
    pub module: String,
    pub deploy_timeout: Duration,
    /// Names never stopped, whatever the plan says.
    pub protect: Vec<String>,
    /// After an interrupt, how long running work may go on before it is killed.
    pub grace_period: Duration,
    /// How far apart the first `parallelism` deploys are launched (zero: all at once); see
    /// [`launch_spacing`].
    pub launch_spacing: Duration,
    /// What each release record says of this run: the manifest, the commit, who.
    pub provenance: Provenance,
}

/// The spacing of the first wave's launches for `parallelism` deploys on a machine of `cores` cores.
///
/// Each `modal deploy` spends about half a CPU-second starting Python before it waits on Modal. When
/// more deploys start at once than the cores can start side by side, they hold each other up and, being
/// alike, stay in step for the whole apply: every wave starts together again as the previous one ends
/// together. Launching the first wave half a second apart spreads them for good (the sliding window
/// keeps them spread): 100 apps at parallelism 10 on 2 cores went from 1.31x to 1.04x the ideal
/// (docs/benchmarks.md). Up to twice the cores start together with no measured cost, so they are not
/// spaced.
pub fn launch_spacing(parallelism: usize, cores: usize) -> Duration {
    if parallelism > 2 * cores.max(1) {
        Duration::from_millis(500)
    } else {
        Duration::ZERO
    }
}

/// Where a run comes from, for its release records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The manifest's path, as given.
    pub manifest: Option<String>,
    /// `git rev-parse HEAD` of the manifest's repository.
    pub commit: Option<String>,
    /// Whether that tree had uncommitted changes.
    pub dirty: Option<bool>,
    /// `$USER`, else `$GITHUB_ACTOR`.
    pub by: String,
}

/// What the executor reports as it goes, for a progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An action began (its re-check of the live deployment).
    Started {
        environment: String,
        app_name: String,
        kind: ActionKind,
    },
    Deploying {
        environment: String,
        app_name: String,
        log: PathBuf,
    },
    SmokeChecking {
        environment: String,
        app_name: String,
        version: u32,
    },
    RollingBack {
        environment: String,
        app_name: String,
        to: u32,
    },
    Stopping {
        environment: String,
        app_name: String,
    },
    /// The grace period after an interrupt ran out: the app's running step was killed.
    Killed {
        environment: String,
        app_name: String,
    },
    /// An action ended.
    Finished(AppReport),
    /// A Ctrl-C or SIGTERM arrived: nothing new starts.
    Interrupted { grace_period: Duration },
}

/// Where events go.
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// A sink that drops every event.
pub fn no_events() -> EventSink {
    Arc::new(|_: &Event| {})
}
