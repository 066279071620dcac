//! No secret value ever leaves modalplan: every secret in the emulated workspace, `REGISTRY_PASSWORD` and
//! the values `secrets sync` writes get distinctive values, then every command runs (all formats, `-vv`,
//! `RUST_LOG=debug`, the GitHub Actions files), and none of the values may appear in stdout, stderr, deploy
//! logs, saved plans, step summaries, outputs, or the argv of any process modalplan starts (recorded by
//! wrappers around `modal` and its interpreter: a process listing shows argv to every user).

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::support::argv::ArgvRecorder;
use crate::support::emulator::{Emulator, ModalCli, repo_root, workspace_seed};
use crate::support::run::{Modalplan, Run};

const GOOD: &str = "ghcr.io/acme/theory/llm-litellm@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const DEAD: &str = "ghcr.io/acme/theory/llm-litellm@sha256:dead00000000000000000000000000000000000000000000000000000000beef";
const REGISTRY_PASSWORD: &str = "LEAKCHECK-registry-password-5d1e";
/// What `secrets sync` writes, from the environment and from a dotenv file.
const SYNC_OPENAI: &str = "LEAKCHECK-sync-openai-3a7c";
const SYNC_LITELLM: &str = "LEAKCHECK-sync-litellm-e90b";
const DOTENV_OPENAI: &str = "LEAKCHECK-dotenv-openai-61f2";

/// The workspace seed with every secret value replaced by `LEAKCHECK-<env>-<secret>-<key>`; those values.
fn seed_with_marked_secrets() -> (Value, Vec<String>) {
    let mut seed = workspace_seed();
    let mut values = vec![REGISTRY_PASSWORD.to_owned()];
    let secrets = seed["secrets"].as_object_mut().expect("secrets");
    for (environment, named) in secrets.iter_mut() {
        for (name, keys) in named.as_object_mut().expect("secrets of an environment") {
            let keys = keys.as_object_mut().expect("keys");
            for (key, value) in keys.iter_mut() {
                let marked = format!("LEAKCHECK-{environment}-{name}-{key}");
                values.push(marked.clone());
                *value = Value::String(marked);
            }
        }
    }
    values.extend([SYNC_OPENAI, SYNC_LITELLM, DOTENV_OPENAI].map(str::to_owned));
    assert!(values.len() > 8, "{values:?}");
    (seed, values)
}

fn manifest() -> String {
    format!(
        "version = 1\n\n[modal]\nmodule = \"modal_app\"\nworkdir = \"code\"\nenvironments = [\"dev\", \"main\"]\n\n[smoke]\nfunction = \"smoke\"\npayload = {{ schema = \"v1\", mode = \"mock\", params = {{}} }}\ntimeout = \"120s\"\n\n[secrets.REGISTRY_AUTH]\nkeys = [\"REGISTRY_USERNAME\", \"REGISTRY_PASSWORD\"]\n\n[secrets.OPENAI_API_KEY]\nkeys = [\"OPENAI_API_KEY\"]\n\n[secrets.LITELLM_API_BASE]\nkeys = [\"LITELLM_API_BASE\"]\n\n[[processor]]\nref = \"llm/litellm@1\"\nimage.oci = \"{GOOD}\"\nsecrets.required = [\"OPENAI_API_KEY\"]\nsecrets.optional = [\"LITELLM_API_BASE\"]\n\n[[processor]]\nref = \"llm/broken@1\"\nimage.oci = \"{DEAD}\"\nsecrets.required = [\"OPENAI_API_KEY\"]\nenvironments = [\"dev\"]\n"
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file under `folder`, recursively.
fn files_under(folder: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(folder).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, found);
        } else {
            found.push(path);
        }
    }
}

