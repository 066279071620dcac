"""RPC implementations of the emulator.

Each RPC the emulator implements is an `async def Name(self, request, context)` returning the
reply message (unary) or an async generator of replies (server streaming). Replies are built
with `reply(cls, {...})`, which drops fields the served `modal_proto` version does not have, so
one implementation serves both client versions. To add an RPC, add a method named after it.
"""

from __future__ import annotations

import asyncio
import re
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


class Handlers:
    def __init__(self, store: StateStore, blob_url: str, python: str):
        self.store = store
        self.blob_url = blob_url
        self.python = python
        self.server_url = ""
        # In-memory only: build results and function calls of this server process.
        self.fault_counts: dict[int, int] = {}

    # ---------------------------------------------------------------- helpers

    def env_of_request(self, rpc: str, request) -> str:
        """The environment an RPC acts in, for the call log ("" when it has none)."""
        try:
            state = self.store.read()
        except Exception:  # noqa: BLE001 - logging must never fail an RPC
            return ""
        if request is not None and has_field(request, "environment_name"):
            name = request.environment_name or state["default_environment"]
            return name
        if request is not None and has_field(request, "app_id") and request.app_id:
            app = state["apps"].get(request.app_id)
            return app["environment"] if app else ""
        if request is not None and has_field(request, "function_id") and request.function_id:
            function = state["functions"].get(request.function_id)
            if function:
                app = state["apps"].get(function["app_id"])
                return app["environment"] if app else ""
        return ""

    async def apply_faults(self, rpc: str, env: str) -> None:
        state = self.store.read()
        for index, fault in enumerate(state.get("faults", [])):
            if fault.get("rpc") not in (rpc, "*"):
                continue
            if fault.get("env") and fault["env"] != env:
                continue
            if fault.get("latency_ms"):
                await asyncio.sleep(float(fault["latency_ms"]) / 1000.0)
            if fault.get("status"):
                times = fault.get("times")
                used = self.fault_counts.get(index, 0)
                if times is not None and used >= int(times):
                    continue
                self.fault_counts[index] = used + 1
                status = Status[fault["status"]] if isinstance(fault["status"], str) else Status(fault["status"])
                raise GRPCError(status, fault.get("message", f"injected fault on {rpc}"))

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
            "created_by": current["deployed_by"] if current else "",
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
        for app in state["apps"].values():
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

    async def AppGetLifecycle(self, request, context):
        state = self.store.read()
        app = self.get_app(state, request.app_id)
        return reply(api_pb2.AppGetLifecycleResponse, {"lifecycle": self.lifecycle(app)})

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
