//! Several apps at once: one failure does not stop the others, fail-fast, the parallelism bound.

use super::*;

#[tokio::test]
async fn one_failure_does_not_stop_the_others() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new();
    backend.answer_smoke("b", vec![smoke_error("boom")]);
    let run = run(
        &backend,
        &plan(vec![create("a"), create("b"), create("c")]),
        &settings(logs.path()),
    )
    .await;
    assert_eq!(
        outcomes(&run.report),
        [
            ("a".into(), "deployed v1".into(), vec![]),
            ("b".into(), "stopped".into(), vec![Code::ErrSmokeFailed]),
            ("c".into(), "deployed v1".into(), vec![]),
        ]
    );
    assert_eq!(run.report.failed(), 1);
    assert_eq!(
        backend.live("main", "a").unwrap().tag.as_deref(),
        Some(NEW_TAG)
    );
    assert_eq!(
        backend.live("main", "c").unwrap().tag.as_deref(),
        Some(NEW_TAG)
    );
    assert!(backend.live("main", "b").is_none());
}

#[tokio::test]
async fn fail_fast_starts_nothing_after_the_first_failure() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new();
    backend.answer_smoke("a", vec![smoke_error("boom")]);
    let mut fail_fast = settings(logs.path());
    fail_fast.fail_fast = true;
    fail_fast.parallelism = 1;
    let run = run(
        &backend,
        &plan(vec![create("a"), create("b"), create("c")]),
        &fail_fast,
    )
    .await;
    assert_eq!(
        outcomes(&run.report),
        [
            ("a".into(), "stopped".into(), vec![Code::ErrSmokeFailed]),
            ("b".into(), "not started".into(), vec![]),
            ("c".into(), "not started".into(), vec![]),
        ]
    );
    assert_eq!(
        backend.call_log(),
        [
            "live main/a",
            "deploy main/a",
            "call main/a.smoke",
            "stop main/a"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_first_wave_is_launched_spaced_and_the_rest_as_slots_free() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new();
    backend.set_deploy_delay(Duration::from_secs(2));
    let mut spaced = settings(logs.path());
    spaced.parallelism = 3;
    spaced.launch_spacing = Duration::from_millis(500);
    let actions = (0..5).map(|n| create(&format!("app-{n}"))).collect();
    let began = tokio::time::Instant::now();
    let run = run(&backend, &plan(actions), &spaced).await;
    assert_eq!(run.report.failed(), 0);
    let starts: Vec<(String, u128)> = backend
        .deploy_starts()
        .into_iter()
        .map(|(app, at)| (app, (at - began).as_millis()))
        .collect();
    // Half a second apart until the first wave is out; then each starts when a slot frees (2 s deploys).
    assert_eq!(
        starts,
        [
            ("app-0".to_owned(), 0),
            ("app-1".to_owned(), 500),
            ("app-2".to_owned(), 1000),
            ("app-3".to_owned(), 2000),
            ("app-4".to_owned(), 2500),
        ]
    );
}

#[test]
fn deploys_are_spaced_only_when_more_start_at_once_than_twice_the_cores() {
    assert_eq!(crate::apply::launch_spacing(4, 2), Duration::ZERO);
    assert_eq!(
        crate::apply::launch_spacing(5, 2),
        Duration::from_millis(500)
    );
    assert_eq!(
        crate::apply::launch_spacing(10, 2),
        Duration::from_millis(500)
    );
    assert_eq!(crate::apply::launch_spacing(8, 4), Duration::ZERO);
    assert_eq!(crate::apply::launch_spacing(1, 0), Duration::ZERO);
}

#[tokio::test]
async fn parallelism_bounds_the_deploys_running_at_once() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new();
    backend.set_deploy_delay(Duration::from_millis(100));
    let mut two = settings(logs.path());
    two.parallelism = 2;
    let actions = (0..5).map(|n| create(&format!("app-{n}"))).collect();
    let run = run(&backend, &plan(actions), &two).await;
    // Overlapping deploys reach the bound and never pass it; speed itself is for `bench/apply`.
    assert_eq!(backend.max_concurrent_deploys(), 2);
    assert_eq!(run.report.failed(), 0);
    // Launched in plan order: the first two slots go to the first two apps.
    let mut first_round: Vec<String> = backend
        .call_log()
        .into_iter()
        .filter(|call| call.starts_with("deploy"))
        .take(2)
        .collect();
    first_round.sort();
    assert_eq!(first_round, ["deploy main/app-0", "deploy main/app-1"]);
}
