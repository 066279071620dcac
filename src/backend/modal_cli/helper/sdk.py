# modalplan's helper: one Python program, run on the `modal` CLI's own interpreter (which has the Modal
# SDK), for what one `modal` process per call would make slow or unsafe. src/backend/modal_cli/helper.rs
# assembles it: a first line naming what it is run for, the names modalplan defines (the Dicts, the lock's
# keys), then this file, observe.py, call.py, lock.py, secrets_write.py, session.py and main.py.
#
# The protocol, the same for every operation:
#   request, one JSON line on stdin:  {"id": N, "op": "observe" | "call" | "lock" | "secrets_write" |
#                                              "session", "request": {...}}
#   reply, one JSON line on stdout:   {"id": N, "reply": DOCUMENT}   (some operations answer several)
#   a failure DOCUMENT:               {"ok": false, "kind": "not_logged_in" | "unknown_environment" |
#                                       "not_found" | "modal" | "raised" | "timeout" | "internal",
#                                       "type", "message", "status", "environment", "app"}
# "status" is the gRPC status name of a failure of Modal itself, else null; "internal" means the helper
# does not fit the installed SDK (modalplan then reads through the CLI). Stdout carries only reply lines:
# anything else printed (the SDK's own output) goes to stderr. No secret value is ever put in a reply.
import asyncio
import json
import os
import sys  # noqa: F401 - used by the files after this one
import threading
import traceback
import warnings

# Deprecation notices of the SDK would only add noise to stderr, which modalplan shows on failure.
warnings.filterwarnings("ignore")

REPLIES = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
WRITING = threading.Lock()


def reply(identifier, document):
    """Writes one reply line; a closed pipe (modalplan gone) must not stop what the helper still does."""
    line = json.dumps({"id": identifier, "reply": document}, default=str)
    with WRITING:
        try:
            REPLIES.write(line + "\n")
            REPLIES.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass


def finish(code=0):
    with WRITING:
        try:
            REPLIES.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass
    os._exit(code)


def failure_document(kind, message, environment=None, app=None, status=None, type_name=None):
    return {
        "ok": False,
        "kind": kind,
        "type": type_name,
        "message": message,
        "status": status,
        "environment": environment,
        "app": app,
    }


def internal(message, environment=None, app=None):
    return failure_document("internal", message, environment, app)


def last_line(error):
    return traceback.format_exception_only(type(error), error)[-1].strip()


# What the operations use, imported once (F401: used by the files after this one).
try:
    import modal  # noqa: F401
    import modal.exception as modal_exception
    from grpclib import GRPCError, Status
    from grpclib.exceptions import StreamTerminatedError
    from modal._utils.async_utils import synchronizer  # noqa: F401
    from modal.client import _Client  # noqa: F401
    from modal_proto import api_pb2  # noqa: F401
except Exception as error:  # noqa: BLE001 - any import failure means "read through the CLI"
    reply(0, internal(f"importing the Modal SDK failed: {error!r}"))
    finish()


class ModalFailure(Exception):
    """A failure of Modal (or of reaching it), carrying its failure document."""

    def __init__(self, document):
        super().__init__(document["message"])
        self.document = document


def failure(error, environment=None, app=None):
    """The failure document of an error of the SDK or the server; None for anything else (a bug, or an SDK
    this helper does not fit). The one classifier of every operation: modalplan reads the kind."""
    status = getattr(error, "status", None)
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    if isinstance(error, modal_exception.AuthError) or status in (Status.UNAUTHENTICATED, Status.PERMISSION_DENIED):
        kind = "not_logged_in"
    elif "Environment '" in message and "not found" in message:
        kind = "unknown_environment"
    elif isinstance(error, modal_exception.NotFoundError) or status == Status.NOT_FOUND:
        kind = "not_found"
    elif isinstance(error, (modal_exception.Error, GRPCError, OSError, asyncio.TimeoutError, StreamTerminatedError)):
        kind = "modal"
    else:
        return None
    # The status modalplan decides a retry by (the SDK's error classes keep it apart from 1.3 on).
    status_name = getattr(status or getattr(error, "_grpc_status", None), "name", None)
    return failure_document(kind, message, environment, app, status_name if kind == "modal" else None, type(error).__name__)


def raise_failure(error, environment=None, app=None):
    """Raises the ModalFailure of `error`, or `error` itself when it is no failure of Modal."""
    document = failure(error, environment, app)
    if document is None:
        raise error
    raise ModalFailure(document) from error
