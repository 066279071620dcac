//! Ctrl-C and SIGTERM at each phase, end to end: the built binary, the real `modal` CLI and the emulator.
//! Each test holds a phase open with an emulator latency fault, signals modalplan there, and asserts the
//! exit code, what it printed, that no process it started is left, and what Modal was left with.
//! (The deploy phase is `apply.rs::interrupt_mid_apply`.)

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::json;

use crate::apply::{
    LITELLM_GOOD, LITELLM_SMOKE_ERROR, LITELLM_SMOKE_SLEEPS, Project, describe, processor, row,
    tag_of, text,
};
use crate::apply_lock::{hold_lock, lock_entries};
use crate::support::emulator::ModalCli;

/// The diagnostic an interrupted command prints, as rendered without colour.
fn interrupted(message: &str) -> String {
    format!("ERR_INTERRUPTED\n\n  × {message}\n  help: run it again when you are ready\n\n")
}

fn litellm(image: &str) -> String {
    processor("llm/litellm@1", image, &["OPENAI_API_KEY"])
}

fn start(project: &Project, arguments: &[&str]) -> Child {
    project
        .command(arguments)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start modalplan")
}

/// Waits until the emulator has received `count` calls of `rpc`.
fn wait_for_rpc(project: &Project, rpc: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while project.rpc_count(rpc) < count {
        assert!(
            Instant::now() < deadline,
            "no {rpc} #{count} reached the emulator: {:?}",
            project.emulator.rpcs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, signal: Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, signal).expect("signal modalplan");
}

/// `(pid, parent pid)` of every process.
fn process_table() -> Vec<(i32, i32)> {
    let mut table = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let parent = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').nth(1))
            .and_then(|field| field.parse().ok());
        if let Some(parent) = parent {
            table.push((pid, parent));
        }
    }
    table
}

/// Every process below `pid`.
fn descendants(pid: u32) -> Vec<i32> {
    let table = process_table();
    let mut found = vec![i32::try_from(pid).expect("pid")];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        found.extend(
            table
                .iter()
                .filter(|(_, of)| *of == parent)
                .map(|(child, _)| *child),
        );
        index += 1;
    }
    found.split_off(1)
}

/// Gone, or a zombie its new parent has yet to reap.
fn ended(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.is_empty()
        || stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
}

