//! The release record each deploy and rollback writes.

use super::*;

type Summary<'a> = (
    ReleaseOperation,
    u32,
    &'a str,
    Option<bool>,
    Option<u32>,
    Option<u32>,
);
use crate::backend::releases::{ReleaseOperation, ReleaseRecord, SmokeRecord};
use crate::code::{CodeFile, CodeSnapshot};

fn with_code(mut plan: Plan) -> Plan {
    plan.code = CodeSnapshot {
        files: vec![CodeFile {
            path: "modal_app.py".into(),
            sha256: "ab".repeat(32),
        }],
    };
    plan
}

/// Each record without its time, which is the clock's.
fn records(backend: &FakeBackend, app: &str) -> Vec<ReleaseRecord> {
    backend
        .releases("main", app)
        .into_iter()
        .map(|record| {
            assert!(
                record.at.len() == 20 && record.at.ends_with('Z'),
                "{}",
                record.at
            );
            ReleaseRecord {
                at: String::new(),
                smoke: record.smoke.map(|smoke| SmokeRecord {
                    duration_ms: 0,
                    ..smoke
                }),
                ..record
            }
        })
        .collect()
}

#[tokio::test]
async fn a_deploy_leaves_its_record_with_the_code_commit_and_smoke_result() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new().with_app("main", "a", &[Some(OLD_TAG)]);
    let plan = with_code(plan(vec![update("a", 1)]));
    let run = run(&backend, &plan, &settings(logs.path())).await;
    assert_eq!(run.report.exit_status(), crate::exit::ExitStatus::Success);
    let records = records(&backend, "a");
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        serde_json::to_value(record).unwrap(),
        serde_json::json!({
            "format": 1,
            "app": "a",
            "version": 2,
            "fingerprint": NEW_TAG,
            "operation": "deploy",
            "deployment": {
                "ref": "ns/a@1",
                "image": format!("ghcr.io/acme/tool@sha256:{}", "1".repeat(64)),
                "secrets": ["OPENAI_API_KEY", "REGISTRY_AUTH"],
                "runtime": {"cpu": 1.5, "memory_mb": 2048, "gpu": null, "timeout_s": 60},
                "module": "modal_app",
                "code": [{"path": "modal_app.py", "sha256": "ab".repeat(32)}]
            },
            "manifest": "processors.toml",
            "commit": "0123abc",
            "dirty": false,
            "by": "ci",
            "at": "",
            "smoke": {"passed": true, "duration_ms": 0}
        })
    );
}

#[tokio::test]
async fn a_failed_smoke_check_records_the_failure_and_the_rollback() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new().with_app("main", "a", &[Some(OLD_TAG)]);
    backend.answer_smoke("a", vec![smoke_error("boom"), smoke_ok()]);
    let run = run(
        &backend,
        &plan(vec![update("a", 1)]),
        &settings(logs.path()),
    )
    .await;
    assert_eq!(
        outcomes(&run.report),
        [(
            "a".into(),
            "rolled back to v1 (live as v3)".into(),
            vec![Code::ErrSmokeFailed]
        )]
    );
    let records = records(&backend, "a");
    let summary: Vec<Summary> = records
        .iter()
        .map(|record| {
            (
                record.operation,
                record.version,
                record.fingerprint.as_str(),
                record.smoke.as_ref().map(|smoke| smoke.passed),
                record.restored,
                record.rollback_of,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                ReleaseOperation::Deploy,
                2,
                NEW_TAG,
                Some(false),
                None,
                None
            ),
            (
                ReleaseOperation::Rollback,
                3,
                OLD_TAG,
                None,
                Some(1),
                Some(2)
            ),
        ]
    );
    assert_eq!(
        records[0].smoke.as_ref().unwrap().message.as_deref(),
        Some("smoke check `smoke` of `a` failed: boom")
    );
}

#[tokio::test]
async fn a_new_app_that_fails_records_its_deploy_and_its_stop_and_a_prune_its_stop() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new().with_app("main", "old", &[Some("v0.9")]);
    backend.answer_smoke("b", vec![smoke_error("boom")]);
    let stop = Action {
        kind: ActionKind::Stop,
        reference: None,
        after: None,
        before: Some(Live {
            version: 1,
            tag: Some("v0.9".into()),
            release: None,
        }),
        ..create("old")
    };
    run(
        &backend,
        &plan(vec![create("b"), stop]),
        &settings(logs.path()),
    )
    .await;
    let operations = |app: &str| -> Vec<(ReleaseOperation, u32, String)> {
        records(&backend, app)
            .into_iter()
            .map(|record| (record.operation, record.version, record.fingerprint))
            .collect()
    };
    assert_eq!(
        operations("b"),
        [
            (ReleaseOperation::Deploy, 1, NEW_TAG.to_owned()),
            (ReleaseOperation::Stop, 1, NEW_TAG.to_owned()),
        ]
    );
    assert_eq!(
        operations("old"),
        [(ReleaseOperation::Stop, 1, "v0.9".to_owned())]
    );
}

#[tokio::test]
async fn a_record_that_cannot_be_written_fails_the_action_after_its_deploy() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new().with_app("main", "a", &[Some(OLD_TAG)]);
    backend.fail_record_writes(BackendError::CommandFailed {
        command: "record".into(),
        exit_code: Some(1),
        stderr: "unavailable".into(),
    });
    let run = run(
        &backend,
        &plan(vec![update("a", 1)]),
        &settings(logs.path()),
    )
    .await;
    assert_eq!(
        outcomes(&run.report),
        [(
            "a".into(),
            "deployed v2".into(),
            vec![Code::ErrReleaseRecord]
        )]
    );
    assert_eq!(
        run.report.apps[0].errors[0].message,
        "deploy of v2 is done, but its release record could not be written: `record` failed (exit 1): unavailable"
    );
    assert_eq!(run.report.exit_status(), crate::exit::ExitStatus::Failure);
}
