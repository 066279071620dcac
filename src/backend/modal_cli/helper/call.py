# The call operation: calls one deployed Modal function (a smoke check, `invoke`) and answers its result.
#
# Request: {"environment": E, "app": APP, "function": FN, "payload": ..., "timeout_s": N}.
# Reply: {"ok": true, "result": ...}, or a failure: "raised" when the function itself raised (its exception's
# type and message), "timeout" when no answer came within timeout_s, else the kind of sdk.py's classifier
# ("not_found" for an app or function that is not there). It reads no secret and answers none.
# ruff: noqa: F821 - names from sdk.py, which runs before this file in the same program
import concurrent.futures

CALL_THREADS = concurrent.futures.ThreadPoolExecutor(max_workers=32)


def of_modal(error):
    """Whether `error` is a failure of Modal itself rather than the function's own exception: Modal's
    carry a gRPC status (a GRPCError up to 1.2, the SDK's error classes from 1.3 on), or are the SDK's own
    errors other than a remote one."""
    if getattr(getattr(error, "status", None) or getattr(error, "_grpc_status", None), "name", None):
        return True
    return isinstance(error, modal_exception.Error) and not isinstance(
        error, getattr(modal_exception, "RemoteError", ())
    )


def call_once(request):
    environment, app = request["environment"], request["app"]
    try:
        function = modal.Function.from_name(app, request["function"], environment_name=environment)
        result = function.remote(request["payload"])
    except Exception as error:  # noqa: BLE001
        document = failure(error, environment, app) if of_modal(error) else None
        if document is None:
            message = getattr(error, "message", None) or str(error)
            document = failure_document("raised", message, environment, app, None, type(error).__name__)
        return document
    return {"ok": True, "result": result}


def call_answer(request):
    """The reply document of one call; the call runs on its own thread so that its timeout can answer
    while the call still hangs (the process then ends without waiting for it)."""
    timeout = int(request.get("timeout_s") or 0)
    running = CALL_THREADS.submit(call_once, request)
    try:
        return running.result(timeout=timeout if timeout > 0 else None)
    except concurrent.futures.TimeoutError:
        return failure_document(
            "timeout", f"no answer within {timeout}s", request["environment"], request["app"], None, "Timeout"
        )
