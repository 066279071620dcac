//! The executor against the in-memory fake: order of calls, the parallelism bound, rollback paths,
//! fail-fast, refusal of concurrent changes, interrupts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::backend::BackendError;
use crate::backend::fake::{DeployFault, FakeBackend, FakeCall, SmokeAnswer};
use crate::codes::Code;
use crate::plan::model::{
    Action, ActionKind, Desired, Live, ManifestIdentity, PLAN_FORMAT_VERSION, Plan, RuntimeSpec,
    SmokeSpec,
};

const OLD_TAG: &str = "mp2-000000000000-aaaaaa-bbbbbb-cccccc-dddddd";
const NEW_TAG: &str = "mp2-111111111111-aaaaaa-bbbbbb-cccccc-dddddd";

fn settings(log_dir: &std::path::Path) -> ApplySettings {
    ApplySettings {
        parallelism: 4,
        fail_fast: false,
        rollback: true,
        log_dir: log_dir.to_path_buf(),
        workdir: "code".into(),
        module: "modal_app".into(),
        deploy_timeout: Duration::from_secs(60),
        protect: Vec::new(),
        grace_period: Duration::from_secs(5),
        provenance: crate::apply::Provenance {
            manifest: Some("processors.toml".into()),
            commit: Some("0123abc".into()),
            dirty: Some(false),
            by: "ci".into(),
        },
    }
}

fn desired() -> Desired {
    Desired {
        tag: NEW_TAG.into(),
        image: format!("ghcr.io/acme/tool@sha256:{}", "1".repeat(64)),
        secrets: vec!["OPENAI_API_KEY".into(), "REGISTRY_AUTH".into()],
        runtime: RuntimeSpec {
            cpu: Some(1.5),
            memory_mb: Some(2048),
            gpu: None,
            timeout_s: Some(60),
        },
        module: "modal_app".into(),
        smoke: Some(SmokeSpec {
            function: "smoke".into(),
            payload: serde_json::json!({"schema": "v1", "mode": "real", "params": {}}),
            timeout_s: 30,
        }),
    }
}

fn create(app: &str) -> Action {
    Action {
        environment: "main".into(),
        reference: Some(format!("ns/{app}@1")),
        app_name: app.into(),
        kind: ActionKind::Create,
        reasons: Vec::new(),
        before: None,
        after: Some(desired()),
        blockers: Vec::new(),
        promotion: None,
    }
}

fn update(app: &str, version: u32) -> Action {
    Action {
        kind: ActionKind::Update,
        before: Some(Live {
            version,
            tag: Some(OLD_TAG.into()),
            release: None,
        }),
        ..create(app)
    }
}

fn plan(actions: Vec<Action>) -> Plan {
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        manifest: ManifestIdentity {
            path: "processors.toml".into(),
            sha256: "sha256:00".into(),
        },
        environments: vec!["main".into()],
        actions,
        warnings: Vec::new(),
        locks: Vec::new(),
        code: crate::code::CodeSnapshot::default(),
    }
}

struct Run {
    report: ApplyReport,
    events: Vec<String>,
}

async fn run(backend: &FakeBackend, plan: &Plan, settings: &ApplySettings) -> Run {
    run_with(backend, plan, settings, Interrupt::never()).await
}

async fn run_with(
    backend: &FakeBackend,
    plan: &Plan,
    settings: &ApplySettings,
    interrupt: Interrupt,
) -> Run {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink_events = Arc::clone(&events);
    let sink: EventSink = Arc::new(move |event: &Event| {
        sink_events.lock().unwrap().push(event.to_string());
    });
    let report = execute(Arc::new(backend.clone()), plan, settings, interrupt, sink).await;
    let events = events.lock().unwrap().clone();
    Run { report, events }
}

fn outcomes(report: &ApplyReport) -> Vec<(String, String, Vec<Code>)> {
    report
        .apps
        .iter()
        .map(|app| {
            (
                app.app_name.clone(),
                app.outcome.describe(),
                app.errors.iter().map(|error| error.code).collect(),
            )
        })
        .collect()
}

fn smoke_ok() -> SmokeAnswer {
    SmokeAnswer::Value(serde_json::json!({"status": "ok", "result": {"echo": "mock"}}))
}

