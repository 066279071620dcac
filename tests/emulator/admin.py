"""Administer an emulator's state file, while the server runs or not.

    python tests/emulator/admin.py --state STATE.json seed SEED.json
    python tests/emulator/admin.py --state STATE.json dump [--with-secret-values]
    python tests/emulator/admin.py --state STATE.json calls
    python tests/emulator/admin.py --state STATE.json fault add --rpc AppList --status UNAVAILABLE --message "down" [--times 1] [--env main]
    python tests/emulator/admin.py --state STATE.json fault add --rpc AppDeploymentHistory --latency-ms 1500
    python tests/emulator/admin.py --state STATE.json fault add --image ghcr.io/acme/x@sha256:... [--message "..."]
    python tests/emulator/admin.py --state STATE.json fault add --json '{"rpc": "AppList", "status": "INTERNAL"}'
    python tests/emulator/admin.py --state STATE.json fault list | clear

The fault format is documented in docs/emulator.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from state import StateStore


def _redacted(state: dict) -> dict:
    copy = json.loads(json.dumps(state))
    for secrets in copy.get("secrets", {}).values():
        for secret in secrets.values():
            secret["values"] = {key: "<redacted>" for key in secret.get("values", {})}
    for secret in copy.get("anonymous_secrets", {}).values():
        secret["values"] = {key: "<redacted>" for key in secret.get("values", {})}
    return copy


def main() -> int:
    parser = argparse.ArgumentParser(description="Administer a modal emulator state file.")
    parser.add_argument("--state", required=True)
    commands = parser.add_subparsers(dest="command", required=True)

    seed = commands.add_parser("seed", help="replace the state with a seed file")
    seed.add_argument("seed_file")

    dump = commands.add_parser("dump", help="print the state (secret values redacted unless asked)")
    dump.add_argument("--with-secret-values", action="store_true")

    commands.add_parser("calls", help="print the call log, one JSON object a line")

    fault = commands.add_parser("fault", help="manage injected faults")
    fault_commands = fault.add_subparsers(dest="fault_command", required=True)
    add = fault_commands.add_parser("add")
    add.add_argument("--rpc", help="RPC name, or * for every RPC")
    add.add_argument("--status", help="grpc status name (UNAVAILABLE, NOT_FOUND, ...) the RPC fails with")
    add.add_argument("--message")
    add.add_argument("--latency-ms", type=float)
    add.add_argument("--times", type=int, help="fail only the first N matching calls (after --after)")
    add.add_argument("--after", type=int, help="let the first N matching calls through")
    add.add_argument("--jitter-ms", type=float, help="up to this much more latency, at random")
    add.add_argument("--drop", choices=["request", "answer"], help="reset the call's stream instead of answering")
    add.add_argument("--applied", action="store_true", help="handle the call, then fail it with --status")
    add.add_argument("--env", help="only calls acting in this environment")
    add.add_argument("--image", help="registry ref (or digest) whose pull fails")
    add.add_argument("--json", dest="raw", help="the fault object itself")
    fault_commands.add_parser("list")
    fault_commands.add_parser("clear")

    args = parser.parse_args()
    store = StateStore(args.state)

    if args.command == "seed":
        with open(args.seed_file) as f:
            store.initialize(json.load(f))
    elif args.command == "dump":
        state = store.read()
        print(json.dumps(state if args.with_secret_values else _redacted(state), indent=2, sort_keys=True))
    elif args.command == "calls":
        if os.path.exists(store.calls_path):
            with open(store.calls_path) as f:
                sys.stdout.write(f.read())
    elif args.fault_command == "add":
        if args.raw:
            entry = json.loads(args.raw)
        else:
            entry = {}
            for key in ("rpc", "status", "message", "times", "after", "env", "image", "drop"):
                if getattr(args, key) is not None:
                    entry[key] = getattr(args, key)
            if args.latency_ms is not None:
                entry["latency_ms"] = args.latency_ms
            if args.jitter_ms is not None:
                entry["jitter_ms"] = args.jitter_ms
            if args.applied:
                entry["applied"] = True
        if not entry.get("rpc") and not entry.get("image"):
            parser.error("a fault needs --rpc or --image")
        with store.transaction() as state:
            state.setdefault("faults", []).append(entry)
    elif args.fault_command == "list":
        print(json.dumps(store.read().get("faults", []), indent=2))
    elif args.fault_command == "clear":
        with store.transaction() as state:
            state["faults"] = []
    return 0


if __name__ == "__main__":
    sys.exit(main())
