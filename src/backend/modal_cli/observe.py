# modalplan's observe helper: one process per plan instead of one `modal` CLI process per call.
#
# Run with the interpreter of the `modal` CLI, so it uses the very client library the CLI uses and makes
# the calls the CLI's `app list`, `secret list` and `app history` commands make. Reads one JSON request on
# stdin: {"environments": {"<env>": ["<app name whose history is needed>", ...]}, "locks": bool,
#         "orphans": null | {"owner_prefix": "<user>-<branch>-" or "", "stems": ["llm-", "llm-litellm-v", ...]}}
# ("orphans": the history of every deployed app named like that is read too; see named_like_ours).
# Prints one JSON document on stdout:
#   {"ok": true, "environments": {"<env>": {"apps": [{"app_id", "description", "state"}],
#                                           "secrets": ["<name>"],
#                                           "histories": {"<app>": [{"version", "tag", "deployed_at",
#                                                                    "deployed_by"}]},
#                                           "lock": {"held": LOCK or null} or {"error": "..."}}}}
# ("lock" only with "locks": true; LOCK is the apply lock's record with "heartbeat_at" added, see lock.py;
#  "releases": {"entries": {"<app>": "<JSON text of its records>"}} or {"error": "..."}, only with
#  "releases": true: the modalplan-releases Dict of src/backend/releases.rs)
# A request {"mode": "record", "environment", "app", "record": {...}, "keep": N} instead appends one release
# record to the app's entry of that Dict (created when missing), keeping the newest N, and prints
# {"ok": true} or the failure below.
# or {"ok": false, "kind": "not_logged_in" | "unknown_environment" | "app_not_found" | "modal" |
#     "internal", "message": "...", "environment": "...", "app": "...", "status": gRPC status name or null}.
# "internal" means this helper no longer fits the installed SDK: modalplan then reads through the CLI.
import asyncio
import json
import sys
import traceback
import warnings
from datetime import datetime

# Deprecation notices of the SDK would only add noise to stderr, which modalplan shows on failure.
warnings.filterwarnings("ignore")

CONCURRENCY = 16


def fail(kind, message, environment=None, app=None, status=None):
    print(json.dumps({"ok": False, "kind": kind, "message": message, "environment": environment, "app": app, "status": status}))
    sys.exit(0)


try:
    from grpclib import GRPCError, Status
    from grpclib.exceptions import StreamTerminatedError

    import modal.exception as modal_exception
    from modal._utils.async_utils import synchronizer
    from modal.client import _Client
    from modal_proto import api_pb2
except Exception as error:  # noqa: BLE001 - any import failure means "read through the CLI"
    fail("internal", f"importing the Modal SDK failed: {error!r}")


def _state_words():
    # The CLI's own words for app states, so both read paths report the same state.
    try:
        from modal.cli.app import APP_STATE_TO_MESSAGE

        return {state: text.plain for state, text in APP_STATE_TO_MESSAGE.items()}
    except Exception:  # noqa: BLE001
        return {api_pb2.APP_STATE_DEPLOYED: "deployed", api_pb2.APP_STATE_STOPPED: "stopped"}


def _timestamp_formatter():
    # The CLI's own timestamp format for --json output.
    try:
        from modal._utils.time_utils import timestamp_to_localized_str

        return lambda ts: timestamp_to_localized_str(ts, True)
    except Exception:  # noqa: BLE001
        pass
    try:
        from modal.cli.utils import timestamp_to_local

        return lambda ts: timestamp_to_local(ts, True)
    except Exception:  # noqa: BLE001
        pass

    def own(ts):
        if ts <= 0:
            return None
        local = datetime.now().astimezone().tzinfo
        return datetime.fromtimestamp(ts, tz=local).isoformat(sep=" ", timespec="seconds")

    return own


STATE_WORDS = _state_words()
FORMAT_TIME = _timestamp_formatter()


