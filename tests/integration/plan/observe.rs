//! Reading Modal: one helper process on both CLIs, the CLI fallback, and both reading alike.

use super::lock::{create_locks_dict, release};
use super::*;

#[test]
fn every_kind_on_both_clis_through_one_helper_process() {
    let mut outputs = Vec::new();
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        let scratch = tempfile::tempdir().unwrap();
        let (wrapper, log) = counting_modal(&emulator, scratch.path());
        let output = plan_command(&emulator)
            .arg("--no-registry-check")
            .env("MODALPLAN_MODAL_BIN", &wrapper)
            .env("MODALPLAN_PYTHON", emulator.python())
            .run();
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            text(&output.stderr)
        );
        assert_eq!(text(&output.stderr), "", "{cli:?}");
        // One helper process read everything: no `modal` process, one list of each kind per
        // environment, one history per deployed managed app (llm-litellm-v1 in dev and main) and per
        // deployed orphan candidate (llm-litellm-v0 in main), no lookup by name; and per environment
        // one lookup of the apply lock's Dict and one of the release records' Dict, never creating
        // either. No apply ever ran in these environments, so no Dict exists and there is nothing more
        // to read (a Dict that exists costs one more call, the stream of its entries: see
        // `a_held_lock_is_noted_...`).
        assert_eq!(modal_processes(&log), Vec::<String>::new(), "{cli:?}");
        assert_eq!(
            counts(&emulator.rpcs()),
            expect_counts(&[
                ("AppDeploymentHistory", 3),
                ("AppList", 3),
                ("DictGetOrCreate", 6),
                ("SecretList", 3)
            ]),
            "{cli:?}"
        );
        // A plan never creates the locks' Dict.
        assert_eq!(
            emulator
                .state()
                .get("dicts")
                .and_then(Value::as_object)
                .map_or(0, serde_json::Map::len),
            0,
            "{cli:?}"
        );
        outputs.push(text(&output.stdout));
    }
    assert_eq!(outputs[0], outputs[1], "1.6.4 and 1.0.0 plan alike");
    // Named as it was when this test lived in plan.rs.
    let mut settings = crate::support::snapshot::shared_folder();
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::assert_snapshot!("integration__plan__plan_text_every_kind", outputs[0]);
    });
}

#[test]
fn the_cli_fallback_plans_the_same_with_a_process_per_call() {
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        let helper = plan_command(&emulator).arg("--no-registry-check").run();
        for (why, variable, value) in [
            ("forced", "MODALPLAN_OBSERVE", "cli".to_owned()),
            // An interpreter without the Modal SDK: the helper does not fit, the CLI reads instead.
            (
                "fallback",
                "MODALPLAN_PYTHON",
                "/usr/bin/python3".to_owned(),
            ),
        ] {
            emulator.clear_calls();
            let scratch = tempfile::tempdir().unwrap();
            let (wrapper, log) = counting_modal(&emulator, scratch.path());
            let output = plan_command(&emulator)
                .arg("--no-registry-check")
                .env("MODALPLAN_MODAL_BIN", &wrapper)
                .env(variable, &value)
                .run();
            assert_eq!(output.status.code(), Some(1), "{cli:?} {why}");
            assert_eq!(text(&output.stdout), text(&helper.stdout), "{cli:?} {why}");
            let mut processes = modal_processes(&log);
            processes.sort();
            assert_eq!(
                processes,
                [
                    "app history llm-litellm-v0 --json --env main",
                    "app history llm-litellm-v1 --json --env dev",
                    "app history llm-litellm-v1 --json --env main",
                    "app list --json --env dev",
                    "app list --json --env main",
                    "app list --json --env staging",
                    // The apply lock: one `modal dict items` per environment (it cannot create
                    // the Dict either).
                    "dict items modalplan-locks --json --env dev",
                    "dict items modalplan-locks --json --env main",
                    "dict items modalplan-locks --json --env staging",
                    "dict items modalplan-releases --json --env dev",
                    "dict items modalplan-releases --json --env main",
                    "dict items modalplan-releases --json --env staging",
                    "secret list --json --env dev",
                    "secret list --json --env main",
                    "secret list --json --env staging",
                ],
                "{cli:?} {why}"
            );
            assert_eq!(
                counts(&emulator.rpcs()).get("AppGetByDeploymentName"),
                Some(&3),
                "{cli:?} {why}: each `modal app history` looks its app up by name"
            );
        }
    }
}

