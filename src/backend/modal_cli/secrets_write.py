"""modalplan's secrets writer: makes named Modal secrets hold exactly the keys and values it is sent.

Run on the interpreter of the `modal` CLI (it has the Modal SDK). The values come on standard input only,
never on a command line: one JSON request {"environment": E, "secrets": [{"name": N, "values": {KEY: VALUE}}]}.
Each secret is written with the call `modal secret create NAME ... --force` makes (SecretGetOrCreate,
overwrite if it exists), so afterwards it holds exactly these keys. Prints one JSON line per secret, in
order: {"name": N, "ok": true} or {"name": N, "ok": false, "kind": ..., "message": ...}; a failure before any
write is one line without "name": {"ok": false, "kind": "not_logged_in" | "unknown_environment" | "modal" |
"internal", "message": ...}. It prints no value.
"""

import json
import sys
import warnings

warnings.filterwarnings("ignore")


def emit(document):
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


try:
    from grpclib import GRPCError, Status

    import modal.exception as modal_exception
    from modal._utils.async_utils import synchronizer
    from modal.client import _Client
    from modal_proto import api_pb2
except Exception as error:  # noqa: BLE001 - no usable SDK on this interpreter
    emit({"ok": False, "kind": "internal", "message": f"importing the Modal SDK failed: {type(error).__name__}"})
    sys.exit(0)


def classify(error):
    status = getattr(error, "status", None)
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    if isinstance(error, modal_exception.AuthError) or status in (Status.UNAUTHENTICATED, Status.PERMISSION_DENIED):
        return "not_logged_in", message
    if "Environment '" in message and "not found" in message:
        return "unknown_environment", message
    if isinstance(error, (modal_exception.Error, GRPCError, OSError)):
        return "modal", message
    return "internal", f"{type(error).__name__}: {message}"


async def write(request):
    try:
        client = await _Client.from_env()
    except Exception as error:  # noqa: BLE001
        kind, message = classify(error)
        emit({"ok": False, "kind": kind, "message": message})
        return
    stub = getattr(client, "_stub", None) or client.stub
    for secret in request["secrets"]:
        call = api_pb2.SecretGetOrCreateRequest(
            deployment_name=secret["name"],
            environment_name=request["environment"],
            object_creation_type=api_pb2.OBJECT_CREATION_TYPE_CREATE_OVERWRITE_IF_EXISTS,
            env_dict=secret["values"],
        )
        try:
            await stub.SecretGetOrCreate(call)
        except Exception as error:  # noqa: BLE001
            kind, message = classify(error)
            emit({"name": secret["name"], "ok": False, "kind": kind, "message": message})
            continue
        emit({"name": secret["name"], "ok": True})


def main():
    request = json.loads(sys.stdin.read())
    try:
        synchronizer.create_blocking(write)(request)
    except Exception as error:  # noqa: BLE001 - the SDK moved
        emit({"ok": False, "kind": "internal", "message": f"the secrets writer does not fit this Modal SDK: {type(error).__name__}"})


if __name__ == "__main__":
    main()
