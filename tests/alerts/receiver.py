"""A local HTTP receiver for apprise json:// and ntfy:// (research/cloud.md §5), on a free port."""

from __future__ import annotations

import asyncio
import json
from types import TracebackType

from aiohttp import web


class Receiver:
    def __init__(self) -> None:
        self.got: asyncio.Queue[tuple[str, dict[str, object]]] = asyncio.Queue()
        self.all: list[tuple[str, dict[str, object]]] = []
        self.fail = False  # answer 503 to simulate the internet being down
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _post(self, request: web.Request) -> web.Response:
        if self.fail:
            return web.Response(status=503)
        body = json.loads(await request.text())
        item = (request.path, body)
        self.all.append(item)
        self.got.put_nowait(item)
        return web.json_response({"ok": True})

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._post)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def take(self, n: int, within: float = 10.0) -> list[tuple[str, dict[str, object]]]:
        out = []
        async with asyncio.timeout(within):
            for _ in range(n):
                out.append(await self.got.get())
        return out
