"""The runbook's onboarding steps (docs/runbook.md, "Onboarding a region"), exercised: 江苏
(320000) joins a running 浙江–广东 pair and processes a case from 浙江.

The pair runs on a copy of the local trust folder, so the new region's keys never land in the
shared one and the test can run again and again on the same stack. The accepting region is
浙江 (330000), which no other test uses: its message log ends up holding envelopes signed by
the new region's throwaway key, which the shared trust folder rightly does not know, so a
whole-log audit of it would fail (the fault suite audits 福建's and 广东's whole logs).
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deploy.stack import manager
from deploy.stack.cli import app as stack_app
from deploy.stack.kafka_acls import principal_name
from deploy.stack.settings import StackEndpoints, StackSettings
from events.directory_admin import DirectoryAdmin
from events.keystore import KeyStore
from regions.case_handles import processing_handle
from regions.keys_cli import app as keys_app
from regions.local import ensure_local_keys, local_node_settings, trust_dir
from regions.node import node_services
from regions.node_process import spawn_node, wait_until_polling
from regions.window import submit_case
from tests.integration.automatic import AUTOMATIC_ENV, AUTOMATIC_POLICIES
from tests.integration.pair import start_pair
from tests.support.stack_access import dev_stack_only, temporal_client

pytestmark = [
    pytest.mark.integration,
    dev_stack_only(
        "`up` for one region at a time and `join-region` against the dev stack's exchange; "
        "on the cluster `stack up --profile cluster` provisions TONGBAN_REGIONS together"
    ),
]

A, B, NEW = "330000", "440000", "320000"


def _invoke(app: object, args: list[str]) -> str:
    result = CliRunner().invoke(app, args)  # type: ignore[arg-type]
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result.output


def _private_trust_folder(stack_settings: StackSettings, tmp_path: Path) -> Path:
    ensure_local_keys(stack_settings, (A, B))
    folder = tmp_path / "trust"
    shutil.copytree(trust_dir(stack_settings), folder)
    (folder / "directory.draft.json").unlink(missing_ok=True)
    assert KeyStore(folder).directory().region(NEW) is None, "the copy must not know 江苏 yet"
    return folder


async def test_a_third_region_joins_a_running_pair(
    stack: StackEndpoints, stack_settings: StackSettings, tmp_path: Path
) -> None:
    await manager.up(stack_settings.model_copy(update={"regions": (A,)}))
    trust = _private_trust_folder(stack_settings, tmp_path)
    # Nodes inherit these; the API port base keeps this stack's nodes off other stacks' ports,
    # and below the kernel's ephemeral range (32768-60999), where an outgoing connection may
    # hold the port a node wants (CI: 38302 taken).
    env = {
        **AUTOMATIC_ENV,
        "TONGBAN_NODE_TRUST_DIR": str(trust),
        "TONGBAN_NODE_API_PORT_BASE": "18780",
    }
    async with start_pair(stack, stack_settings, A, B, env=env) as pair:
        version_before = KeyStore(trust).directory().version

        # 1. Namespace (with search attributes), inbox topic, database and schema.
        await manager.up(stack_settings.model_copy(update={"regions": (NEW,)}))
        # 2. Keys: issue into the draft, publish a new signed directory version. The running
        #    nodes are not restarted: they reload the directory when the file changes.
        _invoke(keys_app, ["issue", "--region", NEW, "--trust-dir", str(trust)])
        _invoke(keys_app, ["publish", "--trust-dir", str(trust)])
        assert KeyStore(trust).directory().version == version_before + 1
        # 3. Exchange access: principal, topic, ACLs.
        joined = await asyncio.to_thread(_invoke, stack_app, ["join-region", "--region", NEW])
        assert f"User:{principal_name(NEW)}" in joined
        assert "permissionType=DENY" in joined  # never writes to its own inbox

        # 4. The new region's node.
        node = spawn_node(NEW, pair.log_dir, env)
        try:
            client = await temporal_client(stack_settings, stack, NEW)
            await wait_until_polling(client, node, timeout=120)

            # 5. A case from the 浙江 window, processed by 江苏.
            origin = local_node_settings(A, stack_settings, stack).model_copy(
                update={"trust_dir": trust}
            )
            async with node_services(origin) as services:
                handle = await submit_case(
                    pool=services.pool,
                    client=services.client,
                    credentials=services.credentials,
                    application=pair.application(processing_region=NEW),
                    policies=AUTOMATIC_POLICIES,
                )
            outcome = await asyncio.wait_for(handle.result(), timeout=120)
            assert (outcome.status, outcome.outcome) == ("closed", "approved")
            case_no = handle.id.removeprefix("intake-")
            processing = processing_handle(client, case_no)
            b_outcome = await asyncio.wait_for(processing.result(), timeout=60)
            assert (b_outcome.status, b_outcome.outcome) == ("closed", "approved")
        finally:
            node.stop()
            # The pair's databases now hold the private folder's version as their directory
            # floor (decision 0017): the shared folder moves up to it, so the nodes of later
            # tests run on the shared directory again instead of refusing it as a rollback.
            shared = DirectoryAdmin(KeyStore(trust_dir(stack_settings)))
            while shared.store.directory().version < KeyStore(trust).directory().version:
                shared.publish(datetime.now(UTC))
