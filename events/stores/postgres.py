"""The stores on a region's Postgres database (deploy/migrations), on a pool or one connection.

Each store runs its statements on the transaction's connection, so they join whatever that
transaction holds. JSON columns are written as text cast to jsonb and read back as text, so
the stores behave the same on a pool with JSON codecs and on a bare connection.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from events.stores.cases import CaseRecord, NewCase
from events.stores.exchange import (
    DueResend,
    FailedDelivery,
    InboxEntry,
    InboxKey,
    LogHead,
    LogRow,
    OutboxEntry,
    PendingDelivery,
    PendingSend,
    QuarantinedRecord,
    QuarantineEntry,
    ResendSchedule,
    SentEvent,
)
from events.stores.files_postgres import PostgresBlobs, PostgresCaseFiles
from events.stores.settlement import book_exchanged
from events.stores.settlement_postgres import PostgresSettlementLedger

# The stubs make these generic; at run time they are not subscriptable, hence the string.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

OUTBOX_CHANNEL = "tongban_outbox"
# One chain per database: appends take this transaction-scoped lock so two concurrent
# transactions cannot both link to the same previous row.
_LOG_APPEND_LOCK = 0x7B_6C_6F_67  # "{log"
# The server or the connection going away: nothing to undo on a listener that is gone.
_GONE: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
)


async def _notify_relay(conn: Conn) -> None:
    # Delivered at commit only, so the relay never looks before the rows are visible.
    await conn.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)


class PostgresOutbox:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, entry: OutboxEntry) -> bool:
        # The relay's wake-up rides in the same statement: one round trip per event.
        inserted = await self._conn.fetchrow(
            "WITH added AS (INSERT INTO outbox (event_id, case_no, event_type,"
            " recipient_region, topic, envelope, trace_context)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING"
            " RETURNING 1) SELECT pg_notify($8, '') FROM added",
            entry.event_id,
            entry.case_no,
            entry.event_type,
            entry.recipient_region,
            entry.topic,
            entry.envelope,
            entry.trace_context,
            OUTBOX_CHANNEL,
        )
        return inserted is not None

    async def contains(self, event_id: str) -> bool:
        return bool(await self._conn.fetchval("SELECT 1 FROM outbox WHERE event_id = $1", event_id))

    async def unsend(self, event_ids: Sequence[str]) -> int:
        unsent = await self._conn.fetchval(
            "WITH unsent AS (UPDATE outbox SET sent_at = NULL"
            " WHERE event_id = ANY($1::text[]) RETURNING 1) SELECT count(*) FROM unsent",
            list(event_ids),
        )
        if unsent:
            await _notify_relay(self._conn)
        return int(unsent or 0)

    async def sent_event(self, event_id: str) -> SentEvent | None:
        row = await self._conn.fetchrow(
            "SELECT case_no, event_type, recipient_region, envelope, receipted_at, failed_at"
            " FROM outbox WHERE event_id = $1 FOR UPDATE",
            event_id,
        )
        if row is None:
            return None
        return SentEvent(
            case_no=row["case_no"],
            event_type=row["event_type"],
            recipient_region=row["recipient_region"],
            envelope=bytes(row["envelope"]),
            receipted=row["receipted_at"] is not None,
            failed=row["failed_at"] is not None,
        )

    async def mark_receipted(self, event_id: str, receipt_event_id: str) -> None:
        await self._conn.execute(
            "UPDATE outbox SET receipted_at = COALESCE(receipted_at, now()),"
            " receipt_event_id = COALESCE(receipt_event_id, $2) WHERE event_id = $1",
            event_id,
            receipt_event_id,
        )

    async def take_unsent(self, limit: int) -> list[PendingSend]:
        rows = await self._conn.fetch(
            "SELECT event_id, case_no, event_type, recipient_region, topic, envelope,"
            " trace_context, attempts,"
            " extract(epoch FROM now() - created_at)::float8 AS lag_s FROM outbox"
            " WHERE sent_at IS NULL AND parked_at IS NULL"
            " ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        return [
            PendingSend(
                event_id=r["event_id"],
                case_no=r["case_no"],
                event_type=r["event_type"],
                recipient_region=r["recipient_region"],
                topic=r["topic"],
                envelope=bytes(r["envelope"]),
                trace_context=r["trace_context"],
                attempts=r["attempts"],
                lag_s=r["lag_s"],
            )
            for r in rows
        ]

    async def mark_sent(
        self, event_ids: Sequence[str], receipt_type: str, schedule: ResendSchedule
    ) -> None:
        await self._conn.execute(
            "UPDATE outbox SET sent_at = now(), attempts = attempts + 1,"
            " next_attempt_at = CASE WHEN event_type = $2 THEN NULL ELSE now()"
            "  + make_interval(secs => LEAST($3 * power($4, attempts), $5)) END"
            " WHERE event_id = ANY($1::text[])",
            list(event_ids),
            receipt_type,
            schedule.first_wait_s,
            schedule.backoff,
            schedule.max_wait_s,
        )

    async def park(self, event_id: str, reason: str, detail: str, receipt_type: str) -> None:
        await self._conn.execute(
            "UPDATE outbox SET parked_at = now(), park_reason = $2, park_detail = $3,"
            " failed_at = CASE WHEN event_type = $4 THEN failed_at ELSE now() END,"
            " failure_reason = CASE WHEN event_type = $4 THEN failure_reason"
            "  ELSE 'parked: ' || $3 END"
            " WHERE event_id = $1",
            event_id,
            reason,
            detail,
            receipt_type,
        )

    async def due_for_resend(self, limit: int) -> list[DueResend]:
        rows = await self._conn.fetch(
            "SELECT event_id, event_type, recipient_region, attempts FROM outbox"
            " WHERE receipted_at IS NULL AND failed_at IS NULL AND sent_at IS NOT NULL"
            " AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1"
            " FOR UPDATE SKIP LOCKED",
            limit,
        )
        return [
            DueResend(r["event_id"], r["event_type"], r["recipient_region"], r["attempts"])
            for r in rows
        ]

    async def seconds_to_next_resend(self) -> float | None:
        due: float | None = await self._conn.fetchval(
            "SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - now())::float8 FROM outbox"
            " WHERE receipted_at IS NULL AND failed_at IS NULL AND sent_at IS NOT NULL"
            " AND next_attempt_at IS NOT NULL"
        )
        return due

    async def mark_exhausted(self, event_ids: Sequence[str]) -> None:
        await self._conn.execute(
            "UPDATE outbox SET failed_at = now(),"
            " failure_reason = 'no receipt after ' || attempts || ' attempts'"
            " WHERE event_id = ANY($1::text[])",
            list(event_ids),
        )

    async def failures_to_signal(self, limit: int) -> list[FailedDelivery]:
        rows = await self._conn.fetch(
            "SELECT event_id, case_no, event_type, recipient_region, attempts, failure_reason"
            " FROM outbox WHERE failed_at IS NOT NULL AND failure_signalled_at IS NULL"
            " ORDER BY failed_at LIMIT $1",
            limit,
        )
        return [
            FailedDelivery(
                event_id=r["event_id"],
                case_no=r["case_no"],
                event_type=r["event_type"],
                recipient_region=r["recipient_region"],
                attempts=r["attempts"],
                failure_reason=r["failure_reason"],
            )
            for r in rows
        ]

    async def mark_failure_signalled(self, event_id: str, note: str | None) -> None:
        await self._conn.execute(
            "UPDATE outbox SET failure_signalled_at = now(), failure_note = $2 WHERE event_id = $1",
            event_id,
            note,
        )

    async def backlog(self) -> tuple[int, float]:
        row = await self._conn.fetchrow(
            "SELECT count(*) AS n,"
            " COALESCE(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest"
            " FROM outbox WHERE sent_at IS NULL AND parked_at IS NULL"
        )
        return (row["n"], row["oldest"]) if row else (0, 0.0)


class PostgresInbox:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, entry: InboxEntry) -> bool:
        inserted = await self._conn.fetchval(
            "INSERT INTO inbox (event_id, case_no, event_type, sender_region, envelope,"
            " topic, kafka_partition, kafka_offset, delivered_at, delivery_note, trace_context)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
            "  CASE WHEN $9 THEN now() END, CASE WHEN $9 THEN 'receipt: not dispatched' END,"
            "  $10)"
            " ON CONFLICT (sender_region, event_id) DO NOTHING RETURNING true",
            entry.event_id,
            entry.case_no,
            entry.event_type,
            entry.sender_region,
            entry.envelope,
            entry.topic,
            entry.partition,
            entry.offset,
            entry.receipt,
            entry.trace_context,
        )
        return bool(inserted)

    async def envelope(self, sender_region: str, event_id: str) -> bytes | None:
        raw = await self._conn.fetchval(
            "SELECT envelope FROM inbox WHERE sender_region = $1 AND event_id = $2",
            sender_region,
            event_id,
        )
        return None if raw is None else bytes(raw)

    async def count_duplicate(self, sender_region: str, event_id: str) -> None:
        await self._conn.execute(
            "INSERT INTO inbox_duplicates (sender_region, event_id, count) VALUES ($1, $2, 1)"
            " ON CONFLICT (sender_region, event_id) DO UPDATE"
            " SET count = inbox_duplicates.count + 1, last_seen_at = now()",
            sender_region,
            event_id,
        )

    async def duplicates(self, sender_region: str, event_id: str) -> int:
        count = await self._conn.fetchval(
            "SELECT count FROM inbox_duplicates WHERE sender_region = $1 AND event_id = $2",
            sender_region,
            event_id,
        )
        return int(count or 0)

    async def set_receipt(self, sender_region: str, event_id: str, receipt_event_id: str) -> None:
        await self._conn.execute(
            "UPDATE inbox SET receipt_event_id = $3 WHERE sender_region = $1 AND event_id = $2",
            sender_region,
            event_id,
            receipt_event_id,
        )

    async def undelivered(self, keys: Sequence[InboxKey]) -> list[PendingDelivery]:
        rows = await self._conn.fetch(
            "SELECT sender_region, event_id, case_no, event_type, envelope, trace_context"
            " FROM inbox WHERE (sender_region, event_id) IN"
            "  (SELECT * FROM unnest($1::text[], $2::text[]))"
            " AND delivered_at IS NULL AND undeliverable_at IS NULL ORDER BY received_at",
            [sender for sender, _ in keys],
            [event_id for _, event_id in keys],
        )
        return [
            PendingDelivery(
                sender_region=r["sender_region"],
                event_id=r["event_id"],
                case_no=r["case_no"],
                event_type=r["event_type"],
                envelope=bytes(r["envelope"]),
                trace_context=r["trace_context"],
            )
            for r in rows
        ]

    async def undelivered_of(self, case_nos: Sequence[str]) -> list[InboxKey]:
        rows = await self._conn.fetch(
            "SELECT sender_region, event_id FROM inbox WHERE case_no = ANY($1::text[])"
            " AND delivered_at IS NULL AND undeliverable_at IS NULL ORDER BY received_at",
            list(case_nos),
        )
        return [(r["sender_region"], r["event_id"]) for r in rows]

    async def stale_undelivered(self, older_than_s: float, limit: int) -> list[InboxKey]:
        rows = await self._conn.fetch(
            "SELECT sender_region, event_id FROM inbox"
            " WHERE delivered_at IS NULL AND undeliverable_at IS NULL"
            " AND received_at < now() - make_interval(secs => $1) ORDER BY received_at"
            " LIMIT $2",
            older_than_s,
            limit,
        )
        return [(r["sender_region"], r["event_id"]) for r in rows]

    async def mark_delivered(self, marks: Sequence[tuple[InboxKey, str | None]]) -> None:
        await self._conn.executemany(
            "UPDATE inbox SET delivered_at = now(), delivery_note = $3"
            " WHERE sender_region = $1 AND event_id = $2",
            [(*key, note) for key, note in marks],
        )

    async def mark_undeliverable(self, key: InboxKey, note: str) -> None:
        await self._conn.execute(
            "UPDATE inbox SET undeliverable_at = now(), delivery_note = $3"
            " WHERE sender_region = $1 AND event_id = $2",
            *key,
            note,
        )


def _json_value(value: Any) -> Any:
    """A JSON column as read: a value with the pool's codec, text without it (and text
    inside text where a codec encoded a string that was JSON already)."""
    while isinstance(value, str):
        value = json.loads(value)
    return value


class PostgresQuarantine:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, entry: QuarantineEntry) -> None:
        await self._conn.execute(
            "INSERT INTO quarantine"
            " (reason, detail, raw, raw_sha256, raw_length, headers, topic, kafka_partition,"
            "  kafka_offset, claimed_sender)"
            " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)"
            " ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING",
            entry.reason,
            entry.detail,
            entry.raw,
            entry.raw_sha256,
            entry.raw_length,
            entry.headers_json,
            entry.topic,
            entry.partition,
            entry.offset,
            entry.claimed_sender,
        )

    async def take(self, quarantine_id: int) -> QuarantinedRecord | None:
        row = await self._conn.fetchrow(
            "SELECT raw, headers, topic, kafka_partition, kafka_offset, redriven_at"
            " FROM quarantine WHERE id = $1 FOR UPDATE",
            quarantine_id,
        )
        if row is None:
            return None
        headers = _json_value(row["headers"])
        return QuarantinedRecord(
            id=quarantine_id,
            raw=bytes(row["raw"]),
            headers=tuple((str(key), str(value)) for key, value in headers),
            topic=row["topic"],
            partition=row["kafka_partition"],
            offset=row["kafka_offset"],
            redriven_at=row["redriven_at"],
        )

    async def mark_redriven(self, quarantine_id: int, note: str) -> None:
        await self._conn.execute(
            "UPDATE quarantine SET redriven_at = now(), redrive_note = $2 WHERE id = $1",
            quarantine_id,
            note,
        )


class PostgresMessageLog:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def lock_tail(self) -> None:
        await self._conn.execute("SELECT pg_advisory_xact_lock($1)", _LOG_APPEND_LOCK)

    async def contains(self, direction: str, event_id: str, envelope: bytes) -> bool:
        return bool(
            await self._conn.fetchval(
                "SELECT 1 FROM message_log WHERE direction = $1 AND event_id = $2"
                " AND sha256(envelope) = sha256($3::bytea)",
                direction,
                event_id,
                envelope,
            )
        )

    async def head(self) -> LogHead | None:
        row = await self._conn.fetchrow(
            "SELECT seq, hash FROM message_log ORDER BY seq DESC LIMIT 1"
        )
        return None if row is None else LogHead(row["seq"], bytes(row["hash"]))

    async def add(self, row: LogRow) -> None:
        await self._conn.execute(
            "INSERT INTO message_log (direction, event_id, envelope, prev_hash, hash)"
            " VALUES ($1, $2, $3, $4, $5)",
            row.direction,
            row.event_id,
            row.envelope,
            row.prev_hash,
            row.hash,
        )
        # What the event moves of a fee is booked with its log row (decision 0030).
        await book_exchanged(PostgresSettlementLedger(self._conn), row.envelope)


class PostgresLogAnchors:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def record(self, region: str, seq: int, hash_: bytes, receipt_event_id: str) -> None:
        await self._conn.execute(
            "INSERT INTO log_anchors (region, seq, hash, receipt_event_id)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (region, seq, hash) DO NOTHING",
            region,
            seq,
            hash_,
            receipt_event_id,
        )


_CASE_COLUMNS = (
    "case_no, role, item_code, item_version, origin_region, processing_region, status,"
    " applicant_sealed::text AS applicant_sealed, materials::text AS materials, fee_fen,"
    " submission_window, submission_key, mode, applicant_subject,"
    " evidence_consent::text AS evidence_consent, created_at, updated_at"
)


def _case(row: asyncpg.Record) -> CaseRecord:
    return CaseRecord(
        case_no=row["case_no"],
        role=row["role"],
        item_code=row["item_code"],
        item_version=row["item_version"],
        origin_region=row["origin_region"],
        processing_region=row["processing_region"],
        applicant_sealed=json.loads(row["applicant_sealed"]),
        materials=json.loads(row["materials"]),
        fee_fen=row["fee_fen"],
        submission_window=row["submission_window"],
        submission_key=row["submission_key"],
        mode=row["mode"],
        applicant_subject=row["applicant_subject"],
        evidence_consent=None
        if row["evidence_consent"] is None
        else json.loads(row["evidence_consent"]),
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# A pool runs each statement on a connection of its own: fine for reads and single writes.
_Executor: TypeAlias = "Conn | asyncpg.Pool"


class PostgresCaseStore:
    """The `cases` table. On a pool for callers that need no transaction (one statement
    each); in a `PostgresTransaction` for those that do."""

    def __init__(self, db: _Executor) -> None:
        self._db = db

    async def add(self, case: NewCase) -> bool:
        inserted = await self._db.fetchval(
            "INSERT INTO cases (case_no, role, item_code, item_version, origin_region,"
            " processing_region, status, applicant_sealed, materials, fee_fen,"
            " submission_window, submission_key, mode, applicant_subject, evidence_consent)"
            " VALUES ($1, $2, $3, $4, $5, $6, 'received', $7::text::jsonb, $8::text::jsonb,"
            "  $9, $10, $11, $12, $13, $14::text::jsonb)"
            " ON CONFLICT DO NOTHING RETURNING true",
            case.case_no,
            case.role,
            case.item_code,
            case.item_version,
            case.origin_region,
            case.processing_region,
            json.dumps(case.applicant_sealed),
            json.dumps(case.materials),
            case.fee_fen,
            case.submission_window,
            case.submission_key,
            case.mode,
            case.applicant_subject,
            None if case.evidence_consent is None else json.dumps(case.evidence_consent),
        )
        return bool(inserted)

    async def get(self, case_no: str) -> CaseRecord | None:
        row = await self._db.fetchrow(
            f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_no = $1", case_no
        )
        return None if row is None else _case(row)

    async def get_for_update(self, case_no: str) -> CaseRecord | None:
        row = await self._db.fetchrow(
            f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_no = $1 FOR UPDATE", case_no
        )
        return None if row is None else _case(row)

    async def by_submission(self, origin_region: str, window: str, key: str) -> CaseRecord | None:
        row = await self._db.fetchrow(
            f"SELECT {_CASE_COLUMNS} FROM cases WHERE origin_region = $1"
            " AND submission_window = $2 AND submission_key = $3",
            origin_region,
            window,
            key,
        )
        return None if row is None else _case(row)

    async def processing_region(self, case_no: str) -> str | None:
        found = await self._db.fetchval(
            "SELECT processing_region FROM cases WHERE case_no = $1", case_no
        )
        return None if found is None else str(found)

    async def of_applicant(self, subject: str, limit: int) -> list[CaseRecord]:
        rows = await self._db.fetch(
            f"SELECT {_CASE_COLUMNS} FROM cases WHERE applicant_subject = $1"
            " ORDER BY created_at DESC, case_no DESC LIMIT $2",
            subject,
            limit,
        )
        return [_case(r) for r in rows]

    async def set_status(self, case_no: str, status: str, steps: int) -> bool:
        updated = await self._db.execute(
            "UPDATE cases SET status = $2, status_steps = $3, updated_at = now()"
            " WHERE case_no = $1 AND status_steps <= $3",
            case_no,
            status,
            steps,
        )
        if updated != "UPDATE 0":
            return True
        # Not written: either no such case, or it already rests where a later step put it.
        found = await self._db.fetchval("SELECT 1 FROM cases WHERE case_no = $1", case_no)
        return found is not None

    async def add_materials(self, case_no: str, materials: Sequence[dict[str, Any]]) -> None:
        await self._db.execute(
            "UPDATE cases SET materials = materials || ("
            "  SELECT coalesce(jsonb_agg(m), '[]'::jsonb)"
            "  FROM jsonb_array_elements($2::text::jsonb) m"
            "  WHERE NOT materials @> jsonb_build_array(m)), updated_at = now()"
            " WHERE case_no = $1",
            case_no,
            json.dumps(list(materials)),
        )

    async def discard_unstarted(self, case_no: str) -> None:
        await self._db.execute(
            "DELETE FROM cases WHERE case_no = $1 AND status = 'received'", case_no
        )

    async def page(
        self, status: str | None, limit: int, offset: int
    ) -> tuple[list[CaseRecord], int]:
        where, args = ("WHERE status = $1", [status]) if status else ("", [])
        n = len(args)
        total = await self._db.fetchval(f"SELECT count(*) FROM cases {where}", *args)
        rows = await self._db.fetch(
            f"SELECT {_CASE_COLUMNS} FROM cases {where} ORDER BY created_at DESC, case_no"
            f" LIMIT ${n + 1} OFFSET ${n + 2}",
            *args,
            limit,
            offset,
        )
        return [_case(r) for r in rows], int(total)

    async def last_changes(self, case_nos: Sequence[str]) -> dict[str, datetime]:
        rows = await self._db.fetch(
            "SELECT case_no, updated_at FROM cases WHERE case_no = ANY($1::text[])",
            list(case_nos),
        )
        return {r["case_no"]: r["updated_at"] for r in rows}

    async def count_by_role_and_status(self) -> dict[tuple[str, str], int]:
        rows = await self._db.fetch(
            "SELECT role, status, count(*) AS n FROM cases GROUP BY role, status"
        )
        return {(r["role"], r["status"]): r["n"] for r in rows}


class PostgresTransaction:
    """The stores on one connection inside one open transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn
        self.cases = PostgresCaseStore(conn)
        self.outbox = PostgresOutbox(conn)
        self.inbox = PostgresInbox(conn)
        self.quarantine = PostgresQuarantine(conn)
        self.message_log = PostgresMessageLog(conn)
        self.anchors = PostgresLogAnchors(conn)
        self.blobs = PostgresBlobs(conn)
        self.files = PostgresCaseFiles(conn)
        self.settlement = PostgresSettlementLedger(conn)

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        async with self._conn.transaction():
            yield


