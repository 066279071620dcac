//! The apply lock as a plan and `status` show it.

use super::*;

/// Makes the (empty) `modalplan-locks` Dict of `environment`, as the first apply there does.
pub(super) fn create_locks_dict(emulator: &Emulator, environment: &str) {
    let output = std::process::Command::new(emulator.python())
        .arg("-c")
        .arg(format!(
            "import modal\nmodal.Dict.from_name('modalplan-locks', environment_name='{environment}', create_if_missing=True).len()\n"
        ))
        .envs(emulator.envs())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// Ends the lock helper of `hold_lock_in`: its input closes, it releases and exits.
pub(super) fn release(holder: &mut std::process::Child) {
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
}

/// The note a plan prints for alice's lock of `main`, as the lock helper shows it.
fn alices_note(emulator: &Emulator, lock_id: &str) -> String {
    let shown = show_lock(emulator, "main");
    assert_eq!(shown["id"], lock_id);
    format!(
        "an apply holds the lock of `main`: held by alice@laptop (apply, processors.toml) since {}, last heartbeat {}, lock id {lock_id} — this plan may change when it ends",
        shown["created_at"].as_str().unwrap(),
        shown["heartbeat_at"].as_str().unwrap()
    )
}

/// `plan` with these arguments: exit code, stdout, stderr.
fn plan_output(
    emulator: &Emulator,
    arguments: &[&str],
    observe: Option<&str>,
) -> (i32, String, String) {
    let mut command = plan_command(emulator)
        .arg("--no-registry-check")
        .args(arguments);
    if let Some(path) = observe {
        command = command.env("MODALPLAN_OBSERVE", path);
    }
    let output = command.run();
    (
        output.status.code().unwrap(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[test]
fn a_held_lock_is_noted_in_text_json_and_markdown_with_each_cli() {
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        let free: Vec<_> = ["text", "json", "markdown"]
            .iter()
            .map(|format| plan_output(&emulator, &["--format", format], None))
            .collect();
        // The plan of every kind, blocked in staging: exit 1 with or without a lock.
        assert_eq!(free[0].0, 1, "{cli:?}: {}", free[0].2);

        let (mut holder, lock_id) = hold_lock_in(&emulator, "main");
        let note = alices_note(&emulator, &lock_id);
        emulator.clear_calls();
        let held_text = plan_output(&emulator, &["--format", "text"], None);
        // One more call than without a lock, and only in main, where the Dict exists: the stream of
        // its two entries (the lock and its heartbeat). Still one lookup of each Dict per environment,
        // no create.
        // (Three histories: litellm in dev and main, and the orphan candidate llm-litellm-v0.)
        assert_eq!(
            counts(&emulator.rpcs()),
            expect_counts(&[
                ("AppDeploymentHistory", 3),
                ("AppList", 3),
                ("DictContents", 1),
                ("DictGetOrCreate", 6),
                ("SecretList", 3)
            ]),
            "{cli:?}"
        );
        assert_eq!(
            held_text,
            (
                1,
                free[0].1.replacen(
                    "\nEnvironment main\n",
                    &format!("\nEnvironment main\n  note: {note}\n"),
                    1
                ),
                String::new()
            ),
            "{cli:?}"
        );
        assert_ne!(held_text.1, free[0].1);

        let (code, json, stderr) = plan_output(&emulator, &["--format", "json"], None);
        assert_eq!((code, stderr.as_str()), (1, ""), "{cli:?}");
        let mut held_json: Value = serde_json::from_str(&json).unwrap();
        let shown = show_lock(&emulator, "main");
        assert_eq!(
            held_json["locks"],
            json!([{
                "environment": "main",
                "lock": {
                    "id": lock_id,
                    "who": "alice@laptop",
                    "operation": "apply",
                    "manifest": "processors.toml",
                    "created_at": shown["created_at"],
                    "heartbeat_at": shown["heartbeat_at"],
                }
            }]),
            "{cli:?}"
        );
        // Otherwise the plan without the lock: the same actions, warnings and environments.
        let mut free_json: Value = serde_json::from_str(&free[1].1).unwrap();
        assert_eq!(free_json.get("locks"), None);
        for document in [&mut held_json, &mut free_json] {
            let fields = document.as_object_mut().unwrap();
            fields.shift_remove("locks");
            fields.shift_remove("integrity");
        }
        assert_eq!(held_json, free_json, "{cli:?}");

        let held_markdown = plan_output(&emulator, &["--format", "markdown"], None);
        let summary = "**Plan: 3 to create, 1 to update, 0 to stop, 1 blocked.**\n\n";
        assert!(free[2].1.contains(summary), "{}", free[2].1);
        assert_eq!(
            held_markdown,
            (
                1,
                free[2]
                    .1
                    .replacen(summary, &format!("{summary}> [!NOTE]\n> - {note}\n\n"), 1),
                String::new()
            ),
            "{cli:?}"
        );

        // Reading through the CLI (`modal dict items`) notes it the same.
        assert_eq!(
            plan_output(&emulator, &["--format", "text"], Some("cli")),
            held_text,
            "{cli:?}"
        );

        // Once released, the plan is the one without a lock again.
        release(&mut holder);
        assert_eq!(
            plan_output(&emulator, &["--format", "text"], None),
            free[0],
            "{cli:?}"
        );
    }
}

#[test]
fn a_lock_that_cannot_be_read_is_a_warning_and_the_plan_goes_on() {
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        let free = plan_output(&emulator, &[], None);
        let (mut holder, _) = hold_lock_in(&emulator, "main");
        emulator.add_fault(
            &json!({"rpc": "DictContents", "status": "PERMISSION_DENIED",
                                   "message": "no reading of Dicts today"}),
        );
        // What each SDK raises, and what each CLI prints, for the refused call.
        let (raised, printed) = match cli {
            ModalCli::New => ("PermissionDeniedError", "Error:"),
            ModalCli::Old => ("GRPCError", "Error: Permission denied"),
            ModalCli::Minor(_) => unreachable!("only the pinned versions run this test"),
        };
        for (path, reason) in [
            ("helper", format!("{raised}: no reading of Dicts today")),
            (
                "cli",
                format!(
                    "`{} dict items modalplan-locks --json --env main` failed (exit 1): {printed} no reading of Dicts today",
                    emulator.modal_bin().display()
                ),
            ),
        ] {
            let (code, stdout, stderr) = plan_output(&emulator, &[], Some(path));
            assert_eq!(
                (code, &stdout),
                (free.0, &free.1),
                "{cli:?} {path}: {stderr}"
            );
            assert_eq!(
                stderr,
                format!(
                    "warning: could not read the apply lock of `main`, so whether an apply is running there is not known: {reason}\n"
                ),
                "{cli:?} {path}"
            );
        }
        release(&mut holder);
    }
}

#[test]
fn status_shows_the_lock_of_its_environment() {
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        let status = |observe: &str| {
            let output = Modalplan::new()
                .current_dir(fixture_dir())
                .env_of(&emulator)
                .env("MODALPLAN_OBSERVE", observe)
                .args(["status", "--manifest", "processors.toml", "--env", "main"])
                .timeout(Duration::from_secs(120))
                .run();
            assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
            assert_eq!(text(&output.stderr), "");
            text(&output.stdout)
        };
        let table = "Environment `main`:\n  REF                  APP                   STATE     VERSION  TAG                  MANIFEST\n";
        let free = status("helper");
        assert!(free.starts_with(table), "{cli:?}: {free}");
        assert!(
            free.ends_with("shows the changes.\nApply lock of `main`: free.\n"),
            "{cli:?}: {free}"
        );
        let (mut holder, lock_id) = hold_lock_in(&emulator, "main");
        let shown = show_lock(&emulator, "main");
        let held_line = format!(
            "Apply lock of `main`: held by alice@laptop (apply, processors.toml) since {}, last heartbeat {}, lock id {lock_id}. If that run is gone: `modalplan force-unlock --env main {lock_id}`\n",
            shown["created_at"].as_str().unwrap(),
            shown["heartbeat_at"].as_str().unwrap()
        );
        for observe in ["helper", "cli"] {
            assert_eq!(
                status(observe),
                free.replace("Apply lock of `main`: free.\n", &held_line),
                "{cli:?} {observe}"
            );
        }
        release(&mut holder);
        // Released: an empty Dict is a free lock too.
        assert_eq!(status("cli"), free, "{cli:?}");
    }
}
