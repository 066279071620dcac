# modalplan's session helper: one process that answers many requests, so that an apply starts one Python
# process for its reads, smoke calls and release records instead of three or four per app.
#
# Run by `python -c` on the CLI's interpreter with a comment line naming it, the text
# "MODALPLAN_SESSION = True", observe.py, call.py and this file, in that order
# (src/backend/modal_cli/session.rs). Reads one JSON request per line on stdin:
# {"id": N, "op": "observe" | "call", "request": {...}} ("observe" takes observe.py's request, record mode
# included; "call" takes call.py's). Writes one line per request, in the order they finish:
# {"id": N, "reply": DOCUMENT}, DOCUMENT being what the one-shot helper would print (for a call, its object
# without the MODALPLAN_RESULT marker). Stdout carries only these lines: anything else the SDK prints goes
# to stderr. Ends when stdin closes. If the SDK cannot be imported, observe.py's one line (no "id") is
# printed and the process exits: modalplan then runs the one-shot helpers.
# ruff: noqa: F821 - json, sys, traceback, answer, failure_document, answer_call and timed_out are defined
# by observe.py and call.py, which run before this file in the same namespace.
import concurrent.futures
import os
import threading

WORKERS = 32

REPLIES = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
WRITING = threading.Lock()
CALLS = concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS)


def reply(identifier, document):
    line = json.dumps({"id": identifier, "reply": document}, default=str)
    with WRITING:
        REPLIES.write(line + "\n")
        REPLIES.flush()


def session_call(request):
    # The call runs on its own thread so that its timeout can answer while the call still hangs.
    timeout = int(request.get("timeout_s") or 0)
    running = CALLS.submit(answer_call, request)
    try:
        return running.result(timeout=timeout if timeout > 0 else None)
    except concurrent.futures.TimeoutError:
        return timed_out(timeout)


def handle(identifier, op, request):
    try:
        if op == "observe":
            document = answer(request)
        elif op == "call":
            document = session_call(request)
        else:
            document = failure_document("internal", f"the session helper has no operation {op!r}")
    except BaseException as error:  # noqa: BLE001 - a SystemExit too: every request gets its reply
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        document = failure_document("internal", f"the session helper failed: {last}")
    reply(identifier, document)


def session_main():
    workers = concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS)
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        message = json.loads(line)
        workers.submit(handle, message["id"], message.get("op"), message.get("request") or {})
    # stdin closed: modalplan is done (or gone). Calls still running are abandoned, not waited for.
    REPLIES.flush()
    os._exit(0)


session_main()
