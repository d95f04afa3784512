"""How the command line tells people what went wrong: one line on stderr naming what to fix,
and an exit code scripts can rely on (issue 24). Tracebacks only with `tongban --debug`.

Light on purpose: `tongban --help` imports this, so it imports no client library; the
well-known connection errors of httpx, asyncpg, Temporal and Kafka are recognised through
`sys.modules` (a library that was never imported raised nothing).
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import typer

# Exit codes, documented in `tongban --help` (EXIT_CODES_HELP) and the README.
OK = 0
REFUSED = 1  # refused or failed: the API said no, a check failed, a node could not start
USAGE = 2  # usage: a bad option value, a file that cannot be read, no token
UNREACHABLE = 3  # a service did not answer: the node's API, Postgres, Temporal, Kafka
UNEXPECTED = 70  # a defect (EX_SOFTWARE): run again with --debug for the traceback
INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 refused or failed (the API said no, a check failed, a node could"
    " not start); 2 usage (a bad option value, a file that cannot be read, no token); 3"
    " unreachable (the node's API, Postgres, Temporal or Kafka did not answer); 70 unexpected"
    " error (run again with --debug for the traceback); 130 interrupted. Some commands say"
    " more in their own help (audit verify: 2 incomplete)."
)

# Packages whose own exceptions carry a message meant for people (typed errors).
_PROJECT = (
    "activities",
    "bench",
    "catalog",
    "deploy",
    "documents",
    "effects",
    "events",
    "operators",
    "regions",
    "workflows",
)


class CliError(Exception):
    """A failure the person at the terminal can fix; its message says how."""

    exit_code = REFUSED


class Refused(CliError):
    exit_code = REFUSED


class UsageProblem(CliError):
    exit_code = USAGE


class Unreachable(CliError):
    exit_code = UNREACHABLE


def refuse(message: str, exit_code: int = REFUSED) -> NoReturn:
    """Print `message` as one line on stderr and end the command with `exit_code`."""
    typer.secho(one_line(message), err=True, fg="red")
    raise typer.Exit(exit_code)


def one_line(message: str) -> str:
    return " ".join(message.split())


def _module(name: str) -> object | None:
    return sys.modules.get(name)


def _is(exc: BaseException, module: str, *names: str) -> bool:
    found = _module(module)
    return any(
        isinstance(cls := getattr(found, name, None), type) and isinstance(exc, cls)
        for name in names
    )


def explain(exc: BaseException) -> tuple[str, int] | None:
    """One line and an exit code for a failure a person can fix; None for a defect."""
    if isinstance(exc, CliError):
        return str(exc), exc.exit_code
    if _is(exc, "httpx", "TransportError"):
        request = getattr(exc, "_request", None)
        where = f" {request.url}" if request is not None else ""
        return f"cannot reach{where}: {exc or type(exc).__name__}", UNREACHABLE
    if _is(exc, "aiokafka.errors", "KafkaConnectionError"):
        return f"cannot reach Kafka: {exc}", UNREACHABLE
    if _is(exc, "asyncpg.exceptions", "PostgresConnectionError", "CannotConnectNowError"):
        return f"cannot reach Postgres: {exc}", UNREACHABLE
    if _is(exc, "asyncpg.exceptions", "InvalidCatalogNameError", "InvalidPasswordError"):
        return f"Postgres refused the connection: {exc}", UNREACHABLE
    if _is(exc, "temporalio.service", "RPCError"):
        return f"Temporal: {exc}", UNREACHABLE
    if isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect"):
        return f"cannot reach Temporal: {exc}", UNREACHABLE  # temporalio's Client.connect
    if _is(exc, "deploy.stack.settings", "StackNotAvailableError"):
        return str(exc), UNREACHABLE  # it says to run `tongban stack up`
    if isinstance(exc, ConnectionError | TimeoutError):
        reason = exc.strerror or exc or type(exc).__name__
        return f"cannot reach {_service_of(exc)}: {reason}", UNREACHABLE
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"cannot use {exc.filename}: {exc.strerror or type(exc).__name__}", USAGE
    if _is(exc, "pydantic", "ValidationError"):
        return _invalid(exc)
    if type(exc).__module__.split(".")[0] in _PROJECT:
        return str(exc) or type(exc).__name__, REFUSED
    return None


_SERVICES = {
    "asyncpg": "Postgres",
    "aiokafka": "Kafka",
    "temporalio": "Temporal",
    "httpx": "the API",
}


def _service_of(exc: BaseException) -> str:
    """Which client library the connection error came through, as the service it reaches."""
    tb = exc.__traceback__
    named = "a service"
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0]
        named = _SERVICES.get(module, named)
        tb = tb.tb_next
    return named


def _invalid(exc: BaseException) -> tuple[str, int]:
    """Settings that do not validate: a node's settings missing what the local stack would
    give (it is not running) say so; any other value names its field."""
    errors: list[dict[str, Any]] = list(exc.errors())  # type: ignore[attr-defined]
    title = str(getattr(exc, "title", ""))
    missing = [".".join(map(str, e["loc"])) for e in errors if e.get("type") == "missing"]
    if title.endswith("NodeSettings") and missing and len(missing) == len(errors):
        return (
            f"the node's settings lack {', '.join(missing)}: start the local stack"
            " (`tongban stack up`) or set TONGBAN_NODE_* variables (or TONGBAN_NODE_CONFIG)",
            UNREACHABLE,
        )
    first = errors[0] if errors else {}
    field = ".".join(str(p) for p in first.get("loc", ())) or "value"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"invalid setting {field}: {first.get('msg', exc)}{more}", USAGE
