//! No secret value ever leaves modalplan: every secret in the emulated workspace and `REGISTRY_PASSWORD`
//! get distinctive values, then every command runs (all formats, `-vv`, `RUST_LOG=debug`, the GitHub
//! Actions files), and none of the values may appear in stdout, stderr, deploy logs, saved plans, step
//! summaries or outputs.

use std::fs;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::emulator::{Emulator, ModalCli, repo_root, workspace_seed};

const GOOD: &str = "ghcr.io/acme/theory/llm-litellm@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const DEAD: &str = "ghcr.io/acme/theory/llm-litellm@sha256:dead00000000000000000000000000000000000000000000000000000000beef";
const REGISTRY_PASSWORD: &str = "LEAKCHECK-registry-password-5d1e";

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
    assert!(values.len() > 5, "{values:?}");
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

    let run = |arguments: &[&str]| -> Output {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("modalplan"))
            .args(arguments)
            .current_dir(project)
            .envs(emulator.envs())
            .env("TZ", "UTC")
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "debug")
            .env("USER", "leakcheck")
            .env("REGISTRY_USERNAME", "acme-bot")
            .env("REGISTRY_PASSWORD", REGISTRY_PASSWORD)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_OUTPUT", &outputs)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run modalplan")
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
    // The one permitted appearance: the `::add-mask::` command that tells the Actions runner to mask the
    // registry password in the job log (it must carry the value), once per run, before anything else.
    let mask = format!("::add-mask::{REGISTRY_PASSWORD}\n");
    for (name, content) in checked
        .iter_mut()
        .filter(|(name, _)| name.starts_with("stderr"))
    {
        assert!(
            content.starts_with(&mask),
            "{name} does not start with the mask: {content}"
        );
        *content = content.replacen(&mask, "", 1);
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
            .contains("LEAKCHECK-dev-OPENAI_API_KEY-OPENAI_API_KEY")
    );
}
