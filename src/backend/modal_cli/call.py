"""Calls one deployed Modal function and prints its result for modalplan.

Run on the interpreter of the `modal` CLI (it has the Modal SDK). Reads one JSON request on standard input:
{"environment": E, "app": APP, "function": FN, "payload": ..., "timeout_s": N}. Prints one line starting with
MODALPLAN_RESULT and a JSON object: {"ok": true, "result": ...} or {"ok": false, "kind": "not_found" |
"raised" | "timeout" | "error", "type": ..., "message": ..., "status"?: the gRPC status name of a failure of
Modal itself}. It reads no secret and prints none.
"""

import json
import signal
import sys

MARKER = "MODALPLAN_RESULT "


def emit(document):
    sys.stdout.write(MARKER + json.dumps(document, default=str) + "\n")
    sys.stdout.flush()


class CallTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise CallTimeout()


def answer_call(request):
    """The reply document of one call; CallTimeout passes through."""
    import modal
    import modal.exception

    try:
        function = modal.Function.from_name(
            request["app"], request["function"], environment_name=request["environment"]
        )
        result = function.remote(request["payload"])
    except CallTimeout:
        raise
    except modal.exception.NotFoundError as error:
        return {"ok": False, "kind": "not_found", "type": type(error).__name__, "message": str(error)}
    except Exception as error:
        kind = "error" if isinstance(error, modal.exception.Error) and not isinstance(
            error, getattr(modal.exception, "RemoteError", ())
        ) else "raised"
        # A failure of Modal itself carries its gRPC status (a GRPCError up to 1.2, the SDK's error
        # classes from 1.3 on); the function's own exceptions carry none.
        status = getattr(getattr(error, "status", None) or getattr(error, "_grpc_status", None), "name", None)
        document = {"ok": False, "kind": "error" if status else kind, "type": type(error).__name__, "message": str(error)}
        if status:
            document["status"] = status
        return document
    return {"ok": True, "result": result}


def timed_out(timeout):
    return {"ok": False, "kind": "timeout", "type": "Timeout", "message": f"no answer within {timeout}s"}


def main():
    request = json.loads(sys.stdin.read())
    try:
        import modal  # noqa: F401
        import modal.exception  # noqa: F401
    except Exception as error:  # the interpreter has no Modal SDK
        emit({"ok": False, "kind": "error", "type": type(error).__name__, "message": str(error)})
        return
    timeout = int(request.get("timeout_s") or 0)
    if timeout > 0:
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(timeout)
    try:
        document = answer_call(request)
    except CallTimeout:
        document = timed_out(timeout)
    finally:
        signal.alarm(0)
    emit(document)


# session.py runs this file's text after observe.py's (MODALPLAN_SESSION set), without its main.
if __name__ == "__main__" and not globals().get("MODALPLAN_SESSION"):
    main()
