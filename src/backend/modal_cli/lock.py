"""modalplan's apply lock helper: the lock lives on Modal, in a named Dict per environment.

Run on the interpreter of the `modal` CLI (it has the Modal SDK). Reads one JSON request line on standard
input and answers JSON lines on standard output.

  {"mode": "hold", "environments": [...], "holder": {"who", "operation", "manifest"}, "wait_s": N,
   "heartbeat_s": N}
      Takes the lock of every environment, in sorted order, all or none: `Dict.put(KEY, record,
      skip_if_exists=True)` is Modal's atomic put-if-absent; when one is held, what was taken is given
      back. While the lock is held by another run it retries with backoff for `wait_s` seconds, saying
      {"status": "waiting", "environment", "lock"} once (and gives up when standard input ends). Then it answers {"status": "acquired", "lock_id"}
      or {"status": "held", "environment", "lock"} (and exits). Once acquired it holds: it refreshes the
      heartbeat every `heartbeat_s` seconds, and when standard input ends (modalplan is done, or died and
      its end of the pipe closed) or reads `release`, it removes its own locks (checking the id first) and
      answers {"status": "released", "lost": [environments whose lock was no longer its own]}.
  {"mode": "show", "environment"}                -> {"status": "ok", "lock": LOCK or null}
  {"mode": "force_unlock", "environment", "lock_id"}
      -> {"status": "removed" | "mismatch", "lock": LOCK} or {"status": "absent"}

LOCK is the record with "heartbeat_at" added. Failures: {"status": "error", "kind": "not_logged_in" |
"unknown_environment" | "not_found" | "modal" | "internal", "message", "environment"}. Nothing secret is read or written.
"""

import json
import os
import secrets
import select
import signal
import sys
import threading
import time
import warnings
from datetime import datetime, timezone

warnings.filterwarnings("ignore")

DICT_NAME = "modalplan-locks"
KEY = "apply"
HEARTBEAT_PREFIX = "apply/heartbeat/"
MAX_BACKOFF_S = 15.0


def emit(document):
    # modalplan may be gone (killed): a closed pipe must not stop the release.
    try:
        sys.stdout.write(json.dumps(document) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass


def finish(code=0):
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass
    os._exit(code)


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


try:
    import modal
    import modal.exception as modal_exception
    from grpclib import GRPCError, Status
except Exception as error:  # noqa: BLE001 - no usable SDK on this interpreter
    emit({"status": "error", "kind": "internal", "message": f"importing the Modal SDK failed: {error!r}"})
    finish()


class Failure(Exception):
    def __init__(self, kind, message, environment=None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.environment = environment


def classify(error, environment):
    status = getattr(error, "status", None)
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    if isinstance(error, modal_exception.AuthError) or status in (Status.UNAUTHENTICATED, Status.PERMISSION_DENIED):
        return Failure("not_logged_in", message, environment)
    if "Environment '" in message and "not found" in message:
        return Failure("unknown_environment", message, environment)
    if isinstance(error, modal_exception.NotFoundError) or status == Status.NOT_FOUND:
        return Failure("not_found", message, environment)
    if isinstance(error, (modal_exception.Error, GRPCError, OSError, TimeoutError)):
        return Failure("modal", message, environment)
    return Failure("internal", f"{type(error).__name__}: {message}", environment)


# One Modal call at a time: the heartbeat thread and the main thread share the client.
CALLS = threading.Lock()


def modal_call(environment, function, *args, **kwargs):
    with CALLS:
        try:
            return function(*args, **kwargs)
        except KeyError:
            raise
        except Exception as error:  # noqa: BLE001
            raise classify(error, environment) from error


def locks_dict(environment, create):
    return modal.Dict.from_name(DICT_NAME, environment_name=environment, create_if_missing=create)


def describe(store, environment):
    """The lock held in `store` with its last heartbeat, or None."""
    record = modal_call(environment, store.get, KEY)
    if not isinstance(record, dict):
        return None
    heartbeat = modal_call(environment, store.get, HEARTBEAT_PREFIX + str(record.get("id", "")))
    lock = dict(record)
    if isinstance(heartbeat, dict) and heartbeat.get("heartbeat_at"):
        lock["heartbeat_at"] = heartbeat["heartbeat_at"]
    return lock


def remove_own(store, environment, lock_id):
    """Removes the lock of `store` if it is `lock_id`'s; True when it was."""
    current = modal_call(environment, store.get, KEY)
    own = isinstance(current, dict) and current.get("id") == lock_id
    if own:
        # Another run can only take the key once it is popped; nothing else writes it meanwhile.
        try:
            modal_call(environment, store.pop, KEY)
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
            except Failure:
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
            if modal_call(environment, store.put, KEY, record, skip_if_exists=True):
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
            emit({"status": "held", "environment": environment, "lock": lock})
            return False
        if not said_waiting:
            said_waiting = True
            emit({"status": "waiting", "environment": environment, "lock": lock})
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
                    current = modal_call(environment, stores[environment].get, KEY)
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
        emit({"status": "acquired", "lock_id": lock_id})
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
                except Failure as failure:
                    if attempt == 4:
                        emit({"status": "error", "kind": failure.kind, "message": failure.message,
                              "environment": environment})
                        finish(1)
                    time.sleep(1 + attempt)
    emit({"status": "released", "lost": sorted(lost)})


def current_lock(environment):
    """The environment's Dict (None when it does not exist) and the lock it holds (None when free)."""
    try:
        store = locks_dict(environment, False)
        return store, describe(store, environment)
    except Failure as failure:
        if failure.kind != "not_found":
            raise
        return None, None  # no Dict yet: no apply ever locked this environment


def show(request):
    _, lock = current_lock(request["environment"])
    emit({"status": "ok", "lock": lock})


def force_unlock(request):
    environment = request["environment"]
    lock_id = request["lock_id"]
    store, lock = current_lock(environment)
    if lock is None:
        emit({"status": "absent"})
    elif lock.get("id") != lock_id:
        emit({"status": "mismatch", "lock": lock})
    else:
        remove_own(store, environment, lock_id)
        emit({"status": "removed", "lock": lock})


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    request = json.loads(sys.stdin.readline())
    mode = request.get("mode")
    try:
        if mode == "hold":
            hold(request)
        elif mode == "show":
            show(request)
        elif mode == "force_unlock":
            force_unlock(request)
        else:
            emit({"status": "error", "kind": "internal", "message": f"unknown mode {mode!r}"})
    except Failure as failure:
        emit({"status": "error", "kind": failure.kind, "message": failure.message, "environment": failure.environment})
    except Stop:
        pass
    finish()


main()
