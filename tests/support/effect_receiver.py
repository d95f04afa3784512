"""A real region system for effect tests: an HTTP receiver of signed webhooks.

It answers like a payment platform, SMS gateway or post account would, and keeps its own
records in a SQLite file, so a test reads what was really done even after the node (or the
receiver) was killed. Every request is verified with `verify_webhook` against the region's
public key it was given; the effect is *done* once per idempotency key, and a repeated key gets
the answer the key has (the first answer, or the settled one once a pending effect is called
back).

Behaviours (`ReceiverConfig`), chosen per case number, else per effect, else the default:
- `fail_first: N` — the first N attempts of each idempotency key get 503;
- `slow_s: S` (with `slow_attempts: N`, or every attempt when None) — the effect is done, then
  the answer waits S seconds (the node times out having had the effect done: the hard case);
- `answer: "refuse"` — 409 (or `refuse_status`) with `refuse_reason`;
- `answer: "pending"` — 202 with a reference, then a signed callback to the request's
  `callback_url` with `callback_outcome` (`done` or `refused` with `callback_reason`), either
  after `callback_after_s` or when the test calls `complete(key)`.

In the test process:

    async with EffectReceiver(tmp_path / "rcv.db", public_key=pub, config=cfg,
                              callback_secret=b"...") as receiver:
        target = WebhookTarget(url=receiver.url + "/payments")
        ...
        assert receiver.done_count(key) == 1

As its own process (it outlives a node killed with -9):

    python -m tests.support.effect_receiver --port=0 --store=F --public-key=B64URL \
        [--config=JSON] [--callback-secret=TEXT]

prints `effect receiver listening on http://127.0.0.1:PORT` once it listens; `spawn_receiver`
does this and gives a `ReceiverProcess` with the same reading methods and `complete`/
`set_config` over its control routes (`/_receiver/...`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import selectors
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from effects.callbacks import sign_callback
from effects.webhook import (
    IDEMPOTENCY_HEADER,
    REGION_HEADER,
    WebhookSignatureInvalid,
    verify_webhook,
)
from events.envelope import b64url, b64url_decode
from tests.support.http_server import LocalServer

_MAX_BODY_BYTES = 256 * 1024
PublicKeys = Ed25519PublicKey | Mapping[str, Ed25519PublicKey]
_CALLBACK_TRIES = 60
_CALLBACK_PAUSE_S = (0.2, 2.0)  # first pause, longest pause between callback tries


class Behaviour(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    fail_first: int = Field(default=0, ge=0)
    slow_s: float = Field(default=0.0, ge=0)
    slow_attempts: int | None = Field(default=None, ge=0)  # None: every attempt is slow
    answer: Literal["done", "pending", "refuse"] = "done"
    refuse_status: int = Field(default=409, ge=400, le=499)
    refuse_reason: str = "收款账户已注销，无法退款"
    callback_outcome: Literal["done", "refused"] = "done"
    callback_reason: str = "对方系统拒绝办理"
    callback_after_s: float | None = Field(default=None, ge=0)  # None: when complete() is called


class ReceiverConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default: Behaviour = Field(default_factory=Behaviour)
    effects: dict[str, Behaviour] = Field(default_factory=dict)  # by effect, e.g. "refund-fee"
    cases: dict[str, Behaviour] = Field(default_factory=dict)  # by case number (wins)

    def behaviour_for(self, case_no: str, effect: str) -> Behaviour:
        return self.cases.get(case_no) or self.effects.get(effect) or self.default


@dataclass(frozen=True)
class Attempt:
    """One request as received (the phone only as present or not, and its SHA-256)."""

    id: int
    at: str
    system: str
    idempotency_key: str
    case_no: str
    effect: str
    key: str
    series: int
    amount_fen: int
    region: str
    verified: bool
    problem: str  # why the signature or body was refused, "" when verified
    status_code: int
    has_phone: bool
    phone_sha256: str
    notice: str
    callback_url: str


@dataclass(frozen=True)
class DoneEffect:
    """The receiver did this effect (once per idempotency key, unless the node reused keys
    wrongly — then this is where it shows)."""

    id: int
    at: str
    system: str
    idempotency_key: str
    case_no: str
    effect: str
    key: str
    series: int
    amount_fen: int
    reference: str


@dataclass(frozen=True)
class KeyAnswer:
    idempotency_key: str
    case_no: str
    effect: str
    outcome: str  # done | pending | refused
    reason: str
    reference: str
    status_code: int
    callback_url: str


@dataclass(frozen=True)
class CallbackSent:
    id: int
    at: str
    idempotency_key: str
    outcome: str
    status_code: int  # 0 when no HTTP answer came
    error: str


_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, system TEXT NOT NULL,
  idempotency_key TEXT NOT NULL, case_no TEXT NOT NULL, effect TEXT NOT NULL, key TEXT NOT NULL,
  series INTEGER NOT NULL, amount_fen INTEGER NOT NULL, region TEXT NOT NULL,
  verified INTEGER NOT NULL, problem TEXT NOT NULL, status_code INTEGER NOT NULL,
  has_phone INTEGER NOT NULL, phone_sha256 TEXT NOT NULL, notice TEXT NOT NULL,
  callback_url TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
  idempotency_key TEXT PRIMARY KEY, case_no TEXT NOT NULL, effect TEXT NOT NULL,
  key TEXT NOT NULL, series INTEGER NOT NULL, amount_fen INTEGER NOT NULL, system TEXT NOT NULL,
  outcome TEXT NOT NULL, reason TEXT NOT NULL, reference TEXT NOT NULL,
  status_code INTEGER NOT NULL, callback_url TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS done (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, system TEXT NOT NULL,
  idempotency_key TEXT NOT NULL, case_no TEXT NOT NULL, effect TEXT NOT NULL, key TEXT NOT NULL,
  series INTEGER NOT NULL, amount_fen INTEGER NOT NULL, reference TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS callbacks (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, idempotency_key TEXT NOT NULL,
  outcome TEXT NOT NULL, status_code INTEGER NOT NULL, error TEXT NOT NULL);
"""


