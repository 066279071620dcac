//! Plans that cannot be made: what is wrong and the fix.

use super::*;

#[test]
fn an_unreachable_registry_blocks_with_image_unavailable() {
    let emulator = Emulator::start(ModalCli::New, &seed());
    let output = plan_command(&emulator)
        .env("MODALPLAN_REGISTRY_MIRROR", "http://127.0.0.1:9")
        .env_remove("REGISTRY_USERNAME")
        .env_remove("REGISTRY_PASSWORD")
        .args([
            "--env",
            "dev",
            "--target",
            "replicate/generic@1",
            "--detailed-exitcode",
        ])
        .run();
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("  ! replicate-generic-v1 (replicate/generic@1) is blocked\n      ERR_IMAGE_UNAVAILABLE image `ghcr.io/acme/theory/replicate-generic@sha256:3333333333333333333333333333333333333333333333333333333333333333` of replicate/generic@1 cannot be pulled: the registry could not be asked ("),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("Plan: 0 to create, 0 to update, 0 to stop, 1 blocked.\n"),
        "{stdout}"
    );
}

#[test]
fn errors_say_what_is_wrong_and_the_fix() {
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        // A typo in --env, before anything reads Modal.
        let output = plan_command(&emulator).args(["--env", "mian"]).run();
        assert_eq!(output.status.code(), Some(1));
        let stderr = text(&output.stderr);
        assert!(stderr.contains("ERR_USAGE"), "{stderr}");
        // The diagnostic wraps at the terminal's width: compare its words.
        let words = stderr
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            words.contains("`--env mian` is not an environment of the manifest (did you mean `main`?); it manages: dev, staging, main help: pass one of the environments of `[modal].environments`, or add it there"),
            "{stderr}"
        );
        assert_eq!(emulator.rpcs(), Vec::<String>::new());
        // No token.
        let output = plan_command(&emulator)
            .args(["--no-registry-check"])
            .env_remove("MODAL_TOKEN_ID")
            .env_remove("MODAL_TOKEN_SECRET")
            .run();
        assert_eq!(output.status.code(), Some(1));
        let stderr = text(&output.stderr);
        assert!(stderr.contains("ERR_MODAL_CLI"), "{cli:?}: {stderr}");
        assert!(
            stderr.contains(
                "the modal CLI is not logged in or its token was refused: Token missing."
            ),
            "{cli:?}: {stderr}"
        );
        assert!(stderr.contains("modal token new"), "{cli:?}: {stderr}");
        assert_eq!(text(&output.stdout), "");
    }
}

#[test]
fn an_environment_modal_does_not_have_is_named() {
    let emulator = Emulator::start(ModalCli::Old, &seed());
    let scratch = tempfile::tempdir().unwrap();
    let manifest = fs::read_to_string(fixture_dir().join("processors.toml"))
        .unwrap()
        .replace(
            "environments = [\"dev\", \"staging\", \"main\"]",
            "environments = [\"dev\", \"qa\"]",
        );
    fs::write(scratch.path().join("processors.toml"), manifest).unwrap();
    for path in ["helper", "cli"] {
        let output = plan_command(&emulator)
            .current_dir(scratch.path())
            .env("MODALPLAN_OBSERVE", path)
            .arg("--no-registry-check")
            .run();
        assert_eq!(output.status.code(), Some(1), "{path}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("Modal has no environment `qa`"),
            "{path}: {stderr}"
        );
        assert!(
            stderr.contains("modal environment create qa"),
            "{path}: {stderr}"
        );
    }
}
