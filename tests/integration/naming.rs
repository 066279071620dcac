//! The shared naming vectors: the Rust implementation and `modalplan name` agree with every case.

use modalplan::naming::{AppName, ProcessorRef, SandboxOwner};
use serde_json::{Value, json};

use crate::support::run::Modalplan;

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
        let run = Modalplan::new()
            .args(["name", "--", case["ref"].as_str().unwrap()])
            .run();
        run.assert_exit(0);
        assert_eq!(run.stdout(), expected);
    }
}

/// The orphan-name table both implementations of the test are checked against: `OrphanNames::matches`
/// here (the planner and the CLI read path) and `named_like_ours` of the observe helper, imported from
/// the helper's program (as modalplan runs it) by each pinned CLI's interpreter.
#[test]
fn the_observe_helper_and_the_planner_agree_on_orphan_names() {
    use crate::support::emulator::{ModalCli, repo_root};
    use modalplan::backend::OrphanNames;

    let table_path = repo_root().join("tests/fixtures/orphan_names.json");
    let table: Value =
        serde_json::from_str(&std::fs::read_to_string(&table_path).unwrap()).unwrap();
    let mut expected = Vec::new();
    for case in table["cases"].as_array().unwrap() {
        let names: OrphanNames = serde_json::from_value(json!({
            "owner_prefix": case["owner_prefix"],
            "stems": case["stems"],
        }))
        .unwrap();
        for (name, matches) in case["names"].as_object().unwrap() {
            assert_eq!(
                names.matches(name),
                matches.as_bool().unwrap(),
                "Rust: {name:?} {names:?}"
            );
            expected.push(json!([case["owner_prefix"], case["stems"], name, matches]));
        }
    }
    assert!(expected.len() >= 30, "{} names", expected.len());
    // The helper's program, as modalplan runs it, imported (its main does not run).
    let program = tempfile::Builder::new().suffix(".py").tempfile().unwrap();
    std::fs::write(
        program.path(),
        modalplan::backend::modal_cli::helper::program(
            modalplan::backend::modal_cli::helper::Op::Observe,
        ),
    )
    .unwrap();
    let script = r#"
import importlib.util, json, os, sys
out = os.fdopen(os.dup(1), "w")  # the helper keeps standard output for its replies
spec = importlib.util.spec_from_file_location("observe_helper", sys.argv[1])
helper = importlib.util.module_from_spec(spec)
spec.loader.exec_module(helper)
table = json.load(open(sys.argv[2]))
rows = []
for case in table["cases"]:
    orphans = {"owner_prefix": case["owner_prefix"], "stems": case["stems"]}
    for name in case["names"]:
        rows.append([case["owner_prefix"], case["stems"], name, helper.named_like_ours(name, orphans)])
out.write(json.dumps(rows))
out.flush()
"#;
    for cli in ModalCli::ALL {
        let output = std::process::Command::new(cli.venv().join("bin/python"))
            .arg("-c")
            .arg(script)
            .arg(program.path())
            .arg(&table_path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{cli:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let by_helper: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(by_helper, expected, "{cli:?}");
    }
}
