use assert_cmd::Command;

fn modalplan() -> Command {
    Command::cargo_bin("modalplan").unwrap()
}

#[test]
fn prints_the_ci_name() {
    modalplan()
        .args(["name", "llm/litellm@1"])
        .assert()
        .success()
        .stdout("llm-litellm-v1\n")
        .stderr("");
}

#[test]
fn prints_the_sandbox_name_from_user_and_branch() {
    modalplan()
        .args(["name", "llm/litellm@1", "--sandbox"])
        .env("USER", "Vey")
        .env("MODALPLAN_BRANCH", "feature/x")
        .assert()
        .success()
        .stdout("vey-feature-x-llm-litellm-v1\n");
}

#[test]
fn refuses_a_bad_ref_with_its_code() {
    let assert = modalplan().args(["name", "llm-litellm"]).assert().code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("ERR_INVALID_REF"), "{stderr}");
    assert!(
        stderr.contains("expected `namespace/name@version`"),
        "{stderr}"
    );
}
