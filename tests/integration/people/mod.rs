//! The commands for people (deploy, invoke, logs, smoke, secrets check, status, init, prune, completions,
//! man) through the built binary, the real `modal` CLI and the emulator.

mod deploy;
mod inspect;
mod invoke;
mod sandbox;
mod scaffold;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::emulator::{Emulator, ModalCli, repo_root};
use crate::support::run::{Modalplan, Run};
use crate::support::snapshot;

const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SANDBOX: &str = "alice-feature-x-llm-litellm-v1";

fn image() -> String {
    format!("docker.io/acme/llm-litellm@{DIGEST}")
}

fn manifest() -> String {
    format!(
        r#"version = 1

[modal]
module = "modal_app"
environments = ["dev", "main"]

[smoke]
function = "smoke"
payload = {{ schema = "v1", mode = "mock", params = {{}} }}
timeout = "60s"

[secrets.OPENAI_API_KEY]
keys = ["OPENAI_API_KEY"]

[secrets.LITELLM_API_BASE]
keys = ["LITELLM_API_BASE"]

[[processor]]
ref = "llm/litellm@1"
image.oci = "{}"
secrets.required = ["OPENAI_API_KEY"]
secrets.optional = ["LITELLM_API_BASE"]
"#,
        image()
    )
}

/// dev has `OPENAI_API_KEY` (with a value no output may show), main has no secret; the image is pullable.
fn seed() -> Value {
    json!({
        "environments": ["dev", "main"],
        "secrets": {"dev": {"OPENAI_API_KEY": {"OPENAI_API_KEY": "sk-never-shown-4242"}}},
        "images": {image(): {"env": {}}},
    })
}

/// An app of the emulator's state: name, state, and its history as (version, tag).
type AppRecord = (String, String, Vec<(u64, String)>);

/// A folder with the manifest and `examples/modal_app.py`, and an emulator.
struct Workspace {
    dir: TempDir,
    emulator: Emulator,
}

impl Workspace {
    fn new(cli: ModalCli, seed: &Value) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("modalplan-people-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("processors.toml"), manifest()).unwrap();
        std::fs::copy(
            repo_root().join("examples/modal_app.py"),
            dir.path().join("modal_app.py"),
        )
        .unwrap();
        Self {
            dir,
            emulator: Emulator::start(cli, seed),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// modalplan in the workspace as alice on branch `feature/x`, talking to the emulator.
    fn modalplan(&self, args: &[&str]) -> Modalplan {
        Modalplan::new()
            .current_dir(self.path())
            .env_of(&self.emulator)
            .env("USER", "alice")
            .env("MODALPLAN_BRANCH", "feature/x")
            .timeout(std::time::Duration::from_secs(180))
            .args(args)
    }

    fn run(&self, args: &[&str]) -> Run {
        self.modalplan(args).run()
    }

    /// The apps of the emulator's state in `environment`: name → (state, [(version, tag)]).
    fn apps(&self, environment: &str) -> Vec<AppRecord> {
        let state = self.emulator.state();
        let mut apps: Vec<_> = state["apps"]
            .as_object()
            .unwrap()
            .values()
            .filter(|app| app["environment"] == environment)
            .map(|app| {
                let history = app["history"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|entry| {
                        (
                            entry["version"].as_u64().unwrap(),
                            entry["tag"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                (
                    app["name"].as_str().unwrap().to_owned(),
                    app["state"].as_str().unwrap().to_owned(),
                    history,
                )
            })
            .collect();
        apps.sort();
        apps
    }

    /// The RPCs of the call log, with the field that says what each acted on.
    fn rpcs_named(&self, rpc: &str) -> Vec<Value> {
        self.emulator
            .calls()
            .into_iter()
            .filter(|call| call["rpc"] == rpc)
            .collect()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_no_secret_value(output: &Output) {
    assert!(
        !stdout(output).contains("sk-never-shown"),
        "{}",
        stdout(output)
    );
    assert!(
        !stderr(output).contains("sk-never-shown"),
        "{}",
        stderr(output)
    );
}

/// The tag `modalplan` gives this deployment (the optional secret is absent in dev).
fn deployed_tag(workspace: &Workspace) -> String {
    let apps = workspace.apps("dev");
    let (_, _, history) = apps.iter().find(|(name, _, _)| name == SANDBOX).unwrap();
    history.last().unwrap().1.clone()
}
