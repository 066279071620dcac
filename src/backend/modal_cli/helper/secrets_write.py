# The secrets_write operation: makes named Modal secrets hold exactly the keys and values it is sent.
#
# The values come on standard input only, never on a command line. Request: {"environment": E, "secrets":
# [{"name": N, "values": {KEY: VALUE}}]}. Each secret is written with the call `modal secret create NAME ...
# --force` makes (SecretGetOrCreate, overwrite if it exists), so afterwards it holds exactly these keys.
# Replies: one per secret, in order, {"name": N, "ok": true} or a failure with "name"; a failure before any
# write is one failure without "name". No reply holds a value.
# ruff: noqa: F821 - names from sdk.py, which runs before this file in the same program


def write_failure(error):
    document = failure(error)
    if document is None:
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        document = internal(f"{type(error).__name__}: {message}")
    return document


async def write_secrets(identifier, request):
    try:
        client = await _Client.from_env()
    except Exception as error:  # noqa: BLE001
        reply(identifier, write_failure(error))
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
            reply(identifier, {**write_failure(error), "name": secret["name"]})
            continue
        reply(identifier, {"name": secret["name"], "ok": True})


def secrets_write_main(identifier, request):
    try:
        synchronizer.create_blocking(write_secrets)(identifier, request)
    except Exception as error:  # noqa: BLE001 - the SDK moved
        reply(identifier, internal(f"the secrets writer does not fit this Modal SDK: {type(error).__name__}"))