#[test]
fn helper_and_cli_observe_the_same() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for cli in ModalCli::ALL {
        let emulator = Emulator::start(cli, &seed());
        let mut env: BTreeMap<String, String> = emulator.envs().into_iter().collect();
        env.insert("TZ".into(), "UTC".into());
        let backend = CliBackend::new(
            CliConfig {
                argv: vec![emulator.modal_bin().display().to_string()],
                python: None,
                env,
                read_timeout: Duration::from_secs(60),
            },
            4,
        );
        let request = modalplan::backend::ObserveRequest {
            releases: false,
            environments: BTreeMap::from([
                ("dev".into(), ["llm-litellm-v1".into()].into()),
                (
                    "main".into(),
                    ["llm-litellm-v1".into(), "replicate-generic-v1".into()].into(),
                ),
                ("staging".into(), ["llm-litellm-v1".into()].into()),
            ]),
            locks: true,
            orphans: Some(modalplan::backend::OrphanNames {
                owner_prefix: String::new(),
                stems: ["llm-".into(), "replicate-".into()].into(),
            }),
        };
        // The apply lock in each state: held in main, an empty Dict in staging (every apply there
        // ended), no Dict in dev (no apply ever locked it).
        let (mut holder, _) = hold_lock_in(&emulator, "main");
        create_locks_dict(&emulator, "staging");
        let by_helper = runtime
            .block_on(observe_by(&backend, &request, ReadPath::Helper))
            .unwrap();
        let by_cli = runtime
            .block_on(observe_by(&backend, &request, ReadPath::Cli))
            .unwrap();
        assert_eq!(by_helper, by_cli, "{cli:?}");
        let shown: LockRecord = serde_json::from_value(show_lock(&emulator, "main")).unwrap();
        assert_eq!(
            by_helper.environments["main"].lock,
            LockState::Held { lock: shown },
            "{cli:?}"
        );
        assert_eq!(by_helper.environments["staging"].lock, LockState::Free);
        assert_eq!(by_helper.environments["dev"].lock, LockState::Free);
        release(&mut holder);
        let main = &by_helper.environments["main"];
        let live = main.apps["llm-litellm-v1"].live.clone().unwrap();
        assert_eq!(
            (
                live.version,
                live.tag.as_deref(),
                live.deployed_by.as_deref()
            ),
            (2, Some("mp-0123456789abcdef"), Some("modalplan-ci")),
            "{cli:?}"
        );
        assert_eq!(
            live.deployed_at.as_deref(),
            Some("2026-01-12 09:30:00+00:00")
        );
        assert_eq!(
            main.secrets.iter().collect::<Vec<_>>(),
            ["OPENAI_API_KEY", "REGISTRY_AUTH"]
        );
        // An orphan candidate's history is read like a managed app's.
        let orphan = main.apps["llm-litellm-v0"].live.clone().unwrap();
        assert_eq!(
            (
                orphan.version,
                orphan.tag.as_deref(),
                orphan.deployed_by.as_deref()
            ),
            (1, Some("v0.9"), Some("alice")),
            "{cli:?}"
        );
        // A stopped app is listed with its state and no history read.
        let stopped = &main.apps["replicate-generic-v1"];
        assert_eq!(stopped.state, modalplan::backend::AppState::Stopped);
        assert_eq!(stopped.live, None);
        // live_deployment: one history read; none for a name with no deployed app.
        let live = runtime
            .block_on(modalplan::backend::ModalBackend::live_deployment(
                &backend,
                "dev",
                "llm-litellm-v1",
            ))
            .unwrap()
            .unwrap();
        assert_eq!((live.version, live.tag), (2, Some(litellm_dev_tag())));
        let absent = runtime
            .block_on(modalplan::backend::ModalBackend::live_deployment(
                &backend,
                "dev",
                "nothing-here-v1",
            ))
            .unwrap();
        assert_eq!(absent, None);
    }
}