fn smoke_error(message: &str) -> SmokeAnswer {
    SmokeAnswer::Value(serde_json::json!({"status": "error", "error": {"message": message}}))
}

#[tokio::test]
async fn an_update_rechecks_deploys_then_smoke_checks_with_mode_forced_to_mock() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new().with_app("main", "a", &[Some(OLD_TAG)]);
    let run = run(
        &backend,
        &plan(vec![update("a", 1)]),
        &settings(logs.path()),
    )
    .await;

    assert_eq!(
        backend.call_log(),
        ["live main/a", "deploy main/a", "call main/a.smoke"]
    );
    let calls = backend.calls();
    let FakeCall::Deploy { tag, env, .. } = &calls[1] else {
        panic!("{calls:?}")
    };
    assert_eq!(tag, NEW_TAG);
    let expected: Vec<(&str, String)> = vec![
        (
            "IMAGE_REF",
            format!("ghcr.io/acme/tool@sha256:{}", "1".repeat(64)),
        ),
        ("MODALPLAN_CPU", "1.5".into()),
        ("MODALPLAN_MEMORY_MB", "2048".into()),
        ("MODALPLAN_TIMEOUT_S", "60".into()),
        ("MODAL_APP_NAME", "a".into()),
        ("MODAL_ENVIRONMENT", "main".into()),
        ("PROCESSOR_REF", "ns/a@1".into()),
        ("TOOL_SECRETS", "OPENAI_API_KEY,REGISTRY_AUTH".into()),
    ];
    let actual: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    assert_eq!(actual, expected);
    let FakeCall::Call { payload, .. } = &calls[2] else {
        panic!("{calls:?}")
    };
    assert_eq!(
        payload,
        &serde_json::json!({"schema": "v1", "mode": "mock", "params": {}})
    );
    assert_eq!(
        outcomes(&run.report),
        [("a".into(), "deployed v2".into(), vec![])]
    );
    assert_eq!(run.report.exit_status(), crate::exit::ExitStatus::Success);
    assert_eq!(
        run.events,
        [
            "main/a: updating".to_owned(),
            format!(
                "main/a: deploying (log: {}/main/a.log)",
                logs.path().display()
            ),
            "main/a: smoke-checking v2".to_owned(),
            "main/a: deployed v2".to_owned(),
        ]
    );
}

#[tokio::test]
async fn no_ops_and_orphans_reach_nothing_in_the_backend() {
    let logs = tempfile::tempdir().unwrap();
    let backend = FakeBackend::new().with_app("main", "a", &[Some(OLD_TAG)]);
    let mut no_op = update("a", 1);
    no_op.kind = ActionKind::NoOp;
    let mut orphan = update("old-tool-v1", 3);
    orphan.kind = ActionKind::Orphan;
    orphan.after = None;
    let run = run(&backend, &plan(vec![no_op, orphan]), &settings(logs.path())).await;
    assert!(backend.calls().is_empty(), "{:?}", backend.calls());
    assert_eq!(
        outcomes(&run.report),
        [
            ("a".into(), "unchanged at v1".into(), vec![]),
            ("old-tool-v1".into(), "unchanged at v3".into(), vec![]),
        ]
    );
    assert_eq!(run.report.exit_status(), crate::exit::ExitStatus::Success);
}

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
    assert_eq!(app.outcome.describe(), "rolled back to v2 (live as v4)");
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
    assert_eq!(run_b.report.apps[0].outcome.describe(), "left failed at v2");
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

