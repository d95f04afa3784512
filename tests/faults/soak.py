"""Soak mode (not in CI): the mixed workload for a while, faults at random intervals.

    python -m tests.faults.soak --minutes 30 [--seed N] [--batch-every 20] [--fault-every 60]

Uses the stack of the environment (`tongban stack up` semantics) and starts its own nodes,
like the fault suite. Every `--batch-every` seconds it submits a batch of the mixed workload
over both pairs; every `--fault-every` seconds on average it injects one fault, chosen at
random. At the end it drives every case to its end and prints the same invariants as the
tests; exit status 1 if any is violated.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

from deploy.stack.manager import up
from deploy.stack.settings import StackEndpoints, StackSettings
from tests.faults.injectors import kill_node, replay, restart
from tests.faults.invariants import check
from tests.faults.runner import Runner
from tests.faults.workload import (
    CROSS,
    INTRA,
    NODE_ENV,
    REGIONS,
    spawn_effect_receiver,
    standard_batch,
)
from tests.integration.api_nodes import ApiNodes, api_nodes
from tests.support.stack_access import bus_for
from tests.waiting import NeverHappened

API_PORT_BASE = 18750  # clear of the fault suite's ports: both may run on one machine


def _faults(
    api: ApiNodes,
    stack: StackEndpoints,
    settings: StackSettings,
    runner: Runner,
    rng: random.Random,
) -> dict[str, Callable[[], Awaitable[object]]]:
    return {
        "kill -9 of A's node": lambda: kill_node(api, rng.choice((CROSS[0], INTRA[0]))),
        "kill -9 of B's node": lambda: kill_node(api, rng.choice((CROSS[1], INTRA[1]))),
        "Kafka broker restart": lambda: restart(settings, "kafka"),
        "Postgres restart": lambda: restart(settings, "postgres"),
        "Temporal server restart": lambda: restart(settings, "temporal"),
        "B down for 20 s": lambda: kill_node(api, CROSS[1], down_s=20),
        "replayed records": lambda: replay(stack, bus_for(settings, stack), runner.cases, rng),
    }


async def _submit_batch(runner: Runner) -> int:
    refused = 0
    for scenario, origin, processing in standard_batch(rounds=1):
        try:
            await runner.submit(scenario, origin, processing)
        except NeverHappened:
            # The window stayed down (or answered 503) for the runner's whole retry window:
            # the clerk would tell the applicant to come back. Retries carried the same
            # Idempotency-Key, so nothing was created twice.
            refused += 1
    return refused


async def soak(minutes: float, seed: int, batch_every: float, fault_every: float) -> int:
    settings = StackSettings()
    stack = await up(settings)
    rng = random.Random(seed)
    injected: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tokens, spawn_effect_receiver(settings):
        async with api_nodes(
            stack, settings, Path(tokens), REGIONS, port_base=API_PORT_BASE, env=NODE_ENV
        ) as api:
            runner = Runner(api)
            faults = _faults(api, stack, settings, runner, rng)
            end = time.monotonic() + minutes * 60
            next_batch = time.monotonic()
            next_fault = time.monotonic() + rng.expovariate(1 / fault_every)
            refused = 0
            workload_done = asyncio.Event()
            driving = asyncio.create_task(
                runner.drive(minutes * 60 + 600, submitting=workload_done)
            )
            while time.monotonic() < end:
                now = time.monotonic()
                if now >= next_batch:
                    refused += await _submit_batch(runner)
                    next_batch = now + batch_every
                if now >= next_fault:
                    name = rng.choice(sorted(faults))
                    print(f"{time.strftime('%H:%M:%S')} fault: {name}", flush=True)
                    await faults[name]()
                    injected[name] += 1
                    next_fault = time.monotonic() + rng.expovariate(1 / fault_every)
                await asyncio.sleep(1.0)  # the schedule's tick: nothing is awaited here
            print(f"{time.strftime('%H:%M:%S')} workload stopped; driving open cases", flush=True)
            workload_done.set()
            settled = await driving
            started = time.monotonic()
            findings = await check(runner.cases, stack, settings, api.nodes.clients, settle_s=120)
            print(f"faults injected: {dict(injected)}")
            print(f"submissions refused while a window was down: {refused}")
            print(
                f"cases {findings.cases}  settled {settled}  lost {len(findings.lost)}"
                f"  duplicated {len(findings.duplicated)}"
                f"  invariants held after {time.monotonic() - started:.1f}s"
            )
            for problem in findings.problems:
                print(f"  VIOLATED {problem}")
            print("ok" if findings.ok else "FAILED")
            return 0 if findings.ok and settled else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--batch-every", type=float, default=20.0)
    parser.add_argument("--fault-every", type=float, default=60.0)
    args = parser.parse_args()
    print(f"soak: {args.minutes} min, seed {args.seed}", flush=True)
    return asyncio.run(soak(args.minutes, args.seed, args.batch_every, args.fault_every))


if __name__ == "__main__":
    raise SystemExit(main())
