"""Fuzz the inbound boundary for N minutes against the local stack's Postgres.

    python -m tests.fuzz --minutes 10 [--seed N] [--per-mutation]

Prints the inputs tried, the outcomes per reason, any crash with its input, and inputs/s;
exits 1 when a crash or an unexpected outcome was found. Nothing stays in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

import asyncpg

from deploy.stack.manager import up
from deploy.stack.settings import StackSettings, region_dsn
from tests.fuzz.boundary import Tally, fuzz
from tests.fuzz.world import RECEIVER, build_world

_PROGRESS_EVERY_S = 60.0


async def run(minutes: float, seed: int, per_mutation: bool) -> int:
    stack = await up(StackSettings())
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, RECEIVER))
    next_report = time.monotonic() + _PROGRESS_EVERY_S

    def progress(tally: Tally) -> None:
        nonlocal next_report
        if time.monotonic() >= next_report:
            next_report += _PROGRESS_EVERY_S
            rate = tally.tried / tally.seconds if tally.seconds else 0.0
            print(
                f"{tally.seconds / 60:5.1f} min: {tally.tried} inputs, "
                f"{len(tally.crashes)} crashes, {rate:.0f} inputs/s",
                flush=True,
            )

    print(f"fuzzing the inbox boundary of {RECEIVER} for {minutes:g} min, seed {seed}", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="tongban-fuzz-") as folder:
            world = build_world(Path(folder))
            tally = await fuzz(conn, world, seed=seed, seconds=minutes * 60, progress=progress)
    finally:
        await conn.close()
    print(tally.report(per_mutation=per_mutation))
    return 1 if tally.crashes or tally.unexpected else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one, printed")
    parser.add_argument("--per-mutation", action="store_true", help="outcomes per mutation too")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    return asyncio.run(run(args.minutes, seed, args.per_mutation))


if __name__ == "__main__":
    raise SystemExit(main())
