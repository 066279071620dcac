# The lock operation: modalplan's apply lock, a named Dict per environment on Modal.
#
# Requests (the first line on stdin; a holder then reads stdin further):
#   {"mode": "hold", "environments": [...], "holder": {"who", "operation", "manifest"}, "wait_s": N,
#    "heartbeat_s": N}
#       Takes the lock of every environment, in sorted order, all or none: `Dict.put(LOCK_KEY, record,
#       skip_if_exists=True)` is Modal's atomic put-if-absent; when one is held, what was taken is given
#       back. While the lock is held by another run it retries with backoff for `wait_s` seconds, answering
#       {"event": "waiting", "environment", "lock"} once (and gives up when standard input ends). Then it
#       answers {"event": "acquired", "lock_id"} or {"event": "held", "environment", "lock"} (and ends).
#       Once acquired it holds: it refreshes the heartbeat every `heartbeat_s` seconds, and when standard
#       input ends (modalplan is done, or died and its end of the pipe closed) or reads `release`, it
#       removes its own locks (checking the id first) and answers {"event": "released", "lost":
#       [environments whose lock was no longer its own]}.
#   {"mode": "show", "environment"}                -> {"event": "shown", "lock": LOCK or null}
#   {"mode": "force_unlock", "environment", "lock_id"}
#       -> {"event": "removed" | "mismatch", "lock": LOCK} or {"event": "absent"}
# Every answer has "ok": true, or is a failure. LOCK is the Dict's entries of that lock (its record and its
# heartbeat), which modalplan reads into the lock record (src/backend/modal_cli/lock_read.rs). Nothing
# secret is read or written.
# ruff: noqa: F821 - names from sdk.py and helper.rs, which run before this file in the same program
import secrets
import select
import signal
import time
from datetime import datetime, timezone

MAX_BACKOFF_S = 15.0

# The id of the one lock request a helper process answers.
LOCK_REQUEST = {"id": 0}


def emit(document):
    reply(LOCK_REQUEST["id"], document)


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def lock_failure(error, environment):
    document = failure(error, environment)
    if document is None:
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        document = internal(f"{type(error).__name__}: {message}", environment)
    return ModalFailure(document)


# One Modal call at a time: the heartbeat thread and the main thread share the client.
LOCK_CALLS = threading.Lock()


def modal_call(environment, function, *args, **kwargs):
    with LOCK_CALLS:
        try:
            return function(*args, **kwargs)
        except KeyError:
            raise
        except Exception as error:
            raise lock_failure(error, environment) from error


def locks_dict(environment, create):
    return modal.Dict.from_name(LOCKS_DICT, environment_name=environment, create_if_missing=create)


def describe(store, environment):
    """The Dict entries of the lock held in `store` (its record and its heartbeat), or None."""
    record = modal_call(environment, store.get, LOCK_KEY)
    if not isinstance(record, dict):
        return None
    entries = {LOCK_KEY: record}
    heartbeat_key = HEARTBEAT_PREFIX + str(record.get("id", ""))
    heartbeat = modal_call(environment, store.get, heartbeat_key)
    if heartbeat is not None:
        entries[heartbeat_key] = heartbeat
    return entries


def remove_own(store, environment, lock_id):
    """Removes the lock of `store` if it is `lock_id`'s; True when it was."""
    current = modal_call(environment, store.get, LOCK_KEY)
    own = isinstance(current, dict) and current.get("id") == lock_id
    if own:
        # Another run can only take the key once it is popped; nothing else writes it meanwhile.
        try:
            modal_call(environment, store.pop, LOCK_KEY)
        except KeyError:
            pass
    try:
        modal_call(environment, store.pop, HEARTBEAT_PREFIX + lock_id)
    except KeyError:
        pass
    return own


def input_ends_within(seconds):
    """Waits up to `seconds`; True when standard input ended (or spoke) meanwhile: modalplan is gone."""
    readable, _, _ = select.select([sys.stdin], [], [], seconds)
    return bool(readable)


class Stop(Exception):
    pass


def on_signal(signum, frame):
    raise Stop()


def hold(request):
    environments = sorted(set(request["environments"]))
    holder = request["holder"]
    wait_s = float(request.get("wait_s") or 0)
    heartbeat_s = float(request.get("heartbeat_s") or 30)
    lock_id = "lk-" + secrets.token_hex(6)
    stores = {environment: locks_dict(environment, True) for environment in environments}
    taken = []
    try:
        acquired = take_all(stores, environments, holder, lock_id, wait_s, taken)
    except BaseException:
        # Stopped (or failed) half-way: give back what was taken.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for environment in reversed(taken):
            try:
                remove_own(stores[environment], environment, lock_id)
            except ModalFailure:
                pass
        raise
    if acquired:
        keep(stores, environments, lock_id, heartbeat_s)


