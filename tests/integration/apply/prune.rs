//! `apply --prune`: orphans stopped, never a protected one, nor one moved since the saved plan.

use super::*;

#[test]
fn prune_stops_orphans_but_never_a_protected_one() {
    let project = Project::new(
        ModalCli::New,
        &processor("llm/litellm@1", LITELLM_GOOD_2, &["OPENAI_API_KEY"]),
    );
    // Without --prune the orphan stays.
    let output = project.apply(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(project.live("llm-oldtool-v1").0, "deployed");

    let output = project.apply(&["--prune"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        row(&output, "llm-oldtool-v1"),
        "llm-oldtool-v1 | main | stopped (pruned) | -"
    );
    assert_eq!(project.live("llm-oldtool-v1").0, "stopped");
    assert_eq!(project.live("llm-keep-v1").0, "deployed");
    assert_eq!(project.rpc_count("AppStop"), 1);
}

#[test]
fn a_pruned_orphan_moved_since_the_saved_plan_is_refused_and_not_stopped() {
    for cli in ModalCli::ALL {
        // The orphan has two versions, so someone can roll it back between the plan and the apply.
        let mut seed = seed();
        let orphan = seed["apps"]["main"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|app| app["name"] == "llm-oldtool-v1")
            .unwrap();
        orphan["history"] = json!([
            {"version": 1, "tag": "old-1", "deployed_at": "2026-01-04T10:00:00Z", "deployed_by": "alice", "client_version": "1.0.0"},
            {"version": 2, "tag": "old-2", "deployed_at": "2026-01-05T10:00:00Z", "deployed_by": "alice", "client_version": "1.0.0"}
        ]);
        let project = Project::with_seed(
            cli,
            &processor("llm/litellm@1", LITELLM_GOOD_2, &["OPENAI_API_KEY"]),
            &seed,
        );
        let saved = project.dir.path().join("plan.json");
        let output = project.run(&[
            "plan",
            "--prune",
            "--no-registry-check",
            "--out",
            saved.to_str().unwrap(),
        ]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        // The plan shows the orphan's live version and records it.
        assert!(
            text(&output.stdout).contains(
                "  - llm-oldtool-v1 will be stopped\n      --- live\n      +++ planned\n      @@ -1,2 +0,0 @@\n      -version = 2\n      -tag     = old-2\n"
            ),
            "{cli:?}: {}",
            describe(&output)
        );
        let plan: Value = serde_json::from_str(&fs::read_to_string(&saved).unwrap()).unwrap();
        let stop = plan["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|action| action["app_name"] == "llm-oldtool-v1")
            .unwrap();
        assert_eq!(
            (&stop["kind"], &stop["before"]),
            (&json!("stop"), &json!({"version": 2, "tag": "old-2"})),
            "{cli:?}"
        );

        // Someone rolls the orphan back to v1 (live as v3) before the apply.
        let rollback = project
            .emulator
            .modal_command()
            .args(["app", "rollback", "llm-oldtool-v1", "v1", "--env", "main"])
            .output()
            .unwrap();
        assert!(
            rollback.status.success(),
            "{cli:?}: {}",
            describe(&rollback)
        );
        assert_eq!(project.live("llm-oldtool-v1"), ("deployed".into(), 3));

        let output = project.run(&["apply", saved.to_str().unwrap(), "--yes"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{cli:?}: {}",
            describe(&output)
        );
        let stderr = flat(&text(&output.stderr));
        assert!(stderr.contains("ERR_STALE_PLAN"), "{cli:?}: {stderr}");
        assert!(
            stderr.contains(&flat(
                "the plan is stale: Modal changed since it was made; plan again\n  main/llm-oldtool-v1: v2 tagged old-2 when planned, v3 tagged old-1 now"
            )),
            "{cli:?}: {stderr}"
        );
        assert_eq!(
            project.live("llm-oldtool-v1"),
            ("deployed".into(), 3),
            "{cli:?}"
        );
        assert_eq!(project.rpc_count("AppStop"), 0, "{cli:?}");
        assert_eq!(project.rpc_count("AppPublish"), 0, "{cli:?}");

        // A plan saved by a modalplan that did not read orphans' histories has no `before` for the
        // stop: apply stops whatever is live, as that version did.
        let old_plan: modalplan::plan::Plan = serde_json::from_value(json!({
            "format_version": 2,
            "code": code_of(&project),
            "manifest": {"path": "processors.toml", "sha256": manifest_sha256(&project)},
            "environments": ["main"],
            "actions": [{
                "environment": "main", "ref": null, "app_name": "llm-oldtool-v1", "kind": "stop",
                "reasons": [], "before": null, "after": null, "blockers": []
            }],
            "warnings": []
        }))
        .unwrap();
        modalplan::saved_plan::save(&saved, &old_plan).unwrap();
        let output = project.run(&["apply", saved.to_str().unwrap(), "--yes"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{cli:?}: {}",
            describe(&output)
        );
        assert_eq!(
            row(&output, "llm-oldtool-v1"),
            "llm-oldtool-v1 | main | stopped (pruned) | -"
        );
        assert_eq!(project.live("llm-oldtool-v1").0, "stopped", "{cli:?}");
        assert_eq!(project.rpc_count("AppStop"), 1, "{cli:?}");
    }
}
