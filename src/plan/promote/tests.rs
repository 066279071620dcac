//! `promote`'s decision as a function of plain values: the manifest of the plan fixtures (litellm's dev
//! pin is newer than staging's and main's), gated on staging and main with a 30-minute soak.

use std::collections::BTreeMap;

use super::{Candidate, Outcome, decide};
use crate::backend::releases::{
    RECORD_FORMAT, ReleaseOperation, ReleaseRecord, ReleasedDeployment, ReleasesState, SmokeRecord,
};
use crate::backend::{Observed, ObservedEnvironment};
use crate::manifest::ValidManifest;
use crate::plan::PlanOptions;
use crate::plan::fixtures::{
    self, LITELLM_DIGEST, LITELLM_NEW_DIGEST, deployed, environment, image, tag_of,
};
use crate::promotion::Wait;

const SECRETS: [&str; 2] = ["REGISTRY_AUTH", "OPENAI_API_KEY"];

use crate::plan::fixtures::gated_manifest as gated;

fn litellm(digest: &str) -> crate::manifest::valid::ImageRef {
    image("ghcr.io", "acme/theory/llm-litellm", digest)
}

fn record(tag: &str, version: u32, digest: &str, smoke: Option<bool>) -> ReleaseRecord {
    ReleaseRecord {
        format: RECORD_FORMAT,
        app: "llm-litellm-v1".into(),
        version,
        fingerprint: tag.into(),
        operation: ReleaseOperation::Deploy,
        deployment: Some(ReleasedDeployment {
            reference: Some("llm/litellm@1".into()),
            image: litellm(digest).reference(),
            secrets: vec!["OPENAI_API_KEY".into()],
            runtime: crate::plan::model::RuntimeSpec::default(),
            module: "modal_app".into(),
            code: vec![],
        }),
        manifest: None,
        commit: None,
        dirty: None,
        by: "ci".into(),
        at: "2026-12-03T14:02:00Z".into(),
        smoke: smoke.map(|passed| SmokeRecord {
            passed,
            duration_ms: 20,
            message: (!passed).then(|| "status: error".to_owned()),
        }),
        restored: None,
        rollback_of: None,
        promotion_skipped: None,
    }
}

/// dev runs litellm as the manifest pins it there (v4) with these records; staging and main run nothing.
fn observed(manifest: &ValidManifest, records: Option<Vec<ReleaseRecord>>) -> Observed {
    let dev_tag = tag_of(manifest, "llm/litellm@1", "dev", &[]);
    let mut dev = environment(
        vec![("llm-litellm-v1", deployed("ap-d1", 4, Some(&dev_tag)))],
        &SECRETS,
    );
    dev.releases = match records {
        Some(records) => ReleasesState::Read {
            releases: BTreeMap::from([("llm-litellm-v1".to_owned(), records)]),
        },
        None => ReleasesState::Read {
            releases: BTreeMap::new(),
        },
    };
    let empty = || ObservedEnvironment {
        releases: ReleasesState::Read {
            releases: BTreeMap::new(),
        },
        ..environment(vec![], &SECRETS)
    };
    Observed {
        environments: BTreeMap::from([
            ("dev".to_owned(), dev),
            ("staging".to_owned(), empty()),
            ("main".to_owned(), empty()),
        ]),
    }
}

fn options(manifest: &ValidManifest, targets: &[&str], now: &str) -> PlanOptions {
    let targets: Vec<String> = targets.iter().map(|target| (*target).to_owned()).collect();
    let mut options = PlanOptions::select(manifest, &[], &targets).unwrap();
    options.now = Some(humantime::parse_rfc3339(now).unwrap());
    options
}

fn litellm_outcome(candidates: &[Candidate]) -> &Outcome {
    let [candidate] = candidates else {
        panic!("one candidate expected: {candidates:?}")
    };
    assert_eq!(candidate.index, 0);
    assert_eq!(candidate.reference, "llm/litellm@1");
    assert_eq!(candidate.app_name, "llm-litellm-v1");
    &candidate.outcome
}

#[test]
fn the_image_live_and_soaked_upstream_is_promoted() {
    let manifest = gated();
    let tag = tag_of(&manifest, "llm/litellm@1", "dev", &[]);
    let observed = observed(
        &manifest,
        Some(vec![record(&tag, 4, LITELLM_NEW_DIGEST, Some(true))]),
    );
    let candidates = decide(
        &manifest,
        &observed,
        &options(&manifest, &["llm/litellm@1"], "2026-12-03T14:32:00Z"),
        "dev",
        "staging",
    );
    assert_eq!(
        litellm_outcome(&candidates),
        &Outcome::Promote {
            current: litellm(LITELLM_DIGEST),
            image: litellm(LITELLM_NEW_DIGEST),
            version: 4,
        }
    );
}

#[test]
fn a_soak_not_over_holds_it_with_its_end() {
    let manifest = gated();
    let tag = tag_of(&manifest, "llm/litellm@1", "dev", &[]);
    let observed = observed(
        &manifest,
        Some(vec![record(&tag, 4, LITELLM_NEW_DIGEST, Some(true))]),
    );
    let candidates = decide(
        &manifest,
        &observed,
        &options(&manifest, &["llm/litellm@1"], "2026-12-03T14:31:59Z"),
        "dev",
        "staging",
    );
    assert_eq!(
        litellm_outcome(&candidates),
        &Outcome::Held {
            wait: Wait::Soaking {
                version: 4,
                since: "2026-12-03T14:02:00Z".into(),
                until: "2026-12-03T14:32:00Z".into(),
            }
        }
    );
}

