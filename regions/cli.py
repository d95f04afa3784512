"""`tongban`: the command line for windows, processing offices, operators and node engineers."""

from __future__ import annotations

import asyncio
import logging
import signal

import typer

from bench.cli import app as bench_app
from catalog.cli import app as catalog_app
from deploy.stack.cli import app as stack_app
from deploy.stack.settings import StackSettings
from operators.audit_cli import app as audit_app
from operators.case_cli import app as case_app
from operators.effects_cli import app as effects_app
from operators.health_cli import app as health_app
from operators.outbox_cli import app as outbox_app
from operators.quarantine_cli import app as quarantine_app
from operators.settlement_cli import app as settlement_app
from regions.documents_cli import app as documents_app
from regions.keys_cli import app as keys_app
from regions.office_cli import app as office_app
from regions.regions_cli import app as regions_app
from regions.tokens_cli import app as tokens_app
from regions.window_cli import app as window_app

app = typer.Typer(no_args_is_help=True, help="tongban: 跨省通办 cross-region case orchestration.")
node_app = typer.Typer(no_args_is_help=True, help="Run a regional node.")
app.add_typer(stack_app, name="stack", help="The local stack: Kafka, Temporal, Postgres.")
app.add_typer(node_app, name="node")
app.add_typer(keys_app, name="keys")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(outbox_app, name="outbox")
app.add_typer(audit_app, name="audit")
app.add_typer(bench_app, name="bench", help="Micro-benchmarks.")
app.add_typer(catalog_app, name="catalog")
app.add_typer(regions_app, name="regions")
app.add_typer(tokens_app, name="tokens")
app.add_typer(window_app, name="window")
app.add_typer(office_app, name="office")
app.add_typer(case_app, name="case")
app.add_typer(documents_app, name="documents")
app.add_typer(effects_app, name="effects")
app.add_typer(settlement_app, name="settlement")
app.add_typer(health_app, name="health")


@node_app.command("run")
def node_run(region: str = typer.Option(..., help="GB/T 2260 code of this node's region")) -> None:
    """Run the region's Temporal worker, inbox bridge and outbox relay until SIGTERM/SIGINT."""
    from regions.local import local_node_settings
    from regions.node import run_node

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = local_node_settings(region, StackSettings())

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_node(settings, stop)

    asyncio.run(main())


@app.command()
def demo(
    timeout: float = typer.Option(
        120.0, help="Seconds to wait for the case to close in both regions"
    ),
    decision: str = typer.Option("approve", help="B's decision: approve or deny"),
    manual: bool = typer.Option(
        False,
        "--manual",
        help="People decide (the nodes' default): the demo plays the 福建 clerk and the 广东"
        " officer through the nodes' HTTP API, printing each person's step",
    ),
    api_port_base: int | None = typer.Option(
        None,
        help="API ports: this + the region's offset (default 8000: :8001, :8002)",
    ),
) -> None:
    """Bring the stack up, start 福建 and 广东 nodes, and follow one case end to end: decided
    by the nodes' automatic policies (turned on for the demo), or with --manual by people."""
    from regions.demo import run_demo

    raise typer.Exit(
        asyncio.run(
            run_demo(timeout=timeout, decision=decision, manual=manual, api_port_base=api_port_base)
        )
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
