"""`tongban bench`: cross-region throughput and latency beside bare Temporal, memory, crypto.

tongban bench cases --cases 200 --json bench/out/cases.json --plot bench/out/latency.png
tongban bench cases --cases 100 --fraction 0.5 --profile bench/out/profile  # + py-spy of both nodes
tongban bench cases --cases 100 --fraction 0.5 --skip-baseline --open 10000  # issue 22 item 4
tongban bench memory --open 1000 --open 10000
tongban bench scale --workers 1 --regions 2 --regions 34 --per-process 1 --per-process 17
tongban bench crypto
tongban bench idle --regions 2 --regions 34 --seconds 60
tongban bench idle --regions 34 --per-process 1 --per-process 17 --seconds 60  # decision 0047
tongban bench files --cases 20 --mib 5
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import platform
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bench.crypto import crypto

if TYPE_CHECKING:
    from rich.console import Console

    from bench.files import FileRunResult
    from bench.pair_run import PairUnderTest
    from bench.stats import RunResult
    from bench.with_open import OpenPhase

# Heavy modules (the node, Temporal, Kafka, documents) are imported inside the commands that
# use them, so `tongban --help` and every other command start without them (issue 24).

app = typer.Typer(no_args_is_help=True, help="Benchmarks (figures, never assertions).")
app.command("crypto")(crypto)
ORIGIN, PROCESSING = "350000", "440000"


def _console() -> Console:
    from rich.console import Console

    return Console(soft_wrap=True)


@contextlib.asynccontextmanager
async def running_pair(env: dict[str, str] | None = None) -> AsyncIterator[PairUnderTest]:
    """A pair of nodes; `env` (default: every step automatic) sets their policies."""
    from bench.pair_run import AUTOMATIC_ENV, PairUnderTest
    from deploy.stack import manager
    from deploy.stack.settings import StackSettings, region_dsn
    from regions.local import ensure_local_keys, local_node_settings
    from regions.node import connect_as_node, node_services
    from regions.node_process import NodeProcess, spawn_node, wait_until_polling

    stack = StackSettings()
    endpoints = await manager.up(stack)
    ensure_local_keys(stack, stack.regions)
    log_dir = stack.state_dir / "bench-nodes"
    nodes: list[NodeProcess] = [
        spawn_node(r, log_dir, AUTOMATIC_ENV if env is None else env) for r in (ORIGIN, PROCESSING)
    ]
    try:
        clients = {
            r: await connect_as_node(local_node_settings(r, stack, endpoints))
            for r in (ORIGIN, PROCESSING)
        }
        for node in nodes:
            await wait_until_polling(clients[node.region], node)
        async with node_services(local_node_settings(ORIGIN, stack, endpoints)) as services:
            yield PairUnderTest(
                origin=ORIGIN,
                processing=PROCESSING,
                services=services,
                processing_client=clients[PROCESSING],
                dsns=tuple(region_dsn(endpoints.postgres_dsn, r) for r in (ORIGIN, PROCESSING)),
                nodes=tuple(nodes),
            )
    finally:
        for node in nodes:
            node.stop()


@dataclasses.dataclass(frozen=True)
class OpenCases:
    """`--open N`: measure again once N cases wait on the pair (`within_s`: open for no longer)."""

    count: int
    within_s: float | None
    keep: bool = False


async def _cases(
    count: int,
    fractions: list[float],
    skip_baseline: bool,
    profile: Profile | None,
    open_cases: OpenCases | None = None,
) -> tuple[list[RunResult], OpenPhase | None]:
    from bench.baseline_run import run_baseline
    from bench.cost import CostMeter, stack_pids
    from bench.memory import OPEN_BESIDE
    from bench.pair_run import AUTOMATIC_ENV, run_pair
    from bench.report import table
    from bench.with_open import measure_with_open
    from regions.naming import namespace

    console = _console()
    runs: list[RunResult] = []
    phase = None
    # With --open, B's policy leaves the open item's decision to people; the measured item's
    # steps stay automatic, as without it.
    env = {"TONGBAN_NODE_POLICIES": OPEN_BESIDE.model_dump_json()} if open_cases else AUTOMATIC_ENV
    async with running_pair(env) as pair:
        clients = {ORIGIN: pair.services.client, PROCESSING: pair.processing_client}
        meter = await CostMeter.open(
            stack_pids=stack_pids(),
            node_pids={n.region: n.process.pid for n in pair.nodes},
            namespaces=(namespace(ORIGIN), namespace(PROCESSING)),
            region_dsns=pair.dsns,
        )
        try:
            await run_pair(pair, cases=min(20, count), rate=None)  # warm-up, not reported
            ours_max = await run_pair(pair, cases=count, rate=None, meter=meter)
            runs.append(ours_max)
            console.print(table([ours_max]))
            if not skip_baseline:
                await run_baseline(clients, ORIGIN, PROCESSING, cases=min(20, count), rate=None)
                runs.append(
                    await run_baseline(
                        clients, ORIGIN, PROCESSING, cases=count, rate=None, meter=meter
                    )
                )
            for fraction in fractions:
                rate = ours_max.throughput * fraction
                runs.append(await run_pair(pair, cases=count, rate=rate, meter=meter))
                if not skip_baseline:
                    runs.append(
                        await run_baseline(
                            clients, ORIGIN, PROCESSING, cases=count, rate=rate, meter=meter
                        )
                    )
                console.print(table(runs[-2:] if not skip_baseline else runs[-1:]))
            if open_cases is not None:
                console.rule(f"opening {open_cases.count} cases that wait for B's decision")
                phase = await measure_with_open(
                    pair,
                    runs,
                    requested=open_cases.count,
                    within_s=open_cases.within_s,
                    cases=count,
                    meter=meter,
                    console=console,
                    keep_open=open_cases.keep,
                )
                console.print(table(phase.runs))
        finally:
            await meter.close()
        if profile is not None:
            await _profiled_run(pair, count, profile, console)
    return runs, phase


@dataclasses.dataclass(frozen=True)
class Profile:
    py_spy: str
    out_dir: Path
    seconds: float


async def _profiled_run(
    pair: PairUnderTest, count: int, profile: Profile, console: Console
) -> None:
    """One more max-rate run, not reported: py-spy would slow the measured ones down."""
    from bench.pair_run import run_pair
    from bench.profile import record, render, summarise

    run = asyncio.create_task(run_pair(pair, cases=count, rate=None))
    await asyncio.sleep(3)  # past the ramp-up
    outs = await asyncio.gather(
        *(
            record(
                profile.py_spy,
                n.process.pid,
                profile.seconds,
                profile.out_dir / f"node-{n.region}.txt",
            )
            for n in pair.nodes
        )
    )
    await run
    console.rule(f"py-spy, {profile.seconds:.0f} s of a max-rate run (not measured)")
    summaries = {}
    for node, out in zip(pair.nodes, outs, strict=True):
        stacks = out.read_text().splitlines()
        summaries[node.region] = dataclasses.asdict(summarise(stacks, top=40))
        console.print(render(summarise(stacks, top=15), f"node {node.region}"))
    (profile.out_dir / "summary.json").write_text(
        json.dumps(summaries, ensure_ascii=False, indent=2) + "\n"
    )


@app.command("cases")
def cases(
    count: Annotated[int, typer.Option("--cases", help="Cases per measured point")] = 200,
    fraction: Annotated[
        list[float] | None, typer.Option(help="Offered rates as fractions of the max throughput")
    ] = None,
    skip_baseline: Annotated[bool, typer.Option(help="Measure tongban only")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results as JSON")] = None,
    plot_out: Annotated[
        Path | None, typer.Option("--plot", help="Write a PNG latency plot")
    ] = None,
    profile_dir: Annotated[
        Path | None,
        typer.Option(
            "--profile", help="Also py-spy both nodes during one more max-rate run, into here"
        ),
    ] = None,
    profile_seconds: Annotated[float, typer.Option(help="How long py-spy samples")] = 20.0,
    py_spy: Annotated[
        str | None, typer.Option(help="py-spy binary (default: beside Python, or on PATH)")
    ] = None,
    open_count: Annotated[
        int,
        typer.Option(
            "--open",
            help="After the runs, open this many cases that wait for B's decision on the same"
            " nodes and run the tongban runs again beside them (issue 22 item 4)",
            min=0,
        ),
    ] = 0,
    open_seconds: Annotated[
        float | None,
        typer.Option(help="Stop opening after this many seconds (the count opened is printed)"),
    ] = None,
    keep_open: Annotated[
        bool,
        typer.Option(help="Leave the opened cases open (default: terminate them, then wait)"),
    ] = False,
) -> None:
    """Automatically approved cases 350000 → 440000 and back, beside bare Temporal;
    with --open N, again with N cases open on the same nodes."""
    from bench.profile import py_spy as find_py_spy
    from bench.ratios import open_ratio_lines
    from bench.report import (
        cost_table,
        hop_parts_table,
        paired_cpu_ratios,
        plot,
        table,
        targets,
    )

    console = _console()
    fractions = fraction or [0.25, 0.5, 0.75]
    profile = None
    if profile_dir is not None:
        binary = py_spy or find_py_spy()
        if binary is None:
            raise typer.BadParameter("py-spy not found: pass --py-spy PATH", param_hint="--profile")
        profile = Profile(binary, profile_dir, profile_seconds)
    began = time.monotonic()
    opening = OpenCases(open_count, open_seconds, keep_open) if open_count else None
    runs, phase = asyncio.run(_cases(count, fractions, skip_baseline, profile, opening))
    console.rule("all runs")
    console.print(table(runs))
    console.rule("cost per case, over each run's measured window")
    console.print(cost_table(runs))
    console.rule("where the signed hop goes: B's decision step, p50/p95/p99 ms")
    console.print(hop_parts_table(runs))
    if phase is not None:
        console.rule(f"with {phase.open_cases} open cases (the same nodes, after the runs above)")
        console.print(table(phase.runs))
        console.print(cost_table(phase.runs))
        console.print(
            f"opened {phase.opened} of {phase.requested} in {phase.seconds_to_open:.0f} s"
            f" ({phase.opening_rate:.2f}/s); node RSS MB empty {phase.rss_empty_mb},"
            f" once open {phase.rss_opened_mb}, after the runs {phase.rss_open_mb},"
            f" peak {phase.peak_rss_mb}"
        )
        console.rule("targets with open cases (printed, not asserted)")
        for line in open_ratio_lines(
            runs, phase.runs, phase.open_cases, phase.rss_empty_mb, phase.rss_open_mb
        ):
            console.print(line)
    ours_max = next(r for r in runs if r.label == "tongban" and r.offered_rate is None)
    base_max = next((r for r in runs if r.label == "baseline" and r.offered_rate is None), None)
    half = next(
        (
            r
            for r in runs
            if r.label == "tongban"
            and r.offered_rate is not None
            and abs(r.offered_rate - ours_max.throughput * 0.5) < 1e-6
        ),
        None,
    )
    if base_max is not None:
        console.rule("targets (printed, not asserted)")
        console.print(targets(ours_max, base_max, half))
    machine = platform.processor() or platform.machine()
    console.print(f"took {time.monotonic() - began:.0f} s on {platform.node()} ({machine})")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        ratios = {id(r): ratio for r, ratio in paired_cpu_ratios(runs)}
        figures = [
            {**r.to_json(), "cpu_per_case_ours_over_baseline": ratios[id(r)]}
            if id(r) in ratios
            else r.to_json()
            for r in runs
        ]
        out: Any = figures
        if phase is not None:
            out = {"empty": figures, "with_open": phase.to_json()}
        json_out.write_text(json.dumps(out, indent=2, default=str))
    if plot_out:
        plot_out.parent.mkdir(parents=True, exist_ok=True)
        plot(runs, plot_out)


@app.command("files")
def files(
    cases: Annotated[int, typer.Option(help="cases, each with its files")] = 20,
    mib: Annotated[float, typer.Option(help="MiB of files per case (three files)")] = 5.0,
    concurrency: Annotated[int, typer.Option(help="cases in flight at once")] = 4,
    json_out: Annotated[Path | None, typer.Option("--json", help="write figures here")] = None,
) -> None:
    """Cases with files: MiB/s end to end, what a chunk costs, and a sniff of every topic."""
    from bench.files import run_files
    from deploy.stack import manager
    from deploy.stack.settings import StackSettings

    console = _console()

    async def go() -> FileRunResult:
        async with running_pair() as pair:
            bootstrap = (await manager.up(StackSettings())).kafka_bootstrap
            return await run_files(pair, bootstrap, cases=cases, mib=mib, concurrency=concurrency)

    result = asyncio.run(go())
    figures = dataclasses.asdict(result)
    console.print_json(json.dumps(figures, ensure_ascii=False, default=str))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(figures, ensure_ascii=False, indent=2, default=str) + "\n")


@app.command("memory")
def memory(
    open_cases: Annotated[
        list[int] | None, typer.Option("--open", help="Open cases to hold (ascending)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results as JSON")] = None,
) -> None:
    """Hold N cases open (waiting for B's decision) and print each node's memory."""
    from bench.memory import run_memory

    console = _console()
    levels = sorted(open_cases or [1000, 10000])
    results = asyncio.run(run_memory(levels, running_pair, console))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results, indent=2))


@app.command("scale")
def scale(
    workers: Annotated[
        list[int] | None, typer.Option("--workers", help="Worker processes per region")
    ] = None,
    regions: Annotated[
        list[int] | None, typer.Option("--regions", help="Regions, cases between random pairs")
    ] = None,
    count: Annotated[int, typer.Option("--cases", help="Cases per measured point")] = 100,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results as JSON")] = None,
    per_process: Annotated[
        list[int] | None,
        typer.Option(
            "--per-process",
            help="Regions one process hosts at the region points (decision 0047); repeat to"
            " measure several ways (default 1: a process per region)",
            min=1,
        ),
    ] = None,
) -> None:
    """Throughput and memory at 1/2/4 worker processes per region and at 2/5/34 regions
    (with --per-process K, the regions hosted K to a process); prints N regions / 2 regions.
    Given only --workers or only --regions, only those points are measured."""
    from bench.ratios import scale_points
    from bench.scaling import run_scaling

    console = _console()
    worker_points, region_counts = scale_points(workers, regions)
    results = asyncio.run(
        run_scaling(
            worker_points,
            region_counts,
            count,
            running_pair,
            console,
            per_process=per_process or [1],
        )
    )
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results, indent=2))


@app.command("idle")
def idle(
    regions: Annotated[
        list[int] | None, typer.Option("--regions", help="Idle full nodes to run (one per region)")
    ] = None,
    seconds: Annotated[float, typer.Option(help="Length of each measured window")] = 60.0,
    node_path: Annotated[
        Path | None,
        typer.Option(
            help="Run the nodes from this source tree (PYTHONPATH), e.g. an older one;"
            " run the command from that directory"
        ),
    ] = None,
    label: Annotated[str, typer.Option(help="Name of this run in the output")] = "tongban",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results as JSON")] = None,
    per_process: Annotated[
        list[int] | None,
        typer.Option(
            "--per-process",
            help="Regions one process hosts (decision 0047); repeat to measure several ways"
            " (default 1: a process per region)",
            min=1,
        ),
    ] = None,
) -> None:
    """N idle full nodes: each node's CPU (% of a core) and RSS, the stack's CPU beside it;
    with --per-process K, the N regions hosted K to a process, and their total RSS."""
    from bench.idle import run_idle

    if node_path is not None and Path.cwd().resolve() != node_path.resolve():
        # `python -m` puts the working directory before PYTHONPATH: from anywhere else the
        # nodes (and the import figures) would run the working directory's code.
        raise typer.BadParameter(f"run from {node_path}", param_hint="--node-path")
    console = _console()
    runs = asyncio.run(
        run_idle(
            regions or [2, 34],
            seconds,
            node_path=node_path,
            label=label,
            console=console,
            per_process=per_process or [1],
        )
    )
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps([r.to_json() for r in runs], indent=2) + "\n")
