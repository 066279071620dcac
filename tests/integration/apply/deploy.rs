//! Applies that deploy: creates and updates, then nothing to do; a bad digest; one failure of three.

use super::*;

#[test]
fn creates_updates_then_changes_nothing_with_each_cli() {
    for cli in ModalCli::ALL {
        let project = Project::new(
            cli,
            &(processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"])
                + &processor("replicate/generic@1", REPLICATE, &[])),
        );
        // llm-litellm-v1 is live at v2 (deployed outside modalplan): an update. replicate-generic-v1 is
        // stopped: a create.
        let _filters = snapshot::filters().bind_to_scope();
        let output = project.apply(&[]);
        output.assert_exit(0);
        insta::assert_snapshot!(
            "apply_creates_and_updates",
            output.transcript_with_progress_by_app()
        );
        assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 3));
        assert_eq!(project.live("replicate-generic-v1"), ("deployed".into(), 1));
        let litellm_tag = tag_of(&project, "llm-litellm-v1");
        assert!(
            litellm_tag.starts_with("mp2-111111111111-"),
            "{litellm_tag}"
        );
        // The deploy log is kept, and names no secret value.
        let log = fs::read_to_string(
            project
                .dir
                .path()
                .join(".modalplan/logs/main/llm-litellm-v1.log"),
        )
        .expect("deploy log");
        assert!(
            log.contains("deploy --env=main --name=llm-litellm-v1 --tag=mp2-111111111111-"),
            "{log}"
        );
        assert!(!log.contains("sk-main-not-a-real-key"), "{log}");
        // Both smoke checks reached the deployed functions, in mock mode.
        assert!(
            project.rpc_count("FunctionGetOutputs") >= 2,
            "{:?}",
            project.emulator.rpcs()
        );

        // Again: nothing to do, nothing deployed.
        project.emulator.clear_calls();
        let output = project.apply(&[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            text(&output.stdout),
            "No changes: Modal matches the manifest. Nothing to apply.\n"
        );
        assert_eq!(project.rpc_count("AppPublish"), 0);
        assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 3));

        // A new image: an update to v4.
        project.write_manifest(
            &(processor("llm/litellm@1", LITELLM_GOOD_2, &["OPENAI_API_KEY"])
                + &processor("replicate/generic@1", REPLICATE, &[])),
        );
        let output = project.apply(&[]);
        output.assert_exit(0);
        insta::assert_snapshot!("apply_updates_one_of_two", output.transcript());
        assert!(tag_of(&project, "llm-litellm-v1").starts_with("mp2-222222222222-"));
        assert_eq!(project.rpc_count("AppPublish"), 1);
    }
}

#[test]
fn a_bad_digest_fails_the_deploy_with_modals_message_and_changes_nothing() {
    for cli in ModalCli::ALL {
        let project = Project::new(
            cli,
            &processor("llm/litellm@1", LITELLM_DEAD, &["OPENAI_API_KEY"]),
        );
        let output = project.apply(&[]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-litellm-v1"),
            "llm-litellm-v1 | main | unchanged at v2 (ERR_DEPLOY_FAILED) | v2"
        );
        let stdout = text(&output.stdout);
        assert!(
            stdout.contains(&format!(
                "failed with the exception: Failed to pull image {LITELLM_DEAD}: manifest unknown\n"
            )),
            "{cli:?}: {}",
            describe(&output)
        );
        assert!(
            stdout.contains("  log: .modalplan/logs/main/llm-litellm-v1.log\n"),
            "{stdout}"
        );
        assert!(stdout.contains("  | "), "the log tail is shown: {stdout}");
        // Nothing was published; v2 is still live and nothing was rolled back.
        assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 2));
        assert_eq!(project.history("llm-litellm-v1").len(), 2);
        assert_eq!(project.rpc_count("AppPublish"), 0);
        assert_eq!(project.rpc_count("AppRollback"), 0);
    }
}

#[test]
fn one_of_three_failing_leaves_the_other_two_deployed() {
    let project = Project::new(
        ModalCli::New,
        &(processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"])
            + &processor("replicate/generic@1", REPLICATE, &[])
            + &processor("audio/whisper@2", LITELLM_DEAD, &[])),
    );
    let output = project.apply(&["--parallelism", "3"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(
        row(&output, "llm-litellm-v1"),
        "llm-litellm-v1 | main | deployed v3 | v3"
    );
    assert_eq!(
        row(&output, "replicate-generic-v1"),
        "replicate-generic-v1 | main | deployed v1 | v1"
    );
    assert_eq!(
        row(&output, "audio-whisper-v2"),
        "audio-whisper-v2 | main | not created (ERR_DEPLOY_FAILED) | -"
    );
    assert!(text(&output.stdout).contains("Apply failed: 2 deployed, 2 unchanged, 1 failed in "));
    assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 3));
    assert_eq!(project.live("replicate-generic-v1"), ("deployed".into(), 1));
    assert_ne!(project.live("audio-whisper-v2").0, "deployed");
}