/// Signals modalplan once its `modal` processes are running, waits for it, and asserts they all ended
/// with it and that it ended within `limit`.
fn interrupt_and_wait(
    project: &Project,
    child: Child,
    signals: &[Signal],
    limit: Duration,
) -> Output {
    let started_processes = descendants(child.id());
    assert!(
        !started_processes.is_empty(),
        "modalplan has no running `modal` process to cut: {:?}",
        project.emulator.rpcs()
    );
    let started = Instant::now();
    for (index, each) in signals.iter().enumerate() {
        if index > 0 {
            std::thread::sleep(Duration::from_millis(300));
        }
        signal(&child, *each);
    }
    let output = child.wait_with_output().expect("modalplan ends");
    assert!(
        started.elapsed() < limit,
        "took {:?} after the signal: {}",
        started.elapsed(),
        describe(&output)
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while started_processes.iter().any(|pid| !ended(*pid)) {
        assert!(
            Instant::now() < deadline,
            "processes modalplan started outlived it: {:?}",
            started_processes
                .iter()
                .filter(|pid| !ended(**pid))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    output
}

#[test]
fn ctrl_c_while_plan_reads_modal_stops_its_reader_and_changes_nothing() {
    interrupted_plan(Signal::SIGINT);
}

#[test]
fn sigterm_while_plan_reads_modal_stops_its_reader_and_changes_nothing() {
    interrupted_plan(Signal::SIGTERM);
}

/// The plan's read of Modal (one observe helper) hangs at `AppList` until the signal.
fn interrupted_plan(each: Signal) {
    let project = Project::new(ModalCli::New, &litellm(LITELLM_GOOD));
    let apps_before = project.emulator.state()["apps"].clone();
    project
        .emulator
        .add_fault(&json!({"rpc": "AppList", "latency_ms": 60000}));
    let child = start(&project, &["plan", "--no-registry-check"]);
    wait_for_rpc(&project, "AppList", 1);
    let output = interrupt_and_wait(&project, child, &[each], Duration::from_secs(10));
    assert_eq!(
        output.status.code(),
        Some(130),
        "{each}: {}",
        describe(&output)
    );
    assert_eq!(text(&output.stdout), "", "{each}");
    assert_eq!(
        text(&output.stderr),
        interrupted("interrupted while reading Modal: nothing was changed"),
        "{each}"
    );
    assert_eq!(project.emulator.state()["apps"], apps_before, "{each}");
}

#[test]
fn ctrl_c_while_apply_makes_its_plan_deploys_nothing() {
    let project = Project::new(ModalCli::New, &litellm(LITELLM_GOOD));
    let apps_before = project.emulator.state()["apps"].clone();
    project
        .emulator
        .add_fault(&json!({"rpc": "AppList", "latency_ms": 60000}));
    let child = start(&project, &["apply", "--yes", "--no-registry-check"]);
    wait_for_rpc(&project, "AppList", 1);
    let output = interrupt_and_wait(&project, child, &[Signal::SIGINT], Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(130), "{}", describe(&output));
    assert_eq!(text(&output.stdout), "");
    assert_eq!(
        text(&output.stderr),
        interrupted("interrupted before anything was applied: nothing was changed")
    );
    assert_eq!(project.emulator.state()["apps"], apps_before);
    assert_eq!(project.rpc_count("AppPublish"), 0);
    assert_eq!(project.rpc_count("FunctionCreate"), 0);
    // The apply lock it took while planning was given back by its helper.
    assert_eq!(lock_entries(&project), 0);
}

#[test]
fn ctrl_c_while_waiting_for_the_apply_lock_ends_at_once_and_leaves_the_other_lock() {
    let project = Project::new(ModalCli::New, &litellm(LITELLM_GOOD));
    let apps_before = project.emulator.state()["apps"].clone();
    let (mut other, _) = hold_lock(&project);
    let child = start(
        &project,
        &[
            "apply",
            "--yes",
            "--no-registry-check",
            "--lock-timeout",
            "10m",
        ],
    );
    // alice's two puts (her lock and its heartbeat), this apply's refused one (after which its helper
    // says it waits), and its first retry a second later: by then the wait has been printed.
    wait_for_rpc(&project, "DictUpdate", 4);
    let output = interrupt_and_wait(&project, child, &[Signal::SIGINT], Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(130), "{}", describe(&output));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("waiting up to 10m for the apply lock of `main`: held by alice@laptop"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(&interrupted(
            "interrupted before anything was applied: nothing was changed"
        )),
        "{stderr}"
    );
    assert_eq!(project.emulator.state()["apps"], apps_before);
    // alice's lock (the lock and its heartbeat) is still there, still hers.
    assert_eq!(lock_entries(&project), 2);
    other.kill().expect("stop the other holder");
    other.wait().expect("reap it");
}

/// v3 is a version whose smoke check answers, for the tests below to roll back to.
fn project_with_a_good_v3() -> (Project, String) {
    let project = Project::new(ModalCli::New, &litellm(LITELLM_GOOD));
    let output = project.apply(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 3));
    let good_tag = tag_of(&project, "llm-litellm-v1");
    (project, good_tag)
}

/// Modal's history: v4 (tagged `v4_tag_prefix…`) was deployed, then one rollback made v3's deployment
/// live as v5.
fn assert_rolled_back_to_v3(project: &Project, v4_tag_prefix: &str, good_tag: &str) {
    let history = project.history("llm-litellm-v1");
    assert_eq!(history.len(), 5, "{history:?}");
    assert!(history[3].1.starts_with(v4_tag_prefix), "{history:?}");
    assert_eq!(history[4], (5, good_tag.to_owned(), 3));
    assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 5));
    assert_eq!(project.rpc_count("AppRollback"), 1);
}

