# The session operation: one process that answers many requests, so that an apply starts one Python
# process for its reads, smoke calls and release records instead of three or four per app.
#
# After its own request line ({"id": 0, "op": "session"}), it reads request lines of the "observe" and
# "call" operations until stdin closes, answering each as it finishes (in any order; "id" pairs them).
# ruff: noqa: F821 - names from sdk.py, observe.py and call.py, which run before this file in the same program
import concurrent.futures

SESSION_WORKERS = 32


def session_answer(op, request):
    if op == "observe":
        return observe_answer(request)
    if op == "call":
        return call_answer(request)
    return internal(f"the session helper has no operation {op!r}")


def session_handle(identifier, op, request):
    try:
        document = session_answer(op, request)
    except BaseException as error:  # noqa: BLE001 - a SystemExit too: every request gets its reply
        document = internal(f"the session helper failed: {last_line(error)}")
    reply(identifier, document)


def session_main():
    workers = concurrent.futures.ThreadPoolExecutor(max_workers=SESSION_WORKERS)
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        message = json.loads(line)
        workers.submit(session_handle, message["id"], message.get("op"), message.get("request") or {})
    # stdin closed: modalplan is done (or gone). Calls still running are abandoned, not waited for.
    finish()
