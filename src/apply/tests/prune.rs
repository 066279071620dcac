//! Orphans: stopped when the plan marks them (never a protected name), refused when they moved.

use super::*;

#[tokio::test]
async fn prune_stops_what_the_plan_marks_and_never_a_protected_name() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new()
        .with_app("main", "old-v1", &[Some(OLD_TAG)])
        .with_app("main", "keep-v1", &[Some(OLD_TAG)]);
    let stop = |app: &str| Action {
        kind: ActionKind::Stop,
        reference: None,
        after: None,
        ..update(app, 1)
    };
    let mut protecting = settings(logs.path());
    protecting.protect = vec!["keep-v1".into()];
    let run = run(
        &backend,
        &plan(vec![stop("keep-v1"), stop("old-v1")]),
        &protecting,
    )
    .await;
    assert_eq!(backend.call_log(), ["live main/old-v1", "stop main/old-v1"]);
    assert_eq!(
        outcomes(&run.report),
        [
            ("keep-v1".into(), "not started".into(), vec![Code::ErrUsage]),
            ("old-v1".into(), "stopped (pruned)".into(), vec![]),
        ]
    );
    assert!(backend.is_stopped("main", "old-v1"));
    assert!(!backend.is_stopped("main", "keep-v1"));
}

#[tokio::test]
async fn an_orphan_planned_without_its_history_is_stopped_whatever_version_is_live() {
    // Plans of modalplan versions that did not read orphans' histories have no `before` for a stop:
    // the saved-plan check skips them and apply stops whatever is live, as those versions did.
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new()
        .with_app("main", "old-v1", &[None, None])
        .with_app("main", "gone-v1", &[None]);
    crate::backend::ModalBackend::stop(&backend, "main", "gone-v1")
        .await
        .unwrap();
    let orphan = |app: &str| Action {
        kind: ActionKind::Stop,
        reference: None,
        before: None,
        after: None,
        ..create(app)
    };
    let saved_plan = plan(vec![orphan("old-v1"), orphan("gone-v1")]);
    crate::saved_plan::check_current(
        &saved_plan,
        "sha256:00",
        &crate::code::CodeSnapshot::default(),
        &backend,
    )
    .await
    .unwrap();
    let run = run(&backend, &saved_plan, &settings(logs.path())).await;
    assert_eq!(
        outcomes(&run.report),
        [
            ("old-v1".into(), "stopped (pruned)".into(), vec![]),
            ("gone-v1".into(), "stopped (pruned)".into(), vec![]),
        ]
    );
    // The seeding stop, then each app's re-check (and the one stop), in either order.
    let mut calls = backend.call_log();
    assert_eq!(calls.remove(0), "stop main/gone-v1");
    calls.sort();
    assert_eq!(
        calls,
        ["live main/gone-v1", "live main/old-v1", "stop main/old-v1"]
    );
}

#[tokio::test]
async fn an_orphan_redeployed_since_the_plan_is_refused_and_one_stopped_meanwhile_counts_as_pruned()
{
    let logs = tempfile::tempdir().unwrap();
    // Planned through the fake as `plan --prune` plans: the orphans' live versions are read with the
    // rest and carried in `before`.
    let manifest = crate::plan::fixtures::manifest();
    let backend = FakeBackend::new()
        .with_app("main", "llm-litellm-v0", &[None])
        .with_app("main", "llm-router-v2", &[Some(OLD_TAG), Some("v2.1")]);
    let mut options = crate::plan::PlanOptions::select(&manifest, &["main".into()], &[]).unwrap();
    options.prune = true;
    let observed =
        crate::backend::ModalBackend::observe(&backend, &options.observe_request(&manifest))
            .await
            .unwrap();
    let stops: Vec<Action> = crate::plan::plan(&manifest, &observed, &options)
        .actions
        .into_iter()
        .filter(|action| action.kind == ActionKind::Stop)
        .collect();
    assert_eq!(
        stops
            .iter()
            .map(|action| (action.app_name.as_str(), action.before.clone()))
            .collect::<Vec<_>>(),
        [
            (
                "llm-litellm-v0",
                Some(Live {
                    version: 1,
                    tag: None,
                    release: None,
                })
            ),
            (
                "llm-router-v2",
                Some(Live {
                    version: 2,
                    tag: Some("v2.1".into()),
                    release: None,
                })
            ),
        ]
    );
    // Between the plan and the apply, someone redeploys one and stops the other.
    backend.move_before_next_read("llm-litellm-v0", "v0.9.1");
    crate::backend::ModalBackend::stop(&backend, "main", "llm-router-v2")
        .await
        .unwrap();
    let run = run(&backend, &plan(stops), &settings(logs.path())).await;
    assert_eq!(
        outcomes(&run.report),
        [
            (
                "llm-litellm-v0".into(),
                "not started".into(),
                vec![Code::ErrConcurrentChange]
            ),
            // Stopped by someone else: what the prune wanted.
            ("llm-router-v2".into(), "stopped (pruned)".into(), vec![]),
        ]
    );
    assert_eq!(
        run.report.apps[0].errors[0].message,
        "`llm-litellm-v0` in `main` changed since the plan (v1 untagged then, v2 tagged v0.9.1 now): another apply may be running; modalplan did not stop it, plan again"
    );
    // The seeding stop, then one re-check each and no stop of modalplan's own.
    let mut calls = backend.call_log();
    assert_eq!(calls.remove(0), "stop main/llm-router-v2");
    calls.sort();
    assert_eq!(
        calls,
        ["live main/llm-litellm-v0", "live main/llm-router-v2"]
    );
    assert!(!backend.is_stopped("main", "llm-litellm-v0"));
    assert_eq!(
        backend
            .live("main", "llm-litellm-v0")
            .map(|live| live.version),
        Some(2)
    );
}
