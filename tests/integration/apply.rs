//! `modalplan apply` end to end: the built binary, the real `modal` CLI (both pinned versions) and the
//! emulator. Each test asserts the exit code, the output and the emulator's state afterwards.

use std::fs;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::support::emulator::{Emulator, ModalCli, repo_root, workspace_seed};
use crate::support::run::{Modalplan, Run};

pub(crate) const LITELLM_GOOD: &str = "ghcr.io/acme/theory/llm-litellm@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const LITELLM_GOOD_2: &str = "ghcr.io/acme/theory/llm-litellm@sha256:2222222222222222222222222222222222222222222222222222222222222222";
pub(crate) const LITELLM_DEAD: &str = "ghcr.io/acme/theory/llm-litellm@sha256:dead00000000000000000000000000000000000000000000000000000000beef";
/// Pullable; its containers' smoke function answers an error envelope.
pub(crate) const LITELLM_SMOKE_ERROR: &str = "ghcr.io/acme/theory/llm-litellm@sha256:4444444444444444444444444444444444444444444444444444444444444444";
/// Pullable; its containers' smoke function raises.
const LITELLM_SMOKE_RAISES: &str = "ghcr.io/acme/theory/llm-litellm@sha256:5555555555555555555555555555555555555555555555555555555555555555";
/// Pullable; its containers' smoke function sleeps 60s, past the smoke timeout the tests set.
pub(crate) const LITELLM_SMOKE_SLEEPS: &str = "ghcr.io/acme/theory/llm-litellm@sha256:7777777777777777777777777777777777777777777777777777777777777777";
pub(crate) const REPLICATE: &str = "ghcr.io/acme/theory/replicate-generic@sha256:3333333333333333333333333333333333333333333333333333333333333333";
pub(crate) const WHISPER: &str = "ghcr.io/acme/theory/audio-whisper@sha256:6666666666666666666666666666666666666666666666666666666666666666";

/// The workspace seed, plus the images above and two apps named like ours that the manifest does not
/// list (`llm-oldtool-v1`, and `llm-keep-v1` which the manifest protects).
pub(crate) fn seed() -> Value {
    let mut seed = workspace_seed();
    let images = seed["images"].as_object_mut().expect("images");
    images.insert(
        LITELLM_SMOKE_ERROR.into(),
        json!({"env": {"SMOKE_RESULT": "error"}, "pullable": true}),
    );
    images.insert(
        LITELLM_SMOKE_RAISES.into(),
        json!({"env": {"SMOKE_RESULT": "raise"}, "pullable": true}),
    );
    images.insert(
        LITELLM_SMOKE_SLEEPS.into(),
        json!({"env": {"SMOKE_RESULT": "sleep"}, "pullable": true}),
    );
    images.insert(WHISPER.into(), json!({"env": {}, "pullable": true}));
    let main = seed["apps"]["main"].as_array_mut().expect("main apps");
    for name in ["llm-oldtool-v1", "llm-keep-v1"] {
        main.push(json!({
            "name": name,
            "state": "deployed",
            "created_at": "2026-01-04T10:00:00Z",
            "history": [{"version": 1, "tag": "", "deployed_at": "2026-01-04T10:00:00Z", "deployed_by": "alice", "client_version": "1.0.0"}]
        }));
    }
    seed
}

/// The example module, with a smoke function that fails when the image says so.
fn module_source() -> String {
    let source = fs::read_to_string(repo_root().join("examples/modal_app.py")).expect("module");
    let smoke_return = "    print(f\"smoke processor={PROCESSOR_REF} mode=mock\")\n    return _process(payload, \"mock\")\n";
    assert!(
        source.contains(smoke_return),
        "examples/modal_app.py changed its smoke function"
    );
    source.replace(
        smoke_return,
        "    print(f\"smoke processor={PROCESSOR_REF} mode=mock\")\n    if os.environ.get(\"SMOKE_RESULT\") == \"error\":\n        return _envelope(\"mock\", status=\"error\", error={\"code\": \"ERR_ADAPTER\", \"message\": \"mock adapter failed to load\"})\n    if os.environ.get(\"SMOKE_RESULT\") == \"raise\":\n        raise RuntimeError(\"mock adapter crashed\")\n    if os.environ.get(\"SMOKE_RESULT\") == \"sleep\":\n        import time\n        time.sleep(60)\n    return _process(payload, \"mock\")\n",
    )
}

