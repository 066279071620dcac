//! The commands for people (deploy, invoke, logs, smoke, secrets check, status, init, prune, completions,
//! man) through the built binary, the real `modal` CLI and the emulator.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::emulator::{Emulator, ModalCli, repo_root};
use crate::support::run::{Modalplan, Run};

const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SANDBOX: &str = "alice-feature-x-llm-litellm-v1";

fn image() -> String {
    format!("docker.io/acme/llm-litellm@{DIGEST}")
}

fn manifest() -> String {
    format!(
        r#"version = 1

[modal]
module = "modal_app"
environments = ["dev", "main"]

[smoke]
function = "smoke"
payload = {{ schema = "v1", mode = "mock", params = {{}} }}
timeout = "60s"

[secrets.OPENAI_API_KEY]
keys = ["OPENAI_API_KEY"]

[secrets.LITELLM_API_BASE]
keys = ["LITELLM_API_BASE"]

[[processor]]
ref = "llm/litellm@1"
image.oci = "{}"
secrets.required = ["OPENAI_API_KEY"]
secrets.optional = ["LITELLM_API_BASE"]
"#,
        image()
    )
}

/// dev has `OPENAI_API_KEY` (with a value no output may show), main has no secret; the image is pullable.
fn seed() -> Value {
    json!({
        "environments": ["dev", "main"],
        "secrets": {"dev": {"OPENAI_API_KEY": {"OPENAI_API_KEY": "sk-never-shown-4242"}}},
        "images": {image(): {"env": {}}},
    })
}

/// An app of the emulator's state: name, state, and its history as (version, tag).
type AppRecord = (String, String, Vec<(u64, String)>);

/// A folder with the manifest and `examples/modal_app.py`, and an emulator.
struct Workspace {
    dir: TempDir,
    emulator: Emulator,
}

