"""The real `modal` CLI of this venv (1.0.0 or 1.6.4) against the emulator: exact outputs, exit codes, calls."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from conftest import DIGEST_OK, DIGEST_UNPULLABLE, MODAL_VERSION, NEW, REPO, plain


def error(message: str, old_title: str = "") -> str:
    """A CLI error as `plain()` shows it: 1.6 prints `Error: ...`, 1.0 a rich panel titled by the grpc status."""
    if NEW:
        return plain("Error: " + message)
    return plain(("Error: " + old_title if old_title else "Error") + " " + message)


def utc(iso: str) -> str:
    """How both CLIs print a seeded time in --json output under TZ=UTC."""
    return iso.replace("T", " ").replace("Z", "+00:00")


# ---------------------------------------------------------------- environments


def test_environment_list_json(emulator):
    result = emulator.modal("environment", "list", "--json")
    assert result.returncode == 0, result.stderr
    if NEW:
        expected = [
            {"name": name, "web_suffix": "", "image_builder_version": None, "active": str(name == "main")}
            for name in ["dev", "main", "staging"]
        ]
    else:
        expected = [{"name": name, "web suffix": "", "active": str(name == "main")} for name in ["dev", "main", "staging"]]
    assert json.loads(result.stdout) == expected
    assert emulator.rpcs() == ["EnvironmentList"]


# ---------------------------------------------------------------- apps


def test_app_list_json_keys_and_order(emulator):
    live = emulator.app("main", "llm-litellm-v1")
    stopped = emulator.app("main", "replicate-generic-v1")
    result = emulator.modal("app", "list", "--json", "--env", "main")
    assert result.returncode == 0, result.stderr
    rows = [
        (live, "deployed", "2026-01-05T10:00:00Z", None),
        (stopped, "stopped", "2026-01-03T08:00:00Z", "2026-01-20T17:45:00Z"),
    ]
    if NEW:
        expected = [
            {
                "app_id": app["app_id"],
                "description": app["name"],
                "state": state,
                "tasks": "0",
                "created_at": utc(created),
                "stopped_at": utc(stopped_at) if stopped_at else None,
            }
            for app, state, created, stopped_at in rows
        ]
    else:  # 1.0 keys are the column titles; it keeps the server's order (the emulator sends newest first)
        expected = [
            {
                "App ID": app["app_id"],
                "Description": app["name"],
                "State": state,
                "Tasks": "0",
                "Created at": utc(created),
                "Stopped at": utc(stopped_at) if stopped_at else None,
            }
            for app, state, created, stopped_at in rows
        ]
    assert json.loads(result.stdout) == expected
    assert [(c["rpc"], c["env"]) for c in emulator.calls()] == [("AppList", "main")]


def test_app_list_unknown_environment(emulator):
    result = emulator.modal("app", "list", "--json", "--env", "nope")
    assert result.returncode == 1
    assert result.stdout == ""
    if NEW:
        assert result.stderr == "Error: Environment 'nope' not found\n"
    else:
        assert plain(result.stderr) == "Error: Not found Environment 'nope' not found"
    assert [(c["rpc"], c["env"]) for c in emulator.calls()] == [("AppList", "nope")]


def test_app_history_json_drops_tag_when_no_deployment_has_one(emulator):
    tagged = emulator.modal("app", "history", "llm-litellm-v1", "--json", "--env", "main")
    untagged = emulator.modal("app", "history", "llm-litellm-v1", "--json", "--env", "dev")
    assert tagged.returncode == 0 and untagged.returncode == 0, tagged.stderr + untagged.stderr
    keys = (
        ["version", "time_deployed", "client", "deployed_by", "commit", "tag"]
        if NEW
        else ["Version", "Time deployed", "Client", "Deployed by", "Commit", "Tag"]
    )

    def row(*values):
        return dict(zip(keys, values))

    assert json.loads(tagged.stdout) == [
        row("v2", "2026-01-12 09:30:00+00:00", "1.6.4", "modalplan-ci", None, "mp-0123456789abcdef"),
        row("v1", "2026-01-05 10:00:00+00:00", "1.0.0", "alice", None, None),
    ]
    assert json.loads(untagged.stdout) == [
        dict(zip(keys[:-1], ["v1", "2026-01-02 12:00:00+00:00", "1.0.0", "alice", None])),
    ]
    assert emulator.rpcs() == ["AppGetByDeploymentName", "AppDeploymentHistory"] * 2


def test_app_history_unknown_app(emulator):
    result = emulator.modal("app", "history", "nope", "--json", "--env", "main")
    assert result.returncode == 1
    if NEW:
        assert result.stderr == "Error: No App with name 'nope' found in the 'main' environment.\n"
    else:
        assert plain(result.stderr) == "Error Could not find a deployed app named 'nope' in the 'main' environment."
    assert "AppDeploymentHistory" not in emulator.rpcs()


def stop_args(name: str, env: str) -> list[str]:
    # 1.0's `app stop` has no confirmation prompt and no -y option.
    return ["app", "stop", name, "--env", env] + (["-y"] if NEW else [])


def test_app_stop_then_list_and_stop_again(emulator):
    app_id = emulator.app("dev", "llm-litellm-v1")["app_id"]
    result = emulator.modal(*stop_args("llm-litellm-v1", "dev"))
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert emulator.state()["apps"][app_id]["state"] == "stopped"
    assert [c for c in emulator.calls() if c["rpc"] == "AppStop"][0]["app_id"] == app_id

    listed = json.loads(emulator.modal("app", "list", "--json", "--env", "dev").stdout)
    assert [row["state" if NEW else "State"] for row in listed] == ["stopped"]

    again = emulator.modal(*stop_args("llm-litellm-v1", "dev"))
    assert again.returncode == 1
    if NEW:
        stopped_at = time.strftime("%Y-%m-%d %H:%M", time.gmtime(emulator.state()["apps"][app_id]["stopped_at"]))
        assert again.stderr.startswith(f"App is already stopped. (Stopped at {stopped_at}")
        assert again.stderr.endswith(" by 'modalplan-ci').\n")
    else:
        assert plain(again.stderr) == (
            "Error Could not find a deployed app named 'llm-litellm-v1' in the 'dev' environment."
        )
    assert [c["rpc"] for c in emulator.calls()].count("AppStop") == 1


def test_app_rollback_to_previous_and_named_version(emulator):
    app_id = emulator.app("main", "llm-litellm-v1")["app_id"]
    first = emulator.modal("app", "rollback", "llm-litellm-v1", "--env", "main")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("✓ Deployment rollback successful!\n")
    second = emulator.modal("app", "rollback", "llm-litellm-v1", "v2", "--env", "main")
    assert second.returncode == 0, second.stderr
    history = emulator.state()["apps"][app_id]["history"]
    assert [(h["version"], h["rollback_version"], h["tag"]) for h in history] == [
        (1, 0, ""),
        (2, 0, "mp-0123456789abcdef"),
        (3, 1, ""),
        (4, 2, "mp-0123456789abcdef"),
    ]
    assert emulator.state()["apps"][app_id]["current_version"] == 4
    assert [(c["app_id"], c.get("version", 0)) for c in emulator.calls() if c["rpc"] == "AppRollback"] == [
        (app_id, -1),
        (app_id, 2),
    ]
    listed = json.loads(emulator.modal("app", "history", "llm-litellm-v1", "--json", "--env", "main").stdout)
    assert [row["version" if NEW else "Version"] for row in listed] == ["v4", "v3", "v2", "v1"]


@pytest.mark.skipif(not NEW, reason="modal 1.0 has no `app info`")
def test_app_info_json_follows_stop_and_rollback(emulator):
    app_id = emulator.app("main", "llm-litellm-v1")["app_id"]

    def info():
        result = emulator.modal("app", "info", "llm-litellm-v1", "--json", "--env", "main")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert info() == {
        "description": "llm-litellm-v1",
        "app_id": app_id,
        "lifecycle": {
            "state": "deployed",
            "created_at": "2026-01-05 10:00:00+00:00",
            "created_by": "alice",
            "deployed_at": "2026-01-12 09:30:00+00:00",
            "deployed_by": "modalplan-ci",
            "version": 2,
            "stopped_at": None,
            "stopped_by": None,
        },
        "functions": {},
        "servers": {},
    }
    assert emulator.modal("app", "rollback", "llm-litellm-v1", "v1", "--env", "main").returncode == 0
    assert info()["lifecycle"]["version"] == 3
    assert emulator.modal(*stop_args("llm-litellm-v1", "main")).returncode == 0
    lifecycle = info()["lifecycle"]
    assert (lifecycle["state"], lifecycle["version"], lifecycle["stopped_by"]) == ("stopped", 3, "modalplan-ci")


def test_app_rollback_unknown_version(emulator):
    app_id = emulator.app("main", "llm-litellm-v1")["app_id"]
    result = emulator.modal("app", "rollback", "llm-litellm-v1", "v9", "--env", "main")
    assert result.returncode == 1
    assert [(c["rpc"], c.get("version")) for c in emulator.calls() if c["rpc"] == "AppRollback"] == [("AppRollback", 9)]
    assert len(emulator.state()["apps"][app_id]["history"]) == 2
    if NEW:
        assert result.stderr == "Error: Version v9 not found for app llm-litellm-v1\n"
    else:
        assert plain(result.stderr) == "Error: Not found Version v9 not found for app llm-litellm-v1"


# ---------------------------------------------------------------- secrets


def test_secret_create_and_list(emulator):
    created = emulator.modal("secret", "create", "NEWSEC", "A=1", "B=2", "--env", "staging")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("Created a new secret 'NEWSEC' with the keys 'A', 'B'\n")
    assert emulator.state()["secrets"]["staging"]["NEWSEC"]["values"] == {"A": "1", "B": "2"}

    listed = emulator.modal("secret", "list", "--json", "--env", "staging")
    assert listed.returncode == 0, listed.stderr
    names = [row["name" if NEW else "Name"] for row in json.loads(listed.stdout)]
    assert names == ["NEWSEC", "REGISTRY_AUTH"]  # newest first
    row = json.loads(listed.stdout)[0]
    assert sorted(row) == (
        ["created_at", "created_by", "last_used_at", "name"] if NEW else ["Created at", "Last used at", "Name"]
    )

    again = emulator.modal("secret", "create", "NEWSEC", "A=2", "--env", "staging")
    assert again.returncode == 1
    assert plain(again.stderr) == error("Secret 'NEWSEC' already exists in environment 'staging'", "Already exists")
    assert emulator.state()["secrets"]["staging"]["NEWSEC"]["values"] == {"A": "1", "B": "2"}
    assert [(c["rpc"], c["env"]) for c in emulator.calls() if c["rpc"].startswith("Secret")] == [
        ("SecretGetOrCreate", "staging"),
        ("SecretList", "staging"),
        ("SecretGetOrCreate", "staging"),
    ]


def test_secret_create_force_replaces_the_whole_secret(emulator):
    # `modalplan secrets sync` relies on it: an overwrite leaves exactly the keys it sends.
    emulator.modal("secret", "create", "NEWSEC", "A=1", "B=2", "--env", "staging")
    forced = emulator.modal("secret", "create", "NEWSEC", "C=3", "--env", "staging", "--force")
    assert forced.returncode == 0, forced.stderr
    assert emulator.state()["secrets"]["staging"]["NEWSEC"]["values"] == {"C": "3"}


def test_secret_list_does_not_show_values(emulator):
    listed = emulator.modal("secret", "list", "--json", "--env", "main")
    assert listed.returncode == 0
    assert "not-a-real" not in listed.stdout
    assert sorted(row["name" if NEW else "Name"] for row in json.loads(listed.stdout)) == [
        "OPENAI_API_KEY",
        "REGISTRY_AUTH",
    ]


# ---------------------------------------------------------------- deploy


def test_deploy_records_a_tagged_version_and_smoke_returns_the_real_value(emulator):
    result = emulator.deploy("main", "llm-litellm-v1", "mp-abc", DIGEST_OK, "OPENAI_API_KEY")
    assert result.returncode == 0, result.stderr
    assert "App deployed in" in result.stdout
    app = emulator.app("main", "llm-litellm-v1")
    assert [(h["version"], h["tag"], h["client_version"]) for h in app["history"]][-1] == (3, "mp-abc", MODAL_VERSION)
    functions = app["history"][-1]["functions"]
    assert sorted(functions) == ["run", "smoke"]
    state = emulator.state()
    smoke = state["functions"][functions["smoke"]]
    assert smoke["module_name"] == "modal_app"
    assert [s["name"] for s in smoke["secrets"]] == ["OPENAI_API_KEY"]
    image = state["built_images"][smoke["image_id"]]
    assert image["registry_ref"] == DIGEST_OK
    publish = [c for c in emulator.calls() if c["rpc"] == "AppPublish"]
    assert [(c["name"], c["deployment_tag"], c["env"]) for c in publish] == [("llm-litellm-v1", "mp-abc", "main")]

    listed = json.loads(emulator.modal("app", "history", "llm-litellm-v1", "--json", "--env", "main").stdout)
    assert listed[0]["tag" if NEW else "Tag"] == "mp-abc"
    assert listed[0]["version" if NEW else "Version"] == "v3"

    emulator.clear_calls()
    code = (
        "import json, sys, modal\n"
        "f = modal.Function.from_name('llm-litellm-v1', 'smoke', environment_name='main')\n"
        "print(json.dumps(f.remote({'schema': 'v1', 'mode': 'real', 'params': {'q': 1}}), sort_keys=True))\n"
    )
    called = emulator.python(code)
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == {
        "schema": "v1",
        "status": "ok",
        "mode": "mock",
        "processor": "llm/litellm@1",
        "outputs": {
            "text": "mock output of llm/litellm@1",
            "params_sha256": "6ae0f660046dadcf5fe8462c0e00a062db4c8d67be82f4098c5ea4208d19b076",
        },
    }
    assert [c["rpc"] for c in emulator.calls()][:2] == ["FunctionGet", "FunctionMap"]
    assert "FunctionGetOutputs" in emulator.rpcs()

    emulator.clear_calls()
    logs = emulator.modal("app", "logs", "llm-litellm-v1", "--env", "main", timeout=30)
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == "smoke processor=llm/litellm@1 mode=mock\n"
    # 1.0 streams (AppGetLogs; the emulator ends the stream); 1.6 fetches the last 100 entries and exits.
    log_rpcs = [r for r in emulator.rpcs() if r.startswith("App") and "Logs" in r]
    if NEW:
        assert set(log_rpcs) == {"AppFetchLogs"}  # one per look-back window
    else:
        assert log_rpcs == ["AppGetLogs"]


def test_run_real_mode_sees_its_secret_and_not_the_pull_secret(emulator):
    deployed = emulator.deploy("dev", "llm-litellm-v1", "t1", DIGEST_OK, "OPENAI_API_KEY,LITELLM_API_BASE")
    assert deployed.returncode == 0, deployed.stderr
    code = (
        "import json, modal\n"
        "f = modal.Function.from_name('llm-litellm-v1', 'run', environment_name='dev')\n"
        "print(json.dumps(f.remote({'schema': 'v1', 'mode': 'real'}), sort_keys=True))\n"
    )
    called = emulator.python(code)
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == {
        "schema": "v1",
        "status": "ok",
        "mode": "real",
        "processor": "llm/litellm@1",
        "outputs": {"secrets_present": ["LITELLM_API_BASE", "OPENAI_API_KEY"]},
    }


def test_run_real_mode_without_the_secret_value_returns_err_missing_secret(emulator):
    # The secret exists (so the deploy passes) but does not hold the variable real mode needs.
    created = emulator.modal("secret", "create", "OPENAI_API_KEY", "OTHER_KEY=1", "--env", "staging")
    assert created.returncode == 0, created.stderr
    deployed = emulator.deploy("staging", "llm-litellm-v1", "t1", DIGEST_OK, "OPENAI_API_KEY")
    assert deployed.returncode == 0, deployed.stderr
    code = (
        "import json, modal\n"
        "f = modal.Function.from_name('llm-litellm-v1', 'run', environment_name='staging')\n"
        "print(json.dumps(f.remote({'schema': 'v1', 'mode': 'real'}), sort_keys=True))\n"
        "print(json.dumps(f.remote({'schema': 'v1', 'mode': 'mock'})['status']))\n"
    )
    called = emulator.python(code)
    assert called.returncode == 0, called.stderr
    real, mock = called.stdout.splitlines()
    assert json.loads(real) == {
        "schema": "v1",
        "status": "error",
        "mode": "real",
        "processor": "llm/litellm@1",
        "error": {"code": "ERR_MISSING_SECRET", "message": "missing secret env vars: OPENAI_API_KEY"},
    }
    assert json.loads(mock) == "ok"


def test_deploy_missing_secret_fails_like_modal(emulator):
    before = emulator.app("main", "llm-litellm-v1")["history"]
    result = emulator.deploy("main", "llm-litellm-v1", "mp-x", DIGEST_OK, "OPENAI_API_KEY,LITELLM_API_BASE")
    assert result.returncode == 1
    if NEW:
        assert result.stderr == "Error: Secret 'LITELLM_API_BASE' not found in environment 'main'\n"
    assert plain(result.stderr) == error("Secret 'LITELLM_API_BASE' not found in environment 'main'")
    assert emulator.app("main", "llm-litellm-v1")["history"] == before
    assert "AppPublish" not in emulator.rpcs()
    lookups = [c for c in emulator.calls() if c["rpc"] == "SecretGetOrCreate"]
    assert ("LITELLM_API_BASE", "main") in [(c["deployment_name"], c["env"]) for c in lookups]


@pytest.fixture
def seed_without_pull_secret(seed):
    del seed["secrets"]["staging"]["REGISTRY_AUTH"]
    return seed


def test_deploy_private_image_without_pull_secret_fails(tmp_path, seed_without_pull_secret):
    from conftest import Emulator

    emulator = Emulator(tmp_path, seed_without_pull_secret)
    try:
        result = emulator.deploy("staging", "llm-litellm-v1", "t1", DIGEST_OK, "")
        assert result.returncode == 1
        assert plain(result.stderr) == error("Secret 'REGISTRY_AUTH' not found in environment 'staging'")
        assert "AppPublish" not in emulator.rpcs()
        # The app created for the failed first deploy is left stopped, with no history.
        created = [a for a in emulator.state()["apps"].values() if a["environment"] == "staging"]
        assert [(a["state"], a["history"]) for a in created] == [("stopped", [])]
    finally:
        emulator.stop()


def test_deploy_after_stop_starts_a_new_app_at_v1(emulator):
    old_id = emulator.app("dev", "llm-litellm-v1")["app_id"]
    assert emulator.modal(*stop_args("llm-litellm-v1", "dev")).returncode == 0
    result = emulator.deploy("dev", "llm-litellm-v1", "fresh", DIGEST_OK, "OPENAI_API_KEY")
    assert result.returncode == 0, result.stderr
    app = emulator.app("dev", "llm-litellm-v1")
    assert app["app_id"] != old_id
    assert (app["state"], [(h["version"], h["tag"]) for h in app["history"]]) == ("deployed", [(1, "fresh")])
    assert emulator.state()["apps"][old_id]["state"] == "stopped"
    assert "AppCreate" in emulator.rpcs()


def test_deploy_unpullable_digest_fails_as_image_build_failure(emulator):
    result = emulator.deploy("main", "llm-litellm-v1", "mp-y", DIGEST_UNPULLABLE, "OPENAI_API_KEY")
    assert result.returncode == 1
    text = plain(result.stderr)
    image_id = [i for i in emulator.state()["built_images"].values() if i["status"] == "failed"][0]["image_id"]
    message = (
        f"Image build for {image_id} failed with the exception: "
        f"Failed to pull image {DIGEST_UNPULLABLE}: manifest unknown"
    )
    assert text == error(message)
    assert "AppPublish" not in emulator.rpcs()


def test_deploy_unknown_digest_fails(emulator):
    unknown = "ghcr.io/acme/theory/llm-litellm@sha256:" + "4" * 64
    result = emulator.deploy("main", "llm-litellm-v1", "mp-z", unknown, "OPENAI_API_KEY")
    assert result.returncode == 1
    image_id = [i for i in emulator.state()["built_images"].values() if i["status"] == "failed"][0]["image_id"]
    assert plain(result.stderr) == error(
        f"Image build for {image_id} failed with the exception: Failed to pull image {unknown}: manifest unknown"
    )
    assert "AppPublish" not in emulator.rpcs()


def test_deploy_image_fault_fails(emulator):
    emulator.admin("fault", "add", "--image", DIGEST_OK, "--message", "registry said 401 Unauthorized")
    result = emulator.deploy("main", "llm-litellm-v1", "mp-f", DIGEST_OK, "OPENAI_API_KEY")
    assert result.returncode == 1
    image_id = [i for i in emulator.state()["built_images"].values() if i["status"] == "failed"][0]["image_id"]
    assert plain(result.stderr) == error(
        f"Image build for {image_id} failed with the exception: registry said 401 Unauthorized"
    )


def test_deploy_invalid_tag_is_refused_before_any_call(emulator):
    result = emulator.deploy("main", "llm-litellm-v1", "not a tag!", DIGEST_OK, "OPENAI_API_KEY")
    assert result.returncode == 1
    assert plain(result.stderr) == error(
        "Deployment tag 'not a tag!' is invalid. Tags may only contain alphanumeric characters, dashes, periods,"
        " and underscores, and must be 50 characters or less"
    )
    assert emulator.calls() == []


def test_deploy_app_name_over_limit_is_refused_before_any_call(emulator):
    name = "x" * 65
    result = emulator.deploy("main", name, "t", DIGEST_OK, "OPENAI_API_KEY")
    assert result.returncode == 1
    assert plain(result.stderr) == error(
        f"Invalid App name: '{name}'. Names may contain only alphanumeric characters, dashes, periods, and"
        " underscores, must be shorter than 64 characters, and cannot conflict with App ID strings."
    )
    assert emulator.calls() == []


def test_plain_drops_interpreter_teardown_noise():
    noisy = (
        "Error: Environment 'nope' not found\n"
        "Loop <_UnixSelectorEventLoop running=False closed=True debug=False> that handles pid 24120 is closed\n"
        "Exception ignored in: <function BaseSubprocessTransport.__del__ at 0x7ff86282e700>\n"
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.11/asyncio/base_events.py", line 519, in _check_closed\n'
        "    raise RuntimeError('Event loop is closed')\n"
        "RuntimeError: Event loop is closed\n"
    )
    assert plain(noisy) == "Error: Environment 'nope' not found"


def test_deploy_unknown_environment(emulator):
    result = emulator.deploy("nope", "llm-litellm-v1", "t", DIGEST_OK, "OPENAI_API_KEY")
    assert result.returncode == 1
    assert plain(result.stderr) == error("Environment 'nope' not found", "Not found")
    assert emulator.rpcs() == ["AppGetByDeploymentName"]


# ---------------------------------------------------------------- the container


@pytest.fixture
def probe_workdir(tmp_path):
    workdir = tmp_path / "probe"
    workdir.mkdir()
    shutil.copy(REPO / "tests" / "emulator" / "fixtures" / "probe_app.py", workdir / "probe_app.py")
    return workdir


def deploy_probe(emulator, workdir):
    variables = {"IMAGE_REF": DIGEST_OK, "TOOL_SECRETS": "OPENAI_API_KEY", "MODAL_APP_NAME": "probe"}
    return emulator.modal("deploy", "-m", "probe_app", "--env", "main", "--name", "probe", cwd=workdir, env=variables)


def test_container_sees_image_env_and_function_secrets_only(emulator, probe_workdir):
    deployed = deploy_probe(emulator, probe_workdir)
    assert deployed.returncode == 0, deployed.stderr
    names = [
        "OPENAI_API_KEY",
        "REGISTRY_USERNAME",
        "REGISTRY_PASSWORD",
        "IMAGE_REF",
        "TOOL_SECRETS",
        "MODAL_APP_NAME",
        "PROBE_BAKED",
        "PROCESSOR_IMAGE",
    ]
    code = (
        "import json, sys, modal\n"
        "f = modal.Function.from_name('probe', 'environment', environment_name='main')\n"
        "print(json.dumps(f.remote(sys.argv[1:])))\n"
    )
    called = emulator.python(code, *names)
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == {
        "OPENAI_API_KEY": "sk-main-not-a-real-key",
        "REGISTRY_USERNAME": None,
        "REGISTRY_PASSWORD": None,
        "IMAGE_REF": None,
        "TOOL_SECRETS": None,
        "MODAL_APP_NAME": None,
        "PROBE_BAKED": "baked-into-image",
        "PROCESSOR_IMAGE": "llm-litellm",
    }


def test_remote_exception_surfaces_in_the_caller(emulator, probe_workdir):
    assert deploy_probe(emulator, probe_workdir).returncode == 0
    code = (
        "import modal\n"
        "f = modal.Function.from_name('probe', 'fail', environment_name='main')\n"
        "try:\n"
        "    f.remote('boom 42')\n"
        "except ValueError as exc:\n"
        "    print('caught', type(exc).__name__, exc)\n"
    )
    called = emulator.python(code)
    assert called.returncode == 0, called.stderr
    assert called.stdout == "caught ValueError boom 42\n"
    logs = emulator.app("main", "probe")["logs"]
    assert logs[0]["data"] == "probe: about to fail\n"
    assert any("ValueError: boom 42" in entry["data"] for entry in logs)


VERSIONED_MODULE = """
import os

