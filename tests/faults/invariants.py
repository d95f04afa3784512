"""The one checker every fault test and the soak run end with.

Nothing lost: every case at its expected terminal state in both regions, the two ends a
pair of the lifecycle's table (workflows/lifecycle/pairs.py), the outbox drained
(every row sent, every business event receipted, none given up on). Nothing twice: one
workflow per case on each side, no effect issued twice. History intact: both message logs'
hash chains and signatures verify. Outsiders: nothing from a region that is party to no case
was stored as a genuine event.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import cast

import asyncpg
from temporalio.client import Client

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from events.audit import audit_message_log
from events.models import EventType
from regions.naming import intake_workflow_id, processing_workflow_id
from tests.faults.runner import Case
from tests.faults.workload import effect_store
from tests.integration.exchange_support import credentials
from tests.support.effect_receiver import ReceiverStore
from tests.waiting import NeverHappened, eventually
from workflows.lifecycle import intake
from workflows.lifecycle.pairs import agree
from workflows.models import CaseOutcome

RECEIPT = EventType.RECEIPT.value


@dataclass
class Findings:
    cases: int
    lost: set[str] = field(default_factory=set)  # never reached their terminal state, or an
    # event of theirs was never delivered
    duplicated: set[str] = field(default_factory=set)  # a second workflow or a repeated effect
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lose(self, case_no: str, problem: str) -> None:
        self.lost.add(case_no)
        self.problems.append(f"{case_no}: {problem}")

    def duplicate(self, case_no: str, problem: str) -> None:
        self.duplicated.add(case_no)
        self.problems.append(f"{case_no}: {problem}")


@dataclass(frozen=True)
class Outsider:
    """Records an outsider produced: (region it was sent to, partition, offset) → reason."""

    region: str
    expected: dict[tuple[str, int, int], str]


async def _status(conn: asyncpg.Connection, case_no: str) -> str | None:
    value = await conn.fetchval("SELECT status FROM cases WHERE case_no = $1", case_no)
    return str(value) if value is not None else None


async def workflow_end(client: Client, workflow_id: str) -> CaseOutcome:
    """The workflow's own end (its result, across continue-as-new)."""
    end = await client.get_workflow_handle(workflow_id, result_type=CaseOutcome).result()
    return cast(CaseOutcome, end)


async def _check_pair(case: Case, clients: dict[str, Client], f: Findings) -> None:
    no = case.case_no
    a = await workflow_end(clients[case.origin], intake_workflow_id(no))
    b = await workflow_end(clients[case.processing], processing_workflow_id(no))
    a_phase = intake.Phase(a.status) if a.status in set(intake.Phase) else None
    if a_phase is None or not agree(a_phase, a.outcome, b.outcome):
        f.lose(no, f"the two ends disagree: A {a.status}/{a.outcome}, B {b.status}/{b.outcome}")


async def _check_case(
    case: Case,
    conns: dict[str, asyncpg.Connection],
    clients: dict[str, Client],
    f: Findings,
    systems: ReceiverStore | None = None,
) -> None:
    no, s = case.case_no, case.scenario
    ends = ((case.origin, s.origin_status), (case.processing, s.processing_status))
    for region, expected in ends:
        got = await _status(conns[region], no)
        if got != expected:
            f.lose(no, f"{s.name}: {region} status {got}, expected {expected}")
        found = (await clients[region].count_workflows(f"CaseNo = '{no}'")).count
        if found != 1:
            (f.lose if found == 0 else f.duplicate)(no, f"{found} workflows in {region}")
    if no not in f.lost:
        await _check_pair(case, clients, f)
    await check_exchange(no, (case.origin, case.processing), conns, f)
    fees = Counter(
        r["effect"]
        for r in await conns[case.origin].fetch(
            "SELECT effect FROM effect_orders WHERE case_no = $1 AND effect LIKE '%-fee'", no
        )
    )
    expected_fees = Counter(
        {"charge-fee": 1, "refund-fee": 1 if s.refunded else 0} if s.fee_fen else {}
    )
    if +fees != +expected_fees:
        target = f.duplicate if any(fees[k] > expected_fees[k] for k in fees) else f.lose
        target(no, f"{s.name}: fee effects {dict(fees)}, expected {dict(+expected_fees)}")
    if systems is not None and no not in f.lost:
        _check_effects_done(case, systems, f)


