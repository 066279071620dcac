//! The planner with release records: real old → new diffs, the fallback to tags, a mismatched record,
//! and a deployment that failed before.

use std::collections::BTreeMap;

use super::fixtures::{self, LITELLM_DIGEST, deployed};
use super::model::{ActionKind, FieldChange, Reason, RuntimeSpec};
use super::options::PlanOptions;
use super::plan;
use crate::backend::Observed;
use crate::backend::releases::{
    RECORD_FORMAT, ReleaseOperation, ReleaseRecord, ReleasedDeployment, ReleasesState, SmokeRecord,
};
use crate::code::{CodeChanges, CodeFile, CodeSnapshot};
use crate::codes::Code;
use crate::fingerprint::{Fingerprint, FingerprintInputs};

const APP: &str = "llm-litellm-v1";

fn code(files: &[(&str, &str)]) -> CodeSnapshot {
    CodeSnapshot {
        files: files
            .iter()
            .map(|(path, sha256)| CodeFile {
                path: (*path).into(),
                sha256: (*sha256).into(),
            })
            .collect(),
    }
}

fn options(code: CodeSnapshot) -> PlanOptions {
    let manifest = fixtures::manifest();
    let mut options =
        PlanOptions::select(&manifest, &["main".into()], &["llm/litellm@1".into()]).unwrap();
    options.code = code;
    options
}

/// The tag of litellm in main of the fixture manifest with `code`, and its optional secret present.
fn tag_with(code: &CodeSnapshot, memory_mb: Option<u32>) -> String {
    let manifest = fixtures::manifest();
    let processor = &manifest.processors[0];
    let mut deployment = processor.deployments["main"].clone();
    deployment.runtime.memory_mb = memory_mb;
    Fingerprint::of(FingerprintInputs {
        reference: &processor.reference,
        deployment: &deployment,
        modal: &manifest.modal,
        code,
    })
    .to_string()
}

fn record(version: u32, tag: &str, code: &CodeSnapshot, memory_mb: Option<u32>) -> ReleaseRecord {
    ReleaseRecord {
        format: RECORD_FORMAT,
        app: APP.into(),
        version,
        fingerprint: tag.into(),
        operation: ReleaseOperation::Deploy,
        deployment: Some(ReleasedDeployment {
            reference: Some("llm/litellm@1".into()),
            image: format!("ghcr.io/acme/theory/llm-litellm@{LITELLM_DIGEST}"),
            secrets: vec!["OPENAI_API_KEY".into(), "LITELLM_API_BASE".into()],
            runtime: RuntimeSpec {
                cpu: Some(1.0),
                memory_mb,
                gpu: None,
                timeout_s: Some(60),
            },
            module: "modal_app".into(),
            code: code.files.clone(),
        }),
        manifest: Some("processors.toml".into()),
        commit: Some("0123abc".into()),
        dirty: Some(false),
        by: "ci".into(),
        at: "2026-12-02T17:00:00Z".into(),
        smoke: Some(SmokeRecord {
            passed: true,
            duration_ms: 1200,
            message: None,
        }),
        restored: None,
        rollback_of: None,
        promotion_skipped: None,
    }
}

fn observed(version: u32, tag: &str, records: Vec<ReleaseRecord>) -> Observed {
    let mut environment = fixtures::environment(
        vec![(APP, deployed("ap-1", version, Some(tag)))],
        &["REGISTRY_AUTH", "OPENAI_API_KEY", "LITELLM_API_BASE"],
    );
    environment.releases = ReleasesState::Read {
        releases: BTreeMap::from([(APP.to_owned(), records)]),
    };
    Observed {
        environments: BTreeMap::from([("main".to_owned(), environment)]),
    }
}

#[test]
fn a_record_names_the_files_and_fields_that_changed() {
    let old_code = code(&[
        ("helpers/io.py", "aa"),
        ("modal_app.py", "bb"),
        ("old.py", "cc"),
    ]);
    let new_code = code(&[
        ("helpers/io.py", "a2"),
        ("modal_app.py", "b2"),
        ("new.py", "dd"),
    ]);
    let live_tag = tag_with(&old_code, Some(2048));
    let mut options = options(new_code.clone());
    let manifest = {
        let mut manifest = fixtures::manifest();
        manifest.processors[0]
            .deployments
            .get_mut("main")
            .unwrap()
            .runtime
            .memory_mb = Some(4096);
        manifest
    };
    options.environments = vec!["main".into()];
    let plan = plan(
        &manifest,
        &observed(
            4,
            &live_tag,
            vec![record(4, &live_tag, &old_code, Some(2048))],
        ),
        &options,
    );
    let action = &plan.actions[0];
    assert_eq!(action.kind, ActionKind::Update);
    assert_eq!(
        action.reasons,
        vec![
            Reason::Runtime {
                changes: vec![FieldChange {
                    field: "memory_mb".into(),
                    from: Some("2048".into()),
                    to: Some("4096".into()),
                }]
            },
            Reason::Code {
                files: Some(CodeChanges {
                    added: vec!["new.py".into()],
                    changed: vec!["helpers/io.py".into(), "modal_app.py".into()],
                    removed: vec!["old.py".into()],
                })
            },
        ]
    );
    let words: Vec<String> = action
        .reasons
        .iter()
        .map(crate::render::words::reason)
        .collect();
    assert_eq!(
        words,
        [
            "runtime.memory_mb 2048 → 4096",
            "code: helpers/io.py, modal_app.py changed; new.py added; old.py removed"
        ]
    );
    assert_eq!(
        action
            .before
            .as_ref()
            .unwrap()
            .release
            .as_ref()
            .unwrap()
            .version,
        4
    );
    assert_eq!(plan.code, new_code);
}

