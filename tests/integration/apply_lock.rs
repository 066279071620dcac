//! The apply lock end to end: a held lock refuses the apply, two applies at once deploy once,
//! `--lock-timeout` waits, every path releases the lock (a killed apply too), `force-unlock` removes only
//! the lock named; through the real `modal` CLI against the emulator.

use std::process::Output;
use std::time::{Duration, Instant};

use modalplan::backend::modal_cli::helper;
use serde_json::{Value, json};

use crate::apply::{LITELLM_DEAD, LITELLM_GOOD, Project, describe, flat, processor, row, text};
use crate::support::emulator::{Emulator, ModalCli};

/// The entries of the `modalplan-locks` Dict of `main`: 0 when no apply holds its lock (the Dict may not
/// exist yet), 2 when one does (the lock and its heartbeat).
pub(crate) fn lock_entries(project: &Project) -> usize {
    project.emulator.state()["dicts"]
        .as_object()
        .map_or(0, |dicts| {
            dicts
                .values()
                .filter(|dict| dict["name"] == "modalplan-locks" && dict["environment"] == "main")
                .map(|dict| dict["entries"].as_object().map_or(0, serde_json::Map::len))
                .sum()
        })
}

/// The names of the Dict RPCs that reached the emulator, in order.
fn dict_rpcs(project: &Project) -> Vec<String> {
    dict_rpcs_of(&project.emulator, "modalplan-locks")
}

