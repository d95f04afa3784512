"""A generated month of 好差评 (issue 21): `python -m bench.ratings_month`.

1,000 cases 福建 (350000) → 广东 (440000) in December 2026, each rated at 收件 (A's window or
platform) and most at 办结 (B's processing), written with the ratings store into a scratch
database `tongban_ratings_month` on the local stack's Postgres (migrations applied, the table
emptied first). Levels are drawn from a seeded distribution per item and per window, so the
month is the same on every run; 差评 get deadlines from the follow-up's own deadline function
and an outcome drawn likewise (answered on time, late after escalation, still open, set aside).
The ratings do not pass through the API or the exchange: this exercises the report, not the
rating path (tests/integration/test_ratings.py does that).

Writes docs/ratings-month.md (both regions' reports as `tongban ratings report` prints them)
and docs/img/ratings-levels-by-item.png (B's 办结 ratings: levels by item).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import asyncpg

from deploy.stack.migrations import apply_migrations
from deploy.stack.settings import StackSettings, load_endpoints, region_dsn
from events.ratings import LEVEL_LABELS, FollowUpStart, Level, RatedStep, rating_id
from events.stores import ratings as store
from operators.ratings_report import RatingsReport
from regions.beijing_time import BEIJING
from regions.rating_rules import RatingRules
from workflows.ratings import follow_up_due

A, B = "350000", "440000"
CASES = 1_000
SEED = 21
FIRST, LAST = date(2026, 12, 1), date(2026, 12, 31)
ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "ratings-month.md"
CHART = ROOT / "docs" / "img" / "ratings-levels-by-item.png"
FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")  # Debian fonts-wqy-zenhei

# Weights of 非常满意 … 非常不满意 for B's processing of each item: most items do well, two
# (the slow ones) draw more 差评, so the chart has something to show.
ITEMS: dict[str, tuple[int, int, int, int, int]] = {
    "GG-00102-000": (70, 20, 6, 3, 1),
    "GG-00105-000": (75, 18, 5, 1, 1),
    "GG-00301-000": (60, 25, 9, 4, 2),
    "GG-00401-000": (45, 25, 14, 10, 6),  # 住房公积金转移接续
    "GG-00201-001": (50, 26, 12, 8, 4),  # 养老保险关系转移接续
    "QR-00101-001": (65, 22, 8, 3, 2),
}
# A's reception, by window; 网上办事 is the online platform.
WINDOWS: dict[str, tuple[int, int, int, int, int]] = {
    "fz-01": (72, 20, 5, 2, 1),
    "fz-02": (68, 22, 6, 3, 1),
    "fz-03": (55, 25, 10, 7, 3),
    "网上办事": (66, 20, 8, 4, 2),
}
LEVELS = tuple(Level)  # 5 … 1
RULES = RatingRules()


@dataclass(frozen=True)
class Outcome:
    answered_late: bool = False
    still_open: bool = False
    set_aside: bool = False


def _outcome(draw: random.Random) -> Outcome:
    roll = draw.random()
    if roll < 0.03:
        return Outcome(set_aside=True)
    if roll < 0.13:
        return Outcome(answered_late=True)
    if roll < 0.18:
        return Outcome(still_open=True)
    return Outcome()


def _moment(draw: random.Random, day: date) -> datetime:
    at = time(draw.randint(9, 16), draw.randint(0, 59), draw.randint(0, 59))
    return datetime.combine(day, at, BEIJING).astimezone(UTC)


async def _scratch(server_dsn: str) -> str:
    conn = await asyncpg.connect(server_dsn)
    try:
        name = "tongban_ratings_month"
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')  # a constant, not input
    finally:
        await conn.close()
    dsn = region_dsn(server_dsn, "ratings_month")
    await apply_migrations(dsn, StackSettings().migrations_dir)
    return dsn


async def _follow_up(
    conn: asyncpg.Connection, record: store.RatingRecord, draw: random.Random
) -> None:
    start = FollowUpStart(
        rating_id=record.rating_id,
        case_no=record.case_no,
        region=record.responsible_region,
        origin_region=A,
        level=Level(record.level),
        revisit_working_days=RULES.revisit_working_days,
        rectify_working_days=RULES.rectify_working_days,
    )
    due = follow_up_due(start, record.rated_at)
    await store.set_due(conn, record.rating_id, due["revisit"], due["rectify"])
    outcome = _outcome(draw)
    if outcome.set_aside:
        await conn.execute(
            "UPDATE ratings SET set_aside_at = rated_at + interval '2 days',"
            " set_aside_by = '生成数据' WHERE rating_id = $1",
            record.rating_id,
        )
        return
    if outcome.still_open:
        return
    revisited = record.rated_at + timedelta(days=draw.randint(0, 3))
    span = (due["rectify"] - record.rated_at).total_seconds()
    fraction = draw.uniform(1.05, 1.4) if outcome.answered_late else draw.uniform(0.2, 0.9)
    rectified = record.rated_at + timedelta(seconds=span * fraction)
    if outcome.answered_late:
        await store.add_escalation(conn, record.rating_id, "rectify")
    await conn.execute(
        "UPDATE ratings SET revisited_at = $2, rectified_at = $3, answered_at = $3,"
        " answered_on_time = $4 WHERE rating_id = $1",
        record.rating_id,
        revisited,
        rectified,
        not outcome.answered_late,
    )


async def generate(dsn: str) -> None:
    draw = random.Random(SEED)
    items = list(ITEMS)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM ratings")
        for serial in range(CASES):
            day = FIRST + timedelta(days=serial % 31)
            case_no = f"{A}-{day:%Y%m%d}-{serial:08d}"
            item = items[serial % len(items)]
            window = draw.choices(list(WINDOWS), weights=[30, 30, 20, 20])[0]
            rated = {
                RatedStep.RECEIVED: (window, WINDOWS[window], A, "A"),
                RatedStep.CONCLUDED: (window, ITEMS[item], B, "B"),
            }
            for step, (where, weights, responsible, side) in rated.items():
                if step is RatedStep.CONCLUDED and draw.random() < 0.1:
                    continue  # not every concluded case is rated
                when = day if step is RatedStep.RECEIVED else min(LAST, day + timedelta(days=3))
                record = store.RatingRecord(
                    rating_id=rating_id(case_no, step),
                    case_no=case_no,
                    step=step.value,
                    level=int(draw.choices(LEVELS, weights=weights)[0]),
                    reasons=(),
                    comment_sealed=None,
                    channel="online" if where == "网上办事" else "window",
                    window_name=where,
                    item_code=item,
                    origin_region=A,
                    processing_region=B,
                    responsible_region=responsible,
                    side=side,
                    rated_at=_moment(draw, when),
                )
                await store.add(conn, record)
                if record.level <= 2:
                    await _follow_up(conn, record, draw)
    finally:
        await conn.close()


def chart(found: RatingsReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    if FONT.is_file():
        font_manager.fontManager.addfont(str(FONT))
        plt.rcParams["font.family"] = font_manager.FontProperties(fname=str(FONT)).get_name()
    from catalog.catalog import default_catalog

    names = {item.code: item.name for item in default_catalog().items()}
    items = list(found.by_item)
    colours = ["#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"]
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=120)
    left = [0] * len(items)
    for level, colour in zip(LEVELS, colours, strict=True):
        label = LEVEL_LABELS[level]
        counts = [found.by_item[i][label] for i in items]
        ax.barh(
            [f"{names.get(i, i)}\n{i}" for i in items], counts, left=left, color=colour, label=label
        )
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("评价件数")
    ax.set_title(
        f"办结评价（办理地 {found.region}），按事项与等级，{found.since:%Y-%m}（生成数据）"
    )
    ax.legend(ncol=5, loc="lower center", bbox_to_anchor=(0.5, -0.28), frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


async def main() -> None:
    endpoints = load_endpoints(StackSettings())
    dsn = await _scratch(endpoints.postgres_dsn)
    await generate(dsn)
    from operators.ratings_cli import read_period

    now = datetime(2027, 1, 5, tzinfo=BEIJING)  # the report as of early January
    reports = {}
    for region in (A, B):
        rows, invited = await read_period(dsn, region, FIRST, LAST)
        reports[region] = RatingsReport.of(region, FIRST, LAST, rows, now, invited)
    chart(reports[B], CHART)
    body = [
        "# 好差评: a generated month",
        "",
        "`python -m bench.ratings_month` (module docstring: what is generated and how) writes",
        f"{CASES:,} cases 福建 {A} → 广东 {B} rated in December 2026 into a scratch database and",
        "prints each region's report as `tongban ratings report --region R --from 2026-12-01"
        " --to 2026-12-31` does (as of 2027-01-05). The levels are drawn, not observed: the",
        "numbers show the report, not any region's service.",
        "",
        "![levels by item](img/ratings-levels-by-item.png)",
        "",
    ]
    for region, found in reports.items():
        body += [f"## {region}", "", "```", *found.lines(), "```", ""]
    REPORT.write_text("\n".join(body), encoding="utf-8")
    print(f"wrote {REPORT.relative_to(ROOT)} and {CHART.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