#[test]
fn the_summary_table_names_each_outcome_version_and_failure() {
    let report = ApplyReport {
        apps: vec![
            AppReport {
                environment: "main".into(),
                app_name: "llm-litellm-v1".into(),
                reference: Some("llm/litellm@1".into()),
                kind: ActionKind::Update,
                outcome: Outcome::Deployed { version: 4 },
                errors: Vec::new(),
                duration: Duration::from_millis(12_340),
            },
            AppReport {
                environment: "main".into(),
                app_name: "replicate-generic-v1".into(),
                reference: Some("replicate/generic@1".into()),
                kind: ActionKind::Update,
                outcome: Outcome::RolledBack {
                    to: 2,
                    live: Some(4),
                },
                errors: vec![AppError::new(
                    Code::ErrSmokeFailed,
                    "smoke check `smoke` of `replicate-generic-v1` failed: boom",
                )],
                duration: Duration::from_secs(20),
            },
        ],
        interrupted: false,
        duration: Duration::from_millis(20_100),
    };
    assert_eq!(
        crate::render::apply::text(&report),
        "\
APP                   ENV   OUTCOME                                            VERSION  DURATION
llm-litellm-v1        main  deployed v4                                        v4       12.3s
replicate-generic-v1  main  rolled back to v2 (live as v4) (ERR_SMOKE_FAILED)  v4       20.0s

replicate-generic-v1 (main): rolled back to v2 (live as v4)
  ERR_SMOKE_FAILED: smoke check `smoke` of `replicate-generic-v1` failed: boom

Apply failed: 1 deployed, 0 unchanged, 1 failed in 20.1s.
"
    );
}