#[test]
fn a_failed_smoke_upstream_holds_it() {
    let manifest = gated();
    let tag = tag_of(&manifest, "llm/litellm@1", "dev", &[]);
    let observed = observed(
        &manifest,
        Some(vec![record(&tag, 4, LITELLM_NEW_DIGEST, Some(false))]),
    );
    let candidates = decide(
        &manifest,
        &observed,
        &options(&manifest, &["llm/litellm@1"], "2026-12-03T15:00:00Z"),
        "dev",
        "staging",
    );
    assert_eq!(
        litellm_outcome(&candidates),
        &Outcome::Held {
            wait: Wait::SmokeFailed {
                version: 4,
                at: "2026-12-03T14:02:00Z".into(),
                message: Some("status: error".into()),
            }
        }
    );
}

#[test]
fn nothing_live_upstream_holds_it() {
    let manifest = gated();
    let mut observed = observed(&manifest, None);
    observed.environments.get_mut("dev").unwrap().apps.clear();
    let candidates = decide(
        &manifest,
        &observed,
        &options(&manifest, &["llm/litellm@1"], "2026-12-03T15:00:00Z"),
        "dev",
        "staging",
    );
    assert_eq!(
        litellm_outcome(&candidates),
        &Outcome::Held {
            wait: Wait::NotDeployed
        }
    );
}

#[test]
fn without_a_record_the_manifests_own_deployment_gives_the_image() {
    // Gated, the gate cannot tell whether it passed its smoke check.
    let manifest = gated();
    let candidates = decide(
        &manifest,
        &observed(&manifest, None),
        &options(&manifest, &["llm/litellm@1"], "2026-12-03T15:00:00Z"),
        "dev",
        "staging",
    );
    assert_eq!(
        litellm_outcome(&candidates),
        &Outcome::Held {
            wait: Wait::Unrecorded { version: 4 }
        }
    );
    // Not gated, the image is promoted.
    let manifest = fixtures::manifest();
    let candidates = decide(
        &manifest,
        &observed(&manifest, None),
        &options(&manifest, &["llm/litellm@1"], "2026-12-03T15:00:00Z"),
        "dev",
        "staging",
    );
    assert_eq!(
        litellm_outcome(&candidates),
        &Outcome::Promote {
            current: litellm(LITELLM_DIGEST),
            image: litellm(LITELLM_NEW_DIGEST),
            version: 4,
        }
    );
}

#[test]
fn a_live_deployment_neither_recorded_nor_the_manifests_is_held() {
    let manifest = fixtures::manifest();
    let mut observed = observed(&manifest, None);
    observed.environments.get_mut("dev").unwrap().apps.insert(
        "llm-litellm-v1".into(),
        deployed("ap-d1", 5, Some("mp2-somebody-else")),
    );
    let candidates = decide(
        &manifest,
        &observed,
        &options(&manifest, &["llm/litellm@1"], "2026-12-03T15:00:00Z"),
        "dev",
        "staging",
    );
    assert_eq!(
        litellm_outcome(&candidates),
        &Outcome::Held {
            wait: Wait::Unrecorded { version: 5 }
        }
    );
}

#[test]
fn a_downstream_that_pins_the_live_image_is_up_to_date() {
    let mut manifest = gated();
    manifest.processors[0]
        .deployments
        .get_mut("staging")
        .unwrap()
        .image = litellm(LITELLM_NEW_DIGEST);
    let tag = tag_of(&manifest, "llm/litellm@1", "dev", &[]);
    let observed = observed(
        &manifest,
        Some(vec![record(&tag, 4, LITELLM_NEW_DIGEST, Some(true))]),
    );
    let candidates = decide(
        &manifest,
        &observed,
        &options(&manifest, &["llm/litellm@1"], "2026-12-03T15:00:00Z"),
        "dev",
        "staging",
    );
    assert_eq!(
        litellm_outcome(&candidates),
        &Outcome::UpToDate {
            image: litellm(LITELLM_NEW_DIGEST)
        }
    );
}

#[test]
fn a_processor_gated_on_another_upstream_names_it_and_others_are_decided() {
    // main takes litellm from staging and generic from dev (generic does not deploy to staging).
    let manifest = gated();
    let observed = observed(&manifest, None);
    let candidates = decide(
        &manifest,
        &observed,
        &options(&manifest, &[], "2026-12-03T15:00:00Z"),
        "dev",
        "main",
    );
    assert_eq!(candidates.len(), 2);
    assert_eq!(
        candidates[0].outcome,
        Outcome::OtherUpstream {
            upstream: "staging".into()
        }
    );
    assert_eq!(candidates[1].reference, "replicate/generic@1");
    assert_eq!(candidates[1].index, 1);
    assert_eq!(
        candidates[1].outcome,
        Outcome::Held {
            wait: Wait::NotDeployed
        }
    );
}
