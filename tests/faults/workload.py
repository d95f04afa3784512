"""The mixed workload: which cases a fault run submits and where each must end.

Items come from the test catalog (tests/catalog/), their automatic policies from
`tests.integration.lifecycle.TEST_POLICIES`; the runner takes the manual steps through the
window API. Timings are short, but the timeouts that would turn a slow answer into a
business outcome (transfer failed, 补正 not provided) are long enough to outlast any fault
injected here: a fault may delay a case, never change how it ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deploy.stack.settings import StackSettings
from tests.integration.exchange_support import credentials
from tests.integration.lifecycle import (
    FAST,
    T_B_DECIDES,
    T_B_DECIDES_FEE,
    T_DENY,
    T_FEE,
    T_MANUAL,
    T_NOT_ACCEPT,
    TEST_CATALOG_DIR,
    TEST_POLICIES,
)
from tests.support.effect_receiver import ReceiverProcess, spawn_receiver
from workflows.lifecycle.intake import Status as A
from workflows.lifecycle.processing import Status as B

# 跨省 pair, 省内 pair of cities, and a region party to none of their cases.
CROSS = ("350000", "440000")
INTRA = ("350100", "350200")
OUTSIDER = "110000"
REGIONS = (*CROSS, *INTRA, OUTSIDER)

TIMINGS = FAST.model_copy(
    update={
        "answer_timeout": timedelta(minutes=5),
        "supplement_timeout": timedelta(minutes=5),
        "cancel_timeout": timedelta(minutes=5),
        "delivery_wait": timedelta(minutes=5),
        "working_day": timedelta(minutes=1),  # no deadline warning within a run
        # 补正 due in 10 min: a clerk cannot give a 补正 while A's node is down and coming
        # back, and at FAST's 1 working day the case was deemed withdrawn (视为撤回) before
        # the restarted node could take it (CI, kill -9 of A's node).
        "supplement_working_days": 10,
    }
)
POLICIES = TEST_POLICIES.model_copy(update={"timings": TIMINGS, "item_timings": {}})
# Resends start 2 s after a send goes unreceipted; 12 sends at ×1.5 span ~5 min, so a
# region down for tens of seconds is resent to, and reached, long before A gives up.
RECEIPT_TIMEOUT_S = 2.0
# Every node's effects go to one real HTTP receiver (tests/support/effect_receiver.py) that keeps
# its own records: the invariants compare what it did with what each outcome requires. Attempts
# enough to outlast any fault here (backoff up to a minute): no effect turns dead in a run.
EFFECT_RECEIVER_PORT = 18790
EFFECT_ROUTING = {
    "adapters": {
        "hall": {
            "kind": "webhook",
            "url": f"http://127.0.0.1:{EFFECT_RECEIVER_PORT}/hall",
            "timeout_s": 5,
            "max_attempts": 30,
        }
    },
    "default": "hall",
}
NODE_ENV = {
    "TONGBAN_NODE_EFFECTS": json.dumps(EFFECT_ROUTING),
    "TONGBAN_NODE_POLICIES": POLICIES.model_dump_json(),
    "TONGBAN_NODE_CATALOG_DIR": str(TEST_CATALOG_DIR),
    "TONGBAN_NODE_RECEIPT_TIMEOUT_S": str(RECEIPT_TIMEOUT_S),
    "TONGBAN_NODE_RESEND_BACKOFF": "1.5",
    "TONGBAN_NODE_MAX_SEND_ATTEMPTS": "12",
    # A node started again after kill -9 gets its partitions back once the broker drops
    # the dead consumer; the broker's floor is 6 s.
    "TONGBAN_NODE_KAFKA_SESSION_TIMEOUT_MS": "6000",
}


@dataclass(frozen=True)
class Scenario:
    """One kind of case: what is submitted and the terminal state it must reach."""

    name: str
    item_code: str
    fee_fen: int
    materials: tuple[str, ...]
    origin_status: str  # cases.status in the accepting region at the end
    refunded: bool  # the fee (if any) comes back exactly once
    # What the accepting region's systems must have done, once each, by the case's end: the
    # effects its lifecycle orders on this path (docs/lifecycle.md).
    origin_effects: tuple[str, ...] = ()
    # cases.status in the processing region at the end: closed after a decision or a refusal,
    # a withdrawal's own ending after one.
    processing_status: str = B.CLOSED.value


_TAKEN = ("take-materials", "issue-receipt")
_UNDONE = ("void-receipt", "return-materials", "notify-applicant")
_NOTIFY = "notify-applicant"
APPROVED = Scenario(
    "approved", T_FEE, 2500, ("身份证",), A.CLOSED, refunded=False,
    origin_effects=(*_TAKEN, "charge-fee", _NOTIFY),
)  # fmt: skip
NOT_ACCEPTED = Scenario(
    "not-accepted", T_NOT_ACCEPT, 1000, (), A.CLOSED_REJECTED, refunded=True,
    origin_effects=(*_TAKEN, "charge-fee", "refund-fee", *_UNDONE),
)  # fmt: skip
DENIED = Scenario(
    "denied", T_DENY, 500, (), A.CLOSED_REJECTED, refunded=True,
    origin_effects=(*_TAKEN, "charge-fee", "refund-fee", *_UNDONE),
)  # fmt: skip
# Every step by a person: 补正 at the window, then B accepts and approves, A delivers by mail.
WINDOW_SUPPLEMENT = Scenario(
    "window-supplement", T_MANUAL, 0, (), A.CLOSED, refunded=False,
    origin_effects=("take-materials", _NOTIFY, "issue-supplement-notice", "issue-receipt", _NOTIFY),
)  # fmt: skip
# B asks for 补正 across the regions, A provides it, B approves; a fee is charged.
B_SUPPLEMENT = Scenario(
    "b-supplement", T_B_DECIDES_FEE, 800, (), A.CLOSED, refunded=False,
    origin_effects=(*_TAKEN, "charge-fee", _NOTIFY, _NOTIFY),
)  # fmt: skip
WITHDRAWN = Scenario(
    "withdrawn", T_B_DECIDES, 0, (), A.CLOSED_WITHDRAWN, refunded=False,
    origin_effects=(*_TAKEN, *_UNDONE), processing_status=B.CLOSED_WITHDRAWN.value,
)  # fmt: skip

MIX = (APPROVED, NOT_ACCEPTED, DENIED, WINDOW_SUPPLEMENT, B_SUPPLEMENT, WITHDRAWN)
# The 省内 pair gets a smaller share: the suite's budget is per fault, not per pair.
INTRA_MIX = (APPROVED, DENIED, B_SUPPLEMENT)
# Each fault test drives this many rounds of the mix: 6 × (6 跨省 + 3 省内) = 54 cases, enough
# that the fault lands among cases in every phase and a 1-in-50 defect shows in CI.
FAULT_ROUNDS = 6


def standard_batch(rounds: int = FAULT_ROUNDS) -> list[tuple[Scenario, str, str]]:
    """(scenario, origin, processing) for one fault run, the pairs' cases interleaved so
    every phase of both pairs is under way when the fault lands."""
    one_round = [(s, *CROSS) for s in MIX] + [(s, *INTRA) for s in INTRA_MIX]
    return one_round * rounds


def effect_store(settings: StackSettings) -> Path:
    """Where the fault suite's effect receiver keeps its records (read by the invariants)."""
    return settings.state_dir / "fault-effects" / "records.db"


def spawn_effect_receiver(settings: StackSettings) -> ReceiverProcess:
    """The service hall's systems for every region of the suite, on EFFECT_RECEIVER_PORT, with
    fresh records; verifying each region's webhooks with its key from the trust directory."""
    store = effect_store(settings)
    store.parent.mkdir(parents=True, exist_ok=True)
    for old in store.parent.glob(f"{store.name}*"):
        old.unlink()
    now = datetime.now(UTC)
    keys = {r: credentials(settings, r).signer(now).private_key.public_key() for r in REGIONS}
    return spawn_receiver(store, public_key=keys, port=EFFECT_RECEIVER_PORT)
