"""Each kind of hostile record the inbound boundary must refuse, with its exact reason.

Hostile content is also signed again with the sender's real key where that matters: a
refusal must come from the check meant for it, not from a signature that no longer fits.
The fuzzer (tests/fuzz/) throws the same kinds, mixed and mutated, at the whole boundary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
import rfc8785

from events.credentials import RegionCredentials
from events.envelope import Envelope
from events.models import EventType
from events.outbox import signed_envelope
from events.rejections import Rejected, RejectReason
from events.verify import VerifyLimits, verify_record
from tests.fuzz.world import canonical_signature
from tests.unit.conftest import NOW

CASE = "350000-20261127-ABCDEFGH"
DECIDED = {
    "case_no": CASE,
    "outcome": "approved",
    "reason": "符合条件",
    "decision_digest": None,
}
ACCEPTED = {
    "case_no": CASE,
    "promised_working_days": 10,
    "deadline": (NOW + timedelta(days=20)).isoformat(),
    "deadline_calendar_known": True,
}


def _decided(creds: RegionCredentials, data: Mapping[str, object] = DECIDED) -> Envelope:
    """广东 (processing) deciding 福建's case, addressed to 福建."""
    return signed_envelope(
        creds.signer(NOW),
        event_type=EventType.DECIDED,
        case_no=CASE,
        step="decided",
        recipient="350000",
        data=dict(data),
        now=NOW,
    )


def _document(creds: RegionCredentials) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_decided(creds).to_wire())
    return document


def _resigned(creds: RegionCredentials, document: dict[str, Any]) -> bytes:
    """The document, however hostile, signed by 广东's real key in canonical form."""
    document["signature"] = canonical_signature(document, creds.signer(NOW))
    return rfc8785.dumps(document)


def _refusal(raw: bytes, creds: RegionCredentials) -> Rejected:
    with pytest.raises(Rejected) as caught:
        verify_record(
            raw, recipient="350000", directory=creds.directory(), now=NOW, limits=VerifyLimits()
        )
    return caught.value


def test_the_genuine_record_verifies(guangdong: RegionCredentials) -> None:
    envelope = _decided(guangdong)
    verified = verify_record(
        envelope.to_wire(),
        recipient="350000",
        directory=guangdong.directory(),
        now=NOW,
        limits=VerifyLimits(),
    )
    assert verified == envelope


# -- deep nesting -----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [17, 10_000, 200_000])
def test_deep_nesting_is_refused_by_the_depth_limit(
    guangdong: RegionCredentials, depth: int
) -> None:
    # The record that stopped 广东's node was 10 KB of nested arrays.
    refused = _refusal(b"[" * depth + b"]" * depth, guangdong)
    # Named by the limit, not caught as a RecursionError by the catch-all.
    assert (refused.reason, refused.detail) == (
        RejectReason.MALFORMED,
        "nested deeper than 16 levels",
    )


def test_deep_nesting_inside_a_signed_payload_is_refused(guangdong: RegionCredentials) -> None:
    document = _document(guangdong)
    nested: Any = "x"
    for _ in range(16):
        nested = [nested]
    document["data"]["reason"] = nested
    refused = _refusal(_resigned(guangdong, document), guangdong)
    assert (refused.reason, refused.detail) == (
        RejectReason.MALFORMED,
        "nested deeper than 16 levels",
    )


# -- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "detail"),
    [
        ("1e400", "a number outside the range of a double"),
        ("-1e400", "a number outside the range of a double"),
        (str(2**53), f"an integer outside ±{2**53 - 1}"),
        ("9" * 40, "an integer longer than 32 characters"),
        ("0." + "1" * 40, "a number longer than 32 characters"),
        ("NaN", "NaN is not JSON"),
        ("Infinity", "Infinity is not JSON"),
    ],
)
def test_huge_numbers_are_refused_before_the_schema(
    guangdong: RegionCredentials, number: str, detail: str
) -> None:
    raw = _decided(guangdong).to_wire().replace(b'"tbversion":1', f'"tbversion":{number}'.encode())
    refused = _refusal(raw, guangdong)
    assert (refused.reason, refused.detail) == (RejectReason.MALFORMED, detail)


def test_a_number_beyond_the_payload_schema_is_refused_when_signed(
    guangdong: RegionCredentials,
) -> None:
    envelope = signed_envelope(
        guangdong.signer(NOW),
        event_type=EventType.ACCEPTED,
        case_no=CASE,
        step="accepted",
        recipient="350000",
        data={**ACCEPTED, "promised_working_days": 2**53 - 1},
        now=NOW,
    )
    refused = _refusal(envelope.to_wire(), guangdong)
    assert (refused.reason, refused.detail) == (
        RejectReason.MALFORMED,
        "schema: promised_working_days",
    )


