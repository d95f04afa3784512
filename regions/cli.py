"""`tongban`: the command line for windows, processing offices, operators and node engineers.

Every sub-app's module imports lightly (typer, the standard library, small models): the
heavy ones (Temporal, Kafka, FastAPI, the database driver, PDF signing) load inside the
commands that use them, so `tongban --help` and a window step start quickly (issue 24; a
unit test holds `import regions.cli` to it). Failures a person can fix are one line on
stderr with a documented exit code (regions/cli_errors.py); tracebacks only with --debug.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated, Any, NoReturn

import typer
from typer._click.core import Context as ClickContext
from typer.core import TyperGroup

from bench.cli import app as bench_app
from catalog.cli import app as catalog_app
from deploy.stack.cli import app as stack_app
from operators.audit_cli import app as audit_app
from operators.case_cli import app as case_app
from operators.effects_cli import app as effects_app
from operators.health_cli import app as health_app
from operators.outbox_cli import app as outbox_app
from operators.quarantine_cli import app as quarantine_app
from operators.ratings_cli import app as ratings_app
from operators.settlement_cli import app as settlement_app
from regions.cli_errors import EXIT_CODES_HELP, UNEXPECTED, USAGE, explain, one_line
from regions.documents_cli import app as documents_app
from regions.evidence_cli import app as evidence_app
from regions.keys_cli import app as keys_app
from regions.office_cli import app as office_app
from regions.region_context import HOST_LOG_FORMAT, tag_log_handlers
from regions.regions_cli import app as regions_app
from regions.tokens_cli import app as tokens_app
from regions.window_cli import app as window_app

log = logging.getLogger("tongban")


class _OneLineFailures(TyperGroup):
    """The one place a command's failure becomes what a person reads: every sub-command runs
    inside this group's invoke, so its exceptions pass through here."""

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except typer.TyperException as exc:  # click's: a bad option value, or a command's
            if ctx.params.get("debug") or type(exc).__name__ == "NoArgsIsHelpError":
                raise  # typer answers a bare group with its help
            usage = getattr(exc, "ctx", None)
            hint = f" (see {usage.command_path} --help)" if usage is not None else ""
            _fail(f"{exc.format_message()}{hint}", exc.exit_code)
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            explained = explain(exc)
            if explained is None:
                _fail("unexpected error (run with --debug for details)", UNEXPECTED)
            message, code = explained
            _fail(message, code)


def _fail(message: str, exit_code: int = USAGE) -> NoReturn:
    typer.secho(f"error: {one_line(message)}", err=True, fg="red")
    raise typer.Exit(exit_code)


app = typer.Typer(
    cls=_OneLineFailures,
    name="tongban",
    no_args_is_help=True,
    help=f"tongban: 跨省通办 cross-region case orchestration. {EXIT_CODES_HELP}",
)
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
app.add_typer(ratings_app, name="ratings")
app.add_typer(health_app, name="health")
app.add_typer(evidence_app, name="evidence")


@app.callback()
def root(
    debug: bool = typer.Option(
        False, "--debug", help="Show the traceback of a failure instead of one line."
    ),
) -> None:
    """The command line's global options."""


@node_app.command("run")
def node_run(
    region: Annotated[
        list[str],
        typer.Option(
            help="GB/T 2260 code of this node's region; repeat it to host several regions in"
            " this one process (decision 0047: for a hosting centre or a test bed)",
        ),
    ],
) -> None:
    """Run the region's Temporal worker, inbox bridge and outbox relay until SIGTERM/SIGINT.
    One full node per region on a machine: a second one, or an API port that is taken, is
    refused before the node connects to anything (exit 1). With several --region, each region
    runs all of its own parts in this process; one that fails stops them all (non-zero exit)."""
    from deploy.stack.settings import StackSettings
    from regions.local import local_node_settings
    from regions.node_lock import NodeCannotStart

    hosted = len(region) > 1
    logging.basicConfig(
        level=logging.INFO,
        format=HOST_LOG_FORMAT if hosted else "%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if hosted:
        tag_log_handlers()
    stack = StackSettings()
    settings = [local_node_settings(code, stack) for code in region]

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if hosted:
            from regions.node_host import run_regions

            await run_regions(settings, stop, lock_dir=stack.state_dir / "nodes")
        else:
            from regions.node import run_node

            await run_node(settings[0], stop, lock_dir=stack.state_dir / "nodes")

    try:
        asyncio.run(main())
    except NodeCannotStart:
        raise  # one line, exit 1
    except Exception as exc:
        if explain(exc) is None:
            # A node's log is for its engineers: a node that fails on a defect keeps the
            # traceback there (what a person can fix is one line, as everywhere).
            log.exception("node %s stopped on an error", "+".join(region))
        raise


def _refuse_running_nodes(regions: tuple[str, ...]) -> None:
    """`tongban demo` starts its own nodes: refuse when one of its regions already has one."""
    from deploy.stack.settings import StackSettings
    from regions.node_lock import NodeAlreadyRunning, lock_path, running_node

    lock_dir = StackSettings().state_dir / "nodes"
    for region in regions:
        pid = running_node(lock_dir, region)
        if pid is not None:
            raise NodeAlreadyRunning(region, pid, lock_path(lock_dir, region))


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
    from regions.demo import ORIGIN, PROCESSING, run_demo

    _refuse_running_nodes((ORIGIN, PROCESSING))
    raise typer.Exit(
        asyncio.run(
            run_demo(timeout=timeout, decision=decision, manual=manual, api_port_base=api_port_base)
        )
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
