"""Canonical form and signatures: what is signed is exactly what a verifier recomputes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.credentials import RegionCredentials
from events.envelope import Envelope, event_id_for
from events.models import EventType
from events.outbox import signed_envelope
from events.signing import signature_valid
from events.trust import signing_key
from tests.unit.conftest import NOW

CASE = "350000-20261127-ABCDEFGH"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _signed(creds: RegionCredentials, data: dict[str, object]) -> Envelope:
    return signed_envelope(
        creds.signer(NOW),
        event_type=EventType.WITHDRAWN,
        case_no=CASE,
        step="withdrawn",
        recipient="440000",
        data=data,
        now=NOW,
    )


@given(data=st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_signature_survives_the_wire_for_any_data(
    fujian: RegionCredentials, data: dict[str, object]
) -> None:
    envelope = _signed(fujian, data)
    received = Envelope.model_validate_json(envelope.to_wire())
    public = signing_key(fujian.directory(), "350000", envelope.keyid, NOW)
    assert received.signing_bytes() == envelope.signing_bytes()
    assert signature_valid(received, public)


@given(data=st.dictionaries(st.text(min_size=1, max_size=10), json_values, min_size=1, max_size=5))
def test_any_change_to_the_data_breaks_the_signature(
    fujian: RegionCredentials, data: dict[str, object]
) -> None:
    envelope = _signed(fujian, data)
    public = signing_key(fujian.directory(), "350000", envelope.keyid, NOW)
    tampered = envelope.model_copy(update={"data": {**data, "extra": "x"}})
    assert not signature_valid(tampered, public)


def test_canonical_bytes_do_not_depend_on_key_order(fujian: RegionCredentials) -> None:
    envelope = _signed(fujian, {"b": 1, "a": [2, {"d": 3, "c": 4}]})
    reordered = json.loads(envelope.to_wire())
    reordered = dict(reversed(list(reordered.items())))
    again = Envelope.model_validate(reordered)
    assert again.to_wire() == envelope.to_wire()
    assert envelope.to_wire().startswith(b'{"data":{"a":[2,{"c":4,"d":3}],"b":1}')


def test_event_ids_are_stable_per_case_step_and_sender() -> None:
    assert event_id_for(CASE, "forwarded", "350000") == event_id_for(CASE, "forwarded", "350000")
    assert event_id_for(CASE, "forwarded", "350000") != event_id_for(CASE, "withdrawn", "350000")
    assert event_id_for(CASE, "decided", "440000") != event_id_for(CASE, "decided", "110000")


def test_a_signer_refuses_an_envelope_naming_another_sender(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    envelope = _signed(fujian, {})
    with pytest.raises(ValueError, match="another sender"):
        guangdong.signer(NOW).sign(envelope.model_copy(update={"signature": None}))