class ModalFailure(Exception):
    def __init__(self, kind, message, environment=None, app=None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.environment = environment
        self.app = app
        self.status = None


def classify(error, environment, app=None):
    """A ModalFailure for an error of the SDK or the server; None for anything else."""
    status = getattr(error, "status", None)
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    if isinstance(error, modal_exception.AuthError) or status in (Status.UNAUTHENTICATED, Status.PERMISSION_DENIED):
        return ModalFailure("not_logged_in", message, environment, app)
    if isinstance(error, modal_exception.NotFoundError) or status == Status.NOT_FOUND:
        kind = "app_not_found" if app else "unknown_environment"
        return ModalFailure(kind, message, environment, app)
    if isinstance(error, (modal_exception.Error, GRPCError, OSError, asyncio.TimeoutError, StreamTerminatedError)):
        failure = ModalFailure("modal", message, environment, app)
        # The status modalplan decides a retry by (the SDK's error classes keep it apart from 1.3 on).
        failure.status = getattr(status or getattr(error, "_grpc_status", None), "name", None)
        return failure
    return None


async def call(limit, environment, app, method, request):
    async with limit:
        try:
            return await method(request)
        except Exception as error:  # noqa: BLE001
            failure = classify(error, environment, app)
            if failure is None:
                raise
            raise failure from error


async def list_apps(stub, limit, environment):
    response = await call(limit, environment, None, stub.AppList, api_pb2.AppListRequest(environment_name=environment))
    return [
        {
            "app_id": item.app_id,
            "description": item.description,
            "state": STATE_WORDS.get(item.state, "unknown"),
        }
        for item in response.apps
    ]


def secret_name(item):
    if "metadata" in item.DESCRIPTOR.fields_by_name and item.HasField("metadata") and item.metadata.name:
        return item.metadata.name
    return item.label


async def list_secrets(stub, limit, environment):
    paginated = "pagination" in api_pb2.SecretListRequest.DESCRIPTOR.fields_by_name
    if not paginated:
        response = await call(
            limit, environment, None, stub.SecretList, api_pb2.SecretListRequest(environment_name=environment)
        )
        return [secret_name(item) for item in response.items]
    # As the 1.x CLI pages: newest first, 100 at a time, by creation time.
    items = []
    created_before = datetime.now().timestamp()
    while True:
        pagination = api_pb2.ListPagination(max_objects=100, created_before=created_before)
        request = api_pb2.SecretListRequest(environment_name=environment, pagination=pagination)
        response = await call(limit, environment, None, stub.SecretList, request)
        items.extend(response.items)
        if len(response.items) < 100:
            break
        last = response.items[-1]
        created_before = last.metadata.creation_info.created_at if last.HasField("metadata") else last.created_at
    return [secret_name(item) for item in items]


async def history(stub, limit, environment, name, app_id):
    request = api_pb2.AppDeploymentHistoryRequest(app_id=app_id)
    response = await call(limit, environment, name, stub.AppDeploymentHistory, request)
    return [
        {
            "version": entry.version,
            "tag": entry.tag or None,
            "deployed_at": FORMAT_TIME(entry.deployed_at) if entry.deployed_at else None,
            "deployed_by": entry.deployed_by or None,
        }
        for entry in response.app_deployment_histories
    ]


ASCII_DIGITS = frozenset("0123456789")


def named_like_ours(name, orphans):
    """OrphanNames::matches of src/backend/orphan_names.rs, line for line; both are checked against
    tests/fixtures/orphan_names.json."""
    if orphans is None or not name.startswith(orphans["owner_prefix"]):
        return False
    rest = name[len(orphans["owner_prefix"]) :]
    head, separator, version = rest.rpartition("-v")
    if not separator or not version or not set(version) <= ASCII_DIGITS:
        return False
    for stem in orphans["stems"]:
        if stem.endswith("-v"):
            if head + "-v" == stem:
                return True
        elif len(head) > len(stem) and head.startswith(stem):
            return True
    return False


async def gather(*awaitables):
    # Every call finishes before the first failure is raised, so none is left running at exit.
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


async def observe_environment(stub, limit, environment, wanted, orphans):
    apps, secrets = await gather(list_apps(stub, limit, environment), list_secrets(stub, limit, environment))
    # `modal app history NAME` reads the deployed app of that name; so does this.
    deployed = {}
    for app in apps:
        name = app["description"]
        if app["state"] == "deployed" and (name in wanted or named_like_ours(name, orphans)):
            deployed.setdefault(name, app["app_id"])
    names = sorted(deployed)
    histories = await gather(*(history(stub, limit, environment, name, deployed[name]) for name in names))
    return {"apps": apps, "secrets": secrets, "histories": dict(zip(names, histories))}


LOCKS_DICT = "modalplan-locks"
LOCK_KEY = "apply"
HEARTBEAT_PREFIX = "apply/heartbeat/"


def lock_of(entries):
    """The lock record of the Dict's entries with its heartbeat, or None when no run holds it."""
    if LOCK_KEY not in entries:
        return None
    record = entries[LOCK_KEY]
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        raise ValueError(f"its `{LOCK_KEY}` entry is not a lock modalplan wrote")
    lock = {key: value for key, value in record.items() if isinstance(key, str) and isinstance(value, str)}
    heartbeat = entries.get(HEARTBEAT_PREFIX + record["id"])
    if isinstance(heartbeat, dict) and isinstance(heartbeat.get("heartbeat_at"), str):
        lock["heartbeat_at"] = heartbeat["heartbeat_at"]
    return lock


async def read_lock(limit, environment):
    """The apply lock of `environment`, never raising: a lock that cannot be read must not fail the plan.

    The Dict is looked up, never created (no Dict: no apply ever locked the environment), and read in one
    stream of its few entries: two calls, the ones `modal dict items` makes."""
    try:
        from modal.dict import _Dict

        store = _Dict.from_name(LOCKS_DICT, environment_name=environment, create_if_missing=False)
        entries = {}
        async with limit:
            async for key, value in store.items():
                entries[key] = value
        return {"held": lock_of(entries)}
    except Exception as error:  # noqa: BLE001
        if isinstance(error, modal_exception.NotFoundError) or getattr(error, "status", None) == Status.NOT_FOUND:
            return {"held": None}
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        return {"error": f"{type(error).__name__}: {message}"}


RELEASES_DICT = "modalplan-releases"


async def read_releases(limit, environment):
    """Every app's release records in `environment`, as the JSON texts modalplan wrote; never raising.

    Looked up, never created; read in one stream, as `modal dict items` reads it."""
    try:
        from modal.dict import _Dict

        store = _Dict.from_name(RELEASES_DICT, environment_name=environment, create_if_missing=False)
        entries = {}
        async with limit:
            async for key, value in store.items():
                if isinstance(key, str) and isinstance(value, str):
                    entries[key] = value
        return {"entries": entries}
    except Exception as error:  # noqa: BLE001
        if isinstance(error, modal_exception.NotFoundError) or getattr(error, "status", None) == Status.NOT_FOUND:
            return {"entries": {}}
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        return {"error": f"{type(error).__name__}: {message}"}


async def record_release(request):
    from modal.dict import _Dict

    environment = request["environment"]
    try:
        store = _Dict.from_name(RELEASES_DICT, environment_name=environment, create_if_missing=True)
        current = await store.get(request["app"])
        records = json.loads(current) if isinstance(current, str) else []
        if not isinstance(records, list):
            records = []
        records.append(request["record"])
        keep = max(1, int(request.get("keep") or 10))
        await store.put(request["app"], json.dumps(records[-keep:]))
    except Exception as error:  # noqa: BLE001
        failure = classify(error, environment)
        if failure is None:
            raise
        raise failure from error


async def observe(request):
    try:
        client = await _Client.from_env()
    except Exception as error:  # noqa: BLE001
        failure = classify(error, None)
        if failure is None:
            raise
        raise failure from error
    stub = getattr(client, "_stub", None) or client.stub
    limit = asyncio.Semaphore(CONCURRENCY)
    environments = request["environments"]
    orphans = request.get("orphans")
    locked = list(environments) if request.get("locks") else []
    recorded = list(environments) if request.get("releases") else []
    results, locks, releases = await gather(
        gather(
            *(
                observe_environment(stub, limit, environment, set(names), orphans)
                for environment, names in environments.items()
            )
        ),
        gather(*(read_lock(limit, environment) for environment in locked)),
        gather(*(read_releases(limit, environment) for environment in recorded)),
    )
    observed = dict(zip(environments, results))
    for environment, lock in zip(locked, locks):
        observed[environment]["lock"] = lock
    for environment, found in zip(recorded, releases):
        observed[environment]["releases"] = found
    return observed


def failure_document(kind, message, environment=None, app=None, status=None):
    return {"ok": False, "kind": kind, "message": message, "environment": environment, "app": app, "status": status}


def answer(request):
    """The reply document to one request (session.py answers many in one process)."""
    if request.get("mode") == "record":
        try:
            synchronizer.create_blocking(record_release)(request)
        except ModalFailure as failure:
            return failure_document(failure.kind, failure.message, failure.environment, failure.app)
        except Exception as error:  # noqa: BLE001
            last = traceback.format_exception_only(type(error), error)[-1].strip()
            return failure_document("internal", f"the release record could not be written with this Modal SDK: {last}")
        return {"ok": True}
    try:
        environments = synchronizer.create_blocking(observe)(request)
    except ModalFailure as failure:
        return failure_document(failure.kind, failure.message, failure.environment, failure.app, failure.status)
    except Exception as error:  # noqa: BLE001 - the SDK moved: say so, modalplan falls back to the CLI
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        return failure_document("internal", f"the observe helper does not fit this Modal SDK: {last}")
    return {"ok": True, "environments": environments}


def main():
    print(json.dumps(answer(json.loads(sys.stdin.read()))))


# Run by `python -c`; a test imports it to check named_like_ours against the shared table. session.py
# runs this file's text as its first part (MODALPLAN_SESSION set), without its main.
if __name__ == "__main__" and not globals().get("MODALPLAN_SESSION"):
    main()
