//! `secrets check` and `status`: what is there, what differs, the fix.

use super::*;

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
