"""The pure parts of cross-anchoring and the revocation audit: what a receipt states about its
sender's log, when an anchor counts as evidence, and when a revoked key taints an envelope."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from events.audit import backing_problem, revocation_problem
from events.credentials import RegionCredentials
from events.envelope import Envelope
from events.log_anchors import Anchor
from events.message_log import LogHead
from events.models import EventReceipt, EventType
from events.outbox import signed_envelope
from events.receipts import receipt_for
from events.trust import KeyEntry
from tests.unit.conftest import NOW

CASE = "350000-20261127-ABCDEFGH"
HEAD = LogHead(seq=41, hash=bytes(range(32)))


def _withdrawn(fujian: RegionCredentials) -> Envelope:
    return signed_envelope(
        fujian.signer(NOW),
        event_type=EventType.WITHDRAWN,
        case_no=CASE,
        step="withdrawn",
        recipient="440000",
        data={"case_no": CASE, "reason": "申请人撤回"},
        now=NOW,
    )


def _receipt(
    fujian: RegionCredentials, guangdong: RegionCredentials, head: LogHead | None = HEAD
) -> Envelope:
    received = _withdrawn(fujian)
    return receipt_for(guangdong.signer(NOW), received, received.to_wire(), NOW, head)


def _anchor(receipt: Envelope | None, *, seq: int = HEAD.seq, region: str = "440000") -> Anchor:
    return Anchor(
        region=region,
        seq=seq,
        hash=HEAD.hash,
        holder="350000",
        receipt_event_id=receipt.id if receipt else "gone",
        received_at=NOW,
        receipts=(receipt.to_wire(),) if receipt else (),
    )


def test_a_receipt_states_its_senders_log_head(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    stated = EventReceipt.model_validate(_receipt(fujian, guangdong).data)
    assert (stated.log_head_seq, stated.log_head_hash) == (HEAD.seq, HEAD.hash.hex())
    unanchored = EventReceipt.model_validate(_receipt(fujian, guangdong, None).data)
    assert (unanchored.log_head_seq, unanchored.log_head_hash) == (None, None)


def test_an_anchor_counts_only_with_the_signed_receipt_stating_it(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    directory = guangdong.directory()
    receipt = _receipt(fujian, guangdong)
    assert backing_problem(_anchor(receipt), directory) is None
    assert backing_problem(_anchor(None), directory) == (
        "its receipt is not in the holder's message log"
    )
    assert backing_problem(_anchor(receipt, seq=HEAD.seq + 1), directory) == (
        "its receipt states another head"
    )
    # A receipt 福建 signed itself says nothing about 广东's log.
    assert backing_problem(_anchor(_withdrawn(fujian)), directory) == (
        "its receipt is not a receipt from 440000"
    )
    # Another sender's envelope logged under the receipt's id does not hide the real receipt.
    decoy = _anchor(_withdrawn(fujian))
    assert backing_problem(decoy, directory) is not None
    both = replace(decoy, receipts=(*decoy.receipts, receipt.to_wire()))
    assert backing_problem(both, directory) is None
    forged = receipt.model_copy(update={"data": {**receipt.data, "log_head_seq": HEAD.seq + 1}})
    assert backing_problem(_anchor(forged, seq=HEAD.seq + 1), directory) == (
        "its receipt's signature does not verify"
    )


def _key(**revocation: object) -> KeyEntry:
    return KeyEntry(
        key_id="440000-sig-1",
        public_key="AAAA",
        not_before=NOW - timedelta(days=30),
        not_after=NOW + timedelta(days=30),
        **revocation,
    )


@pytest.mark.parametrize("direction", ["sent", "accepted"])
def test_a_revoked_key_taints_only_what_was_taken_in_from_its_revocation_on(
    direction: str,
) -> None:
    key = _key(revoked=True, revoked_at=NOW)
    assert revocation_problem(key, direction, NOW - timedelta(seconds=1)) is None
    problem = revocation_problem(key, direction, NOW + timedelta(seconds=1))
    assert problem is not None
    assert ("sent at" if direction == "sent" else "received at") in problem
    assert revocation_problem(key, direction, NOW) is not None
    assert revocation_problem(_key(), direction, NOW) is None


def test_a_revocation_without_a_time_taints_everything() -> None:
    # An older directory says only "revoked": nothing signed with the key can be vouched for.
    assert revocation_problem(_key(revoked=True), "accepted", NOW - timedelta(days=29)) == (
        "key 440000-sig-1 is revoked and the directory does not say since when"
    )
