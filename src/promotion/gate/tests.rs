use std::time::{Duration, SystemTime};

use super::{Upstream, Verdict, Wait, check};
use crate::backend::releases::{
    RECORD_FORMAT, ReleaseOperation, ReleaseRecord, ReleasedDeployment, SmokeRecord,
};
use crate::backend::{AppState, DeploymentRecord, ObservedApp};
use crate::plan::model::RuntimeSpec;

const WANTED: &str = "mp2-aaaaaaaaaaaa-111111-222222-333333-444444";
const OTHER_IMAGE: &str = "mp2-bbbbbbbbbbbb-111111-222222-333333-555555";
const OTHER_RUNTIME_AND_CODE: &str = "mp2-aaaaaaaaaaaa-111111-999999-888888-444444";

fn at(text: &str) -> SystemTime {
    humantime::parse_rfc3339(text).unwrap()
}

fn live(version: u32, tag: &str) -> ObservedApp {
    ObservedApp {
        app_id: "ap-1".into(),
        state: AppState::Deployed,
        live: Some(DeploymentRecord {
            version,
            tag: Some(tag.into()),
            deployed_at: None,
            deployed_by: None,
        }),
    }
}

fn record(
    version: u32,
    tag: &str,
    operation: ReleaseOperation,
    when: &str,
    smoke: Option<bool>,
) -> ReleaseRecord {
    ReleaseRecord {
        format: RECORD_FORMAT,
        app: "llm-litellm-v1".into(),
        version,
        fingerprint: tag.into(),
        operation,
        deployment: Some(ReleasedDeployment {
            reference: Some("llm/litellm@1".into()),
            image: "ghcr.io/acme/llm@sha256:aa".into(),
            secrets: vec![],
            runtime: RuntimeSpec::default(),
            module: "modal_app".into(),
            code: vec![],
        }),
        manifest: None,
        commit: None,
        dirty: None,
        by: "ci".into(),
        at: when.into(),
        smoke: smoke.map(|passed| SmokeRecord {
            passed,
            duration_ms: 10,
            message: (!passed).then(|| "status: error".to_owned()),
        }),
        restored: None,
        rollback_of: None,
        promotion_skipped: None,
    }
}

fn upstream<'a>(app: Option<&'a ObservedApp>, records: &'a [ReleaseRecord]) -> Upstream<'a> {
    Upstream {
        app,
        records,
        records_read: true,
    }
}

const SOAK: Option<Duration> = Some(Duration::from_secs(30 * 60));

#[test]
fn nothing_upstream_is_not_deployed() {
    let verdict = check(
        WANTED,
        upstream(None, &[]),
        SOAK,
        at("2026-12-03T14:00:00Z"),
    );
    assert_eq!(
        verdict,
        Verdict::Waiting {
            wait: Wait::NotDeployed
        }
    );
    let stopped = ObservedApp {
        state: AppState::Stopped,
        ..live(3, WANTED)
    };
    let verdict = check(
        WANTED,
        upstream(Some(&stopped), &[]),
        None,
        at("2026-12-03T14:00:00Z"),
    );
    assert_eq!(
        verdict,
        Verdict::Waiting {
            wait: Wait::NotDeployed
        }
    );
}

#[test]
fn the_same_deployment_smoke_checked_and_soaked_is_ready() {
    let app = live(4, WANTED);
    let records = [
        record(
            3,
            OTHER_IMAGE,
            ReleaseOperation::Deploy,
            "2026-12-03T12:00:00Z",
            Some(true),
        ),
        record(
            4,
            WANTED,
            ReleaseOperation::Deploy,
            "2026-12-03T14:02:00Z",
            Some(true),
        ),
    ];
    let verdict = check(
        WANTED,
        upstream(Some(&app), &records),
        SOAK,
        at("2026-12-03T14:32:00Z"),
    );
    assert_eq!(
        verdict,
        Verdict::Ready {
            version: 4,
            since: "2026-12-03T14:02:00Z".into()
        }
    );
    // Without a soak time, ready at once.
    let verdict = check(
        WANTED,
        upstream(Some(&app), &records),
        None,
        at("2026-12-03T14:02:00Z"),
    );
    assert!(
        matches!(verdict, Verdict::Ready { version: 4, .. }),
        "{verdict:?}"
    );
}

#[test]
fn a_soak_not_over_waits_until_its_end() {
    let app = live(4, WANTED);
    let records = [record(
        4,
        WANTED,
        ReleaseOperation::Deploy,
        "2026-12-03T14:02:00Z",
        Some(true),
    )];
    let verdict = check(
        WANTED,
        upstream(Some(&app), &records),
        SOAK,
        at("2026-12-03T14:31:59Z"),
    );
    assert_eq!(
        verdict,
        Verdict::Waiting {
            wait: Wait::Soaking {
                version: 4,
                since: "2026-12-03T14:02:00Z".into(),
                until: "2026-12-03T14:32:00Z".into(),
            }
        }
    );
}