#[test]
fn no_secret_value_appears_in_anything_modalplan_writes() {
    let (seed, values) = seed_with_marked_secrets();
    let emulator = Emulator::start(ModalCli::New, &seed);
    let recorder = ArgvRecorder::new(&emulator);
    let dir = tempfile::Builder::new()
        .prefix("modalplan-leak-")
        .tempdir()
        .expect("temp dir");
    let project = dir.path();
    fs::create_dir_all(project.join("code")).unwrap();
    fs::copy(
        repo_root().join("examples/modal_app.py"),
        project.join("code/modal_app.py"),
    )
    .unwrap();
    fs::write(project.join("processors.toml"), manifest()).unwrap();
    let github = project.join("github");
    fs::create_dir_all(&github).unwrap();
    let summary = github.join("step_summary.md");
    let outputs = github.join("output.txt");
    let logs = project.join("logs");
    fs::write(
        project.join("secrets.env"),
        format!("OPENAI_API_KEY={DOTENV_OPENAI}\nLITELLM_API_BASE='{SYNC_LITELLM}'\n"),
    )
    .unwrap();

    let run = |arguments: &[&str]| -> Run {
        Modalplan::new()
            .current_dir(project)
            .env_of(&emulator)
            .envs(recorder.envs())
            .env("RUST_LOG", "debug")
            .env("USER", "leakcheck")
            .env("REGISTRY_USERNAME", "acme-bot")
            .env("REGISTRY_PASSWORD", REGISTRY_PASSWORD)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_OUTPUT", &outputs)
            .env("OPENAI_API_KEY", SYNC_OPENAI)
            .env("LITELLM_API_BASE", SYNC_LITELLM)
            .args(arguments)
            .run()
    };
    let plan_file = project.join("plan.json");
    let plan_path = plan_file.to_str().unwrap();
    let log_dir = logs.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["-vv", "validate"],
        vec!["-vv", "validate", "--format", "json"],
        vec!["-vv", "validate", "--format", "github"],
        vec!["-vv", "plan", "--no-registry-check"],
        vec!["-vv", "plan", "--no-registry-check", "--format", "json"],
        vec!["-vv", "plan", "--no-registry-check", "--format", "markdown"],
        vec!["-vv", "plan", "--no-registry-check", "--out", plan_path],
        // The registry pre-flight with the password set (the registry is unreachable here).
        vec!["-vv", "plan", "--env", "dev", "--target", "llm/litellm@1"],
        // Deploys with smoke checks, and a deploy that fails (its log tail is shown).
        vec![
            "-vv",
            "apply",
            "--yes",
            "--no-registry-check",
            "--log-dir",
            log_dir,
        ],
        vec!["-vv", "apply", plan_path, "--yes", "--log-dir", log_dir],
        vec!["-vv", "status", "--env", "dev"],
        vec!["-vv", "secrets", "check", "--env", "dev"],
        vec!["-vv", "secrets", "check", "--env", "main"],
        vec!["-vv", "smoke", "--env", "dev"],
        vec![
            "-vv",
            "invoke",
            "--env",
            "dev",
            "--ref",
            "llm/litellm@1",
            "--ci-name",
            "--function",
            "smoke",
            "--payload-json",
            "{\"schema\":\"v1\",\"mode\":\"mock\",\"params\":{}}",
        ],
        vec![
            "-vv",
            "deploy",
            "--env",
            "dev",
            "--ref",
            "llm/litellm@1",
            "--no-registry-check",
        ],
        vec![
            "-vv",
            "logs",
            "--env",
            "dev",
            "--ref",
            "llm/litellm@1",
            "--ci-name",
        ],
        // Secrets sync: a dry run, from the environment, from a file, and one that fails (the file has
        // no REGISTRY_USERNAME, REGISTRY_PASSWORD: REGISTRY_AUTH is not written).
        vec!["-vv", "secrets", "sync", "--env", "dev", "--dry-run"],
        vec!["-vv", "secrets", "sync", "--env", "dev"],
        vec![
            "-vv",
            "secrets",
            "sync",
            "--env",
            "main",
            "--from-dotenv",
            "secrets.env",
        ],
        // The apply lock's command (no lock is left: it says so and exits 1).
        vec!["-vv", "force-unlock", "--env", "dev", "lk-000000000000"],
    ];
    let mut outcomes = Vec::new();
    let mut checked = Vec::new();
    for arguments in &commands {
        let output = run(arguments);
        outcomes.push((arguments.join(" "), output.status.code()));
        checked.push((
            format!("stdout of `{}`", arguments.join(" ")),
            text(&output.stdout),
        ));
        checked.push((
            format!("stderr of `{}`", arguments.join(" ")),
            text(&output.stderr),
        ));
    }
    let mut files = Vec::new();
    files_under(&logs, &mut files);
    files_under(&github, &mut files);
    files.push(plan_file.clone());
    files_under(&project.join(".modalplan"), &mut files);
    for file in &files {
        checked.push((
            file.display().to_string(),
            fs::read_to_string(file).unwrap_or_default(),
        ));
    }
    // The harness exercised what it claims to: deploy logs (one failed), a summary, outputs, a plan.
    assert!(
        files.iter().any(|file| file.starts_with(&logs)),
        "no deploy log: {outcomes:?}"
    );
    assert!(summary.exists() && outputs.exists(), "{outcomes:?}");
    assert!(plan_file.exists(), "{outcomes:?}");
    assert_eq!(
        outcomes.last(),
        Some(&(
            "-vv force-unlock --env dev lk-000000000000".to_owned(),
            Some(1)
        )),
        "{outcomes:?}"
    );
    let syncs: Vec<Option<i32>> = outcomes
        .iter()
        .filter(|(command, _)| command.contains("secrets sync"))
        .map(|(_, code)| *code)
        .collect();
    assert_eq!(syncs, [Some(0), Some(0), Some(1)], "{outcomes:?}");
    let apply = &outcomes[8];
    assert_eq!(
        apply.1,
        Some(1),
        "the broken deploy fails the apply: {outcomes:?}"
    );
    let all_logs: String = checked
        .iter()
        .filter(|(name, _)| name.starts_with(log_dir))
        .map(|(_, content)| content.as_str())
        .collect();
    assert!(all_logs.contains("Failed to pull image"), "{all_logs}");
    // Debug logging ran.
    assert!(
        checked
            .iter()
            .any(|(name, content)| name.starts_with("stderr") && content.contains("DEBUG")),
        "no debug output"
    );
    // The one permitted appearance: the `::add-mask::` commands that tell the Actions runner to mask a
    // value in the job log (they must carry it), before anything else: the registry password's in every
    // run, then those of the values `secrets sync` read.
    let mask = format!("::add-mask::{REGISTRY_PASSWORD}\n");
    for (name, content) in checked
        .iter_mut()
        .filter(|(name, _)| name.starts_with("stderr"))
    {
        assert!(
            content.starts_with(&mask),
            "{name} does not start with the mask: {content}"
        );
        let masks = content
            .lines()
            .take_while(|line| line.starts_with("::add-mask::"))
            .count();
        let rest: Vec<&str> = content.lines().skip(masks).collect();
        assert!(
            !rest.iter().any(|line| line.contains("::add-mask::")),
            "{name} masks a value after other output: {content}"
        );
        *content = rest.join("\n");
    }
    // Every argv modalplan started, `secrets sync`'s writer among them.
    let argvs = recorder.argvs();
    assert!(
        argvs.iter().any(|argv| argv
            .iter()
            .any(|argument| argument.contains("modalplan's secrets writer"))),
        "the secrets writer never ran"
    );
    assert!(
        argvs
            .iter()
            .any(|argv| argv.get(1).is_some_and(|argument| argument == "deploy")),
        "no deploy was recorded"
    );
    for (index, argv) in argvs.iter().enumerate() {
        checked.push((
            format!("argv {index} ({})", argv[..argv.len().min(2)].join(" ")),
            argv.join(" "),
        ));
    }
    let leaks: Vec<String> = checked
        .iter()
        .flat_map(|(name, content)| {
            values
                .iter()
                .filter(|value| content.contains(value.as_str()))
                .map(move |value| format!("{value} in {name}"))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "secret values leaked:\n{}\n{outcomes:?}",
        leaks.join("\n")
    );
    // The values really are in the workspace: the check looks for something that exists.
    assert!(
        emulator.state()["secrets"]
            .to_string()
            .contains("LEAKCHECK-main-REGISTRY_AUTH-REGISTRY_PASSWORD")
    );
    // The syncs wrote what they read.
    let state = emulator.state();
    assert_eq!(
        state["secrets"]["dev"]["OPENAI_API_KEY"]["values"]["OPENAI_API_KEY"],
        SYNC_OPENAI
    );
    assert_eq!(
        state["secrets"]["main"]["OPENAI_API_KEY"]["values"]["OPENAI_API_KEY"],
        DOTENV_OPENAI
    );
    assert_eq!(
        state["secrets"]["dev"]["REGISTRY_AUTH"]["values"]["REGISTRY_PASSWORD"],
        REGISTRY_PASSWORD
    );
}