def _now_text() -> str:
    return datetime.now(UTC).isoformat()


class ReceiverStore:
    """The receiver's records in SQLite (WAL): written by the receiver, read by tests from
    any process, kept across restarts of either."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._connection: sqlite3.Connection | None = None
        self._db.executescript(_SCHEMA)

    @property
    def _db(self) -> sqlite3.Connection:
        # Opened again after `close`, so a test reads the records after the receiver stopped.
        if self._connection is None:
            self._connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._connection.row_factory = sqlite3.Row
            self._connection.execute("PRAGMA journal_mode=WAL")
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _rows(self, sql: str, *args: object) -> list[sqlite3.Row]:
        return list(self._db.execute(sql, args))

    # --- what tests read ---

    def records(self) -> list[Attempt]:
        """Every request received, in order."""
        return [_attempt(r) for r in self._rows("SELECT * FROM attempts ORDER BY id")]

    def attempts_for(self, idempotency_key: str) -> list[Attempt]:
        rows = self._rows(
            "SELECT * FROM attempts WHERE idempotency_key = ? ORDER BY id", idempotency_key
        )
        return [_attempt(r) for r in rows]

    def done_count(self, idempotency_key: str) -> int:
        """How many times the effect under this key was done (1 when all went right)."""
        row = self._rows("SELECT count(*) FROM done WHERE idempotency_key = ?", idempotency_key)
        return int(row[0][0])

    def effects_for(self, case_no: str) -> list[DoneEffect]:
        """The effects done for a case, in the order they were done."""
        rows = self._rows("SELECT * FROM done WHERE case_no = ? ORDER BY id", case_no)
        return [DoneEffect(**dict(r)) for r in rows]

    def done(self) -> list[DoneEffect]:
        return [DoneEffect(**dict(r)) for r in self._rows("SELECT * FROM done ORDER BY id")]

    def answer(self, idempotency_key: str) -> KeyAnswer | None:
        rows = self._rows("SELECT * FROM answers WHERE idempotency_key = ?", idempotency_key)
        return _key_answer(rows[0]) if rows else None

    def answers_for(self, case_no: str) -> list[KeyAnswer]:
        rows = self._rows("SELECT * FROM answers WHERE case_no = ? ORDER BY rowid", case_no)
        return [_key_answer(r) for r in rows]

    def first_request(self, idempotency_key: str) -> tuple[str, str, str, int, int] | None:
        """(case, effect, key, series, amount) first sent under the key: a key reused for
        another effect is refused with 422, as payment platforms do."""
        rows = self._rows(
            "SELECT case_no, effect, key, series, amount_fen FROM answers"
            " WHERE idempotency_key = ?",
            idempotency_key,
        )
        if not rows:
            return None
        case_no, effect, key, series, amount_fen = rows[0]
        return str(case_no), str(effect), str(key), int(series), int(amount_fen)

    def callbacks(self, idempotency_key: str | None = None) -> list[CallbackSent]:
        if idempotency_key is None:
            rows = self._rows("SELECT * FROM callbacks ORDER BY id")
        else:
            rows = self._rows(
                "SELECT * FROM callbacks WHERE idempotency_key = ? ORDER BY id", idempotency_key
            )
        return [CallbackSent(**dict(r)) for r in rows]


def _attempt(row: sqlite3.Row) -> Attempt:
    values = dict(row)
    values["verified"] = bool(values["verified"])
    values["has_phone"] = bool(values["has_phone"])
    return Attempt(**values)


def _key_answer(row: sqlite3.Row) -> KeyAnswer:
    values = dict(row)
    for dropped in ("key", "series", "amount_fen", "system"):
        values.pop(dropped)
    return KeyAnswer(**values)


class _Request(BaseModel):
    """The fields of a webhook body the receiver acts on (others are kept as sent)."""

    model_config = ConfigDict(extra="ignore")

    idempotency_key: str = Field(min_length=1)
    region: str
    case_no: str
    effect: str
    key: str
    series: int
    amount_fen: int
    notice: str = ""
    callback_url: str = ""
    phone: str | None = None


def _answer_response(answer: KeyAnswer) -> Response:
    if answer.outcome == "done":
        return JSONResponse({"status": "done", "reference": answer.reference}, 200)
    if answer.outcome == "pending":
        return JSONResponse({"status": "pending", "reference": answer.reference}, 202)
    return JSONResponse({"status": "refused", "reason": answer.reason}, answer.status_code)


class EffectReceiver:
    """The receiver in this process; an async context manager that serves on `url`."""

    def __init__(
        self,
        store_path: Path,
        *,
        public_key: PublicKeys,
        config: ReceiverConfig | None = None,
        callback_secret: bytes | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tolerance_s: float = 300,
    ) -> None:
        self.store = ReceiverStore(store_path)
        self.config = config or ReceiverConfig()
        # One region's key, or several by region (chosen by the request's Tongban-Region).
        self._public_keys = public_key
        self._callback_secret = callback_secret
        self._host = host
        self._port = port
        self._tolerance_s = tolerance_s
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self._server: LocalServer | None = None
        self._callbacks = httpx.AsyncClient(timeout=5.0, trust_env=False)
        self.url = ""
        self.app = self._app()

    # --- reading (the store's, for convenience) ---

    def records(self) -> list[Attempt]:
        return self.store.records()

    def done_count(self, idempotency_key: str) -> int:
        return self.store.done_count(idempotency_key)

    def effects_for(self, case_no: str) -> list[DoneEffect]:
        return self.store.effects_for(case_no)

    # --- serving ---

    async def start(self, *, quiet_signals: bool = True) -> None:
        self._server = LocalServer(self.app, host=self._host, port=self._port)
        await self._server.start(quiet_signals=quiet_signals)
        self.url = self._server.url

    async def serve_until_stopped(self) -> None:
        if self._server is not None:
            await self._server.serve_until_stopped()

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._server is not None:
            await self._server.stop()
        await self._callbacks.aclose()
        self.store.close()

    async def __aenter__(self) -> EffectReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- the system's behaviour ---

    def _app(self) -> FastAPI:
        app = FastAPI(title="effect receiver (tests)")

        @app.post("/_receiver/complete")
        async def complete_route(request: Request) -> Response:
            asked = await request.json()
            task = asyncio.create_task(
                self.complete(
                    str(asked["idempotency_key"]),
                    asked.get("outcome", "done"),
                    str(asked.get("reason", "")),
                )
            )
            self._keep(task)
            return JSONResponse({"status": "accepted"}, 202)

        @app.put("/_receiver/config")
        async def config_route(request: Request) -> Response:
            self.config = ReceiverConfig.model_validate_json(await request.body())
            return JSONResponse({"status": "ok"})

        @app.get("/_receiver/health")
        async def health() -> Response:
            return JSONResponse({"status": "ok"})

        @app.post("/{system:path}")
        async def effect_route(system: str, request: Request) -> Response:
            return await self._receive(system, request)

        return app

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _receive(self, system: str, request: Request) -> Response:
        body = await request.body()
        if len(body) > _MAX_BODY_BYTES:
            return JSONResponse({"status": "refused", "reason": "body too large"}, 413)
        problem = ""
        key = (
            self._public_keys.get(request.headers.get(REGION_HEADER, ""))
            if isinstance(self._public_keys, Mapping)
            else self._public_keys
        )
        try:
            if key is None:
                problem = "no key for the request's region"
            else:
                verify_webhook(
                    request.headers,
                    body,
                    key,
                    now=datetime.now(UTC),
                    tolerance_s=self._tolerance_s,
                )
        except WebhookSignatureInvalid as exc:
            problem = str(exc)
        try:
            sent = _Request.model_validate_json(body)
        except ValidationError:
            sent = None
            problem = problem or "body is not an effect request"
        if sent is not None and request.headers.get(IDEMPOTENCY_HEADER) != sent.idempotency_key:
            problem = problem or "Idempotency-Key header differs from the body's"
        if sent is None or problem:
            self._record(system, sent, problem=problem, status_code=401 if sent else 400)
            reason = f"请求未通过验证: {problem}"[:200]
            return JSONResponse({"status": "refused", "reason": reason}, 401 if sent else 400)
        behaviour = self.config.behaviour_for(sent.case_no, sent.effect)
        async with self._lock:
            attempt_no = len(self.store.attempts_for(sent.idempotency_key)) + 1
            if attempt_no <= behaviour.fail_first:
                self._record(system, sent, problem="", status_code=503)
                return JSONResponse({"status": "unavailable"}, 503)
            answer = self._answer(system, sent, behaviour)
            self._record(system, sent, problem="", status_code=answer.status_code)
        slow = behaviour.slow_attempts is None or attempt_no <= behaviour.slow_attempts
        if behaviour.slow_s and slow:
            await asyncio.sleep(behaviour.slow_s)
        return _answer_response(answer)

    def _answer(self, system: str, sent: _Request, behaviour: Behaviour) -> KeyAnswer:
        """The key's answer: the stored one, or a new one (doing the effect when done)."""
        stored = self.store.answer(sent.idempotency_key)
        if stored is not None:
            first = self.store.first_request(sent.idempotency_key)
            if first != (sent.case_no, sent.effect, sent.key, sent.series, sent.amount_fen):
                return KeyAnswer(
                    sent.idempotency_key,
                    sent.case_no,
                    sent.effect,
                    "refused",
                    "幂等键已用于另一笔业务",
                    "",
                    422,
                    "",
                )
            return stored
        with self.store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, '', '', '', 0, ?)",
                (
                    sent.idempotency_key,
                    sent.case_no,
                    sent.effect,
                    sent.key,
                    sent.series,
                    sent.amount_fen,
                    system,
                    sent.callback_url,
                ),
            )
            reference = f"RCV-{cursor.lastrowid:06d}"
            if behaviour.answer == "done":
                outcome, reason, status_code = "done", "", 200
                self._do(db, sent.idempotency_key, reference)
            elif behaviour.answer == "pending":
                outcome, reason, status_code = "pending", "", 202
            else:
                outcome, reason = "refused", behaviour.refuse_reason
                status_code = behaviour.refuse_status
            db.execute(
                "UPDATE answers SET outcome = ?, reason = ?, reference = ?, status_code = ?"
                " WHERE idempotency_key = ?",
                (outcome, reason, reference, status_code, sent.idempotency_key),
            )
        if behaviour.answer == "pending" and behaviour.callback_after_s is not None:
            self._keep(
                asyncio.create_task(
                    self._complete_later(
                        sent.idempotency_key,
                        behaviour.callback_after_s,
                        behaviour.callback_outcome,
                        behaviour.callback_reason,
                    )
                )
            )
        answer = self.store.answer(sent.idempotency_key)
        assert answer is not None
        return answer

    @staticmethod
    def _do(db: sqlite3.Connection, idempotency_key: str, reference: str) -> None:
        db.execute(
            "INSERT INTO done (at, system, idempotency_key, case_no, effect, key, series,"
            " amount_fen, reference) SELECT ?, system, idempotency_key, case_no, effect, key,"
            " series, amount_fen, ? FROM answers WHERE idempotency_key = ?",
            (_now_text(), reference, idempotency_key),
        )

    def _record(
        self, system: str, sent: _Request | None, *, problem: str, status_code: int
    ) -> None:
        phone = sent.phone if sent is not None else None
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO attempts (at, system, idempotency_key, case_no, effect, key, series,"
                " amount_fen, region, verified, problem, status_code, has_phone, phone_sha256,"
                " notice, callback_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _now_text(),
                    system,
                    sent.idempotency_key if sent else "",
                    sent.case_no if sent else "",
                    sent.effect if sent else "",
                    sent.key if sent else "",
                    sent.series if sent else 0,
                    sent.amount_fen if sent else 0,
                    sent.region if sent else "",
                    not problem,
                    problem,
                    status_code,
                    phone is not None,
                    hashlib.sha256(phone.encode()).hexdigest() if phone is not None else "",
                    sent.notice if sent else "",
                    sent.callback_url if sent else "",
                ),
            )

    async def _complete_later(
        self, idempotency_key: str, delay_s: float, outcome: str, reason: str
    ) -> None:
        await asyncio.sleep(delay_s)
        await self.complete(idempotency_key, outcome, reason)

    async def complete(
        self, idempotency_key: str, outcome: str = "done", reason: str = ""
    ) -> CallbackSent:
        """Settle a pending effect (doing it when `outcome` is done) and call the node back,
        trying again while the node does not answer; the last try is returned."""
        if outcome not in ("done", "refused"):
            raise ValueError("a callback is done or refused")
        reason = reason or ("" if outcome == "done" else "对方系统拒绝办理")
        async with self._lock:
            answer = self.store.answer(idempotency_key)
            if answer is None:
                raise KeyError(f"no request under idempotency key {idempotency_key}")
            if answer.outcome == "pending":
                with self.store.transaction() as db:
                    if outcome == "done":
                        self._do(db, idempotency_key, answer.reference)
                    db.execute(
                        "UPDATE answers SET outcome = ?, reason = ?, status_code = ?"
                        " WHERE idempotency_key = ?",
                        (outcome, reason, 200 if outcome == "done" else 409, idempotency_key),
                    )
                answer = self.store.answer(idempotency_key)
                assert answer is not None
        body = json.dumps(
            {
                "idempotency_key": idempotency_key,
                "outcome": answer.outcome,
                "reason": answer.reason,
                "reference": answer.reference,
            },
            ensure_ascii=False,
        ).encode()
        return await self._call_back(idempotency_key, answer, body)

    async def _call_back(
        self, idempotency_key: str, answer: KeyAnswer, body: bytes
    ) -> CallbackSent:
        pause = _CALLBACK_PAUSE_S[0]
        for _ in range(_CALLBACK_TRIES):
            status_code, error = 0, ""
            if not answer.callback_url:
                error = "the request named no callback_url"
            elif self._callback_secret is None:
                error = "the receiver has no callback secret"
            else:
                headers = sign_callback(body, self._callback_secret, datetime.now(UTC))
                try:
                    response = await self._callbacks.post(
                        answer.callback_url, content=body, headers=headers
                    )
                    status_code = response.status_code
                except httpx.HTTPError as exc:
                    error = type(exc).__name__
            sent = self._record_callback(idempotency_key, answer.outcome, status_code, error)
            # A node that answers at all (2xx, or a 4xx refusal) has heard it; one that is down
            # or failing (no answer, 5xx) is asked again, as a real system would.
            if (status_code and status_code < 500) or error.startswith("the "):
                return sent
            await asyncio.sleep(pause)
            pause = min(pause * 2, _CALLBACK_PAUSE_S[1])
        return sent

    def _record_callback(
        self, idempotency_key: str, outcome: str, status_code: int, error: str
    ) -> CallbackSent:
        with self.store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO callbacks (at, idempotency_key, outcome, status_code, error)"
                " VALUES (?, ?, ?, ?, ?)",
                (_now_text(), idempotency_key, outcome, status_code, error),
            )
        return CallbackSent(
            int(cursor.lastrowid or 0), _now_text(), idempotency_key, outcome, status_code, error
        )


