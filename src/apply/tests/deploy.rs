//! A deploy as planned: the live version re-read first, then the smoke check in mock mode; what
//! reaches the backend for no-ops and orphans.

use super::*;

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