import modal

SOURCE = {source!r}
app = modal.App("versioned")
image = modal.Image.from_registry("python:3.11-slim").env({{"ANSWER": os.environ.get("ANSWER", "")}})
secrets = [modal.Secret.from_name(name) for name in os.environ.get("TOOL_SECRETS", "").split(",") if name]


@app.function(image=image, secrets=secrets)
def smoke() -> str:
    return SOURCE + ":" + os.environ.get("ANSWER", "-") + ":" + str("OPENAI_API_KEY" in os.environ)
"""


def test_rollback_makes_the_target_versions_code_image_and_secrets_live(emulator, tmp_path):
    workdir = tmp_path / "versioned"
    workdir.mkdir()
    code = (
        "import modal\n"
        "print(modal.Function.from_name('versioned', 'smoke', environment_name='main').remote())\n"
    )

    def deploy(source: str, answer: str, secrets: str):
        (workdir / "versioned_app.py").write_text(VERSIONED_MODULE.format(source=source))
        variables = {"ANSWER": answer, "TOOL_SECRETS": secrets}
        args = ["deploy", "-m", "versioned_app", "--env", "main", "--name", "versioned", "--tag", source]
        deployed = emulator.modal(*args, cwd=workdir, env=variables)
        assert deployed.returncode == 0, deployed.stderr

    def call() -> str:
        called = emulator.python(code)
        assert called.returncode == 0, called.stderr
        return called.stdout

    deploy("one", "A", "OPENAI_API_KEY")
    assert call() == "one:A:True\n"
    deploy("two", "B", "")
    assert call() == "two:B:False\n"
    app = emulator.app("main", "versioned")
    # A redeploy reuses the function ids; each version keeps the definitions it published.
    assert app["history"][0]["functions"] == app["history"][1]["functions"]

    rolled_back = emulator.modal("app", "rollback", "versioned", "v1", "--env", "main")
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert call() == "one:A:True\n"
    history = emulator.app("main", "versioned")["history"]
    assert [(h["version"], h["tag"], h["rollback_version"]) for h in history] == [(1, "one", 0), (2, "two", 0), (3, "one", 1)]

    assert emulator.modal("app", "rollback", "versioned", "v2", "--env", "main").returncode == 0
    assert call() == "two:B:False\n"
    # A deploy that fails after FunctionCreate (here at AppPublish) leaves the live version's code live.
    emulator.admin("fault", "add", "--rpc", "AppPublish", "--status", "PERMISSION_DENIED")
    (workdir / "versioned_app.py").write_text(VERSIONED_MODULE.format(source="three"))
    failed = emulator.modal(
        "deploy", "-m", "versioned_app", "--env", "main", "--name", "versioned", cwd=workdir, env={"ANSWER": "C"}
    )
    assert failed.returncode == 1
    assert call() == "two:B:False\n"


def test_function_lookup_of_unknown_app_fails(emulator):
    code = (
        "import modal\n"
        "f = modal.Function.from_name('nope', 'smoke', environment_name='main')\n"
        "f.remote({})\n"
    )
    called = emulator.python(code)
    assert called.returncode == 1
    assert "modal.exception.NotFoundError" in called.stderr
    assert "Lookup failed for Function 'smoke' from the 'nope' app" in called.stderr


# ---------------------------------------------------------------- faults


def test_fault_status_on_an_rpc(emulator):
    emulator.admin("fault", "add", "--rpc", "AppList", "--status", "PERMISSION_DENIED", "--message", "no access")
    result = emulator.modal("app", "list", "--json", "--env", "main")
    assert result.returncode == 1
    if NEW:
        assert result.stderr == "Error: no access\n"
    else:
        assert plain(result.stderr) == "Error: Permission denied no access"
    assert emulator.rpcs() == ["AppList"]


def test_fault_only_in_one_environment_and_limited_times(emulator):
    emulator.admin("fault", "add", "--rpc", "SecretList", "--status", "FAILED_PRECONDITION", "--env", "dev", "--times", "1")
    assert emulator.modal("secret", "list", "--json", "--env", "main").returncode == 0
    assert emulator.modal("secret", "list", "--json", "--env", "dev").returncode == 1
    assert emulator.modal("secret", "list", "--json", "--env", "dev").returncode == 0


def test_fault_latency(emulator):
    emulator.admin("fault", "add", "--rpc", "EnvironmentList", "--latency-ms", "1500")
    started = time.monotonic()
    result = emulator.modal("environment", "list", "--json")
    assert result.returncode == 0
    assert time.monotonic() - started >= 1.5


def test_fault_after_lets_the_first_calls_through(emulator):
    emulator.admin("fault", "add", "--rpc", "SecretList", "--status", "FAILED_PRECONDITION", "--after", "1", "--times", "1")
    codes = [emulator.modal("secret", "list", "--json", "--env", "main").returncode for _ in range(3)]
    assert codes == [0, 1, 0]


def test_fault_drop_request_resets_the_stream_and_changes_nothing(emulator):
    emulator.admin("fault", "add", "--rpc", "AppStop", "--drop", "request")
    result = emulator.modal("app", "stop", *(["-y"] if NEW else []), "--env", "main", "llm-litellm-v1")
    assert result.returncode == 1
    assert "Stream reset by remote party, error_code: 0" in plain(result.stderr)
    assert emulator.app("main", "llm-litellm-v1")["state"] == "deployed"
    # 1.6 retries a reset stream three times itself.
    assert emulator.rpcs().count("AppStop") == (4 if NEW else 1)


def test_fault_applied_keeps_the_effect_and_loses_the_answer(emulator):
    emulator.admin("fault", "add", "--rpc", "AppRollback", "--status", "FAILED_PRECONDITION", "--applied", "--times", "1")
    before = emulator.app("main", "llm-litellm-v1")["current_version"]
    result = emulator.modal("app", "rollback", "--env", "main", "llm-litellm-v1", "v1")
    assert result.returncode == 1
    assert "injected fault on AppRollback" in plain(result.stderr)
    app = emulator.app("main", "llm-litellm-v1")
    assert app["current_version"] == before + 1
    assert app["history"][-1]["rollback_version"] == 1


def test_fault_latency_with_jitter_waits_at_least_the_latency(emulator):
    emulator.admin("fault", "add", "--rpc", "EnvironmentList", "--latency-ms", "300", "--jitter-ms", "200")
    started = time.monotonic()
    assert emulator.modal("environment", "list", "--json").returncode == 0
    elapsed = time.monotonic() - started
    assert elapsed >= 0.3


def test_unimplemented_rpc_is_named(emulator):
    result = emulator.modal("volume", "list", "--json", "--env", "main")
    assert result.returncode == 1
    assert "VolumeList is not implemented by the modal emulator" in plain(result.stderr)


# ---------------------------------------------------------------- SDK lookups


def test_sdk_app_lookup(emulator):
    app_id = emulator.app("main", "llm-litellm-v1")["app_id"]
    code = (
        "import modal\n"
        "print(modal.App.lookup('llm-litellm-v1', environment_name='main').app_id)\n"
        "try:\n"
        "    modal.App.lookup('nope', environment_name='main')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__module__, type(exc).__name__, getattr(exc, 'message', None) or exc)\n"
    )
    result = emulator.python(code)
    assert result.returncode == 0, result.stderr
    # 1.0 lets the raw grpclib error through here; 1.6 maps NOT_FOUND to NotFoundError.
    raised = "modal.exception NotFoundError" if NEW else "grpclib.exceptions GRPCError"
    assert result.stdout == f"{app_id}\n{raised} App 'nope' not found in environment 'main'\n"
    assert [(c["rpc"], c["app_name"], c["env"]) for c in emulator.calls() if c["rpc"] == "AppGetOrCreate"] == [
        ("AppGetOrCreate", "llm-litellm-v1", "main"),
        ("AppGetOrCreate", "nope", "main"),
    ]


# ---------------------------------------------------------------- dicts (modalplan's apply lock)

DICT_SCRIPT = """
import json, sys
import modal

