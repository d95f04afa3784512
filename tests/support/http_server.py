"""An ASGI app served for real on 127.0.0.1 inside the running event loop (tests only)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn


class _QuietServer(uvicorn.Server):
    """Inside the test process the signals stay pytest's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LocalServer:
    """Serves `app` on a port bound before serving (0: a free one), so `url` is known and
    no other process can take the port in between."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self, *, quiet_signals: bool = True) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = (_QuietServer if quiet_signals else uvicorn.Server)(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._serving.done():
                self._serving.result()
                raise RuntimeError("the server stopped while starting")
            await asyncio.sleep(0.01)
        self.url = f"http://{self._host}:{sock.getsockname()[1]}"

    async def serve_until_stopped(self) -> None:
        if self._serving is not None:
            await self._serving

    async def stop(self) -> None:
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """`async with serving(app) as url:` the app answers on `url` inside the block."""
    server = LocalServer(app)
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()
