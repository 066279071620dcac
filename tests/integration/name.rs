//! `modalplan name`: the app name of a ref, for CI and for a sandbox.

use crate::support::run::Modalplan;

#[test]
fn prints_the_ci_name() {
    let run = Modalplan::new().args(["name", "llm/litellm@1"]).run();
    run.assert_exit(0);
    assert_eq!(run.stdout(), "llm-litellm-v1\n");
    assert_eq!(run.stderr(), "");
}

#[test]
fn prints_the_sandbox_name_from_user_and_branch() {
    let run = Modalplan::new()
        .args(["name", "llm/litellm@1", "--sandbox"])
        .env("USER", "Vey")
        .env("MODALPLAN_BRANCH", "feature/x")
        .run();
    run.assert_exit(0);
    assert_eq!(run.stdout(), "vey-feature-x-llm-litellm-v1\n");
}

#[test]
fn refuses_a_bad_ref_with_its_code() {
    let run = Modalplan::new().args(["name", "llm-litellm"]).run();
    run.assert_exit(1);
    assert_eq!(run.stdout(), "");
    assert_eq!(
        run.stderr(),
        "ERR_INVALID_REF\n\n  × `llm-litellm` is not a processor ref: expected `namespace/name@version`,\n  │ e.g. `llm/litellm@1`\n\n"
    );
}