name, env = sys.argv[1], sys.argv[2]
try:
    modal.Dict.from_name(name, environment_name=env).get("x")
    missing = "found"
except modal.exception.NotFoundError as error:
    missing = str(error)
d = modal.Dict.from_name(name, environment_name=env, create_if_missing=True)
first = d.put("apply", {"id": "lk-1", "who": "alice@host"}, skip_if_exists=True)
second = d.put("apply", {"id": "lk-2", "who": "bob@host"}, skip_if_exists=True)
d.put("heartbeat/lk-1", {"at": "2026-01-01T00:00:00+00:00"})
held = d.get("apply")
absent = d.get("nope", "default")
contains = [d.contains("apply"), d.contains("nope")]
length = d.len()
items = sorted((k, json.dumps(v, sort_keys=True)) for k, v in d.items())
popped = d.pop("apply")
try:
    d.pop("apply")
    again = "popped twice"
except KeyError:
    again = "KeyError"
print(json.dumps({"missing": missing, "first": first, "second": second, "held": held, "absent": absent,
                  "contains": contains, "len": length, "items": items, "popped": popped, "again": again,
                  "len_after": d.len()}))
"""


def test_a_named_dict_puts_if_absent_atomically_and_pops(emulator):
    result = emulator.python(DICT_SCRIPT, "modalplan-locks", "staging")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "missing": "Dict 'modalplan-locks' not found in environment 'staging'",
        "first": True,
        "second": False,
        "held": {"id": "lk-1", "who": "alice@host"},
        "absent": "default",
        "contains": [True, False],
        "len": 2,
        "items": [
            ["apply", json.dumps({"id": "lk-1", "who": "alice@host"}, sort_keys=True)],
            ["heartbeat/lk-1", json.dumps({"at": "2026-01-01T00:00:00+00:00"})],
        ],
        "popped": {"id": "lk-1", "who": "alice@host"},
        "again": "KeyError",
        "len_after": 1,
    }
    # One Dict, in its environment, persisted with opaque (base64) keys and values.
    dicts = list(emulator.state()["dicts"].values())
    assert [(d["name"], d["environment"], len(d["entries"])) for d in dicts] == [("modalplan-locks", "staging", 1)]
    calls = [(c["rpc"], c["env"], c.get("if_not_exists", False)) for c in emulator.calls()]
    assert calls == [
        ("DictGetOrCreate", "staging", False),
        ("DictGetOrCreate", "staging", False),
        ("DictUpdate", "staging", True),
        ("DictUpdate", "staging", True),
        ("DictUpdate", "staging", False),
        ("DictGet", "staging", False),
        ("DictGet", "staging", False),
        ("DictContains", "staging", False),
        ("DictContains", "staging", False),
        ("DictLen", "staging", False),
        ("DictContents", "staging", False),
        ("DictPop", "staging", False),
        ("DictPop", "staging", False),
        ("DictLen", "staging", False),
    ]
    # The first lookup (no create) failed: the Dict was made by the second.
    assert [c.get("object_creation_type", 0) for c in emulator.calls() if c["rpc"] == "DictGetOrCreate"] == [0, 1]


def test_a_dict_in_an_unknown_environment_is_refused(emulator):
    code = "import modal\nmodal.Dict.from_name('modalplan-locks', environment_name='qa', create_if_missing=True).len()\n"
    result = emulator.python(code)
    assert result.returncode == 1
    assert "Environment 'qa' not found" in result.stderr
    assert emulator.state()["dicts"] == {}


def test_concurrent_put_if_absent_has_exactly_one_winner(emulator):
    code = """
import sys, modal
d = modal.Dict.from_name("modalplan-locks", environment_name="main", create_if_missing=True)
print(d.put("apply", sys.argv[1], skip_if_exists=True))
"""
    import subprocess
    import sys as _sys

    processes = [
        subprocess.Popen([_sys.executable, "-c", code, f"run-{i}"], env=emulator.env, stdout=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    outputs = sorted(p.communicate(timeout=90)[0].strip() for p in processes)
    assert outputs == ["False", "False", "False", "True"]
    (record,) = emulator.state()["dicts"].values()
    assert len(record["entries"]) == 1
