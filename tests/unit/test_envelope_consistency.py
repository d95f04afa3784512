"""Fields a signed envelope states twice must agree (issue 13 item 6).

`source`, `data.case_no` and `data.origin_region` repeat what the signed header says (the
sender region, the subject). A record whose copies disagree is refused as `inconsistent`, even
when the sender's real key signed it: otherwise one signed event could mean two things.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785

from events.credentials import RegionCredentials
from events.envelope import Envelope, region_source
from events.models import CaseForwarded, EventType
from events.outbox import signed_envelope
from events.rejections import Rejected, RejectReason
from events.sealing import seal
from events.trust import sealing_key
from events.verify import VerifyLimits, verify_record
from tests.fuzz.world import canonical_signature
from tests.unit.conftest import NOW

CASE = "350000-20261127-ABCDEFGH"
OTHER_CASE = "350000-20261127-HGFEDCBA"


def _forwarded(fujian: RegionCredentials) -> Envelope:
    """福建 forwarding its case to 广东, the applicant sealed for 广东 as the activity does."""
    key_id, public = sealing_key(fujian.directory(), "440000", NOW)
    payload = CaseForwarded(
        case_no=CASE,
        item_code="GG-00102-000",
        item_version=1,
        origin_region="350000",
        processing_region="440000",
        applicant=seal(
            b"{}", case_no=CASE, recipient="440000", key_id=key_id, recipient_public=public
        ),
        materials=(),
        fee_fen=0,
    )
    return signed_envelope(
        fujian.signer(NOW),
        event_type=EventType.FORWARDED,
        case_no=CASE,
        step="forwarded",
        recipient="440000",
        data=payload.model_dump(mode="json"),
        now=NOW,
    )


def _verify(raw: bytes, fujian: RegionCredentials) -> Envelope:
    return verify_record(
        raw, recipient="440000", directory=fujian.directory(), now=NOW, limits=VerifyLimits()
    )


def test_the_genuine_forwarded_record_verifies(fujian: RegionCredentials) -> None:
    envelope = _forwarded(fujian)
    assert _verify(envelope.to_wire(), fujian) == envelope


def _source(document: dict[str, Any]) -> None:
    document["source"] = region_source("110000")


def _case_no(document: dict[str, Any]) -> None:
    document["data"]["case_no"] = OTHER_CASE


def _origin_region(document: dict[str, Any]) -> None:
    document["data"]["origin_region"] = "110000"


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (_source, "source does not name the sender"),
        (_case_no, "data.case_no is not the subject"),
        (_origin_region, "data.origin_region is not the sender"),
    ],
    ids=["source", "data.case_no", "data.origin_region"],
)
def test_a_signed_record_whose_copies_disagree_is_inconsistent(
    fujian: RegionCredentials, change: Any, detail: str
) -> None:
    document: dict[str, Any] = json.loads(_forwarded(fujian).to_wire())
    change(document)
    # Signed again with 福建's real key: the refusal must come from the consistency check.
    document["signature"] = canonical_signature(document, fujian.signer(NOW))
    with pytest.raises(Rejected) as caught:
        _verify(rfc8785.dumps(document), fujian)
    assert (caught.value.reason, caught.value.detail) == (RejectReason.INCONSISTENT, detail)
    assert caught.value.sender == "350000"
