"""好差评 records in the region's Postgres (migration 0021, decision 0039).

Every free text (the comment, the follow-up's notes, the answer, an appeal's reason) is kept
as a SealedBox for the holding region; nothing here opens one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from events.ratings import WrongCodes

if TYPE_CHECKING:  # the report reads rows without loading the database driver
    import asyncpg

    from events.pg import Conn

Stage = Literal["revisit", "rectify"]
_STAGE_COLUMNS: dict[str, tuple[str, str]] = {
    "revisit": ("revisited_at", "revisit_sealed"),
    "rectify": ("rectified_at", "rectify_sealed"),
}


@dataclass(frozen=True)
class RatingRecord:
    rating_id: str
    case_no: str
    step: str
    level: int
    reasons: tuple[str, ...]
    comment_sealed: dict[str, Any] | None
    channel: str
    window_name: str
    item_code: str
    origin_region: str
    processing_region: str
    responsible_region: str
    side: str
    rated_at: datetime


@dataclass(frozen=True)
class RatingRow(RatingRecord):
    """A rating as kept, with its follow-up and appeal so far."""

    revisit_due: datetime | None = None
    revisited_at: datetime | None = None
    rectify_due: datetime | None = None
    rectified_at: datetime | None = None
    escalations: tuple[str, ...] = ()
    answered_at: datetime | None = None
    answer_sealed: dict[str, Any] | None = None
    answered_on_time: bool | None = None
    set_aside_at: datetime | None = None
    set_aside_sealed: dict[str, Any] | None = None


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)


def _loaded(value: object) -> dict[str, Any] | None:
    """A JSON column as read: decoded by the pool's codec, or text without one."""
    while isinstance(value, str):
        value = json.loads(value)
    return None if value is None else dict(value)  # type: ignore[call-overload]


_COLUMNS = (
    "rating_id, case_no, step, level, reasons, comment_sealed, channel, window_name, item_code,"
    " origin_region, processing_region, responsible_region, side, rated_at, revisit_due,"
    " revisited_at, rectify_due, rectified_at, escalations, answered_at, answer_sealed,"
    " answered_on_time, set_aside_at, set_aside_sealed"
)


def _row(record: asyncpg.Record) -> RatingRow:
    return RatingRow(
        rating_id=record["rating_id"],
        case_no=record["case_no"],
        step=record["step"],
        level=record["level"],
        reasons=tuple(record["reasons"]),
        comment_sealed=_loaded(record["comment_sealed"]),
        channel=record["channel"],
        window_name=record["window_name"],
        item_code=record["item_code"],
        origin_region=record["origin_region"],
        processing_region=record["processing_region"],
        responsible_region=record["responsible_region"],
        side=record["side"],
        rated_at=record["rated_at"],
        revisit_due=record["revisit_due"],
        revisited_at=record["revisited_at"],
        rectify_due=record["rectify_due"],
        rectified_at=record["rectified_at"],
        escalations=tuple(record["escalations"]),
        answered_at=record["answered_at"],
        answer_sealed=_loaded(record["answer_sealed"]),
        answered_on_time=record["answered_on_time"],
        set_aside_at=record["set_aside_at"],
        set_aside_sealed=_loaded(record["set_aside_sealed"]),
    )


async def add(conn: Conn, rating: RatingRecord) -> bool:
    """Keep a rating; False (nothing written) when its case and step are rated already."""
    status = await conn.execute(
        "INSERT INTO ratings (rating_id, case_no, step, level, reasons, comment_sealed, channel,"
        " window_name, item_code, origin_region, processing_region, responsible_region, side,"
        " rated_at) VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8, $9, $10, $11, $12, $13,"
        " $14)"
        " ON CONFLICT DO NOTHING",
        rating.rating_id,
        rating.case_no,
        rating.step,
        rating.level,
        list(rating.reasons),
        _json(rating.comment_sealed),
        rating.channel,
        rating.window_name,
        rating.item_code,
        rating.origin_region,
        rating.processing_region,
        rating.responsible_region,
        rating.side,
        rating.rated_at,
    )
    return bool(status == "INSERT 0 1")


