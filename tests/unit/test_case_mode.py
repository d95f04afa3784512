"""The mode is the item's and the case's (issue 19, decision 0034): what the window refuses,
what a case records, and the 全程网办 path through the intake lifecycle."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import pytest
from pydantic import SecretStr

from activities.contracts import ApplyEffect, ForwardCase
from catalog.catalog import default_catalog
from catalog.catalog import implied_mode as catalog_implied_mode
from catalog.models import CrossRegionMode
from effects.adapters import EffectRequest
from effects.notices import NEEDS_ADDRESS, NEEDS_PHONE, applicant_notice
from effects.webhook import webhook_body
from events.envelope import event_id_for
from events.models import EventType, InboundEvent, MaterialRef
from regions.codes import REGIONS
from regions.window import (
    Application,
    ApplicationRefused,
    resolve_item,
    route_plan,
    window_modes,
)
from workflows.lifecycle import intake
from workflows.lifecycle.vocabulary import (
    Actor,
    AutoPolicy,
    CaseMode,
    DeliveryConfirmation,
    Effect,
    implied_mode,
)

CASE = "350000-20261201-ABCDEFGH"
ORIGIN, PROCESSING = "350000", "440000"
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
APPLICANT = Actor(kind="applicant", person_id="0123456789abcdef0123456789abcdef", region=ORIGIN)


def test_the_case_modes_are_the_catalog_s() -> None:
    assert set(get_args(CaseMode)) == {m.value for m in CrossRegionMode}


def test_the_pure_implied_mode_agrees_with_the_catalog_for_every_pair() -> None:
    for a, b in itertools.permutations(REGIONS, 2):
        assert implied_mode(a, b) == catalog_implied_mode(a, b).value, (a, b)


def test_a_request_recorded_before_cases_named_their_mode_runs_in_the_pair_s_mode() -> None:
    old = {
        "case_no": CASE,
        "item_code": "GG-00102-000",
        "item_version": 1,
        "origin_region": ORIGIN,
        "processing_region": PROCESSING,
    }
    assert intake.IntakeRequest.model_validate(old).mode == "异地代收代办"
    within = {**old, "processing_region": "350100"}
    assert intake.IntakeRequest.model_validate(within).mode == "省内通办"
    assert not intake.IntakeRequest.model_validate(old).online


def _application(item: str, mode: CrossRegionMode | None, **extra: Any) -> Application:
    return Application.model_validate(
        {
            "item_code": item,
            "processing_region": PROCESSING,
            "applicant_name": "张三",
            "applicant_id_number": "11010519491231002X",
            "applicant_phone": "13800000000",
            "materials": [
                {"name": "居民身份证", "sha256": "0" * 64, "ref": "window://materials/x"}
            ],
            "mode": mode,
            **extra,
        }
    )


def test_a_window_asking_for_a_mode_the_item_does_not_allow_is_told_the_rule() -> None:
    # 跨省异地就医登记备案 is 全程网办 only: no window takes it.
    with pytest.raises(ApplicationRefused) as refused:
        resolve_item(default_catalog(), _application("GG-00301-000", None), ORIGIN)
    assert refused.value.rule == "mode_not_allowed"
    assert refused.value.context == {
        "item_code": "GG-00301-000",
        "item_version": 1,
        "mode": "异地代收代办",
        "allowed_modes": ["全程网办"],
    }


def test_online_is_the_applicant_s_channel_and_joint_names_its_places() -> None:
    catalog = default_catalog()
    online = _application("GG-00105-000", CrossRegionMode.ONLINE)
    with pytest.raises(ApplicationRefused) as at_window:
        resolve_item(catalog, online, ORIGIN)
    assert at_window.value.rule == "mode_not_at_window"
    assert "全程网办" not in at_window.value.context["allowed_modes"]  # type: ignore[operator]
    assert resolve_item(catalog, online, ORIGIN, channel=(CrossRegionMode.ONLINE,)).code == (
        "GG-00105-000"
    )
    joint = _application(
        "GG-00201-002",
        CrossRegionMode.JOINT,
        materials=[
            {"name": n, "sha256": "0" * 64, "ref": "window://materials/x"}
            for n in ("居民身份证", "城乡居民基本养老保险关系转入申请表")
        ],
    )
    # 多地联办 runs its route (decision 0035): the application names the route's places.
    item = resolve_item(catalog, joint, ORIGIN)
    with pytest.raises(ApplicationRefused) as unbound:
        route_plan(catalog, item, joint, ORIGIN)
    assert unbound.value.rule == "route_place_unbound"


def _online(delivery: str, fee_fen: int = 0) -> intake.IntakeRequest:
    return intake.IntakeRequest.model_validate(
        {
            "case_no": CASE,
            "item_code": "GG-00105-000",
            "item_version": 1,
            "origin_region": ORIGIN,
            "processing_region": PROCESSING,
            "required_materials": ["居民身份证"],
            "materials": [MaterialRef(name="居民身份证", sha256="1" * 64, ref="r")],
            "fee_fen": fee_fen,
            # The node's default is that people take every step (decision 0024); an online
            # case has no window step a policy could take either way.
            "policy": AutoPolicy(formal_review="manual", delivery="manual"),
            "received_by": APPLICANT,
            "mode": "全程网办",
            "delivery": delivery,
        }
    )


def _decided(outcome: str) -> InboundEvent:
    return InboundEvent(
        event_id=event_id_for(CASE, "decided", PROCESSING),
        type=EventType.DECIDED,
        sender_region=PROCESSING,
        time=NOW,
        data={"case_no": CASE, "outcome": outcome, "reason": "符合条件", "decision_digest": None},
    )


def _run(
    request: intake.IntakeRequest, state: intake.IntakeState, now: datetime
) -> tuple[intake.IntakeState, list[Any]]:
    """Take every step the case takes without waiting; the writes they made."""
    writes: list[Any] = []
    while (trigger := intake.next_trigger(request, state, now)) is not None:
        result = intake.step(request, state, trigger, now)
        state, writes = result.state, [*writes, *result.writes]
    return state, writes


def test_an_online_case_skips_the_window_review_and_takes_no_materials() -> None:
    request = _online("online", fee_fen=1000)
    state, writes = _run(request, intake.start(request), NOW)
    assert state.phase is intake.Phase.IN_TRANSIT
    passed = [s for s in state.steps if s.status == intake.Status.FORMAL_REVIEW_PASSED]
    assert passed[0].detail == "全程网办：由办理地审查"
    assert all(s.actor == APPLICANT for s in state.steps)  # the applicant applied
    effects = [w.effect for w in writes if isinstance(w, ApplyEffect)]
    assert effects == [Effect.ISSUE_RECEIPT, Effect.CHARGE_FEE]
    assert Effect.TAKE_MATERIALS not in state.done
    assert [type(w) for w in writes if isinstance(w, ForwardCase)] == [ForwardCase]
    # Nothing a window could take: no formal review, ever.
    assert not intake.allows(request, state, intake.On.REVIEW_PASSED)


def test_an_online_result_is_delivered_electronically_as_it_arrives() -> None:
    request = _online("online")
    state, _ = _run(request, intake.start(request), NOW)
    state = intake.receive(state, _decided("approved"))
    state, writes = _run(request, state, NOW + timedelta(hours=1))
    assert state.phase is intake.Phase.CLOSED
    delivered = [s for s in state.steps if s.status == intake.Status.RESULT_DELIVERED]
    assert delivered[0].detail == "by online (电子送达)"
    assert not [w for w in writes if isinstance(w, ApplyEffect) and w.effect is Effect.POST_RESULT]


def test_an_online_result_by_post_goes_to_the_post_adapter_and_waits_for_the_applicant() -> None:
    request = _online("mail")
    state, _ = _run(request, intake.start(request), NOW)
    state = intake.receive(state, _decided("approved"))
    state, writes = _run(request, state, NOW + timedelta(hours=1))
    assert state.phase is intake.Phase.RESULT_RECEIVED
    assert [w.effect for w in writes if isinstance(w, ApplyEffect)][-2:] == [
        Effect.POST_RESULT,
        Effect.NOTIFY_APPLICANT,
    ]
    assert intake.allows(request, state, intake.On.DELIVERED)
    confirmation = DeliveryConfirmation(channel="mail", tracking_no="SF123", actor=APPLICANT)
    done = intake.step(request, state, intake.input_trigger(confirmation), NOW)
    assert done.state.phase is intake.Phase.CLOSED


def test_a_denied_online_case_returns_no_materials() -> None:
    request = _online("online", fee_fen=1000)
    state, _ = _run(request, intake.start(request), NOW)
    state = intake.receive(state, _decided("denied"))
    state, writes = _run(request, state, NOW + timedelta(hours=1))
    assert state.phase is intake.Phase.CLOSED_REJECTED
    undone = [w.effect for w in writes if isinstance(w, ApplyEffect)]
    assert Effect.REFUND_FEE in undone
    assert Effect.VOID_RECEIPT in undone
    assert Effect.RETURN_MATERIALS not in undone


def test_a_window_offers_the_modes_the_item_allows_there() -> None:
    pension = default_catalog().resolve("GG-00201-002", ORIGIN)  # 多地联办, 异地代收代办, 省内通办
    # 多地联办 is not offered until its routes run; 省内通办 only within one province.
    assert window_modes(pension, ORIGIN, PROCESSING) == (CrossRegionMode.PROXY,)
    assert window_modes(pension, ORIGIN, "350100") == (CrossRegionMode.IN_PROVINCE,)
    online_only = default_catalog().resolve("GG-00301-000", ORIGIN)
    assert window_modes(online_only, ORIGIN, PROCESSING) == ()


def test_the_post_adapter_gets_the_address_and_nothing_shows_it() -> None:
    assert NEEDS_ADDRESS == {"post-result"} <= NEEDS_PHONE
    notice = applicant_notice("福建省", CASE, "post-result", 0, "")
    assert "邮寄" in notice
    posted = EffectRequest(
        idempotency_key=f"{CASE}/post-result/1",
        region=ORIGIN,
        case_no=CASE,
        effect="post-result",
        key="post-result",
        series=1,
        notice=notice,
        phone=SecretStr("13800000000"),
        address=SecretStr("福州市鼓楼区某路 1 号"),
    )
    assert json.loads(webhook_body(posted))["address"] == "福州市鼓楼区某路 1 号"
    assert "鼓楼" not in repr(posted)
    told = posted.model_copy(update={"effect": "notify-applicant", "address": None})
    assert "address" not in json.loads(webhook_body(told))