#[test]
fn a_deployment_made_live_again_by_a_rollback_soaks_from_the_rollback() {
    let app = live(6, WANTED);
    let mut rollback = record(
        6,
        WANTED,
        ReleaseOperation::Rollback,
        "2026-12-03T15:00:00Z",
        None,
    );
    rollback.restored = Some(4);
    rollback.rollback_of = Some(5);
    let records = [
        record(
            4,
            WANTED,
            ReleaseOperation::Deploy,
            "2026-12-03T14:02:00Z",
            Some(true),
        ),
        record(
            5,
            OTHER_IMAGE,
            ReleaseOperation::Deploy,
            "2026-12-03T14:50:00Z",
            Some(false),
        ),
        rollback,
    ];
    let verdict = check(
        WANTED,
        upstream(Some(&app), &records),
        SOAK,
        at("2026-12-03T15:10:00Z"),
    );
    assert_eq!(
        verdict,
        Verdict::Waiting {
            wait: Wait::Soaking {
                version: 6,
                since: "2026-12-03T15:00:00Z".into(),
                until: "2026-12-03T15:30:00Z".into(),
            }
        }
    );
}

#[test]
fn another_deployment_upstream_names_the_parts_that_differ() {
    let records = [record(
        2,
        OTHER_IMAGE,
        ReleaseOperation::Deploy,
        "2026-12-03T10:00:00Z",
        Some(true),
    )];
    let app = live(2, OTHER_IMAGE);
    let verdict = check(
        WANTED,
        upstream(Some(&app), &records),
        SOAK,
        at("2026-12-03T14:00:00Z"),
    );
    assert_eq!(
        verdict,
        Verdict::Waiting {
            wait: Wait::Differs {
                version: 2,
                parts: vec!["image".into()],
                since: Some("2026-12-03T10:00:00Z".into()),
            }
        }
    );
    let app = live(7, OTHER_RUNTIME_AND_CODE);
    let verdict = check(
        WANTED,
        upstream(Some(&app), &[]),
        None,
        at("2026-12-03T14:00:00Z"),
    );
    assert_eq!(
        verdict,
        Verdict::Waiting {
            wait: Wait::Differs {
                version: 7,
                parts: vec!["runtime".into(), "code".into()],
                since: None,
            }
        }
    );
    let app = live(1, "hand-made");
    let verdict = check(
        WANTED,
        upstream(Some(&app), &[]),
        None,
        at("2026-12-03T14:00:00Z"),
    );
    assert_eq!(
        verdict,
        Verdict::Waiting {
            wait: Wait::Differs {
                version: 1,
                parts: vec!["tag".into()],
                since: None,
            }
        }
    );
}

#[test]
fn a_failed_smoke_upstream_blocks_whether_it_was_rolled_back_or_left_live() {
    let failed = record(
        7,
        WANTED,
        ReleaseOperation::Deploy,
        "2026-12-03T14:05:00Z",
        Some(false),
    );
    let expected = Verdict::Waiting {
        wait: Wait::SmokeFailed {
            version: 7,
            at: "2026-12-03T14:05:00Z".into(),
            message: Some("status: error".into()),
        },
    };
    // Rolled back: v6 (another deployment) is live.
    let records = [
        record(
            6,
            OTHER_IMAGE,
            ReleaseOperation::Deploy,
            "2026-12-03T12:00:00Z",
            Some(true),
        ),
        failed.clone(),
    ];
    let app = live(8, OTHER_IMAGE);
    assert_eq!(
        check(
            WANTED,
            upstream(Some(&app), &records),
            None,
            at("2026-12-04T00:00:00Z")
        ),
        expected
    );
    // Left live (`--no-rollback`).
    let app = live(7, WANTED);
    assert_eq!(
        check(
            WANTED,
            upstream(Some(&app), std::slice::from_ref(&failed)),
            None,
            at("2026-12-04T00:00:00Z")
        ),
        expected
    );
    // A new app stopped after its failure.
    assert_eq!(
        check(
            WANTED,
            upstream(None, std::slice::from_ref(&failed)),
            None,
            at("2026-12-04T00:00:00Z")
        ),
        expected
    );
    // A later deploy of the same deployment that passed clears it.
    let passed = record(
        9,
        WANTED,
        ReleaseOperation::Deploy,
        "2026-12-03T16:00:00Z",
        Some(true),
    );
    let app = live(9, WANTED);
    assert!(matches!(
        check(
            WANTED,
            upstream(Some(&app), &[failed, passed]),
            None,
            at("2026-12-04T00:00:00Z")
        ),
        Verdict::Ready { version: 9, .. }
    ));
}

#[test]
fn a_live_match_without_a_record_is_not_known_to_have_passed() {
    let app = live(3, WANTED);
    assert_eq!(
        check(
            WANTED,
            upstream(Some(&app), &[]),
            None,
            at("2026-12-03T14:00:00Z")
        ),
        Verdict::Waiting {
            wait: Wait::Unrecorded { version: 3 }
        }
    );
    // Records that could not be read count as none.
    let records = [record(
        3,
        WANTED,
        ReleaseOperation::Deploy,
        "2026-12-03T10:00:00Z",
        Some(true),
    )];
    let unread = Upstream {
        records_read: false,
        ..upstream(Some(&app), &records)
    };
    assert_eq!(
        check(WANTED, unread, None, at("2026-12-03T14:00:00Z")),
        Verdict::Waiting {
            wait: Wait::Unrecorded { version: 3 }
        }
    );
}

#[test]
fn a_deployment_without_a_smoke_check_is_promoted_on_its_deploy_record() {
    let app = live(2, WANTED);
    let records = [record(
        2,
        WANTED,
        ReleaseOperation::Deploy,
        "2026-12-03T10:00:00Z",
        None,
    )];
    assert!(matches!(
        check(
            WANTED,
            upstream(Some(&app), &records),
            SOAK,
            at("2026-12-03T11:00:00Z")
        ),
        Verdict::Ready { version: 2, .. }
    ));
}