pub(crate) fn processor(reference: &str, image: &str, secrets: &[&str]) -> String {
    let required: Vec<String> = secrets.iter().map(|name| format!("\"{name}\"")).collect();
    format!(
        "[[processor]]\nref = \"{reference}\"\nimage.oci = \"{image}\"\nsecrets.required = [{}]\nruntime = {{ cpu = 1.0, memory_mb = 2048, timeout_s = 60 }}\n\n",
        required.join(", ")
    )
}

/// A project folder (manifest and module) next to a running emulator.
pub(crate) struct Project {
    pub(crate) emulator: Emulator,
    pub(crate) dir: TempDir,
}

impl Project {
    pub(crate) fn new(cli: ModalCli, processors: &str) -> Project {
        Project::with_seed(cli, processors, &seed())
    }

    pub(crate) fn with_seed(cli: ModalCli, processors: &str, seed: &Value) -> Project {
        let emulator = Emulator::start(cli, seed);
        let dir = tempfile::Builder::new()
            .prefix("modalplan-apply-")
            .tempdir()
            .expect("temp dir");
        fs::create_dir_all(dir.path().join("code")).expect("code dir");
        fs::write(dir.path().join("code/modal_app.py"), module_source()).expect("module");
        let project = Project { emulator, dir };
        project.write_manifest(processors);
        project
    }

    pub(crate) fn write_manifest(&self, processors: &str) {
        let manifest = format!(
            "version = 1\nprotect = [\"llm-keep-v1\"]\n\n[modal]\nmodule = \"modal_app\"\nworkdir = \"code\"\nenvironments = [\"main\"]\n\n[smoke]\nfunction = \"smoke\"\npayload = {{ schema = \"v1\", mode = \"real\", params = {{}} }}\ntimeout = \"120s\"\n\n[secrets.REGISTRY_AUTH]\nkeys = [\"REGISTRY_USERNAME\", \"REGISTRY_PASSWORD\"]\n\n[secrets.OPENAI_API_KEY]\nkeys = [\"OPENAI_API_KEY\"]\n\n{processors}"
        );
        fs::write(self.dir.path().join("processors.toml"), manifest).expect("manifest");
    }

    /// The project's folder (manifest, module, logs).
    pub(crate) fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// modalplan in the project's folder, talking to its emulator.
    pub(crate) fn modalplan(&self, arguments: &[&str]) -> Modalplan {
        Modalplan::new()
            .current_dir(self.dir.path())
            .env_of(&self.emulator)
            .args(arguments)
    }

    pub(crate) fn command(&self, arguments: &[&str]) -> std::process::Command {
        self.modalplan(arguments).into_command()
    }

    pub(crate) fn run(&self, arguments: &[&str]) -> Run {
        self.modalplan(arguments).run()
    }

    pub(crate) fn apply(&self, extra: &[&str]) -> Run {
        let mut arguments = vec!["apply", "--yes", "--no-registry-check"];
        arguments.extend_from_slice(extra);
        self.run(&arguments)
    }