#[test]
fn without_a_record_the_tag_says_only_which_part_changed() {
    let old_code = code(&[("modal_app.py", "bb")]);
    let live_tag = tag_with(&old_code, Some(2048));
    let plan = plan(
        &fixtures::manifest(),
        &observed(4, &live_tag, vec![]),
        &options(code(&[("modal_app.py", "b2")])),
    );
    assert_eq!(plan.actions[0].reasons, vec![Reason::Code { files: None }]);
    assert_eq!(
        crate::render::words::reason(&plan.actions[0].reasons[0]),
        "code changed (the live deployment has no release record naming its files)"
    );
    assert!(
        plan.warnings
            .iter()
            .all(|warning| warning.code != Code::ErrReleaseRecord)
    );
}

#[test]
fn a_record_of_the_live_version_with_another_fingerprint_is_ignored_with_a_warning() {
    let old_code = code(&[("modal_app.py", "bb")]);
    let live_tag = tag_with(&old_code, Some(2048));
    let other = tag_with(&code(&[("modal_app.py", "zz")]), Some(2048));
    let plan = plan(
        &fixtures::manifest(),
        &observed(4, &live_tag, vec![record(4, &other, &old_code, Some(2048))]),
        &options(code(&[("modal_app.py", "b2")])),
    );
    assert_eq!(plan.actions[0].reasons, vec![Reason::Code { files: None }]);
    assert_eq!(plan.actions[0].before.as_ref().unwrap().release, None);
    let warning = plan
        .warnings
        .iter()
        .find(|warning| warning.code == Code::ErrReleaseRecord)
        .unwrap();
    assert_eq!(
        warning.message,
        format!(
            "the release record of `{APP}` v4 in `main` names `{other}`, but the live tag is `{live_tag}`: the record is ignored and the plan reads the tag"
        )
    );
}

#[test]
fn an_older_format_tag_is_not_outside_modalplan() {
    let plan = plan(
        &fixtures::manifest(),
        &observed(4, "mp1-111111111111-48048b-242bf5-80593f", vec![]),
        &options(CodeSnapshot::default()),
    );
    assert_eq!(
        plan.actions[0].reasons,
        vec![Reason::OlderFormat {
            tag: "mp1-111111111111-48048b-242bf5-80593f".into()
        }]
    );
    assert_eq!(
        crate::render::words::reason(&plan.actions[0].reasons[0]),
        "deployed by an older modalplan (fingerprint format changed: `mp1-111111111111-48048b-242bf5-80593f`)"
    );
}

#[test]
fn a_deployment_that_failed_its_smoke_check_is_blocked_unless_retried() {
    let good = code(&[("modal_app.py", "bb")]);
    let bad = code(&[("modal_app.py", "b2")]);
    let good_tag = tag_with(&good, Some(2048));
    let bad_tag = tag_with(&bad, Some(2048));
    let mut failed = record(5, &bad_tag, &bad, Some(2048));
    failed.smoke = Some(SmokeRecord {
        passed: false,
        duration_ms: 800,
        message: Some("smoke check `smoke` of `llm-litellm-v1` failed: boom".into()),
    });
    failed.at = "2026-12-02T17:10:00Z".into();
    let rollback = ReleaseRecord {
        operation: ReleaseOperation::Rollback,
        version: 6,
        restored: Some(4),
        rollback_of: Some(5),
        promotion_skipped: None,
        smoke: None,
        ..record(6, &good_tag, &good, Some(2048))
    };
    let records = vec![record(4, &good_tag, &good, Some(2048)), failed, rollback];
    let seen = observed(6, &good_tag, records);
    let blocked = plan(&fixtures::manifest(), &seen, &options(bad.clone()));
    let action = &blocked.actions[0];
    assert_eq!(action.kind, ActionKind::Blocked);
    assert_eq!(action.blockers.len(), 1);
    assert_eq!(action.blockers[0].code, Code::ErrFailedBefore);
    assert_eq!(
        action.blockers[0].message,
        "this deployment of `llm-litellm-v1` failed its smoke check on main at v5 (2026-12-02T17:10:00Z, in the last run) and was rolled back to v4: smoke check `smoke` of `llm-litellm-v1` failed: boom"
    );
    assert_eq!(
        action.blockers[0].fix,
        "change the code or the image so it deploys something else, or deploy it again on purpose with `--retry-failed`"
    );

    let mut retry = options(bad);
    retry.retry_failed = true;
    let retried = plan(&fixtures::manifest(), &seen, &retry);
    assert_eq!(retried.actions[0].kind, ActionKind::Update);
    assert!(
        retried
            .warnings
            .iter()
            .any(|warning| warning.code == Code::ErrFailedBefore)
    );

    // Another change (new code) is not what failed: it plans as an ordinary update.
    let other = plan(
        &fixtures::manifest(),
        &seen,
        &options(code(&[("modal_app.py", "b3")])),
    );
    assert_eq!(other.actions[0].kind, ActionKind::Update);
}