# --- as a separate process ----------------------------------------------------------------


def public_key_text(public_key: Ed25519PublicKey) -> str:
    return b64url(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw))


class ReceiverProcess:
    """A receiver running as its own process (started by `spawn_receiver`)."""

    def __init__(self, process: subprocess.Popen[str], url: str, store_path: Path) -> None:
        self.process = process
        self.url = url
        self.store = ReceiverStore(store_path)

    def records(self) -> list[Attempt]:
        return self.store.records()

    def done_count(self, idempotency_key: str) -> int:
        return self.store.done_count(idempotency_key)

    def effects_for(self, case_no: str) -> list[DoneEffect]:
        return self.store.effects_for(case_no)

    async def complete(self, idempotency_key: str, outcome: str = "done", reason: str = "") -> None:
        """Ask the receiver to settle and call back; the callback's tries show in
        `store.callbacks(key)`."""
        async with httpx.AsyncClient(trust_env=False) as client:
            answer = await client.post(
                f"{self.url}/_receiver/complete",
                json={"idempotency_key": idempotency_key, "outcome": outcome, "reason": reason},
            )
            answer.raise_for_status()

    async def set_config(self, config: ReceiverConfig) -> None:
        async with httpx.AsyncClient(trust_env=False) as client:
            answer = await client.put(
                f"{self.url}/_receiver/config", content=config.model_dump_json()
            )
            answer.raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.store.close()

    def __enter__(self) -> ReceiverProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_receiver(
    store_path: Path,
    *,
    public_key: PublicKeys,
    config: ReceiverConfig | None = None,
    callback_secret: bytes | None = None,
    port: int = 0,
    start_timeout_s: float = 30.0,
) -> ReceiverProcess:
    """Start `python -m tests.support.effect_receiver` and wait until it listens."""
    command = [
        sys.executable,
        "-m",
        "tests.support.effect_receiver",
        f"--port={port}",
        f"--store={store_path}",
        # `=` joined: a base64url key may begin with "-", which argparse takes for an option.
        *(
            [f"--public-key={public_key_text(public_key)}"]
            if isinstance(public_key, Ed25519PublicKey)
            else [f"--public-key={r}:{public_key_text(k)}" for r, k in public_key.items()]
        ),
        f"--config={(config or ReceiverConfig()).model_dump_json()}",
    ]
    env = dict(os.environ)
    if callback_secret is not None:
        # In the environment, not the command line: `ps` shows arguments to everyone.
        env["EFFECT_RECEIVER_CALLBACK_SECRET"] = callback_secret.decode()
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert process.stdout is not None
    line = _first_line(process, start_timeout_s)
    if not line.startswith("effect receiver listening on "):
        process.kill()
        process.wait(timeout=10)
        raise RuntimeError(f"the effect receiver did not start (said {line!r})")
    return ReceiverProcess(process, line.removeprefix("effect receiver listening on "), store_path)


