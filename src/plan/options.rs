//! What a plan covers: the environments and refs selected on the command line, checked against the
//! manifest before anything reads Modal.

use std::collections::{BTreeMap, BTreeSet};

use crate::backend::ObserveRequest;
use crate::manifest::ValidManifest;
use crate::naming::{AppName, SandboxOwner};

/// Inputs of [`super::plan`] besides the manifest and what Modal has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanOptions {
    /// Environments to plan, in manifest order; empty means every environment the manifest manages.
    pub environments: Vec<String>,
    /// Processor refs to plan (as the manifest writes them); empty means every processor.
    pub targets: Vec<String>,
    /// Plan this owner's sandbox names (`<user>-<branch>-<app>`) instead of the CI names.
    pub sandbox: Option<SandboxOwner>,
    /// Orphans become `stop` actions (except the manifest's `protect` list).
    pub prune: bool,
    /// Images the registry pre-flight found unavailable: image reference → why.
    pub unavailable_images: BTreeMap<String, String>,
    /// The code every deploy ships, read from `[modal].workdir`: part of each fingerprint.
    pub code: crate::code::CodeSnapshot,
    /// Plan a deployment that failed its smoke check before as an ordinary change (`--retry-failed`),
    /// instead of blocking it.
    pub retry_failed: bool,
    /// Let creates and updates that the promotion gate holds back go ahead, with a warning
    /// (`--skip-promotion-check`).
    pub skip_promotion_check: bool,
    /// Now, for the promotion gate's soak times (`None`: the epoch, so every soak is still running).
    pub now: Option<std::time::SystemTime>,
}

/// A selection that names something the manifest does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error(
        "`--env {given}` is not an environment of the manifest{}; it manages: {}",
        did_you_mean_note(.suggestion.as_deref()),
        .known.join(", ")
    )]
    UnknownEnvironment {
        given: String,
        suggestion: Option<String>,
        known: Vec<String>,
    },
    #[error(
        "`--target {given}` is not a processor of the manifest{}; it lists: {}",
        did_you_mean_note(.suggestion.as_deref()),
        .known.join(", ")
    )]
    UnknownTarget {
        given: String,
        suggestion: Option<String>,
        known: Vec<String>,
    },
}

fn did_you_mean_note(candidate: Option<&str>) -> String {
    candidate.map_or_else(String::new, |name| format!(" (did you mean `{name}`?)"))
}

/// The closest of `known` to `given`, when it is close enough to be a typo.
pub fn did_you_mean<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    known
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(given, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate.to_owned())
}

impl PlanOptions {
    /// Checks `--env` and `--target` values against the manifest and puts the environments in manifest
    /// order.
    pub fn select(
        manifest: &ValidManifest,
        environments: &[String],
        targets: &[String],
    ) -> Result<Self, SelectionError> {
        let known_environments = &manifest.modal.environments;
        for given in environments {
            if !known_environments.contains(given) {
                return Err(SelectionError::UnknownEnvironment {
                    given: given.clone(),
                    suggestion: did_you_mean(given, known_environments.iter().map(String::as_str)),
                    known: known_environments.clone(),
                });
            }
        }
        let known_refs: Vec<String> = manifest
            .processors
            .iter()
            .map(|processor| processor.reference.as_str().to_owned())
            .collect();
        let mut selected_targets = Vec::new();
        for given in targets {
            let found = manifest.processors.iter().find(|processor| {
                processor.reference.as_str() == given
                    || given
                        .parse::<crate::naming::ProcessorRef>()
                        .is_ok_and(|parsed| parsed.app_name() == processor.reference.app_name())
            });
            match found {
                Some(processor) => {
                    selected_targets.push(processor.reference.as_str().to_owned());
                }
                None => {
                    return Err(SelectionError::UnknownTarget {
                        given: given.clone(),
                        suggestion: did_you_mean(given, known_refs.iter().map(String::as_str)),
                        known: known_refs.clone(),
                    });
                }
            }
        }
        Ok(Self {
            environments: known_environments
                .iter()
                .filter(|name| environments.is_empty() || environments.contains(name))
                .cloned()
                .collect(),
            targets: selected_targets,
            ..Self::default()
        })
    }

    /// The environments planned, in manifest order.
    pub fn planned_environments(&self, manifest: &ValidManifest) -> Vec<String> {
        manifest
            .modal
            .environments
            .iter()
            .filter(|name| self.environments.is_empty() || self.environments.contains(name))
            .cloned()
            .collect()
    }

    /// True when the processor with this ref is planned.
    pub fn targets_ref(&self, reference: &str) -> bool {
        self.targets.is_empty() || self.targets.iter().any(|target| target == reference)
    }

    /// The name the app has on Modal in this plan: the CI name, or the owner's sandbox name.
    pub fn app_name(&self, ci_name: &AppName) -> AppName {
        match &self.sandbox {
            Some(owner) => owner.app_name(ci_name),
            None => ci_name.clone(),
        }
    }

    /// What the backend must read: every planned environment, with the managed apps whose live deployment
    /// the planner compares, and the shape of orphan candidates' names, whose live deployment the plan
    /// shows and a prune re-checks. It does not ask for the apply locks: `plan` and `status` do.
    pub fn observe_request(&self, manifest: &ValidManifest) -> ObserveRequest {
        let mut environments: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for environment in self.planned_environments(manifest) {
            let names = manifest
                .processors
                .iter()
                .filter(|processor| self.targets_ref(processor.reference.as_str()))
                .filter(|processor| processor.deployments.contains_key(&environment))
                .map(|processor| self.app_name(&processor.app_name).to_string())
                .collect();
            environments.insert(environment, names);
        }
        // A gated environment's upstream is read in the same read, for the apps it gates.
        if self.sandbox.is_none() {
            for environment in self.planned_environments(manifest) {
                for processor in &manifest.processors {
                    if !self.targets_ref(processor.reference.as_str())
                        || !processor.deployments.contains_key(&environment)
                    {
                        continue;
                    }
                    if let Some(gate) = manifest.promotion_gate(processor, &environment) {
                        environments
                            .entry(gate.upstream)
                            .or_default()
                            .insert(processor.app_name.to_string());
                    }
                }
            }
        }
        ObserveRequest {
            environments,
            locks: false,
            releases: true,
            orphans: Some(
                super::orphans::OrphanRule::new(manifest, self)
                    .names()
                    .clone(),
            ),
        }
    }
}
