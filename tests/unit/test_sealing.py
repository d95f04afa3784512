"""Personal data sealed for one region opens only there, and only for its own case."""

from __future__ import annotations

import pytest

from events.credentials import RegionCredentials
from events.models import SealedBox
from events.sealing import SealError, open_box, seal
from events.trust import sealing_key
from tests.unit.conftest import NOW

CASE = "350000-20261127-ABCDEFGH"
SECRET = "张三|350102199001011234|13800000000".encode()


def _box_for(creds: RegionCredentials, region: str) -> SealedBox:
    key_id, public = sealing_key(creds.directory(), region, NOW)
    return seal(SECRET, case_no=CASE, recipient=region, key_id=key_id, recipient_public=public)


def test_recipient_opens_what_was_sealed_for_it(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    box = _box_for(fujian, "440000")
    assert SECRET not in box.model_dump_json().encode()
    opened = open_box(box, case_no=CASE, private_key=guangdong.own_sealing_key(box.key_id))
    assert opened == SECRET


def test_a_third_region_cannot_open_it(
    fujian: RegionCredentials, beijing: RegionCredentials
) -> None:
    box = _box_for(fujian, "440000")
    beijing_key_id = beijing.directory().region("110000").sealing_key.key_id  # type: ignore[union-attr]
    with pytest.raises(SealError):
        open_box(box, case_no=CASE, private_key=beijing.own_sealing_key(beijing_key_id))


def test_a_box_moved_to_another_case_does_not_open(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    box = _box_for(fujian, "440000")
    with pytest.raises(SealError):
        open_box(
            box,
            case_no="350000-20261127-ZZZZZZZZ",
            private_key=guangdong.own_sealing_key(box.key_id),
        )


def test_tampered_ciphertext_does_not_open(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    box = _box_for(fujian, "440000")
    flipped = box.ciphertext[:-2] + ("A" if box.ciphertext[-2] != "A" else "B") + box.ciphertext[-1]
    with pytest.raises(SealError):
        open_box(
            box.model_copy(update={"ciphertext": flipped}),
            case_no=CASE,
            private_key=guangdong.own_sealing_key(box.key_id),
        )
