//! `modalplan apply` end to end: the built binary, the real `modal` CLI (both pinned versions) and the
//! emulator. Each test asserts the exit code, the output and the emulator's state afterwards.

mod deploy;
mod interrupt;
mod prune;
mod rollback;
mod saved_plan;

use std::fs;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::support::emulator::{Emulator, ModalCli, repo_root, workspace_seed};
use crate::support::run::{Modalplan, Run};
use crate::support::snapshot;

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
    modalplan::saved_plan::save(&path, &plan).expect("write plan");
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
    serde_json::to_value(manifest.modal.code_snapshot().unwrap()).unwrap()
}

fn manifest_sha256(project: &Project) -> String {
    let bytes = fs::read(project.dir.path().join("processors.toml")).expect("manifest");
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
