//! `init`, completions, the man page and the examples of `--help`.

use super::*;

#[test]
fn init_scaffolds_a_valid_manifest_and_never_overwrites_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let init = Modalplan::new()
        .current_dir(dir.path())
        .args(["init"])
        .run();
    assert_eq!(init.status.code(), Some(0), "{}", stderr(&init));
    assert_eq!(
        stdout(&init),
        "Created processors.toml\nCreated schemas/processors.schema.json\nCreated modal_app.py\nCreated .github/workflows/modalplan-plan.yml\nCreated .github/workflows/modalplan-apply.yml\nCreated .github/workflows/modalplan-drift.yml\nCreated .github/workflows/modalplan-pin.yml\nCreated .github/workflows/modalplan-promote.yml\n\nNext: set `image.oci` in processors.toml to your image's digest, then run\n  modalplan validate --manifest processors.toml\n  modalplan plan --manifest processors.toml\n"
    );
    let manifest = std::fs::read_to_string(dir.path().join("processors.toml")).unwrap();
    assert!(manifest.starts_with("#:schema ./schemas/processors.schema.json\n\n"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("modal_app.py")).unwrap(),
        std::fs::read_to_string(repo_root().join("examples/modal_app.py")).unwrap()
    );
    let schema = Modalplan::new().current_dir(dir.path()).arg("schema").run();
    assert_eq!(
        std::fs::read(dir.path().join("schemas/processors.schema.json")).unwrap(),
        schema.stdout
    );
    for (path, text) in modalplan::github::workflows::WORKFLOWS {
        assert_eq!(
            &std::fs::read_to_string(dir.path().join(path)).unwrap(),
            text
        );
    }
    let validate = Modalplan::new()
        .current_dir(dir.path())
        .arg("validate")
        .run();
    assert_eq!(validate.status.code(), Some(0), "{}", stderr(&validate));
    assert_eq!(
        stdout(&validate),
        "processors.toml: valid (1 processor, 3 environments)\n"
    );
    assert_eq!(stderr(&validate), "");

    // A second run refuses, lists what exists, and writes nothing.
    std::fs::write(dir.path().join("processors.toml"), "# mine\n").unwrap();
    std::fs::remove_file(dir.path().join("modal_app.py")).unwrap();
    let again = Modalplan::new()
        .current_dir(dir.path())
        .args(["init"])
        .run();
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        stderr(&again),
        "ERR_USAGE\n\n  × 7 files already exist; nothing was written:\n  │   processors.toml\n  │   schemas/processors.schema.json\n  │   .github/workflows/modalplan-plan.yml\n  │   .github/workflows/modalplan-apply.yml\n  │   .github/workflows/modalplan-drift.yml\n  │   .github/workflows/modalplan-pin.yml\n  │   .github/workflows/modalplan-promote.yml\n  help: pass --force to overwrite them, or --dir to scaffold in another folder\n\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("processors.toml")).unwrap(),
        "# mine\n"
    );
    assert!(!dir.path().join("modal_app.py").exists());

    let forced = Modalplan::new()
        .current_dir(dir.path())
        .args(["init", "--force"])
        .run();
    assert_eq!(forced.status.code(), Some(0));
    assert!(stdout(&forced).starts_with("Overwrote processors.toml\nOverwrote schemas/processors.schema.json\nCreated modal_app.py\n"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("processors.toml")).unwrap(),
        manifest
    );

    // --dir scaffolds elsewhere.
    let nested = Modalplan::new()
        .current_dir(dir.path())
        .args(["init", "--dir", "svc"])
        .run();
    assert_eq!(nested.status.code(), Some(0));
    assert!(stdout(&nested).starts_with("Created svc/processors.toml\n"));
    assert!(
        PathBuf::from(dir.path())
            .join("svc/.github/workflows/modalplan-plan.yml")
            .exists()
    );
}

#[test]
fn completions_and_man_page_cover_the_commands_for_people() {
    let dir = tempfile::tempdir().unwrap();
    let bash = Modalplan::new()
        .current_dir(dir.path())
        .args(["completions", "bash"])
        .run();
    assert_eq!(bash.status.code(), Some(0));
    let script = stdout(&bash);
    assert!(
        script.starts_with("_modalplan() {"),
        "{}",
        &script[..80.min(script.len())]
    );
    for word in [
        "deploy",
        "invoke",
        "--payload-json",
        "--allow-real-in-ci",
        "prune",
        "--sandboxes",
    ] {
        assert!(script.contains(word), "{word}");
    }
    let zsh = Modalplan::new()
        .current_dir(dir.path())
        .args(["completions", "zsh"])
        .run();
    assert!(stdout(&zsh).starts_with("#compdef modalplan\n"));

    let man = Modalplan::new().current_dir(dir.path()).arg("man").run();
    assert_eq!(man.status.code(), Some(0));
    let page = stdout(&man);
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq \\(aq\n"),
        "{}",
        &page[..80]
    );
    assert!(page.contains(".TH modalplan 1"), "{page}");
    for command in [
        "deploy", "logs", "invoke", "smoke", "secrets", "status", "init", "prune",
    ] {
        assert!(
            page.contains(&format!("modalplan\\-{command}")),
            "{command}"
        );
    }
}

#[test]
fn every_command_help_has_an_example() {
    use clap::CommandFactory;
    let mut missing = Vec::new();
    let root = modalplan::cli::Cli::command();
    let mut stack: Vec<(String, clap::Command)> = root
        .get_subcommands()
        .map(|command| (command.get_name().to_owned(), command.clone()))
        .collect();
    while let Some((path, command)) = stack.pop() {
        if command.has_subcommands() {
            stack.extend(
                command
                    .get_subcommands()
                    .map(|sub| (format!("{path} {}", sub.get_name()), sub.clone())),
            );
            continue;
        }
        let after = command
            .get_after_help()
            .map(ToString::to_string)
            .unwrap_or_default();
        if !after.starts_with("Example") || !after.contains("modalplan ") {
            missing.push(path);
        }
    }
    missing.sort();
    assert!(missing.is_empty(), "no example in --help of: {missing:?}");

    let dir = tempfile::tempdir().unwrap();
    let help = Modalplan::new()
        .current_dir(dir.path())
        .args(["invoke", "--help"])
        .run();
    assert!(
        stdout(&help)
            .contains("Example:\n  modalplan invoke --env dev --ref llm/litellm@1 --payload-json"),
        "{}",
        stdout(&help)
    );
}
