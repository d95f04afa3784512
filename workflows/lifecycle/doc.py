"""docs/lifecycle.md, generated from the lifecycle models.

    python -m workflows.lifecycle.doc          # rewrite docs/lifecycle.md
    python -m workflows.lifecycle.doc --check  # exit 1 when the file differs

tests/unit/test_lifecycle_doc.py fails when the checked-in file is not what this writes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from workflows.lifecycle import intake, processing
from workflows.lifecycle.engine import Table
from workflows.lifecycle.pairs import TERMINAL_PAIRS

DOC = Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md"

# Where each trigger is exercised against the real stack (L, C, P: see the legend).
INTAKE_TESTS: dict[intake.On, str] = {
    intake.On.SUBMITTED: "L `test_automatic_approval_with_a_fee`",
    intake.On.APPLIED_ONLINE: "O `test_online_case_from_sign_in_to_electronic_delivery`",
    intake.On.REVIEW_PASSED: (
        "L `test_automatic_approval_with_a_fee`, `test_supplement_at_the_window_…`"
    ),
    intake.On.REVIEW_SUPPLEMENT: (
        "L `test_supplement_at_the_window_…`, `test_missing_mandatory_material_…`"
    ),
    intake.On.REVIEW_REFUSED: "L `test_refused_at_formal_review`",
    intake.On.SUPPLEMENT_PROVIDED: (
        "L `test_supplement_at_the_window_…`, `test_supplement_requested_by_…`, "
        "`test_window_supplement_reaches_the_processing_case_file`, "
        "`test_continue_as_new_while_the_window_waits_for_supplement`"
    ),
    intake.On.SUPPLEMENT_DUE: "L `test_missing_mandatory_material_and_no_supplement_in_time`, "
    "`test_supplement_before_acceptance_…`",
    intake.On.SUPPLEMENT_DUE_REFUSED: "U (convergence)",
    intake.On.WITHDRAW: (
        "L `test_withdrawal_before_forwarding`, `test_withdrawal_after_acceptance_…`"
    ),
    intake.On.ACCEPTED: "L `test_automatic_approval_with_a_fee`",
    intake.On.NOT_ACCEPTED: "L `test_not_accepted_compensates_in_reverse_order`",
    intake.On.SUPPLEMENT_REQUESTED: "L `test_supplement_requested_by_the_processing_region`, "
    "`test_supplement_before_acceptance_…`",
    intake.On.DEEMED_WITHDRAWN: "L `test_supplement_not_provided_in_time_is_deemed_withdrawn`, "
    "`test_supplement_before_acceptance_…`",
    intake.On.APPROVED: "L `test_automatic_approval_with_a_fee`",
    intake.On.DENIED: "L `test_denied_compensates`",
    intake.On.CANCELLED: (
        "L `test_withdrawal_after_acceptance_…`, `test_answer_timeout_while_b_is_about_to_accept_…`"
    ),
    intake.On.DEADLINE_NOTICE: "L `test_deadline_warning_and_breach`",
    intake.On.ANSWER_DUE: (
        "L `test_no_answer_recalls_…`, `test_answer_timeout_while_b_is_about_to_accept_…`"
    ),
    intake.On.DELIVERY_FAILED: "U (convergence)",
    intake.On.DELIVERED: "L `test_supplement_at_the_window_…`; O (电子送达)",
    intake.On.UNDO: "L `test_not_accepted_compensates_in_reverse_order`; C",
    intake.On.COMPENSATED: "L `test_denied_compensates`",
    intake.On.COMPENSATED_WITHDRAWN: "L `test_withdrawal_before_forwarding`, "
    "`test_withdrawal_after_acceptance_…`; O (the applicant withdraws online)",
    intake.On.COMPENSATED_DEEMED_WITHDRAWN: "L `test_missing_mandatory_material_and_no_…`, "
    "`test_supplement_not_provided_in_time_is_deemed_withdrawn`",
}
PROCESSING_TESTS: dict[processing.On, str] = {
    processing.On.FORWARDED: "P `test_a_case_goes_to_guangdong_and_back`",
    processing.On.ACCEPT: "L `test_supplement_at_the_window_…`",
    processing.On.NOT_ACCEPT: "L `test_not_accepted_compensates_in_reverse_order`",
    processing.On.ACCEPTANCE_DUE: "L `test_b_that_does_not_answer_in_time_has_accepted_…`; "
    "`test_lifecycle_rules`",
    processing.On.REQUEST_SUPPLEMENT: "L `test_supplement_requested_by_the_processing_region`, "
    "`test_supplement_before_acceptance_…`, `test_a_second_supplement_request_…`",
    processing.On.SUPPLEMENT_PROVIDED: "L `test_supplement_requested_by_…`, "
    "`test_continue_as_new_while_the_processing_region_waits_for_supplement`",
    processing.On.SUPPLEMENT_DUE: "L `test_supplement_not_provided_in_time_is_deemed_withdrawn`, "
    "`test_supplement_before_acceptance_…`",
    processing.On.SUPPLEMENT_DUE_REFUSED: "L `test_an_item_whose_rules_refuse_a_missed_supplement`",
    processing.On.WARN: "L `test_deadline_warning_and_breach`",
    processing.On.BREACH: "L `test_deadline_warning_and_breach`",
    processing.On.STATUTORY_WARN: "L `test_deadline_warning_and_breach`",
    processing.On.STATUTORY_BREACH: "L `test_deadline_warning_and_breach`",
    processing.On.APPROVE: "L `test_automatic_approval_with_a_fee`",
    processing.On.DENY: "L `test_denied_compensates`",
    processing.On.WITHDRAWN: "L `test_withdrawal_after_acceptance_cancels_the_processing_side`",
    processing.On.RECALLED: "L `test_answer_timeout_while_b_is_about_to_accept_…`",
    processing.On.RESULT_DELIVERED: "L `test_automatic_approval_with_a_fee`",
    processing.On.DELIVERY_DUE: "U (convergence)",
}

HEAD = """\
# Case lifecycle: states, transitions and the tests that cover them

