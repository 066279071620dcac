//! The emulator's Rust support drives the real `modal` CLI of both pinned versions.

use serde_json::{Value, json};

use crate::support::emulator::{Emulator, ModalCli, workspace_seed};

fn app_list(emulator: &Emulator, env: &str) -> std::process::Output {
    emulator
        .modal_command()
        .args(["app", "list", "--json", "--env", env])
        .output()
        .expect("run modal")
}

#[test]
fn app_list_json_reaches_the_emulator_with_each_cli() {
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &workspace_seed());
        let output = app_list(&emulator, "main");
        assert!(
            output.status.success(),
            "{cli:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let rows: Vec<Value> = serde_json::from_slice(&output.stdout).expect("JSON rows");
        let (id_key, state_key) = match cli {
            ModalCli::New => ("app_id", "state"),
            ModalCli::Old => ("App ID", "State"),
            ModalCli::Minor(_) => unreachable!("only the pinned versions run this test"),
        };
        let mut seen: Vec<(String, String)> = rows
            .iter()
            .map(|row| {
                (
                    row[id_key].as_str().expect("app id").to_owned(),
                    row[state_key].as_str().expect("state").to_owned(),
                )
            })
            .collect();
        seen.sort();
        let state = emulator.state();
        let mut expected: Vec<(String, String)> = state["apps"]
            .as_object()
            .expect("apps")
            .values()
            .filter(|app| app["environment"] == "main")
            .map(|app| {
                (
                    app["app_id"].as_str().expect("id").to_owned(),
                    app["state"].as_str().expect("state").to_owned(),
                )
            })
            .collect();
        expected.sort();
        assert_eq!(seen, expected, "{cli:?}");
        let calls = emulator.calls();
        assert_eq!(calls.len(), 1, "{cli:?}: {calls:?}");
        assert_eq!(calls[0]["rpc"], "AppList");
        assert_eq!(calls[0]["env"], "main");
        assert_eq!(calls[0]["client_version"], cli.version());
    }
}

#[test]
fn injected_fault_fails_the_cli_call() {
    let emulator = Emulator::start(ModalCli::New, &workspace_seed());
    emulator.add_fault(
        &json!({"rpc": "AppList", "status": "PERMISSION_DENIED", "message": "no access"}),
    );
    let output = app_list(&emulator, "main");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "Error: no access\n"
    );
    assert_eq!(emulator.rpcs(), ["AppList"]);
}

#[test]
fn envs_name_the_venv_modal_and_a_private_config() {
    let emulator = Emulator::start(ModalCli::Old, &json!({}));
    let envs = emulator.envs();
    let value = |key: &str| {
        envs.iter()
            .find(|(name, _)| name == key)
            .map_or_else(|| panic!("{key} missing"), |(_, value)| value.clone())
    };
    assert_eq!(value("MODAL_SERVER_URL"), emulator.url());
    assert_eq!(value("MODAL_TOKEN_ID"), "ak-test");
    assert_eq!(
        value("MODALPLAN_MODAL_BIN"),
        emulator.modal_bin().display().to_string()
    );
    assert!(
        emulator
            .modal_bin()
            .ends_with(std::path::Path::new("modal-1.0.0/bin/modal"))
    );
    assert!(value("MODAL_CONFIG_PATH").starts_with(&emulator.dir().display().to_string()));
    // An empty seed is the default workspace: three environments, nothing deployed.
    let state = emulator.state();
    let mut environments: Vec<&String> = state["environments"]
        .as_object()
        .expect("environments")
        .keys()
        .collect();
    environments.sort();
    assert_eq!(environments, ["dev", "main", "staging"]);
    assert_eq!(state["apps"], json!({}));
}