async def get(conn: Conn, rating_id: str) -> RatingRow | None:
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM ratings WHERE rating_id = $1",
        rating_id,
    )
    return None if record is None else _row(record)


async def of_case(conn: Conn, case_no: str) -> list[RatingRow]:
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ratings WHERE case_no = $1 ORDER BY step",
        case_no,
    )
    return [_row(r) for r in records]


async def answerable_by(
    conn: Conn, region: str, since: datetime, until: datetime
) -> list[RatingRow]:
    """The ratings `region` answers for, rated in [since, until): what its report counts."""
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ratings WHERE responsible_region = $1"
        " AND rated_at >= $2 AND rated_at < $3 ORDER BY rated_at",
        region,
        since,
        until,
    )
    return [_row(r) for r in records]


async def open_follow_ups(conn: Conn, region: str, side: str, limit: int = 200) -> list[RatingRow]:
    """差评 `region` answers for on `side` whose follow-up has not answered the applicant and
    that were not set aside: what its people have to take up, the nearest 整改 deadline first."""
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ratings WHERE responsible_region = $1 AND side = $2"
        " AND level <= 2 AND answered_at IS NULL AND set_aside_at IS NULL"
        " ORDER BY rectify_due NULLS LAST, rated_at LIMIT $3",
        region,
        side,
        limit,
    )
    return [_row(r) for r in records]


async def without_follow_up(
    conn: Conn, region: str, rated_before: datetime, limit: int = 100
) -> list[RatingRow]:
    """差评 `region` answers for whose follow-up never opened (its start failed after the
    rating committed): the follow-up's first activity sets `revisit_due`."""
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ratings WHERE responsible_region = $1 AND level <= 2"
        " AND revisit_due IS NULL AND answered_at IS NULL AND set_aside_at IS NULL"
        " AND rated_at < $2 ORDER BY rated_at LIMIT $3",
        region,
        rated_before,
        limit,
    )
    return [_row(r) for r in records]


async def invitations_due(
    conn: Conn,
    concluded: frozenset[str],
    after: datetime,
    until: datetime,
    key: str,
    limit: int = 100,
) -> list[str]:
    """邀评: cases this region accepted, concluded (a status in `concluded`) in (after, until],
    with no rating of any step, and no invitation carried out yet (none, or one still
    `ordered`: placed but not yet answered). A concluded case rests, so `updated_at` is
    when it was concluded."""
    records = await conn.fetch(
        "SELECT c.case_no FROM cases c WHERE c.role = 'origin' AND c.status = ANY($1::text[])"
        " AND c.updated_at > $2 AND c.updated_at <= $3"
        " AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.case_no = c.case_no)"
        " AND NOT EXISTS (SELECT 1 FROM effect_orders o WHERE o.case_no = c.case_no"
        "  AND o.key = $4 AND o.state <> 'ordered')"
        " ORDER BY c.updated_at LIMIT $5",
        sorted(concluded),
        after,
        until,
        key,
        limit,
    )
    return [r["case_no"] for r in records]


async def invitations_sent(
    conn: Conn, key: str, since: datetime, until: datetime
) -> dict[str, int]:
    """邀评 ordered in [since, until), counted by the state of their effect order."""
    records = await conn.fetch(
        "SELECT state, count(*) AS n FROM effect_orders WHERE key = $1"
        " AND ordered_at >= $2 AND ordered_at < $3 GROUP BY state ORDER BY state",
        key,
        since,
        until,
    )
    return {r["state"]: r["n"] for r in records}


async def issue_code(
    conn: Conn, code_sha256: bytes, case_no: str, step: str, window: str, issued_by: str | None
) -> bool:
    """Keep a new code for the case's step; an unspent one issued before is replaced (a lost
    receipt), a spent one is not: False, the step is rated."""
    status = await conn.execute(
        "INSERT INTO rating_codes (code_sha256, case_no, step, window_name, issued_by)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_no, step) DO UPDATE"
        " SET code_sha256 = EXCLUDED.code_sha256, window_name = EXCLUDED.window_name,"
        " issued_by = EXCLUDED.issued_by, issued_at = now()"
        " WHERE rating_codes.used_at IS NULL",
        code_sha256,
        case_no,
        step,
        window,
        issued_by,
    )
    if status != "INSERT 0 1":
        return False
    # The clerk handed the applicant a new receipt: earlier wrong tries no longer hold it up.
    await set_wrong_codes(conn, case_no, WrongCodes())
    return True


