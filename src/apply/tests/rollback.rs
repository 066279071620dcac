//! Failed smoke checks and deploys: rolled back to the version live before, a new app stopped, and a
//! rollback that fails itself.

use super::*;

#[tokio::test]
async fn a_failed_smoke_check_of_an_update_is_rolled_back_and_the_rollback_checked() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new().with_app("main", "a", &[Some(OLD_TAG), Some(OLD_TAG)]);
    backend.answer_smoke("a", vec![smoke_error("mock adapter broke"), smoke_ok()]);
    let run = run(
        &backend,
        &plan(vec![update("a", 2)]),
        &settings(logs.path()),
    )
    .await;

    assert_eq!(
        backend.call_log(),
        [
            "live main/a",
            "deploy main/a",
            "call main/a.smoke",
            "rollback main/a v2",
            "live main/a",
            "call main/a.smoke",
        ]
    );
    let history: Vec<(u32, Option<String>)> = backend
        .history("main", "a")
        .into_iter()
        .map(|record| (record.version, record.tag))
        .collect();
    assert_eq!(
        history,
        [
            (1, Some(OLD_TAG.into())),
            (2, Some(OLD_TAG.into())),
            (3, Some(NEW_TAG.into())),
            (4, Some(OLD_TAG.into())),
        ]
    );
    let app = &run.report.apps[0];
    assert_eq!(
        app.outcome,
        Outcome::RolledBack {
            to: 2,
            live: Some(4)
        }
    );
    assert_eq!(
        crate::render::apply::outcome(app.outcome),
        "rolled back to v2 (live as v4)"
    );
    assert_eq!(app.errors.len(), 1);
    assert_eq!(app.errors[0].code, Code::ErrSmokeFailed);
    assert_eq!(
        app.errors[0].message,
        "smoke check `smoke` of `a` failed: mock adapter broke"
    );
    assert_eq!(run.report.exit_status(), crate::exit::ExitStatus::Failure);
}

#[tokio::test]
async fn a_raised_error_and_a_missing_function_fail_the_smoke_check_with_their_codes() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new();
    backend.answer_smoke(
        "a",
        vec![SmokeAnswer::Error(BackendError::SmokeFailed {
            environment: "main".into(),
            app: "a".into(),
            message: "ValueError: bad params".into(),
        })],
    );
    backend.answer_smoke(
        "b",
        vec![SmokeAnswer::Error(BackendError::FunctionNotFound {
            environment: "main".into(),
            app: "b".into(),
            function: "smoke".into(),
        })],
    );
    let run = run(
        &backend,
        &plan(vec![create("a"), create("b")]),
        &settings(logs.path()),
    )
    .await;
    assert_eq!(
        outcomes(&run.report),
        [
            ("a".into(), "stopped".into(), vec![Code::ErrSmokeFailed]),
            (
                "b".into(),
                "stopped".into(),
                vec![Code::ErrFunctionNotFound]
            ),
        ]
    );
    assert_eq!(
        run.report.apps[0].errors[0].message,
        "smoke check `smoke` of `a` failed: ValueError: bad params"
    );
    assert!(backend.is_stopped("main", "a"));
    assert!(backend.is_stopped("main", "b"));
}

