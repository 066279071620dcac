//! A sandbox of one's own: deploy, invoke, logs, smoke and status; prune of sandboxes whose branch is gone.

use super::*;

#[test]
fn deploy_to_a_sandbox_then_invoke_logs_smoke_and_status() {
    for cli in ModalCli::ALL {
        let workspace = Workspace::new(cli, &seed());

        let mut filters = snapshot::filters();
        let deploy = workspace.run(&[
            "deploy",
            "--no-registry-check",
            "--env",
            "dev",
            "--ref",
            "llm/litellm@1",
        ]);
        deploy.assert_exit(0);
        filters.bind(|| insta::assert_snapshot!("deploy_to_a_sandbox", deploy.transcript()));
        let tag = deployed_tag(&workspace);
        // The tag is the deployed one's (read from Modal), whatever the example module's code.
        filters.add_filter(&snapshot::regex_escape(&tag), "[TAG]");
        assert!(tag.starts_with("mp2-aaaaaaaaaaaa-"), "{tag}");
        assert_eq!(
            workspace.apps("dev"),
            [(
                SANDBOX.to_owned(),
                "deployed".to_owned(),
                vec![(1, tag.clone())]
            )],
            "{cli:?}"
        );
        let publishes = workspace.rpcs_named("AppPublish");
        assert_eq!(publishes.len(), 1, "{cli:?}");
        assert_eq!(publishes[0]["name"], SANDBOX);
        assert_eq!(publishes[0]["deployment_tag"], tag.as_str());
        assert_eq!(publishes[0]["env"], "dev");
        assert!(workspace.apps("main").is_empty());
        assert_no_secret_value(&deploy);

        // The example module's deterministic mock result.
        workspace.emulator.clear_calls();
        let invoke = workspace.run(&[
            "invoke",
            "--env",
            "dev",
            "--ref",
            "llm/litellm@1",
            "--payload-json",
            r#"{"schema":"v1","mode":"real","params":{"prompt":"hi"}}"#,
            "--mode",
            "mock",
        ]);
        assert_eq!(
            invoke.status.code(),
            Some(0),
            "{cli:?}: {}",
            stderr(&invoke)
        );
        let result: Value = serde_json::from_slice(&invoke.stdout).unwrap();
        assert_eq!(
            result,
            json!({
                "schema": "v1",
                "mode": "mock",
                "processor": "llm/litellm@1",
                "status": "ok",
                "outputs": {
                    "text": "mock output of llm/litellm@1",
                    "params_sha256": "14479f4e87d340fe0ca0d522d87a5b3a028ebb1af24fbb8d3ef4553044fc6db6"
                }
            })
        );
        assert_eq!(
            stdout(&invoke),
            format!("{}\n", serde_json::to_string_pretty(&result).unwrap())
        );
        assert_eq!(stderr(&invoke), "");
        let gets = workspace.rpcs_named("FunctionGet");
        assert_eq!(gets.len(), 1, "{cli:?}");
        assert_eq!(gets[0]["app_name"], SANDBOX);
        assert_eq!(gets[0]["object_tag"], "run");
        assert_eq!(gets[0]["env"], "dev");
        // Mock mode reads no secret list.
        assert!(workspace.rpcs_named("SecretList").is_empty());

        // Real mode: the required secret exists in dev, so the call goes ahead with it attached.
        let real = workspace.run(&[
            "invoke",
            "--env",
            "dev",
            "--ref",
            "llm/litellm@1",
            "--payload-json",
            r#"{"schema":"v1","params":{}}"#,
            "--mode",
            "real",
        ]);
        assert_eq!(real.status.code(), Some(0), "{cli:?}: {}", stderr(&real));
        assert_eq!(
            serde_json::from_slice::<Value>(&real.stdout).unwrap(),
            json!({"schema": "v1", "mode": "real", "processor": "llm/litellm@1", "status": "ok",
                   "outputs": {"secrets_present": ["OPENAI_API_KEY"]}})
        );
        assert_no_secret_value(&real);

        let logs = workspace.run(&["logs", "--env", "dev", "--ref", "llm/litellm@1"]);
        assert_eq!(logs.status.code(), Some(0), "{cli:?}: {}", stderr(&logs));
        assert_eq!(
            stdout(&logs),
            "smoke processor=llm/litellm@1 mode=mock\nrun processor=llm/litellm@1 mode=mock\nrun processor=llm/litellm@1 mode=real\n",
            "{cli:?}"
        );

        let smoke = workspace.run(&["smoke", "--env", "dev", "--sandbox"]);
        smoke.assert_exit(0);
        filters.bind(|| insta::assert_snapshot!("smoke_a_sandbox", smoke.transcript()));
        // The CI name is not deployed: its smoke check fails, exit 1.
        let smoke = workspace.run(&["smoke", "--env", "dev", "--ref", "llm/litellm@1"]);
        smoke.assert_exit(1);
        filters.bind(|| insta::assert_snapshot!("smoke_an_app_not_deployed", smoke.transcript()));

        let status = workspace.run(&["status", "--env", "dev", "--sandbox"]);
        status.assert_exit(0);
        filters.bind(|| insta::assert_snapshot!("status_of_a_sandbox", status.transcript()));

        // A sandbox plan reads no apply lock (sandbox applies take none): no note, no lock read, even
        // while CI's apply holds the lock of dev.
        let (mut holder, _) = crate::apply_lock::hold_lock_in(&workspace.emulator, "dev");
        workspace.emulator.clear_calls();
        let plan = workspace.run(&["plan", "--env", "dev", "--sandbox", "--no-registry-check"]);
        assert_eq!(plan.status.code(), Some(0), "{cli:?}: {}", stderr(&plan));
        assert!(
            !stdout(&plan).contains("note:"),
            "{cli:?}: {}",
            stdout(&plan)
        );
        // (The release records are read, as in every plan: the sandbox deploy above wrote one.)
        let lock_calls = crate::apply_lock::dict_rpcs_of(&workspace.emulator, "modalplan-locks");
        assert_eq!(lock_calls, Vec::<String>::new(), "{cli:?}");
        let record_calls =
            crate::apply_lock::dict_rpcs_of(&workspace.emulator, "modalplan-releases");
        assert_eq!(record_calls, ["DictGetOrCreate", "DictContents"], "{cli:?}");
        drop(holder.stdin.take());
        assert!(holder.wait().unwrap().success());

        // A second deploy with another (pinned) image updates the same app to v2.
        if cli == ModalCli::New {
            let other = format!("docker.io/acme/llm-litellm@sha256:{}", "b".repeat(64));
            let redeploy = workspace.run(&[
                "deploy",
                "--no-registry-check",
                "--env",
                "dev",
                "--ref",
                "llm/litellm@1",
                "--image",
                &other,
                "--no-smoke",
            ]);
            // The emulator cannot pull an image it was not seeded with: the deploy fails and v1 stays.
            assert_eq!(redeploy.status.code(), Some(1), "{}", stderr(&redeploy));
            assert!(
                stderr(&redeploy).contains(&format!(
                    "error: deploy of llm/litellm@1 as `{SANDBOX}` to `dev` failed; "
                )),
                "{}",
                stderr(&redeploy)
            );
            assert!(
                stderr(&redeploy).contains("ERR_DEPLOY_FAILED"),
                "{}",
                stderr(&redeploy)
            );
            assert_eq!(
                workspace.apps("dev")[0].2.last().unwrap(),
                &(1, tag.clone()),
                "v1 is still live"
            );
        }
    }
}

