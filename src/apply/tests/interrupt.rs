//! Signals mid-apply: nothing new starts, running deploys get the grace period, then are killed.

use super::*;

#[tokio::test]
async fn an_interrupt_starts_nothing_new_and_lets_running_deploys_finish_within_the_grace_period() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new();
    backend.set_deploy_delay(Duration::from_millis(300));
    let mut one = settings(logs.path());
    one.parallelism = 1;
    let (handle, interrupt) = Interrupt::new();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        handle.trigger();
    });
    let run = run_with(
        &backend,
        &plan(vec![create("a"), create("b")]),
        &one,
        interrupt,
    )
    .await;
    assert!(run.report.interrupted);
    assert_eq!(
        run.report.exit_status(),
        crate::exit::ExitStatus::Interrupted
    );
    assert_eq!(
        outcomes(&run.report),
        [
            ("a".into(), "deployed v1".into(), vec![]),
            ("b".into(), "not started".into(), vec![]),
        ]
    );
    assert_eq!(
        backend.call_log(),
        ["live main/a", "deploy main/a", "call main/a.smoke"]
    );
    assert!(
        run.events.contains(
            &"interrupted: starting nothing new; running deploys get 5s to finish (a second Ctrl-C or SIGTERM stops them now)".to_owned()
        ),
        "{:?}",
        run.events
    );
}

#[tokio::test]
async fn a_deploy_still_running_when_the_grace_period_ends_is_killed_and_rolled_back() {
    kill_a_hanging_deploy(Duration::from_millis(100), 1).await;
}

#[tokio::test]
async fn a_second_signal_kills_running_deploys_without_waiting_for_the_grace_period() {
    kill_a_hanging_deploy(Duration::from_secs(600), 2).await;
}

/// Sends `signals` signals (100ms apart) once a deploy that hangs before publishing has started; the
/// deploy is killed (by the end of `grace_period` or by the second signal) and nothing changed.
async fn kill_a_hanging_deploy(grace_period: Duration, signals: usize) {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new().with_app("main", "a", &[Some(OLD_TAG)]);
    backend.set_deploy_delay(Duration::from_secs(30));
    let mut grace = settings(logs.path());
    grace.grace_period = grace_period;
    let (handle, interrupt) = Interrupt::new();
    let trigger = {
        let backend = backend.clone();
        tokio::spawn(async move {
            while backend.max_concurrent_deploys() == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            for _ in 0..signals {
                handle.trigger();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let started = std::time::Instant::now();
    let run = run_with(&backend, &plan(vec![update("a", 1)]), &grace, interrupt).await;
    trigger.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        outcomes(&run.report),
        [(
            "a".into(),
            "unchanged at v1".into(),
            vec![Code::ErrInterrupted]
        )]
    );
    assert_eq!(
        backend.call_log(),
        ["live main/a", "deploy main/a", "live main/a"]
    );
    assert!(
        run.events
            .contains(&"main/a: grace period over, killed its running step".to_owned())
    );
    assert_eq!(
        run.report.exit_status(),
        crate::exit::ExitStatus::Interrupted
    );
}