/// The Dict RPCs that reached the Dict named `name`, in order (by name for a lookup, by id after).
pub(crate) fn dict_rpcs_of(emulator: &Emulator, name: &str) -> Vec<String> {
    let ids: Vec<String> = emulator
        .state()
        .get("dicts")
        .and_then(Value::as_object)
        .map(|dicts| {
            dicts
                .iter()
                .filter(|(_, dict)| dict["name"] == name)
                .map(|(id, _)| id.clone())
                .collect()
        })
        .unwrap_or_default();
    emulator
        .calls()
        .into_iter()
        .filter(|call| {
            call["deployment_name"].as_str() == Some(name)
                || call["dict_id"]
                    .as_str()
                    .is_some_and(|id| ids.iter().any(|known| known == id))
        })
        .map(|call| call["rpc"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Another run's lock of `main`, held by modalplan's own lock helper on the emulator's CLI interpreter,
/// as `alice@laptop`. Returns the helper and the lock id.
pub(crate) fn hold_lock(project: &Project) -> (std::process::Child, String) {
    hold_lock_in(&project.emulator, "main")
}

/// modalplan's lock helper on the emulator's CLI interpreter, its standard input and output piped.
fn start_lock_helper(emulator: &Emulator, stderr: std::process::Stdio) -> std::process::Child {
    std::process::Command::new(emulator.python())
        .arg("-c")
        .arg(helper::program(helper::Op::Lock))
        .envs(emulator.envs())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start the lock helper")
}

/// The reply of one line the helper wrote.
fn reply_of(line: &str) -> Value {
    helper::read_reply(line)
        .unwrap_or_else(|| panic!("no reply line: {line}"))
        .1
}

/// [`hold_lock`] of `environment` on any emulator. Its heartbeat is refreshed every hour, so that it
/// stays what a test read while the test runs.
pub(crate) fn hold_lock_in(
    emulator: &Emulator,
    environment: &str,
) -> (std::process::Child, String) {
    use std::io::{BufRead, Write};
    let mut child = start_lock_helper(emulator, std::process::Stdio::null());
    let request = json!({
        "mode": "hold",
        "environments": [environment],
        "holder": {"who": "alice@laptop", "operation": "apply", "manifest": "processors.toml"},
        "wait_s": 0,
        "heartbeat_s": 3600,
    });
    let stdin = child.stdin.as_mut().expect("stdin");
    write!(
        stdin,
        "{}",
        helper::request_line(0, helper::Op::Lock, &request)
    )
    .expect("send the request");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("the helper answers");
    let answer = reply_of(&line);
    assert_eq!(answer["event"], "acquired", "{line}");
    (child, answer["lock_id"].as_str().expect("an id").to_owned())
}

/// The lock of `environment` as modalplan's lock helper shows it (`null` when none): the record with
/// its `heartbeat_at`.
pub(crate) fn show_lock(emulator: &Emulator, environment: &str) -> Value {
    let mut child = start_lock_helper(emulator, std::process::Stdio::piped());
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        write!(
            stdin,
            "{}",
            helper::request_line(
                0,
                helper::Op::Lock,
                &json!({"mode": "show", "environment": environment})
            )
        )
        .expect("send the request");
    }
    let output = child.wait_with_output().expect("the helper ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer = helper::reply(&stdout).unwrap_or_else(|| {
        panic!(
            "no reply: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(answer["event"], "shown", "{answer}");
    // The Dict's entries, as modalplan reads them into the record with its `heartbeat_at`.
    let entries = &answer["lock"];
    if entries.is_null() {
        return Value::Null;
    }
    let mut lock = entries["apply"].clone();
    let heartbeat = &entries[format!(
        "apply/heartbeat/{}",
        lock["id"].as_str().unwrap_or_default()
    )];
    if let Some(at) = heartbeat.get("heartbeat_at") {
        lock["heartbeat_at"] = at.clone();
    }
    lock
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_held_lock_refuses_the_apply_and_deploys_nothing_with_each_cli() {
    for cli in ModalCli::ALL {
        let project = Project::new(
            cli,
            &processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"]),
        );
        let (mut holder, lock_id) = hold_lock(&project);
        let state_before = project.emulator.state()["apps"].clone();
        project.emulator.clear_calls();

        let output = project.apply(&[]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        let stderr = flat(&text(&output.stderr));
        for part in [
            "ERR_LOCKED".to_owned(),
            "the apply lock of `main` is held by alice@laptop (apply, processors.toml) since "
                .to_owned(),
            ", last heartbeat 20".to_owned(),
            format!("lock id {lock_id}: nothing was applied"),
            format!(
                "if that run is gone (its last heartbeat is old), remove its lock: `modalplan force-unlock --env main {lock_id}`"
            ),
        ] {
            assert!(
                stderr.contains(&flat(&part)),
                "{cli:?}: {part}\n{}",
                describe(&output)
            );
        }
        assert_eq!(text(&output.stdout), "", "{cli:?}");
        // Nothing deployed, nothing changed: the put-if-absent failed, the holder was read, that is all.
        assert_eq!(project.emulator.state()["apps"], state_before, "{cli:?}");
        assert_eq!(
            dict_rpcs(&project),
            ["DictGetOrCreate", "DictUpdate", "DictGet", "DictGet"],
            "{cli:?}"
        );
        for rpc in [
            "AppCreate",
            "AppPublish",
            "FunctionCreate",
            "ImageGetOrCreate",
        ] {
            assert_eq!(project.rpc_count(rpc), 0, "{cli:?}: {rpc}");
        }
        // The other run's lock is untouched; it releases it when its input closes.
        assert_eq!(lock_entries(&project), 2, "{cli:?}");
        drop(holder.stdin.take());
        assert!(holder.wait().expect("the helper ends").success());
        assert_eq!(lock_entries(&project), 0, "{cli:?}");
    }
}

/// Two applies of the same change started at the same instant, each deploy slowed at publish.
fn race(extra: &[&str]) -> (Project, Vec<Output>) {
    let project = Project::new(
        ModalCli::New,
        &processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"]),
    );
    project
        .emulator
        .add_fault(&json!({"rpc": "AppPublish", "latency_ms": 3000}));
    let mut arguments = vec!["apply", "--yes", "--no-registry-check"];
    arguments.extend_from_slice(extra);
    let children: Vec<std::process::Child> = (0..2)
        .map(|_| {
            project
                .command(&arguments)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start modalplan")
        })
        .collect();
    let outputs = children
        .into_iter()
        .map(|child| child.wait_with_output().expect("modalplan ends"))
        .collect();
    (project, outputs)
}

#[test]
fn two_applies_started_at_once_deploy_once_and_the_other_is_refused() {
    let (project, outputs) = race(&[]);
    let mut codes: Vec<Option<i32>> = outputs.iter().map(|output| output.status.code()).collect();
    codes.sort();
    assert_eq!(
        codes,
        [Some(0), Some(1)],
        "{}\n{}",
        describe(&outputs[0]),
        describe(&outputs[1])
    );
    let winner = outputs
        .iter()
        .find(|output| output.status.code() == Some(0))
        .unwrap();
    let loser = outputs
        .iter()
        .find(|output| output.status.code() == Some(1))
        .unwrap();
    assert_eq!(
        row(winner, "llm-litellm-v1"),
        "llm-litellm-v1 | main | deployed v3 | v3"
    );
    let stderr = flat(&text(&loser.stderr));
    assert!(stderr.contains("ERR_LOCKED"), "{}", describe(loser));
    assert!(
        stderr.contains(&flat("(apply, processors.toml) since ")),
        "{}",
        describe(loser)
    );
    assert!(
        stderr.contains(&flat(": nothing was applied")),
        "{}",
        describe(loser)
    );
    assert_eq!(text(&loser.stdout), "", "{}", describe(loser));
    assert_eq!(project.rpc_count("AppPublish"), 1);
    assert_eq!(project.history("llm-litellm-v1").len(), 3);
    assert_eq!(lock_entries(&project), 0);
}

#[test]
fn with_a_lock_timeout_the_second_apply_waits_then_plans_again_and_finds_no_changes() {
    let (project, outputs) = race(&["--lock-timeout", "2m"]);
    for output in &outputs {
        assert_eq!(output.status.code(), Some(0), "{}", describe(output));
    }
    let deployed: Vec<&Output> = outputs
        .iter()
        .filter(|output| text(&output.stdout).contains("Apply complete: 1 deployed"))
        .collect();
    let waited: Vec<&Output> = outputs
        .iter()
        .filter(|output| {
            text(&output.stdout) == "No changes: Modal matches the manifest. Nothing to apply.\n"
        })
        .collect();
    assert_eq!(
        (deployed.len(), waited.len()),
        (1, 1),
        "{}\n{}",
        describe(&outputs[0]),
        describe(&outputs[1])
    );
    let stderr = flat(&text(&waited[0].stderr));
    assert!(
        stderr.contains(&flat(
            "waiting up to 2m for the apply lock of `main`: held by "
        )),
        "{}",
        describe(waited[0])
    );
    assert_eq!(project.rpc_count("AppPublish"), 1);
    assert_eq!(project.history("llm-litellm-v1").len(), 3);
    assert_eq!(lock_entries(&project), 0);
}

#[test]
fn the_lock_is_released_after_a_successful_and_after_a_failed_apply() {
    let project = Project::new(
        ModalCli::Old,
        &processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"]),
    );
    let output = project.apply(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(lock_entries(&project), 0);
    // Taken (lock and heartbeat), then both popped after checking the id.
    assert_eq!(
        dict_rpcs(&project),
        [
            "DictGetOrCreate",
            "DictUpdate",
            "DictUpdate",
            "DictGet",
            "DictPop",
            "DictPop"
        ]
    );

    project.write_manifest(&processor(
        "llm/litellm@1",
        LITELLM_DEAD,
        &["OPENAI_API_KEY"],
    ));
    let output = project.apply(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(
        row(&output, "llm-litellm-v1"),
        "llm-litellm-v1 | main | unchanged at v3 (ERR_DEPLOY_FAILED) | v3"
    );
    assert_eq!(lock_entries(&project), 0);
    // "No changes" releases it too.
    project.write_manifest(&processor(
        "llm/litellm@1",
        LITELLM_GOOD,
        &["OPENAI_API_KEY"],
    ));
    project.emulator.clear_calls();
    let output = project.apply(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        text(&output.stdout),
        "No changes: Modal matches the manifest. Nothing to apply.\n"
    );
    assert_eq!(lock_entries(&project), 0);
    assert_eq!(
        dict_rpcs(&project)
            .iter()
            .filter(|rpc| *rpc == "DictPop")
            .count(),
        2
    );
}

#[test]
fn a_killed_apply_still_releases_its_lock() {
    let project = Project::new(
        ModalCli::New,
        &processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"]),
    );
    project
        .emulator
        .add_fault(&json!({"rpc": "AppPublish", "latency_ms": 60000}));
    let mut child = project
        .command(&["apply", "--yes", "--no-registry-check"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start modalplan");
    wait_until("a deploy reaching publish", Duration::from_secs(60), || {
        project.rpc_count("AppPublish") > 0
    });
    assert_eq!(lock_entries(&project), 2);
    // SIGKILL: modalplan releases nothing itself; its lock helper sees its input close.
    child.kill().expect("kill modalplan");
    child.wait().expect("reaped");
    wait_until("the lock's release", Duration::from_secs(30), || {
        lock_entries(&project) == 0
    });
    assert!(project.emulator.rpcs().iter().any(|rpc| rpc == "DictPop"));
}

#[test]
fn force_unlock_refuses_another_id_and_removes_the_right_one() {
    let project = Project::new(
        ModalCli::New,
        &processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"]),
    );
    // A run that died with its machine: its helper is gone without releasing.
    let (mut holder, lock_id) = hold_lock(&project);
    holder.kill().expect("kill the holder");
    holder.wait().expect("reaped");
    assert_eq!(lock_entries(&project), 2);

    let output = project.run(&["force-unlock", "--env", "main", "lk-000000000000"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = flat(&text(&output.stderr));
    for part in [
        "ERR_LOCKED".to_owned(),
        "the apply lock of `main` is not `lk-000000000000`: it is held by alice@laptop (apply, processors.toml) since ".to_owned(),
        format!("lock id {lock_id}; nothing was removed"),
    ] {
        assert!(stderr.contains(&flat(&part)), "{part}\n{}", describe(&output));
    }
    assert_eq!(lock_entries(&project), 2);

    let output = project.run(&["force-unlock", "--env", "main", &lock_id]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with(
            "Removed the apply lock of `main`: held by alice@laptop (apply, processors.toml) since 20"
        ),
        "{}",
        describe(&output)
    );
    assert!(
        stdout.ends_with(&format!(", lock id {lock_id}.\n")),
        "{}",
        describe(&output)
    );
    assert_eq!(lock_entries(&project), 0);

    let output = project.run(&["force-unlock", "--env", "main", &lock_id]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        flat(&text(&output.stderr)).contains(&flat(
            "no apply lock is held in `main`; nothing was removed"
        )),
        "{}",
        describe(&output)
    );
    // The next apply takes the lock.
    let output = project.apply(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(project.rpc_count("AppPublish"), 1);
}