impl Workspace {
    fn new(cli: ModalCli, seed: &Value) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("modalplan-people-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("processors.toml"), manifest()).unwrap();
        std::fs::copy(
            repo_root().join("examples/modal_app.py"),
            dir.path().join("modal_app.py"),
        )
        .unwrap();
        Self {
            dir,
            emulator: Emulator::start(cli, seed),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// modalplan in the workspace as alice on branch `feature/x`, talking to the emulator.
    fn modalplan(&self, args: &[&str]) -> Modalplan {
        Modalplan::new()
            .current_dir(self.path())
            .env_of(&self.emulator)
            .env("USER", "alice")
            .env("MODALPLAN_BRANCH", "feature/x")
            .timeout(std::time::Duration::from_secs(180))
            .args(args)
    }

    fn run(&self, args: &[&str]) -> Run {
        self.modalplan(args).run()
    }

    /// The apps of the emulator's state in `environment`: name → (state, [(version, tag)]).
    fn apps(&self, environment: &str) -> Vec<AppRecord> {
        let state = self.emulator.state();
        let mut apps: Vec<_> = state["apps"]
            .as_object()
            .unwrap()
            .values()
            .filter(|app| app["environment"] == environment)
            .map(|app| {
                let history = app["history"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|entry| {
                        (
                            entry["version"].as_u64().unwrap(),
                            entry["tag"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                (
                    app["name"].as_str().unwrap().to_owned(),
                    app["state"].as_str().unwrap().to_owned(),
                    history,
                )
            })
            .collect();
        apps.sort();
        apps
    }

    /// The RPCs of the call log, with the field that says what each acted on.
    fn rpcs_named(&self, rpc: &str) -> Vec<Value> {
        self.emulator
            .calls()
            .into_iter()
            .filter(|call| call["rpc"] == rpc)
            .collect()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_no_secret_value(output: &Output) {
    assert!(
        !stdout(output).contains("sk-never-shown"),
        "{}",
        stdout(output)
    );
    assert!(
        !stderr(output).contains("sk-never-shown"),
        "{}",
        stderr(output)
    );
}

/// The tag `modalplan` gives this deployment (the optional secret is absent in dev).
fn deployed_tag(workspace: &Workspace) -> String {
    let apps = workspace.apps("dev");
    let (_, _, history) = apps.iter().find(|(name, _, _)| name == SANDBOX).unwrap();
    history.last().unwrap().1.clone()
}

#[test]
fn deploy_to_a_sandbox_then_invoke_logs_smoke_and_status() {
    for cli in ModalCli::ALL {
        let workspace = Workspace::new(cli, &seed());

        let deploy = workspace.run(&[
            "deploy",
            "--no-registry-check",
            "--env",
            "dev",
            "--ref",
            "llm/litellm@1",
        ]);
        assert_eq!(
            deploy.status.code(),
            Some(0),
            "{cli:?}: {}",
            stderr(&deploy)
        );
        assert_eq!(
            stdout(&deploy),
            format!(
                "Deployed llm/litellm@1 to `dev` as `{SANDBOX}` (v1, smoke check passed).\nCall it with:\n  modalplan invoke --env dev --ref llm/litellm@1 --payload-json '{{\"schema\":\"v1\",\"mode\":\"mock\",\"params\":{{}}}}'\n"
            ),
            "{cli:?}"
        );
        assert_eq!(
            stderr(&deploy),
            format!(
                "warning: WARN_OPTIONAL_SECRET_MISSING: secret `LITELLM_API_BASE` (optional by llm/litellm@1) is missing in environment `dev`: it deploys without it\n  fix: modal secret create LITELLM_API_BASE --env dev LITELLM_API_BASE=...\ndev/{SANDBOX}: creating\ndev/{SANDBOX}: deploying (log: .modalplan/logs/dev/{SANDBOX}.log)\ndev/{SANDBOX}: smoke-checking v1\n"
            ),
            "{cli:?}"
        );
        let tag = deployed_tag(&workspace);
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
        assert_eq!(smoke.status.code(), Some(0), "{cli:?}: {}", stderr(&smoke));
        assert_eq!(
            stdout(&smoke),
            format!("ok       llm/litellm@1  dev/{SANDBOX}\n\n1 passed, 0 failed, 0 skipped.\n")
        );
        // The CI name is not deployed: its smoke check fails, exit 1.
        let smoke = workspace.run(&["smoke", "--env", "dev", "--ref", "llm/litellm@1"]);
        assert_eq!(smoke.status.code(), Some(1), "{cli:?}: {}", stderr(&smoke));
        assert_eq!(
            stdout(&smoke),
            "FAILED   llm/litellm@1  dev/llm-litellm-v1  ERR_APP_NOT_DEPLOYED: app `llm-litellm-v1` is not deployed in `dev`\n\n0 passed, 1 failed, 0 skipped.\n"
        );

        let status = workspace.run(&["status", "--env", "dev", "--sandbox"]);
        assert_eq!(
            status.status.code(),
            Some(0),
            "{cli:?}: {}",
            stderr(&status)
        );
        let width = tag.len();
        assert_eq!(
            stdout(&status),
            format!(
                "Environment `dev`:\n  REF            APP                             STATE     VERSION  {:<width$}  MANIFEST\n  llm/litellm@1  {SANDBOX}  deployed  v1       {tag}  matches\n\n1 of 1 match the manifest; `modalplan plan --env dev` shows the changes.\nApply lock of `dev`: free.\n",
                "TAG"
            )
        );

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
fn invoke_errors_name_the_problem_and_the_fix() {
    let workspace = Workspace::new(ModalCli::New, &seed());

    // A payload that is not JSON: the position, before anything reaches Modal.
    let bad = workspace.run(&[
        "invoke",
        "--env",
        "dev",
        "--ref",
        "llm/litellm@1",
        "--payload-json",
        r#"{"schema":"v1" "mode":"mock"}"#,
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(stdout(&bad), "");
    assert_eq!(
        stderr(&bad),
        "ERR_USAGE\n\n  × `--payload-json` is not valid JSON: expected `,` or `}` at line 1, column\n  │ 16\n  help: {\"schema\":\"v1\" \"mode\":\"mock\"}\n                       ^\n        fix the JSON there; in a shell, quote it in single quotes: --payload-\n        json '{\"schema\":\"v1\",\"mode\":\"mock\",\"params\":{}}'\n\n"
    );

    // An unknown ref, with the closest one.
    let unknown = workspace.run(&[
        "invoke",
        "--env",
        "dev",
        "--ref",
        "llm/litelm@1",
        "--payload-json",
        "{}",
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        stderr(&unknown),
        "ERR_USAGE\n\n  × `--ref llm/litelm@1` is not a processor of processors.toml (did you mean\n  │ `llm/litellm@1`?)\n  help: pass one of the refs processors.toml lists: llm/litellm@1\n\n"
    );
    assert!(
        workspace.emulator.calls().is_empty(),
        "{:?}",
        workspace.emulator.calls()
    );

    // Real mode under CI=true is refused before anything reaches Modal.
    let in_ci = workspace
        .modalplan(&[
            "invoke",
            "--env",
            "dev",
            "--ref",
            "llm/litellm@1",
            "--payload-json",
            "{}",
            "--mode",
            "real",
        ])
        .env("CI", "true")
        .run();
    assert_eq!(in_ci.status.code(), Some(1));
    assert_eq!(
        stderr(&in_ci),
        "ERR_USAGE\n\n  × refusing to invoke in mode `real` under CI=true\n  help: real mode calls external providers with real secrets; pass --allow-\n        real-in-ci if this job is meant to, or use --mode mock\n\n"
    );
    assert!(workspace.emulator.calls().is_empty());

    // Real mode in main, where the required secret is missing: the fix, and no call of the function.
    let missing = workspace
        .modalplan(&[
            "invoke",
            "--env",
            "main",
            "--ref",
            "llm/litellm@1",
            "--payload-json",
            r#"{"mode":"real"}"#,
            "--allow-real-in-ci",
        ])
        .env("CI", "true")
        .run();
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        stderr(&missing),
        "ERR_MISSING_SECRET\n\n  × mode `real` of llm/litellm@1 needs the secret OPENAI_API_KEY in\n  │ environment `main`, and it is missing\n  help: create it, then invoke again:\n        modal secret create OPENAI_API_KEY --env main OPENAI_API_KEY=...\n\n"
    );
    assert_eq!(workspace.emulator.rpcs(), ["AppList", "SecretList"]);
    assert!(workspace.rpcs_named("FunctionGet").is_empty());

    // Nothing deployed under the sandbox name: the deploy to run.
    workspace.emulator.clear_calls();
    let absent = workspace.run(&[
        "invoke",
        "--env",
        "dev",
        "--ref",
        "llm/litellm@1",
        "--payload-json",
        "{}",
    ]);
    assert_eq!(absent.status.code(), Some(1));
    assert_eq!(
        stderr(&absent),
        format!(
            "ERR_APP_NOT_DEPLOYED\n\n  × app `{SANDBOX}` is not deployed in environment `dev`\n  help: deploy it first: modalplan deploy --env dev --ref llm/litellm@1\n\n"
        )
    );
    let gets = workspace.rpcs_named("FunctionGet");
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0]["app_name"], SANDBOX);
    // And with --app-name, the deploy names it too.
    let named = workspace.run(&[
        "invoke",
        "--env",
        "dev",
        "--ref",
        "llm/litellm@1",
        "--payload-json",
        "{}",
        "--app-name",
        "my-try",
    ]);
    assert_eq!(named.status.code(), Some(1));
    assert_eq!(
        stderr(&named),
        "ERR_APP_NOT_DEPLOYED\n\n  × app `my-try` is not deployed in environment `dev`\n  help: deploy it first: modalplan deploy --env dev --ref llm/litellm@1 --app-\n        name my-try\n\n"
    );
}

#[test]
fn invoke_times_out_when_modal_does_not_answer() {
    let workspace = Workspace::new(ModalCli::New, &seed());
    let deploy = workspace.run(&[
        "deploy",
        "--no-registry-check",
        "--env",
        "dev",
        "--ref",
        "llm/litellm@1",
        "--app-name",
        "slow-app",
        "--no-smoke",
    ]);
    assert_eq!(deploy.status.code(), Some(0), "{}", stderr(&deploy));
    assert!(
        stdout(&deploy).starts_with(
            "Deployed llm/litellm@1 to `dev` as `slow-app` (v1, smoke check skipped).\nCall it with:\n  modalplan invoke --env dev --ref llm/litellm@1 --app-name slow-app --payload-json "
        ),
        "{}",
        stdout(&deploy)
    );
    workspace
        .emulator
        .add_fault(&json!({"rpc": "FunctionGetOutputs", "latency_ms": 8000}));
    let started = std::time::Instant::now();
    let slow = workspace.run(&[
        "invoke",
        "--env",
        "dev",
        "--ref",
        "llm/litellm@1",
        "--app-name",
        "slow-app",
        "--payload-json",
        "{}",
        "--timeout",
        "3s",
    ]);
    assert_eq!(slow.status.code(), Some(1), "{}", stderr(&slow));
    assert_eq!(
        stderr(&slow),
        "ERR_MODAL_TIMEOUT\n\n  × `slow-app.run` in environment `dev` did not answer within 3s\n  help: raise it with --timeout, or look at what the function did: modalplan\n        logs --env dev --ref llm/litellm@1 --app-name slow-app\n\n"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(40));
}

#[test]
fn deploy_refuses_an_unpinned_image_and_a_missing_secret() {
    let workspace = Workspace::new(ModalCli::New, &seed());
    let unpinned = workspace.run(&[
        "deploy",
        "--env",
        "dev",
        "--ref",
        "llm/litellm@1",
        "--image",
        "docker.io/acme/llm-litellm:latest",
    ]);
    assert_eq!(unpinned.status.code(), Some(1));
    assert_eq!(
        stderr(&unpinned),
        "ERR_IMAGE_UNPINNED\n\n  × `--image`: `docker.io/acme/llm-litellm:latest` is pinned by the tag\n  │ `latest`, which can move\n  help: pin it by digest: --image REGISTRY/REPOSITORY@sha256:<64 hex> (`docker\n        buildx imagetools inspect IMAGE` prints the digest)\n\n"
    );
    assert!(workspace.emulator.calls().is_empty());

    let blocked = workspace.run(&[
        "deploy",
        "--no-registry-check",
        "--env",
        "main",
        "--ref",
        "llm/litellm@1",
    ]);
    assert_eq!(blocked.status.code(), Some(1));
    assert_eq!(
        stderr(&blocked),
        format!(
            "ERR_MISSING_SECRET\n\n  × cannot deploy llm/litellm@1 as `{SANDBOX}` to `main`:\n  │ ERR_MISSING_SECRET: secret `OPENAI_API_KEY` (required by llm/litellm@1) is\n  │ missing in environment `main`: it cannot be deployed\n  help: then deploy again:\n        modal secret create OPENAI_API_KEY --env main OPENAI_API_KEY=...\n\n"
        )
    );
    assert!(workspace.rpcs_named("AppPublish").is_empty());
    assert!(workspace.apps("main").is_empty());

    // The registry pre-flight runs unless --no-registry-check: an image it cannot find blocks the deploy.
    let unavailable = workspace
        .modalplan(&["deploy", "--env", "dev", "--ref", "llm/litellm@1"])
        .env("MODALPLAN_REGISTRY_MIRROR", "http://127.0.0.1:9")
        .run();
    assert_eq!(unavailable.status.code(), Some(1));
    let text = stderr(&unavailable);
    assert!(text.starts_with("ERR_IMAGE_UNAVAILABLE\n"), "{text}");
    assert!(text.contains("ERR_IMAGE_UNAVAILABLE: image"), "{text}");
    assert!(workspace.rpcs_named("AppPublish").is_empty());
    assert!(workspace.apps("dev").is_empty());
}

#[test]
fn secrets_check_lists_the_policy_and_the_commands_for_what_is_missing() {
    let workspace = Workspace::new(ModalCli::Old, &seed());
    let dev = workspace.run(&["secrets", "check", "--env", "dev"]);
    assert_eq!(dev.status.code(), Some(0), "{}", stderr(&dev));
    assert_eq!(
        stdout(&dev),
        "Secrets of processors.toml in environment `dev`:\n  SECRET            STATE    NEEDED BY\n  LITELLM_API_BASE  missing  llm/litellm@1 (optional)\n  OPENAI_API_KEY    present  llm/litellm@1 (required)\n\nCreate the missing ones (fill in the values):\n  modal secret create LITELLM_API_BASE --env dev LITELLM_API_BASE=...\n\n0 required missing, 1 optional missing.\n"
    );
    assert_no_secret_value(&dev);
    let main = workspace.run(&["secrets", "check", "--env", "main"]);
    assert_eq!(main.status.code(), Some(1));
    assert_eq!(
        stdout(&main),
        "Secrets of processors.toml in environment `main`:\n  SECRET            STATE    NEEDED BY\n  LITELLM_API_BASE  missing  llm/litellm@1 (optional)\n  OPENAI_API_KEY    missing  llm/litellm@1 (required)\n\nCreate the missing ones (fill in the values):\n  modal secret create LITELLM_API_BASE --env main LITELLM_API_BASE=...\n  modal secret create OPENAI_API_KEY --env main OPENAI_API_KEY=...\n\n1 required missing, 1 optional missing.\n"
    );
    assert_eq!(
        workspace.emulator.rpcs(),
        ["AppList", "SecretList", "AppList", "SecretList"]
    );
    let typo = workspace.run(&["secrets", "check", "--env", "mian"]);
    assert_eq!(typo.status.code(), Some(1));
    assert_eq!(
        stderr(&typo),
        "ERR_UNKNOWN_ENVIRONMENT\n\n  × `--env mian` is not an environment of processors.toml (did you mean\n  │ `main`?)\n  help: pass one of the environments [modal].environments lists: dev, main\n\n"
    );
}

#[test]
fn status_says_what_differs_from_the_manifest() {
    let seed = json!({
        "environments": ["dev", "main"],
        "images": {image(): {"env": {}}},
        "apps": {"main": [{"name": "llm-litellm-v1", "history": [
            {"version": 1, "tag": ""},
            {"version": 2, "tag": "v0.9"}
        ]}]},
    });
    let workspace = Workspace::new(ModalCli::New, &seed);
    let status = workspace.run(&["status", "--env", "main"]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    assert_eq!(
        stdout(&status),
        "Environment `main`:\n  REF            APP             STATE     VERSION  TAG   MANIFEST\n  llm/litellm@1  llm-litellm-v1  deployed  v2       v0.9  differs: deployed outside modalplan (tag `v0.9` is not a modalplan fingerprint) (apply blocked: ERR_MISSING_SECRET)\n\n0 of 1 match the manifest; `modalplan plan --env main` shows the changes.\nApply lock of `main`: free.\n"
    );
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
