//! `modalplan plan` through the real `modal` CLI of both pinned versions, against the emulator.
//!
//! The manifest is `tests/fixtures/plan/processors.toml`; the seed is the example workspace with two
//! changes, so that every kind of action appears:
//! - dev: `llm-litellm-v1` deployed with the fingerprint the manifest gives it (no-op), generic absent
//!   (create);
//! - staging: `OPENAI_API_KEY` missing (litellm blocked), generic absent (create);
//! - main: litellm tagged by something else (update), generic stopped (create), `llm-litellm-v0` still
//!   deployed (orphan; `--prune` stops it).

mod errors;
mod github;
mod lock;
mod observe;
mod outputs;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use modalplan::backend::modal_cli::read::{ReadPath, observe_by};
use modalplan::backend::modal_cli::{CliConfig, ModalCli as CliBackend};

use modalplan::backend::lock::{LockRecord, LockState};

use crate::apply_lock::{hold_lock_in, show_lock};
use crate::support::emulator::{Emulator, ModalCli, repo_root, workspace_seed};
use crate::support::run::Modalplan;

fn fixture_dir() -> PathBuf {
    repo_root().join("tests/fixtures/plan")
}

/// The tag `modalplan` gives litellm in dev (where `LITELLM_API_BASE` exists).
fn litellm_dev_tag() -> String {
    let loaded = modalplan::manifest::load(&fixture_dir().join("processors.toml")).unwrap();
    let manifest = loaded.manifest;
    let processor = &manifest.processors[0];
    let deployment = processor.deployments["dev"].clone();
    crate::support::tag_of(&manifest, processor, &deployment)
}

fn seed() -> Value {
    let mut seed = workspace_seed();
    let dev = seed["apps"]["dev"].as_array_mut().unwrap();
    dev[0]["history"].as_array_mut().unwrap().push(json!({
        "version": 2, "tag": litellm_dev_tag(), "deployed_at": "2026-01-10T10:00:00Z",
        "deployed_by": "modalplan-ci", "client_version": "1.6.4"
    }));
    seed["apps"]["main"].as_array_mut().unwrap().push(json!({
        "name": "llm-litellm-v0",
        "state": "deployed",
        "created_at": "2025-11-01T10:00:00Z",
        "history": [{"version": 1, "tag": "v0.9", "deployed_at": "2025-11-01T10:00:00Z",
                     "deployed_by": "alice", "client_version": "1.0.0"}]
    }));
    seed
}

/// A `modal` that logs each invocation to `calls.log` beside it, then runs the real one.
fn counting_modal(emulator: &Emulator, dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("calls.log");
    let wrapper = dir.join("modal");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            emulator.modal_bin().display()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    (wrapper, log)
}

fn modal_processes(log: &Path) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `modalplan plan` of the fixture manifest against `emulator`, reading Modal the default way.
fn plan_command(emulator: &Emulator) -> Modalplan {
    Modalplan::new()
        .current_dir(fixture_dir())
        .env_of(emulator)
        .env_remove("MODALPLAN_OBSERVE")
        .env_remove("MODALPLAN_PYTHON")
        .env_remove("MODALPLAN_REGISTRY_MIRROR")
        .args(["plan", "--manifest", "processors.toml"])
        .timeout(Duration::from_secs(120))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn counts(rpcs: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for rpc in rpcs {
        *counts.entry(rpc.clone()).or_insert(0) += 1;
    }
    counts
}

fn expect_counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs
        .iter()
        .map(|(rpc, count)| ((*rpc).to_owned(), *count))
        .collect()
}
