//! The local Modal emulator (`tests/emulator/server.py`) for tests that drive the real `modal` CLI.
//!
//! `Emulator::start` runs the emulator with the python of the chosen CLI's venv, in a temp dir that holds
//! its state, call log and the client's config; `envs()` are the variables a `modal` process (or
//! `modalplan`) needs to reach it. Dropping the `Emulator` kills the server by its own pid.
//!
//! Venvs come from `scripts/setup-venvs`: `$MODALPLAN_VENVS/<dir>` or `<repo>/.venvs/<dir>`.
// Shared support: not every test module uses every helper.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// Which pinned `modal` CLI (and so which `modal_proto`) a test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModalCli {
    /// modal 1.6.4: `--json` keys are snake case (`app_id`).
    New,
    /// modal 1.0.0: `--json` keys are column titles (`"App ID"`).
    Old,
    /// The newest patch of another 1.x minor (`"1.3.5"`), for the version matrix (`matrix.rs`).
    Minor(&'static str),
}

impl ModalCli {
    pub const ALL: [ModalCli; 2] = [ModalCli::New, ModalCli::Old];

    /// The `modal` package version of this CLI.
    pub fn version(self) -> &'static str {
        match self {
            ModalCli::New => "1.6.4",
            ModalCli::Old => "1.0.0",
            ModalCli::Minor(version) => version,
        }
    }

    /// The venv's directory name under `.venvs/` (or `$MODALPLAN_VENVS`).
    pub fn dir_name(self) -> String {
        format!("modal-{}", self.version())
    }

    /// The venv of this CLI; panics with the fix when it is missing.
    pub fn venv(self) -> PathBuf {
        let base = std::env::var_os("MODALPLAN_VENVS")
            .map_or_else(|| repo_root().join(".venvs"), PathBuf::from);
        let venv = base.join(self.dir_name());
        assert!(
            venv.join("bin").join("python").exists(),
            "no venv at {}: run scripts/setup-venvs",
            venv.display()
        );
        venv
    }
}

/// The repository this test binary was built from.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example workspace seed (`tests/emulator/seeds/workspace.json`).
pub fn workspace_seed() -> Value {
    let path = repo_root().join("tests/emulator/seeds/workspace.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("workspace seed is JSON")
}

/// A running emulator; killed when dropped.
pub struct Emulator {
    cli: ModalCli,
    child: Child,
    dir: TempDir,
    port: u16,
}

impl Emulator {
    /// Starts an emulator seeded with `seed` (the format of docs/emulator.md) for the given CLI.
    pub fn start(cli: ModalCli, seed: &Value) -> Emulator {
        let dir = tempfile::Builder::new()
            .prefix("modalplan-emulator-")
            .tempdir()
            .expect("temp dir");
        let seed_path = dir.path().join("seed.json");
        fs::write(
            &seed_path,
            serde_json::to_vec_pretty(seed).expect("seed serializes"),
        )
        .expect("write seed");
        let ready = dir.path().join("ready");
        let log = fs::File::create(dir.path().join("server.log")).expect("server log");
        let python = cli.venv().join("bin").join("python");
        let child = Command::new(&python)
            .arg(repo_root().join("tests/emulator/server.py"))
            .arg("--state")
            .arg(dir.path().join("state.json"))
            .arg("--seed")
            .arg(&seed_path)
            .args(["--port", "0", "--ready-file"])
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let mut emulator = Emulator {
            cli,
            child,
            dir,
            port: 0,
        };
        emulator.port = emulator.wait_ready(&ready);
        emulator
    }

    fn wait_ready(&mut self, ready: &Path) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = fs::read_to_string(ready) {
                if let Ok(port) = text.trim().parse() {
                    return port;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("emulator exited with {status}: {}", self.server_log());
            }
            assert!(
                Instant::now() < deadline,
                "emulator not ready after 30s: {}",
                self.server_log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Which CLI this emulator serves.
    pub fn cli(&self) -> ModalCli {
        self.cli
    }

    /// `http://127.0.0.1:PORT`, the value of `MODAL_SERVER_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The temp dir holding the state, the call log and the client config.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    /// The environment a `modal` process (or `modalplan`) needs to talk to this emulator.
    pub fn envs(&self) -> Vec<(String, String)> {
        vec![
            ("MODAL_SERVER_URL".into(), self.url()),
            ("MODAL_TOKEN_ID".into(), "ak-test".into()),
            ("MODAL_TOKEN_SECRET".into(), "as-test".into()),
            (
                "MODAL_CONFIG_PATH".into(),
                self.dir.path().join("modal.toml").display().to_string(),
            ),
            (
                "MODALPLAN_MODAL_BIN".into(),
                self.modal_bin().display().to_string(),
            ),
        ]
    }

    /// The venv's `modal` executable.
    pub fn modal_bin(&self) -> PathBuf {
        self.cli.venv().join("bin").join("modal")
    }

    /// The venv's python (it has the Modal SDK of `modal_bin`).
    pub fn python(&self) -> PathBuf {
        self.cli.venv().join("bin").join("python")
    }

    /// A `modal` command with `envs()` set, `TZ=UTC` and a wide terminal.
    pub fn modal_command(&self) -> Command {
        let mut command = Command::new(self.modal_bin());
        command
            .envs(self.envs())
            .env("TZ", "UTC")
            .env("COLUMNS", "200");
        command
    }

    /// The whole state file.
    pub fn state(&self) -> Value {
        let text = fs::read_to_string(self.state_path()).expect("state file");
        serde_json::from_str(&text).expect("state is JSON")
    }

    /// Every RPC received so far, oldest first (`{"rpc": "AppList", "env": "main", ...}`).
    pub fn calls(&self) -> Vec<Value> {
        let path = self.dir.path().join("state.json.calls.jsonl");
        fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_str(line).expect("call log line is JSON"))
            .collect()
    }

    /// Just the RPC names of `calls()`.
    pub fn rpcs(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|call| call["rpc"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Empties the call log.
    pub fn clear_calls(&self) {
        fs::write(self.dir.path().join("state.json.calls.jsonl"), "").expect("clear call log");
    }

    /// Adds a fault (format in docs/emulator.md), e.g. `{"rpc": "AppList", "status": "UNAVAILABLE"}`.
    pub fn add_fault(&self, fault: &Value) {
        let output = Command::new(self.python())
            .arg(repo_root().join("tests/emulator/admin.py"))
            .arg("--state")
            .arg(self.state_path())
            .args(["fault", "add", "--json"])
            .arg(fault.to_string())
            .output()
            .expect("run admin.py");
        assert!(
            output.status.success(),
            "admin.py fault add failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// What the server logged (for failure messages).
    pub fn server_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Kills exactly the server this Emulator started, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
