//! The planner with `[promotion]`: the gate's verdicts become `blocked` actions (or warnings with
//! `--skip-promotion-check`), and the upstream is read in the same read.

use std::collections::{BTreeMap, BTreeSet};

use super::fixtures::{self, deployed, environment, tag_of};
use super::model::ActionKind;
use super::options::PlanOptions;
use super::plan;
use crate::backend::Observed;
use crate::backend::releases::{
    RECORD_FORMAT, ReleaseOperation, ReleaseRecord, ReleasesState, SmokeRecord,
};
use crate::codes::Code;
use crate::manifest::ValidManifest;
use crate::promotion::{PromotionCheck, Verdict, Wait};

use super::fixtures::gated_manifest;

fn deploy_record(tag: &str, version: u32, at: &str, passed: bool) -> ReleaseRecord {
    ReleaseRecord {
        format: RECORD_FORMAT,
        app: "llm-litellm-v1".into(),
        version,
        fingerprint: tag.into(),
        operation: ReleaseOperation::Deploy,
        deployment: Some(crate::backend::releases::ReleasedDeployment {
            reference: Some("llm/litellm@1".into()),
            image: format!(
                "ghcr.io/acme/theory/llm-litellm@{}",
                fixtures::LITELLM_DIGEST
            ),
            secrets: vec!["OPENAI_API_KEY".into()],
            runtime: super::model::RuntimeSpec::default(),
            module: "modal_app".into(),
            code: vec![],
        }),
        manifest: None,
        commit: None,
        dirty: None,
        by: "ci".into(),
        at: at.into(),
        smoke: Some(SmokeRecord {
            passed,
            duration_ms: 20,
            message: None,
        }),
        restored: None,
        rollback_of: None,
        promotion_skipped: None,
    }
}

/// staging runs litellm as main wants it, deployed at 14:02 and smoke-checked; main has neither app;
/// dev (generic's upstream for main) has nothing.
fn observed(manifest: &ValidManifest) -> Observed {
    let tag = tag_of(manifest, "llm/litellm@1", "main", &[]);
    let secrets = ["REGISTRY_AUTH", "OPENAI_API_KEY"];
    let mut staging = environment(
        vec![("llm-litellm-v1", deployed("ap-s1", 3, Some(&tag)))],
        &secrets,
    );
    staging.releases = ReleasesState::Read {
        releases: BTreeMap::from([(
            "llm-litellm-v1".to_owned(),
            vec![deploy_record(&tag, 3, "2026-12-03T14:02:00Z", true)],
        )]),
    };
    let mut dev = environment(vec![], &secrets);
    dev.releases = ReleasesState::Read {
        releases: BTreeMap::new(),
    };
    Observed {
        environments: BTreeMap::from([
            ("dev".to_owned(), dev),
            ("staging".to_owned(), staging),
            ("main".to_owned(), environment(vec![], &secrets)),
        ]),
    }
}

fn options_at(manifest: &ValidManifest, now: &str) -> PlanOptions {
    let mut options = PlanOptions::select(manifest, &["main".into()], &[]).unwrap();
    options.now = Some(humantime::parse_rfc3339(now).unwrap());
    options
}

#[test]
fn a_change_live_and_soaked_upstream_goes_ahead_and_one_not_upstream_is_blocked() {
    let manifest = gated_manifest();
    let plan = plan(
        &manifest,
        &observed(&manifest),
        &options_at(&manifest, "2026-12-03T14:32:00Z"),
    );
    let litellm = &plan.actions[0];
    assert_eq!(litellm.app_name, "llm-litellm-v1");
    assert_eq!(litellm.kind, ActionKind::Create);
    assert_eq!(
        litellm.promotion,
        Some(PromotionCheck {
            upstream: "staging".into(),
            verdict: Verdict::Ready {
                version: 3,
                since: "2026-12-03T14:02:00Z".into()
            },
            skipped: false,
        })
    );
    // generic deploys to dev and main only: main waits on dev.
    let generic = &plan.actions[1];
    assert_eq!(generic.app_name, "replicate-generic-v1");
    assert_eq!(generic.kind, ActionKind::Blocked);
    assert_eq!(generic.blockers.len(), 1);
    assert_eq!(generic.blockers[0].code, Code::ErrNotPromoted);
    assert_eq!(
        generic.blockers[0].message,
        "`replicate-generic-v1` is not deployed to dev: main only takes what is live on dev"
    );
    assert_eq!(
        generic.blockers[0].fix,
        "modalplan apply --env dev --target replicate/generic@1"
    );
    assert_eq!(
        crate::render::promotion::environment_lines(&plan, "main"),
        ["replicate-generic-v1 waits on dev: not deployed to dev"]
    );
}

