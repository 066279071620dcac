"""The emulated workspace: a JSON file shared by the server and the admin helper.

Every read-modify-write goes through `StateStore.transaction()`, which holds an exclusive
`fcntl` lock on `STATE.json.lock` and replaces the file atomically (write to a temp file, then
rename), so the admin helper can change the workspace while the server runs.

The seed format is documented in docs/emulator.md; `normalize()` turns a seed into state.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import random
import string
import tempfile
import time
from typing import Any, Iterator

DEFAULT_ENVIRONMENTS = ["dev", "staging", "main"]
DEFAULT_WORKSPACE = "modalplan-test"
DEFAULT_USER = "modalplan-ci"

_ID_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """An object id shaped like Modal's: `<prefix>-` and 22 alphanumerics."""
    return prefix + "-" + "".join(random.choice(_ID_ALPHABET) for _ in range(22))


def to_epoch(value: Any) -> float:
    """Seconds since the epoch from a number or an ISO 8601 string (`Z` allowed)."""
    if value is None or value == "":
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).replace("Z", "+00:00")
    parsed = _dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed.timestamp()


def _normalize_secret(name: str, value: dict, now: float) -> dict:
    if set(value) <= {"secret_id", "created_at", "values"} and "values" in value:
        return {
            "secret_id": value.get("secret_id") or new_id("st"),
            "created_at": to_epoch(value.get("created_at", now)),
            "values": {str(k): str(v) for k, v in value["values"].items()},
        }
    return {"secret_id": new_id("st"), "created_at": now, "values": {str(k): str(v) for k, v in value.items()}}


def _normalize_app(env: str, app: dict, now: float) -> dict:
    history = []
    for index, entry in enumerate(app.get("history", [])):
        definitions = {"definitions": dict(entry["definitions"])} if "definitions" in entry else {}
        history.append(
            {
                **definitions,
                "version": int(entry.get("version", index + 1)),
                "tag": entry.get("tag", ""),
                "deployed_at": to_epoch(entry.get("deployed_at", now)),
                "deployed_by": entry.get("deployed_by", DEFAULT_USER),
                "client_version": entry.get("client_version", ""),
                "rollback_version": int(entry.get("rollback_version", 0)),
                "functions": dict(entry.get("functions", {})),
            }
        )
    state = app.get("state", "deployed" if history else "stopped")
    created_at = to_epoch(app.get("created_at", history[0]["deployed_at"] if history else now))
    return {
        "app_id": app.get("app_id") or new_id("ap"),
        "name": app["name"],
        "environment": env,
        "description": app.get("description", app["name"]),
        "state": state,
        "created_at": created_at,
        "stopped_at": to_epoch(app.get("stopped_at", now if state == "stopped" else 0)),
        "current_version": int(app.get("current_version", history[-1]["version"] if history else 0)),
        "history": history,
        "logs": list(app.get("logs", [])),
    }


def normalize(seed: dict) -> dict:
    """Turn a seed (or an existing state) into the full state document."""
    now = time.time()
    environments = seed.get("environments", DEFAULT_ENVIRONMENTS)
    env_names = [e["name"] if isinstance(e, dict) else str(e) for e in environments]
    state: dict[str, Any] = {
        "workspace": seed.get("workspace", DEFAULT_WORKSPACE),
        "user": seed.get("user", DEFAULT_USER),
        "default_environment": seed.get("default_environment", "main" if "main" in env_names else env_names[0]),
        "environments": {},
        "secrets": {},
        "images": {},
        "apps": {},
        "functions": dict(seed.get("functions", {})),
        "faults": list(seed.get("faults", [])),
        # Objects built during a deploy that the client refers to by id.
        "built_images": dict(seed.get("built_images", {})),
        "mounts": dict(seed.get("mounts", {})),
        "blobs": dict(seed.get("blobs", {})),
        "function_calls": dict(seed.get("function_calls", {})),
        # Named Dicts: dict id -> {"name", "environment", "created_at", "entries": {base64 key: base64 value}}.
        # Keys and values arrive serialized by the client and are kept as opaque bytes.
        "dicts": dict(seed.get("dicts", {})),
    }
    for env in environments:
        if isinstance(env, dict):
            state["environments"][env["name"]] = {
                "environment_id": env.get("environment_id") or new_id("en"),
                "created_at": to_epoch(env.get("created_at", now)),
            }
        else:
            state["environments"][str(env)] = {"environment_id": new_id("en"), "created_at": now}
    if isinstance(seed.get("environments"), dict):  # already normalized
        state["environments"] = dict(seed["environments"])
    for env, secrets in seed.get("secrets", {}).items():
        state["secrets"][env] = {name: _normalize_secret(name, value, now) for name, value in secrets.items()}
    for ref, image in seed.get("images", {}).items():
        state["images"][ref] = {"env": dict(image.get("env", {})), "pullable": bool(image.get("pullable", True))}
    apps = seed.get("apps", {})
    if isinstance(apps, dict) and all(isinstance(v, list) for v in apps.values()):
        for env, env_apps in apps.items():
            for app in env_apps:
                normalized = _normalize_app(env, app, now)
                state["apps"][normalized["app_id"]] = normalized
    else:  # already normalized: app_id -> app
        state["apps"] = dict(apps)
    return state


class StateStore:
    """The state file, read and written under an exclusive lock."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.lock_path = self.path + ".lock"
        self.calls_path = self.path + ".calls.jsonl"
        self.blob_dir = self.path + ".blobs"
        os.makedirs(self.blob_dir, exist_ok=True)
        # The last state read or written, with the file's identity then (inode, mtime, size): every write
        # replaces the file (a new inode), so an unchanged identity means an unchanged state. Read-only
        # calls reuse it instead of parsing the file again (most RPCs only read).
        self._cached: tuple[tuple[int, int, int], dict] | None = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict:
        if not os.path.exists(self.path):
            return normalize({})
        with open(self.path) as f:
            return json.load(f)

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def _write(self, state: dict) -> None:
        directory = os.path.dirname(self.path)
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=directory)
        with os.fdopen(fd, "w") as f:
            # One line, written by the C encoder (an indented dump runs the pure-Python one: 3x slower).
            f.write(json.dumps(state, sort_keys=True))
            f.write("\n")
        os.replace(tmp, self.path)
        self._cached = None

    def read(self) -> dict:
        """The state, for reading only: the same object is handed to every reader until the file changes,
        so a caller must not modify it (`transaction()` is for changes)."""
        with self._locked():
            identity = self._identity()
            if identity is not None and self._cached is not None and self._cached[0] == identity:
                return self._cached[1]
            state = self._read()
            if identity is not None:
                self._cached = (identity, state)
            return state

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict]:
        """Yield the state; it is written back when the block ends without an exception."""
        with self._locked():
            state = self._read()
            yield state
            self._write(state)

    def initialize(self, seed: dict | None) -> None:
        """Create the state file from a seed, or keep an existing file when no seed is given."""
        with self._locked():
            if seed is not None:
                self._write(normalize(seed))
            elif os.path.exists(self.path):
                self._write(normalize(self._read()))
            else:
                self._write(normalize({}))

    def log_call(self, record: dict) -> None:
        line = json.dumps(record, sort_keys=True)
        with self._locked():
            with open(self.calls_path, "a") as f:
                f.write(line + "\n")

    def put_blob(self, blob_id: str, data: bytes) -> None:
        with open(os.path.join(self.blob_dir, blob_id), "wb") as f:
            f.write(data)

    def get_blob(self, blob_id: str) -> bytes:
        with open(os.path.join(self.blob_dir, blob_id), "rb") as f:
            return f.read()
