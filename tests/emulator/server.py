"""A local emulator of Modal's control plane for the real `modal` client.

Usage:
    python tests/emulator/server.py --state STATE.json [--seed SEED.json] [--port 0] --ready-file PATH

Run it with the python of the venv whose `modal` CLI is under test: it serves that venv's
`modal_proto` stubs. It listens on 127.0.0.1 only (gRPC on --port, an HTTP server for blob
uploads and downloads on another free port) and writes the gRPC port to --ready-file once both
listen. Point the client at it with MODAL_SERVER_URL=http://127.0.0.1:PORT.

Every RPC is appended to STATE.json.calls.jsonl; RPCs the emulator does not implement answer
UNIMPLEMENTED with the RPC's name. See docs/emulator.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time

import grpclib.const
import grpclib.server
from grpclib import GRPCError, Status

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from blobs import BlobServer
from handlers import DroppedStream, Handlers, fault_error
from modal_proto import api_grpc
from state import StateStore

log = logging.getLogger("modal-emulator")

_RPC_PREFIX = "/modal.client.ModalClient/"
# Request fields that never go to the call log (they can carry secret values or large payloads).
_UNLOGGED_FIELDS = {"env_dict", "data", "args", "secret_values", "contents", "dockerfile_commands"}


def _request_summary(request) -> dict:
    summary = {}
    if request is None or not hasattr(request, "DESCRIPTOR"):
        return summary
    for field in request.DESCRIPTOR.fields:
        if field.name in _UNLOGGED_FIELDS or field.message_type is not None:
            continue
        if field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED:
            continue
        if field.type == field.TYPE_BYTES:
            continue
        value = getattr(request, field.name)
        if value not in ("", 0, False, 0.0):
            summary[field.name] = value
    return summary


class Dispatcher(api_grpc.ModalClientBase):
    """Routes every RPC of the stub to `Handlers`, with the call log and fault injection around it."""

    def __init__(self, store: StateStore, handlers: Handlers):
        self.store = store
        self.handlers = handlers

    def __mapping__(self):
        # Build the mapping from the base class, replacing each handler by a dispatching closure.
        base = api_grpc.ModalClientBase.__mapping__(self)
        mapping = {}
        for path, handler in base.items():
            name = path[len(_RPC_PREFIX):]
            mapping[path] = grpclib.const.Handler(
                self._make_handler(name, handler.cardinality, handler.reply_type),
                handler.cardinality,
                handler.request_type,
                handler.reply_type,
            )
        return mapping

    def _make_handler(self, name: str, cardinality, reply_type):
        async def handle(stream):
            request = await stream.recv_message()
            client_version = dict(stream.metadata or {}).get("x-modal-client-version", "")
            env = self.handlers.env_of_request(name, request)
            record = {"rpc": name, "env": env, "time": time.time(), "client_version": client_version}
            record.update(_request_summary(request))
            self.store.log_call(record)
            try:
                after = await self.handlers.apply_faults(name, env)
            except DroppedStream:
                await stream.cancel()
                return
            implementation = getattr(self.handlers, name, None)
            if implementation is None:
                log.warning("unimplemented RPC %s", name)
                raise GRPCError(Status.UNIMPLEMENTED, f"{name} is not implemented by the modal emulator")
            context = {
                "client_version": client_version,
                "metadata": dict(stream.metadata or {}),
                "reply_type": reply_type,
            }
            if cardinality == grpclib.const.Cardinality.UNARY_STREAM:
                sent = 0
                async for message in implementation(request, context):
                    if after is not None and after.get("drop") == "answer" and sent >= int(after.get("messages") or 0):
                        log.info("fault: %s stream dropped after %d messages", name, sent)
                        await stream.cancel()
                        return
                    await stream.send_message(message)
                    sent += 1
                if after is not None:
                    log.info("fault: %s streamed %d messages, then failed", name, sent)
                    if after.get("drop") == "answer":
                        await stream.cancel()
                        return
                    raise fault_error(name, after)
            else:
                reply = await implementation(request, context)
                if after is not None:
                    # The call is applied; its answer never reaches the client.
                    log.info("fault: %s applied, its answer lost", name)
                    if after.get("drop") == "answer":
                        await stream.cancel()
                        return
                    raise fault_error(name, after)
                await stream.send_message(reply)

        return handle


# The base class declares every RPC abstract; the dispatcher routes them all through __mapping__.
Dispatcher.__abstractmethods__ = frozenset()


async def serve(args) -> None:
    store = StateStore(args.state)
    seed = None
    if args.seed:
        with open(args.seed) as f:
            seed = json.load(f)
    store.initialize(seed)
    open(store.calls_path, "a").close()

    blob_server = BlobServer(store)
    blob_port = await blob_server.start()
    handlers = Handlers(store, blob_url=f"http://127.0.0.1:{blob_port}", python=sys.executable)
    server = grpclib.server.Server([Dispatcher(store, handlers)])
    await server.start("127.0.0.1", args.port)
    port = server._server.sockets[0].getsockname()[1]
    handlers.server_url = f"http://127.0.0.1:{port}"
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, args.ready_file)
    log.info("listening on 127.0.0.1:%d (blobs on %d)", port, blob_port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await handlers.shutdown()
    server.close()
    await server.wait_closed()
    await blob_server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Local emulator of Modal's control plane.")
    parser.add_argument("--state", required=True, help="state file (created from --seed or empty)")
    parser.add_argument("--seed", help="seed JSON; replaces the state file's content")
    parser.add_argument("--port", type=int, default=0, help="gRPC port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--ready-file", required=True, help="written with the port once listening")
    parser.add_argument("--log-level", default=os.environ.get("MODAL_EMULATOR_LOG", "INFO"))
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
