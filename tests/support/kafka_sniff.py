"""A sniffer on the bus: every record of every tongban topic written since a moment, searched
for secrets in clear, as someone reading the exchange's topics would see them.

A secret counts as in clear in any of the forms a careless sender could put it on the wire:
its UTF-8 bytes, JSON's \\u escapes of them, and, for a document, base64 (standard or URL-safe)
of slices of it, so a document pasted into a JSON field unsealed is found as surely as raw
bytes. Sealed data (AES-GCM under the recipient's key) matches none of these.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import TopicPartition

from tests.support.stack_access import Bus

TONGBAN_TOPICS = re.compile(r"^tongban\.")
_SLICE = 48  # bytes: a multiple of 3, so its base64 is a substring of the whole's
_MIB = 1024 * 1024


def text_forms(secret: str) -> list[bytes]:
    """A text secret as UTF-8 and as JSON's ASCII escapes."""
    escaped = json.dumps(secret, ensure_ascii=True)[1:-1].encode()
    return list(dict.fromkeys([secret.encode(), escaped]))


def document_forms(content: bytes, *, skip: int = 16, every: int = 999) -> list[bytes]:
    """Slices of a document's bytes (past its magic), raw and base64-encoded at offsets a whole
    document's own base64 would align with."""
    forms: list[bytes] = []
    for start in range(skip - skip % 3, max(skip, len(content) - _SLICE), every - every % 3):
        piece = content[start : start + _SLICE]
        if len(piece) < _SLICE:
            break
        forms += [
            piece,
            base64.b64encode(piece),
            base64.urlsafe_b64encode(piece).rstrip(b"="),
        ]
    return forms


@dataclass
class Sniffed:
    records: int = 0
    topics: set[str] = field(default_factory=set)
    findings: list[str] = field(default_factory=list)


async def sniff_since(bus: Bus, since: datetime, secrets: Mapping[str, list[bytes]]) -> Sniffed:
    """Read every tongban topic's records written at or after `since`, to the end each
    partition had when the sniff began; `findings` names each secret seen and where."""
    admin = bus.admin()
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if TONGBAN_TOPICS.match(t))
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    partitions = sorted(
        TopicPartition(topic["topic"], p["partition"])
        for topic in described
        for p in topic["partitions"]
    )
    consumer = bus.consumer(
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * _MIB,
        fetch_max_bytes=16 * _MIB,
    )
    await consumer.start()
    sniffed = Sniffed()
    try:
        starts = await consumer.offsets_for_times(
            {tp: int(since.timestamp() * 1000) for tp in partitions}
        )
        ends = await consumer.end_offsets(partitions)
        left = {
            tp: ends[tp]
            for tp in partitions
            if (found := starts.get(tp)) is not None and found.offset < ends[tp]
        }
        consumer.assign(list(left))
        for tp in left:
            found = starts[tp]
            assert found is not None  # kept above only when found
            consumer.seek(tp, found.offset)
        while left:
            batches = await consumer.getmany(*left, timeout_ms=2000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= left.get(tp, 0):
                        continue
                    sniffed.records += 1
                    sniffed.topics.add(tp.topic)
                    wire = b"".join(
                        [record.key or b"", record.value or b""]
                        + [value for _, value in record.headers or ()]
                    )
                    sniffed.findings += [
                        f"{name} in {tp.topic}/{tp.partition}@{record.offset}"
                        for name, forms in secrets.items()
                        if any(form in wire for form in forms)
                    ]
            # The position passes transaction markers too, which no record shows.
            for tp in list(left):
                if await consumer.position(tp) >= left[tp]:
                    del left[tp]
            if left and not batches:
                unread = [f"{tp.topic}/{tp.partition}" for tp in left]
                sniffed.findings += [f"{where} not read to its end" for where in unread]
                break
    finally:
        await consumer.stop()
    return sniffed
