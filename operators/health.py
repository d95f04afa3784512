"""The exchange health panel: is this region's side of the exchange keeping up?

Read from the region's own database and the trust directory its node holds: the outbox backlog
(what the relay has not published yet, and what it parked), business events each peer has not
receipted yet or that were given up on, the last record accepted from each peer, records
quarantined in the last day by reason, the directory's version and how long it stays valid,
and inbox rows the case workflows did not take. Each figure carries a Chinese label and a
level (正常 / 注意 / 告警) from the thresholds below; the panel's level is its worst figure's.

Ids, codes, counts and times only: nothing a record carries is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from events.models import EventType
from events.pg import Conn
from events.stores.postgres import PostgresOutbox
from events.trust import TrustDirectory
from operators.exchange_labels import reject_reason_label
from operators.parked import parked_count
from operators.quarantine import refused_by_sender

# The outbox: rows written but not yet published (the relay is behind, or Kafka is away).
OUTBOX_LAG_NOTICE = timedelta(minutes=1)
OUTBOX_LAG_ALERT = timedelta(minutes=10)
OUTBOX_UNSENT_NOTICE = 100
OUTBOX_UNSENT_ALERT = 1000
# Parked rows were refused for good (too large); each needs a person.
PARKED_NOTICE = 1
PARKED_ALERT = 10
# A receipt normally answers within seconds; the resender retries for minutes before it gives
# up (events/resend_policy.py).
UNRECEIPTED_AGE_NOTICE = timedelta(minutes=5)
UNRECEIPTED_AGE_ALERT = timedelta(minutes=30)
# Events given up on: an alarm while recent, a note afterwards (the workflows were told).
FAILED_RECENT = timedelta(hours=24)
# Silence from a peer matters only while this region waits for its receipts.
PEER_SILENT_NOTICE = timedelta(minutes=15)
PEER_SILENT_ALERT = timedelta(hours=1)
# Quarantine, counted over the last day.
QUARANTINE_WINDOW = timedelta(hours=24)
QUARANTINED_NOTICE = 1
QUARANTINED_ALERT = 100
# The trust directory must be republished before it expires (decision 0017).
DIRECTORY_LEFT_NOTICE = timedelta(days=7)
DIRECTORY_LEFT_ALERT = timedelta(days=2)
# Inbox rows a case workflow refused, and rows still waiting for the dispatcher.
UNDELIVERABLE_NOTICE = 1
UNDELIVERABLE_ALERT = 10
INBOX_WAITING_AFTER = timedelta(minutes=5)
INBOX_WAITING_NOTICE = 1
INBOX_WAITING_ALERT = 100


class Level(StrEnum):
    OK = "ok"
    NOTICE = "notice"
    ALERT = "alert"

    @property
    def label_zh(self) -> str:
        return LEVEL_LABELS[self]

    @property
    def rank(self) -> int:
        return _RANK[self]


LEVEL_LABELS: dict[Level, str] = {Level.OK: "正常", Level.NOTICE: "注意", Level.ALERT: "告警"}
_RANK = {Level.OK: 0, Level.NOTICE: 1, Level.ALERT: 2}


def worst(levels: Iterable[Level]) -> Level:
    return max(levels, key=lambda level: level.rank, default=Level.OK)


def level_at_least(value: float, notice: float, alert: float) -> Level:
    """ALERT from `alert` up, NOTICE from `notice` up, else OK (a count or an age)."""
    if value >= alert:
        return Level.ALERT
    if value >= notice:
        return Level.NOTICE
    return Level.OK


def age_level(age: timedelta | None, notice: timedelta, alert: timedelta) -> Level:
    """An age against its thresholds; no age (nothing waiting) is OK."""
    if age is None:
        return Level.OK
    return level_at_least(age.total_seconds(), notice.total_seconds(), alert.total_seconds())


def time_left_level(left: timedelta | None) -> Level:
    """The directory's time left: ALERT under DIRECTORY_LEFT_ALERT (or expired, or no expiry
    at all, which counts as expired), NOTICE under DIRECTORY_LEFT_NOTICE."""
    if left is None or left < DIRECTORY_LEFT_ALERT:
        return Level.ALERT
    if left < DIRECTORY_LEFT_NOTICE:
        return Level.NOTICE
    return Level.OK


def failed_level(failed: int, failed_recent: int) -> Level:
    if failed_recent:
        return Level.ALERT
    return Level.NOTICE if failed else Level.OK


def silence_level(unreceipted: int, silent_for: timedelta | None) -> Level:
    """A peer's silence, while this region waits for its receipts; never heard from counts as
    silent for ever."""
    if not unreceipted:
        return Level.OK
    if silent_for is None:
        return Level.ALERT
    return age_level(silent_for, PEER_SILENT_NOTICE, PEER_SILENT_ALERT)


def duration_zh(span: timedelta) -> str:
    """`45 秒`, `12 分钟`, `3 小时 5 分钟`, `2 天 4 小时`: the two largest units."""
    seconds = int(abs(span).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} 天 {hours} 小时" if hours else f"{days} 天"
    if hours:
        return f"{hours} 小时 {minutes} 分钟" if minutes else f"{hours} 小时"
    if minutes:
        return f"{minutes} 分钟"
    return f"{secs} 秒"


def window_zh(span: timedelta) -> str:
    """A counting window in whole hours: `24 小时`."""
    return f"{int(span.total_seconds() // 3600)} 小时"


Unit = Literal["count", "seconds", "version"]


class Figure(BaseModel):
    """One number on the panel: `value` is a count, seconds or a version (None: nothing to
    measure, e.g. no record ever accepted); `text_zh` is how people read it."""

    model_config = ConfigDict(frozen=True)

    key: str
    label_zh: str
    value: float | None
    unit: Unit
    text_zh: str
    level: Level

    @computed_field  # type: ignore[prop-decorator]
    @property
    def level_zh(self) -> str:
        return self.level.label_zh


def count_figure(key: str, label_zh: str, n: int, level: Level) -> Figure:
    return Figure(key=key, label_zh=label_zh, value=n, unit="count", text_zh=f"{n} 条", level=level)


def age_figure(
    key: str, label_zh: str, age: timedelta | None, level: Level, *, none_zh: str = "无"
) -> Figure:
    return Figure(
        key=key,
        label_zh=label_zh,
        value=None if age is None else age.total_seconds(),
        unit="seconds",
        text_zh=none_zh if age is None else duration_zh(age),
        level=level,
    )


class PeerHealth(BaseModel):
    """What this region waits for from one peer, and when it last heard from it."""

    model_config = ConfigDict(frozen=True)

    region: str
    name: str  # from the trust directory; 目录中无此地区 when it is not listed
    in_directory: bool
    unreceipted: Figure
    oldest_unreceipted: Figure
    failed: Figure
    last_accepted: Figure
    last_accepted_at: datetime | None

    @property
    def figures(self) -> tuple[Figure, ...]:
        return (self.unreceipted, self.oldest_unreceipted, self.failed, self.last_accepted)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def level(self) -> Level:
        return worst(f.level for f in self.figures)


class Section(BaseModel):
    model_config = ConfigDict(frozen=True)

    title_zh: str
    figures: tuple[Figure, ...]

    @property
    def level(self) -> Level:
        return worst(f.level for f in self.figures)


class ExchangeHealth(BaseModel):
    model_config = ConfigDict(frozen=True)

    region: str
    region_name: str
    checked_at: datetime
    outbox_unsent: Figure
    outbox_oldest_unsent: Figure
    outbox_parked: Figure
    peers: tuple[PeerHealth, ...]
    quarantined: Figure  # in the last QUARANTINE_WINDOW
    quarantined_by_reason: tuple[Figure, ...]  # key `quarantine.<reason>`, most first
    directory_version: int
    directory_valid_until: datetime | None
    directory_time_left: Figure  # negative seconds once expired; None without valid_until
    inbox_undeliverable: Figure
    inbox_waiting: Figure

    def sections(self) -> tuple[Section, ...]:
        """The panel as people read it, in order."""
        version = Figure(
            key="directory.version",
            label_zh="信任目录版本",
            value=self.directory_version,
            unit="version",
            text_zh=f"第 {self.directory_version} 版",
            level=Level.OK,
        )
        return (
            Section(
                title_zh="发件箱",
                figures=(self.outbox_unsent, self.outbox_oldest_unsent, self.outbox_parked),
            ),
            *(Section(title_zh=f"对端 {p.region} {p.name}", figures=p.figures) for p in self.peers),
            Section(
                title_zh=f"隔离区（近 {window_zh(QUARANTINE_WINDOW)}）",
                figures=(self.quarantined, *self.quarantined_by_reason),
            ),
            Section(title_zh="信任目录", figures=(version, self.directory_time_left)),
            Section(title_zh="收件箱", figures=(self.inbox_undeliverable, self.inbox_waiting)),
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def level(self) -> Level:
        return worst(s.level for s in self.sections())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def level_zh(self) -> str:
        return self.level.label_zh


_RECEIPT = EventType.RECEIPT.value


@dataclass(frozen=True)
class _Outgoing:
    unreceipted: int = 0
    oldest_unreceipted: datetime | None = None
    failed: int = 0
    failed_recent: int = 0


async def _outbox_by_peer(conn: Conn, failed_since: datetime) -> dict[str, _Outgoing]:
    # A business event is waiting for its receipt once it went out at least once (a resend
    # unsends it for a moment) until it is receipted, given up on or parked.
    rows = await conn.fetch(
        "SELECT recipient_region AS peer,"
        " count(*) FILTER (WHERE waiting) AS unreceipted,"
        " min(created_at) FILTER (WHERE waiting) AS oldest_unreceipted,"
        " count(*) FILTER (WHERE failed_at IS NOT NULL) AS failed,"
        " count(*) FILTER (WHERE failed_at >= $2) AS failed_recent"
        " FROM (SELECT *, receipted_at IS NULL AND failed_at IS NULL AND parked_at IS NULL"
        "   AND (attempts > 0 OR sent_at IS NOT NULL) AS waiting"
        "  FROM outbox WHERE event_type <> $1) o"
        " GROUP BY recipient_region",
        _RECEIPT,
        failed_since,
    )
    return {
        r["peer"]: _Outgoing(
            r["unreceipted"], r["oldest_unreceipted"], r["failed"], r["failed_recent"]
        )
        for r in rows
    }


async def _last_accepted(conn: Conn) -> dict[str, datetime]:
    rows = await conn.fetch(
        "SELECT sender_region, max(received_at) AS last_at FROM inbox GROUP BY sender_region"
    )
    return {r["sender_region"]: r["last_at"] for r in rows}


def _peer(
    region: str,
    directory: TrustDirectory,
    outbox: _Outgoing,
    last_at: datetime | None,
    now: datetime,
) -> PeerHealth:
    entry = directory.region(region)
    unreceipted, failed, failed_recent = outbox.unreceipted, outbox.failed, outbox.failed_recent
    oldest = outbox.oldest_unreceipted
    oldest_age = None if oldest is None else now - oldest
    age_level_ = age_level(oldest_age, UNRECEIPTED_AGE_NOTICE, UNRECEIPTED_AGE_ALERT)
    silent_for = None if last_at is None else now - last_at
    recent = window_zh(FAILED_RECENT)
    prefix = f"peer.{region}"
    return PeerHealth(
        region=region,
        name=entry.name if entry else "目录中无此地区",
        in_directory=entry is not None,
        unreceipted=count_figure(f"{prefix}.unreceipted", "未回执事件", unreceipted, age_level_),
        oldest_unreceipted=age_figure(
            f"{prefix}.oldest_unreceipted", "最久未回执", oldest_age, age_level_
        ),
        failed=count_figure(
            f"{prefix}.failed", "放弃重发的事件", failed, failed_level(failed, failed_recent)
        ).model_copy(
            update={"text_zh": f"{failed} 条（近 {recent} {failed_recent} 条）"} if failed else {}
        ),
        last_accepted=age_figure(
            f"{prefix}.last_accepted",
            "距上次收到记录",
            silent_for,
            silence_level(unreceipted, silent_for),
            none_zh="从未收到",
        ),
        last_accepted_at=last_at,
    )


async def exchange_health(
    conn: Conn, region: str, directory: TrustDirectory, now: datetime
) -> ExchangeHealth:
    """The panel for `region`, read on its database at `now` (aware). `directory` is the one
    the region's node holds in force (`RegionCredentials.directory()`). The outbox backlog is
    measured as the node's gauges measure it (against the database clock)."""
    unsent, oldest_unsent_s = await PostgresOutbox(conn).backlog()
    oldest_unsent = timedelta(seconds=oldest_unsent_s) if unsent else None
    parked = await parked_count(conn)

    by_peer = await _outbox_by_peer(conn, now - FAILED_RECENT)
    heard = await _last_accepted(conn)
    peer_codes = {r.code for r in directory.regions} | set(by_peer) | set(heard)
    peers = tuple(
        _peer(code, directory, by_peer.get(code, _Outgoing()), heard.get(code), now)
        for code in sorted(peer_codes - {region})
    )

    reasons: dict[str, int] = {}
    for row in await refused_by_sender(conn, now - QUARANTINE_WINDOW):
        reasons[row["reason"]] = reasons.get(row["reason"], 0) + int(row["records"])
    quarantined = sum(reasons.values())

    left = None if directory.valid_until is None else directory.valid_until - now
    if left is None:
        left_text = "未设有效期（视为已过期）"
    elif left <= timedelta(0):
        left_text = f"已过期 {duration_zh(left)}"
    else:
        left_text = f"剩余 {duration_zh(left)}"

    undeliverable = int(
        await conn.fetchval("SELECT count(*) FROM inbox WHERE undeliverable_at IS NOT NULL")
    )
    waiting = int(
        await conn.fetchval(
            "SELECT count(*) FROM inbox WHERE delivered_at IS NULL AND undeliverable_at IS NULL"
            " AND received_at < $1",
            now - INBOX_WAITING_AFTER,
        )
    )
    own = directory.region(region)
    return ExchangeHealth(
        region=region,
        region_name=own.name if own else region,
        checked_at=now,
        outbox_unsent=count_figure(
            "outbox.unsent",
            "待发送",
            unsent,
            level_at_least(unsent, OUTBOX_UNSENT_NOTICE, OUTBOX_UNSENT_ALERT),
        ),
        outbox_oldest_unsent=age_figure(
            "outbox.oldest_unsent",
            "最久待发送",
            oldest_unsent,
            age_level(oldest_unsent, OUTBOX_LAG_NOTICE, OUTBOX_LAG_ALERT),
        ),
        outbox_parked=count_figure(
            "outbox.parked",
            "已搁置（过大无法发送）",
            parked,
            level_at_least(parked, PARKED_NOTICE, PARKED_ALERT),
        ),
        peers=peers,
        quarantined=count_figure(
            "quarantine.total",
            "隔离记录",
            quarantined,
            level_at_least(quarantined, QUARANTINED_NOTICE, QUARANTINED_ALERT),
        ),
        quarantined_by_reason=tuple(
            count_figure(
                f"quarantine.{reason}",
                reject_reason_label(reason),
                n,
                level_at_least(n, QUARANTINED_NOTICE, QUARANTINED_ALERT),
            )
            for reason, n in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
        ),
        directory_version=directory.version,
        directory_valid_until=directory.valid_until,
        directory_time_left=Figure(
            key="directory.time_left",
            label_zh="信任目录有效期",
            value=None if left is None else left.total_seconds(),
            unit="seconds",
            text_zh=left_text,
            level=time_left_level(left),
        ),
        inbox_undeliverable=count_figure(
            "inbox.undeliverable",
            "无法交付案件流程",
            undeliverable,
            level_at_least(undeliverable, UNDELIVERABLE_NOTICE, UNDELIVERABLE_ALERT),
        ),
        inbox_waiting=count_figure(
            "inbox.waiting",
            f"待交付超过 {duration_zh(INBOX_WAITING_AFTER)}",
            waiting,
            level_at_least(waiting, INBOX_WAITING_NOTICE, INBOX_WAITING_ALERT),
        ),
    )