async def check_exchange(
    no: str, regions: tuple[str, ...], conns: dict[str, asyncpg.Connection], f: Findings
) -> None:
    """In each region a case runs in: no effect ordered twice, every event sent and every
    business event receipted, every inbox row delivered."""
    for region in regions:
        journal = await conns[region].fetch(
            "SELECT effect, amount_fen, detail FROM effect_orders WHERE case_no = $1", no
        )
        repeated = [k for k, n in Counter(tuple(r) for r in journal).items() if n > 1]
        if repeated:
            f.duplicate(no, f"effects issued twice in {region}: {repeated}")
        outbox = await conns[region].fetch(
            "SELECT event_id, event_type, sent_at, receipted_at, failed_at FROM outbox"
            " WHERE case_no = $1",
            no,
        )
        for row in outbox:
            business = row["event_type"] != RECEIPT
            if row["sent_at"] is None or row["failed_at"] is not None:
                f.lose(no, f"{region} {row['event_type']} {row['event_id'][:8]} not sent")
            elif business and row["receipted_at"] is None:
                f.lose(no, f"{region} {row['event_type']} {row['event_id'][:8]} not receipted")
        undelivered = await conns[region].fetchval(
            "SELECT count(*) FROM inbox WHERE case_no = $1 AND delivered_at IS NULL"
            " AND delivery_note IS NULL",
            no,
        )
        if undelivered:
            f.lose(no, f"{undelivered} inbox rows never delivered in {region}")


def _check_effects_done(case: Case, systems: ReceiverStore, f: Findings) -> None:
    """The accepting region's systems did exactly what the case's outcome requires, each once
    (their own records, not the node's)."""
    no, s = case.case_no, case.scenario
    mine = {
        a.idempotency_key for a in systems.records() if a.case_no == no and a.region == case.origin
    }
    done = [e for e in systems.effects_for(no) if e.idempotency_key in mine]
    twice = [k for k, n in Counter(e.idempotency_key for e in done).items() if n > 1]
    if twice:
        f.duplicate(no, f"{case.origin}'s systems did {twice} twice")
    got, expected = Counter(e.effect for e in done), Counter(s.origin_effects)
    if got != expected:
        target = f.duplicate if any(got[k] > expected[k] for k in got) else f.lose
        target(no, f"{s.name}: {case.origin}'s systems did {dict(got)}, expected {dict(expected)}")


async def _check_region(
    region: str, conn: asyncpg.Connection, settings: StackSettings, f: Findings
) -> None:
    directory = credentials(settings, region).directory()
    report = await audit_message_log(conn, directory, region)
    if report.first_break is not None:
        f.problems.append(
            f"message log of {region} broken at seq {report.first_break.seq}:"
            f" {report.first_break.problem}"
        )


async def _check_outsider(
    outsider: Outsider, case_nos: list[str], conns: dict[str, asyncpg.Connection], f: Findings
) -> None:
    for region, conn in conns.items():
        # This run's cases only: the outsider's node may have answered, as it should, events
        # that earlier tests addressed to it about cases of their own.
        applied = await conn.fetchval(
            "SELECT count(*) FROM inbox WHERE sender_region = $1 AND case_no = ANY($2::text[])",
            outsider.region,
            case_nos,
        )
        if applied:
            f.problems.append(f"{applied} events from {outsider.region} stored in {region}'s inbox")
    for (region, partition, offset), reason in outsider.expected.items():
        got = await conns[region].fetchval(
            "SELECT reason FROM quarantine WHERE topic = $1 AND kafka_partition = $2"
            " AND kafka_offset = $3",
            f"tongban.inbox.{region}",
            partition,
            offset,
        )
        if got != reason:
            f.problems.append(
                f"{outsider.region}'s record at {region} {partition}/{offset}: quarantine"
                f" reason {got}, expected {reason}"
            )


async def check_once(
    cases: list[Case],
    stack: StackEndpoints,
    settings: StackSettings,
    clients: dict[str, Client],
    outsider: Outsider | None = None,
) -> Findings:
    regions = sorted({r for c in cases for r in (c.origin, c.processing)})
    if outsider is not None:
        regions = sorted({*regions, *(r for r, _, _ in outsider.expected)})
    conns = {r: await asyncpg.connect(region_dsn(stack.postgres_dsn, r)) for r in regions}
    records = effect_store(settings)
    systems = ReceiverStore(records) if records.exists() else None
    try:
        f = Findings(cases=len(cases))
        for case in cases:
            await _check_case(case, conns, clients, f, systems)
        for region in regions:
            await _check_region(region, conns[region], settings, f)
        if outsider is not None:
            await _check_outsider(outsider, [c.case_no for c in cases], conns, f)
        return f
    finally:
        if systems is not None:
            systems.close()
        for conn in conns.values():
            await conn.close()


# The last receipts of a case may still be in flight when the runner sees it closed.
SETTLE_S = 60.0


async def check(
    cases: list[Case],
    stack: StackEndpoints,
    settings: StackSettings,
    clients: dict[str, Client],
    outsider: Outsider | None = None,
    *,
    settle_s: float = SETTLE_S,
) -> Findings:
    """Check until every invariant holds or `settle_s` passed: the last receipts of a case
    may still be in flight when the runner sees it closed. Returns the last findings."""
    try:
        return await eventually(
            lambda: check_once(cases, stack, settings, clients, outsider),
            until=lambda f: f.ok,
            timeout=settle_s,
            every=1.0,
            what="every invariant to hold",
        )
    except NeverHappened as never:
        return cast(Findings, never.last)
