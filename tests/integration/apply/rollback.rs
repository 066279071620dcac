//! A failed or timed-out smoke check rolls back; a rollback that fails itself says so.

use super::*;

#[test]
fn a_failed_smoke_check_is_rolled_back_with_each_cli() {
    for (cli, image, message) in [
        (
            ModalCli::New,
            LITELLM_SMOKE_ERROR,
            "smoke check `smoke` of `llm-litellm-v1` failed: mock adapter failed to load",
        ),
        (
            ModalCli::Old,
            LITELLM_SMOKE_RAISES,
            "smoke check `smoke` of `llm-litellm-v1` failed: RuntimeError: mock adapter crashed",
        ),
    ] {
        let project = Project::new(
            cli,
            &processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"]),
        );
        let output = project.apply(&["--target", "llm/litellm@1"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        let good_tag = tag_of(&project, "llm-litellm-v1");

        project.write_manifest(&processor("llm/litellm@1", image, &["OPENAI_API_KEY"]));
        let output = project.apply(&["--target", "llm/litellm@1"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-litellm-v1"),
            "llm-litellm-v1 | main | rolled back to v3 (live as v5) (ERR_SMOKE_FAILED) | v5"
        );
        let stdout = text(&output.stdout);
        assert!(
            stdout.contains(&format!("  ERR_SMOKE_FAILED: {message}\n")),
            "{cli:?}: {}",
            describe(&output)
        );
        assert!(
            stdout.contains("llm-litellm-v1 (main): rolled back to v3 (live as v5)\n"),
            "{cli:?}: {}",
            describe(&output)
        );
        // v5 runs v3's image again, so the smoke check after the rollback passes.
        assert!(
            !stdout.contains("ERR_ROLLBACK_FAILED"),
            "{cli:?}: the rolled-back version passes its smoke check: {}",
            describe(&output)
        );
        assert!(
            stdout.contains("Apply failed: 0 deployed, 0 unchanged, 1 failed in "),
            "{stdout}"
        );
        // v4 is the failed deploy, v5 the rollback to v3: live again, with v3's tag.
        let history = project.history("llm-litellm-v1");
        assert_eq!(history.len(), 5, "{history:?}");
        let failed_tag_head = format!("mp2-{}-", &image[image.len() - 64..][..12]);
        assert_eq!((history[3].0, history[3].2), (4, 0), "{history:?}");
        assert!(history[3].1.starts_with(&failed_tag_head), "{history:?}");
        assert_eq!(history[4], (5, good_tag.clone(), 3));
        assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 5));
    }
}

#[test]
fn a_smoke_check_that_times_out_is_rolled_back() {
    let with_smoke_timeout = |image: &str| {
        processor("llm/litellm@1", image, &["OPENAI_API_KEY"])
            .trim_end()
            .to_owned()
            + "\nsmoke.timeout = \"10s\"\n"
    };
    // v3: a version whose smoke check answers, to roll back to.
    let project = Project::new(ModalCli::New, &with_smoke_timeout(LITELLM_GOOD));
    let output = project.apply(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let good_tag = tag_of(&project, "llm-litellm-v1");
    // The smoke check may take 10s; this image's smoke function sleeps far longer.
    project.write_manifest(&with_smoke_timeout(LITELLM_SMOKE_SLEEPS));
    let output = project.apply(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    // v4 is the deploy whose smoke check timed out, v5 the rollback to v3.
    assert_eq!(
        row(&output, "llm-litellm-v1"),
        "llm-litellm-v1 | main | rolled back to v3 (live as v5) (ERR_SMOKE_FAILED) | v5"
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(
            "  ERR_SMOKE_FAILED: smoke check `smoke` of `llm-litellm-v1` failed: no answer within 10s\n"
        ),
        "{}",
        describe(&output)
    );
    assert!(
        !stdout.contains("ERR_ROLLBACK_FAILED"),
        "the rolled-back version passes its smoke check: {}",
        describe(&output)
    );
    let history = project.history("llm-litellm-v1");
    assert_eq!(history.len(), 5, "{history:?}");
    assert!(history[3].1.starts_with("mp2-777777777777-"), "{history:?}");
    assert_eq!(history[4], (5, good_tag, 3));
    assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 5));
    assert_eq!(project.rpc_count("AppRollback"), 1);
}

#[test]
fn a_rollback_that_fails_leaves_the_failed_deploy_live_and_says_so() {
    let project = Project::new(
        ModalCli::New,
        &processor("llm/litellm@1", LITELLM_SMOKE_ERROR, &["OPENAI_API_KEY"]),
    );
    project.emulator.add_fault(&json!({
        "rpc": "AppRollback",
        "status": "PERMISSION_DENIED",
        "message": "rollbacks are not allowed for this workspace"
    }));
    let output = project.apply(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(
        row(&output, "llm-litellm-v1"),
        "llm-litellm-v1 | main | left failed at v3 (ERR_SMOKE_FAILED) | v3"
    );
    let stdout = text(&output.stdout);
    for part in [
        "llm-litellm-v1 (main): left failed at v3\n",
        "  ERR_SMOKE_FAILED: smoke check `smoke` of `llm-litellm-v1` failed: mock adapter failed to load\n",
        "  ERR_ROLLBACK_FAILED: rolling back to v2 failed: ",
        "rollbacks are not allowed for this workspace; v3, deployed by this apply, is still live\n",
        "Apply failed: 0 deployed, 2 unchanged, 1 failed in ",
    ] {
        assert!(stdout.contains(part), "{part}\n{}", describe(&output));
    }
    // The failed deploy is what is live, as the report says; nothing was rolled back.
    let history = project.history("llm-litellm-v1");
    assert_eq!(history.len(), 3, "{history:?}");
    assert!(history[2].1.starts_with("mp2-444444444444-"), "{history:?}");
    assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 3));
    assert_eq!(project.rpc_count("AppRollback"), 1);
}