#[tokio::test]
async fn a_deploy_that_fails_before_publishing_changes_nothing_and_shows_the_log_tail() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("main").join("a.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let lines: Vec<String> = (1..=25).map(|n| format!("line {n}")).collect();
    std::fs::write(&log, lines.join("\n")).unwrap();
    let backend = FakeBackend::new().with_app("main", "a", &[Some(OLD_TAG)]);
    backend.fail_deploy(
        "a",
        DeployFault::FailBeforePublish(BackendError::DeployFailed {
            environment: "main".into(),
            app: "a".into(),
            message: "Image pull failed: manifest unknown".into(),
            log: Some(log.clone()),
        }),
    );
    let run = run(
        &backend,
        &plan(vec![update("a", 1)]),
        &settings(logs.path()),
    )
    .await;
    assert_eq!(
        backend.call_log(),
        ["live main/a", "deploy main/a", "live main/a"]
    );
    let app = &run.report.apps[0];
    assert_eq!(app.outcome, Outcome::Kept { version: Some(1) });
    assert_eq!(app.errors[0].code, Code::ErrDeployFailed);
    assert_eq!(
        app.errors[0].message,
        "deploy of `a` to `main` failed: Image pull failed: manifest unknown"
    );
    assert_eq!(app.errors[0].log.as_deref(), Some(log.as_path()));
    assert_eq!(app.errors[0].log_tail, lines[5..].to_vec());
    assert_eq!(backend.live("main", "a").unwrap().version, 1);
}

#[tokio::test]
async fn a_deploy_that_fails_after_publishing_is_rolled_back() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new().with_app("main", "a", &[Some(OLD_TAG)]);
    backend.fail_deploy(
        "a",
        DeployFault::FailAfterPublish(BackendError::CommandFailed {
            command: "modal deploy".into(),
            exit_code: Some(1),
            stderr: "connection reset".into(),
        }),
    );
    let run = run(
        &backend,
        &plan(vec![update("a", 1)]),
        &settings(logs.path()),
    )
    .await;
    assert_eq!(
        backend.call_log(),
        [
            "live main/a",
            "deploy main/a",
            "live main/a",
            "rollback main/a v1",
            "live main/a",
            "call main/a.smoke",
        ]
    );
    assert_eq!(
        run.report.apps[0].outcome,
        Outcome::RolledBack {
            to: 1,
            live: Some(3)
        }
    );
    assert_eq!(
        backend.live("main", "a").unwrap().tag.as_deref(),
        Some(OLD_TAG)
    );
}

#[tokio::test]
async fn a_failed_create_is_stopped_and_with_no_rollback_it_is_left_failed() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new();
    backend.answer_smoke("a", vec![smoke_error("boom")]);
    let run_a = run(&backend, &plan(vec![create("a")]), &settings(logs.path())).await;
    assert_eq!(
        backend.call_log(),
        [
            "live main/a",
            "deploy main/a",
            "call main/a.smoke",
            "stop main/a"
        ]
    );
    assert_eq!(run_a.report.apps[0].outcome, Outcome::Stopped);
    assert!(backend.is_stopped("main", "a"));

    let backend = FakeBackend::new().with_app("main", "b", &[Some(OLD_TAG)]);
    backend.answer_smoke("b", vec![smoke_error("boom")]);
    let mut no_rollback = settings(logs.path());
    no_rollback.rollback = false;
    let run_b = run(&backend, &plan(vec![update("b", 1)]), &no_rollback).await;
    assert_eq!(
        backend.call_log(),
        ["live main/b", "deploy main/b", "call main/b.smoke"]
    );
    assert_eq!(
        run_b.report.apps[0].outcome,
        Outcome::LeftFailed { version: Some(2) }
    );
    assert_eq!(
        crate::render::apply::outcome(run_b.report.apps[0].outcome),
        "left failed at v2"
    );
}

#[tokio::test]
async fn a_rollback_that_fails_leaves_the_app_failed_and_says_so() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new().with_app("main", "a", &[Some(OLD_TAG)]);
    backend.answer_smoke("a", vec![smoke_error("boom")]);
    backend.fail_rollback(
        "a",
        BackendError::CommandFailed {
            command: "modal app rollback a v1".into(),
            exit_code: Some(1),
            stderr: "server error".into(),
        },
    );
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
            "left failed at v2".into(),
            vec![Code::ErrSmokeFailed, Code::ErrRollbackFailed]
        )]
    );
    assert_eq!(
        run.report.apps[0].errors[1].message,
        "rolling back to v1 failed: `modal app rollback a v1` failed (exit 1): server error; v2, deployed by this apply, is still live"
    );
}
