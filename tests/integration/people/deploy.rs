//! `deploy` refusals: an unpinned image, a missing secret, an unavailable image.

use super::*;

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
