//! An app that moved or appeared since the plan is refused, not deployed.

use super::*;

#[tokio::test]
async fn an_app_moved_since_the_plan_is_refused_and_not_deployed() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new().with_app("main", "a", &[Some(OLD_TAG)]);
    backend.move_before_next_read("a", "mp2-999999999999-aaaaaa-bbbbbb-cccccc-dddddd");
    let run = run(
        &backend,
        &plan(vec![update("a", 1), create("b")]),
        &settings(logs.path()),
    )
    .await;
    assert_eq!(
        outcomes(&run.report),
        [
            (
                "a".into(),
                "not started".into(),
                vec![Code::ErrConcurrentChange]
            ),
            ("b".into(), "deployed v1".into(), vec![]),
        ]
    );
    assert_eq!(
        run.report.apps[0].errors[0].message,
        format!(
            "`a` in `main` changed since the plan (v1 tagged {OLD_TAG} then, v2 tagged mp2-999999999999-aaaaaa-bbbbbb-cccccc-dddddd now): another apply may be running; nothing was deployed, plan again"
        )
    );
    assert!(!backend.call_log().contains(&"deploy main/a".to_owned()));
    assert_eq!(backend.history("main", "a").len(), 2);
}

#[tokio::test]
async fn a_create_whose_app_appeared_since_the_plan_is_refused() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new().with_app("main", "a", &[Some(NEW_TAG)]);
    let run = run(&backend, &plan(vec![create("a")]), &settings(logs.path())).await;
    assert_eq!(
        outcomes(&run.report),
        [(
            "a".into(),
            "not started".into(),
            vec![Code::ErrConcurrentChange]
        )]
    );
    assert_eq!(backend.call_log(), ["live main/a"]);
}