#[test]
fn prune_lists_then_stops_sandboxes_whose_branch_is_gone() {
    let seed = json!({
        "environments": ["dev", "main"],
        "apps": {"dev": [
            {"name": "llm-litellm-v1", "history": [{"version": 1}]},
            {"name": "alice-feature-x-llm-litellm-v1", "history": [{"version": 1}]},
            {"name": "bob-old-work-llm-litellm-v1", "history": [{"version": 1}]},
            {"name": "bob-old-work-other-app", "history": [{"version": 1}]}
        ]},
    });
    let workspace = Workspace::new(ModalCli::Old, &seed);
    // A git checkout whose origin has `main` and `feature/x` only.
    let origin = workspace.path().join("origin.git");
    let git = |dir: &Path, args: &[&str]| {
        let output = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}: {}", stderr(&output));
    };
    git(
        workspace.path(),
        &["init", "-q", "--bare", origin.to_str().unwrap()],
    );
    git(workspace.path(), &["init", "-q", "-b", "main"]);
    git(
        workspace.path(),
        &["commit", "-q", "--allow-empty", "-m", "start"],
    );
    git(
        workspace.path(),
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    git(
        workspace.path(),
        &["push", "-q", "origin", "main", "main:feature/x"],
    );

    let listed = workspace.run(&["prune", "--sandboxes", "--env", "dev"]);
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    assert_eq!(
        stdout(&listed),
        "Sandbox apps in `dev` whose branch is gone from `origin`:\n  bob-old-work-llm-litellm-v1  (llm/litellm@1)\n\nRun again with --yes to stop it.\n"
    );
    assert!(workspace.rpcs_named("AppStop").is_empty());

    let stopped = workspace.run(&["prune", "--sandboxes", "--env", "dev", "--yes"]);
    assert_eq!(stopped.status.code(), Some(0), "{}", stderr(&stopped));
    assert_eq!(
        stdout(&stopped),
        "Sandbox apps in `dev` whose branch is gone from `origin`:\n  bob-old-work-llm-litellm-v1  (llm/litellm@1)\n\nStopped bob-old-work-llm-litellm-v1\n"
    );
    let states: Vec<(String, String)> = workspace
        .apps("dev")
        .into_iter()
        .map(|(name, state, _)| (name, state))
        .collect();
    assert_eq!(
        states,
        [
            (
                "alice-feature-x-llm-litellm-v1".to_owned(),
                "deployed".to_owned()
            ),
            (
                "bob-old-work-llm-litellm-v1".to_owned(),
                "stopped".to_owned()
            ),
            ("bob-old-work-other-app".to_owned(), "deployed".to_owned()),
            ("llm-litellm-v1".to_owned(), "deployed".to_owned()),
        ]
    );
    assert_eq!(workspace.rpcs_named("AppStop").len(), 1);

    let again = workspace.run(&["prune", "--sandboxes", "--env", "dev"]);
    assert_eq!(
        stdout(&again),
        "No sandbox app in `dev` has lost its branch on `origin`.\n"
    );

    let no_remote = workspace.run(&[
        "prune",
        "--sandboxes",
        "--env",
        "dev",
        "--remote",
        "upstream",
    ]);
    assert_eq!(no_remote.status.code(), Some(1));
    assert!(
        stderr(&no_remote).starts_with(
            "ERR_USAGE\n\n  × could not list the branches of the git remote `upstream`:"
        ),
        "{}",
        stderr(&no_remote)
    );
}
