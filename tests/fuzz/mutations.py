"""Hostile records: arbitrary bytes, and mutations of the world's genuine envelopes.

Each generator returns a `FuzzInput` with what the boundary must make of it when that is
known: a hostile change signed again by a real key has one right answer (`unknown-type`,
`malformed`, …); a byte flip has none beyond "not stored". Mutations signed again keep the
event id when the result might be a valid event (it must then be refused as a conflicting
duplicate of the genuine one, stored first in every batch) and take a fresh id only when the
change alone must be refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import rfc8785

from events.envelope import region_source
from events.rejections import RejectReason
from tests.fuzz.world import OUTSIDER, PEER, FuzzWorld, canonical_signature

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
STORED = frozenset({ACCEPTED, DUPLICATE})


def _reasons(*reasons: RejectReason) -> frozenset[str]:
    return frozenset(r.value for r in reasons)


MALFORMED = _reasons(RejectReason.MALFORMED)
_FORM = _reasons(RejectReason.MALFORMED, RejectReason.OVERSIZE)  # 100,000 levels pass 1 MiB
# Envelope attributes a mutation may change (the signature is mutated on its own).
_ATTRIBUTES = (
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "subject",
    "datacontenttype",
    "tbversion",
    "senderregion",
    "recipientregion",
    "keyid",
    "data",
)


@dataclass(frozen=True)
class FuzzInput:
    mutation: str
    raw: bytes
    # The outcomes allowed ("accepted", "duplicate" or a reject reason's value); None when
    # any refusal will do. Storing a record that is not genuine is a defect either way.
    expect: frozenset[str] | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    # Validly signed and refused only by what the receiver's database holds (the id stored
    # before with other bytes, the case's real parties): the verifier alone may pass it.
    needs_inbox: bool = False


Generator = Callable[[random.Random, FuzzWorld], FuzzInput]


# -- building blocks ------------------------------------------------------------------------


def _genuine(rng: random.Random, world: FuzzWorld) -> tuple[bytes, dict[str, Any]]:
    envelope = rng.choice(world.genuine)
    raw = envelope.to_wire()
    document: dict[str, Any] = json.loads(raw)
    return raw, document


def _containers(document: dict[str, Any]) -> list[dict[str, Any] | list[Any]]:
    """Every object and array in the document, found without recursion."""
    found: list[dict[str, Any] | list[Any]] = []
    pending: list[Any] = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            found.append(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            found.append(item)
            pending.extend(item)
    return found


def _slot(
    rng: random.Random, root: dict[str, Any], top_level: tuple[str, ...] | None = None
) -> tuple[Any, Any] | None:
    """A random (container, key or index) inside `root`; at its top level, only the keys
    in `top_level` when given."""
    slots: list[tuple[Any, Any]] = []
    for container in _containers(root):
        if isinstance(container, dict):
            keys = [k for k in container if container is not root or top_level is None]
            slots += [(container, k) for k in keys]
        else:
            slots += [(container, i) for i in range(len(container))]
    if top_level is not None:
        slots += [(root, k) for k in top_level if k in root]
    return rng.choice(slots) if slots else None


def _dumps(document: Any) -> bytes:
    try:
        return rfc8785.dumps(document)
    except rfc8785.CanonicalizationError:  # a lone surrogate, a huge integer: plain JSON
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass"
        )


def _resign(world: FuzzWorld, document: dict[str, Any], *, fresh_id: bool) -> bytes:
    """The document signed by the real key of the region it names (or 广东's), canonical."""
    if fresh_id:
        document["id"] = str(uuid.uuid4())
    sender = document.get("senderregion")
    signer = world.signer(
        sender if isinstance(sender, str) and sender in world.credentials else PEER
    )
    # Nothing canonical to sign (a lone surrogate, a huge integer): the old signature stays.
    with contextlib.suppress(rfc8785.CanonicalizationError):
        document["signature"] = canonical_signature(document, signer)
    return _dumps(document)


def _wrong_type(rng: random.Random, current: Any) -> Any:
    """A JSON value of another type than `current` that no schema could take for it: no
    null (optional fields allow it), no 0/1 for a boolean nor true for a number (see
    `coerced_type_data` for those)."""
    choices: list[Any] = [True, 2, -1, 7.5, "x", ["x"], {"v": 1}]
    if isinstance(current, bool | int):
        choices = [c for c in choices if not isinstance(c, bool | int)]
    return rng.choice([c for c in choices if type(c) is not type(current)])


def _random_json(rng: random.Random, budget: int = 40) -> Any:
    """A random JSON value of bounded size; iterative so depth costs no recursion."""
    root: list[Any] = []
    frontier: list[list[Any] | dict[str, Any]] = [root]
    for _ in range(rng.randint(1, budget)):
        target = rng.choice(frontier)
        kind = rng.randrange(8)
        value: Any
        if kind == 0:
            value = []
            frontier.append(value)
        elif kind == 1:
            value = {}
            frontier.append(value)
        else:
            value = rng.choice(
                [None, True, 0, -5, 2**53 - 1, 1.5e300, "", "福建", "\u0000", rng.random()]
            )
        if isinstance(target, list):
            target.append(value)
        else:
            target[rng.choice(["id", "type", "data", "time", "a", "tbversion", ""])] = value
    return root[0] if root else None


def _string_spans(raw: bytes) -> list[tuple[int, int]]:
    """Byte spans of the JSON strings' contents in a canonical record."""
    return [(m.start() + 1, m.end() - 1) for m in re.finditer(rb'"(?:[^"\\]|\\.)*"', raw)]


# -- genuine records and their re-encodings ----------------------------------------------


def replay(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    raw, _ = _genuine(rng, world)
    return FuzzInput("replay", raw, frozenset({DUPLICATE}))


_TIME_Z = re.compile(r'(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})Z"')


def reencoded(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    """The same signed content spelled otherwise: refused, one event has one byte string."""
    raw, document = _genuine(rng, world)
    way = rng.randrange(7)
    if way == 0:
        items = list(document.items())
        rng.shuffle(items)
        text = json.dumps(dict(items), ensure_ascii=False, separators=(",", ":"))
    elif way == 1:
        text = json.dumps(document, ensure_ascii=False, indent=rng.choice([None, 1, 2]))
    elif way == 2:
        text = json.dumps(document, ensure_ascii=True, separators=(",", ":"))
    elif way == 3:
        pad = rng.choice([" ", "\n", "\t", "\r\n"])
        text = rng.choice([pad + raw.decode(), raw.decode() + pad])
    elif way == 4:
        # One ASCII letter or digit of a string spelled as a \u escape.
        letters = [m.start() for m in re.finditer(rb"[A-Za-z0-9]", raw)]
        inside = [i for i in letters if any(s <= i < e for s, e in _string_spans(raw))]
        at = rng.choice(inside)
        text = (raw[:at] + f"\\u{raw[at]:04x}".encode() + raw[at + 1 :]).decode()
    elif way == 5:
        text = raw.decode().replace("/", "\\/")
    else:
        # The same instant in another notation: +00:00 or fractional seconds. Only a time's Z:
        # a base64 value may end in Z too, and changing it is another content, not a spelling.
        other = rng.choice(["+00:00", ".000Z", ".000000+00:00"])
        text = _TIME_Z.sub(lambda m: m.group(1) + other + '"', raw.decode(), count=1)
    encoded = text.encode()
    expect = frozenset({DUPLICATE}) if encoded in world.genuine_wire else MALFORMED
    return FuzzInput("reencoded", encoded, expect)


# -- hostile content, validly signed ------------------------------------------------------


def time_without_zone(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    _, document = _genuine(rng, world)
    document["time"] = world.now.replace(tzinfo=None).isoformat(
        timespec=rng.choice(["seconds", "microseconds"])
    )
    return FuzzInput("time-without-zone", _resign(world, document, fresh_id=True), MALFORMED)


def unknown_type(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    _, document = _genuine(rng, world)
    document["type"] = rng.choice(
        ["cn.tongban.case.teleported", "CN.TONGBAN.CASE.DECIDED", "", "cn.tongban.case.decided "]
    )
    return FuzzInput(
        "unknown-type", _resign(world, document, fresh_id=True), _reasons(RejectReason.UNKNOWN_TYPE)
    )


def unknown_key(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    _, document = _genuine(rng, world)
    document["keyid"] = rng.choice([f"{PEER}-sig-{uuid.uuid4().hex[:8]}", f"{OUTSIDER}-sig-1", "k"])
    return FuzzInput(
        "unknown-key", _resign(world, document, fresh_id=True), _reasons(RejectReason.UNKNOWN_KEY)
    )


def unknown_sender(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    _, document = _genuine(rng, world)
    document["senderregion"] = "650000"
    document["source"] = region_source("650000")
    return FuzzInput(
        "unknown-sender",
        _resign(world, document, fresh_id=True),
        _reasons(RejectReason.UNKNOWN_REGION),
    )


def wrong_recipient(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    _, document = _genuine(rng, world)
    document["recipientregion"] = rng.choice([PEER, OUTSIDER, "999999"])
    return FuzzInput(
        "wrong-recipient",
        _resign(world, document, fresh_id=True),
        _reasons(RejectReason.WRONG_RECIPIENT),
    )


def inconsistent(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    _, document = _genuine(rng, world)
    choices = ["source", "case_no"] + (
        ["origin_region"] if "origin_region" in document["data"] else []
    )
    which = rng.choice(choices)
    if which == "source":
        document["source"] = rng.choice([region_source(OUTSIDER), "urn:tongban:region:", "x"])
    elif which == "case_no":
        other = world.peer_case if document["subject"] == world.origin_case else world.origin_case
        document["data"]["case_no"] = other
    else:
        document["data"]["origin_region"] = OUTSIDER
    return FuzzInput(
        "inconsistent", _resign(world, document, fresh_id=True), _reasons(RejectReason.INCONSISTENT)
    )


def out_of_time(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    _, document = _genuine(rng, world)
    if rng.random() < 0.5:
        document["time"] = (world.now + timedelta(hours=rng.randint(1, 48))).isoformat()
        expect = _reasons(RejectReason.CLOCK_SKEW)
    else:
        # Older than the key: refused for the key before the age is even looked at.
        document["time"] = (world.now - timedelta(days=rng.randint(8, 400))).isoformat()
        expect = _reasons(RejectReason.KEY_EXPIRED, RejectReason.TOO_OLD)
    document["time"] = document["time"].replace("+00:00", "Z")
    return FuzzInput("out-of-time", _resign(world, document, fresh_id=True), expect)


def unsupported_version(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    _, document = _genuine(rng, world)
    choice = rng.randrange(3)
    if choice == 0:
        document["tbversion"] = rng.choice([0, 2, -1, 2**53 - 1, "1", True, None, [1]])
    elif choice == 1:
        del document["tbversion"]
    else:
        document["tbversion"] = 1.5
    return FuzzInput(
        "unsupported-version",
        _resign(world, document, fresh_id=True),
        _reasons(RejectReason.UNSUPPORTED_VERSION),
    )


def outsider(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    """北京, with its own valid key, sends what only the case's parties may send."""
    _, document = _genuine(rng, world)
    document["senderregion"] = OUTSIDER
    document["source"] = region_source(OUTSIDER)
    document["keyid"] = world.signer(OUTSIDER).key_id
    return FuzzInput(
        "outsider",
        _resign(world, document, fresh_id=True),
        _reasons(
            RejectReason.SENDER_NOT_ENTITLED,
            RejectReason.INCONSISTENT,
            RejectReason.RECEIPT_MISMATCH,
        ),
        needs_inbox=True,
    )


def conflicting(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    """A valid event under a genuine event's id, other bytes: never taken for the original."""
    _, document = _genuine(rng, world)
    moved = world.now - timedelta(seconds=rng.randint(1, 60))
    document["time"] = moved.isoformat().replace("+00:00", "Z")
    return FuzzInput(
        "conflicting-duplicate",
        _resign(world, document, fresh_id=False),
        _reasons(RejectReason.CONFLICTING_DUPLICATE),
        needs_inbox=True,
    )


def wrong_type_attribute(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    _, document = _genuine(rng, world)
    name = rng.choice([a for a in _ATTRIBUTES if a != "id"])  # a fresh id replaces it
    document[name] = _wrong_type(rng, document[name])
    if name == "tbversion":
        expect = _reasons(RejectReason.UNSUPPORTED_VERSION)
    elif name == "time":
        # A number passes as seconds since 1970: refused for the key's validity then, or
        # for its signature (signed as a number, verified as the time's ISO spelling).
        expect = _reasons(
            RejectReason.MALFORMED, RejectReason.KEY_EXPIRED, RejectReason.BAD_SIGNATURE
        )
    else:
        expect = MALFORMED
    return FuzzInput("wrong-type-attribute", _resign(world, document, fresh_id=True), expect)


def wrong_type_data(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    """A payload value of a JSON type its schema does not allow (nested values included)."""
    _, document = _genuine(rng, world)
    slot = _slot(rng, document["data"])
    if slot is None:
        return replay(rng, world)
    container, key = slot
    container[key] = _wrong_type(rng, container[key])
    return FuzzInput("wrong-type-data", _resign(world, document, fresh_id=True), MALFORMED)


def coerced_type_data(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    """A number or boolean of the payload spelled as a string (or a boolean as 0/1): a lax
    schema would take it and store data of a type the event's model does not have."""
    _, document = _genuine(rng, world)
    data = document["data"]
    scalars = [k for k, v in data.items() if isinstance(v, int | bool) and k != "log_head_seq"]
    if not scalars:
        return replay(rng, world)
    key = rng.choice(scalars)
    value = data[key]
    if isinstance(value, bool):
        data[key] = rng.choice(["true", "yes", 1, "1", "on"]) if value else rng.choice(["false", 0])
    else:
        data[key] = rng.choice([str(value), True])
    return FuzzInput("coerced-type-data", _resign(world, document, fresh_id=True), MALFORMED)


def hostile_strings(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    """NUL or a lone surrogate in a string: as a JSON escape, signed or not."""
    raw, document = _genuine(rng, world)
    bad = rng.choice(["\u0000", "\ud800", "\udfff", "\udbff", "a\u0000b"])
    if rng.random() < 0.5:
        slot = _slot(rng, document, tuple(a for a in _ATTRIBUTES if a != "id"))
        if slot is not None:
            container, key = slot
            container[key] = bad if not isinstance(container[key], str) else container[key] + bad
        return FuzzInput("nul-or-surrogate", _resign(world, document, fresh_id=True), MALFORMED)
    escape = json.dumps(bad).strip('"').encode()
    start, end = rng.choice(_string_spans(raw))
    at = rng.randint(start, end)
    return FuzzInput("nul-or-surrogate", raw[:at] + escape + raw[at:], MALFORMED)


def deep_nesting(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    depth = rng.choice([17, 40, 1000, 5000, 100_000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}"), ('{"data":[', "]}")])
    nested = opener * depth + rng.choice(["1", "[]", ""]) + closer * depth
    if rng.random() < 0.3:
        # The record that stopped 广东: 10 KB of nested arrays, nothing else.
        return FuzzInput("deep-nesting", nested.encode(), _FORM)
    _, document = _genuine(rng, world)
    if depth <= 40 and rng.random() < 0.5:
        value: Any = 1
        for _ in range(depth):
            value = [value]
        document["data"]["reason"] = value
        return FuzzInput("deep-nesting", _resign(world, document, fresh_id=True), MALFORMED)
    text = _dumps(document).decode("utf-8", "surrogatepass")
    text = text.replace('"data":{', '"data":{"deep":' + nested + ",", 1)
    return FuzzInput("deep-nesting", text.encode("utf-8", "surrogatepass"), _FORM)


def huge_number(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    raw, document = _genuine(rng, world)
    if rng.random() < 0.5:
        # Inside the JSON limits but outside the schema's: signed, refused by the schema.
        data = document["data"]
        bounded = [k for k in ("fee_fen", "item_version", "promised_working_days") if k in data]
        if bounded:
            data[rng.choice(bounded)] = rng.choice([2**53 - 1, -(2**31), 10**12, -1])
            return FuzzInput("huge-number", _resign(world, document, fresh_id=True), MALFORMED)
    number = rng.choice(
        ["1e400", "-1e400", "9" * 40, str(2**53), str(-(2**53)), "1" + "0" * 5000, "0." + "1" * 40]
    )
    spans = [m.span() for m in re.finditer(rb"(?<=\":)-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", raw)]
    if not spans:
        return FuzzInput("huge-number", b'{"tbversion":' + number.encode() + b"}", MALFORMED)
    start, end = rng.choice(spans)
    return FuzzInput("huge-number", raw[:start] + number.encode() + raw[end:], MALFORMED)


def duplicate_key(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    raw, document = _genuine(rng, world)
    objects = [m.end() for m in re.finditer(rb"\{", raw)]
    at = rng.choice(objects)
    if at == 1:
        name = rng.choice(_ATTRIBUTES)
        member = json.dumps({name: document[name]}, ensure_ascii=False)[1:-1]
    else:
        # Inside data or a nested object: repeat that object's own first key.
        first_key = re.match(rb'"((?:[^"\\]|\\.)*)"', raw[at:])
        name = first_key.group(1).decode() if first_key else "case_no"
        member = f'"{name}":{json.dumps(rng.choice([None, "x", 1]))}'
    return FuzzInput("duplicate-key", raw[:at] + member.encode() + b"," + raw[at:], MALFORMED)


def invalid_utf8(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    raw, _ = _genuine(rng, world)
    bad = rng.choice(
        [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80", b"\xe6\x96"]
    )
    start, end = rng.choice(_string_spans(raw))
    at = rng.randint(start, end)
    return FuzzInput("invalid-utf8", raw[:at] + bad + raw[at:], MALFORMED)


def empty(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    raw = rng.choice(
        [b"", b" ", b"\n", b"{}", b"[]", b"null", b"0", b'""', b"\xef\xbb\xbf{}", b"\x00"]
    )
    expect = _reasons(RejectReason.UNSUPPORTED_VERSION) if raw == b"{}" else MALFORMED
    return FuzzInput("empty", raw, expect)


def oversize(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    raw, _ = _genuine(rng, world)
    padding = b" " * (1024 * 1024 + 1 - len(raw) + rng.randint(0, 100))
    return FuzzInput("oversize", raw + padding, _reasons(RejectReason.OVERSIZE))


def bad_signature(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    _, document = _genuine(rng, world)
    other = rng.choice(world.genuine)
    document["signature"] = rng.choice(
        [None, "", "!!!", "AAAA", (document["signature"] or "")[:-2], other.signature]
    )
    if rng.random() < 0.2:
        del document["signature"]
    if document.get("signature") == other.signature and other.id == document["id"]:
        return replay(rng, world)
    return FuzzInput("bad-signature", _dumps(document), _reasons(RejectReason.BAD_SIGNATURE))


def respelled_signature(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    """The genuine signature's bytes in another base64 spelling: standard-alphabet characters,
    other unused low bits in the last character, padding, a stray character."""
    _, document = _genuine(rng, world)
    signature: str = document["signature"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    way = rng.randrange(4)
    if way == 0:
        respelled = signature.replace("-", "+").replace("_", "/")
    elif way == 1:
        last = alphabet.index(signature[-1])
        respelled = signature[:-1] + alphabet[last ^ rng.randint(1, 15)]
    elif way == 2:
        respelled = signature + "=="
    else:
        at = rng.randrange(len(signature))
        respelled = signature[:at] + rng.choice([".", " ", "\n", "*"]) + signature[at:]
    if respelled == signature:
        return replay(rng, world)
    document["signature"] = respelled
    return FuzzInput(
        "respelled-signature",
        _dumps(document),
        _reasons(RejectReason.BAD_SIGNATURE, RejectReason.MALFORMED),
    )


# -- structural mutations: signed again under the genuine id, or not signed again ---------


def structural(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    """A field deleted, inserted or replaced anywhere; never stored (the genuine event with
    this id is in the inbox already), whatever else is wrong with it."""
    _, document = _genuine(rng, world)
    operation = rng.randrange(3)
    # Not the id: under a new id, a harmless change would be a new, valid event.
    slot = _slot(rng, document, tuple(a for a in _ATTRIBUTES if a != "id"))
    if slot is not None:
        container, key = slot
        if operation == 0:
            if isinstance(container, list):
                container.pop(key)
            else:
                del container[key]
        elif operation == 1:
            value = _random_json(rng, 8)
            if isinstance(container, list):
                container.insert(key, value)
            else:
                container[rng.choice(["extra", "Data", "signature2", "唯一", ""])] = value
        else:
            container[key] = _random_json(rng, 8)
    if rng.random() < 0.5:
        return FuzzInput("structural", _resign(world, document, fresh_id=False), needs_inbox=True)
    return FuzzInput("structural", _dumps(document))


def byte_level(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    raw = bytearray(_genuine(rng, world)[0])
    operation = rng.randrange(5)
    if operation == 0:
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    elif operation == 1:
        del raw[rng.randrange(len(raw)) :]
    elif operation == 2:
        at = rng.randrange(len(raw) + 1)
        raw[at:at] = rng.randbytes(rng.randint(1, 16))
    elif operation == 3:
        start = rng.randrange(len(raw))
        del raw[start : start + rng.randint(1, 32)]
    else:
        start = rng.randrange(len(raw))
        raw[start:start] = raw[start : start + rng.randint(1, 64)]
    value = bytes(raw)
    expect = frozenset({DUPLICATE}) if value in world.genuine_wire else None
    return FuzzInput("byte-level", value, expect)


def arbitrary_bytes(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    return FuzzInput("arbitrary-bytes", rng.randbytes(rng.choice([1, 8, 64, 512, 4096])), None)


def arbitrary_json(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    return FuzzInput("arbitrary-json", _dumps(_random_json(rng)), None)


# Weights: the cheap, broad mutations most often; each hostile kind often enough that a
# short run sees every one many times.
GENERATORS: tuple[tuple[Generator, int], ...] = (
    (byte_level, 14),
    (structural, 14),
    (arbitrary_bytes, 4),
    (arbitrary_json, 4),
    (reencoded, 8),
    (replay, 3),
    (conflicting, 3),
    (time_without_zone, 3),
    (unknown_type, 3),
    (unknown_key, 3),
    (unknown_sender, 2),
    (wrong_recipient, 2),
    (inconsistent, 3),
    (out_of_time, 2),
    (unsupported_version, 2),
    (outsider, 3),
    (wrong_type_attribute, 4),
    (wrong_type_data, 4),
    (coerced_type_data, 2),
    (hostile_strings, 4),
    (deep_nesting, 3),
    (huge_number, 3),
    (duplicate_key, 3),
    (invalid_utf8, 3),
    (empty, 2),
    (bad_signature, 3),
    (respelled_signature, 2),
)
_FUNCTIONS = [g for g, _ in GENERATORS]
_WEIGHTS = [w for _, w in GENERATORS]
_HEADER_KEYS = ("traceparent", "", "a\u0000b", "\ud800", "键" * 300)


def _headers(rng: random.Random) -> tuple[tuple[str, bytes], ...]:
    if rng.random() > 0.05:
        return ()
    count = rng.choice([1, 3, 100])
    return tuple(
        (rng.choice(_HEADER_KEYS), rng.randbytes(rng.choice([0, 8, 5000]))) for _ in range(count)
    )


def hostile(rng: random.Random, world: FuzzWorld) -> FuzzInput:
    """One input: a rare oversize record, else a weighted pick among the generators."""
    if rng.random() < 0.001:
        item = oversize(rng, world)
    else:
        generator = rng.choices(_FUNCTIONS, _WEIGHTS)[0]
        item = generator(rng, world)
    headers = _headers(rng)
    return dataclasses.replace(item, headers=headers) if headers else item


def genuine_first(world: FuzzWorld) -> list[FuzzInput]:
    """Every genuine envelope, accepted: each batch starts with these."""
    return [FuzzInput("genuine", e.to_wire(), frozenset({ACCEPTED})) for e in world.genuine]