    fn app(&self, name: &str) -> Value {
        let state = self.emulator.state();
        let apps: Vec<Value> = state["apps"]
            .as_object()
            .expect("apps")
            .values()
            .filter(|app| app["environment"] == "main" && app["name"] == name)
            .cloned()
            .collect();
        apps.iter()
            .find(|app| app["state"] != "stopped")
            .or_else(|| apps.last())
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// `(version, tag, rollback_version)` of an app's history, oldest first.
    pub(crate) fn history(&self, name: &str) -> Vec<(u64, String, u64)> {
        let app = self.app(name);
        let mut history: Vec<(u64, String, u64)> = app["history"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|entry| {
                        (
                            entry["version"].as_u64().unwrap_or(0),
                            entry["tag"].as_str().unwrap_or("").to_owned(),
                            entry["rollback_version"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        history.sort();
        history
    }

    /// `(state, current version)`.
    pub(crate) fn live(&self, name: &str) -> (String, u64) {
        let app = self.app(name);
        (
            app["state"].as_str().unwrap_or("absent").to_owned(),
            app["current_version"].as_u64().unwrap_or(0),
        )
    }

    pub(crate) fn rpc_count(&self, rpc: &str) -> usize {
        self.emulator
            .rpcs()
            .iter()
            .filter(|name| *name == rpc)
            .count()
    }
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// The summary table's row of an app, its duration cut off.
pub(crate) fn row(output: &Output, app: &str) -> String {
    let stdout = text(&output.stdout);
    let line = stdout
        .lines()
        .find(|line| line.starts_with(&format!("{app} ")))
        .unwrap_or_else(|| panic!("no row for {app}:\n{}", describe(output)));
    let cells: Vec<&str> = line
        .split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect();
    cells[..cells.len() - 1].join(" | ")
}

pub(crate) fn tag_of(project: &Project, name: &str) -> String {
    project
        .history(name)
        .last()
        .map(|entry| entry.1.clone())
        .unwrap_or_default()
}

#[test]
fn creates_updates_then_changes_nothing_with_each_cli() {
    for cli in ModalCli::ALL {
        let project = Project::new(
            cli,
            &(processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"])
                + &processor("replicate/generic@1", REPLICATE, &[])),
        );
        // llm-litellm-v1 is live at v2 (deployed outside modalplan): an update. replicate-generic-v1 is
        // stopped: a create.
        let output = project.apply(&[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-litellm-v1"),
            "llm-litellm-v1 | main | deployed v3 | v3"
        );
        assert_eq!(
            row(&output, "replicate-generic-v1"),
            "replicate-generic-v1 | main | deployed v1 | v1"
        );
        assert!(
            text(&output.stdout).contains("Apply complete: 2 deployed, 2 unchanged, 0 failed in "),
            "{}",
            describe(&output)
        );
        assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 3));
        assert_eq!(project.live("replicate-generic-v1"), ("deployed".into(), 1));
        let litellm_tag = tag_of(&project, "llm-litellm-v1");
        assert!(
            litellm_tag.starts_with("mp2-111111111111-"),
            "{litellm_tag}"
        );
        // The deploy log is kept, and names no secret value.
        let log = fs::read_to_string(
            project
                .dir
                .path()
                .join(".modalplan/logs/main/llm-litellm-v1.log"),
        )
        .expect("deploy log");
        assert!(
            log.contains("deploy --env=main --name=llm-litellm-v1 --tag=mp2-111111111111-"),
            "{log}"
        );
        assert!(!log.contains("sk-main-not-a-real-key"), "{log}");
        // Both smoke checks reached the deployed functions, in mock mode.
        assert!(
            project.rpc_count("FunctionGetOutputs") >= 2,
            "{:?}",
            project.emulator.rpcs()
        );

        // Again: nothing to do, nothing deployed.
        project.emulator.clear_calls();
        let output = project.apply(&[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            text(&output.stdout),
            "No changes: Modal matches the manifest. Nothing to apply.\n"
        );
        assert_eq!(project.rpc_count("AppPublish"), 0);
        assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 3));

        // A new image: an update to v4.
        project.write_manifest(
            &(processor("llm/litellm@1", LITELLM_GOOD_2, &["OPENAI_API_KEY"])
                + &processor("replicate/generic@1", REPLICATE, &[])),
        );
        let output = project.apply(&[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-litellm-v1"),
            "llm-litellm-v1 | main | deployed v4 | v4"
        );
        assert_eq!(
            row(&output, "replicate-generic-v1"),
            "replicate-generic-v1 | main | unchanged at v1 | v1"
        );
        assert!(tag_of(&project, "llm-litellm-v1").starts_with("mp2-222222222222-"));
        assert_eq!(project.rpc_count("AppPublish"), 1);
    }
}

#[test]
fn a_failed_smoke_check_is_rolled_back_with_each_cli() {
    for (cli, image, message) in [
        (
            ModalCli::New,
            LITELLM_SMOKE_ERROR,
            "smoke check `smoke` of `llm-litellm-v1` failed: mock adapter failed to load",
        ),
        (
            ModalCli::Old,
            LITELLM_SMOKE_RAISES,
            "smoke check `smoke` of `llm-litellm-v1` failed: RuntimeError: mock adapter crashed",
        ),
    ] {
        let project = Project::new(
            cli,
            &processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"]),
        );
        let output = project.apply(&["--target", "llm/litellm@1"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        let good_tag = tag_of(&project, "llm-litellm-v1");

        project.write_manifest(&processor("llm/litellm@1", image, &["OPENAI_API_KEY"]));
        let output = project.apply(&["--target", "llm/litellm@1"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-litellm-v1"),
            "llm-litellm-v1 | main | rolled back to v3 (live as v5) (ERR_SMOKE_FAILED) | v5"
        );
        let stdout = text(&output.stdout);
        assert!(
            stdout.contains(&format!("  ERR_SMOKE_FAILED: {message}\n")),
            "{cli:?}: {}",
            describe(&output)
        );
        assert!(
            stdout.contains("llm-litellm-v1 (main): rolled back to v3 (live as v5)\n"),
            "{cli:?}: {}",
            describe(&output)
        );
        // v5 runs v3's image again, so the smoke check after the rollback passes.
        assert!(
            !stdout.contains("ERR_ROLLBACK_FAILED"),
            "{cli:?}: the rolled-back version passes its smoke check: {}",
            describe(&output)
        );
        assert!(
            stdout.contains("Apply failed: 0 deployed, 0 unchanged, 1 failed in "),
            "{stdout}"
        );
        // v4 is the failed deploy, v5 the rollback to v3: live again, with v3's tag.
        let history = project.history("llm-litellm-v1");
        assert_eq!(history.len(), 5, "{history:?}");
        let failed_tag_head = format!("mp2-{}-", &image[image.len() - 64..][..12]);
        assert_eq!((history[3].0, history[3].2), (4, 0), "{history:?}");
        assert!(history[3].1.starts_with(&failed_tag_head), "{history:?}");
        assert_eq!(history[4], (5, good_tag.clone(), 3));
        assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 5));
    }
}

#[test]
fn a_bad_digest_fails_the_deploy_with_modals_message_and_changes_nothing() {
    for cli in ModalCli::ALL {
        let project = Project::new(
            cli,
            &processor("llm/litellm@1", LITELLM_DEAD, &["OPENAI_API_KEY"]),
        );
        let output = project.apply(&[]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-litellm-v1"),
            "llm-litellm-v1 | main | unchanged at v2 (ERR_DEPLOY_FAILED) | v2"
        );
        let stdout = text(&output.stdout);
        assert!(
            stdout.contains(&format!(
                "failed with the exception: Failed to pull image {LITELLM_DEAD}: manifest unknown\n"
            )),
            "{cli:?}: {}",
            describe(&output)
        );
        assert!(
            stdout.contains("  log: .modalplan/logs/main/llm-litellm-v1.log\n"),
            "{stdout}"
        );
        assert!(stdout.contains("  | "), "the log tail is shown: {stdout}");
        // Nothing was published; v2 is still live and nothing was rolled back.
        assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 2));
        assert_eq!(project.history("llm-litellm-v1").len(), 2);
        assert_eq!(project.rpc_count("AppPublish"), 0);
        assert_eq!(project.rpc_count("AppRollback"), 0);
    }
}

#[test]
fn one_of_three_failing_leaves_the_other_two_deployed() {
    let project = Project::new(
        ModalCli::New,
        &(processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"])
            + &processor("replicate/generic@1", REPLICATE, &[])
            + &processor("audio/whisper@2", LITELLM_DEAD, &[])),
    );
    let output = project.apply(&["--parallelism", "3"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(
        row(&output, "llm-litellm-v1"),
        "llm-litellm-v1 | main | deployed v3 | v3"
    );
    assert_eq!(
        row(&output, "replicate-generic-v1"),
        "replicate-generic-v1 | main | deployed v1 | v1"
    );
    assert_eq!(
        row(&output, "audio-whisper-v2"),
        "audio-whisper-v2 | main | not created (ERR_DEPLOY_FAILED) | -"
    );
    assert!(text(&output.stdout).contains("Apply failed: 2 deployed, 2 unchanged, 1 failed in "));
    assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 3));
    assert_eq!(project.live("replicate-generic-v1"), ("deployed".into(), 1));
    assert_ne!(project.live("audio-whisper-v2").0, "deployed");
}

/// A plan file as `modalplan plan --out` writes it, for one update of llm-litellm-v1 planned from v2.
fn saved_plan(project: &Project, manifest_sha256: &str, before: &Value) -> std::path::PathBuf {
    let plan = json!({
        "format_version": 2,
        "code": code_of(project),
        "manifest": {"path": "processors.toml", "sha256": manifest_sha256},
        "environments": ["main"],
        "actions": [{
            "environment": "main",
            "ref": "llm/litellm@1",
            "app_name": "llm-litellm-v1",
            "kind": "update",
            "reasons": [],
            "before": before,
            "after": {
                "tag": "mp2-111111111111-aaaaaa-bbbbbb-cccccc-dddddd",
                "image": LITELLM_GOOD,
                "secrets": ["OPENAI_API_KEY"],
                "runtime": {"cpu": 1.0, "memory_mb": 2048, "gpu": null, "timeout_s": 60},
                "smoke": {"function": "smoke", "payload": {"schema": "v1", "mode": "real", "params": {}}, "timeout_s": 120}
            },
            "blockers": []
        }],
        "warnings": []
    });
    let plan: modalplan::plan::Plan = serde_json::from_value(plan).expect("a plan");
    let path = project.dir.path().join("plan.json");
    modalplan::apply::saved::save(&path, &plan).expect("write plan");
    path
}

/// A diagnostic without its frame and with no whitespace at all: miette wraps it to the terminal width,
/// at spaces and after hyphens. Compare with [`flat`] of the expected text.
pub(crate) fn flat(text: &str) -> String {
    text.replace(['│', '×'], "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// The code of the project's workdir, as a plan records it.
fn code_of(project: &Project) -> Value {
    let manifest = modalplan::manifest::load(&project.dir.path().join("processors.toml"))
        .unwrap()
        .manifest;
    serde_json::to_value(modalplan::commands::plan::code_snapshot(&manifest).unwrap()).unwrap()
}

fn manifest_sha256(project: &Project) -> String {
    let bytes = fs::read(project.dir.path().join("processors.toml")).expect("manifest");
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[test]
fn a_saved_plan_is_applied_exactly_or_refused_when_stale() {
    let project = Project::new(
        ModalCli::Old,
        &processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"]),
    );
    let sha = manifest_sha256(&project);

    // Planned against v2 (tag mp-0123456789abcdef), but the manifest changed since.
    let plan = saved_plan(
        &project,
        "sha256:0000",
        &json!({"version": 2, "tag": "mp-0123456789abcdef"}),
    );
    let output = project.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = flat(&text(&output.stderr));
    assert!(stderr.contains("ERR_STALE_PLAN"), "{stderr}");
    assert!(
        stderr.contains(&flat(&format!(
            "the plan is stale: the manifest changed since it was made (sha256:0000 then, {sha} now); plan again"
        ))),
        "{stderr}"
    );

    // Planned against v1: Modal moved since.
    let plan = saved_plan(&project, &sha, &json!({"version": 1, "tag": null}));
    let output = project.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = flat(&text(&output.stderr));
    assert!(stderr.contains("ERR_STALE_PLAN"), "{stderr}");
    assert!(
        stderr.contains(&flat(
            "main/llm-litellm-v1: v1 untagged when planned, v2 tagged mp-0123456789abcdef now"
        )),
        "{stderr}"
    );
    assert_eq!(project.rpc_count("AppPublish"), 0);
    assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 2));

    // Current: applied exactly, with the plan's tag.
    let plan = saved_plan(
        &project,
        &sha,
        &json!({"version": 2, "tag": "mp-0123456789abcdef"}),
    );
    let output = project.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        row(&output, "llm-litellm-v1"),
        "llm-litellm-v1 | main | deployed v3 | v3"
    );
    assert_eq!(
        project.history("llm-litellm-v1").last().cloned(),
        Some((
            3,
            "mp2-111111111111-aaaaaa-bbbbbb-cccccc-dddddd".to_owned(),
            0
        ))
    );
}

#[test]
fn prune_stops_orphans_but_never_a_protected_one() {
    let project = Project::new(
        ModalCli::New,
        &processor("llm/litellm@1", LITELLM_GOOD_2, &["OPENAI_API_KEY"]),
    );
    // Without --prune the orphan stays.
    let output = project.apply(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(project.live("llm-oldtool-v1").0, "deployed");

    let output = project.apply(&["--prune"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        row(&output, "llm-oldtool-v1"),
        "llm-oldtool-v1 | main | stopped (pruned) | -"
    );
    assert_eq!(project.live("llm-oldtool-v1").0, "stopped");
    assert_eq!(project.live("llm-keep-v1").0, "deployed");
    assert_eq!(project.rpc_count("AppStop"), 1);
}

#[test]
fn a_pruned_orphan_moved_since_the_saved_plan_is_refused_and_not_stopped() {
    for cli in ModalCli::ALL {
        // The orphan has two versions, so someone can roll it back between the plan and the apply.
        let mut seed = seed();
        let orphan = seed["apps"]["main"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|app| app["name"] == "llm-oldtool-v1")
            .unwrap();
        orphan["history"] = json!([
            {"version": 1, "tag": "old-1", "deployed_at": "2026-01-04T10:00:00Z", "deployed_by": "alice", "client_version": "1.0.0"},
            {"version": 2, "tag": "old-2", "deployed_at": "2026-01-05T10:00:00Z", "deployed_by": "alice", "client_version": "1.0.0"}
        ]);
        let project = Project::with_seed(
            cli,
            &processor("llm/litellm@1", LITELLM_GOOD_2, &["OPENAI_API_KEY"]),
            &seed,
        );
        let saved = project.dir.path().join("plan.json");
        let output = project.run(&[
            "plan",
            "--prune",
            "--no-registry-check",
            "--out",
            saved.to_str().unwrap(),
        ]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        // The plan shows the orphan's live version and records it.
        assert!(
            text(&output.stdout).contains(
                "  - llm-oldtool-v1 will be stopped\n      --- live\n      +++ planned\n      @@ -1,2 +0,0 @@\n      -version = 2\n      -tag     = old-2\n"
            ),
            "{cli:?}: {}",
            describe(&output)
        );
        let plan: Value = serde_json::from_str(&fs::read_to_string(&saved).unwrap()).unwrap();
        let stop = plan["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|action| action["app_name"] == "llm-oldtool-v1")
            .unwrap();
        assert_eq!(
            (&stop["kind"], &stop["before"]),
            (&json!("stop"), &json!({"version": 2, "tag": "old-2"})),
            "{cli:?}"
        );

        // Someone rolls the orphan back to v1 (live as v3) before the apply.
        let rollback = project
            .emulator
            .modal_command()
            .args(["app", "rollback", "llm-oldtool-v1", "v1", "--env", "main"])
            .output()
            .unwrap();
        assert!(
            rollback.status.success(),
            "{cli:?}: {}",
            describe(&rollback)
        );
        assert_eq!(project.live("llm-oldtool-v1"), ("deployed".into(), 3));

        let output = project.run(&["apply", saved.to_str().unwrap(), "--yes"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        let stderr = flat(&text(&output.stderr));
        assert!(stderr.contains("ERR_STALE_PLAN"), "{cli:?}: {stderr}");
        assert!(
            stderr.contains(&flat(
                "the plan is stale: Modal changed since it was made; plan again\n  main/llm-oldtool-v1: v2 tagged old-2 when planned, v3 tagged old-1 now"
            )),
            "{cli:?}: {stderr}"
        );
        assert_eq!(
            project.live("llm-oldtool-v1"),
            ("deployed".into(), 3),
            "{cli:?}"
        );
        assert_eq!(project.rpc_count("AppStop"), 0, "{cli:?}");
        assert_eq!(project.rpc_count("AppPublish"), 0, "{cli:?}");

        // A plan saved by a modalplan that did not read orphans' histories has no `before` for the
        // stop: apply stops whatever is live, as that version did.
        let old_plan: modalplan::plan::Plan = serde_json::from_value(json!({
            "format_version": 2,
            "code": code_of(&project),
            "manifest": {"path": "processors.toml", "sha256": manifest_sha256(&project)},
            "environments": ["main"],
            "actions": [{
                "environment": "main", "ref": null, "app_name": "llm-oldtool-v1", "kind": "stop",
                "reasons": [], "before": null, "after": null, "blockers": []
            }],
            "warnings": []
        }))
        .unwrap();
        modalplan::apply::saved::save(&saved, &old_plan).unwrap();
        let output = project.run(&["apply", saved.to_str().unwrap(), "--yes"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-oldtool-v1"),
            "llm-oldtool-v1 | main | stopped (pruned) | -"
        );
        assert_eq!(project.live("llm-oldtool-v1").0, "stopped", "{cli:?}");
        assert_eq!(project.rpc_count("AppStop"), 1, "{cli:?}");
    }
}

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

#[test]
fn a_smoke_check_that_times_out_is_rolled_back() {
    let with_smoke_timeout = |image: &str| {
        processor("llm/litellm@1", image, &["OPENAI_API_KEY"])
            .trim_end()
            .to_owned()
            + "\nsmoke.timeout = \"10s\"\n"
    };
    // v3: a version whose smoke check answers, to roll back to.
    let project = Project::new(ModalCli::New, &with_smoke_timeout(LITELLM_GOOD));
    let output = project.apply(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let good_tag = tag_of(&project, "llm-litellm-v1");
    // The smoke check may take 10s; this image's smoke function sleeps far longer.
    project.write_manifest(&with_smoke_timeout(LITELLM_SMOKE_SLEEPS));
    let output = project.apply(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    // v4 is the deploy whose smoke check timed out, v5 the rollback to v3.
    assert_eq!(
        row(&output, "llm-litellm-v1"),
        "llm-litellm-v1 | main | rolled back to v3 (live as v5) (ERR_SMOKE_FAILED) | v5"
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(
            "  ERR_SMOKE_FAILED: smoke check `smoke` of `llm-litellm-v1` failed: no answer within 10s\n"
        ),
        "{}",
        describe(&output)
    );
    assert!(
        !stdout.contains("ERR_ROLLBACK_FAILED"),
        "the rolled-back version passes its smoke check: {}",
        describe(&output)
    );
    let history = project.history("llm-litellm-v1");
    assert_eq!(history.len(), 5, "{history:?}");
    assert!(history[3].1.starts_with("mp2-777777777777-"), "{history:?}");
    assert_eq!(history[4], (5, good_tag, 3));
    assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 5));
    assert_eq!(project.rpc_count("AppRollback"), 1);
}

#[test]
fn a_rollback_that_fails_leaves_the_failed_deploy_live_and_says_so() {
    let project = Project::new(
        ModalCli::New,
        &processor("llm/litellm@1", LITELLM_SMOKE_ERROR, &["OPENAI_API_KEY"]),
    );
    project.emulator.add_fault(&json!({
        "rpc": "AppRollback",
        "status": "PERMISSION_DENIED",
        "message": "rollbacks are not allowed for this workspace"
    }));
    let output = project.apply(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(
        row(&output, "llm-litellm-v1"),
        "llm-litellm-v1 | main | left failed at v3 (ERR_SMOKE_FAILED) | v3"
    );
    let stdout = text(&output.stdout);
    for part in [
        "llm-litellm-v1 (main): left failed at v3\n",
        "  ERR_SMOKE_FAILED: smoke check `smoke` of `llm-litellm-v1` failed: mock adapter failed to load\n",
        "  ERR_ROLLBACK_FAILED: rolling back to v2 failed: ",
        "rollbacks are not allowed for this workspace; v3, deployed by this apply, is still live\n",
        "Apply failed: 0 deployed, 2 unchanged, 1 failed in ",
    ] {
        assert!(stdout.contains(part), "{part}\n{}", describe(&output));
    }
    // The failed deploy is what is live, as the report says; nothing was rolled back.
    let history = project.history("llm-litellm-v1");
    assert_eq!(history.len(), 3, "{history:?}");
    assert!(history[2].1.starts_with("mp2-444444444444-"), "{history:?}");
    assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 3));
    assert_eq!(project.rpc_count("AppRollback"), 1);
}
