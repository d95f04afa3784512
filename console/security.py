"""Headers on every console response, and the last net under its pages.

Pages load only the console's own files (no inline script or style: the CSP forbids them), are
never framed, send no Referer, and are never stored by the browser or a proxy (they show
personal data). A response that sets one of these headers itself keeps its own: a material's
preview that the office page frames sets `X-Frame-Options: SAMEORIGIN` and a CSP with
`frame-ancestors 'self'` (see `embeddable`). Static files may be cached.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.errors import unexpected_page

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:;"
    " object-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
PAGE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CSP),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("cache-control", "no-store"),
)
EMBEDDABLE_CSP = CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'")


def embeddable(response: Response) -> Response:
    """Let a console page of this node show the response in a frame (a material's preview)."""
    response.headers["content-security-policy"] = EMBEDDABLE_CSP
    response.headers["x-frame-options"] = "SAMEORIGIN"
    return response


class ConsoleHeaders:
    def __init__(self, app: ASGIApp, static_prefix: str = "/static/") -> None:
        self._app = app
        self._static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        static = (
            scope["path"].removeprefix(scope.get("root_path", "")).startswith(self._static_prefix)
        )
        started = False

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in PAGE_HEADERS:
                    if static and name == "cache-control":
                        continue
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._app(scope, receive, with_headers)
        except Exception as exc:
            # What no handler took: the 500 page, not Starlette's plain text or a traceback.
            if started:
                raise
            response = unexpected_page(Request(scope, receive), exc)
            await response(scope, receive, with_headers)