<!-- Generated by `python -m workflows.lifecycle.doc` from workflows/lifecycle/: edit the
models (or the text in doc.py), not this file. tests/unit/test_lifecycle_doc.py checks it. -->

A case has one workflow in each region: `IntakeWorkflow` in the accepting region (A, 收件地,
workflow id `intake-<case no>`) and `ProcessingWorkflow` in the processing region (B, 办理地,
`processing-<case no>`). Each side's lifecycle is a pure model in `workflows/lifecycle/`: a
`Phase` enum, a `CaseState` (`IntakeState`, `ProcessingState`) holding everything the workflow
keeps, which is also what it carries across continue-as-new, and the transition table below.
The workflows run that model (`workflows/driver.py`); Update validators ask the table whether a
step is allowed now, and refuse with `StepNotAllowed` and the current status when it is not, or
with `StepRuleBroken` and the rule's name when a rule of law refuses it (一次性告知).
Each human step can instead be taken by the item's automatic policy (`AutoPolicy`).

A row's *steps* are the statuses the case passes through, in order; *effects* and *sends* are
what the move may record and send (a fee only when there is one). The engine checks every
move against its row. A trigger with no row in the phase the case is in changes nothing: an
event is noted as ignored, a person's step is refused.

Tests: `L` = `tests/integration/test_lifecycle.py`,
`C` = `tests/integration/test_compensation_crash.py`,
`P` = `tests/integration/test_province_pair.py`, `U` = `tests/unit/test_lifecycle_convergence.py`
(both models driven together through random histories), `D` = `tests/unit/test_deadlines.py`,
`R` = `tests/unit/test_workflow_determinism.py`, `O` = `tests/integration/test_online_applicant.py`
(全程网办: applied online, no window review, delivered electronically); `test_lifecycle_rules` =
`tests/unit/test_lifecycle_rules.py` (the rules of decision 0026 on real dates).
"""

PROTOCOL = """\
## How the two sides end together

