//! `invoke`: its errors, each with the fix, and its timeout.

use super::*;

#[test]
fn invoke_errors_name_the_problem_and_the_fix() {
    let workspace = Workspace::new(ModalCli::New, &seed());

    // A payload that is not JSON: the position, before anything reaches Modal.
    let bad = workspace.run(&[
        "invoke",
        "--env",
        "dev",
        "--ref",
        "llm/litellm@1",
        "--payload-json",
        r#"{"schema":"v1" "mode":"mock"}"#,
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(stdout(&bad), "");
    assert_eq!(
        stderr(&bad),
        "ERR_USAGE\n\n  × `--payload-json` is not valid JSON: expected `,` or `}` at line 1, column\n  │ 16\n  help: {\"schema\":\"v1\" \"mode\":\"mock\"}\n                       ^\n        fix the JSON there; in a shell, quote it in single quotes: --payload-\n        json '{\"schema\":\"v1\",\"mode\":\"mock\",\"params\":{}}'\n\n"
    );

    // An unknown ref, with the closest one.
    let unknown = workspace.run(&[
        "invoke",
        "--env",
        "dev",
        "--ref",
        "llm/litelm@1",
        "--payload-json",
        "{}",
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        stderr(&unknown),
        "ERR_USAGE\n\n  × `--ref llm/litelm@1` is not a processor of processors.toml (did you mean\n  │ `llm/litellm@1`?)\n  help: pass one of the refs processors.toml lists: llm/litellm@1\n\n"
    );
    assert!(
        workspace.emulator.calls().is_empty(),
        "{:?}",
        workspace.emulator.calls()
    );

    // Real mode under CI=true is refused before anything reaches Modal.
    let in_ci = workspace
        .modalplan(&[
            "invoke",
            "--env",
            "dev",
            "--ref",
            "llm/litellm@1",
            "--payload-json",
            "{}",
            "--mode",
            "real",
        ])
        .env("CI", "true")
        .run();
    assert_eq!(in_ci.status.code(), Some(1));
    assert_eq!(
        stderr(&in_ci),
        "ERR_USAGE\n\n  × refusing to invoke in mode `real` under CI=true\n  help: real mode calls external providers with real secrets; pass --allow-\n        real-in-ci if this job is meant to, or use --mode mock\n\n"
    );
    assert!(workspace.emulator.calls().is_empty());

    // Real mode in main, where the required secret is missing: the fix, and no call of the function.
    let missing = workspace
        .modalplan(&[
            "invoke",
            "--env",
            "main",
            "--ref",
            "llm/litellm@1",
            "--payload-json",
            r#"{"mode":"real"}"#,
            "--allow-real-in-ci",
        ])
        .env("CI", "true")
        .run();
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        stderr(&missing),
        "ERR_MISSING_SECRET\n\n  × mode `real` of llm/litellm@1 needs the secret OPENAI_API_KEY in\n  │ environment `main`, and it is missing\n  help: create it, then invoke again:\n        modal secret create OPENAI_API_KEY --env main OPENAI_API_KEY=...\n\n"
    );
    assert_eq!(workspace.emulator.rpcs(), ["AppList", "SecretList"]);
    assert!(workspace.rpcs_named("FunctionGet").is_empty());

    // Nothing deployed under the sandbox name: the deploy to run.
    workspace.emulator.clear_calls();
    let absent = workspace.run(&[
        "invoke",
        "--env",
        "dev",
        "--ref",
        "llm/litellm@1",
        "--payload-json",
        "{}",
    ]);
    assert_eq!(absent.status.code(), Some(1));
    assert_eq!(
        stderr(&absent),
        format!(
            "ERR_APP_NOT_DEPLOYED\n\n  × app `{SANDBOX}` is not deployed in environment `dev`\n  help: deploy it first: modalplan deploy --env dev --ref llm/litellm@1\n\n"
        )
    );
    let gets = workspace.rpcs_named("FunctionGet");
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0]["app_name"], SANDBOX);
    // And with --app-name, the deploy names it too.
    let named = workspace.run(&[
        "invoke",
        "--env",
        "dev",
        "--ref",
        "llm/litellm@1",
        "--payload-json",
        "{}",
        "--app-name",
        "my-try",
    ]);
    assert_eq!(named.status.code(), Some(1));
    assert_eq!(
        stderr(&named),
        "ERR_APP_NOT_DEPLOYED\n\n  × app `my-try` is not deployed in environment `dev`\n  help: deploy it first: modalplan deploy --env dev --ref llm/litellm@1 --app-\n        name my-try\n\n"
    );
}

#[test]
fn invoke_times_out_when_modal_does_not_answer() {
    let workspace = Workspace::new(ModalCli::New, &seed());
    let deploy = workspace.run(&[
        "deploy",
        "--no-registry-check",
        "--env",
        "dev",
        "--ref",
        "llm/litellm@1",
        "--app-name",
        "slow-app",
        "--no-smoke",
    ]);
    assert_eq!(deploy.status.code(), Some(0), "{}", stderr(&deploy));
    assert!(
        stdout(&deploy).starts_with(
            "Deployed llm/litellm@1 to `dev` as `slow-app` (v1, smoke check skipped).\nCall it with:\n  modalplan invoke --env dev --ref llm/litellm@1 --app-name slow-app --payload-json "
        ),
        "{}",
        stdout(&deploy)
    );
    workspace
        .emulator
        .add_fault(&json!({"rpc": "FunctionGetOutputs", "latency_ms": 8000}));
    let started = std::time::Instant::now();
    let slow = workspace.run(&[
        "invoke",
        "--env",
        "dev",
        "--ref",
        "llm/litellm@1",
        "--app-name",
        "slow-app",
        "--payload-json",
        "{}",
        "--timeout",
        "3s",
    ]);
    assert_eq!(slow.status.code(), Some(1), "{}", stderr(&slow));
    assert_eq!(
        stderr(&slow),
        "ERR_MODAL_TIMEOUT\n\n  × `slow-app.run` in environment `dev` did not answer within 3s\n  help: raise it with --timeout, or look at what the function did: modalplan\n        logs --env dev --ref llm/litellm@1 --app-name slow-app\n\n"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(40));
}