def _first_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            process.kill()
            process.wait(timeout=10)
            raise RuntimeError(f"the effect receiver did not listen within {timeout_s:g}s")
    return process.stdout.readline().strip()


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument(
        "--public-key",
        required=True,
        action="append",
        help="raw Ed25519 key, base64url; REGION:KEY (repeated) for several regions",
    )
    parser.add_argument("--config", default="{}", help="ReceiverConfig as JSON")
    parser.add_argument(
        "--callback-secret",
        default=None,
        help="HMAC secret for callbacks (else $EFFECT_RECEIVER_CALLBACK_SECRET)",
    )
    return parser.parse_args(argv)


async def _serve(arguments: argparse.Namespace) -> None:
    secret_text = arguments.callback_secret or os.environ.get("EFFECT_RECEIVER_CALLBACK_SECRET")
    receiver = EffectReceiver(
        arguments.store,
        public_key=_public_keys(arguments.public_key),
        config=ReceiverConfig.model_validate_json(arguments.config),
        callback_secret=secret_text.encode() if secret_text else None,
        host=arguments.host,
        port=arguments.port,
    )
    # uvicorn's own signal handling: SIGTERM/SIGINT end serving, then the store is closed.
    await receiver.start(quiet_signals=False)
    print(f"effect receiver listening on {receiver.url}", flush=True)
    try:
        await receiver.serve_until_stopped()
    finally:
        await receiver.stop()


def _public_keys(given: list[str]) -> PublicKeys:
    def key(text: str) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(b64url_decode(text))

    if len(given) == 1 and ":" not in given[0]:
        return key(given[0])
    return {region: key(text) for region, _, text in (g.partition(":") for g in given)}


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_serve(_arguments(argv)))


if __name__ == "__main__":
    main()