A case may end only in one of these pairs; the convergence test (U) drives both models
through 10,000 random histories (events delayed, duplicated, reordered, lost then resent;
delivery failures; continue-as-new at random boundaries) and checks every end against it.

{pairs}

The rules that make it so:

- **A gives up only through B.** When B's answer is late (`answer_timeout`) or the transport
  gives up resending an event (`delivery_failed`), A does not refund and close: it sends
  `recalled` and waits. B cancels if it has not decided (revoking what it issued) and answers
  `cancelled`; if it has decided it sends its decision again, and A honours whatever decision
  reaches it (an approval is delivered, a denial compensated). A withdrawal works the same way.
- **B answers within five working days, or the case is accepted (行政许可法 Art. 32).** B's
  workflow starts only once the case file is complete (decision 0021). If within
  `acceptance_working_days` B neither accepts, refuses nor asks for 补正, the case counts as
  accepted on the day the file was received (`deemed-accepted`, its own notice, both deadlines
  counted from that day) and B says so with `accepted`, as a person's acceptance would. A case A
  gave up on is recalled, and B cancels it whether it was accepted by a person or by the rule.
- **A missed 补正 is 视为撤回.** The applicant's 补正 is due in the item's working days; when it
  is missed B ends the case as deemed withdrawn (revoking what it issued) and sends `cancelled`
  under the step `deemed-withdrawn`, which A tells from an answer to a withdrawal or recall by
  its event id; A compensates as for a withdrawal. An item whose rules say otherwise
  (`on_missed_supplement: refused`) is refused instead: 不予受理 before acceptance, 不予许可 after.
- **补正 is one complete list (一次性告知).** A's formal review and B each ask once for everything
  missing; a further request must say it concerns the materials the applicant provided for the
  last one (`concerns_new_materials`) and name them (`concerning`), and the notice says so.
  Otherwise the Update validator refuses it with `StepRuleBroken` and the rule's name (decision
  0026).
- **Every answer, every time:**

| the other side … | A waiting for B | B waiting for A |
| --- | --- | --- |
| never answers | `answer_timeout` → recall; after `cancel_timeout` an `escalate-unanswered` alarm, and A keeps waiting (closing would split the case) | acceptance days pass → accepted as of the receipt day (Art. 32); 补正 due → 视为撤回 (or refused, by the item's rules); `delivery_wait` → closed with its decision |
| answers twice | events are applied once per id; a second `decided` finds A past that phase and is only noted | the same; a repeated withdrawal or recall after the decision repeats the decision under a new event id |
| answers late | a late `accepted` while recalling is noted; the recall's answer decides | a `recalled`/`withdrawn` after the decision is answered with the decision; a late 补正 after the due time is noted |
| answers after a restart | the state, queue included, is in the workflow (and carried across continue-as-new); the inbox dispatcher redelivers what was stored and not yet delivered | the same |
| has no workflow yet | — | an event other than `forwarded` is kept in the inbox and noted; the case's `forwarded` starts the workflow, and B's answers decide |
"""  # noqa: E501 - a Markdown table row is one line

TAIL = """\
## Deadlines

承诺时限 and 法定时限 (both from the catalog item; the statutory one where the item has one), the
acceptance days and the applicant's 补正 days count Chinese working days (`chinese-calendar`:
statutory holidays skipped, adjusted weekend workdays counted) and end at 23:59:59 CST of the
last day (D, and `tests/unit/test_lifecycle_rules.py` for the rules across 2026's National Day
and Spring Festival). B tracks both time limits: each has its warning and its breach (an
`escalate-overdue` effect each), a 补正 pauses both, and the case's progress shows both
(`deadline`, `statutory_deadline`). For a year the holiday
tables do not cover yet, weekdays count and the deadline is marked provisional. Tests and demos
scale the clock (`CaseTimings.working_day`), so timers run for seconds on the real server.
Search attributes `CaseNo, ItemCode, OriginRegion, ProcessingRegion, CaseStatus, Deadline,
Overdue` are kept current by both workflows.

