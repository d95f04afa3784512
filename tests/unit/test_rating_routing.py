"""谁办理谁负责 on the exchange (decision 0039): a rating of B's processing travels A → B as a
signed `rated` event whose comment only B can open; B's answer travels B → A. Each passes
the inbound boundary like any case event (entitlement, the case's own parties, quarantine),
and the dispatcher hands them to the ratings desk, never to a case workflow."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import cast

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from events.credentials import RegionCredentials
from events.envelope import Envelope
from events.inbox import IncomingRecord, Stored, admit
from events.models import CaseRated, EventType, SealedBox
from events.outbox import signed_envelope
from events.ratings import RatedStep, rating_id
from events.rejections import Rejected, RejectReason
from events.sealing import SealError, open_box, seal
from events.signing import RegionSigner
from events.stores.cases import NewCase
from events.stores.exchange import InboxEntry
from events.stores.memory import MemoryStores
from events.trust import sealing_key
from events.verify import VerifyLimits, verify_record
from regions.dispatch import InboxDispatcher
from regions.policies import CasePolicies
from tests.unit.conftest import NOW

A, B, C = "350000", "440000", "110000"
CASE = "350000-20261127-RATEDAAA"
COMMENT = "办理太慢，电话 13800000000"


def _comment_for(sender: RegionCredentials, recipient: str) -> SealedBox:
    key_id, public = sealing_key(sender.directory(), recipient, NOW)
    return seal(
        COMMENT.encode(), case_no=CASE, recipient=recipient, key_id=key_id, recipient_public=public
    )


def _rated(sender: RegionCredentials, recipient: str) -> Envelope:
    payload = CaseRated(
        case_no=CASE,
        rating_id=rating_id(CASE, RatedStep.CONCLUDED),
        step="concluded",
        level=1,
        reasons=("efficiency",),
        comment=_comment_for(sender, recipient),
        channel="online",
        window="网上办事",
        item_code="GG-00105-000",
        rated_at=NOW,
    )
    return signed_envelope(
        sender.signer(NOW),
        event_type=EventType.RATED,
        case_no=CASE,
        step="rated-concluded",
        recipient=recipient,
        data=payload.model_dump(mode="json"),
        now=NOW,
    )


def _answered(sender: RegionCredentials, recipient: str) -> Envelope:
    data = {
        "case_no": CASE,
        "rating_id": rating_id(CASE, RatedStep.CONCLUDED),
        "outcome": "rectified",
        "answer": _comment_for(sender, recipient).model_dump(),
        "on_time": True,
        "answered_at": NOW.isoformat(),
    }
    return signed_envelope(
        sender.signer(NOW),
        event_type=EventType.RATING_ANSWERED,
        case_no=CASE,
        step="rating-answered",
        recipient=recipient,
        data=data,
        now=NOW,
    )


def _verify(raw: bytes, recipient: str, creds: RegionCredentials) -> Envelope:
    return verify_record(
        raw, recipient=recipient, directory=creds.directory(), now=NOW, limits=VerifyLimits()
    )


def test_a_rating_goes_from_the_accepting_region_and_only_its_recipient_reads_the_comment(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    verified = _verify(_rated(fujian, B).to_wire(), B, guangdong)
    box = CaseRated.model_validate(verified.data).comment
    assert box is not None
    assert COMMENT.encode() not in verified.to_wire()
    opened = open_box(box, case_no=CASE, private_key=guangdong.own_sealing_key(box.key_id))
    assert opened.decode() == COMMENT
    own_key_id, _ = sealing_key(fujian.directory(), A, NOW)
    with pytest.raises(SealError):
        open_box(box, case_no=CASE, private_key=fujian.own_sealing_key(own_key_id))


def test_only_the_accepting_region_sends_a_rating_and_only_the_processing_region_answers(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    with pytest.raises(Rejected) as refused:
        _verify(_rated(guangdong, A).to_wire(), A, fujian)
    assert refused.value.reason is RejectReason.SENDER_NOT_ENTITLED
    with pytest.raises(Rejected) as refused:
        _verify(_answered(fujian, B).to_wire(), B, guangdong)
    assert refused.value.reason is RejectReason.SENDER_NOT_ENTITLED
    assert _verify(_answered(guangdong, A).to_wire(), A, fujian).type is EventType.RATING_ANSWERED


def _signer_at(creds: RegionCredentials) -> Callable[[datetime], RegionSigner]:
    return lambda _: creds.signer(NOW)


async def test_an_answer_from_a_region_the_case_was_not_sent_to_is_quarantined(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    stores = MemoryStores()
    async with stores.transaction() as tx:
        await tx.cases.add(
            NewCase(
                case_no=CASE,
                role="origin",
                item_code="GG-00105-000",
                item_version=1,
                origin_region=A,
                processing_region=C,
                applicant_sealed={},
            )
        )
    record = IncomingRecord(f"tongban.inbox.{A}", 0, 1, _answered(guangdong, A).to_wire())
    admission = await admit(
        stores, record, lambda raw: _verify(raw, A, fujian), A, _signer_at(fujian)
    )
    assert admission.stored is Stored.QUARANTINED
    assert admission.rejected is not None
    assert admission.rejected.reason is RejectReason.SENDER_NOT_ENTITLED
    assert stores.tables.inbox == {}


class NoWorkflows:
    """A client no rating may reach: the desk takes ratings, not a case workflow."""

    def get_workflow_handle(self, workflow_id: str) -> object:
        raise AssertionError(f"a rating was signalled to {workflow_id}")


async def _stored(stores: MemoryStores, envelope: Envelope) -> tuple[str, str]:
    async with stores.transaction() as tx:
        await tx.inbox.add(
            InboxEntry(
                event_id=envelope.id,
                case_no=CASE,
                event_type=envelope.type.value,
                sender_region=envelope.senderregion,
                envelope=envelope.to_wire(),
                topic=f"tongban.inbox.{B}",
                partition=0,
                offset=0,
                trace_context=None,
                receipt=False,
            )
        )
    return (envelope.senderregion, envelope.id)


async def test_the_dispatcher_hands_a_rating_to_the_desk_and_retries_it_after_an_outage(
    fujian: RegionCredentials,
) -> None:
    stores = MemoryStores()
    taken: list[str] = []
    outage = True

    async def desk(envelope: Envelope) -> str:
        if outage:
            raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")
        taken.append(envelope.id)
        return "rating kept"

    envelope = _rated(fujian, B)
    key = await _stored(stores, envelope)
    dispatcher = InboxDispatcher(
        stores=stores,
        client=cast(Client, NoWorkflows()),
        region=B,
        policies=CasePolicies(),
        ratings=desk,
    )
    await dispatcher.deliver([key])
    assert stores.tables.inbox[key].delivered_at is None  # left for the sweeper
    outage = False
    await dispatcher.deliver([key])
    assert taken == [envelope.id]
    row = stores.tables.inbox[key]
    assert row.delivered_at is not None
    assert row.delivery_note == "rating kept"


async def test_a_node_without_a_desk_keeps_the_rating_in_its_inbox_with_a_note(
    fujian: RegionCredentials,
) -> None:
    stores = MemoryStores()
    key = await _stored(stores, _rated(fujian, B))
    dispatcher = InboxDispatcher(
        stores=stores, client=cast(Client, NoWorkflows()), region=B, policies=CasePolicies()
    )
    await dispatcher.deliver([key])
    assert (
        stores.tables.inbox[key].delivery_note == "no ratings desk at this node; kept in inbox only"
    )
