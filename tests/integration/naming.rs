//! The shared naming vectors: the Rust implementation and `modalplan name` agree with every case.

use assert_cmd::Command;
use modalplan::naming::{AppName, ProcessorRef, SandboxOwner};
use serde_json::Value;

fn vectors() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/naming.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_ref_maps_to_its_app_name_or_is_refused() {
    let vectors = vectors();
    let refs = vectors["refs"].as_array().unwrap();
    assert!(
        refs.len() >= 30,
        "the shared file keeps at least 30 ref cases"
    );
    for case in refs {
        let input = case["ref"].as_str().unwrap();
        let parsed = input.parse::<ProcessorRef>();
        match (case.get("app_name"), parsed) {
            (Some(expected), Ok(reference)) => {
                assert_eq!(
                    reference.app_name().as_str(),
                    expected.as_str().unwrap(),
                    "ref {input:?}"
                );
            }
            (None, Err(_)) => assert_eq!(case["error"], "ERR_INVALID_REF", "ref {input:?}"),
            (expected, got) => panic!("ref {input:?}: expected {expected:?}, got {got:?}"),
        }
    }
}

#[test]
fn sandbox_names_follow_user_branch_app() {
    for case in vectors()["sandboxes"].as_array().unwrap() {
        let owner = SandboxOwner {
            user: case["user"].as_str().unwrap().to_owned(),
            branch: case["branch"].as_str().unwrap().to_owned(),
        };
        let app = case["ref"]
            .as_str()
            .unwrap()
            .parse::<ProcessorRef>()
            .unwrap()
            .app_name();
        assert_eq!(
            owner.app_name(&app).as_str(),
            case["app_name"].as_str().unwrap(),
            "{case}"
        );
    }
}

#[test]
fn given_app_names_are_checked_against_modal_rules() {
    for case in vectors()["app_names"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        assert_eq!(
            AppName::parse(name).is_ok(),
            case["valid"].as_bool().unwrap(),
            "{name:?}"
        );
    }
}

#[test]
fn the_binary_prints_the_same_names() {
    let vectors = vectors();
    for case in vectors["refs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|case| case.get("app_name").is_some())
        .take(12)
    {
        let expected = format!("{}\n", case["app_name"].as_str().unwrap());
        Command::cargo_bin("modalplan")
            .unwrap()
            .args(["name", "--", case["ref"].as_str().unwrap()])
            .assert()
            .success()
            .stdout(expected);
    }
}
