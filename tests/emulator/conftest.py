"""Fixtures: an emulator per test, and the real `modal` CLI of the venv pytest runs in."""

from __future__ import annotations

import copy
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SEED = json.loads((HERE / "seeds" / "workspace.json").read_text())
MODAL_VERSION = importlib.metadata.version("modal")
NEW = not MODAL_VERSION.startswith("1.0.")
BIN = Path(sys.executable).parent
DIGEST_OK = "ghcr.io/acme/theory/llm-litellm@sha256:" + "1" * 64
DIGEST_UNPULLABLE = "ghcr.io/acme/theory/llm-litellm@sha256:dead" + "0" * 56 + "beef"


def without_teardown_noise(text: str) -> str:
    """The text without what the interpreter prints while the CLI exits, after its own error: "Exception
    ignored in: ..." blocks (up to their exception line) and asyncio's "Loop <...> that handles pid N is
    closed". The 1.0 CLI prints both when a deploy fails while its `git` subprocesses still run; modalplan
    drops them the same way (src/backend/modal_cli/actions.rs, `without_teardown_noise`)."""
    kept = []
    in_ignored_block = False
    for line in text.splitlines():
        if in_ignored_block:
            frame = line.startswith((" ", "\t"))
            if not frame and not line.startswith("Traceback (most recent call last)"):
                in_ignored_block = False
            continue
        if line.lstrip().startswith("Exception ignored in:"):
            in_ignored_block = True
            continue
        if line.strip().startswith("Loop <") and "that handles pid" in line:
            continue
        kept.append(line)
    return "\n".join(kept)


def plain(text: str) -> str:
    """Text of a CLI error without rich's box drawing and interpreter teardown noise, on one line."""
    text = re.sub(r"[╭╮╰╯│─]", " ", without_teardown_noise(text))
    return " ".join(text.split())



class Emulator:
    def __init__(self, tmp: Path, seed: dict):
        self.tmp = tmp
        self.state_path = tmp / "state.json"
        self.seed_path = tmp / "seed.json"
        self.seed_path.write_text(json.dumps(seed))
        ready = tmp / "ready"
        self.log = open(tmp / "server.log", "w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "server.py"),
                "--state",
                str(self.state_path),
                "--seed",
                str(self.seed_path),
                "--port",
                "0",
                "--ready-file",
                str(ready),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 20
        while not ready.exists():
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError("emulator did not start: " + (tmp / "server.log").read_text())
            time.sleep(0.05)
        self.port = int(ready.read_text().strip())
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "COLUMNS": "200",
            "MODAL_SERVER_URL": f"http://127.0.0.1:{self.port}",
            "MODAL_TOKEN_ID": "ak-test",
            "MODAL_TOKEN_SECRET": "as-test",
            "MODAL_CONFIG_PATH": str(tmp / "modal.toml"),
        }

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def modal(self, *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 90):
        return subprocess.run(
            [str(BIN / "modal"), *args],
            cwd=cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def python(self, code: str, *args: str, timeout: float = 90):
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def state(self) -> dict:
        return json.loads(self.state_path.read_text())

    def calls(self) -> list[dict]:
        path = Path(str(self.state_path) + ".calls.jsonl")
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def rpcs(self) -> list[str]:
        return [call["rpc"] for call in self.calls()]

    def clear_calls(self) -> None:
        Path(str(self.state_path) + ".calls.jsonl").write_text("")

    def admin(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(HERE / "admin.py"), "--state", str(self.state_path), *args],
            capture_output=True,
            text=True,
            check=True,
        )

    def app(self, env: str, name: str) -> dict:
        apps = [a for a in self.state()["apps"].values() if a["environment"] == env and a["name"] == name]
        live = [a for a in apps if a["state"] != "stopped"]
        return (live or apps)[0]

    def deploy(self, env: str, name: str, tag: str, image: str, secrets: str, ref: str = "llm/litellm@1"):
        variables = {
            "PROCESSOR_REF": ref,
            "IMAGE_REF": image,
            "TOOL_SECRETS": secrets,
            "MODAL_ENVIRONMENT": env,
            "MODAL_APP_NAME": name,
        }
        args = ["deploy", "-m", "modal_app", "--env", env, "--name", name]
        if tag:
            args += ["--tag", tag]
        return self.modal(*args, cwd=REPO / "examples", env=variables)


@pytest.fixture
def seed() -> dict:
    return copy.deepcopy(SEED)


@pytest.fixture
def emulator(tmp_path, seed):
    instance = Emulator(tmp_path, seed)
    yield instance
    instance.stop()
