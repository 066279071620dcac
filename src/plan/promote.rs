//! What `modalplan promote --from UP --to DOWN` writes: for each processor, the image live upstream as
//! the downstream's pin, when the gate would let that deployment into the downstream environment.
//!
//! A pure function of the manifest, what Modal has in both environments (one read) and the plan options
//! (the code, now). The upstream's image is read from the release record of its live version, or, when
//! there is none, from the manifest when the live deployment is the one the manifest describes. The
//! verdict is the planner's own: the manifest with the new pin is planned against the same read, so a
//! promotion this writes is one the next `apply` takes.

use crate::backend::{AppState, Observed, ObservedEnvironment};
use crate::manifest::ValidManifest;
use crate::manifest::valid::ImageRef;
use crate::plan::{self, PlanOptions};

use crate::promotion::Wait;

/// One processor deployed to both environments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its `[[processor]]` number in the manifest (0-based).
    pub index: usize,
    pub reference: String,
    pub app_name: String,
    pub outcome: Outcome,
}

/// What promote does with one processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The downstream already pins the image live upstream.
    UpToDate { image: ImageRef },
    /// Pin `image` (live upstream as `version`) in the downstream's override; it pins `current` today.
    Promote {
        current: ImageRef,
        image: ImageRef,
        version: u32,
    },
    /// Not promoted: what the gate waits for upstream.
    Held { wait: Wait },
    /// The downstream takes this processor from another environment (`[promotion]` gates it on
    /// `upstream`), so promoting from this one would only be held back.
    OtherUpstream { upstream: String },
}

impl Outcome {
    /// True when promote writes a pin for it.
    pub fn promotes(&self) -> bool {
        matches!(self, Self::Promote { .. })
    }
}

/// The outcome per processor that deploys to both `from` and `to` and that `options` targets, in
/// manifest order. `options` gives the targets, the code and now; its environments are ignored.
pub fn decide(
    manifest: &ValidManifest,
    observed: &Observed,
    options: &PlanOptions,
    from: &str,
    to: &str,
) -> Vec<Candidate> {
    let empty = ObservedEnvironment::default();
    let upstream = observed.environments.get(from).unwrap_or(&empty);
    let upstream_plan = plan::plan(manifest, observed, &only(options, from));
    let mut promoted = manifest.clone();
    let mut candidates = Vec::new();
    for (index, processor) in manifest.processors.iter().enumerate() {
        let (Some(source), Some(target)) = (
            processor.deployments.get(from),
            processor.deployments.get(to),
        ) else {
            continue;
        };
        if !options.targets_ref(processor.reference.as_str()) {
            continue;
        }
        let app_name = processor.app_name.to_string();
        let candidate = |outcome| Candidate {
            index,
            reference: processor.reference.to_string(),
            app_name: app_name.clone(),
            outcome,
        };
        if let Some(gate) = manifest.promotion_gate(processor, to) {
            if gate.upstream != from {
                candidates.push(candidate(Outcome::OtherUpstream {
                    upstream: gate.upstream,
                }));
                continue;
            }
        }
        let live = upstream
            .apps
            .get(&app_name)
            .filter(|app| app.state == AppState::Deployed)
            .and_then(|app| app.live.as_ref());
        let Some(live) = live else {
            candidates.push(candidate(Outcome::Held {
                wait: Wait::NotDeployed,
            }));
            continue;
        };
        let tag = live.tag.as_deref().unwrap_or("");
        let recorded = crate::backend::releases::live_record(
            upstream.releases.of(&app_name),
            live.version,
            tag,
        )
        .0
        .and_then(|record| record.deployment.as_ref())
        .and_then(|deployment| crate::manifest::image::parse(&deployment.image).ok());
        // Without a record, the live deployment is known only when it is the manifest's own.
        let described = upstream_plan
            .actions
            .iter()
            .find(|action| action.app_name == app_name)
            .and_then(|action| action.after.as_ref())
            .is_some_and(|desired| desired.tag == tag);
        let image = recorded.or_else(|| described.then(|| source.image.clone()));
        let Some(image) = image else {
            candidates.push(candidate(Outcome::Held {
                wait: Wait::Unrecorded {
                    version: live.version,
                },
            }));
            continue;
        };
        if image.reference() == target.image.reference() {
            candidates.push(candidate(Outcome::UpToDate { image }));
            continue;
        }
        if let Some(deployment) = promoted.processors[index].deployments.get_mut(to) {
            deployment.image = image.clone();
        }
        candidates.push(candidate(Outcome::Promote {
            current: target.image.clone(),
            image,
            version: live.version,
        }));
    }
    // The gate's verdict on each new pin, as the next apply will see it.
    let downstream_plan = plan::plan(&promoted, observed, &only(options, to));
    for candidate in &mut candidates {
        if !candidate.outcome.promotes() {
            continue;
        }
        let wait = downstream_plan
            .actions
            .iter()
            .find(|action| action.app_name == candidate.app_name)
            .and_then(|action| action.promotion.as_ref())
            .and_then(|check| check.wait().cloned());
        if let Some(wait) = wait {
            candidate.outcome = Outcome::Held { wait };
        }
    }
    candidates
}

/// `options` planning `environment` alone, the gate never skipped.
fn only(options: &PlanOptions, environment: &str) -> PlanOptions {
    PlanOptions {
        environments: vec![environment.to_owned()],
        skip_promotion_check: false,
        sandbox: None,
        prune: false,
        ..options.clone()
    }
}

#[cfg(test)]
mod tests;
