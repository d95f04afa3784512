"""How the two sides may end together: each terminal (status, outcome) of A with the terminal
outcomes of B it implies. A case in any other combination at rest is split: a defect.

`None` on B's side: B never had a workflow for the case (refused or withdrawn before it was
forwarded). A's `recall` is what makes `transfer-failed` pair with B's `cancelled` instead of
with whatever B later did on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows.lifecycle import intake


@dataclass(frozen=True)
class TerminalPair:
    a_status: intake.Phase
    a_outcome: str
    b_outcomes: tuple[str | None, ...]  # B's outcome at `closed`; None: B never had the case
    why: str


TERMINAL_PAIRS: tuple[TerminalPair, ...] = (
    TerminalPair(intake.Phase.CLOSED, "approved", ("approved",), "B approved; A delivered"),
    TerminalPair(
        intake.Phase.CLOSED_REJECTED,
        "denied",
        ("denied",),
        "B denied (also a missed 补正 after acceptance, where the item's rules refuse it); "
        "A compensated",
    ),
    TerminalPair(
        intake.Phase.CLOSED_REJECTED,
        "not-accepted",
        ("not-accepted",),
        "B did not accept (by a person or a policy; or a 补正 missed before acceptance, where "
        "the item's rules refuse it)",
    ),
    TerminalPair(
        intake.Phase.CLOSED_WITHDRAWN,
        "withdrawn",
        ("cancelled", None),
        "B cancelled on the withdrawal; or the applicant withdrew before forwarding",
    ),
    TerminalPair(
        intake.Phase.CLOSED_DEEMED_WITHDRAWN,
        "deemed-withdrawn",
        ("deemed-withdrawn", None),
        "视为撤回: a 补正 missed at B (B ended the case; also over a withdrawal or recall), or "
        "at A's window before forwarding",
    ),
    TerminalPair(
        intake.Phase.CLOSED_REJECTED,
        "transfer-failed",
        ("cancelled",),
        "A recalled (no answer in time, resends ran out) and B cancelled",
    ),
    # 多地联办 (decision 0035): the hub's own case number has no processing side; each leg is a
    # case of its own and pairs as above, or ends revoked on both sides.
    TerminalPair(
        intake.Phase.CLOSED,
        "route-approved",
        (None,),
        "every leg of the route approved and the result delivered (the hub)",
    ),
    TerminalPair(
        intake.Phase.CLOSED_REJECTED,
        "route-failed",
        (None,),
        "a leg refused; the route was unwound (the hub)",
    ),
    TerminalPair(
        intake.Phase.CLOSED_REJECTED,
        "revoked",
        ("revoked",),
        "a leg's approval revoked by its region when another leg refused",
    ),
    TerminalPair(
        intake.Phase.CLOSED_REJECTED,
        "refused-at-intake",
        (None,),
        "refused at A's window (or a 补正 missed there, where the item's rules refuse it): "
        "never forwarded",
    ),
)


def agree(a_phase: intake.Phase, a_outcome: str | None, b_outcome: str | None) -> bool:
    """True when A's end and B's end are a pair of the table. `b_outcome` is B's outcome once
    closed, None when B never had a workflow for the case."""
    return any(
        pair.a_status is a_phase and pair.a_outcome == a_outcome and b_outcome in pair.b_outcomes
        for pair in TERMINAL_PAIRS
    )
