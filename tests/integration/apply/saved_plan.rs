//! `apply plan.json`: applied exactly as saved, or refused when stale.

use super::*;

#[test]
fn a_saved_plan_is_applied_exactly_or_refused_when_stale() {
    let project = Project::new(
        ModalCli::Old,
        &processor("llm/litellm@1", LITELLM_GOOD, &["OPENAI_API_KEY"]),
    );
    let sha = manifest_sha256(&project);

    // Planned against v2 (tag mp-0123456789abcdef), but the manifest changed since.
    let plan = saved_plan(
        &project,
        "sha256:0000",
        &json!({"version": 2, "tag": "mp-0123456789abcdef"}),
    );
    let output = project.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = flat(&text(&output.stderr));
    assert!(stderr.contains("ERR_STALE_PLAN"), "{stderr}");
    assert!(
        stderr.contains(&flat(&format!(
            "the plan is stale: the manifest changed since it was made (sha256:0000 then, {sha} now); plan again"
        ))),
        "{stderr}"
    );

    // Planned against v1: Modal moved since.
    let plan = saved_plan(&project, &sha, &json!({"version": 1, "tag": null}));
    let output = project.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = flat(&text(&output.stderr));
    assert!(stderr.contains("ERR_STALE_PLAN"), "{stderr}");
    assert!(
        stderr.contains(&flat(
            "main/llm-litellm-v1: v1 untagged when planned, v2 tagged mp-0123456789abcdef now"
        )),
        "{stderr}"
    );
    assert_eq!(project.rpc_count("AppPublish"), 0);
    assert_eq!(project.live("llm-litellm-v1"), ("deployed".into(), 2));

    // Current: applied exactly, with the plan's tag.
    let plan = saved_plan(
        &project,
        &sha,
        &json!({"version": 2, "tag": "mp-0123456789abcdef"}),
    );
    let output = project.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        row(&output, "llm-litellm-v1"),
        "llm-litellm-v1 | main | deployed v3 | v3"
    );
    assert_eq!(
        project.history("llm-litellm-v1").last().cloned(),
        Some((
            3,
            "mp2-111111111111-aaaaaa-bbbbbb-cccccc-dddddd".to_owned(),
            0
        ))
    );
}