#[tokio::test]
async fn a_saved_plan_is_current_when_every_app_is_as_planned() {
    let backend = FakeBackend::new()
        .with_app("main", "a", &[Some(OLD_TAG)])
        .with_secret("main", "OPENAI_API_KEY")
        .with_secret("main", "REGISTRY_AUTH");
    let saved = plan(vec![update("a", 1), create("b")]);
    saved::check_current(
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
    let error = saved::check_current(
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
    let error = saved::check_current(
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
    let error = saved::check_current(
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
    saved::save(&path, &original).unwrap();
    assert_eq!(saved::load(&path).unwrap(), original);

    std::fs::write(&path, r#"{"format_version": 9}"#).unwrap();
    let error = saved::load(&path).unwrap_err();
    assert_eq!(error.code(), Code::ErrPlanFile);
    assert_eq!(
        error.to_string(),
        format!(
            "{} has plan format 9; this modalplan reads format 2: plan again with this version",
            path.display()
        )
    );
    std::fs::write(&path, "not json").unwrap();
    assert_eq!(saved::load(&path).unwrap_err().code(), Code::ErrPlanFile);
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
    saved::check_current(
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
    let error = saved::check_current(
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
        saved::SavedPlanError::ModalChanged {
            changes: vec!["  main/old-v1: v1 untagged when planned, v2 tagged x now".into()]
        }
    );
    // Without the stop, nothing the apply does depends on an orphan: current, and not even read.
    let left_alone = plan(vec![orphan("other-v1", ActionKind::Orphan)]);
    let reads = backend.observe_requests().len();
    saved::check_current(
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

// ---------------------------------------------------------------- the apply lock

mod apply_lock {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use crate::apply::lock::{LockedError, ReleaseProblem, holder_from, under_lock};
    use crate::backend::BackendError;
    use crate::backend::fake::FakeBackend;
    use crate::backend::lock::{ApplyLocks, ForceUnlock, LockHolder, LockRecord, LockRequest};

    fn other_run() -> LockRecord {
        LockRecord {
            id: "lk-other".into(),
            who: "alice@laptop".into(),
            operation: "apply".into(),
            manifest: "processors.toml".into(),
            created_at: "2026-01-01T10:00:00Z".into(),
            heartbeat_at: Some("2026-01-01T10:05:00Z".into()),
        }
    }

    fn request(wait: Duration, notices: &Arc<Mutex<Vec<String>>>) -> LockRequest {
        let notices = Arc::clone(notices);
        LockRequest {
            environments: vec!["main".into(), "dev".into()],
            holder: LockHolder {
                who: "ci@runner".into(),
                operation: "apply".into(),
                manifest: "processors.toml".into(),
            },
            wait,
            on_wait: Arc::new(move |environment: &str, lock: &LockRecord| {
                notices
                    .lock()
                    .unwrap()
                    .push(format!("{environment}: {} {}", lock.who, lock.id));
            }),
        }
    }

    #[tokio::test]
    async fn a_lock_held_by_another_run_refuses_the_apply_before_its_body() {
        let backend = FakeBackend::new();
        backend.hold_lock("main", other_run());
        let notices = Arc::new(Mutex::new(Vec::new()));
        let prepared = AtomicUsize::new(0);
        let ran = AtomicUsize::new(0);
        let locked = under_lock(
            Some((
                &backend as &dyn ApplyLocks,
                &request(Duration::ZERO, &notices),
            )),
            || async {
                prepared.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>("plan")
            },
            |_plan| async {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(())
            },
        )
        .await;
        match locked.result {
            Err(LockedError::Held { environment, lock }) => {
                assert_eq!(environment, "main");
                assert_eq!(lock, other_run());
            }
            other => panic!("expected a held lock, got {other:?}"),
        }
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(prepared.load(Ordering::SeqCst), 1);
        assert!(notices.lock().unwrap().is_empty());
        // All or none: `dev` (free, and first in sorted order) was not kept.
        assert_eq!(backend.lock_of("dev"), None);
        assert_eq!(backend.lock_of("main"), Some(other_run()));
        assert_eq!(backend.call_log(), ["lock dev,main"]);
    }

    #[tokio::test]
    async fn a_waited_for_lock_makes_the_plan_again_then_runs_and_releases() {
        let backend = FakeBackend::new();
        backend.hold_lock("main", other_run());
        let releaser = backend.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            releaser.drop_lock("main");
        });
        let notices = Arc::new(Mutex::new(Vec::new()));
        let prepared = AtomicUsize::new(0);
        let seen_in_body = Arc::new(Mutex::new(None));
        let locked = under_lock(
            Some((
                &backend as &dyn ApplyLocks,
                &request(Duration::from_secs(10), &notices),
            )),
            || async { Ok::<_, String>(prepared.fetch_add(1, Ordering::SeqCst) + 1) },
            |plan_number| {
                let seen_in_body = Arc::clone(&seen_in_body);
                let backend = backend.clone();
                async move {
                    *seen_in_body.lock().unwrap() =
                        Some((plan_number, backend.lock_of("main").map(|lock| lock.who)));
                    Ok::<_, String>("applied")
                }
            },
        )
        .await;
        assert_eq!(locked.result.unwrap(), "applied");
        assert!(locked.release.is_none());
        // The body ran with the second plan, holding the lock; the lock is gone afterwards.
        assert_eq!(
            *seen_in_body.lock().unwrap(),
            Some((2, Some("ci@runner".to_owned())))
        );
        assert_eq!(prepared.load(Ordering::SeqCst), 2);
        assert_eq!(*notices.lock().unwrap(), ["main: alice@laptop lk-other"]);
        assert_eq!(backend.lock_of("main"), None);
        assert_eq!(backend.lock_of("dev"), None);
        assert_eq!(backend.call_log(), ["lock dev,main", "unlock dev,main"]);
    }

    #[tokio::test]
    async fn the_lock_is_released_when_the_plan_or_the_apply_fails() {
        let backend = FakeBackend::new();
        let notices = Arc::new(Mutex::new(Vec::new()));
        let request = request(Duration::ZERO, &notices);
        let locks = Some((&backend as &dyn ApplyLocks, &request));
        let failed_plan = under_lock(
            locks,
            || async { Err::<(), _>("ERR_MANIFEST_SYNTAX".to_owned()) },
            |()| async { Ok::<_, String>(()) },
        )
        .await;
        assert!(
            matches!(&failed_plan.result, Err(LockedError::Inner(error)) if error == "ERR_MANIFEST_SYNTAX"),
            "{failed_plan:?}"
        );
        let failed_apply = under_lock(
            locks,
            || async { Ok::<_, String>(()) },
            |()| async { Err::<(), _>("ERR_DEPLOY_FAILED".to_owned()) },
        )
        .await;
        assert!(
            matches!(&failed_apply.result, Err(LockedError::Inner(error)) if error == "ERR_DEPLOY_FAILED"),
            "{failed_apply:?}"
        );
        assert_eq!(backend.lock_of("main"), None);
        assert_eq!(
            backend.call_log(),
            [
                "lock dev,main",
                "unlock dev,main",
                "lock dev,main",
                "unlock dev,main"
            ]
        );
    }

    #[tokio::test]
    async fn an_apply_cut_short_still_releases_its_lock() {
        let backend = FakeBackend::new();
        let notices = Arc::new(Mutex::new(Vec::new()));
        let request = request(Duration::ZERO, &notices);
        let applying = under_lock(
            Some((&backend as &dyn ApplyLocks, &request)),
            || async { Ok::<_, String>(()) },
            |()| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok::<_, String>(())
            },
        );
        let cut = tokio::time::timeout(Duration::from_millis(100), applying).await;
        assert!(cut.is_err());
        // Dropped with the future: released without waiting, as the helper does when its input closes.
        assert_eq!(backend.lock_of("main"), None);
        assert_eq!(backend.call_log(), ["lock dev,main"]);
    }

    #[tokio::test]
    async fn a_lock_removed_meanwhile_is_reported_at_the_release_and_the_result_stands() {
        let backend = FakeBackend::new();
        let notices = Arc::new(Mutex::new(Vec::new()));
        let request = request(Duration::ZERO, &notices);
        let locked = under_lock(
            Some((&backend as &dyn ApplyLocks, &request)),
            || async { Ok::<_, String>(()) },
            |()| async {
                let id = backend.lock_of("main").unwrap().id;
                let removed = backend.force_unlock("main", &id).await.unwrap();
                assert!(matches!(removed, ForceUnlock::Removed(_)), "{removed:?}");
                Ok::<_, String>("applied")
            },
        )
        .await;
        assert_eq!(locked.result.unwrap(), "applied");
        match locked.release {
            Some(ReleaseProblem::Lost {
                lock_id,
                environments,
            }) => {
                assert_eq!(lock_id, "lk-fake1");
                assert_eq!(environments, ["main"]);
            }
            other => panic!("expected a lost lock, got {other:?}"),
        }
        assert_eq!(backend.lock_of("dev"), None);
    }

    #[tokio::test]
    async fn a_lock_that_cannot_be_requested_fails_the_apply_unless_the_plan_failed_first() {
        let backend = FakeBackend::new();
        backend.fail_lock(BackendError::NotLoggedIn {
            stderr: "Token missing.".into(),
        });
        let notices = Arc::new(Mutex::new(Vec::new()));
        let request = request(Duration::ZERO, &notices);
        let locks = Some((&backend as &dyn ApplyLocks, &request));
        let locked = under_lock(
            locks,
            || async { Ok::<_, String>(()) },
            |()| async { Ok::<_, String>(()) },
        )
        .await;
        assert!(
            matches!(
                locked.result,
                Err(LockedError::Lock(BackendError::NotLoggedIn { .. }))
            ),
            "{locked:?}"
        );
        let locked = under_lock(
            locks,
            || async { Err::<(), _>("ERR_MANIFEST_READ".to_owned()) },
            |()| async { Ok::<_, String>(()) },
        )
        .await;
        assert!(
            matches!(&locked.result, Err(LockedError::Inner(error)) if error == "ERR_MANIFEST_READ"),
            "{locked:?}"
        );
    }

    #[tokio::test]
    async fn without_a_request_nothing_is_locked() {
        let locked = under_lock(
            None,
            || async { Ok::<_, String>(1) },
            |plan| async move { Ok::<_, String>(plan + 1) },
        )
        .await;
        assert_eq!(locked.result.unwrap(), 2);
        assert!(locked.release.is_none());
    }

    #[test]
    fn the_holder_is_the_github_run_or_user_at_host() {
        let github = |name: &str| {
            match name {
                "GITHUB_SERVER_URL" => Some("https://github.com"),
                "GITHUB_REPOSITORY" => Some("acme/theory"),
                "GITHUB_RUN_ID" => Some("12345"),
                "GITHUB_ACTOR" => Some("octocat"),
                "USER" => Some("runner"),
                _ => None,
            }
            .map(str::to_owned)
        };
        assert_eq!(
            holder_from(github, "fv-az1", "apply".into(), "processors.toml".into()),
            LockHolder {
                who: "octocat in https://github.com/acme/theory/actions/runs/12345".into(),
                operation: "apply".into(),
                manifest: "processors.toml".into(),
            }
        );
        let person = |name: &str| (name == "USER").then(|| "alice".to_owned());
        assert_eq!(
            holder_from(person, "laptop", "apply plan.json".into(), "p.toml".into()).who,
            "alice@laptop"
        );
        assert_eq!(
            holder_from(|_: &str| None, "laptop", String::new(), String::new()).who,
            "unknown@laptop"
        );
    }
}

mod release_records {
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
}
