"""The mixed workload: which cases a fault run submits and where each must end.

Items come from the test catalog (tests/catalog/), their automatic policies from
`tests.integration.lifecycle.TEST_POLICIES`; the runner takes the manual steps through the
window API. Timings are short, but the timeouts that would turn a slow answer into a
business outcome (transfer failed, 补正 not provided) are long enough to outlast any fault
injected here: a fault may delay a case, never change how it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

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
    }
)
POLICIES = TEST_POLICIES.model_copy(update={"timings": TIMINGS, "item_timings": {}})
# Resends start 2 s after a send goes unreceipted; 12 sends at ×1.5 span ~5 min, so a
# region down for tens of seconds is resent to, and reached, long before A gives up.
RECEIPT_TIMEOUT_S = 2.0
NODE_ENV = {
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


APPROVED = Scenario("approved", T_FEE, 2500, ("身份证",), A.CLOSED, refunded=False)
NOT_ACCEPTED = Scenario("not-accepted", T_NOT_ACCEPT, 1000, (), A.CLOSED_REJECTED, refunded=True)
DENIED = Scenario("denied", T_DENY, 500, (), A.CLOSED_REJECTED, refunded=True)
# Every step by a person: 补正 at the window, then B accepts and approves, A delivers by mail.
WINDOW_SUPPLEMENT = Scenario("window-supplement", T_MANUAL, 0, (), A.CLOSED, refunded=False)
# B asks for 补正 across the regions, A provides it, B approves; a fee is charged.
B_SUPPLEMENT = Scenario("b-supplement", T_B_DECIDES_FEE, 800, (), A.CLOSED, refunded=False)
WITHDRAWN = Scenario("withdrawn", T_B_DECIDES, 0, (), A.CLOSED_REJECTED, refunded=False)
# The processing side always ends closed (after a decision, not-accepted, or cancellation).
PROCESSING_STATUS = B.CLOSED.value

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
