"""A request cut off by the node stopping is answered 503 (try again), never 500."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from regions.api.server import _AnswerWhenCutOff


async def test_a_request_cancelled_before_it_answered_gets_503() -> None:
    started = asyncio.Event()

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        started.set()
        await asyncio.Event().wait()  # an update waiting for a worker that is stopping

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    app = _AnswerWhenCutOff(slow_app)
    request = asyncio.create_task(app({"type": "http"}, receive, send))
    await started.wait()
    request.cancel()
    await asyncio.gather(request, return_exceptions=True)
    assert request.cancelled()
    assert sent[0]["status"] == 503
    assert (b"retry-after", b"2") in sent[0]["headers"]


async def test_an_answer_already_started_is_left_alone() -> None:
    started = asyncio.Event()

    async def streaming_app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        started.set()
        await asyncio.Event().wait()

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    request = asyncio.create_task(_AnswerWhenCutOff(streaming_app)({"type": "http"}, receive, send))
    await started.wait()
    request.cancel()
    await asyncio.gather(request, return_exceptions=True)
    assert [m.get("status") for m in sent] == [200]
