//! A saved plan: applied when Modal is as planned, refused as stale otherwise; the file format.

use super::*;

#[tokio::test]
async fn a_saved_plan_is_current_when_every_app_is_as_planned() {
    let backend = FakeBackend::new()
        .with_app("main", "a", &[Some(OLD_TAG)])
        .with_secret("main", "OPENAI_API_KEY")
        .with_secret("main", "REGISTRY_AUTH");
    let saved = plan(vec![update("a", 1), create("b")]);
    crate::saved_plan::check_current(
        &saved,
        "sha256:00",
        &crate::code::CodeSnapshot::default(),
        &backend,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_saved_plan_is_stale_when_a_secret_it_attaches_was_deleted() {
    let backend = FakeBackend::new()
        .with_app("main", "a", &[Some(OLD_TAG)])
        .with_secret("main", "REGISTRY_AUTH");
    let saved = plan(vec![update("a", 1), create("b")]);
    let error = crate::saved_plan::check_current(
        &saved,
        "sha256:00",
        &crate::code::CodeSnapshot::default(),
        &backend,
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), Code::ErrStalePlan);
    assert_eq!(
        error.to_string(),
        "the plan is stale: Modal changed since it was made; plan again\n  main/a: needs secret `OPENAI_API_KEY`, which is no longer in environment `main`\n  main/b: needs secret `OPENAI_API_KEY`, which is no longer in environment `main`"
    );
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn a_saved_plan_is_stale_when_the_manifest_or_an_app_changed() {
    let backend = FakeBackend::new()
        .with_app("main", "a", &[Some(OLD_TAG), Some(NEW_TAG)])
        .with_app("main", "b", &[Some(NEW_TAG)])
        .with_secret("main", "OPENAI_API_KEY")
        .with_secret("main", "REGISTRY_AUTH");
    let saved = plan(vec![update("a", 1), create("b")]);
    let error = crate::saved_plan::check_current(
        &saved,
        "sha256:11",
        &crate::code::CodeSnapshot::default(),
        &backend,
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), Code::ErrStalePlan);
    assert_eq!(
        error.to_string(),
        "the plan is stale: the manifest changed since it was made (sha256:00 then, sha256:11 now); plan again"
    );
    let error = crate::saved_plan::check_current(
        &saved,
        "sha256:00",
        &crate::code::CodeSnapshot::default(),
        &backend,
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), Code::ErrStalePlan);
    assert_eq!(
        error.to_string(),
        format!(
            "the plan is stale: Modal changed since it was made; plan again\n  main/a: v1 tagged {OLD_TAG} when planned, v2 tagged {NEW_TAG} now\n  main/b: absent when planned, v1 tagged {NEW_TAG} now"
        )
    );
    // Read once, nothing changed.
    assert!(backend.calls().is_empty());
}

#[test]
fn a_plan_file_round_trips_and_a_foreign_one_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("plan.json");
    let original = plan(vec![update("a", 1), create("b")]);
    crate::saved_plan::save(&path, &original).unwrap();
    assert_eq!(crate::saved_plan::load(&path).unwrap(), original);

    std::fs::write(&path, r#"{"format_version": 9}"#).unwrap();
    let error = crate::saved_plan::load(&path).unwrap_err();
    assert_eq!(error.code(), Code::ErrPlanFile);
    assert_eq!(
        error.to_string(),
        format!(
            "{} has plan format 9; this modalplan reads format 2: plan again with this version",
            path.display()
        )
    );
    std::fs::write(&path, "not json").unwrap();
    assert_eq!(
        crate::saved_plan::load(&path).unwrap_err().code(),
        Code::ErrPlanFile
    );
}

#[tokio::test]
async fn a_saved_plan_is_stale_when_an_orphan_to_stop_moved_and_not_for_one_left_alone() {
    // Both orphans were at v1 when planned; both are at v2 now.
    let backend = FakeBackend::new()
        .with_app("main", "old-v1", &[None, Some("x")])
        .with_app("main", "other-v1", &[None, Some("x")]);
    let orphan = |app: &str, kind: ActionKind| Action {
        kind,
        reference: None,
        before: Some(Live {
            version: 1,
            tag: None,
            release: None,
        }),
        after: None,
        ..create(app)
    };
    let saved_plan = plan(vec![
        orphan("old-v1", ActionKind::Stop),
        orphan("other-v1", ActionKind::Orphan),
    ]);
    let error = crate::saved_plan::check_current(
        &saved_plan,
        "sha256:00",
        &crate::code::CodeSnapshot::default(),
        &backend,
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), Code::ErrStalePlan);
    assert_eq!(
        error,
        crate::saved_plan::SavedPlanError::ModalChanged {
            changes: vec!["  main/old-v1: v1 untagged when planned, v2 tagged x now".into()]
        }
    );
    // Without the stop, nothing the apply does depends on an orphan: current, and not even read.
    let left_alone = plan(vec![orphan("other-v1", ActionKind::Orphan)]);
    let reads = backend.observe_requests().len();
    crate::saved_plan::check_current(
        &left_alone,
        "sha256:00",
        &crate::code::CodeSnapshot::default(),
        &backend,
    )
    .await
    .unwrap();
    assert_eq!(backend.observe_requests().len(), reads);
    assert!(!backend.is_stopped("main", "old-v1"));
}