#[test]
fn sigterm_during_a_smoke_check_kills_it_after_the_grace_period_and_rolls_back() {
    let (project, good_tag) = project_with_a_good_v3();
    // v4's smoke function sleeps a minute; the smoke timeout (120s) is not what ends it.
    project.write_manifest(&litellm(LITELLM_SMOKE_SLEEPS));
    let calls_before = project.rpc_count("FunctionMap");
    let child = start(
        &project,
        &[
            "apply",
            "--yes",
            "--no-registry-check",
            "--grace-period",
            "1",
        ],
    );
    wait_for_rpc(&project, "FunctionMap", calls_before + 1);
    let output = interrupt_and_wait(&project, child, &[Signal::SIGTERM], Duration::from_secs(45));
    assert_eq!(output.status.code(), Some(130), "{}", describe(&output));
    let stderr = text(&output.stderr);
    for line in [
        "main/llm-litellm-v1: smoke-checking v4\n",
        "interrupted: starting nothing new; running deploys get 1s to finish (a second Ctrl-C or SIGTERM stops them now)\n",
        "main/llm-litellm-v1: grace period over, killed its running step\n",
        "main/llm-litellm-v1: rolling back to v3\n",
        "main/llm-litellm-v1: smoke-checking v5\n",
    ] {
        assert!(stderr.contains(line), "{line}\n{}", describe(&output));
    }
    assert_eq!(
        row(&output, "llm-litellm-v1"),
        "llm-litellm-v1 | main | rolled back to v3 (live as v5) (ERR_INTERRUPTED) | v5"
    );
    assert!(
        text(&output.stdout).contains("Apply interrupted: "),
        "{}",
        describe(&output)
    );
    assert_rolled_back_to_v3(&project, "mp2-777777777777-", &good_tag);
}

#[test]
fn signals_during_a_rollback_let_it_finish() {
    let (project, good_tag) = project_with_a_good_v3();
    // v4's smoke check fails; its rollback to v3 takes 4s at Modal.
    project.write_manifest(&litellm(LITELLM_SMOKE_ERROR));
    project
        .emulator
        .add_fault(&json!({"rpc": "AppRollback", "latency_ms": 4000}));
    let child = start(
        &project,
        &[
            "apply",
            "--yes",
            "--no-registry-check",
            "--grace-period",
            "1",
        ],
    );
    wait_for_rpc(&project, "AppRollback", 1);
    // Two signals: even the one that ends the grace period does not cut a rollback.
    let output = interrupt_and_wait(
        &project,
        child,
        &[Signal::SIGINT, Signal::SIGINT],
        Duration::from_secs(45),
    );
    assert_eq!(output.status.code(), Some(130), "{}", describe(&output));
    assert_eq!(
        row(&output, "llm-litellm-v1"),
        "llm-litellm-v1 | main | rolled back to v3 (live as v5) (ERR_SMOKE_FAILED) | v5"
    );
    let stdout = text(&output.stdout);
    assert!(stdout.contains("Apply interrupted: "), "{stdout}");
    assert!(!stdout.contains("ERR_ROLLBACK_FAILED"), "{stdout}");
    assert_rolled_back_to_v3(&project, "mp2-444444444444-", &good_tag);
}

#[test]
fn ctrl_c_ends_following_logs_and_the_modal_process_with_it() {
    let project = Project::new(ModalCli::New, &litellm(LITELLM_GOOD));
    // Modal holds a followed log stream open; the emulator's stream is held open by the fault.
    project
        .emulator
        .add_fault(&json!({"rpc": "AppGetLogs", "latency_ms": 60000}));
    let child = start(
        &project,
        &[
            "logs",
            "--env",
            "main",
            "--ref",
            "llm/litellm@1",
            "--ci-name",
            "--follow",
        ],
    );
    wait_for_rpc(&project, "AppGetLogs", 1);
    let output = interrupt_and_wait(&project, child, &[Signal::SIGINT], Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(130), "{}", describe(&output));
    assert_eq!(text(&output.stdout), "");
    assert_eq!(text(&output.stderr), "");
}
