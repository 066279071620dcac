//! The plan: what would change on Modal, per environment. Serialized as-is for `--format json` and
//! `--out plan.json`; `format_version` changes when a field does.

use crate::backend::DeploymentRecord;
use crate::backend::lock::LockRecord;
use crate::backend::releases::ReleaseRecord;
use crate::code::{CodeChanges, CodeSnapshot};
use crate::codes::Code;

/// Version of the JSON form of a plan. 2: the code every deploy ships (`code`), the live side's release
/// record (`before.release`), and field-level reasons.
pub const PLAN_FORMAT_VERSION: u32 = 2;

/// Everything `apply` needs, and what it was computed against.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub manifest: ManifestIdentity,
    /// Environments planned, in manifest order.
    pub environments: Vec<String>,
    /// Deterministic order: environment (manifest order), then app name.
    pub actions: Vec<Action>,
    /// Warnings that do not block (an optional secret missing, ...).
    pub warnings: Vec<Finding>,
    /// The apply locks held in planned environments when the plan was made (manifest order): an apply
    /// was running, or a run that is gone left its lock. Informational: the actions do not depend on
    /// them. Left out when there are none, so such a plan is the document it was before this field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<EnvironmentLock>,
    /// The code every deploy ships (the files under `[modal].workdir` that count), as hashed into the
    /// tags; apply refuses the plan when it changed since.
    #[serde(default)]
    pub code: CodeSnapshot,
}

/// An apply lock held in a planned environment when the plan was made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnvironmentLock {
    pub environment: String,
    /// Who holds it, since when, its last heartbeat and its id.
    pub lock: LockRecord,
}

/// Which manifest a plan was made from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestIdentity {
    pub path: String,
    /// `sha256:<hex>` of the manifest file.
    pub sha256: String,
}

/// One thing to do (or not) to one app in one environment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Action {
    pub environment: String,
    /// The processor ref; `None` for an orphan.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub app_name: String,
    pub kind: ActionKind,
    /// Why an update is one, in words for people (`image sha256:0123… → sha256:4567…`).
    pub reasons: Vec<Reason>,
    /// The live deployment when planned; `None` when the app did not exist (or was stopped).
    pub before: Option<Live>,
    /// What will be deployed; `None` for orphans.
    pub after: Option<Desired>,
    /// Why it cannot go ahead (kind `blocked`).
    pub blockers: Vec<Finding>,
    /// A create or update in a gated environment: its upstream and the promotion gate's verdict. Left
    /// out elsewhere, so a plan without `[promotion]` is the document it was before this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<crate::promotion::PromotionCheck>,
}

/// What kind of change.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Create,
    Update,
    NoOp,
    /// Deployed, named like a managed app, not in the manifest: shown, stopped only with `--prune`.
    Orphan,
    /// An orphan that `--prune` will stop.
    Stop,
    Blocked,
}

/// Why an update is one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// `from`: the live digest, whole when a release record has it, else the 12 digits its tag holds.
    Image { from: Option<String>, to: String },
    /// `added` and `removed` are known when the live side has a release record.
    Secrets {
        now: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        added: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removed: Vec<String>,
    },
    /// Each changed field, when the live side has a release record.
    Runtime {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changes: Vec<FieldChange>,
    },
    /// The files that changed, when the live side has a release record.
    Code {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        files: Option<CodeChanges>,
    },
    /// The processor ref, the image's repository or the module changed.
    Settings {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changes: Vec<FieldChange>,
    },
    /// The live deployment has no modalplan tag: deployed outside modalplan.
    Untagged,
    /// Tagged by something else.
    ForeignTag { tag: String },
    /// Tagged by an older modalplan, whose fingerprint format hashed other things.
    OlderFormat { tag: String },
    /// The app exists but is stopped.
    Stopped,
    /// An orphan that `--prune` leaves alone: the manifest's `protect` lists it.
    Protected,
}

/// One field's old and new value, for people (`memory_mb`: `2048` → `4096`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The deployment live on Modal when the plan was made.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Live {
    pub version: u32,
    pub tag: Option<String>,
    /// The release record of this deployment, when modalplan made it and its record matches the tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseRecord>,
}

impl Live {
    /// True when `live` is the deployment the plan saw (`planned`): both absent, or the same version and
    /// tag. Apply's re-check before each deploy and the saved-plan check both ask this.
    pub fn matches(planned: Option<&Live>, live: Option<&DeploymentRecord>) -> bool {
        match (planned, live) {
            (None, None) => true,
            (Some(planned), Some(live)) => {
                planned.version == live.version && planned.tag == live.tag
            }
            _ => false,
        }
    }
}

/// What apply deploys.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Desired {
    /// The deploy tag (fingerprint).
    pub tag: String,
    /// `registry/repository@sha256:...`.
    pub image: String,
    /// Secrets attached to the function: the required ones and the optional ones present.
    pub secrets: Vec<String>,
    pub runtime: RuntimeSpec,
    /// The Python module deployed (`[modal].module`).
    #[serde(default)]
    pub module: String,
    /// The smoke check to run after the deploy; `None` when disabled.
    pub smoke: Option<SmokeSpec>,
}

/// Runtime settings exported to the deploy (defined beside the release record, which keeps them).
pub use crate::backend::releases::RuntimeSpec;

/// A smoke check.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SmokeSpec {
    pub function: String,
    /// Sent with `mode` forced to `"mock"`.
    pub payload: serde_json::Value,
    pub timeout_s: u64,
}

/// A blocker or a warning, with the exact fix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub code: Code,
    pub message: String,
    /// What to run or change to fix it.
    pub fix: String,
}

impl Plan {
    /// Counts per kind, for the summary line.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for action in &self.actions {
            match action.kind {
                ActionKind::Create => summary.create += 1,
                ActionKind::Update => summary.update += 1,
                ActionKind::Stop => summary.stop += 1,
                ActionKind::Blocked => summary.blocked += 1,
                ActionKind::Orphan => summary.orphan += 1,
                ActionKind::NoOp => summary.unchanged += 1,
            }
        }
        summary
    }

    /// True when apply would change something.
    pub fn has_changes(&self) -> bool {
        let summary = self.summary();
        summary.create + summary.update + summary.stop > 0
    }
}

/// Counts per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub stop: usize,
    pub blocked: usize,
    pub orphan: usize,
    pub unchanged: usize,
}