#[test]
fn a_soak_not_over_blocks_with_its_end() {
    let manifest = gated_manifest();
    let plan = plan(
        &manifest,
        &observed(&manifest),
        &options_at(&manifest, "2026-12-03T14:10:00Z"),
    );
    let litellm = &plan.actions[0];
    assert_eq!(litellm.kind, ActionKind::Blocked);
    assert_eq!(
        litellm.promotion.as_ref().and_then(PromotionCheck::wait),
        Some(&Wait::Soaking {
            version: 3,
            since: "2026-12-03T14:02:00Z".into(),
            until: "2026-12-03T14:32:00Z".into()
        })
    );
    assert_eq!(
        litellm.blockers[0].message,
        "`llm-litellm-v1` is live on staging since 2026-12-03 14:02 UTC, soaks until 2026-12-03 14:32 UTC"
    );
}

#[test]
fn skipping_the_check_plans_the_change_with_a_warning() {
    let manifest = gated_manifest();
    let mut options = options_at(&manifest, "2026-12-03T14:10:00Z");
    options.skip_promotion_check = true;
    let plan = plan(&manifest, &observed(&manifest), &options);
    let kinds: Vec<ActionKind> = plan.actions.iter().map(|action| action.kind).collect();
    assert_eq!(kinds, [ActionKind::Create, ActionKind::Create]);
    assert!(
        plan.actions
            .iter()
            .all(|action| action.promotion.as_ref().unwrap().skipped)
    );
    let warnings: Vec<(&str, &str)> = plan
        .warnings
        .iter()
        .filter(|warning| warning.code == Code::ErrNotPromoted)
        .map(|warning| (warning.message.as_str(), warning.fix.as_str()))
        .collect();
    assert_eq!(
        warnings,
        [
            (
                "promotion check skipped: `llm-litellm-v1` is live on staging since 2026-12-03 14:02 UTC, soaks until 2026-12-03 14:32 UTC",
                "--skip-promotion-check deploys it anyway, for this run only; its release record says so"
            ),
            (
                "promotion check skipped: `replicate-generic-v1` is not deployed to dev: main only takes what is live on dev",
                "--skip-promotion-check deploys it anyway, for this run only; its release record says so"
            ),
        ]
    );
}

#[test]
fn the_upstream_is_read_in_the_same_read_only_when_gated() {
    let manifest = gated_manifest();
    let request = PlanOptions::select(&manifest, &["main".into()], &[])
        .unwrap()
        .observe_request(&manifest);
    let names = |names: &[&str]| {
        names
            .iter()
            .map(|name| (*name).to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        request.environments,
        BTreeMap::from([
            ("dev".to_owned(), names(&["replicate-generic-v1"])),
            ("staging".to_owned(), names(&["llm-litellm-v1"])),
            (
                "main".to_owned(),
                names(&["llm-litellm-v1", "replicate-generic-v1"])
            ),
        ])
    );
    let ungated = fixtures::manifest();
    let request = PlanOptions::select(&ungated, &["main".into()], &[])
        .unwrap()
        .observe_request(&ungated);
    assert_eq!(request.environments.keys().collect::<Vec<_>>(), ["main"]);
    let plan = plan(
        &ungated,
        &observed(&ungated),
        &options_at(&ungated, "2026-12-03T14:10:00Z"),
    );
    assert!(plan.actions.iter().all(|action| action.promotion.is_none()));
}

#[test]
fn a_processor_that_opts_out_or_has_no_upstream_is_not_gated() {
    let mut manifest = gated_manifest();
    manifest.processors[1].promotion.ungated = true;
    // litellm only on main: nothing before it.
    manifest.processors[0]
        .deployments
        .retain(|environment, _| environment == "main");
    let plan = plan(
        &manifest,
        &observed(&manifest),
        &options_at(&manifest, "2026-12-03T14:10:00Z"),
    );
    let kinds: Vec<ActionKind> = plan.actions.iter().map(|action| action.kind).collect();
    assert_eq!(kinds, [ActionKind::Create, ActionKind::Create]);
    assert!(plan.actions.iter().all(|action| action.promotion.is_none()));
}

/// The plan of main at 14:10 (litellm soaking on staging, generic not on dev) as each renderer shows it.
fn soaking_plan() -> super::Plan {
    let manifest = gated_manifest();
    plan(
        &manifest,
        &observed(&manifest),
        &options_at(&manifest, "2026-12-03T14:10:00Z"),
    )
}

#[test]
fn text_of_a_plan_waiting_for_promotion() {
    let text = crate::render::text(&soaking_plan());
    insta::assert_snapshot!(anstream::adapter::strip_str(&text).to_string());
}

#[test]
fn json_of_a_plan_waiting_for_promotion() {
    let json = crate::render::json(&soaking_plan());
    insta::assert_snapshot!(json);
    let back: super::Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, soaking_plan());
}

#[test]
fn markdown_of_a_plan_waiting_for_promotion() {
    insta::assert_snapshot!(crate::render::markdown(&soaking_plan()));
}