class PostgresStores:
    """A pool's stores (a connection per transaction), or one connection's (`on`), whose
    transactions nest inside one the caller opened there, as savepoints."""

    def __init__(self, pool: asyncpg.Pool | None, conn: Conn | None = None) -> None:
        self._pool = pool
        self._conn = conn

    @classmethod
    def on(cls, conn: Conn) -> PostgresStores:
        return cls(None, conn)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        if self._conn is not None:
            yield self._conn
            return
        assert self._pool is not None
        async with self._pool.acquire() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        async with self._connection() as conn, conn.transaction():
            yield PostgresTransaction(conn)

    @contextlib.asynccontextmanager
    async def pinned(self) -> AsyncIterator[PostgresStores]:
        async with self._connection() as conn:
            yield PostgresStores.on(conn)

    @contextlib.asynccontextmanager
    async def outbox_wakeups(self, wake: Callable[[], None]) -> AsyncIterator[Callable[[], bool]]:
        ended = False

        def on_notify(*_: object) -> None:
            wake()

        def on_end(*_: object) -> None:
            nonlocal ended
            ended = True
            wake()

        # A connection of its own, taken anew each time: a restarted database closes it, and
        # nothing else would tell the relay, which then found its rows only by polling (up
        # to its idle ceiling per event). Its end wakes the relay, which listens anew. The
        # flag, not the connection, says so: the pool detaches a lost connection from its
        # proxy, which then refuses every call.
        async with self._connection() as listener:
            await listener.add_listener(OUTBOX_CHANNEL, on_notify)
            listener.add_termination_listener(on_end)
            try:
                yield lambda: not ended
            finally:
                with contextlib.suppress(*_GONE):
                    listener.remove_termination_listener(on_end)
                    await listener.remove_listener(OUTBOX_CHANNEL, on_notify)
