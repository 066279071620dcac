//! The validated manifest: the only form of `processors.toml` that reaches the planner.
//!
//! Every value here has been checked; per-environment overrides are already resolved into one
//! [`Deployment`] per processor and environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::naming::{AppName, ProcessorRef};

/// `processors.toml`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidManifest {
    /// Where it was read from, as given.
    pub path: PathBuf,
    /// `sha256:<hex>` of the file's bytes; a saved plan records it to refuse a stale apply.
    pub sha256: String,
    pub modal: ModalSettings,
    /// The default smoke check of every processor.
    pub smoke: SmokeSettings,
    /// The secrets policy: secret name → the keys it holds.
    pub secrets: BTreeMap<String, SecretPolicy>,
    /// In manifest order.
    pub processors: Vec<Processor>,
    /// App names that `--prune` never stops.
    pub protect: Vec<String>,
    /// `[promotion]`; `None` without the table: no environment is gated.
    pub promotion: Option<PromotionPolicy>,
}

/// The `[promotion]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromotionPolicy {
    /// The gated environments, in rollout order.
    pub gated: Vec<String>,
    /// How long a deployment must have been live upstream.
    pub soak: Option<Duration>,
}

/// A processor's own promotion settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessorPromotion {
    /// `promotion.gated = false`: never gated.
    pub ungated: bool,
    /// Its own soak time, overriding `[promotion].soak`.
    pub soak: Option<Duration>,
}

/// What gates one processor's deployment in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionGate {
    /// The environment whose live deployment it must match.
    pub upstream: String,
    pub soak: Option<Duration>,
}

impl ValidManifest {
    /// `modal secret create NAME --env E KEY=...` for a secret of the policy (its own name as the key
    /// when the policy lists none): the fix every missing-secret message gives.
    pub fn secret_create_command(&self, name: &str, environment: &str) -> String {
        let keys = self
            .secrets
            .get(name)
            .map(|policy| policy.keys.clone())
            .filter(|keys| !keys.is_empty())
            .unwrap_or_else(|| vec![name.to_owned()]);
        let assignments: Vec<String> = keys.iter().map(|key| format!("{key}=...")).collect();
        format!(
            "modal secret create {name} --env {environment} {}",
            assignments.join(" ")
        )
    }
}

impl ValidManifest {
    /// The gate of `processor` in `environment`: `None` when the environment is not gated, the
    /// processor opts out, or it deploys to no environment before this one.
    pub fn promotion_gate(
        &self,
        processor: &Processor,
        environment: &str,
    ) -> Option<PromotionGate> {
        let policy = self.promotion.as_ref()?;
        if processor.promotion.ungated || !policy.gated.iter().any(|gated| gated == environment) {
            return None;
        }
        let position = self
            .modal
            .environments
            .iter()
            .position(|name| name == environment)?;
        let upstream = self.modal.environments[..position]
            .iter()
            .rev()
            .find(|name| processor.deployments.contains_key(*name))?;
        Some(PromotionGate {
            upstream: upstream.clone(),
            soak: processor.promotion.soak.or(policy.soak),
        })
    }
}

/// `[modal].deploy_retries` when the manifest does not say: a deploy that failed transiently before
/// publishing is tried once more.
pub const DEFAULT_DEPLOY_RETRIES: u32 = 1;

/// The `[modal]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ModalSettings {
    /// Python module deployed with `modal deploy -m`.
    pub module: String,
    /// Folder the module is imported from, resolved against the manifest's folder.
    pub workdir: PathBuf,
    /// Modal environments this manifest manages, in manifest order.
    pub environments: Vec<String>,
    /// How to run the `modal` CLI: the program and any leading arguments; empty when the manifest has no
    /// `[modal].cli`, and then `backend::modal_cli::locate` finds the program.
    pub cli: Vec<String>,
    /// The Python interpreter that has the Modal SDK, when it is not the one the CLI runs on.
    pub python: Option<PathBuf>,
    /// Limit for each read of Modal (list, history).
    pub read_timeout: Duration,
    /// Limit for each deploy.
    pub deploy_timeout: Duration,
    /// `[modal].code`: globs (relative to `workdir`) of what else counts as the deploy's code, `!` to
    /// leave out; see [`crate::code`].
    pub code: Vec<String>,
    /// Retries of a deploy that failed transiently before publishing.
    pub deploy_retries: u32,
}

impl ModalSettings {
    /// The code every deploy ships, read from `workdir` by the `code` rule (none when that folder does not
    /// exist: the deploy then fails with its own error).
    pub fn code_snapshot(&self) -> Result<crate::code::CodeSnapshot, crate::code::CodeError> {
        if !self.workdir.is_dir() {
            return Ok(crate::code::CodeSnapshot::default());
        }
        let rule = crate::code::CodeRule::new(&self.code)?;
        crate::code::snapshot(&self.workdir, &self.module, &rule)
    }
}

/// How a deployed app is smoke-checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SmokeSettings {
    /// Function called after a deploy.
    pub function: String,
    /// Payload; `mode` is forced to `"mock"` when it is sent.
    pub payload: serde_json::Value,
    pub timeout: Duration,
}

/// One entry of `[secrets]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretPolicy {
    /// Keys the secret must hold (`REGISTRY_USERNAME`, `REGISTRY_PASSWORD`).
    pub keys: Vec<String>,
    pub description: Option<String>,
}

/// One `[[processor]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Processor {
    pub reference: ProcessorRef,
    /// The CI app name (`llm-litellm-v1`), fitted to Modal's limits.
    pub app_name: AppName,
    /// `promotion` of the processor.
    pub promotion: ProcessorPromotion,
    /// What it is in each environment it deploys to (disabled environments are absent), in manifest order
    /// of `[modal].environments`.
    pub deployments: BTreeMap<String, Deployment>,
}

/// One processor in one environment, overrides applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub image: ImageRef,
    pub secrets_required: Vec<String>,
    pub secrets_optional: Vec<String>,
    pub runtime: Runtime,
    /// `None` when smoke checks are disabled for it.
    pub smoke: Option<SmokeSettings>,
}

/// An OCI image pinned by digest: `registry/repository@sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// `ghcr.io` (`docker.io` when the reference names no registry).
    pub registry: String,
    /// `acme/theory/llm-litellm`.
    pub repository: String,
    /// `sha256:<64 hex>`.
    pub digest: String,
}

impl ImageRef {
    /// The reference as Modal and the registry take it.
    pub fn reference(&self) -> String {
        format!("{}/{}@{}", self.registry, self.repository, self.digest)
    }

    /// `sha256:` and the first 12 hex digits, for people.
    pub fn short_digest(&self) -> &str {
        &self.digest[..self.digest.len().min(19)]
    }

    /// Registries that need `REGISTRY_AUTH` to pull.
    pub fn is_private_registry(&self) -> bool {
        self.registry == "ghcr.io"
    }
}

/// Resources of a deployed function.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Runtime {
    pub cpu: Option<f64>,
    pub memory_mb: Option<u32>,
    pub gpu: Option<String>,
    pub timeout_s: Option<u32>,
}
