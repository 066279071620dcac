"""The emulator's stand-in for presigned blob-store URLs: PUT and GET /blobs/<blob_id> on 127.0.0.1."""

from __future__ import annotations

import hashlib

from aiohttp import web
from state import StateStore


class BlobServer:
    def __init__(self, store: StateStore):
        self.store = store
        self.runner: web.AppRunner | None = None

    async def _put(self, request: web.Request) -> web.Response:
        blob_id = request.match_info["blob_id"]
        data = await request.read()
        self.store.put_blob(blob_id, data)
        return web.Response(status=200, headers={"ETag": '"' + hashlib.md5(data).hexdigest() + '"'})

    async def _get(self, request: web.Request) -> web.Response:
        blob_id = request.match_info["blob_id"]
        try:
            data = self.store.get_blob(blob_id)
        except FileNotFoundError:
            return web.Response(status=404, text=f"no blob {blob_id}")
        return web.Response(status=200, body=data, content_type="application/octet-stream")

    async def start(self) -> int:
        app = web.Application(client_max_size=1024 * 1024 * 1024)
        app.router.add_put("/blobs/{blob_id}", self._put)
        app.router.add_get("/blobs/{blob_id}", self._get)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