def take_all(stores, environments, holder, lock_id, wait_s, taken):
    """Takes every lock (into `taken`) or none; False when another run kept one past `wait_s`."""
    deadline = time.monotonic() + wait_s
    backoff = 1.0
    said_waiting = False
    while True:
        taken.clear()
        blocked = None
        for environment in environments:
            record = {
                "id": lock_id,
                "who": holder.get("who", ""),
                "operation": holder.get("operation", ""),
                "manifest": holder.get("manifest", ""),
                "created_at": now(),
            }
            store = stores[environment]
            if modal_call(environment, store.put, LOCK_KEY, record, skip_if_exists=True):
                taken.append(environment)
                modal_call(environment, store.put, HEARTBEAT_PREFIX + lock_id, {"heartbeat_at": record["created_at"]})
                continue
            blocked = (environment, describe(store, environment))
            break
        if blocked is None:
            return True
        for environment in reversed(taken):
            remove_own(stores[environment], environment, lock_id)
        taken.clear()
        environment, lock = blocked
        if lock is None:  # released between the put and the read: try again at once
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            emit({"ok": True, "event": "held", "environment": environment, "lock": lock})
            return False
        if not said_waiting:
            said_waiting = True
            emit({"ok": True, "event": "waiting", "environment": environment, "lock": lock})
        if input_ends_within(min(backoff, remaining)):
            return False  # modalplan is gone: stop waiting
        backoff = min(backoff * 2, MAX_BACKOFF_S)


def keep(stores, environments, lock_id, heartbeat_s):
    """Holds the locks until standard input ends, refreshing their heartbeat, then removes them."""
    stop = threading.Event()
    lost = set()

    def heartbeat():
        while not stop.wait(heartbeat_s):
            for environment in environments:
                if environment in lost:
                    continue
                try:
                    current = modal_call(environment, stores[environment].get, LOCK_KEY)
                    if not (isinstance(current, dict) and current.get("id") == lock_id):
                        lost.add(environment)
                        continue
                    modal_call(
                        environment, stores[environment].put, HEARTBEAT_PREFIX + lock_id, {"heartbeat_at": now()}
                    )
                except Exception as error:  # noqa: BLE001 - a missed heartbeat only ages the lock
                    print(f"heartbeat of the lock of {environment} failed: {error}", file=sys.stderr)

    beat = threading.Thread(target=heartbeat, daemon=True)
    try:
        beat.start()
        emit({"ok": True, "event": "acquired", "lock_id": lock_id})
        while True:
            line = sys.stdin.readline()
            if not line or line.strip() == "release":
                break
    except Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop.set()
        if beat.is_alive():
            beat.join(timeout=60)
        for environment in reversed(environments):
            for attempt in range(5):
                try:
                    if not remove_own(stores[environment], environment, lock_id):
                        lost.add(environment)
                    break
                except ModalFailure as failed:
                    if attempt == 4:
                        emit(failed.document)
                        finish(1)
                    time.sleep(1 + attempt)
    emit({"ok": True, "event": "released", "lost": sorted(lost)})


def current_lock(environment):
    """The environment's Dict (None when it does not exist) and the lock it holds (None when free)."""
    try:
        store = locks_dict(environment, False)
        return store, describe(store, environment)
    except ModalFailure as failed:
        if failed.document["kind"] != "not_found":
            raise
        return None, None  # no Dict yet: no apply ever locked this environment


def show(request):
    _, lock = current_lock(request["environment"])
    emit({"ok": True, "event": "shown", "lock": lock})


def force_unlock(request):
    environment = request["environment"]
    lock_id = request["lock_id"]
    store, lock = current_lock(environment)
    if lock is None:
        emit({"ok": True, "event": "absent"})
    elif lock[LOCK_KEY].get("id") != lock_id:
        emit({"ok": True, "event": "mismatch", "lock": lock})
    else:
        remove_own(store, environment, lock_id)
        emit({"ok": True, "event": "removed", "lock": lock})


def lock_main(identifier, request):
    """Answers one lock request; a holder reads standard input further. Ends the process."""
    LOCK_REQUEST["id"] = identifier
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    mode = request.get("mode")
    try:
        if mode == "hold":
            hold(request)
        elif mode == "show":
            show(request)
        elif mode == "force_unlock":
            force_unlock(request)
        else:
            emit(internal(f"the lock operation has no mode {mode!r}"))
    except ModalFailure as failed:
        emit(failed.document)
    except Stop:
        pass
    finish()