# -- wrong types -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "value", "reason"),
    [
        ("tbversion", "1", RejectReason.UNSUPPORTED_VERSION),
        ("tbversion", True, RejectReason.UNSUPPORTED_VERSION),
        ("subject", [CASE], RejectReason.MALFORMED),
        ("id", 42, RejectReason.MALFORMED),
        ("keyid", None, RejectReason.MALFORMED),
        ("data", [DECIDED], RejectReason.MALFORMED),
        ("type", 7, RejectReason.MALFORMED),
    ],
)
def test_an_attribute_of_the_wrong_type_is_refused(
    guangdong: RegionCredentials, attribute: str, value: object, reason: RejectReason
) -> None:
    document = _document(guangdong)
    document[attribute] = value
    assert _refusal(_resigned(guangdong, document), guangdong).reason is reason


@pytest.mark.parametrize(
    ("field", "value"),
    [("outcome", 1), ("reason", ["符合条件"]), ("decision_digest", 0), ("case_no", None)],
)
def test_a_payload_value_of_the_wrong_type_is_refused_when_signed(
    guangdong: RegionCredentials, field: str, value: object
) -> None:
    document = _document(guangdong)
    document["data"][field] = value
    refused = _refusal(_resigned(guangdong, document), guangdong)
    assert (refused.reason, refused.detail) == (RejectReason.MALFORMED, f"schema: {field}")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("promised_working_days", "10"),
        ("promised_working_days", True),
        ("deadline_calendar_known", "yes"),
        ("deadline", 2),
    ],
)
def test_a_signed_payload_value_of_a_convertible_wrong_type_is_refused(
    guangdong: RegionCredentials, field: str, value: object
) -> None:
    envelope = signed_envelope(
        guangdong.signer(NOW),
        event_type=EventType.ACCEPTED,
        case_no=CASE,
        step="accepted",
        recipient="350000",
        data={**ACCEPTED, field: value},
        now=NOW,
    )
    assert _refusal(envelope.to_wire(), guangdong).reason is RejectReason.MALFORMED


# -- bytes that are not a record ---------------------------------------------------------


@pytest.mark.parametrize("bad", [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe7\xac"])
def test_invalid_utf8_is_refused(guangdong: RegionCredentials, bad: bytes) -> None:
    raw = _decided(guangdong).to_wire().replace("符合".encode(), "符合".encode() + bad)
    refused = _refusal(raw, guangdong)
    assert refused.reason is RejectReason.MALFORMED
    assert refused.detail.startswith("not UTF-8 (byte ")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", RejectReason.MALFORMED),
        (b" ", RejectReason.MALFORMED),
        (b"null", RejectReason.MALFORMED),
        (b"[]", RejectReason.MALFORMED),
        (b"\xef\xbb\xbf{}", RejectReason.MALFORMED),  # a byte-order mark is not JSON
        (b"{}", RejectReason.UNSUPPORTED_VERSION),
    ],
)
def test_empty_records_are_refused(
    guangdong: RegionCredentials, raw: bytes, reason: RejectReason
) -> None:
    assert _refusal(raw, guangdong).reason is reason


# -- time, directory, type -------------------------------------------------------------------


@pytest.mark.parametrize("spelled", ["2026-11-27T12:00:00", "2026-11-27T12:00:00.000000"])
def test_a_time_with_no_zone_is_refused(guangdong: RegionCredentials, spelled: str) -> None:
    document = _document(guangdong)
    document["time"] = spelled
    refused = _refusal(_resigned(guangdong, document), guangdong)
    assert (refused.reason, refused.detail) == (RejectReason.MALFORMED, "schema: time")


def test_a_key_id_not_in_the_directory_is_refused(guangdong: RegionCredentials) -> None:
    document = _document(guangdong)
    document["keyid"] = "440000-sig-not-published"
    refused = _refusal(_resigned(guangdong, document), guangdong)
    assert refused.reason is RejectReason.UNKNOWN_KEY


@pytest.mark.parametrize(
    "event_type", ["cn.tongban.case.teleported", "CN.TONGBAN.CASE.DECIDED", ""]
)
def test_an_unknown_type_is_refused_as_such(guangdong: RegionCredentials, event_type: str) -> None:
    document = _document(guangdong)
    document["type"] = event_type
    assert _refusal(_resigned(guangdong, document), guangdong).reason is RejectReason.UNKNOWN_TYPE


