# The observe operation: the reads of a plan, in one process instead of one `modal` CLI process per call.
#
# It makes the calls the CLI's `app list`, `secret list`, `app history` and `dict items` commands make.
# Request: {"environments": {"<env>": ["<app name whose history is needed>", ...]}, "locks": bool,
#           "releases": bool,
#           "orphans": null | {"owner_prefix": "<user>-<branch>-" or "", "stems": ["llm-", "llm-litellm-v", ...]}}
# ("orphans": the history of every deployed app named like that is read too; see named_like_ours).
# Reply: {"ok": true, "environments": {"<env>": {"apps": [{"app_id", "description", "state"}],
#                                                "secrets": ["<name>"],
#                                                "histories": {"<app>": [{"version", "tag", "deployed_at",
#                                                                         "deployed_by"}]},
#                                                "lock": {"entries": {KEY: VALUE}} or {"error": "..."},
#                                                "releases": {"entries": {"<app>": "<JSON text>"}} or
#                                                            {"error": "..."}}}}
# ("lock" only with "locks": the apply lock's Dict entries, which modalplan reads into the lock record;
#  "releases" only with "releases": the modalplan-releases Dict of src/backend/releases.rs), or a failure.
# A request {"mode": "record", "environment", "app", "record": {...}, "keep": N} instead appends one release
# record to the app's entry of that Dict (created when missing), keeping the newest N: {"ok": true}.
# ruff: noqa: F821 - names from sdk.py and helper.rs, which run before this file in the same program
from datetime import datetime

# Calls in flight at once over the client's one HTTP/2 connection. A plan of N apps makes about N history
# calls that wait on nothing but the round trip, so the read takes ceil(N / CONCURRENCY) round trips: 64
# keeps 300 apps at about 5 (16 made it about 20), well under the streams one connection carries.
CONCURRENCY = 64


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


async def call(limit, environment, app, method, request):
    async with limit:
        try:
            return await method(request)
        except Exception as error:  # noqa: BLE001
            raise_failure(error, environment, app)


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


async def read_dict(limit, environment, name):
    """The entries of the Dict `name` in `environment`, never raising: what cannot be read must not fail
    the plan. The Dict is looked up, never created (no Dict: modalplan never wrote one there), and read in
    one stream of its entries: two calls, the ones `modal dict items` makes."""
    try:
        from modal.dict import _Dict

        store = _Dict.from_name(name, environment_name=environment, create_if_missing=False)
        entries = {}
        async with limit:
            async for key, value in store.items():
                if isinstance(key, str):
                    entries[key] = value
        return {"entries": entries}
    except Exception as error:  # noqa: BLE001
        if isinstance(error, modal_exception.NotFoundError) or getattr(error, "status", None) == Status.NOT_FOUND:
            return {"entries": {}}
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        return {"error": f"{type(error).__name__}: {message}"}


async def read_lock(limit, environment):
    """The apply lock's Dict entries of `environment` (modalplan reads the lock record out of them)."""
    return await read_dict(limit, environment, LOCKS_DICT)


async def read_releases(limit, environment):
    """Every app's release records in `environment`, as the JSON texts modalplan wrote."""
    found = await read_dict(limit, environment, RELEASES_DICT)
    if "entries" in found:
        found["entries"] = {key: value for key, value in found["entries"].items() if isinstance(value, str)}
    return found


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
        raise_failure(error, environment)


async def observe(request):
    try:
        client = await _Client.from_env()
    except Exception as error:  # noqa: BLE001
        raise_failure(error)
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


def observe_answer(request):
    """The reply document to one request."""
    if request.get("mode") == "record":
        try:
            synchronizer.create_blocking(record_release)(request)
        except ModalFailure as failed:
            return failed.document
        except Exception as error:  # noqa: BLE001
            return internal(f"the release record could not be written with this Modal SDK: {last_line(error)}")
        return {"ok": True}
    try:
        environments = synchronizer.create_blocking(observe)(request)
    except ModalFailure as failed:
        return failed.document
    except Exception as error:  # noqa: BLE001 - the SDK moved: say so, modalplan falls back to the CLI
        return internal(f"the observe helper does not fit this Modal SDK: {last_line(error)}")
    return {"ok": True, "environments": environments}
