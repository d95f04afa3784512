"""What a workflow does with what became of its effects (workflows/lifecycle/effects.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.contracts import ApplyEffect, Effect, EffectSettled
from workflows.lifecycle import effects as fx

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
REFUND = ApplyEffect(effect=Effect.REFUND_FEE, key="refund-fee", amount_fen=5000, detail="denied")


def _follow(watches: fx.Watches, news: fx.News) -> fx.Followed:
    return fx.follow(watches, news, now=NOW, region="350000", status="closed-rejected")


def _ordered() -> fx.Watches:
    return fx.ordered((), [REFUND])


def test_an_ordered_effect_is_watched_once_per_key() -> None:
    watches = fx.ordered(_ordered(), [REFUND])
    assert [(w.key, w.state) for w in watches] == [("refund-fee", "ordered")]


def test_done_forgets_the_effect_and_records_nothing() -> None:
    followed = _follow(_ordered(), EffectSettled(key="refund-fee", series=1, outcome="done"))
    assert followed.watches == ()
    assert followed.writes == ()
    assert followed.steps == ()


def test_a_refused_refund_escalates_once_and_stays_open() -> None:
    refused = EffectSettled(key="refund-fee", series=1, outcome="refused", reason="账户已注销")
    followed = _follow(_ordered(), refused)
    states = {w.key: w.state for w in followed.watches}
    assert states == {"refund-fee": "refused", "escalate-effect:refund-fee:1:refused": "ordered"}
    (escalation,) = followed.writes
    assert isinstance(escalation, ApplyEffect)
    assert escalation.effect is Effect.ESCALATE_EFFECT
    assert "账户已注销" in escalation.detail
    assert any("被拒绝" in s.detail and "账户已注销" in s.detail for s in followed.steps)
    # The same answer again (a redelivered activity result) changes nothing more.
    again = _follow(followed.watches, refused)
    assert again.watches == followed.watches
    assert again.writes == ()


def test_a_failed_escalation_is_not_escalated_again() -> None:
    escalated = _follow(
        _ordered(), EffectSettled(key="refund-fee", series=1, outcome="dead", reason="503")
    )
    key = "escalate-effect:refund-fee:1:dead"
    followed = _follow(escalated.watches, EffectSettled(key=key, series=1, outcome="dead"))
    assert followed.writes == ()
    assert {w.key: w.state for w in followed.watches}[key] == "dead"


def test_pending_waits_for_its_callback_then_is_late_and_escalated_once() -> None:
    due = NOW + timedelta(hours=48)
    pending = EffectSettled(key="refund-fee", series=1, outcome="pending", answer_due=due)
    waiting = _follow(_ordered(), pending).watches
    assert fx.next_due(waiting) == due
    assert (
        fx.overdue(waiting, now=due - timedelta(seconds=1), region="350000", status="x").writes
        == ()
    )
    late = fx.overdue(waiting, now=due, region="350000", status="x")
    assert [w.key for w in late.watches if w.state == "late"] == ["refund-fee"]
    assert len(late.writes) == 1
    assert fx.next_due(late.watches) is None
    # The callback still settles it.
    done = _follow(late.watches, EffectSettled(key="refund-fee", series=1, outcome="done"))
    assert [w.key for w in done.watches] == ["escalate-effect:refund-fee:1:late"]


def test_a_callback_before_the_activity_answer_wins() -> None:
    done = _follow(_ordered(), EffectSettled(key="refund-fee", series=1, outcome="done"))
    after = _follow(
        done.watches,
        EffectSettled(key="refund-fee", series=1, outcome="pending", answer_due=NOW),
    )
    assert after.watches == ()


def test_retry_starts_the_new_series_and_stale_answers_are_ignored() -> None:
    refused = _follow(
        _ordered(), EffectSettled(key="refund-fee", series=1, outcome="refused", reason="no")
    ).watches
    retried = _follow(refused, fx.EffectRetried(key="refund-fee", series=2, by="op-7")).watches
    watch = next(w for w in retried if w.key == "refund-fee")
    assert (watch.state, watch.series) == ("ordered", 2)
    stale = _follow(retried, EffectSettled(key="refund-fee", series=1, outcome="done"))
    assert stale.watches == retried
    done = _follow(retried, EffectSettled(key="refund-fee", series=2, outcome="done"))
    assert "refund-fee" not in {w.key for w in done.watches}


def test_resolved_by_an_operator_names_them() -> None:
    refused = _follow(
        _ordered(), EffectSettled(key="refund-fee", series=1, outcome="refused", reason="no")
    ).watches
    followed = _follow(refused, fx.EffectResolved(key="refund-fee", note="现金退还", by="op-7"))
    assert "refund-fee" not in {w.key for w in followed.watches}
    (line,) = followed.steps
    assert "现金退还" in line.detail
    assert line.actor is not None
    assert line.actor.person_id == "op-7"