# -- duplicate keys, NUL and surrogates --------------------------------------------------


@pytest.mark.parametrize(
    "member",
    [
        b'"type":"cn.tongban.case.decided",',  # the same value again
        b'"recipientregion":"440000",',  # another value: which one counts?
    ],
)
def test_duplicate_keys_are_refused(guangdong: RegionCredentials, member: bytes) -> None:
    raw = b"{" + member + _decided(guangdong).to_wire()[1:]
    refused = _refusal(raw, guangdong)
    assert (refused.reason, refused.detail) == (
        RejectReason.MALFORMED,
        "duplicate key in an object",
    )


def test_a_duplicate_key_inside_the_payload_is_refused(guangdong: RegionCredentials) -> None:
    raw = _decided(guangdong).to_wire().replace(b'"data":{', b'"data":{"outcome":"denied",')
    assert _refusal(raw, guangdong).detail == "duplicate key in an object"


def test_a_nul_in_a_signed_string_is_refused(guangdong: RegionCredentials) -> None:
    document = _document(guangdong)
    document["data"]["reason"] = "符合\u0000条件"
    refused = _refusal(_resigned(guangdong, document), guangdong)
    assert (refused.reason, refused.detail) == (
        RejectReason.MALFORMED,
        "a string holds NUL or an unpaired surrogate",
    )


@pytest.mark.parametrize("escape", [b"\\u0000", b"\\ud800", b"\\udfff", b"\\ud83d"])
def test_nul_and_lone_surrogate_escapes_are_refused(
    guangdong: RegionCredentials, escape: bytes
) -> None:
    raw = (
        _decided(guangdong)
        .to_wire()
        .replace(b'"outcome":"approved"', b'"outcome":"app' + escape + b'roved"')
    )
    refused = _refusal(raw, guangdong)
    assert (refused.reason, refused.detail) == (
        RejectReason.MALFORMED,
        "a string holds NUL or an unpaired surrogate",
    )


# -- the same signed content spelled otherwise ---------------------------------------------


def _respelled(raw: bytes, way: str) -> bytes:
    document = json.loads(raw)
    if way == "key order":
        return json.dumps(dict(reversed(document.items())), ensure_ascii=False).encode()
    if way == "whitespace":
        return json.dumps(document, ensure_ascii=False, indent=2).encode()
    if way == "trailing newline":
        return raw + b"\n"
    if way == "non-ASCII escaped":
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    if way == "ASCII escaped":
        return raw.replace(b'"approved"', b'"\\u0061pproved"')
    # The same instant in another notation.
    return raw.replace(b'12:00:00Z"', b'12:00:00+00:00"')


@pytest.mark.parametrize(
    "way",
    [
        "key order",
        "whitespace",
        "trailing newline",
        "non-ASCII escaped",
        "ASCII escaped",
        "time notation",
    ],
)
def test_a_respelling_of_a_signed_record_is_refused_as_not_canonical(
    guangdong: RegionCredentials, way: str
) -> None:
    raw = _decided(guangdong).to_wire()
    respelled = _respelled(raw, way)
    assert respelled != raw
    refused = _refusal(respelled, guangdong)
    # Its signature verified: only the spelling is refused.
    assert (refused.reason, refused.detail) == (
        RejectReason.MALFORMED,
        "record is not in RFC 8785 canonical form",
    )


@pytest.mark.parametrize("way", ["standard alphabet", "unused low bits"])
def test_a_signature_spelled_otherwise_is_refused(guangdong: RegionCredentials, way: str) -> None:
    envelope = _decided(guangdong)
    signature = envelope.signature or ""
    if way == "standard alphabet":
        # Most signatures have a '-' or '_'; take the first that does.
        envelope = next(
            e
            for e in (_decided(guangdong, {**DECIDED, "reason": str(n)}) for n in range(200))
            if "-" in (e.signature or "") or "_" in (e.signature or "")
        )
        signature = envelope.signature or ""
        respelled = signature.replace("-", "+").replace("_", "/")
    else:
        # 64 bytes in 86 characters: the last character's 4 low bits are not decoded.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        respelled = signature[:-1] + alphabet[alphabet.index(signature[-1]) ^ 1]
    raw = envelope.to_wire().replace(signature.encode(), respelled.encode())
    assert raw != envelope.to_wire()
    assert _refusal(raw, guangdong).reason in {RejectReason.BAD_SIGNATURE, RejectReason.MALFORMED}
