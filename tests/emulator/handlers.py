"""RPC implementations of the emulator.

Each RPC the emulator implements is an `async def Name(self, request, context)` returning the
reply message (unary) or an async generator of replies (server streaming). Replies are built
with `reply(cls, {...})`, which drops fields the served `modal_proto` version does not have, so
one implementation serves both client versions. To add an RPC, add a method named after it.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as _dt
import hashlib
import json
import os
import random
import re
import shlex
import sys
import tempfile
import time
from typing import Any

from google.protobuf import empty_pb2, json_format
from grpclib import GRPCError, Status
from modal_proto import api_pb2
from state import StateStore, new_id

APP_STATES = {
    "deployed": api_pb2.APP_STATE_DEPLOYED,
    "stopped": api_pb2.APP_STATE_STOPPED,
    "ephemeral": api_pb2.APP_STATE_EPHEMERAL,
    "initializing": api_pb2.APP_STATE_INITIALIZING,
    "detached": api_pb2.APP_STATE_DETACHED,
}
_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]{1,64}$")
_APP_ID_RE = re.compile(r"^ap-[a-zA-Z0-9]{22}$")
_TAG_RE = re.compile(r"^[a-zA-Z0-9._-]{1,50}$")
# Served to both client versions: the newest builder version 1.0.0 knows.
IMAGE_BUILDER_VERSION = "2024.10"


def _rfc3339(seconds: float) -> str:
    return _dt.datetime.fromtimestamp(seconds, tz=_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _parse_env(text: str) -> dict[str, str]:
    """The variables of a Dockerfile `ENV` instruction (`K=V ...` or the legacy `K V`)."""
    parts = shlex.split(text)
    if parts and "=" not in parts[0]:
        return {parts[0]: " ".join(parts[1:])}
    env = {}
    for part in parts:
        key, _, value = part.partition("=")
        env[key] = value
    return env


def _secret_values_by_id(state: dict, secret_id: str) -> dict[str, str]:
    for secrets in state["secrets"].values():
        for secret in secrets.values():
            if secret["secret_id"] == secret_id:
                return dict(secret["values"])
    return dict(state.get("anonymous_secrets", {}).get(secret_id, {}).get("values", {}))


def _secret_name_by_id(state: dict, secret_id: str) -> dict:
    for env, secrets in state["secrets"].items():
        for name, secret in secrets.items():
            if secret["secret_id"] == secret_id:
                return {"secret_id": secret_id, "environment": env, "name": name}
    return {"secret_id": secret_id, "environment": "", "name": ""}


def reply(cls, fields: dict | None = None):
    """Build `cls` from a dict, ignoring fields this protocol version does not know."""
    message = cls()
    if fields:
        json_format.ParseDict(_drop_none(fields), message, ignore_unknown_fields=True)
    return message


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def has_field(message, name: str) -> bool:
    return name in message.DESCRIPTOR.fields_by_name


class DroppedStream(Exception):
    """The connection of this call is reset (RST_STREAM) instead of answering."""


def fault_error(rpc: str, fault: dict) -> GRPCError:
    status = fault.get("status") or "UNAVAILABLE"
    status = Status[status] if isinstance(status, str) else Status(status)
    return GRPCError(status, fault.get("message", f"injected fault on {rpc}"))


class Handlers:
    def __init__(self, store: StateStore, blob_url: str, python: str):
        self.store = store
        self.blob_url = blob_url
        self.python = python
        self.server_url = ""
        # In-memory only: build results and function calls of this server process.
        self.fault_counts: dict[int, int] = {}
        self.calls: dict[str, dict] = {}
        self.background: set[asyncio.Future] = set()
        self.containers: set[asyncio.subprocess.Process] = set()

    # ---------------------------------------------------------------- helpers

    async def shutdown(self) -> None:
        """Kill the container processes this server started (by their own pids) and wait for them."""
        for process in list(self.containers):
            if process.returncode is None:
                process.kill()
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)

    def env_of_request(self, rpc: str, request) -> str:
        """The environment an RPC acts in, for the call log ("" when it has none)."""
        try:
            state = self.store.read()
        except Exception:  # noqa: BLE001 - logging must never fail an RPC
            return ""
        if rpc == "EnvironmentGetOrCreate":
            return request.deployment_name or state["default_environment"]
        if request is not None and has_field(request, "environment_name"):
            name = request.environment_name or state["default_environment"]
            return name
        if request is not None and has_field(request, "app_id") and request.app_id:
            app = state["apps"].get(request.app_id)
            return app["environment"] if app else ""
        if request is not None and has_field(request, "dict_id") and request.dict_id:
            found = state.get("dicts", {}).get(request.dict_id)
            return found["environment"] if found else ""
        if request is not None and has_field(request, "function_id") and request.function_id:
            function = state["functions"].get(request.function_id)
            if function:
                app = state["apps"].get(function["app_id"])
                return app["environment"] if app else ""
        return ""

    async def apply_faults(self, rpc: str, env: str) -> dict | None:
        """Applies the faults that act before the call is handled (latency, a status, a dropped request)
        and returns the first one that acts after it (`applied`: the answer is lost; `drop` of a stream
        after some messages), or None. A fault's count (`after`, `times`) counts the calls it matches."""
        state = self.store.read()
        deferred = None
        for index, fault in enumerate(state.get("faults", [])):
            if fault.get("rpc") not in (rpc, "*"):
                continue
            if fault.get("env") and fault["env"] != env:
                continue
            if fault.get("latency_ms") or fault.get("jitter_ms"):
                jitter = random.uniform(0, float(fault.get("jitter_ms") or 0))
                await asyncio.sleep((float(fault.get("latency_ms") or 0) + jitter) / 1000.0)
            if not (fault.get("status") or fault.get("drop")):
                continue
            seen = self.fault_counts.get(index, 0) + 1
            self.fault_counts[index] = seen
            after = int(fault.get("after") or 0)
            times = fault.get("times")
            if seen <= after or (times is not None and seen - after > int(times)):
                continue
            if fault.get("applied") or fault.get("drop") == "answer":
                deferred = deferred or fault
                continue
            if fault.get("drop"):
                raise DroppedStream()
            raise fault_error(rpc, fault)
        return deferred

    @staticmethod
    def resolve_env(state: dict, name: str) -> str:
        env = name or state["default_environment"]
        if env not in state["environments"]:
            raise GRPCError(Status.NOT_FOUND, f"Environment '{env}' not found")
        return env

    @staticmethod
    def get_app(state: dict, app_id: str) -> dict:
        app = state["apps"].get(app_id)
        if app is None:
            raise GRPCError(Status.NOT_FOUND, f"App {app_id} not found")
        return app

    @staticmethod
    def find_app(state: dict, env: str, name: str, live_only: bool = True) -> dict | None:
        """The live (not stopped) app of that name, or else the latest stopped one when allowed."""
        candidates = [a for a in state["apps"].values() if a["environment"] == env and a["name"] == name]
        live = [a for a in candidates if a["state"] != "stopped"]
        if live:
            return live[0]
        if live_only or not candidates:
            return None
        return max(candidates, key=lambda a: a.get("stopped_at", 0))

    @staticmethod
    def lifecycle(app: dict) -> dict:
        current = next((h for h in app["history"] if h["version"] == app["current_version"]), None)
        return {
            "app_state": APP_STATES.get(app["state"], api_pb2.APP_STATE_UNSPECIFIED),
            "created_at": app["created_at"],
            "created_by": app.get("created_by") or (app["history"][0]["deployed_by"] if app["history"] else ""),
            "deployed_at": current["deployed_at"] if current else 0,
            "deployed_by": current["deployed_by"] if current else "",
            "version": app["current_version"],
            "stopped_at": app.get("stopped_at") or 0,
            "stopped_by": app.get("stopped_by", ""),
        }

    def app_url(self, state: dict, app: dict) -> str:
        return f"https://modal.com/apps/{state['workspace']}/{app['environment']}/deployed/{app['name']}"

    # ---------------------------------------------------------------- client

    async def ClientHello(self, request, context):
        return reply(api_pb2.ClientHelloResponse)

    async def AuthTokenGet(self, request, context):
        return reply(api_pb2.AuthTokenGetResponse, {"token": "emulator-token"})

    async def TokenInfoGet(self, request, context):
        state = self.store.read()
        return reply(
            api_pb2.TokenInfoGetResponse,
            {"token_id": context["metadata"].get("x-modal-token-id", ""), "workspace_name": state["workspace"]},
        )

    async def WorkspaceNameLookup(self, request, context):
        state = self.store.read()
        return reply(api_pb2.WorkspaceNameLookupResponse, {"workspace_name": state["workspace"], "username": state["user"]})

    # ---------------------------------------------------------------- environments

    async def EnvironmentList(self, request, context):
        state = self.store.read()
        items = [
            {
                "name": name,
                "webhook_suffix": "",
                "created_at": env["created_at"],
                "default": name == state["default_environment"],
                "environment_id": env["environment_id"],
            }
            for name, env in state["environments"].items()
        ]
        return reply(api_pb2.EnvironmentListResponse, {"items": items})

    # ---------------------------------------------------------------- apps

    async def AppList(self, request, context):
        state = self.store.read()
        env = self.resolve_env(state, request.environment_name)
        apps = []
        # Newest first, so a client that keeps the server's order (1.0) prints a stable list.
        for app in sorted(state["apps"].values(), key=lambda a: (-a["created_at"], a["app_id"])):
            if app["environment"] != env:
                continue
            apps.append(
                {
                    "app_id": app["app_id"],
                    "description": app["description"],
                    "state": APP_STATES.get(app["state"], 0),
                    "created_at": app["created_at"],
                    "stopped_at": app.get("stopped_at") or 0,
                    "n_running_tasks": 0,
                    "name": app["name"] if app["state"] == "deployed" else "",
                }
            )
        return reply(api_pb2.AppListResponse, {"apps": apps})

    async def AppGetByDeploymentName(self, request, context):
        state = self.store.read()
        env = self.resolve_env(state, request.environment_name)
        app = self.find_app(state, env, request.name, live_only=False)
        fields: dict[str, Any] = {"environment_name": env}
        if app is not None and app["state"] != "stopped":
            fields["app_id"] = app["app_id"]
            fields["lifecycle"] = self.lifecycle(app)
        elif app is not None:
            fields["previous_app_id"] = app["app_id"]
            fields["lifecycle"] = self.lifecycle(app)
        return reply(api_pb2.AppGetByDeploymentNameResponse, fields)

    async def AppGetOrCreate(self, request, context):
        """`modal.App.lookup(name, environment_name=E, create_if_missing=...)`."""
        with self.store.transaction() as state:
            env = self.resolve_env(state, request.environment_name)
            app = self.find_app(state, env, request.app_name)
            if app is None:
                if request.object_creation_type != api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING:
                    raise GRPCError(Status.NOT_FOUND, f"App '{request.app_name}' not found in environment '{env}'")
                app_id = new_id("ap")
                app = {
                    "app_id": app_id,
                    "name": request.app_name,
                    "environment": env,
                    "description": request.app_name,
                    "state": "deployed",
                    "created_at": time.time(),
                    "stopped_at": 0,
                    "current_version": 0,
                    "history": [],
                    "logs": [],
                }
                state["apps"][app_id] = app
            metadata = {
                "description": app["description"],
                "app_id": app["app_id"],
                "environment_name": env,
                "lifecycle": self.lifecycle(app),
            }
        return reply(context["reply_type"], {"app_id": app["app_id"], "handle_metadata": metadata})

    async def AppGetLifecycle(self, request, context):
        state = self.store.read()
        app = self.get_app(state, request.app_id)
        return reply(api_pb2.AppGetLifecycleResponse, {"lifecycle": self.lifecycle(app)})

    async def AppGetInfo(self, request, context):
        state = self.store.read()
        app = self.get_app(state, request.app_id)
        current = next((h for h in app["history"] if h["version"] == app["current_version"]), {})
        functions = dict(current.get("functions", {}))
        return reply(
            context["reply_type"],
            {
                "info": {
                    "description": app["description"],
                    "app_id": app["app_id"],
                    "environment_name": app["environment"],
                    "lifecycle": self.lifecycle(app),
                    "functions": functions,
                },
                "function_info_summaries": {function_id: {} for function_id in functions.values()},
            },
        )

    async def AppDeploymentHistory(self, request, context):
        state = self.store.read()
        app = self.get_app(state, request.app_id)
        items = []
        for entry in sorted(app["history"], key=lambda h: h["version"], reverse=True):
            items.append(
                {
                    "app_id": app["app_id"],
                    "version": entry["version"],
                    "client_version": entry.get("client_version", ""),
                    "deployed_at": entry["deployed_at"],
                    "deployed_by": entry.get("deployed_by", ""),
                    "tag": entry.get("tag", ""),
                    "rollback_version": entry.get("rollback_version", 0),
                    "rollback_allowed": entry["version"] != app["current_version"],
                }
            )
        return reply(
            api_pb2.AppDeploymentHistoryResponse,
            {"app_deployment_histories": items, "production_app_version": app["current_version"]},
        )

    async def AppStop(self, request, context):
        with self.store.transaction() as state:
            app = self.get_app(state, request.app_id)
            if app["state"] != "stopped":
                app["state"] = "stopped"
                app["stopped_at"] = time.time()
                app["stopped_by"] = state["user"]
        return empty_pb2.Empty()

    async def AppRollback(self, request, context):
        with self.store.transaction() as state:
            app = self.get_app(state, request.app_id)
            if app["state"] != "deployed":
                raise GRPCError(Status.FAILED_PRECONDITION, f"App {app['name']} is not deployed")
            versions = sorted(h["version"] for h in app["history"])
            target_version = request.version
            if target_version < 0:
                earlier = [v for v in versions if v < app["current_version"]]
                if not earlier:
                    raise GRPCError(Status.FAILED_PRECONDITION, "No previous version to roll back to")
                target_version = earlier[-1]
            target = next((h for h in app["history"] if h["version"] == target_version), None)
            if target is None:
                raise GRPCError(Status.NOT_FOUND, f"Version v{target_version} not found for app {app['name']}")
            if target_version == app["current_version"]:
                raise GRPCError(Status.FAILED_PRECONDITION, f"App is already on version v{target_version}")
            now = time.time()
            new_version = versions[-1] + 1
            app["history"].append(
                {
                    "version": new_version,
                    "tag": target.get("tag", ""),
                    "deployed_at": now,
                    "deployed_by": state["user"],
                    "client_version": context["client_version"],
                    "rollback_version": target_version,
                    "functions": dict(target.get("functions", {})),
                    **({"definitions": copy.deepcopy(target["definitions"])} if "definitions" in target else {}),
                }
            )
            app["current_version"] = new_version
            url = self.app_url(state, app)
        return reply(context["reply_type"], {"url": url, "deployed_at": now})

    async def ObjectSuggest(self, request, context):
        return reply(context["reply_type"])

    async def TaskList(self, request, context):
        return reply(api_pb2.TaskListResponse)

    # ---------------------------------------------------------------- secrets

    async def SecretList(self, request, context):
        state = self.store.read()
        env = self.resolve_env(state, request.environment_name)
        secrets = sorted(state["secrets"].get(env, {}).items(), key=lambda kv: (-kv[1]["created_at"], kv[0]))
        if has_field(request, "pagination") and request.HasField("pagination"):
            if request.pagination.created_before:
                secrets = [kv for kv in secrets if kv[1]["created_at"] < request.pagination.created_before]
            if request.pagination.max_objects:
                secrets = secrets[: request.pagination.max_objects]
        items = [
            {
                "label": name,
                "created_at": secret["created_at"],
                "last_used_at": secret.get("last_used_at", 0),
                "environment_name": env,
                "secret_id": secret["secret_id"],
                "metadata": self.secret_metadata(state, env, name, secret),
            }
            for name, secret in secrets
        ]
        return reply(api_pb2.SecretListResponse, {"items": items, "environment_name": env})

    @staticmethod
    def secret_metadata(state: dict, env: str, name: str, secret: dict) -> dict:
        return {
            "name": name,
            "creation_info": {"created_at": secret["created_at"], "created_by": secret.get("created_by", state["user"])},
            "keys": sorted(secret["values"]),
            "environment_name": env,
            "last_used_at": secret.get("last_used_at", 0),
        }

    async def SecretGetOrCreate(self, request, context):
        create_if_missing = getattr(api_pb2, "OBJECT_CREATION_TYPE_CREATE_IF_MISSING", -1)
        with self.store.transaction() as state:
            env = self.resolve_env(state, request.environment_name)
            secrets = state["secrets"].setdefault(env, {})
            creation = request.object_creation_type
            name = request.deployment_name
            if not name:  # anonymous secret (Secret.from_dict and friends)
                secret_id = new_id("st")
                state.setdefault("anonymous_secrets", {})[secret_id] = {"values": dict(request.env_dict)}
                return reply(api_pb2.SecretGetOrCreateResponse, {"secret_id": secret_id})
            existing = secrets.get(name)
            lookup_only = creation not in (
                api_pb2.OBJECT_CREATION_TYPE_CREATE_FAIL_IF_EXISTS,
                api_pb2.OBJECT_CREATION_TYPE_CREATE_OVERWRITE_IF_EXISTS,
                create_if_missing,
            )
            if lookup_only:
                if existing is None:
                    raise GRPCError(Status.NOT_FOUND, f"Secret '{name}' not found in environment '{env}'")
                missing = [k for k in request.required_keys if k not in existing["values"]]
                if missing:
                    raise GRPCError(Status.NOT_FOUND, f"Secret '{name}' is missing required keys: {', '.join(missing)}")
            elif existing is not None and creation == api_pb2.OBJECT_CREATION_TYPE_CREATE_FAIL_IF_EXISTS:
                raise GRPCError(Status.ALREADY_EXISTS, f"Secret '{name}' already exists in environment '{env}'")
            elif existing is None or creation == api_pb2.OBJECT_CREATION_TYPE_CREATE_OVERWRITE_IF_EXISTS:
                secrets[name] = {
                    "secret_id": existing["secret_id"] if existing else new_id("st"),
                    "created_at": existing["created_at"] if existing else time.time(),
                    "values": dict(request.env_dict),
                }
            secret = secrets[name]
            metadata = self.secret_metadata(state, env, name, secret)
        return reply(api_pb2.SecretGetOrCreateResponse, {"secret_id": secret["secret_id"], "metadata": metadata})

    # ---------------------------------------------------------------- dicts

    @staticmethod
    def _dict(state: dict, dict_id: str) -> dict:
        found = state.get("dicts", {}).get(dict_id)
        if found is None:
            raise GRPCError(Status.NOT_FOUND, f"Dict {dict_id} not found")
        return found

    @staticmethod
    def _b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    async def DictGetOrCreate(self, request, context):
        """`modal.Dict.from_name(name, environment_name=E, create_if_missing=...)`, hydrated on first use."""
        with self.store.transaction() as state:
            env = self.resolve_env(state, request.environment_name)
            dicts = state.setdefault("dicts", {})
            name = request.deployment_name
            found = next((i for i, d in dicts.items() if d["environment"] == env and d["name"] == name), None)
            if request.object_creation_type == api_pb2.OBJECT_CREATION_TYPE_EPHEMERAL or not name:
                raise GRPCError(Status.UNIMPLEMENTED, "ephemeral Dicts are not implemented by the modal emulator")
            if found is None:
                if request.object_creation_type != api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING:
                    raise GRPCError(Status.NOT_FOUND, f"Dict '{name}' not found in environment '{env}'")
                found = new_id("di")
                dicts[found] = {
                    "name": name,
                    "environment": env,
                    "created_at": time.time(),
                    "entries": {self._b64(e.key): self._b64(e.value) for e in request.data},
                }
            record = dicts[found]
        metadata = {"name": name, "creation_info": {"created_at": record["created_at"], "created_by": state["user"]}}
        return reply(context["reply_type"], {"dict_id": found, "metadata": metadata})

    async def DictUpdate(self, request, context):
        """Puts every entry; with `if_not_exists`, puts nothing and answers `created = false` when a key exists.
        Atomic: the check and the write happen in one transaction under the state lock."""
        with self.store.transaction() as state:
            entries = self._dict(state, request.dict_id)["entries"]
            updates = {self._b64(e.key): self._b64(e.value) for e in request.updates}
            if request.if_not_exists and any(key in entries for key in updates):
                return reply(context["reply_type"], {"created": False})
            entries.update(updates)
        return reply(context["reply_type"], {"created": True})

    async def DictGet(self, request, context):
        state = self.store.read()
        entries = self._dict(state, request.dict_id)["entries"]
        value = entries.get(self._b64(request.key))
        return reply(context["reply_type"], {"found": value is not None, "value": value})

    async def DictContains(self, request, context):
        state = self.store.read()
        entries = self._dict(state, request.dict_id)["entries"]
        return reply(context["reply_type"], {"found": self._b64(request.key) in entries})

    async def DictPop(self, request, context):
        with self.store.transaction() as state:
            entries = self._dict(state, request.dict_id)["entries"]
            value = entries.pop(self._b64(request.key), None)
        return reply(context["reply_type"], {"found": value is not None, "value": value})

    async def DictLen(self, request, context):
        state = self.store.read()
        return reply(context["reply_type"], {"len": len(self._dict(state, request.dict_id)["entries"])})

    async def DictContents(self, request, context):
        state = self.store.read()
        for key, value in self._dict(state, request.dict_id)["entries"].items():
            yield reply(
                api_pb2.DictEntry,
                {"key": key if request.keys else None, "value": value if request.values else None},
            )

    # ---------------------------------------------------------------- deploy: app objects

    async def EnvironmentGetOrCreate(self, request, context):
        state = self.store.read()
        env = self.resolve_env(state, request.deployment_name)
        return reply(
            context["reply_type"],
            {
                "environment_id": state["environments"][env]["environment_id"],
                "metadata": {
                    "name": env,
                    "settings": {"image_builder_version": IMAGE_BUILDER_VERSION, "webhook_suffix": ""},
                },
            },
        )

    @staticmethod
    def live_function(state: dict, function_id: str) -> dict | None:
        """The definition of `function_id` that its app's live version published.

        `state["functions"]` holds the latest definition each function id was given (a redeploy reuses
        the ids and FunctionCreate rewrites them before AppPublish); each history entry keeps the
        definitions it published under `definitions`. States written before that (and seeded apps)
        have no `definitions`: the latest definition is used.
        """
        function = state["functions"].get(function_id)
        if function is None:
            return None
        app = state["apps"].get(function.get("app_id", ""))
        if app is not None:
            current = next((h for h in app["history"] if h["version"] == app["current_version"]), {})
            published = current.get("definitions", {}).get(function_id)
            if published is not None:
                return published
        return function

    def function_handle_metadata(self, state: dict, function_id: str, function: dict | None = None) -> dict:
        function = function or state["functions"][function_id]
        return {
            "function_name": function["function_name"],
            "function_type": function.get("function_type", api_pb2.Function.FUNCTION_TYPE_FUNCTION),
            "definition_id": function.get("definition_id", ""),
            "app_id": function.get("app_id", ""),
            "supported_input_formats": function.get("supported_input_formats", []),
            "supported_output_formats": function.get("supported_output_formats", []),
        }

    async def AppGetLayout(self, request, context):
        state = self.store.read()
        app = self.get_app(state, request.app_id)
        current = next((h for h in app["history"] if h["version"] == app["current_version"]), None)
        function_ids = dict(current.get("functions", {})) if current else {}
        objects = [
            {"object_id": fid, "function_handle_metadata": self.function_handle_metadata(state, fid)}
            for fid in function_ids.values()
            if fid in state["functions"]
        ]
        return reply(
            context["reply_type"],
            {"app_layout": {"objects": objects, "function_ids": function_ids, "class_ids": {}}},
        )

    async def AppCreate(self, request, context):
        with self.store.transaction() as state:
            env = self.resolve_env(state, request.environment_name)
            app_id = new_id("ap")
            state["apps"][app_id] = {
                "app_id": app_id,
                "name": "",
                "environment": env,
                "description": request.description,
                "state": "initializing" if request.app_state != api_pb2.APP_STATE_EPHEMERAL else "ephemeral",
                "created_at": time.time(),
                "stopped_at": 0,
                "current_version": 0,
                "history": [],
                "logs": [],
            }
            url = f"https://modal.com/apps/{state['workspace']}/{env}/{app_id}"
        return reply(context["reply_type"], {"app_id": app_id, "app_page_url": url, "app_logs_url": url})

    async def AppHeartbeat(self, request, context):
        return empty_pb2.Empty()

    async def AppClientDisconnect(self, request, context):
        with self.store.transaction() as state:
            app = state["apps"].get(request.app_id)
            if app is not None and app["state"] in ("initializing", "ephemeral"):
                app["state"] = "stopped"
                app["stopped_at"] = time.time()
        return empty_pb2.Empty()

    async def AppSetTags(self, request, context):
        return empty_pb2.Empty()

    async def AppGetTags(self, request, context):
        return reply(context["reply_type"])

    async def AppPublish(self, request, context):
        with self.store.transaction() as state:
            app = self.get_app(state, request.app_id)
            name = request.name
            if name and (not _NAME_RE.match(name) or _APP_ID_RE.match(name)):
                raise GRPCError(Status.INVALID_ARGUMENT, f"Invalid App name: '{name}'.")
            if request.deployment_tag and not _TAG_RE.match(request.deployment_tag):
                raise GRPCError(Status.INVALID_ARGUMENT, f"Invalid deployment tag: '{request.deployment_tag}'.")
            for other in state["apps"].values():
                if (
                    other["app_id"] != app["app_id"]
                    and other["environment"] == app["environment"]
                    and other["name"] == name
                    and other["state"] == "deployed"
                ):
                    raise GRPCError(Status.ALREADY_EXISTS, f"An App named '{name}' is already deployed")
            now = time.time()
            version = max([h["version"] for h in app["history"]], default=0) + 1
            app["history"].append(
                {
                    "version": version,
                    "tag": request.deployment_tag,
                    "deployed_at": now,
                    "deployed_by": state["user"],
                    "client_version": context["client_version"],
                    "rollback_version": 0,
                    "functions": dict(request.function_ids),
                }
            )
            app["name"] = name or app["name"]
            app["description"] = name or app["description"]
            app["current_version"] = version
            app["state"] = "deployed"
            app["stopped_at"] = 0
            definitions = {}
            for function_id in request.function_ids.values():
                if function_id in state["functions"]:
                    state["functions"][function_id]["app_id"] = app["app_id"]
                    definitions[function_id] = copy.deepcopy(state["functions"][function_id])
            # This version's definitions, as published: a rollback to it makes them live again.
            app["history"][-1]["definitions"] = definitions
            url = self.app_url(state, app)
        return reply(context["reply_type"], {"url": url, "deployed_at": now})

    # ---------------------------------------------------------------- deploy: blobs and mounts

    async def BlobCreate(self, request, context):
        blob_id = new_id("bl")
        url = f"{self.blob_url}/blobs/{blob_id}"
        return reply(
            context["reply_type"],
            {"blob_id": blob_id, "upload_url": url, "blob_ids": [blob_id], "upload_urls": {"items": [url]}},
        )

    async def BlobGet(self, request, context):
        return reply(context["reply_type"], {"download_url": f"{self.blob_url}/blobs/{request.blob_id}"})

    def _has_content(self, sha256_hex: str) -> bool:
        return os.path.exists(os.path.join(self.store.blob_dir, "sha256-" + sha256_hex))

    async def MountBatchedCheckExistence(self, request, context):
        missing = [h for h in request.sha256_hex_hashes if not self._has_content(h)]
        return reply(context["reply_type"], {"missing_sha256_hex_hashes": missing})

    async def MountPutFile(self, request, context):
        if request.data_blob_id:
            data = self.store.get_blob(request.data_blob_id)
        elif request.data:
            data = request.data
        else:
            return reply(context["reply_type"], {"exists": self._has_content(request.sha256_hex)})
        if hashlib.sha256(data).hexdigest() != request.sha256_hex:
            raise GRPCError(Status.INVALID_ARGUMENT, "sha256 mismatch")
        self.store.put_blob("sha256-" + request.sha256_hex, data)
        return reply(context["reply_type"], {"exists": True})

    async def MountGetOrCreate(self, request, context):
        files = {f.filename: f.sha256_hex for f in request.files}
        missing = [name for name, digest in files.items() if not self._has_content(digest)]
        if missing:
            raise GRPCError(Status.FAILED_PRECONDITION, f"Mount files were not uploaded: {', '.join(missing)}")
        with self.store.transaction() as state:
            mount_id = new_id("mo")
            state["mounts"][mount_id] = {"files": files, "deployment_name": request.deployment_name}
        return reply(context["reply_type"], {"mount_id": mount_id, "handle_metadata": {}})

    # ---------------------------------------------------------------- deploy: images

    def _image_failure(self, state: dict, registry_ref: str) -> str | None:
        """Why pulling `registry_ref` fails, or None when it can be pulled."""
        for fault in state.get("faults", []):
            image = fault.get("image")
            if image and (image == registry_ref or registry_ref.endswith("@" + image) or image in registry_ref):
                return fault.get("message") or f"Failed to pull image {registry_ref}: manifest unknown"
        known = state["images"].get(registry_ref)
        if known is not None:
            if not known.get("pullable", True):
                return known.get("message") or f"Failed to pull image {registry_ref}: manifest unknown"
            return None
        if "@sha256:" in registry_ref:
            return f"Failed to pull image {registry_ref}: manifest unknown"
        return None

    async def ImageGetOrCreate(self, request, context):
        image = request.image
        commands = list(image.dockerfile_commands)
        parents = [b.image_id for b in image.base_images]
        registry_ref = ""
        env: dict[str, str] = {}
        for command in commands:
            stripped = command.strip()
            upper = stripped.upper()
            if upper.startswith("FROM "):
                ref = stripped.split()[1]
                if ref != "base" and not parents:
                    registry_ref = ref
            elif upper.startswith("ENV "):
                env.update(_parse_env(stripped[4:]))
        with self.store.transaction() as state:
            image_id = new_id("im")
            parent = state["built_images"].get(parents[0]) if parents else None
            record = {
                "image_id": image_id,
                "parent": parents[0] if parents else "",
                "registry_ref": registry_ref or (parent or {}).get("registry_ref", ""),
                "env": {**((parent or {}).get("env", {})), **env},
                "registry_secret_id": image.image_registry_config.secret_id if image.HasField("image_registry_config") else "",
                "status": "ok",
                "error": "",
            }
            if registry_ref:
                failure = self._image_failure(state, registry_ref)
                if failure:
                    record["status"] = "failed"
                    record["error"] = failure
                else:
                    known = state["images"].get(registry_ref, {})
                    record["env"] = {**known.get("env", {}), **record["env"]}
            elif parent is not None and parent.get("status") == "failed":
                record["status"] = "failed"
                record["error"] = parent["error"]
            state["built_images"][image_id] = record
        return reply(
            context["reply_type"],
            {"image_id": image_id, "result": self._image_result(record), "metadata": self._image_metadata()},
        )

    @staticmethod
    def _image_result(record: dict) -> dict:
        if record["status"] == "failed":
            return {"status": api_pb2.GenericResult.GENERIC_STATUS_FAILURE, "exception": record["error"]}
        return {"status": api_pb2.GenericResult.GENERIC_STATUS_SUCCESS}

    @staticmethod
    def _image_metadata() -> dict:
        return {
            "python_version_info": sys.version,
            "image_builder_version": IMAGE_BUILDER_VERSION,
            "workdir": "/root",
        }

    async def ImageJoinStreaming(self, request, context):
        state = self.store.read()
        record = state["built_images"].get(request.image_id)
        if record is None:
            raise GRPCError(Status.NOT_FOUND, f"Image {request.image_id} not found")
        yield reply(
            context["reply_type"],
            {"result": self._image_result(record), "eof": True, "metadata": self._image_metadata()},
        )

    # ---------------------------------------------------------------- deploy: functions

    async def FunctionPrecreate(self, request, context):
        with self.store.transaction() as state:
            function_id = request.existing_function_id or new_id("fu")
            function = state["functions"].setdefault(function_id, {})
            function.update(
                {
                    "function_id": function_id,
                    "function_name": request.function_name,
                    "app_id": request.app_id,
                    "function_type": request.function_type,
                    "definition_id": new_id("de"),
                    "supported_input_formats": list(getattr(request, "supported_input_formats", [])),
                    "supported_output_formats": list(getattr(request, "supported_output_formats", [])),
                }
            )
            metadata = self.function_handle_metadata(state, function_id)
        return reply(context["reply_type"], {"function_id": function_id, "handle_metadata": metadata})

    async def FunctionCreate(self, request, context):
        if request.HasField("function"):
            definition = request.function
        elif has_field(request, "function_data") and request.HasField("function_data"):
            definition = request.function_data.ranked_functions[0].function
            definition_fields = request.function_data
        else:
            raise GRPCError(Status.INVALID_ARGUMENT, "FunctionCreate without a function definition")
        names = definition.function_name or (definition_fields.function_name if not request.HasField("function") else "")
        module_name = definition.module_name or (definition_fields.module_name if not request.HasField("function") else "")
        with self.store.transaction() as state:
            function_id = request.existing_function_id or new_id("fu")
            function = state["functions"].setdefault(function_id, {"function_id": function_id, "definition_id": new_id("de")})
            secret_names = []
            for secret_id in definition.secret_ids:
                secret_names.append(_secret_name_by_id(state, secret_id))
            function.update(
                {
                    "function_id": function_id,
                    "function_name": names,
                    "module_name": module_name,
                    "app_id": request.app_id,
                    "image_id": definition.image_id,
                    "mount_ids": list(definition.mount_ids),
                    "secret_ids": list(definition.secret_ids),
                    "secrets": secret_names,
                    "definition_type": definition.definition_type,
                    "timeout_secs": definition.timeout_secs,
                    "function_serialized_blob": "",
                    "supported_input_formats": list(getattr(definition, "supported_input_formats", [])),
                    "supported_output_formats": list(getattr(definition, "supported_output_formats", [])),
                }
            )
            if definition.function_serialized:
                blob_id = "fn-" + function_id + "-" + new_id("de")  # one per definition: versions keep theirs
                self.store.put_blob(blob_id, definition.function_serialized)
                function["function_serialized_blob"] = blob_id
            metadata = self.function_handle_metadata(state, function_id)
            response = reply(context["reply_type"], {"function_id": function_id, "handle_metadata": metadata})
            if request.HasField("function"):
                response.function.CopyFrom(request.function)
            if has_field(response, "function_data"):
                if has_field(request, "function_data") and request.HasField("function_data"):
                    response.function_data.CopyFrom(request.function_data)
                else:
                    response.function_data.function_name = definition.function_name
                    response.function_data.module_name = definition.module_name
                    response.function_data.function_type = definition.function_type
                    ranked = response.function_data.ranked_functions.add()
                    ranked.function.CopyFrom(definition)
                # FunctionGet hands the definition back to clients that hydrate from it.
                function["function_data_b64"] = base64.b64encode(response.function_data.SerializeToString()).decode()
        return response

    # ---------------------------------------------------------------- function calls

    async def FunctionGet(self, request, context):
        state = self.store.read()
        env = self.resolve_env(state, request.environment_name)
        app = self.find_app(state, env, request.app_name)
        if app is None or app["state"] != "deployed":
            raise GRPCError(
                Status.NOT_FOUND,
                f"Lookup failed for Function '{request.object_tag}' from the '{request.app_name}' app: "
                f"App '{request.app_name}' not found in environment '{env}'.",
            )
        current = next((h for h in app["history"] if h["version"] == app["current_version"]), {})
        function_id = current.get("functions", {}).get(request.object_tag)
        if function_id is None or function_id not in state["functions"]:
            raise GRPCError(
                Status.NOT_FOUND,
                f"Lookup failed for Function '{request.object_tag}' from the '{request.app_name}' app: "
                f"Function '{request.object_tag}' not found in App '{request.app_name}'.",
            )
        function = self.live_function(state, function_id)
        metadata = self.function_handle_metadata(state, function_id, function)
        response = reply(context["reply_type"], {"function_id": function_id, "handle_metadata": metadata})
        data_b64 = function.get("function_data_b64")
        if data_b64 and has_field(response, "function"):
            response.function.ParseFromString(base64.b64decode(data_b64))
        return response

    async def FunctionBindParams(self, request, context):
        raise GRPCError(Status.UNIMPLEMENTED, "FunctionBindParams (classes) is not implemented by the modal emulator")

    def _start_inputs(self, function_id: str, function_call_id: str, items) -> list[dict]:
        call = self.calls.setdefault(function_call_id, {"function_id": function_id, "outputs": [], "event": asyncio.Event()})
        started = []
        for item in items:
            input_id = new_id("in")
            started.append({"idx": item.idx, "input_id": input_id, "input_jwt": input_id})
            task = asyncio.ensure_future(self._run_input(function_id, function_call_id, input_id, item))
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        call["pending"] = call.get("pending", 0) + len(started)
        return started

    async def FunctionMap(self, request, context):
        state = self.store.read()
        if request.function_id not in state["functions"]:
            raise GRPCError(Status.NOT_FOUND, f"Function {request.function_id} not found")
        function_call_id = new_id("fc")
        started = self._start_inputs(request.function_id, function_call_id, request.pipelined_inputs)
        return reply(
            context["reply_type"],
            {"function_call_id": function_call_id, "pipelined_inputs": started, "function_call_jwt": function_call_id},
        )

    async def FunctionPutInputs(self, request, context):
        started = self._start_inputs(request.function_id, request.function_call_id, request.inputs)
        return reply(context["reply_type"], {"inputs": started})

    async def FunctionGetOutputs(self, request, context):
        call = self.calls.get(request.function_call_id)
        if call is None:
            raise GRPCError(Status.NOT_FOUND, f"Function call {request.function_call_id} not found")
        if not call["outputs"]:
            try:
                await asyncio.wait_for(call["event"].wait(), timeout=max(0.0, min(request.timeout or 0, 55.0)))
            except asyncio.TimeoutError:
                pass
        outputs = list(call["outputs"])
        if outputs and request.clear_on_success:
            call["outputs"] = []
            call["event"] = asyncio.Event()
        return reply(
            context["reply_type"],
            {
                "outputs": outputs,
                "idxs": [o["idx"] for o in outputs],
                "last_entry_id": "0-0",
                "num_unfinished_inputs": call.get("pending", 0),
            },
        )

    async def FunctionCallCancel(self, request, context):
        return empty_pb2.Empty()

    def _container_environment(self, state: dict, function: dict) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        image_id = function.get("image_id", "")
        chain = []
        while image_id and image_id in state["built_images"]:
            chain.append(state["built_images"][image_id])
            image_id = state["built_images"][image_id].get("parent", "")
        for image in reversed(chain):
            env.update(image.get("env", {}))
        for secret_id in function.get("secret_ids", []):
            env.update(_secret_values_by_id(state, secret_id))
        return env

    def _materialize(self, state: dict, function: dict, workdir: str) -> None:
        for mount_id in function.get("mount_ids", []):
            for filename, digest in state["mounts"].get(mount_id, {}).get("files", {}).items():
                if not filename.startswith("/root/"):
                    continue
                target = os.path.join(workdir, filename[len("/root/"):])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as f:
                    f.write(self.store.get_blob("sha256-" + digest))

    async def _run_input(self, function_id: str, function_call_id: str, input_id: str, item) -> None:
        call = self.calls[function_call_id]
        state = self.store.read()
        function = self.live_function(state, function_id)
        data_format = item.input.data_format or api_pb2.DATA_FORMAT_PICKLE
        args = self.store.get_blob(item.input.args_blob_id) if item.input.args_blob_id else item.input.args
        output: dict[str, Any] = {"idx": item.idx, "input_id": input_id, "data_format": data_format}
        with tempfile.TemporaryDirectory(prefix="modal-emulator-container-") as workdir:
            root = os.path.join(workdir, "root")
            os.makedirs(root)
            self._materialize(state, function, root)
            request_path = os.path.join(workdir, "request.json")
            result_path = os.path.join(workdir, "result.json")
            with open(request_path, "w") as f:
                json.dump(
                    {
                        "workdir": root,
                        "module": function.get("module_name", ""),
                        "function": function["function_name"],
                        "args_b64": base64.b64encode(args).decode(),
                        "input_format": data_format,
                        "output_format": data_format,
                    },
                    f,
                )
            env = self._container_environment(state, function)
            env["HOME"] = root
            started_at = time.time()
            process = await asyncio.create_subprocess_exec(
                self.python,
                os.path.join(os.path.dirname(os.path.abspath(__file__)), "container.py"),
                request_path,
                result_path,
                cwd=root,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            self.containers.add(process)
            timeout = function.get("timeout_secs") or 300
            try:
                stdout, _ = await asyncio.wait_for(process.communicate(), timeout=timeout)
                result = None
                if os.path.exists(result_path):
                    with open(result_path) as f:
                        result = json.load(f)
            except asyncio.TimeoutError:
                process.kill()
                stdout, _ = await process.communicate()
                result = {"status": "timeout"}
            finally:
                self.containers.discard(process)
        text = stdout.decode(errors="replace")
        self._append_logs(function, function_call_id, input_id, text)
        if result is None:
            output["result"] = {
                "status": api_pb2.GenericResult.GENERIC_STATUS_FAILURE,
                "exception": f"Container exited with code {process.returncode}",
                "traceback": text[-4000:],
            }
        elif result["status"] == "success":
            output["result"] = {"status": api_pb2.GenericResult.GENERIC_STATUS_SUCCESS, "data": result["data_b64"]}
        elif result["status"] == "timeout":
            output["result"] = {
                "status": api_pb2.GenericResult.GENERIC_STATUS_TIMEOUT,
                "exception": f"Function {function['function_name']} timed out after {timeout} seconds",
            }
        else:
            output["result"] = {
                "status": api_pb2.GenericResult.GENERIC_STATUS_FAILURE,
                "exception": result["exception"],
                "traceback": result["traceback"],
                "data": result["data_b64"],
            }
        output["input_started_at"] = started_at
        output["output_created_at"] = time.time()
        call["outputs"].append(output)
        call["pending"] = max(0, call.get("pending", 1) - 1)
        call["event"].set()

    def _append_logs(self, function: dict, function_call_id: str, input_id: str, text: str) -> None:
        with self.store.transaction() as state:
            app = state["apps"].get(function.get("app_id", ""))
            if app is None:
                return
            now = time.time()
            for line in text.splitlines(keepends=True):
                app.setdefault("logs", []).append(
                    {
                        "time": now,
                        "function_id": function["function_id"],
                        "function_name": function["function_name"],
                        "function_call_id": function_call_id,
                        "input_id": input_id,
                        "data": line,
                    }
                )

    # ---------------------------------------------------------------- logs

    @staticmethod
    def _log_filter(request, entries: list[dict]) -> list[dict]:
        selected = []
        for index, entry in enumerate(entries):
            if getattr(request, "function_id", "") and entry.get("function_id") != request.function_id:
                continue
            if getattr(request, "function_call_id", "") and entry.get("function_call_id") != request.function_call_id:
                continue
            if getattr(request, "search_text", "") and request.search_text not in entry.get("data", ""):
                continue
            selected.append({**entry, "entry_id": str(index + 1)})
        return selected

    @staticmethod
    def _log_batch(entry: dict) -> dict:
        return {
            "task_id": "ta-emulator",
            "function_id": entry.get("function_id", ""),
            "input_id": entry.get("input_id", ""),
            "entry_id": entry["entry_id"],
            "items": [
                {
                    "data": entry.get("data", ""),
                    "timestamp": entry.get("time", 0),
                    "file_descriptor": api_pb2.FILE_DESCRIPTOR_STDOUT,
                    "function_call_id": entry.get("function_call_id", ""),
                    "input_id": entry.get("input_id", ""),
                    "timestamp_ns": int(entry.get("time", 0) * 1e9),
                }
            ],
        }

    async def AppGetLogs(self, request, context):
        """Sends the stored logs, then `app_done`: the emulator ends the stream where Modal would follow."""
        state = self.store.read()
        app = self.get_app(state, request.app_id)
        entries = self._log_filter(request, app.get("logs", []))
        if request.last_entry_id:
            try:
                after = int(request.last_entry_id)
            except ValueError:
                after = 0
            entries = [e for e in entries if int(e["entry_id"]) > after]
        for entry in entries:
            yield reply(context["reply_type"], self._log_batch(entry))
        yield reply(context["reply_type"], {"app_done": True})

    @staticmethod
    def _seconds(timestamp) -> float:
        return timestamp.seconds + timestamp.nanos / 1e9

    def _logs_in_range(self, request, app: dict) -> list[dict]:
        since = self._seconds(request.since) if request.HasField("since") else 0.0
        until = self._seconds(request.until) if request.HasField("until") else float("inf")
        return [e for e in self._log_filter(request, app.get("logs", [])) if since <= e.get("time", 0) < until]

    async def AppCountLogs(self, request, context):
        state = self.store.read()
        app = self.get_app(state, request.app_id)
        bucket_secs = request.bucket_secs or 60
        since = self._seconds(request.since)
        counts: dict[int, int] = {}
        for entry in self._logs_in_range(request, app):
            bucket = int((entry["time"] - since) // bucket_secs)
            counts[bucket] = counts.get(bucket, 0) + 1
        buckets = []
        for bucket, count in sorted(counts.items()):
            start = since + bucket * bucket_secs
            buckets.append({"bucket_start_at": _rfc3339(start), "stdout_logs": count})
        return reply(context["reply_type"], {"app_id": app["app_id"], "buckets": buckets})

    async def AppFetchLogs(self, request, context):
        state = self.store.read()
        app = self.get_app(state, request.app_id)
        entries = self._logs_in_range(request, app)
        if request.limit:
            entries = entries[-request.limit:]
        return reply(context["reply_type"], {"batches": [self._log_batch(e) for e in entries]})