## How steps reach the database

A move's database writes (effects, outgoing events, B's registration of a case, 补正 materials
joining the case file) are collected and committed with the other moves taken since the case
last waited: before every wait the workflow writes them, in order, then the status reached, in
one Postgres transaction (one local activity, one history marker; `workflows/timeline.py`,
decision 0013). So `cases.status` shows where a case rests, not the steps it passed through on
the way; the timeline (`progress`) lists them all. An Update returns once its move is committed.

## Continue-as-new

At any rest point, once the history is longer than `history_limit` (or the server suggests it)
and no Update is in flight, a workflow continues as new with its `CaseState` as the carry:
there is no second list of what to carry, so a 补正 pending on either side, the case file,
timers and queued events all survive it (L `test_continue_as_new_while_…`, U).

## Changing workflow code

Histories recorded from real runs live in `tests/replay/histories/`; R replays every one with
the current code, so a change that would break a running case fails CI. Such a change must be
guarded with `workflow.patched("<change-id>")` (old branch kept until no case started before it
can still be open), or, when no case can be running on the old code, the histories re-recorded
with `python -m tests.replay.record_histories` after the integration suite (decision 0008).
"""


def _cell(values: Iterable[Any]) -> str:
    names = (v.value.removeprefix("cn.tongban.case.") for v in values)
    return ", ".join(f"`{name}`" for name in names) or "—"


def _phases(title: str, phases: Iterable[StrEnum], labels: Mapping[Any, str]) -> list[str]:
    lines = [f"### {title}: statuses", "", "| status | 中文 | rests here |", "| --- | --- | --- |"]
    resting = {p.value for p in phases}
    for status, label in labels.items():
        lines.append(f"| `{status.value}` | {label} | {'yes' if status.value in resting else ''} |")
    return [*lines, ""]


def _table(
    title: str,
    table: Table[Any, Any],
    triggers: Mapping[Any, str],
    tests: Mapping[Any, str],
) -> list[str]:
    lines = [
        f"### {title}: transitions",
        "",
        "| from | trigger | to | steps | effects | sends | what happens | covered by |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in table.rows:
        to = "(stays)" if row.next == row.phase else f"`{row.next.value}`"
        lines.append(
            f"| `{row.phase.value}` | {triggers[row.trigger]} | {to} | {_cell(row.steps)} "
            f"| {_cell(row.effects)} | {_cell(row.sends)} | {row.says} "
            f"| {tests.get(row.trigger, '')} |"
        )
    return [*lines, ""]


def _pairs() -> str:
    lines = [
        "| A ends | A's outcome | B's outcome at `closed` | when |",
        "| --- | --- | --- | --- |",
    ]
    for pair in TERMINAL_PAIRS:
        b = " or ".join(f"`{o}`" if o else "no workflow (never forwarded)" for o in pair.b_outcomes)
        lines.append(f"| `{pair.a_status.value}` | `{pair.a_outcome}` | {b} | {pair.why} |")
    return "\n".join(lines)


def render() -> str:
    parts = [HEAD]
    parts.append("## A: intake workflow\n")
    parts += _phases("A", intake.Phase, intake.LABELS)
    parts += _table("A", intake.TABLE, intake.TRIGGER_LABELS, INTAKE_TESTS)
    parts.append("## B: processing workflow\n")
    parts += _phases("B", processing.Phase, processing.LABELS)
    parts += _table("B", processing.TABLE, processing.TRIGGER_LABELS, PROCESSING_TESTS)
    parts.append(PROTOCOL.format(pairs=_pairs()))
    parts.append(TAIL)
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} is out of date: run python -m workflows.lifecycle.doc", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
