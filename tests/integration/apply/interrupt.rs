//! Ctrl-C and SIGTERM mid-apply.

use super::*;

#[test]
fn ctrl_c_mid_apply_kills_the_running_deploy_and_starts_nothing_new() {
    interrupt_mid_apply(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn sigterm_mid_apply_kills_the_running_deploy_and_starts_nothing_new() {
    interrupt_mid_apply(nix::sys::signal::Signal::SIGTERM);
}

/// Sends `signal` to modalplan while its first deploy hangs at publish; asserts what it reports and
/// that Modal is left as it was.
fn interrupt_mid_apply(signal: nix::sys::signal::Signal) {
    let project = Project::new(
        ModalCli::New,
        &(processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"])
            + &processor("replicate/generic@1", REPLICATE, &[])),
    );
    // Every deploy hangs at publish for a minute.
    project
        .emulator
        .add_fault(&json!({"rpc": "AppPublish", "latency_ms": 60000}));
    let child = project
        .command(&[
            "apply",
            "--yes",
            "--no-registry-check",
            "--parallelism",
            "1",
            "--grace-period",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start modalplan");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !project
        .emulator
        .rpcs()
        .iter()
        .any(|rpc| rpc == "AppPublish")
    {
        assert!(Instant::now() < deadline, "no deploy reached publish");
        std::thread::sleep(Duration::from_millis(100));
    }
    let started = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        signal,
    )
    .expect("signal modalplan");
    let output = child.wait_with_output().expect("modalplan ends");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        output.status.code(),
        Some(130),
        "{signal}: {}",
        describe(&output)
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("interrupted: starting nothing new; running deploys get 1s to finish"),
        "{stderr}"
    );
    let stdout = text(&output.stdout);
    assert!(stdout.contains("Apply interrupted: "), "{stdout}");
    // The first app (plan order) was cut before publishing: unchanged; the second never started.
    assert_eq!(
        row(&output, "llm-litellm-v1"),
        "llm-litellm-v1 | main | unchanged at v2 (ERR_INTERRUPTED) | v2"
    );
    assert_eq!(
        row(&output, "replicate-generic-v1"),
        "replicate-generic-v1 | main | not started | -"
    );
    assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 2));
    assert_eq!(project.live("replicate-generic-v1").0, "stopped");
    assert_eq!(project.rpc_count("AppPublish"), 1);
}
