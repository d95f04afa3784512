"""Serving the API inside the node's asyncio loop, stopped with the rest of the node."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from datetime import timedelta

import asyncpg
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from catalog.catalog import Catalog, default_catalog
from console.config import ConsoleConfig
from console.operator_pages import peer_endpoints
from events.credentials import RegionCredentials
from regions.api.app import create_app
from regions.api.ports import api_port
from regions.api.services import ApiServices
from regions.identity import IdentityVerifier
from regions.node_lock import NodeCannotStart
from regions.node_settings import NodeSettings
from regions.tokens import TokenStore

log = logging.getLogger(__name__)


def node_catalog(settings: NodeSettings) -> Catalog:
    return Catalog.load(settings.catalog_dir) if settings.catalog_dir else default_catalog()


def api_services(
    settings: NodeSettings, pool: asyncpg.Pool, client: Client, credentials: RegionCredentials
) -> ApiServices:
    return ApiServices(
        region=settings.region,
        pool=pool,
        client=client,
        credentials=credentials,
        catalog=node_catalog(settings),
        policies=settings.policies,
        tokens=TokenStore(settings.tokens_path),
        effects=settings.effects,
        identity=IdentityVerifier(settings.identity) if settings.identity else None,
        ratings=settings.ratings,
    )


def console_config(settings: NodeSettings) -> ConsoleConfig:
    return ConsoleConfig(
        idle_timeout=timedelta(minutes=settings.console_idle_minutes),
        lifetime=timedelta(hours=settings.console_session_hours),
        peers=peer_endpoints(settings),
    )


def bind_api_socket(settings: NodeSettings) -> socket.socket:
    """The API's listening address, taken when the node starts (before it connects to
    anything), so a port that is taken stops the node at once with a clear message."""
    host, port = settings.api_host, api_port(settings)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise NodeCannotStart(
            f"window API of {settings.region}: cannot listen on {host}:{port}: {exc}"
        ) from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise NodeCannotStart(
            f"window API of {settings.region}: port {port} on {host} is taken"
            f" ({exc.strerror or exc}): stop what holds it, or give the node another port"
            " (TONGBAN_NODE_API_PORT or TONGBAN_NODE_API_PORT_BASE)"
        ) from exc
    sock.set_inheritable(False)
    return sock


async def _serve(server: uvicorn.Server, sock: socket.socket | None) -> None:
    # uvicorn "exits" when it cannot serve; serve_api turns that into the node's stop.
    with contextlib.suppress(SystemExit):
        await server.serve(sockets=[sock] if sock is not None else None)


# How long a stopping node lets requests in flight finish (their workflow updates included:
# the worker stops only after the API, see regions/node.py).
GRACEFUL_S = 10


class _AnswerWhenCutOff:
    """A request cut off by the node stopping (its handler cancelled before it answered) is
    answered 503 with Retry-After, the API's "try again": not uvicorn's 500, which says the
    request itself was at fault."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, tracked)
        except asyncio.CancelledError:
            if scope["type"] == "http" and not started:
                with contextlib.suppress(Exception):
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 503,
                            "headers": [(b"retry-after", b"2"), (b"content-length", b"0")],
                        }
                    )
                    await send({"type": "http.response.body", "body": b""})
            raise


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the node: the node owns SIGTERM/SIGINT, so uvicorn must not take them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_api(
    settings: NodeSettings,
    services: ApiServices,
    stop: asyncio.Event,
    sock: socket.socket | None = None,
) -> None:
    """Run uvicorn until `stop` is set; in-flight requests get uvicorn's graceful shutdown.
    `sock`: the address bind_api_socket took (else uvicorn binds host and port itself). An API
    that cannot serve stops the node (NodeCannotStart): no node runs without its API."""
    port = api_port(settings)
    config = uvicorn.Config(
        _AnswerWhenCutOff(create_app(services, console_config(settings))),
        host=settings.api_host,
        port=port,
        log_level="warning",
        access_log=False,  # an access log line holds paths with case numbers; names never
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_S,
    )
    server = _EmbeddedServer(config)
    log.info("window API of %s on %s:%d", settings.region, settings.api_host, port)
    task = asyncio.create_task(_serve(server, sock), name="api-server")
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([task, stopping], return_when=asyncio.FIRST_COMPLETED)
        if task.done() and not stop.is_set():
            raise NodeCannotStart(
                f"window API of {settings.region} stopped serving on"
                f" {settings.api_host}:{port} (port taken?)"
            )
    finally:
        server.should_exit = True
        stopping.cancel()
        await task