async def wrong_codes(conn: Conn, case_no: str, *, lock: bool = False) -> WrongCodes:
    """The wrong codes entered for the case lately (none when it has no code at all)."""
    record = await conn.fetchrow(
        "SELECT wrong_tries, wrong_since FROM rating_codes WHERE case_no = $1"
        " ORDER BY wrong_since DESC NULLS LAST LIMIT 1" + (" FOR UPDATE" if lock else ""),
        case_no,
    )
    if record is None:
        return WrongCodes()
    return WrongCodes(record["wrong_tries"], record["wrong_since"])


async def set_wrong_codes(conn: Conn, case_no: str, wrong: WrongCodes) -> None:
    await conn.execute(
        "UPDATE rating_codes SET wrong_tries = $2, wrong_since = $3 WHERE case_no = $1",
        case_no,
        wrong.tries,
        wrong.since,
    )


async def spend_code(conn: Conn, code_sha256: bytes, case_no: str) -> tuple[str, str] | None:
    """Spend an unspent code of this case: (step, window), or None when there is none."""
    record = await conn.fetchrow(
        "UPDATE rating_codes SET used_at = now() WHERE code_sha256 = $1 AND case_no = $2"
        " AND used_at IS NULL RETURNING step, window_name",
        code_sha256,
        case_no,
    )
    return None if record is None else (record["step"], record["window_name"])


async def set_due(conn: Conn, rating_id: str, revisit_due: datetime, rectify_due: datetime) -> None:
    await conn.execute(
        "UPDATE ratings SET revisit_due = $2, rectify_due = $3 WHERE rating_id = $1",
        rating_id,
        revisit_due,
        rectify_due,
    )


async def record_stage(
    conn: Conn, rating_id: str, stage: Stage, at: datetime, sealed: dict[str, Any]
) -> None:
    """回访 or 整改 done: the first record stands (a retried activity changes nothing)."""
    done, note = _STAGE_COLUMNS[stage]
    await conn.execute(
        f"UPDATE ratings SET {done} = $2, {note} = $3::text::jsonb"
        f" WHERE rating_id = $1 AND {done} IS NULL",
        rating_id,
        at,
        json.dumps(sealed),
    )


async def add_escalation(conn: Conn, rating_id: str, stage: Stage) -> None:
    await conn.execute(
        "UPDATE ratings SET escalations = array_append(escalations, $2)"
        " WHERE rating_id = $1 AND NOT ($2 = ANY(escalations))",
        rating_id,
        stage,
    )


async def set_answer(
    conn: Conn, rating_id: str, at: datetime, sealed: dict[str, Any], on_time: bool
) -> bool:
    status = await conn.execute(
        "UPDATE ratings SET answered_at = $2, answer_sealed = $3::text::jsonb,"
        " answered_on_time = $4"
        " WHERE rating_id = $1 AND answered_at IS NULL",
        rating_id,
        at,
        json.dumps(sealed),
        on_time,
    )
    return bool(status == "UPDATE 1")


async def set_aside(
    conn: Conn, rating_id: str, at: datetime, by: str, sealed_reason: dict[str, Any]
) -> bool:
    """申诉复核 upheld: the rating no longer counts; the first decision stands."""
    status = await conn.execute(
        "UPDATE ratings SET set_aside_at = $2, set_aside_by = $3,"
        " set_aside_sealed = $4::text::jsonb"
        " WHERE rating_id = $1 AND set_aside_at IS NULL",
        rating_id,
        at,
        by,
        json.dumps(sealed_reason),
    )
    return bool(status == "UPDATE 1")
