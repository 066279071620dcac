//! A plan saved with `modalplan plan --out`: read back, and refused when stale.
//!
//! A saved plan is applied exactly as it was reviewed, so it must still describe Modal: the manifest it
//! was made from is unchanged, and every app it covers has the live deployment it saw (same version and
//! tag; absent when it was absent).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::executor::{describe_live, describe_planned, live_matches};
use crate::backend::{AppState, BackendError, ModalBackend, ObserveRequest};
use crate::codes::Code;
use crate::plan::model::PLAN_FORMAT_VERSION;
use crate::plan::{ActionKind, Plan};

/// Why a saved plan cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot read the plan file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is not a modalplan plan: {reason}")]
    Format { path: String, reason: String },
    #[error(
        "{path} has plan format {found}; this modalplan reads format {PLAN_FORMAT_VERSION}: plan again with this version"
    )]
    Version { path: String, found: u32 },
    #[error(
        "the plan is stale: the manifest changed since it was made ({planned} then, {now} now); plan again"
    )]
    ManifestChanged { planned: String, now: String },
    #[error("the plan is stale: Modal changed since it was made; plan again\n{}", .changes.join("\n"))]
    ModalChanged {
        /// One line per app: `main/app: v2 tagged … when planned, v3 tagged … now`.
        changes: Vec<String>,
    },
    #[error("could not read Modal to check the plan is current: {0}")]
    Backend(BackendError),
}

impl SavedPlanError {
    pub fn code(&self) -> Code {
        match self {
            SavedPlanError::Read { .. }
            | SavedPlanError::Format { .. }
            | SavedPlanError::Version { .. } => Code::ErrPlanFile,
            SavedPlanError::ManifestChanged { .. } | SavedPlanError::ModalChanged { .. } => {
                Code::ErrStalePlan
            }
            SavedPlanError::Backend(error) => error.code(),
        }
    }
}

/// Reads a plan file.
pub fn load(path: &Path) -> Result<Plan, SavedPlanError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| SavedPlanError::Read {
        path: shown.clone(),
        reason: error.to_string(),
    })?;
    let document: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| SavedPlanError::Format {
            path: shown.clone(),
            reason: error.to_string(),
        })?;
    match document
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(found) if found != u64::from(PLAN_FORMAT_VERSION) => {
            return Err(SavedPlanError::Version {
                path: shown,
                found: u32::try_from(found).unwrap_or(u32::MAX),
            });
        }
        _ => {}
    }
    serde_json::from_value(document).map_err(|error| SavedPlanError::Format {
        path: shown,
        reason: error.to_string(),
    })
}

/// Refuses the plan when the manifest's hash differs from the one it was made from, or when any app it
/// covers has another live deployment now. Reads Modal once, for every app of the plan.
pub async fn check_current(
    plan: &Plan,
    manifest_sha256: &str,
    backend: &dyn ModalBackend,
) -> Result<(), SavedPlanError> {
    if plan.manifest.sha256 != manifest_sha256 {
        return Err(SavedPlanError::ManifestChanged {
            planned: plan.manifest.sha256.clone(),
            now: manifest_sha256.to_owned(),
        });
    }
    let mut environments: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for action in &plan.actions {
        environments
            .entry(action.environment.clone())
            .or_default()
            .insert(action.app_name.clone());
    }
    if environments.is_empty() {
        return Ok(());
    }
    let observed = backend
        .observe(&ObserveRequest { environments })
        .await
        .map_err(SavedPlanError::Backend)?;
    let changes: Vec<String> = plan
        .actions
        .iter()
        // Orphans are left alone, and the planner does not read their history: an orphan to stop is
        // checked right before it is stopped.
        .filter(|action| {
            !(matches!(action.kind, ActionKind::Orphan | ActionKind::Stop)
                && action.before.is_none())
        })
        .filter_map(|action| {
            let live = observed
                .environments
                .get(&action.environment)
                .and_then(|environment| environment.apps.get(&action.app_name))
                .filter(|app| app.state == AppState::Deployed)
                .and_then(|app| app.live.as_ref());
            (!live_matches(action.before.as_ref(), live)).then(|| {
                format!(
                    "  {}/{}: {} when planned, {} now",
                    action.environment,
                    action.app_name,
                    describe_planned(action.before.as_ref()),
                    describe_live(live)
                )
            })
        })
        .collect();
    if changes.is_empty() {
        Ok(())
    } else {
        Err(SavedPlanError::ModalChanged { changes })
    }
}
