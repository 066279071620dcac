# The helper's entry: its first request line says which operation this process runs.
# ruff: noqa: F821 - names from the files before this one in the same program


def main():
    line = sys.stdin.readline()
    try:
        message = json.loads(line)
    except ValueError:
        reply(0, internal(f"the helper's first line is no request: {line[:80]!r}"))
        finish()
    identifier, op, request = message.get("id", 0), message.get("op"), message.get("request") or {}
    if op == "session":
        session_main()
    elif op == "lock":
        lock_main(identifier, request)
    elif op == "observe":
        reply(identifier, observe_answer(request))
    elif op == "call":
        reply(identifier, call_answer(request))
    elif op == "secrets_write":
        secrets_write_main(identifier, request)
    else:
        reply(identifier, internal(f"the helper has no operation {op!r}"))
    finish()


# Run as a program (`python -c`); a test imports the assembled program to check named_like_ours.
if __name__ == "__main__":
    main()
